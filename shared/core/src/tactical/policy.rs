//! Pure rules of talking to Tactical that the domain and the HTTP adapter share: retries of
//! idempotent calls, how long an action may wait, how much of its output is kept.

use super::types::ActionOutput;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for; the error goes to the caller.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// Most output a command or script returns to the caller (the rest is cut, `truncated: true`).
pub const MAX_ACTION_OUTPUT: usize = 64 * 1024;
/// Time Tactical may take beyond the agent-side timeout before answering (it adds 2–3 s itself).
const ACTION_MARGIN: Duration = Duration::from_secs(15);
/// Longest we wait for Tactical on one action: its nginx/uWSGI end requests after 300 s anyway,
/// and the function (330 s in template.yaml) needs time left to write the audit record.
pub const MAX_ACTION_WAIT: Duration = Duration::from_secs(300);

/// HTTP timeout for an action that lets the agent run for `agent_timeout_secs`.
pub fn action_http_timeout(agent_timeout_secs: u32) -> Duration {
    (Duration::from_secs(u64::from(agent_timeout_secs)) + ACTION_MARGIN).min(MAX_ACTION_WAIT)
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub fn bound_output(text: String, max: usize) -> ActionOutput {
    let output_bytes = text.len();
    if output_bytes <= max {
        return ActionOutput { output: text, truncated: false, output_bytes };
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    ActionOutput { output: text[..cut].to_owned(), truncated: true, output_bytes }
}
