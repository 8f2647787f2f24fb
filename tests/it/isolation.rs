//! Tenant isolation. Tenant A, with a valid token of its own, tries every function-URL
//! operation against tenant B's data (B's ids in paths, B's cursor, B's webhook URL): A never
//! sees B's data and B's data is unchanged afterwards. A queue message naming a tenant without
//! an integration is dropped without writing anything. Finally every item of the stack's table
//! is checked to lead with the tenant whose operation wrote it.

use integration_tests::*;
use serde_json::{Value, json};
use shared::ports::SecretName;
use shared::tenant::TenantId;
use std::collections::BTreeMap;
use std::time::Duration;
use tactical_sim::{NewAlert, SimConfig};

const BASE: &str = "https://hooks.example.test";

/// Everything B can see of itself, through its own token.
async fn snapshot(p: &Pipeline, tok: &str) -> BTreeMap<&'static str, Value> {
    let mut out = BTreeMap::new();
    for (name, f, path) in [
        ("settings", Function::Connection, "/settings"),
        ("webhook", Function::Connection, "/webhook"),
        ("mappings", Function::SyncClients, "/mappings"),
        ("clients_run", Function::SyncClients, "/runs/latest"),
        ("assets", Function::SyncDevices, "/assets"),
        ("devices_run", Function::SyncDevices, "/runs/latest"),
        ("alerts", Function::SyncAlerts, "/alerts?limit=500"),
        ("alerts_run", Function::SyncAlerts, "/runs/latest"),
    ] {
        let (s, mut v) = p.call(f, "GET", path, tok, None).await;
        assert_eq!(s, 200, "{name}: {v}");
        // Status and uptime are computed at read time; everything stored must be identical.
        for a in v["assets"].as_array_mut().into_iter().flatten() {
            a.as_object_mut().unwrap().retain(|k, _| k != "uptime_seconds" && k != "agent_status");
        }
        out.insert(name, v);
    }
    out
}

async fn secrets(p: &Pipeline, t: &TenantId) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for name in SecretName::ALL {
        out.push(
            p.deps.secrets.get(t, name).await.unwrap().map(|s| secrecy::ExposeSecret::expose_secret(&s).to_owned()),
        );
    }
    out
}

/// Every item of the stack's table (Scan, paged).
async fn scan_partition_keys(p: &Pipeline) -> Vec<String> {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk().await);
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let out = ddb
            .scan()
            .table_name(&p.stack.table_name)
            .projection_expression("pk")
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in out.items() {
            keys.push(item["pk"].as_s().expect("pk is a string").clone());
        }
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return keys,
        }
    }
}

