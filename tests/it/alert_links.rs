//! Alerts linked to assets: backfilled and webhook alerts carry their agent's `asset_id` when
//! recorded, alerts recorded before their agent became an asset are linked by the device run
//! that creates it, and a pasted template without `event` resolves by its `resolved` value.

use integration_tests::*;
use serde_json::{Value, json};
use shared::domain::asset::asset_id_for;
use std::time::Duration;
use tactical_sim::{NewAlert, Severity, SimConfig};

async fn alerts(p: &Pipeline, tok: &str) -> Vec<Value> {
    let (s, v) = p.call(Function::SyncAlerts, "GET", "/alerts?limit=500", tok, None).await;
    assert_eq!(s, 200, "{v}");
    v["alerts"].as_array().unwrap().clone()
}

fn by_id(all: &[Value], id: i64) -> &Value {
    all.iter().find(|a| a["external_alert_id"] == json!(id.to_string())).unwrap_or_else(|| panic!("alert {id}"))
}

#[tokio::test]
async fn backfilled_and_webhook_alerts_carry_their_asset_and_early_ones_are_linked_later() {
    let p = Pipeline::new_with("alinks", |env| {
        env.insert("WEBHOOK_BASE_URL".into(), "https://hooks.example.test".into());
    })
    .await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("alinks");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (_, info) = p.call(Function::Connection, "POST", "/webhook/secret", &tok, None).await;
    let secret = info["secret"].as_str().unwrap().to_owned();
    let cache = webhook::SecretCache::new(Duration::ZERO, Duration::ZERO);
    let deliver = |body: Value| {
        let req = raw_webhook(t.as_str(), Some(&secret), &body.to_string(), "");
        let (deps, cache) = (&p.deps, &cache);
        async move { read(webhook::handle_with(deps, cache, req).await) }
    };
    let st = sim.state();
    let agents = st.agents();

    // An alert arrives before its agent is an asset: recorded unlinked.
    let early_agent = agents[2].agent_id.clone();
    let early = st.raise_alert(NewAlert::check(early_agent.clone(), Severity::Warning, "CPU load")).unwrap();
    let (s, v) = deliver(json!({"agent_id": early_agent, "alert_id": early.to_string(), "event": "failure"})).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    assert_eq!(by_id(&alerts(&p, &tok).await, early)["asset_id"], Value::Null);

    // Devices sync: every agent becomes an asset, and the early alert is linked.
    p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    p.drain().await;
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", &tok, None).await;
    for m in v["mappings"].as_array().unwrap() {
        let path = format!("/mappings/{}", m["id"].as_str().unwrap());
        p.call(Function::SyncClients, "PATCH", &path, &tok, Some(json!({"client_id": "psa-1"}))).await;
    }
    p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    p.drain().await;
    let all = alerts(&p, &tok).await;
    assert_eq!(by_id(&all, early)["asset_id"], json!(asset_id_for(&t, &early_agent)), "linked by the device run");

    // Backfill: every open alert of an agent that is an asset carries its asset id.
    assert_eq!(p.call(Function::SyncAlerts, "POST", "/sync", &tok, None).await.0, 202);
    p.drain().await;
    let all = alerts(&p, &tok).await;
    let open: Vec<&Value> = all.iter().filter(|a| a["status"] == "active" || a["status"] == "suppressed").collect();
    assert!(open.len() >= 5, "{all:?}");
    for a in &open {
        let agent = a["external_device_id"].as_str().unwrap();
        assert_eq!(a["asset_id"], json!(asset_id_for(&t, agent)), "{a}");
    }

    // A webhook for an asset's agent is linked on the request path, before any follow-up runs.
    let agent = agents[3].agent_id.clone();
    let id = st.raise_alert(NewAlert::check(agent.clone(), Severity::Error, "Disk C: 97%")).unwrap();
    let (s, v) = deliver(json!({"agent_id": agent, "alert_id": id.to_string(), "event": "failure"})).await;
    assert_eq!(s, 202, "{v}");
    let a = by_id(&alerts(&p, &tok).await, id).clone();
    assert_eq!((a["status"].clone(), a["asset_id"].clone()), (json!("active"), json!(asset_id_for(&t, &agent))));

    // An admin's own template with no event: its resolved values say it is a resolve.
    let body = json!({"agent_id": agent, "alert_id": id.to_string(), "resolved": "True",
        "resolved_on": "2026-11-30 10:00:00.000000+00:00"});
    let (s, v) = deliver(body).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["status"], "resolved", "{v}");
    let a = by_id(&alerts(&p, &tok).await, id).clone();
    assert_eq!((a["status"].clone(), a["resolved_at"].clone()), (json!("resolved"), json!("2026-11-30T10:00:00Z")));
}
