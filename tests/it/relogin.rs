//! Knox re-login in real time: an expired token is renewed and the work runs again at once with
//! the new one (never through a queue redelivery), lock losers wait for the winner's token
//! instead of flagging the integration, one login for many concurrent refusals, and remote
//! actions renew like the syncs. The simulator ages tokens on its one simulated clock (agents move on too).

use integration_tests::*;
use lambda_glue::lambda::{Invocation, classify, context_with_deadline, within_deadline};
use serde_json::{Value, json};
use shared::domain::connection::{ConnectionService, Renewal};
use shared::tenant::TenantId;
use std::time::Duration;
use tactical_sim::{RouteKind, SimConfig, Simulator, User};

const USER: &str = "svc";
const PASSWORD: &str = "pw-no-totp";

/// One batch of `queue` handed to its function as Lambda does, with a context whose deadline is
/// `budget` away. Finished records are deleted; failed ones stay in flight until their real
/// visibility timeout (minutes), so nothing here can depend on an early redelivery. Returns the
/// records received, the ids the function handed back as failures, and how long it took.
pub(crate) async fn one_batch(p: &Pipeline, queue: &str, budget: Duration) -> (usize, Vec<String>, Duration) {
    let url = &p.stack.queue_urls[queue];
    let out = p
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .expect("receive");
    let msgs = out.messages.unwrap_or_default();
    if msgs.is_empty() {
        return (0, vec![], Duration::ZERO);
    }
    let records: Vec<Value> = msgs
        .iter()
        .map(|m| json!({"messageId": m.message_id(), "body": m.body(), "attributes": {"ApproximateReceiveCount": "1"}}))
        .collect();
    let inv = classify(json!({ "Records": records })).expect("sqs event");
    let ctx = context_with_deadline(budget);
    let deps = &p.deps;
    let started = std::time::Instant::now();
    let result = within_deadline(&ctx, inv, |inv: Invocation| async move {
        match queue {
            "SyncClientsQueue" => sync_clients::invoke(deps, inv).await,
            "SyncDevicesQueue" => sync_devices::invoke(deps, inv).await,
            "SyncAlertsQueue" => sync_alerts::invoke(deps, inv).await,
            _ => sync_software::invoke(deps, inv).await,
        }
    })
    .await
    .expect("the worker answers");
    let took = started.elapsed();
    let failed: Vec<String> = result["batchItemFailures"]
        .as_array()
        .expect("a partial batch response")
        .iter()
        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
        .collect();
    for m in &msgs {
        if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
            p.sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .expect("delete");
        }
    }
    (msgs.len(), failed, took)
}

/// Delivers `queue` batch after batch until it is empty, asserting no record is ever handed back.
async fn drain_without_retries(p: &Pipeline, queue: &str) -> usize {
    let mut total = 0;
    for _ in 0..50 {
        let (n, failed, _) = one_batch(p, queue, Duration::from_secs(300)).await;
        assert!(failed.is_empty(), "{queue}: records handed back for a redelivery: {failed:?}");
        if n == 0 {
            return total;
        }
        total += n;
    }
    panic!("{queue} did not empty");
}

