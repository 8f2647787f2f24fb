//! The reqwest adapter of [`shared::tactical::TacticalApi`]: timeouts everywhere, no redirects
//! followed, JSON required, bounded retries with backoff and jitter on 429/5xx/timeouts,
//! `Retry-After` honoured (docs/tactical-behaviour.md), and an address guard against SSRF.

mod body;
mod client;
mod guard;
mod routes;

use body::{
    agent_failure, agent_reply, check_agent_id, decode, decode_software_answer, expect_ok, read_beta_page, read_capped,
    software_rows,
};
use client::{MAX_SOFTWARE_ROW, SOFTWARE_ALL_TIMEOUT};
pub use client::{TacticalHttp, body_limit};
pub use guard::{HttpClientOptions, build_http_client, check_instance_address};
use guard::{ResolveError, unreachable_error};

#[cfg(test)]
mod tests {
    use super::*;
    use shared::tactical::TacticalError;
    use shared::tactical::policy::{MAX_ACTION_WAIT, action_http_timeout, bound_output};
    use std::time::Duration;

    #[test]
    fn output_is_cut_on_a_character_boundary() {
        let out = bound_output("ab".into(), 10);
        assert_eq!((out.output.as_str(), out.truncated, out.output_bytes), ("ab", false, 2));
        let out = bound_output("aé".repeat(3), 4);
        assert_eq!((out.output.as_str(), out.truncated, out.output_bytes), ("aéa", true, 9));
    }

    #[test]
    fn tacticals_string_answers_are_typed() {
        let rejected = |m: &str| TacticalError::Rejected { status: 400, message: m.into() };
        assert!(matches!(agent_failure(rejected("Unable to contact the agent")), TacticalError::AgentUnreachable));
        assert!(matches!(agent_failure(rejected("natsdown")), TacticalError::BrokerDown));
        assert!(matches!(agent_failure(rejected("timeout")), TacticalError::AgentTimeout));
        assert!(
            matches!(agent_failure(rejected("Date cannot be set in the past")), TacticalError::Rejected { message, .. } if message == "Date cannot be set in the past")
        );
        assert!(matches!(agent_reply(br#""natsdown""#, "x", false), Err(TacticalError::BrokerDown)));
        assert!(matches!(agent_reply(br#""timeout""#, "x", true), Err(TacticalError::AgentTimeout)));
        assert_eq!(agent_reply(br#""timeout""#, "x", false).unwrap(), "timeout", "a command may print it");
        assert!(matches!(agent_reply(br#"{"a":1}"#, "x", false), Err(TacticalError::Decode { .. })));
    }

    #[test]
    fn waits_fit_below_the_function_timeout() {
        assert_eq!(action_http_timeout(30), Duration::from_secs(45));
        assert_eq!(action_http_timeout(3600), MAX_ACTION_WAIT);
        assert!(MAX_ACTION_WAIT < Duration::from_secs(330), "template.yaml gives remote-actions 330 s");
    }
}
