//! Tracing setup: JSON lines in Lambda (CloudWatch parses them), compact text on a terminal.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once. `RUST_LOG` overrides the default `info` level.
/// JSON output unless `LOG_FORMAT=text`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let text = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "text");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).without_time();
    let result = if text {
        builder.compact().try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(false).try_init()
    };
    // A second init (tests calling handlers in-process) is harmless.
    let _ = result;
}