#[tokio::test]
async fn a_tenant_cannot_see_or_change_another_tenants_data() {
    let p = Pipeline::new_with("isolation", |env| {
        env.insert("WEBHOOK_BASE_URL".into(), BASE.into());
    })
    .await;
    let cache = webhook::SecretCache::new(Duration::ZERO, Duration::ZERO);

    // B: connected, clients synced and mapped, devices synced, webhook secret, an alert.
    let sim_b = simulator(SimConfig::default()).await;
    let b = tenant("iso-b");
    let tok_b = admin_token(&b);
    connect(&p, &b, &sim_b).await;
    p.call(Function::SyncClients, "POST", "/sync", &tok_b, None).await;
    p.drain().await;
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", &tok_b, None).await;
    let b_mapping = v["mappings"][0]["id"].as_str().unwrap().to_owned();
    for m in v["mappings"].as_array().unwrap() {
        let path = format!("/mappings/{}", m["id"].as_str().unwrap());
        p.call(Function::SyncClients, "PATCH", &path, &tok_b, Some(json!({"client_id": "psa-of-b"}))).await;
    }
    let (_, b_devices) = p.call(Function::SyncDevices, "POST", "/sync", &tok_b, None).await;
    p.drain().await;
    let (_, info) = p.call(Function::Connection, "POST", "/webhook/secret", &tok_b, None).await;
    let b_secret = info["secret"].as_str().unwrap().to_owned();
    let agent = sim_b.state().agents()[0].agent_id.clone();
    let id = sim_b.state().raise_alert(NewAlert::availability(agent.clone())).unwrap();
    let body = json!({"agent_id": agent, "alert_id": id.to_string(), "event": "failure"}).to_string();
    let (s, _) = read(webhook::handle_with(&p.deps, &cache, raw_webhook(b.as_str(), Some(&b_secret), &body, "")).await);
    assert_eq!(s, 202);
    let (_, b_alerts_run) = p.call(Function::SyncAlerts, "POST", "/sync", &tok_b, None).await;
    p.drain().await;
    let (_, b_clients_run) = p.call(Function::SyncClients, "GET", "/runs/latest", &tok_b, None).await;
    // A cursor into B's alert list (a page of one).
    let (_, page) = p.call(Function::SyncAlerts, "GET", "/alerts?limit=1", &tok_b, None).await;
    let b_cursor = page["next_cursor"].as_str().expect("B has more than one alert").to_owned();
    let before = snapshot(&p, &tok_b).await;
    let b_secrets = secrets(&p, &b).await;
    assert!(
        before["assets"]["count"].as_u64().unwrap() > 0 && !before["alerts"]["alerts"].as_array().unwrap().is_empty()
    );

    // A: its own Tactical, its own token; every operation, aimed at B's ids where a path has one.
    let sim_a = simulator(SimConfig { seed: 7, ..SimConfig::default() }).await;
    let a = tenant("iso-a");
    let tok_a = admin_token(&a);
    let b_ids = [
        b_devices["run_id"].as_str().unwrap(),
        b_alerts_run["run_id"].as_str().unwrap(),
        b_clients_run["run_id"].as_str().unwrap(),
    ];
    let mut answers: Vec<(String, u16, Value)> = Vec::new();
    let mut call = async |f: Function, m: &str, path: &str, body: Option<Value>| {
        let (s, v) = p.call(f, m, path, &tok_a, body).await;
        answers.push((format!("{m} {f:?}{path}"), s, v.clone()));
        (s, v)
    };
    // Before A has anything: reads are empty or 404, B's ids are unknown.
    call(Function::Connection, "GET", "/settings", None).await;
    call(Function::Connection, "GET", "/webhook", None).await;
    call(Function::Connection, "POST", "/test", Some(json!({}))).await;
    call(Function::Connection, "POST", "/disconnect", None).await;
    call(Function::SyncClients, "GET", "/mappings", None).await;
    let (s, _) =
        call(Function::SyncClients, "PATCH", &format!("/mappings/{b_mapping}"), Some(json!({"client_id": "stolen"})))
            .await;
    assert_eq!(s, 404, "B's mapping does not exist for A");
    for f in [Function::SyncClients, Function::SyncDevices, Function::SyncAlerts] {
        call(f, "POST", "/sync", None).await;
        call(f, "GET", "/runs/latest", None).await;
        for id in b_ids {
            let (s, _) = call(f, "GET", &format!("/runs/{id}"), None).await;
            assert_eq!(s, 404, "B's run {id} is not A's");
        }
    }
    call(Function::SyncDevices, "GET", "/assets", None).await;
    call(Function::SyncAlerts, "GET", "/alerts", None).await;
    let (s, v) = call(Function::SyncAlerts, "GET", &format!("/alerts?cursor={b_cursor}"), None).await;
    assert!(s == 400 || v["alerts"].as_array().is_some_and(|a| a.is_empty()), "B's cursor reads nothing of B: {v}");
    // Then A connects, syncs, maps, rotates its secret, and tries again with data of its own.
    connect(&p, &a, &sim_a).await;
    call(
        Function::Connection,
        "PATCH",
        "/settings",
        Some(json!({"schedules": {"device_sync": {"enabled": true, "interval_minutes": 15}}})),
    )
    .await;
    call(Function::Connection, "POST", "/webhook/secret", None).await;
    let (_, a_info) = call(Function::Connection, "GET", "/webhook", None).await;
    let a_secret = a_info["secret"].as_str().unwrap().to_owned();
    call(Function::SyncClients, "POST", "/sync", None).await;
    p.drain().await;
    call(Function::SyncClients, "PATCH", &format!("/mappings/{b_mapping}"), Some(json!({"client_id": "psa-of-a"})))
        .await;
    for f in [Function::SyncDevices, Function::SyncAlerts] {
        call(f, "POST", "/sync", None).await;
        p.drain().await;
    }
    call(Function::SyncDevices, "GET", "/assets", None).await;
    call(Function::SyncAlerts, "GET", "/alerts?limit=500", None).await;
    let (s, v) = call(Function::SyncAlerts, "GET", &format!("/alerts?cursor={b_cursor}"), None).await;
    assert!(s == 400 || v["alerts"].as_array().unwrap().iter().all(|x| x["tenant"] == json!(a.as_str())), "{v}");
    call(Function::SyncClients, "GET", "/mappings", None).await;
    for f in [Function::SyncClients, Function::SyncDevices, Function::SyncAlerts] {
        for id in b_ids {
            assert_eq!(call(f, "GET", &format!("/runs/{id}"), None).await.0, 404);
        }
    }
    // A's webhook secret on B's webhook URL (and B's on A's): refused, nothing recorded.
    for (url_tenant, secret) in [(b.as_str(), a_secret.as_str()), (a.as_str(), b_secret.as_str())] {
        let body = json!({"agent_id": agent, "alert_id": "424242", "event": "failure"}).to_string();
        let (s, v) =
            read(webhook::handle_with(&p.deps, &cache, raw_webhook(url_tenant, Some(secret), &body, "")).await);
        assert_eq!(s, 401, "{v}");
    }
    call(Function::Connection, "POST", "/disconnect", None).await;

    // Nothing A saw carries B's tenant, B's PSA client, B's instance URL or B's secret.
    let b_markers = [b.as_str().to_owned(), "psa-of-b".into(), format!("{}\"", sim_b.base_url()), b_secret.clone()];
    for (what, status, v) in &answers {
        let text = v.to_string();
        for marker in &b_markers {
            assert!(!text.contains(marker.as_str()), "{what} ({status}) leaked {marker}: {text}");
        }
    }
    // B is exactly as it was.
    assert_eq!(snapshot(&p, &tok_b).await, before, "B's data unchanged");
    assert_eq!(secrets(&p, &b).await, b_secrets, "B's secrets unchanged");
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts?limit=500", &tok_b, None).await;
    assert!(!v.to_string().contains("424242"), "the refused delivery recorded nothing");

    // A queue message naming a tenant without an integration: dropped, nothing written.
    let ghost = tenant("iso-ghost");
    let msgs = [
        (
            shared::messages::QueueKind::SyncClients,
            shared::messages::SyncMessage::StartRun {
                tenant: ghost.clone(),
                run_id: "20260101T000000Z-00000000".into(),
                sync_type: shared::messages::SyncType::Clients,
                trigger: shared::messages::Trigger::Schedule,
            },
        ),
        (
            shared::messages::QueueKind::SyncDevices,
            shared::messages::SyncMessage::DevicePage {
                tenant: ghost.clone(),
                run_id: "20260101T000000Z-00000000".into(),
                client_id: 1,
                page: 1,
                page_size: 1000,
                baseline: None,
                fresh: true,
                count: None,
            },
        ),
        (
            shared::messages::QueueKind::SyncAlerts,
            shared::messages::SyncMessage::AlertFollowUp {
                tenant: ghost.clone(),
                alert_key: "id#1".into(),
                alert_id: Some(1),
                agent_id: agent.clone(),
                refetch: true,
            },
        ),
    ];
    for (q, m) in msgs {
        p.deps.queue.send(q, &[m]).await.unwrap();
    }
    assert_eq!(p.drain().await, 3, "delivered and dropped (not retried)");
    for q in ["SyncClientsQueue", "SyncDevicesQueue", "SyncAlertsQueue"] {
        assert_eq!(p.dlq_depth(q).await, 0);
    }

    // Every item in the table leads with the tenant whose operation wrote it.
    let keys = scan_partition_keys(&p).await;
    assert!(keys.len() > 20, "{keys:?}");
    let ghost_prefix = format!("{ghost}#");
    assert!(
        !keys.iter().any(|k| k.starts_with(&ghost_prefix)),
        "a message for a tenant without integration wrote nothing"
    );
    let strays: Vec<_> =
        keys.iter().filter(|k| !k.starts_with(&format!("{a}#")) && !k.starts_with(&format!("{b}#"))).collect();
    assert!(strays.is_empty(), "items outside the tenants' partitions: {strays:?}");
    assert!(
        keys.iter().any(|k| k.starts_with(&format!("{a}#"))) && keys.iter().any(|k| k.starts_with(&format!("{b}#")))
    );
    integration_tests::cleanup::drop_stack(&p.stack).await;
}

