//! Property tests over what reads untrusted input (docs/reliability.md): the webhook body reader, the
//! Tactical response decoders and the instance-URL normaliser. The same properties run for
//! millions of inputs under cargo-fuzz (`fuzz/run.sh`); these keep regressions out of CI.

use proptest::prelude::*;
use serde_json::{Value, json};
use shared::domain::webhook_payload::{RAW_LIMIT, WebhookPayload, parse, parse_time};
use shared::tactical::InstanceUrl;
use shared::tactical::types::{AgentDetail, Alert, BetaAgent, BetaPage, CheckCredsBody, Client, KnoxLoginBody};

fn fixture(name: &str) -> String {
    let path = format!("{}/../../../shared/fixtures/tactical-1.5.1/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Real webhook bodies exactly as Tactical sent them.
fn real_deliveries() -> Vec<Vec<u8>> {
    let all: Value = serde_json::from_str(&fixture("webhook_deliveries_as_received.json")).unwrap();
    let quote: Value = serde_json::from_str(&fixture("webhook_delivery_message_with_quote.json")).unwrap();
    all.as_array().unwrap().iter().chain([&quote]).map(|d| d["body"].as_str().unwrap().as_bytes().to_vec()).collect()
}

/// Real Tactical response bodies the client decodes.
fn real_responses() -> Vec<Vec<u8>> {
    [
        "GET_clients.json",
        "GET_beta_v1_agent_page_size3_page2.json",
        "GET_agents_AGENTID.json",
        "GET_agents_AGENTID_linux.json",
        "GET_alerts_ID.json",
        "PATCH_alerts_open_filter.json",
        "POST_v2_checkcreds_totp_user.json",
        "POST_v2_checkcreds_no_totp_user.json",
        "POST_v2_login_ok.json",
    ]
    .iter()
    .map(|n| fixture(n).into_bytes())
    .collect()
}

/// What every parse result must satisfy, whatever the input.
fn check_invariants(p: &WebhookPayload) {
    assert!(p.raw.chars().count() <= RAW_LIMIT);
    if let Some(a) = &p.agent_id {
        assert!(!a.is_empty() && a.len() <= 128 && !a.contains(['/', '#']), "agent id {a:?}");
        assert_eq!(a.trim(), a, "values are trimmed");
    }
    if let Some(id) = p.alert_id {
        assert!(id > 0);
    }
    for t in [&p.alert_time, &p.resolved_on].into_iter().flatten() {
        assert!(t.ends_with('Z'), "{t}");
        assert_eq!(parse_time(t).as_deref(), Some(t.as_str()), "a normalised time reads back as itself");
    }
}

fn decode_all(bytes: &[u8]) {
    let _ = serde_json::from_slice::<Vec<Client>>(bytes);
    let _ = serde_json::from_slice::<BetaPage<BetaAgent>>(bytes);
    let _ = serde_json::from_slice::<AgentDetail>(bytes);
    let _ = serde_json::from_slice::<Vec<Alert>>(bytes);
    let _ = serde_json::from_slice::<Alert>(bytes);
    let _ = serde_json::from_slice::<CheckCredsBody>(bytes);
    let _ = serde_json::from_slice::<KnoxLoginBody>(bytes);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippets = prop::sample::select(vec![
        b"\"".to_vec(),
        b"\\".to_vec(),
        b"None".to_vec(),
        b"null".to_vec(),
        b"}".to_vec(),
        b"{".to_vec(),
        b", \"".to_vec(),
        b"\n".to_vec(),
        "\u{feff}".as_bytes().to_vec(),
        "é€😀".as_bytes().to_vec(),
        vec![0xff, 0xfe],
        b"\"agent_id\": ".to_vec(),
        b"1e999".to_vec(),
        b"-9223372036854775809".to_vec(),
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), prop_oneof![snippets, prop::collection::vec(any::<u8>(), 1..8)])
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut data: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = data.len();
        match m {
            Mutation::Flip(i, b) if len > 0 => data[i % len] ^= b | 1,
            Mutation::Insert(i, s) => {
                let at = i % (len + 1);
                data.splice(at..at, s.iter().copied());
            }
            Mutation::Delete(i, n) if len > 0 => {
                let at = i % len;
                data.drain(at..(at + n).min(len));
            }
            Mutation::Truncate(i) => data.truncate(i % (len + 1)),
            _ => {}
        }
    }
    data
}

/// What the reader must make of a field value: Tactical's empty markers are empty, the rest trimmed.
fn cleaned(v: &str) -> Option<String> {
    let t = v.trim();
    (!(t.is_empty() || t == "None" || t == "null")).then(|| t.to_owned())
}

/// Field text as admins' templates and Tactical's rendering produce it: quotes, backslashes,
/// non-ASCII, the `None` marker, JSON punctuation.
fn wild_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("None".to_owned()),
        Just(String::new()),
        "[a-zA-Z0-9 \"\\\\{}:,\u{e9}\u{20ac}\u{1f600}\u{feff}]{0,40}",
        any::<String>(),
    ]
}

