//! Webhook firing compared byte-for-byte with deliveries captured from a real Tactical 1.5.1.

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use common::*;
use serde_json::Value;
use tactical_sim::*;
use time::macros::datetime;
use tokio::sync::mpsc;

#[derive(Debug)]
struct Received {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

async fn receiver() -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    async fn capture(
        State(tx): State<mpsc::UnboundedSender<Received>>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
        let _ = tx.send(Received { method: method.to_string(), path, headers, body });
        "received"
    }
    let app = Router::new().fallback(capture).with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, rx)
}

/// The URL action an admin would paste (pretty-printed; Tactical re-serialises valid JSON).
fn template(resolved: bool) -> String {
    let mut t = String::from(
        "{\n  \"event\": \"EVENT\",\n  \"alert_id\": \"{{alert.id}}\",\n  \"alert_type\": \"{{alert.alert_type}}\",\n  \"severity\": \"{{alert.severity}}\",\n  \"message\": \"{{alert.message}}\",\n  \"alert_time\": \"{{alert.alert_time}}\",\n  \"agent_id\": \"{{agent.agent_id}}\",\n  \"hostname\": \"{{agent.hostname}}\",\n  \"client\": \"{{client.name}}\",\n  \"site\": \"{{site.name}}\",\n  \"status\": \"{{agent.status}}\",\n  \"public_ip\": \"{{agent.public_ip}}\",\n  \"resolved\": \"{{alert.resolved}}\"",
    );
    if resolved {
        t.push_str(",\n  \"resolved_on\": \"{{ alert.resolved_on }}\"");
    }
    t.push_str("\n}");
    t.replace("EVENT", if resolved { "resolved" } else { "failure" })
}

fn action(addr: SocketAddr, resolved: bool) -> UrlAction {
    let event = if resolved { "resolved" } else { "failure" };
    UrlAction::post(
        format!("http://{addr}/tactical/alert?event={event}&agent={{{{agent.agent_id}}}}"),
        template(resolved),
        "{\"Content-Type\": \"application/json\", \"X-Tactical-Token\": \"example-shared-secret\"}",
    )
}

/// Recreate the fixture's clients, agents and alerts.
fn fixture_world(st: &SimState) -> (i64, i64, i64) {
    let acme = st.add_client("Acme Corp");
    let hq = st.add_site(acme, "HQ").unwrap();
    let branch = st.add_site(acme, "Branch Office").unwrap();
    let add = |site, id: &str, host: &str, ip: &str| {
        st.add_agent(NewAgent {
            agent_id: Some(id.into()),
            hostname: Some(host.into()),
            public_ip: Some(ip.into()),
            ..NewAgent::new(site, Plat::Windows)
        })
        .unwrap()
    };
    let a37 = add(branch, "NghoQLGoNNvRWAUcUIDweLokzYdUzVKMPIWCDlmD", "WIN-ACME-037", "203.0.113.46");
    add(branch, "yKWmjfRcFzueQKnKSeRFGuYbqdeOfOGncaiaOPXt", "WIN-ACME-002", "203.0.113.11");
    add(hq, "BnYYURLgfBeKJkwreHBIgJLVHKtPskqoOcDRVAUK", "WIN-ACME-001", "203.0.113.10");
    st.make_overdue(&a37.agent_id).unwrap();
    let avail = st
        .raise_alert(NewAlert {
            id: Some(2),
            alert_time: Some(datetime!(2026-11-21 00:30:43.905179 UTC)),
            ..NewAlert::availability("NghoQLGoNNvRWAUcUIDweLokzYdUzVKMPIWCDlmD")
        })
        .unwrap();
    let check = st
        .raise_alert(NewAlert {
            id: Some(13),
            alert_time: Some(datetime!(2026-11-29 11:56:09.105179 UTC)),
            ..NewAlert::check(
                "yKWmjfRcFzueQKnKSeRFGuYbqdeOfOGncaiaOPXt",
                Severity::Error,
                "WIN-ACME-002 has a Disk Space Drive C: Check that failed.",
            )
        })
        .unwrap();
    let quote = st
        .raise_alert(NewAlert {
            id: Some(33),
            alert_time: Some(datetime!(2026-11-29 13:00:39.404937 UTC)),
            ..NewAlert::check(
                "BnYYURLgfBeKJkwreHBIgJLVHKtPskqoOcDRVAUK",
                Severity::Warning,
                "Service \"Print Spooler\" stopped on host",
            )
        })
        .unwrap();
    (avail, check, quote)
}

fn assert_like_fixture(got: &Received, fx: &Value) {
    assert_eq!(got.method, fx["method"].as_str().unwrap());
    assert_eq!(got.path, fx["path"].as_str().unwrap());
    let body = std::str::from_utf8(&got.body).unwrap();
    assert_eq!(body, fx["body"].as_str().unwrap(), "body bytes");
    for h in ["User-Agent", "Content-Type", "X-Tactical-Token", "Content-Length", "Accept", "Accept-Encoding"] {
        assert_eq!(got.headers.get(h).and_then(|v| v.to_str().ok()), fx["headers"][h].as_str(), "header {h}");
    }
}

