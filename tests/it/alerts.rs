//! Webhooks (real-style deliveries rendered by the simulator from our ready-to-paste URL
//! actions), backfill and reconciliation, against LocalStack.

use integration_tests::*;
use serde_json::{Value, json};
use shared::auth::perms;
use std::time::Duration;
use tactical_sim::{NewAlert, Severity, SimConfig, UrlAction};

const BASE: &str = "https://hooks.example.test";

struct Setup {
    p: Pipeline,
    sim: tactical_sim::Simulator,
    t: shared::TenantId,
    tok: String,
    secret: String,
    info: Value,
    cache: webhook::SecretCache,
}

async fn setup(label: &str) -> Setup {
    let p = Pipeline::new_with(label, |env| {
        env.insert("WEBHOOK_BASE_URL".into(), BASE.into());
    })
    .await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant(label);
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (s, info) = p.call(Function::Connection, "POST", "/webhook/secret", &tok, None).await;
    assert_eq!(s, 200, "{info}");
    let secret = info["secret"].as_str().unwrap().to_owned();
    // No caching in tests: every delivery sees the secrets as stored (the cache TTL is a deployment detail).
    Setup { p, sim, t, tok, secret, info, cache: webhook::SecretCache::new(Duration::ZERO, Duration::ZERO) }
}

impl Setup {
    fn action(&self, event: &str) -> UrlAction {
        let a = &self.info["url_actions"][event];
        UrlAction::post(
            a["pattern"].as_str().unwrap(),
            a["rest_body"].as_str().unwrap(),
            a["rest_headers"].as_str().unwrap(),
        )
    }

    async fn deliver(&self, req: lambda_http::Request) -> (u16, Value) {
        read(webhook::handle_with(&self.p.deps, &self.cache, req).await)
    }

    async fn fire(&self, event: &str, alert_id: i64) -> (u16, Value) {
        let w = self.sim.state().prepare_webhook(&self.action(event), alert_id, event == "resolved").unwrap();
        self.deliver(webhook_request(&w)).await
    }

