//! The webhook body reader: any bytes (UTF-8 or not, JSON, a JSON string holding broken JSON, or
//! garbage) must give a payload without panicking, and what it returns must respect its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::domain::webhook_payload::{RAW_LIMIT, parse, parse_time};

fuzz_target!(|data: &[u8]| {
    let p = parse(data);
    assert!(p.raw.chars().count() <= RAW_LIMIT, "raw copy is bounded");
    if let Some(a) = &p.agent_id {
        assert!(!a.is_empty() && a.len() <= 128 && !a.contains(['/', '#']), "agent id {a:?}");
    }
    if let Some(id) = p.alert_id {
        assert!(id > 0);
    }
    for t in [&p.alert_time, &p.resolved_on].into_iter().flatten() {
        assert!(t.ends_with('Z'), "times are RFC 3339 UTC: {t}");
        assert_eq!(parse_time(t).as_deref(), Some(t.as_str()), "a normalised time reads back as itself");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(t) = parse_time(text) {
            assert!(t.ends_with('Z'));
        }
    }
});
