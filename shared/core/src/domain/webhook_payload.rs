//! Reading Tactical's alert webhooks as they really arrive
//! (docs/tactical-behaviour.md#alert-webhooks): whatever JSON the admin templated, every value a
//! string, `"None"` for empty, Python datetimes, and — when a value contained a quote — the whole
//! filled-in template sent as one JSON string whose content is itself broken JSON. Fields are
//! extracted leniently; the raw text is kept (bounded).

use super::time::to_rfc3339;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Raw copy kept on the alert: enough to debug a template, far below DynamoDB's 400 KB.
pub const RAW_LIMIT: usize = 4096;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookPayload {
    pub agent_id: Option<String>,
    pub alert_id: Option<i64>,
    pub event: Option<String>,
    pub alert_type: Option<String>,
    pub severity: Option<String>,
    pub message: Option<String>,
    /// RFC 3339.
    pub alert_time: Option<String>,
    pub resolved_on: Option<String>,
    pub resolved: Option<bool>,
    pub hostname: Option<String>,
    pub client: Option<String>,
    pub site: Option<String>,
    /// Check or task name, when the template sends one (`{{alert.assigned_check.readable_desc}}`).
    pub check: Option<String>,
    /// True when the body was read as JSON whole; false when fields were picked out of broken text.
    pub complete: bool,
    pub raw: String,
}

/// Keys read from a payload, with the aliases admins use.
const KEYS: &[(&str, &[&str])] = &[
    ("agent_id", &["agent_id", "agentid", "agent"]),
    ("alert_id", &["alert_id", "alertid", "id"]),
    ("event", &["event", "event_type", "type"]),
    ("alert_type", &["alert_type", "alerttype"]),
    ("severity", &["severity"]),
    ("message", &["message", "msg"]),
    ("alert_time", &["alert_time", "time"]),
    ("resolved_on", &["resolved_on"]),
    ("resolved", &["resolved"]),
    ("hostname", &["hostname", "host"]),
    ("client", &["client", "client_name"]),
    ("site", &["site", "site_name"]),
    ("check", &["check", "check_name", "assigned_check"]),
];

/// Tactical renders falsy values as `None` (and the admin may send `null`, `""`).
fn clean(v: &str) -> Option<String> {
    let t = v.trim();
    if t.is_empty() || t == "None" || t == "null" { None } else { Some(t.chars().take(2048).collect()) }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `2026-11-21 00:19:35.527811+00:00` (Python `str()`) or ISO 8601 → RFC 3339 UTC.
pub fn parse_time(s: &str) -> Option<String> {
    let t = s.trim();
    if t.len() < 19 {
        return None;
    }
    let mut iso = t.replacen(' ', "T", 1);
    let has_offset = iso.ends_with('Z') || iso.get(19..).is_some_and(|tail| tail.contains(['+', '-']));
    if !has_offset {
        iso.push('Z');
    }
    // Checked: a time near year 9999 with a negative offset has no UTC date.
    OffsetDateTime::parse(&iso, &Rfc3339).ok()?.checked_to_offset(time::UtcOffset::UTC).map(to_rfc3339)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" | "none" | "" => Some(false),
        _ => None,
    }
}

impl WebhookPayload {
    fn from_fields(get: impl Fn(&str) -> Option<String>, complete: bool, raw: &str) -> Self {
        // `get` returns raw text; `pick` drops Tactical's empty markers.
        let raw_pick = |name: &str| {
            KEYS.iter().find(|(k, _)| *k == name).and_then(|(_, aliases)| aliases.iter().find_map(|a| get(a)))
        };
        let pick = |name: &str| raw_pick(name).and_then(|v| clean(&v));
        Self {
            agent_id: pick("agent_id").filter(|a| a.len() <= 128 && !a.contains(['/', '#'])),
            alert_id: pick("alert_id").and_then(|v| v.trim().parse::<i64>().ok()).filter(|v| *v > 0),
            event: pick("event"),
            alert_type: pick("alert_type").map(|t| t.to_ascii_lowercase()),
            severity: pick("severity"),
            message: pick("message"),
            alert_time: pick("alert_time").and_then(|t| parse_time(&t)),
            resolved_on: pick("resolved_on").and_then(|t| parse_time(&t)),
            // Tactical renders `false` as `None`.
            resolved: raw_pick("resolved").and_then(|v| parse_bool(&v)),
            hostname: pick("hostname"),
            client: pick("client"),
            site: pick("site"),
            check: pick("check"),
            complete,
            raw: raw.chars().take(RAW_LIMIT).collect(),
        }
    }
}

/// Reads a webhook body. Never fails: what cannot be found is `None` (the caller decides what is
/// required: only `agent_id`).
pub fn parse(body: &[u8]) -> WebhookPayload {
    let text = String::from_utf8_lossy(body);
    let text = text.trim_start_matches('\u{feff}');
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => from_map(&map, true, text),
        // The whole template sent as a JSON string (Tactical does this when it is not valid JSON).
        Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
            Ok(Value::Object(map)) => from_map(&map, true, &inner),
            _ => lenient(&inner),
        },
        _ => lenient(text),
    }
}

