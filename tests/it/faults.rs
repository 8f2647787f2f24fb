//! The fault matrix. Every sync type × every Tactical fault the simulator can inject,
//! once transient (fewer faults than the client's 4 attempts) and once persistent (every
//! attempt of every SQS delivery); then AWS faults (DynamoDB and Secrets Manager throttling, a
//! conditional write that loses a race) and poison messages. Each case asserts how the run ends
//! and what it says, that retries stay bounded (simulator request counters), that no asset is
//! left without its external entity mapping (or the reverse), and what reaches the DLQ.
//!
//! The workers' Tactical retry backoff is shortened with `TACTICAL_RETRY_BASE_MS` (attempts and
//! the Retry-After cap are production's); the request timeout is set per case in the workers' config.

use integration_tests::aws_faults::faulty_pipeline;
use integration_tests::cleanup::drop_stack;
use integration_tests::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use tactical_sim::{Fault, FaultTarget, RouteKind, SimConfig, Simulator};

/// Tactical attempts per call (RetryPolicy::default) and SQS deliveries (maxReceiveCount).
const ATTEMPTS: u64 = 4;
const DELIVERIES: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sync {
    Clients,
    Devices,
    Alerts,
}

impl Sync {
    fn function(self) -> Function {
        match self {
            Sync::Clients => Function::SyncClients,
            Sync::Devices => Function::SyncDevices,
            Sync::Alerts => Function::SyncAlerts,
        }
    }
    /// The Tactical route each sync type reads.
    fn route(self) -> RouteKind {
        match self {
            Sync::Clients => RouteKind::Clients,
            Sync::Devices => RouteKind::BetaAgents,
            Sync::Alerts => RouteKind::Alerts,
        }
    }
    fn queue(self) -> &'static str {
        match self {
            Sync::Clients => "SyncClientsQueue",
            Sync::Devices => "SyncDevicesQueue",
            Sync::Alerts => "SyncAlertsQueue",
        }
    }
}

/// One row of the matrix.
struct Case {
    name: &'static str,
    fault: Fault,
    /// `Some(n)`: the next n requests only; `None`: every request until cleared.
    times: Option<u32>,
    /// Request timeout of the Tactical client for this case.
    timeout: Duration,
    /// Requests one failing work item makes per delivery (4, or 1 when not retried in-process).
    per_delivery: u64,
    /// Words the run's message must contain (persistent faults).
    says: &'static [&'static str],
}

fn matrix() -> Vec<Case> {
    let t = |name, fault, n, per_delivery, says| Case {
        name,
        fault,
        times: Some(n),
        timeout: Duration::from_millis(1500),
        per_delivery,
        says,
    };
    let p = |name, fault, per_delivery, says| Case {
        name,
        fault,
        times: None,
        timeout: Duration::from_millis(300),
        per_delivery,
        says,
    };
    vec![
        // Transient: fewer faults than attempts, so one delivery succeeds.
        t("transient timeout", Fault::Hang, 1, ATTEMPTS, &[]),
        t("transient 429 Retry-After 1", Fault::TooManyRequests { retry_after_secs: 1 }, 1, ATTEMPTS, &[]),
        t("transient 500", Fault::Status5xx(500), 2, ATTEMPTS, &[]),
        t("transient reset mid-body", Fault::ResetMidBody, 3, ATTEMPTS, &[]),
        // Not transient: the dashboard host is a configuration error, never retried.
        t("dashboard HTML", Fault::DashboardHtml, 1, 1, &["dashboard", "API host"]),
        // A body that does not decode gets the same answer again: never retried, in-process or
        // by SQS; the work item fails at once with what was wrong.
        t("malformed JSON", Fault::MalformedJson, 1, 1, &["could not be read"]),
        // Persistent: every attempt of every delivery; recorded on the run at the 5th delivery.
        p("persistent timeout", Fault::Hang, ATTEMPTS, &["did not answer"]),
        // A Retry-After longer than the client waits (30 s) goes back to the queue at once.
        p(
            "persistent 429 Retry-After 60",
            Fault::TooManyRequests { retry_after_secs: 60 },
            1,
            &["rate limiting", "60 s"],
        ),
        p("persistent 500", Fault::Status5xx(500), ATTEMPTS, &["HTTP 500"]),
        p("persistent reset mid-body", Fault::ResetMidBody, ATTEMPTS, &["connection broke"]),
    ]
}

