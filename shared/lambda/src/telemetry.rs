//! Tracing setup: JSON lines in Lambda (CloudWatch parses them), compact text on a terminal.
//!
//! Every invocation runs in an `invocation` span (Lambda request id, function name, and the
//! tenant once the caller is known) and every queue message in a `message` span (message id,
//! tenant, run id, sync type, receive count). Each JSON line lists the spans it was written in
//! (`spans`, outermost first), so one request or one run can be followed across functions with
//! a CloudWatch Logs Insights filter on `spans.0.request_id` or `spans.1.run_id`.

use shared::tenant::TenantId;
use tracing::Subscriber;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// The filter from `RUST_LOG` (`info`, `debug`, `shared=debug,info`: levels and targets, no
/// regex, which keeps the binaries small); `info` when unset or unreadable.
pub fn filter(rust_log: Option<&str>) -> Targets {
    rust_log.and_then(|v| v.parse::<Targets>().ok()).unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// The JSON subscriber of the functions, writing to `writer` (stdout in Lambda, a buffer in
/// tests that read the lines).
pub fn json_subscriber<W>(filter: Targets, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .with_writer(writer)
        .json()
        .flatten_event(true)
        // The list carries the invocation's fields on a message's lines too; the current span
        // alone would only show the innermost one.
        .with_current_span(false)
        .with_span_list(true)
        .finish()
        .with(filter)
}

/// Installs the global subscriber once. `RUST_LOG` overrides the default `info` level.
/// JSON output unless `LOG_FORMAT=text`.
pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let text = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "text");
    let result = if text {
        let builder = tracing_subscriber::fmt().with_ansi(false).with_target(false).without_time();
        tracing::subscriber::set_global_default(builder.compact().finish().with(filter))
    } else {
        tracing::subscriber::set_global_default(json_subscriber(filter, std::io::stdout))
    };
    // A second init (tests calling handlers in-process) is harmless.
    let _ = result;
}

/// The span of one invocation. `tenant` and `run_id` are recorded once known
/// ([`record_tenant`], [`record_run_id`]).
pub fn invocation_span(ctx: &lambda_runtime::Context) -> tracing::Span {
    tracing::info_span!(
        "invocation",
        request_id = %ctx.request_id,
        function = %ctx.env_config.function_name,
        tenant = tracing::field::Empty,
        run_id = tracing::field::Empty,
    )
}

/// Records the caller's tenant on the current span (an invocation or a queue message), so every
/// later line of it carries the tenant.
pub fn record_tenant(tenant: &TenantId) {
    tracing::Span::current().record("tenant", tracing::field::display(tenant));
}

/// Records the run a request started or a message belongs to on the current span.
pub fn record_run_id(run_id: &str) {
    tracing::Span::current().record("run_id", run_id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_per_target_and_bad_values_fall_back_to_info() {
        let f = filter(Some("shared=debug,warn"));
        assert!(f.would_enable("shared::sync", &Level::DEBUG));
        assert!(!f.would_enable("hyper", &Level::INFO));
        let default = filter(Some("not a filter=="));
        assert!(default.would_enable("shared", &Level::INFO) && !default.would_enable("shared", &Level::DEBUG));
        assert!(filter(None).would_enable("x", &Level::INFO));
    }

    /// Lines written into a shared buffer.
    #[derive(Clone, Default)]
    pub(crate) struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Lines {
        type Writer = Lines;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    impl Lines {
        pub(crate) fn json(&self) -> Vec<serde_json::Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
        }
    }

    #[test]
    fn json_lines_carry_the_fields_of_every_enclosing_span_even_recorded_late() {
        let lines = Lines::default();
        let sub = json_subscriber(filter(None), lines.clone());
        tracing::subscriber::with_default(sub, || {
            let mut ctx = lambda_runtime::Context::default();
            ctx.request_id = "req-1".into();
            let inv = invocation_span(&ctx);
            let _i = inv.enter();
            tracing::info!("before the caller is known");
            record_tenant(&TenantId::parse("t-1").unwrap());
            let msg = tracing::info_span!("message", message_id = "m-1", run_id = tracing::field::Empty);
            let _m = msg.enter();
            record_run_id("run-1");
            tracing::info!(answer = 42, "inside");
        });
        let out = lines.json();
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0]["spans"][0]["request_id"], "req-1");
        assert!(out[0]["spans"][0].get("tenant").is_none());
        assert_eq!(out[1]["message"], "inside");
        assert_eq!(out[1]["answer"], 42);
        assert_eq!(out[1]["spans"][0]["name"], "invocation");
        assert_eq!(out[1]["spans"][0]["request_id"], "req-1");
        assert_eq!(out[1]["spans"][0]["tenant"], "t-1");
        assert_eq!(out[1]["spans"][1]["message_id"], "m-1");
        assert_eq!(out[1]["spans"][1]["run_id"], "run-1");
    }
}