async fn knox_tenant(p: &Pipeline, sim: &Simulator, label: &str) -> (TenantId, String) {
    let t = tenant(label);
    let tok = admin_token(&t);
    let (s, v) = p
        .call(
            Function::Connection,
            "PATCH",
            "/settings",
            &tok,
            Some(json!({"instance_url": sim.base_url(), "auth_mode": "knox", "username": USER, "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = p.call(Function::Connection, "POST", "/test", &tok, None).await;
    assert_eq!(v["success"], true, "{v}");
    (t, tok)
}

fn knox_sim(clients: usize) -> SimConfig {
    SimConfig {
        users: vec![User::new(USER, PASSWORD, None)],
        fleet: tactical_sim::FleetSpec::sized(clients, 1, clients * 3),
        ..Default::default()
    }
}

async fn reauth_required(p: &Pipeline, tok: &str) -> Value {
    p.call(Function::Connection, "GET", "/settings", tok, None).await.1["reauth_required"].clone()
}

#[tokio::test]
async fn an_expired_knox_token_recovers_within_the_same_run_without_a_redelivery() {
    let p = Pipeline::new("knox-rt").await;
    let sim = simulator(knox_sim(8)).await;
    let (_t, tok) = knox_tenant(&p, &sim, "knox-rt").await;
    assert_eq!(p.call(Function::SyncClients, "POST", "/sync", &tok, None).await.0, 202);
    drain_without_retries(&p, "SyncClientsQueue").await;
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", &tok, None).await;
    for m in v["mappings"].as_array().unwrap() {
        let path = format!("/mappings/{}", m["id"].as_str().unwrap());
        p.call(Function::SyncClients, "PATCH", &path, &tok, Some(json!({"client_id": "psa-1"}))).await;
    }

    // Five idle hours on Tactical's clock: the token is gone.
    sim.state().advance_clock(time::Duration::seconds(5 * 3600 + 60));
    let before = sim.state().request_count(RouteKind::CheckCreds);
    let (s, started) = p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{started}");
    // start_run fans out one page per client; the 8 pages arrive in one batch, processed
    // concurrently: every one is refused, one worker logs in, the others wait for its token.
    let delivered = drain_without_retries(&p, "SyncDevicesQueue").await;
    assert_eq!(delivered, 1 + 8, "the run and its 8 pages, each delivered once");
    let (_, run) = p
        .call(Function::SyncDevices, "GET", &format!("/runs/{}", started["run_id"].as_str().unwrap()), &tok, None)
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_created"], json!(sim.state().agent_count()), "{run}");
    assert_eq!(sim.state().request_count(RouteKind::CheckCreds) - before, 1, "one login for all the refusals");
    assert_eq!(reauth_required(&p, &tok).await, false, "nobody flagged the integration");
    // No login was ever throttled.
    assert!(sim.state().requests().iter().all(|r| r.status != 429), "throttled");
}

#[tokio::test]
async fn a_lock_loser_waits_for_the_winners_token_and_never_flags_reauth() {
    let p = Pipeline::new("knox-lock").await;
    let sim = simulator(knox_sim(2)).await;
    let (t, tok) = knox_tenant(&p, &sim, "knox-lock").await;
    let seen = p.deps.store.get_integration(&t).await.unwrap().unwrap().knox_token_expires_at;
    assert!(seen.is_some());
    sim.state().advance_clock(time::Duration::seconds(5 * 3600 + 60));

    // Another worker holds the login lock; this one loses and waits. The winner's token arrives
    // (here: a person testing the connection, which stores a new token the same way).
    assert!(p.deps.store.try_lock(&t, "knox_login", 60).await.unwrap());
    let svc = ConnectionService::new(&p.deps);
    let loser = svc.renew_token(&t, seen.as_deref());
    let winner = async {
        let (_, v) = p.call(Function::Connection, "POST", "/test", &tok, None).await;
        assert_eq!(v["success"], true, "{v}");
    };
    let (renewal, ()) = tokio::join!(loser, winner);
    assert_eq!(renewal.unwrap(), Renewal::Renewed);
    assert_eq!(reauth_required(&p, &tok).await, false);

    // Many workers refused at once: one login, every one of them renewed.
    p.deps.store.unlock(&t, "knox_login").await.unwrap();
    let seen = p.deps.store.get_integration(&t).await.unwrap().unwrap().knox_token_expires_at;
    sim.state().advance_clock(time::Duration::seconds(5 * 3600 + 60));
    let before = sim.state().request_count(RouteKind::CheckCreds);
    let all = futures::future::join_all((0..12).map(|_| svc.renew_token(&t, seen.as_deref()))).await;
    assert!(all.iter().all(|r| r.as_ref().unwrap() == &Renewal::Renewed), "{all:?}");
    assert_eq!(sim.state().request_count(RouteKind::CheckCreds) - before, 1);
    assert_eq!(reauth_required(&p, &tok).await, false);
}

#[tokio::test]
async fn remote_actions_renew_an_expired_knox_token_like_the_syncs() {
    let stack = shared_stack().await;
    let deps = deps_with(&stack, |env| {
        env.insert("ENTERPRISE_REMOTE_ACTIONS".into(), "true".into());
    })
    .await;
    let p = Pipeline { stack, deps, sqs: aws_sdk_sqs::Client::new(&sdk().await) };
    let sim = simulator(knox_sim(1)).await;
    let (t, tok) = knox_tenant(&p, &sim, "knox-ra").await;
    sim.state().advance_clock(time::Duration::seconds(5 * 3600 + 60));
    let before = sim.state().request_count(RouteKind::CheckCreds);
    let caller = enterprise_token(&t, &[shared::auth::perms::RMM_READ]);
    let (s, v) = p.call(Function::RemoteActions, "POST", "/actions/scripts.list", &caller, Some(json!({}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(sim.state().request_count(RouteKind::CheckCreds) - before, 1);
    assert_eq!(reauth_required(&p, &tok).await, false);
}