fn small_fleet() -> SimConfig {
    SimConfig {
        fleet: tactical_sim::FleetSpec { clients: 2, sites_per_client: 1, agents: 8, software_per_agent: 0, alerts: 4 },
        ..SimConfig::default()
    }
}

/// The Tactical request timeout the workers read from their config (`TACTICAL_TIMEOUT_SECS`).
fn set_tactical_timeout(p: &mut Pipeline, timeout: Duration) {
    let mut config = (*p.deps.config).clone();
    config.tactical_timeout = timeout;
    p.deps.config = std::sync::Arc::new(config);
}

async fn fast_retry_pipeline(label: &str) -> Pipeline {
    let p = Pipeline::new_with(label, |env| {
        env.insert("TACTICAL_RETRY_BASE_MS".into(), "1".into());
    })
    .await;
    // Failed work items are redelivered by SQS: after a short visibility timeout here.
    p.redeliver_after(1).await;
    p
}

async fn start_and_drain(p: &Pipeline, f: Function, tok: &str) -> Value {
    let (s, v) = p.call(f, "POST", "/sync", tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    let (s, run) = p.call(f, "GET", &format!("/runs/{}", v["run_id"].as_str().unwrap()), tok, None).await;
    assert_eq!(s, 200, "{run}");
    run
}

/// Clients synced and every organization mapped with auto-sync on, for device syncs.
async fn map_everything(p: &Pipeline, tok: &str) {
    let run = start_and_drain(p, Function::SyncClients, tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", tok, None).await;
    for m in v["mappings"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        let (s, v) = p
            .call(Function::SyncClients, "PATCH", &format!("/mappings/{id}"), tok, Some(json!({"client_id": "psa-1"})))
            .await;
        assert_eq!(s, 200, "{v}");
    }
}

/// Every asset has its external entity mapping and every mapping its asset.
pub async fn assert_assets_match_mappings(p: &Pipeline, t: &shared::TenantId) -> usize {
    let assets: BTreeSet<(String, String)> =
        p.deps.store.list_assets(t).await.unwrap().into_iter().map(|a| (a.asset_id, a.rmm_device_id)).collect();
    let maps: BTreeSet<(String, String)> = p
        .deps
        .store
        .list_external_mappings(t)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.alga_entity_id, m.external_entity_id))
        .collect();
    assert_eq!(assets, maps, "assets and external entity mappings pair up one to one");
    assets.len()
}

fn assert_says(run: &Value, words: &[&str], case: &str) {
    let msg = run["message"].as_str().unwrap_or_default().to_lowercase();
    for w in words {
        assert!(msg.contains(&w.to_lowercase()), "{case}: the message names the problem ({w}): {run}");
    }
}