fn from_map(map: &Map<String, Value>, complete: bool, raw: &str) -> WebhookPayload {
    // Keys compared case-insensitively; nested `alert`/`agent` objects are looked into too.
    let lookup = |key: &str| -> Option<String> {
        let direct = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).and_then(|(_, v)| scalar(v));
        direct.or_else(|| {
            ["alert", "agent", "data"].iter().find_map(|outer| {
                map.get(*outer)?
                    .as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .and_then(|(_, v)| scalar(v))
            })
        })
    };
    WebhookPayload::from_fields(lookup, complete, raw)
}

/// Picks `"key": value` pairs out of text that is not valid JSON. A quoted value ends at the
/// first quote followed by `,` + a quote, a newline, or `}` — so an unescaped quote inside a
/// message (`"Service "Print Spooler" stopped"`) stays part of the value.
fn lenient(text: &str) -> WebhookPayload {
    let lookup = |key: &str| -> Option<String> { lenient_value(text, key) };
    WebhookPayload::from_fields(lookup, false, text)
}

fn lenient_value(text: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\"");
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&needle.to_ascii_lowercase()) {
        let start = from + pos + needle.len();
        from = start;
        let rest = text[start..].trim_start();
        let Some(rest) = rest.strip_prefix(':') else { continue };
        let rest = rest.trim_start();
        if let Some(body) = rest.strip_prefix('"') {
            let bytes = body.as_bytes();
            let mut end = None;
            for (i, &b) in bytes.iter().enumerate() {
                if b != b'"' {
                    continue;
                }
                let after = body[i + 1..].trim_start_matches([' ', '\t', '\r']);
                if after.is_empty()
                    || after.starts_with('}')
                    || after.starts_with('\n')
                    || after.starts_with(",\"")
                    || after.starts_with(", \"")
                    || after.starts_with(",\n")
                {
                    end = Some(i);
                    break;
                }
            }
            let end = end.unwrap_or(bytes.len());
            return Some(body[..end].replace("\\\"", "\""));
        }
        let end = rest.find([',', '}', '\n']).unwrap_or(rest.len());
        return Some(rest[..end].to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../../../shared/fixtures/tactical-1.5.1/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn reads_real_deliveries() {
        let deliveries = fixture("webhook_deliveries_as_received.json");
        let first = parse(deliveries[0]["body"].as_str().unwrap().as_bytes());
        assert!(first.complete);
        assert_eq!(first.agent_id.as_deref(), Some("NghoQLGoNNvRWAUcUIDweLokzYdUzVKMPIWCDlmD"));
        assert_eq!(first.alert_id, Some(2));
        assert_eq!(first.event.as_deref(), Some("failure"));
        assert_eq!(first.alert_time.as_deref(), Some("2026-11-21T00:30:43.905179Z"));
        assert_eq!(first.resolved, Some(false), "\"None\" is false");
        let resolved = parse(deliveries[1]["body"].as_str().unwrap().as_bytes());
        assert_eq!(resolved.resolved, Some(true));
        assert_eq!(resolved.resolved_on.as_deref(), Some("2026-11-29T15:56:50.398654Z"));
    }

    #[test]
    fn reads_the_double_encoded_body_with_a_quote_in_the_message() {
        let d = fixture("webhook_delivery_message_with_quote.json");
        let p = parse(d["body"].as_str().unwrap().as_bytes());
        assert!(!p.complete, "the inner text is not valid JSON");
        assert_eq!(p.agent_id.as_deref(), Some("BnYYURLgfBeKJkwreHBIgJLVHKtPskqoOcDRVAUK"));
        assert_eq!(p.alert_id, Some(33));
        assert_eq!(p.event.as_deref(), Some("failure"));
        assert_eq!(p.severity.as_deref(), Some("warning"));
        assert_eq!(p.message.as_deref(), Some("Service \"Print Spooler\" stopped on host"));
        assert_eq!(p.alert_time.as_deref(), Some("2026-11-29T13:00:39.404937Z"));
        assert!(p.raw.contains("Print Spooler"));
    }

    #[test]
    fn plain_text_and_garbage_never_panic() {
        for body in [
            "",
            "not json",
            "{",
            "\"",
            "{\"agent_id\":",
            "\"{\\\"agent_id\\\": \\\"x\"",
            "[1,2]",
            "null",
            "{\"agent_id\": 5}",
        ] {
            let _ = parse(body.as_bytes());
            let _ = parse_time(body);
        }
        assert_eq!(parse_time("2026-11-21 00:19:3\u{e9}xxxxxxxx"), None, "multi-byte text near the offset");
        let p = parse(b"agent_id: nothing quoted");
        assert_eq!(p.agent_id, None);
        let p = parse(b"{\"agent_id\": \"abc\", \"alert_id\": \"None\"}");
        assert_eq!((p.agent_id.as_deref(), p.alert_id), (Some("abc"), None));
    }

    #[test]
    fn times_in_both_forms() {
        assert_eq!(parse_time("2026-11-21 00:19:35.527811+00:00").as_deref(), Some("2026-11-21T00:19:35.527811Z"));
        assert_eq!(parse_time("2026-11-21T00:19:35Z").as_deref(), Some("2026-11-21T00:19:35Z"));
        assert_eq!(parse_time("2026-11-21 02:19:35+02:00").as_deref(), Some("2026-11-21T00:19:35Z"));
        assert_eq!(parse_time("None"), None);
        assert_eq!(parse_time("garbage-garbage-garbage"), None);
    }
}
