//! Tracing setup: JSON lines in Lambda (CloudWatch parses them), compact text on a terminal.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

/// The filter from `RUST_LOG` (`info`, `debug`, `shared=debug,info`: levels and targets, no
/// regex, which keeps the binaries small); `info` when unset or unreadable.
pub fn filter(rust_log: Option<&str>) -> Targets {
    rust_log.and_then(|v| v.parse::<Targets>().ok()).unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Installs the global subscriber once. `RUST_LOG` overrides the default `info` level.
/// JSON output unless `LOG_FORMAT=text`.
pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let text = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "text");
    let builder = tracing_subscriber::fmt().with_ansi(false).with_target(false).without_time();
    let result = if text {
        tracing::subscriber::set_global_default(builder.compact().finish().with(filter))
    } else {
        tracing::subscriber::set_global_default(
            builder.json().flatten_event(true).with_current_span(false).finish().with(filter),
        )
    };
    // A second init (tests calling handlers in-process) is harmless.
    let _ = result;
}

#[cfg(test)]
mod tests {
    use super::filter;
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
}
