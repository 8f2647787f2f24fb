//! Time budgets: against a Tactical that accepts connections and never answers, every function
//! URL answers cleanly inside its invocation's deadline, and a worker near its deadline hands the
//! records it cannot finish back to the queue (partial batch response) before the timeout.

use crate::relogin::one_batch;
use integration_tests::*;
use lambda_glue::lambda::{Invocation, context_with_deadline, within_deadline};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tactical_sim::{Fault, FaultTarget, RouteKind, SimConfig};

/// A function-URL request served as Lambda serves it: inside a context whose deadline is `budget`
/// away. Returns the answer and how long it took.
async fn serve(p: &Pipeline, f: Function, req: lambda_http::Request, budget: Duration) -> ((u16, Value), Duration) {
    let started = Instant::now();
    let deps = &p.deps;
    let payload = within_deadline(&context_with_deadline(budget), Invocation::Http(Box::new(req)), |inv| async move {
        match f {
            Function::Connection => connection::invoke(deps, inv).await,
            Function::SyncClients => sync_clients::invoke(deps, inv).await,
            Function::SyncDevices => sync_devices::invoke(deps, inv).await,
            Function::SyncAlerts => sync_alerts::invoke(deps, inv).await,
            Function::SyncSoftware => sync_software::invoke(deps, inv).await,
            Function::RemoteActions => remote_actions::invoke(deps, inv).await,
        }
    })
    .await
    .expect("an HTTP answer");
    let status = payload["statusCode"].as_u64().unwrap() as u16;
    let body = serde_json::from_str(payload["body"].as_str().unwrap()).unwrap_or(Value::Null);
    ((status, body), started.elapsed())
}

#[tokio::test]
async fn a_hung_tactical_gets_a_clean_timeout_answer_from_every_function_url() {
    let p = Pipeline::new_with("hung", |env| {
        env.insert("ENTERPRISE_REMOTE_ACTIONS".into(), "true".into());
    })
    .await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("hung");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    // Accepts every connection, never answers.
    sim.state().set_fault(FaultTarget::Any, Fault::Hang);

    // Generous for LocalStack on a busy machine; a hung call would take 4 × 30 s without it.
    let budget = Duration::from_secs(6);
    let actor = enterprise_token(&t, &[shared::auth::perms::RMM_READ, shared::auth::perms::RMM_EXECUTE_COMMAND]);
    let cases: Vec<(Function, &str, &str, &str, Option<Value>)> = vec![
        (Function::Connection, "POST", "/test", tok.as_str(), Some(json!({}))),
        (Function::Connection, "GET", "/settings", tok.as_str(), None),
        (Function::SyncClients, "POST", "/sync", tok.as_str(), None),
        (Function::SyncDevices, "POST", "/sync", tok.as_str(), None),
        (Function::SyncAlerts, "POST", "/sync", tok.as_str(), None),
        (Function::SyncSoftware, "POST", "/sync", tok.as_str(), None),
        (Function::RemoteActions, "POST", "/actions/scripts.list", actor.as_str(), Some(json!({}))),
        (
            Function::RemoteActions,
            "POST",
            "/actions/agents.find",
            actor.as_str(),
            Some(json!({"hostname": "x", "live": true})),
        ),
    ];
    let answers = futures::future::join_all(cases.into_iter().map(|(f, method, path, bearer, body)| {
        let p = &p;
        async move { (f, path, serve(p, f, request(method, path, Some(bearer), body), budget).await) }
    }))
    .await;
    // The connection test's probe got several attempts, each a third of the budget at most.
    let probes = sim.state().request_count(RouteKind::Root);
    assert!((2..=4).contains(&probes), "{probes} probes");
    // Disconnect last (it deletes the credentials the others use); its logout is best effort.
    let last = serve(&p, Function::Connection, request("POST", "/disconnect", Some(&tok), None), budget).await;
    for (f, path, ((status, v), took)) in answers.into_iter().chain([(Function::Connection, "/disconnect", last)]) {
        assert!(took < budget, "{f:?} {path}: answered after {took:?}, past its {budget:?} deadline");
        match (f, path) {
            (Function::Connection, "/test") => {
                assert_eq!((status, &v["success"]), (200, &json!(false)), "{v}");
                assert_eq!(v["error"]["code"], "tactical_unreachable", "{v}");
                assert!(v["error"]["message"].as_str().unwrap().contains("timed out"), "{v}");
            }
            (Function::RemoteActions, _) => {
                assert_eq!(v["ok"], false, "{path}: {v}");
                assert_eq!(v["code"], "tactical_unreachable", "{path}: {v}");
                assert!(v["message"].as_str().unwrap().contains("timed out"), "{path}: {v}");
            }
            // The rest never waits on Tactical.
            _ => assert!((200..300).contains(&status), "{f:?} {path}: {status} {v}"),
        }
    }
}

#[tokio::test]
async fn a_worker_near_its_deadline_hands_unfinished_records_back() {
    let p = Pipeline::new("deadline").await;
    let sim = simulator(SimConfig { fleet: tactical_sim::FleetSpec::sized(6, 1, 12), ..Default::default() }).await;
    let t = tenant("deadline");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    p.call(Function::SyncClients, "POST", "/sync", tok.as_str(), None).await;
    p.drain().await;
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", tok.as_str(), None).await;
    for m in v["mappings"].as_array().unwrap() {
        let path = format!("/mappings/{}", m["id"].as_str().unwrap());
        p.call(Function::SyncClients, "PATCH", &path, tok.as_str(), Some(json!({"client_id": "psa-1"}))).await;
    }
    let (_, started) = p.call(Function::SyncDevices, "POST", "/sync", tok.as_str(), None).await;
    // start_run: no Tactical call; it queues one page per client (6).
    let (n, failed, _) = one_batch(&p, "SyncDevicesQueue", Duration::from_secs(60)).await;
    assert_eq!((n, failed.len()), (1, 0));

    // Tactical hangs on the agent list. Pages are worked 4 at a time: the first 4 run into the
    // deadline, the other 2 are not started so close to it.
    sim.state().set_fault(FaultTarget::Route(RouteKind::BetaAgents), Fault::Hang);
    sim.state().reset_counters();
    let budget = Duration::from_secs(2);
    let (mut received, mut started_pages) = (0, 0);
    while received < 6 {
        let (n, failed, took) = one_batch(&p, "SyncDevicesQueue", budget).await;
        assert!(n > 0, "the pages are in flight");
        assert_eq!(failed.len(), n, "every unfinished record is handed back");
        assert!(took < budget, "the batch answered after {took:?}, past its {budget:?} deadline");
        received += n;
        started_pages += n.min(4);
    }
    assert_eq!(
        sim.state().request_count(RouteKind::BetaAgents),
        started_pages as u64,
        "one attempt per started page (no retry past the deadline); pages not started never reached Tactical"
    );

    // The run is still open: nothing was counted as done or failed.
    let (_, run) = p
        .call(
            Function::SyncDevices,
            "GET",
            &format!("/runs/{}", started["run_id"].as_str().unwrap()),
            tok.as_str(),
            None,
        )
        .await;
    assert!(["queued", "running"].contains(&run["status"].as_str().unwrap()), "{run}");
    assert_eq!(run["items_failed"], 0, "{run}");
}