/// Within a tenant: an alert message is text the monitored machine controls (a script check's
/// output). When it contains a quote Tactical sends a broken body, and a message that imitates
/// `"agent_id": "…"` could be read as the agent. The follow-up re-fetches such alerts from
/// Tactical, and Tactical's agent is the one the alert is linked to.
#[tokio::test]
async fn an_alert_message_cannot_move_the_alert_to_another_agent() {
    let p = Pipeline::new_with("spoof", |env| {
        env.insert("WEBHOOK_BASE_URL".into(), BASE.into());
    })
    .await;
    let sim = simulator(SimConfig {
        fleet: tactical_sim::FleetSpec { clients: 1, sites_per_client: 1, agents: 4, software_per_agent: 0, alerts: 0 },
        ..SimConfig::default()
    })
    .await;
    let t = tenant("spoof");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    p.drain().await;
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", &tok, None).await;
    let id = v["mappings"][0]["id"].as_str().unwrap().to_owned();
    p.call(Function::SyncClients, "PATCH", &format!("/mappings/{id}"), &tok, Some(json!({"client_id": "psa-1"}))).await;
    p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    p.drain().await;
    let (_, info) = p.call(Function::Connection, "POST", "/webhook/secret", &tok, None).await;
    let agents = sim.state().agents();
    let (real, other) = (agents[0].agent_id.clone(), agents[1].agent_id.clone());
    let message = format!("script said \"done\",\n  \"agent_id\": \"{other}\",\n  \"note\": \"x");
    let alert =
        sim.state().raise_alert(NewAlert::check(real.clone(), tactical_sim::Severity::Warning, message)).unwrap();
    let a = &info["url_actions"]["failure"];
    let action = tactical_sim::UrlAction::post(
        a["pattern"].as_str().unwrap(),
        a["rest_body"].as_str().unwrap(),
        a["rest_headers"].as_str().unwrap(),
    );
    let w = sim.state().prepare_webhook(&action, alert, false).unwrap();
    assert!(w.body.as_deref().unwrap().starts_with('"'), "Tactical sends the broken template as a string");
    let cache = webhook::SecretCache::new(Duration::ZERO, Duration::ZERO);
    let (s, v) = read(webhook::handle_with(&p.deps, &cache, webhook_request(&w)).await);
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    let stored = p.deps.store.get_alert(&t, &format!("id#{alert}")).await.unwrap().expect("recorded");
    assert_eq!(stored.external_device_id, real, "Tactical's agent, after the re-fetch");
    assert_eq!(
        stored.asset_id,
        Some(shared::domain::asset::asset_id_for(&t, &real)),
        "linked to the asset of the agent Tactical names, not the one the message imitates"
    );
    integration_tests::cleanup::drop_stack(&p.stack).await;
}