#[tokio::test]
async fn deliveries_match_the_captured_fixtures() {
    let (addr, mut rx) = receiver().await;
    let sim = start(SimConfig {
        fleet: FleetSpec { clients: 0, sites_per_client: 0, agents: 0, software_per_agent: 0, alerts: 0 },
        ..SimConfig::default()
    })
    .await;
    let st = sim.state();
    let (avail, check, quote) = fixture_world(&st);
    let fx = fixture("webhook_deliveries_as_received.json");

    let d = st.fire_webhook(&action(addr, false), avail, false).await.unwrap();
    assert_eq!(d.status, 200);
    assert_eq!(d.response_body, "received");
    assert_like_fixture(&rx.recv().await.unwrap(), &fx[0]);
    assert_eq!(st.alert(avail).unwrap().action_retcode, Some(200));

    st.resolve_alert_at(avail, datetime!(2026-11-29 15:56:50.398654 UTC)).unwrap();
    st.make_online("NghoQLGoNNvRWAUcUIDweLokzYdUzVKMPIWCDlmD").unwrap();
    // the captured resolved delivery still said "overdue": the resolve task fired before the next check-in
    st.make_overdue("NghoQLGoNNvRWAUcUIDweLokzYdUzVKMPIWCDlmD").unwrap();
    st.fire_webhook(&action(addr, true), avail, true).await.unwrap();
    assert_like_fixture(&rx.recv().await.unwrap(), &fx[1]);
    assert_eq!(st.alert(avail).unwrap().resolved_action_retcode, Some(200));

    st.fire_webhook(&action(addr, false), check, false).await.unwrap();
    assert_like_fixture(&rx.recv().await.unwrap(), &fx[2]);

    // a message with a double quote: the rendered text is not JSON → sent as one JSON string
    st.fire_webhook(&action(addr, false), quote, false).await.unwrap();
    let got = rx.recv().await.unwrap();
    assert_like_fixture(&got, &fixture("webhook_delivery_message_with_quote.json"));
    let outer: Value = serde_json::from_slice(&got.body).unwrap();
    assert!(outer.is_string());
    assert!(serde_json::from_str::<Value>(outer.as_str().unwrap()).is_err(), "inner text is still broken JSON");
    sim.shutdown().await;
}

#[tokio::test]
async fn rendering_quirks_headers_and_errors() {
    let (addr, mut rx) = receiver().await;
    let sim = start(SimConfig::default()).await;
    let st = sim.state();
    let a = st.agents()[0].clone();
    let id = st
        .raise_alert(NewAlert {
            alert_time: Some(datetime!(2026-11-21 00:19:35 UTC)),
            ..NewAlert::availability(a.agent_id.clone())
        })
        .unwrap();
    st.set_global_key("tenant", "t-42");
    let body = "{\"resolved\": \"{{alert.resolved}}\", \"hidden\": \"{{alert.hidden}}\", \"t\": \"{{alert.alert_time}}\", \"missing\": \"{{agent.nonexistent}}\", \"g\": \"{{global.tenant}}\", \"nog\": \"{{global.nope}}\", \"site\": \"{{ site.name }}\", \"n\": {{alert.id}}, \"u\": \"caf\u{e9}\"}";
    // no headers at all: no Content-Type is sent
    let act = UrlAction::post(format!("http://{addr}/hook path?x={{{{agent.hostname}}}}"), body, "{}");
    let d = st.fire_webhook(&act, id, false).await.unwrap();
    let got = rx.recv().await.unwrap();
    assert!(got.headers.get("content-type").is_none());
    assert_eq!(got.headers["user-agent"], WEBHOOK_USER_AGENT);
    assert_eq!(got.path, format!("/hook%20path?x={}", a.hostname));
    assert_eq!(d.request.url, format!("http://{addr}/hook%20path?x={}", a.hostname));
    let expected = format!(
        "{{\"resolved\": \"None\", \"hidden\": \"None\", \"t\": \"2026-11-21 00:19:35+00:00\", \"missing\": \"{host}\", \"g\": \"t-42\", \"nog\": \"None\", \"site\": \"{site}\", \"n\": {id}, \"u\": \"caf\\u00e9\"}}",
        host = a.hostname,
        site = a.site_name
    );
    assert_eq!(std::str::from_utf8(&got.body).unwrap(), expected);

    // GET sends no body
    let get_act = UrlAction { method: "get".into(), ..act.clone() };
    let d = st.fire_webhook(&get_act, id, false).await.unwrap();
    assert!(d.request.body.is_none());
    let got = rx.recv().await.unwrap();
    assert_eq!(got.method, "GET");
    assert!(got.body.is_empty());

    // plain-text body → JSON string literal
    let p = st.prepare_webhook(&UrlAction::post("http://x/", "alert {{alert.id}} fired", "{}"), id, false).unwrap();
    assert_eq!(p.body.as_deref(), Some(format!("\"alert {id} fired\"").as_str()));
    // header template must be a JSON object of strings
    let bad = UrlAction::post("http://x/", "{}", "not json");
    assert!(matches!(st.prepare_webhook(&bad, id, false), Err(WebhookError::InvalidHeaders(_))));
    let bad = UrlAction::post("http://x/", "{}", "{\"X-N\": 1}");
    assert!(matches!(st.prepare_webhook(&bad, id, false), Err(WebhookError::InvalidHeaders(_))));
    assert!(matches!(st.prepare_webhook(&act, 999_999, false), Err(WebhookError::UnknownAlert(999_999))));
    // resolved=true resolves the alert first
    let p =
        st.prepare_webhook(&UrlAction::post("http://x/", "{\"r\": \"{{alert.resolved}}\"}", "{}"), id, true).unwrap();
    assert_eq!(p.body.as_deref(), Some("{\"r\": \"True\"}"));
    // nothing listening → transport error, recorded as retcode 500, no retry
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let err =
        st.fire_webhook(&UrlAction::post(format!("http://{dead_addr}/"), "{}", "{}"), id, false).await.unwrap_err();
    assert!(matches!(err, WebhookError::Transport(_)));
    assert_eq!(st.alert(id).unwrap().action_retcode, Some(500));
    sim.shutdown().await;
}