/// Values that identify an alert: no double quote, backslash or line break (Tactical inserts
/// values raw, so those would change the value itself: Tactical's agent ids are 40 letters,
/// events are words), but non-ASCII, spaces and `None` are fair.
fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![Just("None".to_owned()), "[a-zA-Z0-9_\\-\u{e9}\u{1f600} ]{1,50}"]
}

/// The body Tactical sends for a filled-in template: the text itself when it is valid JSON
/// (re-serialised), else the whole text as one JSON string (docs/tactical-behaviour.md#alert-webhooks).
fn tactical_body(template_filled: &str) -> String {
    match serde_json::from_str::<Value>(template_filled) {
        Ok(v) => v.to_string(),
        Err(_) => serde_json::to_string(template_filled).unwrap(),
    }
}

// 256 cases per property (proptest's default; `PROPTEST_CASES=100000` for a longer run).
proptest! {
    #[test]
    fn webhook_parse_never_panics_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
        check_invariants(&parse(&data));
    }

    #[test]
    fn webhook_parse_never_panics_on_mutated_real_deliveries(
        which in 0usize..4,
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let body = mutate(real_deliveries()[which].clone(), &muts);
        check_invariants(&parse(&body));
        // Wrapped once more as a JSON string, as Tactical does with broken templates.
        let wrapped = serde_json::to_string(&String::from_utf8_lossy(&body)).unwrap();
        check_invariants(&parse(wrapped.as_bytes()));
    }

    #[test]
    fn parse_time_never_panics_and_normalises(s in "\\PC{0,40}", y in 1970i32..2100, frac in 0u32..1_000_000) {
        if let Some(t) = parse_time(&s) {
            prop_assert!(t.ends_with('Z'));
        }
        let python = format!("{y}-11-21 00:19:35.{frac:06}+00:00");
        let t = parse_time(&python).expect("Python str() of an aware datetime");
        prop_assert!(t.starts_with(&format!("{y}-11-21T00:19:35")), "{}", t);
    }

    #[test]
    fn plain_json_payloads_round_trip(
        agent in wild_text(), alert_id in prop_oneof![Just(None), (1i64..i64::MAX).prop_map(Some)],
        event in wild_text(), message in wild_text(), host in wild_text(),
    ) {
        let body = json!({
            "event": event, "alert_id": alert_id.map_or("None".to_owned(), |i| i.to_string()),
            "message": message, "agent_id": agent, "hostname": host,
        }).to_string();
        let p = parse(body.as_bytes());
        prop_assert!(p.complete);
        let want_agent = cleaned(&agent).filter(|a| a.len() <= 128 && !a.contains(['/', '#']));
        prop_assert_eq!(p.agent_id, want_agent);
        prop_assert_eq!(p.alert_id, alert_id);
        prop_assert_eq!(p.event, cleaned(&event));
        prop_assert_eq!(p.message.map(|m| m.chars().count()), cleaned(&message).map(|m| m.chars().count().min(2048)));
    }

    #[test]
    fn tactical_rendered_payloads_round_trip_even_when_broken(
        agent in id_text(), alert_id in prop_oneof![Just(None), (1i64..i64::MAX).prop_map(Some)],
        event in id_text(), message in wild_text(), host in wild_text(), quote_in_message in any::<bool>(),
    ) {
        // Our ready-to-paste template (webhook_settings::url_action_body) filled in the way
        // Tactical does it: values inserted raw, unescaped.
        let message = if quote_in_message { format!("Service \"{message}\" stopped") } else { message };
        let id = alert_id.map_or("None".to_owned(), |i| i.to_string());
        let filled = format!(
            "{{\n  \"event\": \"{event}\",\n  \"alert_id\": \"{id}\",\n  \"alert_type\": \"check\",\n  \"message\": \"{message}\",\n  \"agent_id\": \"{agent}\",\n  \"hostname\": \"{host}\"\n}}"
        );
        let body = tactical_body(&filled);
        let p = parse(body.as_bytes());
        let want_agent = cleaned(&agent).filter(|a| a.len() <= 128 && !a.contains(['/', '#']));
        // Values are only as recoverable as the text allows: a message that contains a line
        // with `"agent_id": "…"` could impersonate the field (see docs/reliability.md).
        prop_assume!(!message.contains("\"agent_id\"") && !host.contains("\"agent_id\""));
        prop_assert_eq!(p.agent_id, want_agent, "body {}", body);
        prop_assert_eq!(p.alert_id, alert_id);
        prop_assert_eq!(p.event, cleaned(&event));
        if quote_in_message {
            prop_assert!(!p.complete, "a quote in a value breaks the JSON: read leniently");
        }
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..400)) {
        decode_all(&data);
    }

    #[test]
    fn decoders_never_panic_on_mutated_real_responses(which in 0usize..9, muts in prop::collection::vec(mutation(), 1..6)) {
        decode_all(&mutate(real_responses()[which].clone(), &muts));
    }

    #[test]
    fn instance_urls_normalise_to_a_fixed_point(
        scheme in prop::sample::select(vec!["", "http://", "https://", "HTTPS://", "Http://"]),
        host in prop_oneof!["[a-zA-Z][a-zA-Z0-9-]{0,10}(\\.[a-zA-Z][a-zA-Z0-9]{0,8}){0,3}", "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}"],
        port in prop::option::of(1u16..),
        segments in prop::collection::vec(prop_oneof![Just("api".to_owned()), Just("API".to_owned()), Just(String::new()), "[a-z0-9._~%-]{1,8}"], 0..4),
        trailing in "/{0,3}",
        pad in " {0,2}",
        route in "/{0,2}[a-z0-9/]{0,20}/{0,2}",
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let path: String = segments.iter().map(|s| format!("/{s}")).collect();
        let raw = format!("{pad}{scheme}{host}{port}{path}{trailing}{pad}");
        if let Ok(u) = InstanceUrl::parse(&raw) {
            let s = u.as_str().to_owned();
            prop_assert!(!s.ends_with('/'), "{} -> {}", raw, s);
            prop_assert!(s.starts_with("http://") || s.starts_with("https://"));
            prop_assert!(!s.to_ascii_lowercase().ends_with("://") && !s.contains(char::is_whitespace));
            prop_assert_eq!(InstanceUrl::parse(&s), Ok(u.clone()), "parse(normalised) == normalised for {}", raw);
            let e = u.endpoint(&route);
            prop_assert!(e.ends_with('/') && e.starts_with(&s) && !e[s.len()..].starts_with("//"), "{}", e);
            // A bare /api (any case) is dropped; deeper paths are kept.
            prop_assert!(!s.to_ascii_lowercase().ends_with("/api") || segments.len() > 1, "{} -> {}", raw, s);
        }
    }

    #[test]
    fn instance_url_parse_never_panics(raw in any::<String>(), route in any::<String>()) {
        if let Ok(u) = InstanceUrl::parse(&raw) {
            prop_assert_eq!(InstanceUrl::parse(u.as_str()), Ok(u.clone()), "{:?}", raw);
            prop_assert!(u.endpoint(&route).ends_with('/'));
        }
    }
}

#[test]
fn the_real_deliveries_parse_as_recorded() {
    for body in real_deliveries() {
        let p = parse(&body);
        assert!(p.agent_id.is_some(), "{}", String::from_utf8_lossy(&body));
        check_invariants(&p);
    }
    for body in real_responses() {
        decode_all(&body);
    }
}