    async fn alerts(&self, query: &str) -> Vec<Value> {
        let (s, v) = self.p.call(Function::SyncAlerts, "GET", &format!("/alerts{query}"), &self.tok, None).await;
        assert_eq!(s, 200, "{v}");
        v["alerts"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn the_ready_to_paste_actions_record_trigger_and_resolve() {
    let s = setup("wh-flow").await;
    // Only update permission reveals the secret; reading never creates one.
    let (_, v) = s.p.call(Function::Connection, "GET", "/webhook", &token(&s.t, &[perms::SETTINGS_READ]), None).await;
    assert_eq!(v["has_secret"], true);
    assert!(v.get("secret").is_none() && !v.to_string().contains(&s.secret), "{v}");
    assert_eq!(v["url"], json!(format!("{BASE}/webhooks/tacticalrmm/{}", s.t)));
    let fresh = tenant("wh-none");
    let (_, v) = s.p.call(Function::Connection, "GET", "/webhook", &admin_token(&fresh), None).await;
    assert_eq!(v["has_secret"], false);
    assert!(s.p.deps.secrets.get(&fresh, shared::ports::SecretName::WebhookSecret).await.unwrap().is_none());

    let agent = s.sim.state().agents()[0].clone();
    let id = s
        .sim
        .state()
        .raise_alert(NewAlert::check(agent.agent_id.clone(), Severity::Warning, "Disk Space Drive C: 95% used"))
        .unwrap();
    let (st, v) = s.fire("failure", id).await;
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["recorded"], true);
    let active = s.alerts("?status=active").await;
    assert_eq!(active.len(), 1, "{active:?}");
    let a = &active[0];
    assert_eq!(a["external_alert_id"], json!(id.to_string()));
    assert_eq!(a["external_device_id"], json!(agent.agent_id));
    assert_eq!((a["severity"].clone(), a["tactical_severity"].clone()), (json!("moderate"), json!("warning")));
    assert_eq!(a["message"], "Disk Space Drive C: 95% used");
    assert_eq!(a["device_name"], json!(agent.hostname));
    assert_eq!(a["occurrence_count"], 1);
    assert!(a["triggered_at"].as_str().unwrap().ends_with('Z'));

    let (st, v) = s.fire("resolved", id).await;
    assert_eq!(st, 202, "{v}");
    assert!(s.alerts("?status=active").await.is_empty());
    let resolved = s.alerts("?status=resolved").await;
    assert_eq!(resolved.len(), 1);
    assert!(resolved[0]["resolved_at"].is_string());
    assert_eq!(resolved[0]["alert_key"], a["alert_key"], "the resolve found its trigger");
}

#[tokio::test]
async fn broken_double_encoded_bodies_without_content_type_are_read_and_refetched() {
    let s = setup("wh-broken").await;
    // The agent becomes an asset first, so the follow-up can link the alert to it.
    s.p.call(Function::SyncClients, "POST", "/sync", &s.tok, None).await;
    s.p.drain().await;
    for m in s.p.call(Function::SyncClients, "GET", "/mappings", &s.tok, None).await.1["mappings"].as_array().unwrap() {
        s.p.call(
            Function::SyncClients,
            "PATCH",
            &format!("/mappings/{}", m["id"].as_str().unwrap()),
            &s.tok,
            Some(json!({"client_id": "psa-1"})),
        )
        .await;
    }
    s.p.call(Function::SyncDevices, "POST", "/sync", &s.tok, None).await;
    s.p.drain().await;

    let agent = s.sim.state().agents()[1].clone();
    let msg = "Service \"Print Spooler\" stopped";
    let id = s.sim.state().raise_alert(NewAlert::check(agent.agent_id.clone(), Severity::Error, msg)).unwrap();
    // No Content-Type: only the secret header, as an admin might write it.
    let headers = json!({ "X-Alga-Webhook-Secret": s.secret }).to_string();
    let action = UrlAction::post(s.action("failure").url_pattern, s.action("failure").rest_body, headers);
    let w = s.sim.state().prepare_webhook(&action, id, false).unwrap();
    assert!(w.body.as_deref().unwrap().starts_with('"'), "Tactical sends the broken template as a JSON string");
    assert!(!w.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")));
    let (st, v) = s.deliver(webhook_request(&w)).await;
    assert_eq!(st, 202, "{v}");
    let a = &s.alerts("?status=active").await[0];
    assert_eq!(a["message"], msg, "the quote inside the message survives lenient reading");
    assert_eq!(a["external_alert_id"], json!(id.to_string()));
    assert_eq!(a["asset_id"], Value::Null, "linked by the follow-up, not on the request path");

    assert!(s.p.drain().await >= 1, "the follow-up was queued");
    let a = &s.alerts("?status=active").await[0];
    assert_eq!(a["asset_id"], json!(shared::domain::asset::asset_id_for(&s.t, &agent.agent_id)));
    assert_eq!(a["severity"], "critical");
    assert_eq!(s.sim.state().request_count(tactical_sim::RouteKind::Alert), 1, "the broken body was re-fetched once");
}

#[tokio::test]
async fn refused_deliveries_record_nothing() {
    let s = setup("wh-refuse").await;
    let other = setup("wh-other").await;
    let agent = s.sim.state().agents()[0].agent_id.clone();
    let body = json!({"agent_id": agent, "alert_id": "5", "event": "failure"}).to_string();
    let t = s.t.as_str();
    let cases = [
        raw_webhook(t, None, &body, ""),
        raw_webhook(t, Some("0".repeat(48).as_str()), &body, ""),
        raw_webhook(t, Some(&other.secret), &body, ""),
        raw_webhook("no-such-tenant", Some(&s.secret), &body, ""),
        raw_webhook("bad#tenant", Some(&s.secret), &body, ""),
    ];
    let mut answers = Vec::new();
    for req in cases {
        answers.push(s.deliver(req).await);
    }
    assert!(answers.iter().all(|(st, _)| *st == 401), "{answers:?}");
    assert!(answers.windows(2).all(|w| w[0].1 == w[1].1), "one answer for every refusal: {answers:?}");

    let big = format!("{{\"agent_id\": \"{agent}\", \"message\": \"{}\"}}", "x".repeat(70_000));
    assert_eq!(s.deliver(raw_webhook(t, Some(&s.secret), &big, "")).await.0, 413);
    let (st, v) =
        s.deliver(raw_webhook(t, Some(&s.secret), "{\"alert_id\": \"5\", \"message\": \"no agent\"}", "")).await;
    assert_eq!((st, v["field"].clone()), (400, json!("agent_id")), "{v}");
    assert!(s.alerts("").await.is_empty(), "nothing recorded");

    // A cache that keeps the secret for a minute re-reads the integration's state every time
    // (its refetch interval is zero here): a cached secret never outlives a deactivation.
    let warm = webhook::SecretCache::new(Duration::from_secs(60), Duration::ZERO);
    let other_alert = json!({"agent_id": agent, "alert_id": "6", "event": "failure"}).to_string();
    let first = read(webhook::handle_with(&s.p.deps, &warm, raw_webhook(t, Some(&s.secret), &other_alert, "")).await);
    assert_eq!(first.0, 202, "{first:?}");

    // Inactive (credentials changed, not re-tested): the secret still authenticates, nothing is recorded.
    s.p.call(
        Function::Connection,
        "PATCH",
        "/settings",
        &s.tok,
        Some(json!({"api_key": "ANOTHERKEY0000000000000000000000"})),
    )
    .await;
    let (st, v) = s.deliver(raw_webhook(t, Some(&s.secret), &body, "")).await;
    assert_eq!((st, v["code"].clone()), (409, json!("integration_inactive")), "{v}");
    let (st, v) = read(webhook::handle_with(&s.p.deps, &warm, raw_webhook(t, Some(&s.secret), &body, "")).await);
    assert_eq!((st, v["code"].clone()), (409, json!("integration_inactive")), "through the warm cache too: {v}");
    assert_eq!(s.alerts("").await.len(), 1, "nothing recorded while inactive");
    // Active again: the same delivery is recorded (the refused one did not count as seen).
    let key = json!({"api_key": tactical_sim::DEFAULT_API_KEY});
    assert_eq!(s.p.call(Function::Connection, "PATCH", "/settings", &s.tok, Some(key)).await.0, 200);
    let (st, v) = s.p.call(Function::Connection, "POST", "/test", &s.tok, None).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.deliver(raw_webhook(t, Some(&s.secret), &body, "")).await;
    assert_eq!((st, v["recorded"].clone()), (202, json!(true)), "{v}");
    // Disconnected: the secret is gone.
    s.p.call(Function::Connection, "POST", "/disconnect", &s.tok, None).await;
    assert_eq!(s.deliver(raw_webhook(t, Some(&s.secret), &body, "")).await.0, 401);
    assert_eq!(s.alerts("").await.len(), 2, "only the deliveries made while active");
}

#[tokio::test]
async fn a_hundred_concurrent_duplicates_leave_one_alert_and_one_follow_up() {
    let s = setup("wh-dup").await;
    let agent = s.sim.state().agents()[0].clone();
    let id = s.sim.state().raise_alert(NewAlert::availability(agent.agent_id.clone())).unwrap();
    let w = s.sim.state().prepare_webhook(&s.action("failure"), id, false).unwrap();
    let results = futures::future::join_all((0..100).map(|_| s.deliver(webhook_request(&w)))).await;
    assert!(results.iter().all(|(st, _)| *st == 202), "{:?}", results.iter().find(|(st, _)| *st != 202));
    assert_eq!(results.iter().filter(|(_, v)| v["recorded"] == true).count(), 1);
    let all = s.alerts("").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["occurrence_count"], 1);
    assert_eq!(s.p.drain().await, 1, "one follow-up message");
}

#[tokio::test]
async fn resolves_without_an_id_and_before_their_trigger_are_handled() {
    let s = setup("wh-noid").await;
    let agent = s.sim.state().agents()[0].agent_id.clone();
    let t = s.t.as_str();
    let trig =
        json!({"agent_id": agent, "alert_type": "availability", "severity": "error", "alert_id": "None"}).to_string();
    assert_eq!(s.deliver(raw_webhook(t, Some(&s.secret), &trig, "?event=failure")).await.0, 202);
    // The event only in the query string, no alert id: it still finds the trigger.
    let res =
        json!({"agent_id": agent, "alert_type": "availability", "resolved_on": "2026-11-29 15:56:50.398654+00:00"})
            .to_string();
    let (st, v) = s.deliver(raw_webhook(t, Some(&s.secret), &res, "?event=Resolved")).await;
    assert_eq!(st, 202, "{v}");
    let all = s.alerts("").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["status"], "resolved");
    assert_eq!(all[0]["resolved_at"], "2026-11-29T15:56:50.398654Z");

    // Resolve first, trigger late: stays resolved.
    let late_res = json!({"agent_id": agent, "alert_id": "77", "event": "resolved"}).to_string();
    let late_trig = json!({"agent_id": agent, "alert_id": "77", "event": "failure", "alert_time": "2026-11-29 10:00:00.000000+00:00"}).to_string();
    s.deliver(raw_webhook(t, Some(&s.secret), &late_res, "")).await;
    s.deliver(raw_webhook(t, Some(&s.secret), &late_trig, "")).await;
    let a = s.alerts("").await.into_iter().find(|a| a["external_alert_id"] == "77").unwrap();
    assert_eq!(a["status"], "resolved");
    assert_eq!(a["triggered_at"], "2026-11-29T10:00:00Z");
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_working_for_the_grace_period() {
    let s = setup("wh-rotate").await;
    let old = s.secret.clone();
    let (_, v) = s.p.call(Function::Connection, "POST", "/webhook/secret", &s.tok, None).await;
    let new = v["secret"].as_str().unwrap().to_owned();
    assert_ne!(old, new);
    assert!(v["previous_secret_valid_until"].is_string());
    let agent = s.sim.state().agents()[0].agent_id.clone();
    for (i, secret) in [&old, &new].into_iter().enumerate() {
        let body = json!({"agent_id": agent, "alert_id": (100 + i).to_string(), "event": "failure"}).to_string();
        assert_eq!(s.deliver(raw_webhook(s.t.as_str(), Some(secret), &body, "")).await.0, 202);
    }
    // A second rotation retires the first secret.
    s.p.call(Function::Connection, "POST", "/webhook/secret", &s.tok, None).await;
    let body = json!({"agent_id": agent, "alert_id": "200", "event": "failure"}).to_string();
    assert_eq!(s.deliver(raw_webhook(s.t.as_str(), Some(&old), &body, "")).await.0, 401);
}

#[tokio::test]
async fn backfill_upserts_open_alerts_and_reconciles_resolved_ones() {
    let p = Pipeline::new("backfill").await;
    let sim = simulator(SimConfig {
        fleet: tactical_sim::FleetSpec { alerts: 25, ..Default::default() },
        ..Default::default()
    })
    .await;
    let t = tenant("backfill");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let open: Vec<_> = sim.state().alerts().into_iter().filter(|a| !a.resolved && a.agent_id.is_some()).collect();
    assert!(!open.is_empty());
    let (s, _) = p.call(Function::SyncAlerts, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202);
    p.drain().await;
    let (_, run) = p.call(Function::SyncAlerts, "GET", "/runs/latest", &tok, None).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_created"], json!(open.len()), "{run}");
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts?limit=500", &tok, None).await;
    let local = v["alerts"].as_array().unwrap();
    assert_eq!(local.len(), open.len());
    for a in &open {
        let l = local.iter().find(|l| l["external_alert_id"] == json!(a.id.to_string())).expect("every open alert");
        assert_eq!(l["status"], if a.snoozed { "suppressed" } else { "active" });
    }
    // Re-run with nothing changed: nothing written. Then Tactical resolves one: reconciled.
    let (_, _) = p.call(Function::SyncAlerts, "POST", "/sync", &tok, None).await;
    p.drain().await;
    let (_, run) = p.call(Function::SyncAlerts, "GET", "/runs/latest", &tok, None).await;
    assert_eq!((run["items_unchanged"].clone(), run["items_updated"].clone()), (json!(open.len()), json!(0)), "{run}");
    sim.state().resolve_alert(open[0].id).unwrap();
    p.call(Function::SyncAlerts, "POST", "/sync", &tok, None).await;
    p.drain().await;
    let (_, run) = p.call(Function::SyncAlerts, "GET", "/runs/latest", &tok, None).await;
    assert_eq!(run["items_deleted"], 1, "{run}");
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts?status=auto_resolved", &tok, None).await;
    assert_eq!(v["alerts"][0]["external_alert_id"], json!(open[0].id.to_string()));
    // Paging: a small limit still reaches every alert.
    let mut seen = 0;
    let mut cursor = String::new();
    for _ in 0..100 {
        let (s, v) = p.call(Function::SyncAlerts, "GET", &format!("/alerts?limit=3{cursor}"), &tok, None).await;
        assert_eq!(s, 200, "{v}");
        seen += v["alerts"].as_array().unwrap().len();
        match v["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, open.len());
    let (s, v) = p.call(Function::SyncAlerts, "GET", "/alerts?status=open", &tok, None).await;
    assert_eq!((s, v["field"].clone()), (400, json!("status")));
}

#[tokio::test]
async fn an_alert_remembers_its_recent_deliveries_only() {
    let s = setup("wh-recent").await;
    let agent = s.sim.state().agents()[0].agent_id.clone();
    let body = |i: usize| {
        json!({"agent_id": agent, "alert_id": "77", "event": "failure", "message": format!("disk {i}%")}).to_string()
    };
    let limit = shared::ports::RECENT_DELIVERIES;
    for i in 0..limit + 10 {
        let (st, v) = s.deliver(raw_webhook(s.t.as_str(), Some(&s.secret), &body(i), "")).await;
        assert_eq!((st, v["recorded"].clone()), (202, json!(true)), "{i}: {v}");
    }
    let (alert, recent) = s.p.deps.store.get_alert_with_deliveries(&s.t, "id#77").await.unwrap();
    assert_eq!(alert.unwrap().occurrence_count, (limit + 10) as i64);
    assert_eq!(recent.len(), limit, "the item stays bounded however often an alert fires");
    let (_, v) = s.deliver(raw_webhook(s.t.as_str(), Some(&s.secret), &body(limit + 9), "")).await;
    assert_eq!(v["duplicate"], true, "a recent delivery repeated is a duplicate: {v}");
}