/// Runs every row of the matrix against one sync type, each with its own tenant.
async fn run_matrix(sync: Sync) {
    let mut p = fast_retry_pipeline(&format!("faults-{sync:?}").to_lowercase()).await;
    // Two organizations (the minimum for a partial device run), a few agents and alerts.
    let sim: Simulator = simulator(small_fleet()).await;
    let st = sim.state();
    let agents_of = |client: i64| st.agents().iter().filter(|a| a.client_id == client).count() as u64;
    let total_agents = st.agents().len() as u64;
    // Device sync reads one beta page per organization (12 agents, page size 1000).
    let clients = st.clients();
    let victim = clients.iter().find(|c| c.agent_count > 0).unwrap().id;
    let baseline = if sync == Sync::Devices { clients.len() as u64 } else { 1 };

    for case in matrix() {
        let started = std::time::Instant::now();
        let t = tenant("faults");
        let tok = admin_token(&t);
        set_tactical_timeout(&mut p, Duration::from_secs(3));
        connect(&p, &t, &sim).await;
        if sync == Sync::Devices {
            map_everything(&p, &tok).await;
        }
        set_tactical_timeout(&mut p, case.timeout);
        st.reset_counters();
        // A persistent device fault hits one organization's pages: the others still land.
        let target: FaultTarget = match (sync, case.times) {
            (Sync::Devices, None) => FaultTarget::RouteWithParam(RouteKind::BetaAgents, format!("client_id={victim}")),
            _ => sync.route().into(),
        };
        match case.times {
            Some(n) => st.set_fault_times(target, case.fault.clone(), n),
            None => st.set_fault(target, case.fault.clone()),
        }
        let setup = started.elapsed();
        let run = start_and_drain(&p, sync.function(), &tok).await;
        st.clear_faults();
        eprintln!("{sync:?} × {}: setup {setup:?}, run {:?}", case.name, started.elapsed() - setup);
        let requests = st.request_count(sync.route());
        let name = format!("{sync:?} × {}", case.name);

        let (status, expected_requests) = match (case.times, case.per_delivery) {
            // Transient: one delivery absorbs the faults.
            (Some(n), ATTEMPTS) => ("succeeded", baseline + u64::from(n)),
            // Not retried (dashboard): one request, the work item fails at once.
            (Some(_), _) => (if sync == Sync::Devices { "partial" } else { "failed" }, baseline),
            (None, per) => (if sync == Sync::Devices { "partial" } else { "failed" }, baseline - 1 + per * DELIVERIES),
        };
        assert_eq!(run["status"], status, "{name}: {run}");
        assert_eq!(requests, expected_requests, "{name}: retries stay bounded ({run})");
        assert_eq!(run["pending"], 0, "{name}: {run}");
        if status == "succeeded" {
            assert_eq!(run["items_failed"], 0, "{name}: {run}");
            assert!(run["message"].is_null(), "{name}: {run}");
        } else {
            assert_eq!(run["items_failed"], 1, "{name}: one work item failed: {run}");
            assert_says(&run, case.says, &name);
            let (_, settings) = p.call(Function::Connection, "GET", "/settings", &tok, None).await;
            assert_eq!(settings["is_active"], true, "{name}: a failed run does not disconnect");
        }
        if sync == Sync::Devices {
            let landed = assert_assets_match_mappings(&p, &t).await as u64;
            assert_eq!(run["items_processed"], json!(landed), "{name}: {run}");
            match (status, case.times) {
                ("succeeded", _) => assert_eq!(landed, total_agents, "{name}"),
                (_, None) => assert_eq!(landed, total_agents - agents_of(victim), "{name}: the others landed"),
                // The one refused page was any organization's: all the others landed.
                _ => assert!(clients.iter().any(|c| landed == total_agents - agents_of(c.id)), "{name}: {landed}"),
            }
        }
    }
    assert_eq!(p.dlq_depth(sync.queue()).await, 0, "failures are recorded on the run, not lost to the DLQ");
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn fault_matrix_sync_clients() {
    run_matrix(Sync::Clients).await;
}

#[tokio::test]
async fn fault_matrix_sync_devices() {
    run_matrix(Sync::Devices).await;
}

#[tokio::test]
async fn fault_matrix_sync_alerts() {
    run_matrix(Sync::Alerts).await;
}

// ---------------------------------------------------------------------------------------------
// AWS faults: throttling below the adapters (the SDK's own 3 attempts, then the adapter's and
// the worker's handling), and a conditional write that loses a race.

async fn faulty(label: &str) -> (Pipeline, std::sync::Arc<integration_tests::aws_faults::AwsFaults>) {
    let (p, faults) = faulty_pipeline(label, |env| {
        env.insert("TACTICAL_RETRY_BASE_MS".into(), "1".into());
        env.insert("WEBHOOK_BASE_URL".into(), "https://hooks.example.test".into());
    })
    .await;
    // Failed work items are redelivered by SQS: after a short visibility timeout here.
    p.redeliver_after(1).await;
    (p, faults)
}

#[tokio::test]
async fn transient_dynamodb_throttling_is_absorbed_or_retried_and_nothing_is_half_written() {
    let (p, faults) = faulty("aws-ddb").await;
    let sim = simulator(small_fleet()).await;
    let t = tenant("aws-ddb");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    map_everything(&p, &tok).await;
    let (s, started) = p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{started}");
    // Each rule outlasts the SDK's 3 attempts once, so the error reaches our code.
    let integration = format!("{t}#rmm_integrations");
    faults.throttle("GetItem", &[&integration], 3); // the worker's first read of the integration
    let assets = format!("{t}#assets");
    faults.throttle("BatchWriteItem", &[&assets], 3); // new assets, after their mappings were written
    faults.throttle("UpdateItem", &["#sync_runs", "done_items"], 3); // recording a work item's progress
    p.drain().await;
    for op in ["GetItem", "BatchWriteItem", "UpdateItem"] {
        assert_eq!(faults.throttled(op), 3, "{op} was throttled as armed");
    }
    let (_, run) = p
        .call(Function::SyncDevices, "GET", &format!("/runs/{}", started["run_id"].as_str().unwrap()), &tok, None)
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_processed"], json!(sim.state().agents().len()), "each page counted once: {run}");
    assert_eq!(assert_assets_match_mappings(&p, &t).await, sim.state().agents().len());
    assert_eq!(p.dlq_depth("SyncDevicesQueue").await, 0);
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn persistent_dynamodb_throttling_fails_the_run_naming_the_data_store_or_reaches_the_dlq() {
    let (p, faults) = faulty("aws-ddb-long").await;
    let sim = simulator(small_fleet()).await;
    let t = tenant("aws-ddb-long");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;

    // Writing mappings throttled on every delivery: recorded on the run at the last one.
    faults.throttle("UpdateItem", &["#rmm_organization_mappings"], 10_000);
    sim.state().reset_counters();
    let run = start_and_drain(&p, Function::SyncClients, &tok).await;
    faults.clear();
    assert_eq!(run["status"], "failed", "{run}");
    let msg = run["message"].as_str().unwrap_or_default();
    assert!(!msg.contains("Tactical"), "a DynamoDB throttle is not Tactical's fault: {run}");
    assert!(msg.contains("data store"), "the message names the data store: {run}");
    assert_eq!(sim.state().request_count(RouteKind::Clients), DELIVERIES, "one Tactical read per delivery");
    assert_eq!(p.dlq_depth("SyncClientsQueue").await, 0);

    // The run record itself cannot be written: nothing can be recorded, so after
    // maxReceiveCount deliveries the message waits in the DLQ for a person.
    let (s, started) = p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{started}");
    faults.throttle("UpdateItem", &["#sync_runs", "done_items"], 10_000);
    assert_eq!(p.drain().await, 0, "never acknowledged");
    faults.clear();
    assert_eq!(p.dlq_depth("SyncClientsQueue").await, 1, "the message reached the DLQ after maxReceiveCount");
    let (_, run) = p
        .call(Function::SyncClients, "GET", &format!("/runs/{}", started["run_id"].as_str().unwrap()), &tok, None)
        .await;
    assert!(run["finished_at"].is_null() && run["pending"] == 1, "nothing could be recorded: {run}");
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", &tok, None).await;
    assert_eq!(v["mappings"].as_array().unwrap().len(), 2, "the mappings themselves were written (idempotently)");
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn aws_throttling_is_retried_by_the_worker_and_refused_clearly_by_the_webhook() {
    let (p, faults) = faulty("aws-sm").await;
    let sim = simulator(small_fleet()).await;
    let t = tenant("aws-sm");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (_, info) = p.call(Function::Connection, "POST", "/webhook/secret", &tok, None).await;
    let secret = info["secret"].as_str().unwrap().to_owned();

    // Worker: the API key read fails once (after the SDK's attempts); SQS redelivers.
    let (s, started) = p.call(Function::SyncAlerts, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202);
    sim.state().reset_counters();
    faults.throttle("GetSecretValue", &[], 3);
    p.drain().await;
    assert_eq!(faults.throttled("GetSecretValue"), 3);
    let (_, run) = p
        .call(Function::SyncAlerts, "GET", &format!("/runs/{}", started["run_id"].as_str().unwrap()), &tok, None)
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(sim.state().request_count(RouteKind::Alerts), 1, "Tactical was read once, by the second delivery");

    // Webhook: Tactical does not retry, so the answer must be clear and nothing half-recorded. It
    // reads no secret: its integration read is what a busy AWS refuses.
    let cache = webhook::SecretCache::new(Duration::ZERO, Duration::ZERO);
    let agent = sim.state().agents()[0].agent_id.clone();
    let body = json!({"agent_id": agent, "alert_id": "9001", "event": "failure"}).to_string();
    faults.throttle("GetItem", &[&format!("{t}#rmm_integrations")], 3);
    let (s, v) = read(webhook::handle_with(&p.deps, &cache, raw_webhook(t.as_str(), Some(&secret), &body, "")).await);
    assert_eq!(s, 500, "{v}");
    assert!(v["message"].as_str().unwrap().contains("busy"), "{v}");
    let (_, list) = p.call(Function::SyncAlerts, "GET", "/alerts?limit=500", &tok, None).await;
    assert!(!list.to_string().contains("9001"), "nothing recorded");
    let (s, v) = read(webhook::handle_with(&p.deps, &cache, raw_webhook(t.as_str(), Some(&secret), &body, "")).await);
    assert_eq!(s, 202, "the next delivery works: {v}");
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn a_conditional_write_that_loses_a_race_is_retried_on_fresh_state() {
    let (p, faults) = faulty("aws-race").await;
    let sim = simulator(small_fleet()).await;
    let t = tenant("aws-race");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (_, info) = p.call(Function::Connection, "POST", "/webhook/secret", &tok, None).await;
    let secret = info["secret"].as_str().unwrap().to_owned();
    let open: Vec<_> = sim.state().alerts().into_iter().filter(|a| !a.resolved && a.agent_id.is_some()).collect();
    let target = open[0].clone();

    // Just before backfill's first write of this alert, a webhook for the same alert lands.
    let (deps, tenant_s) = (p.deps.clone(), t.as_str().to_owned());
    let body = json!({"agent_id": target.agent_id, "alert_id": target.id.to_string(), "event": "failure", "message": "delivered during the backfill"}).to_string();
    let sk = format!("tacticalrmm#alert#id#{}\"", target.id);
    faults.before_once("UpdateItem", &[&sk, "#ver"], move || {
        Box::pin(async move {
            let cache = webhook::SecretCache::new(Duration::ZERO, Duration::ZERO);
            let (s, v) =
                read(webhook::handle_with(&deps, &cache, raw_webhook(&tenant_s, Some(&secret), &body, "")).await);
            assert_eq!(s, 202, "{v}");
        })
    });
    let run = start_and_drain(&p, Function::SyncAlerts, &tok).await;
    assert_eq!(faults.hooks_pending(), 0, "the concurrent write happened");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_processed"], json!(open.len()), "{run}");
    let alert = p.deps.store.get_alert(&t, &format!("id#{}", target.id)).await.unwrap().expect("the alert");
    assert_eq!(alert.version, 2, "the loser re-read and applied its change on top: {alert:?}");
    assert_eq!(alert.status, if target.snoozed { "suppressed" } else { "active" });
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts?limit=500", &tok, None).await;
    let rows = v["alerts"].as_array().unwrap();
    assert_eq!(rows.len(), open.len(), "one alert per Tactical alert, none duplicated");
    assert_eq!(rows.iter().filter(|a| a["external_alert_id"] == json!(target.id.to_string())).count(), 1);
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn poison_messages_reach_the_dlq_after_max_receive_count() {
    let p = Pipeline::new("poison").await;
    // Five deliveries, each after the (short) visibility timeout.
    p.redeliver_after(1).await;
    for body in
        ["{not json", r#"{"type":"start_run","tenant":"a#b","run_id":"r","sync_type":"clients","trigger":"manual"}"#]
    {
        p.sqs
            .send_message()
            .queue_url(&p.stack.queue_urls["SyncClientsQueue"])
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(p.drain().await, 0, "never acknowledged");
    assert_eq!(p.dlq_depth("SyncClientsQueue").await, 2, "both wait in the DLQ for a person");
    drop_stack(&p.stack).await;
}
