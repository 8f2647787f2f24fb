//! What a device run reads before it writes. A run after a successful one trusts the
//! hashes that run recorded per page, so unchanged agents cost neither a read nor a write; a
//! tenant's first run reads nothing; a run that did not succeed is never trusted; missing agents
//! are still found when the previous run cannot tell. Reads are counted below the adapters.

use integration_tests::aws_faults::{AwsFaults, faulty_pipeline};
use integration_tests::cleanup::drop_stack;
use integration_tests::*;
use serde_json::{Value, json};
use tactical_sim::{Fault, FaultTarget, FleetSpec, RouteKind, SimConfig};

async fn run_devices(p: &Pipeline, tok: &str) -> Value {
    let (s, v) = p.call(Function::SyncDevices, "POST", "/sync", tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    let (s, run) =
        p.call(Function::SyncDevices, "GET", &format!("/runs/{}", v["run_id"].as_str().unwrap()), tok, None).await;
    assert_eq!(s, 200, "{run}");
    run
}

/// Asset reads (BatchGetItem) made by `f`.
async fn reads_during<F: std::future::Future<Output = Value>>(faults: &AwsFaults, f: F) -> (u64, Value) {
    let before = faults.calls("BatchGetItem");
    let run = f.await;
    (faults.calls("BatchGetItem") - before, run)
}

fn writes(run: &Value) -> i64 {
    run["items_created"].as_i64().unwrap() + run["items_updated"].as_i64().unwrap()
}

async fn set_auto_sync(p: &Pipeline, tok: &str, client: i64, on: bool) {
    let body = json!({"auto_sync_assets": on});
    let (s, v) = p.call(Function::SyncClients, "PATCH", &format!("/mappings/{client}"), tok, Some(body)).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn a_run_after_a_successful_one_reads_only_what_changed() {
    let (p, faults) = faulty_pipeline("reads", |env| {
        env.insert("TACTICAL_RETRY_BASE_MS".into(), "1".into());
    })
    .await;
    let sim = simulator(SimConfig {
        fleet: FleetSpec { clients: 3, sites_per_client: 1, agents: 30, software_per_agent: 0, alerts: 0 },
        ..Default::default()
    })
    .await;
    let st = sim.state();
    // Statuses held for hours, so nothing changes between runs unless the test changes it.
    for a in st.agents() {
        st.set_agent_thresholds(&a.agent_id, 120, 240).unwrap();
        st.make_online(&a.agent_id).unwrap();
    }
    let t = tenant("reads");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (s, v) = p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    let clients: Vec<i64> = st.clients().iter().map(|c| c.id).collect();
    for c in &clients {
        let body = json!({"client_id": format!("psa-{c}")});
        let (s, v) = p.call(Function::SyncClients, "PATCH", &format!("/mappings/{c}"), &tok, Some(body)).await;
        assert_eq!(s, 200, "{v}");
    }
    let baseline = || async { p.deps.store.get_integration(&t).await.unwrap().unwrap().last_complete_device_run };

    // First run of the tenant: nothing to read before writing, nothing to scan after.
    // Assets live in 16 shards (`{t}#assets#{s}`): one look is one Query per shard.
    let asset_queries = faults.watch("Query", &[&format!("\"{t}#assets#")]);
    let (reads, run) = reads_during(&faults, run_devices(&p, &tok)).await;
    assert_eq!((run["status"].as_str(), run["items_created"].as_i64()), (Some("succeeded"), Some(30)), "{run}");
    assert_eq!(reads, 0, "a tenant without assets reads none");
    assert_eq!(faults.watched(asset_queries), 16, "one look for any asset at the start, no scan at the end");
    assert_eq!(baseline().await.as_deref(), run["run_id"].as_str(), "a successful run is the next baseline");

    // Nothing changed: no read, no write.
    let (reads, run) = reads_during(&faults, run_devices(&p, &tok)).await;
    assert_eq!((run["status"].as_str(), run["items_unchanged"].as_i64()), (Some("succeeded"), Some(30)), "{run}");
    assert_eq!((reads, writes(&run)), (0, 0), "{run}");
    assert_eq!(faults.watched(asset_queries), 16, "a run with a baseline queries no asset");

    // One agent renamed: its page reads it (one request), one write.
    let renamed = st.agents()[0].clone();
    st.set_hostname(&renamed.agent_id, "renamed-host").unwrap();
    let (reads, run) = reads_during(&faults, run_devices(&p, &tok)).await;
    assert_eq!((run["items_updated"].as_i64(), run["items_unchanged"].as_i64()), (Some(1), Some(29)), "{run}");
    assert_eq!(reads, 1, "only the changed agent's state is read");

    // One organization's page fails: the partial run is nobody's baseline.
    let victim = clients[0];
    st.set_fault(
        FaultTarget::RouteWithParam(RouteKind::BetaAgents, format!("client_id={victim}")),
        Fault::DashboardHtml,
    );
    let run = run_devices(&p, &tok).await;
    st.clear_faults();
    assert_eq!(run["status"], "partial", "{run}");
    assert_eq!(baseline().await, None, "a run that missed a page is never trusted");
    let (reads, run) = reads_during(&faults, run_devices(&p, &tok)).await;
    assert_eq!((run["status"].as_str(), writes(&run)), (Some("succeeded"), 0), "{run}");
    assert!(reads > 0, "without a baseline every page reads what is stored");
    assert!(faults.watched(asset_queries) >= 3 * 16, "and every asset's state is scanned for missing agents");

    // An organization left out of the baseline run: its gone agents are still found missing.
    set_auto_sync(&p, &tok, victim, false).await;
    assert_eq!(run_devices(&p, &tok).await["status"], "succeeded");
    let gone = st.agents().into_iter().find(|a| a.client_id == victim).unwrap();
    st.remove_agent(&gone.agent_id).unwrap();
    set_auto_sync(&p, &tok, victim, true).await;
    let run = run_devices(&p, &tok).await;
    assert_eq!((run["status"].as_str(), run["items_missing"].as_i64()), (Some("succeeded"), Some(1)), "{run}");
    let asset_id = shared::domain::asset::asset_id_for(&t, &gone.agent_id);
    let states = p.deps.store.asset_states(&t, &[asset_id]).await.unwrap();
    assert!(states[0].missing_since.is_some(), "{states:?}");

    // Gone from a baseline run's page: found from the baseline alone, one read.
    let gone = st.agents().into_iter().find(|a| a.client_id == clients[1]).unwrap();
    st.remove_agent(&gone.agent_id).unwrap();
    let (reads, run) = reads_during(&faults, run_devices(&p, &tok)).await;
    assert_eq!(run["items_missing"], 1, "{run}");
    assert_eq!(reads, 1, "the one candidate the baseline names is read, not every asset");
    drop_stack(&p.stack).await;
}
