//! Real fleets on the simulator's real defaults: Windows rows of real weight (services and WMI,
//! ~150 KB each), scoped API keys (the beta list ignores the key's role), and pages that move
//! while a run reads them.

use integration_tests::*;
use serde_json::{Value, json};
use std::time::Duration;
use tactical_sim::{ApiKey, FleetSpec, NewAgent, Plat, SimConfig};

async fn run_sync(p: &Pipeline, f: Function, tok: &str) -> Value {
    let (s, v) = p.call(f, "POST", "/sync", tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    let (s, run) = p.call(f, "GET", &format!("/runs/{}", v["run_id"].as_str().unwrap()), tok, None).await;
    assert_eq!(s, 200, "{run}");
    run
}

async fn map_all(p: &Pipeline, tok: &str) {
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", tok, None).await;
    for m in v["mappings"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        let body = json!({"client_id": format!("psa-{id}")});
        let (s, v) = p.call(Function::SyncClients, "PATCH", &format!("/mappings/{id}"), tok, Some(body)).await;
        assert_eq!(s, 200, "{v}");
    }
}

async fn use_key(p: &Pipeline, tok: &str, sim: &tactical_sim::Simulator, key: &str) -> Value {
    let body = json!({"instance_url": sim.base_url(), "auth_mode": "api_key", "api_key": key});
    let (s, v) = p.call(Function::Connection, "PATCH", "/settings", tok, Some(body)).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = p.call(Function::Connection, "POST", "/test", tok, Some(json!({}))).await;
    assert_eq!((s, &v["success"]), (200, &json!(true)), "{v}");
    v
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

fn empty_fleet(clients: usize) -> FleetSpec {
    FleetSpec { clients, sites_per_client: 2, agents: 0, software_per_agent: 0, alerts: 0 }
}

#[tokio::test]
async fn a_client_of_1500_heavy_windows_agents_syncs_completely() {
    let p = Pipeline::new("heavy").await;
    // Real row weight (services + WMI); Tactical's per-row time is scaled down so the test stays
    // short: the page size, not the server's speed, is what this test is about.
    let sim =
        simulator(SimConfig { fleet: empty_fleet(1), row_cost: Duration::from_micros(200), ..Default::default() })
            .await;
    let st = sim.state();
    let site = st.sites()[0].id;
    for _ in 0..1500 {
        st.add_agent(NewAgent { software: Some(vec![]), ..NewAgent::new(site, Plat::Windows) }).unwrap();
    }
    let t = tenant("heavy");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    assert_eq!(run_sync(&p, Function::SyncClients, &tok).await["status"], "succeeded");
    map_all(&p, &tok).await;
    let before = peak_rss_mib();
    let run = run_sync(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!((run["items_processed"].clone(), run["items_created"].clone()), (json!(1500), json!(1500)), "{run}");
    // The start, then 15 pages of 100 (the default DEVICE_PAGE_SIZE).
    assert_eq!((run["work_total"].clone(), run["work_done"].clone()), (json!(16), json!(16)), "{run}");
    let stored = p.deps.store.list_asset_states(&t).await.unwrap();
    assert_eq!(stored.len(), 1500);
    let served: Vec<_> =
        st.requests().into_iter().filter(|r| r.route == Some(tactical_sim::RouteKind::BetaAgents)).collect();
    assert!(
        served.iter().all(|r| r
            .query
            .as_deref()
            .is_some_and(|q| q.split('&').any(|kv| kv == "page_size=100" || kv == "page_size=1"))),
        "device pages are small: {:?}",
        served.iter().map(|r| r.query.clone()).collect::<Vec<_>>()
    );
    // Peak RSS of this test process (simulator and worker together), reported for the docs.
    eprintln!("heavy sync: peak RSS {before:?} MiB before, {:?} MiB after the device sync", peak_rss_mib());

    // Software sync lists the fleet from the light, role-scoped agent list.
    let run = run_sync(&p, Function::SyncSoftware, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_processed"], json!(1500), "{run}");
}

#[tokio::test]
async fn a_one_client_key_sees_and_imports_only_its_client() {
    let p = Pipeline::new("scoped").await;
    const SCOPED: &str = "SIMKEYONECLIENT0000000000000001";
    let mut cfg = SimConfig { action_wait: tactical_sim::ActionWait::Instant, ..Default::default() };
    let probe = simulator(cfg.clone()).await;
    let clients = probe.state().clients();
    probe.shutdown().await;
    let mine = clients.iter().find(|c| c.agent_count > 0).unwrap().clone();
    cfg.api_keys.push(ApiKey::clients(SCOPED, vec![mine.id]));
    let sim = simulator(cfg).await;
    let total = sim.state().agents().len();
    assert!(total > mine.agent_count);
    let t = tenant("scoped");
    let tok = admin_token(&t);

    // Mapped with a full key first: every organization has a PSA client.
    connect(&p, &t, &sim).await;
    assert_eq!(run_sync(&p, Function::SyncClients, &tok).await["status"], "succeeded");
    map_all(&p, &tok).await;

    // The key is narrowed to one client: the count is that client's, not the server's.
    let test = use_key(&p, &tok, &sim, SCOPED).await;
    assert_eq!((test["clients"].clone(), test["agents"].clone()), (json!(1), json!(mine.agent_count)), "{test}");
    let run = run_sync(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_processed"], json!(mine.agent_count), "{run}");
    let assets = p.deps.store.list_asset_states(&t).await.unwrap();
    assert_eq!(assets.len(), mine.agent_count);
    assert!(assets.iter().all(|a| a.rmm_organization_id == mine.id.to_string()), "only its client is imported");

    let run = run_sync(&p, Function::SyncSoftware, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_processed"], json!(mine.agent_count), "{run}");
    let other = sim.state().agents().into_iter().find(|a| a.client_id != mine.id).unwrap();
    assert!(
        !sim.state().requests().iter().any(|r| r.path.contains(&other.agent_id) && r.credential == Some("api_key")),
        "nothing is asked about an agent outside the key's scope"
    );
}

#[tokio::test]
async fn agents_deleted_mid_run_leave_a_page_past_the_end_and_the_run_still_succeeds() {
    let p = Pipeline::new_with("drift", |env| {
        env.insert("DEVICE_PAGE_SIZE".into(), "10".into());
    })
    .await;
    let sim = simulator(SimConfig { fleet: empty_fleet(1), ..Default::default() }).await;
    let st = sim.state();
    let site = st.sites()[0].id;
    let agents: Vec<_> = (0..30)
        .map(|i| {
            let plat = if i % 3 == 0 { Plat::Linux } else { Plat::Windows };
            st.add_agent(NewAgent { software: Some(vec![]), ..NewAgent::new(site, plat) }).unwrap()
        })
        .collect();
    let t = tenant("drift");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    assert_eq!(run_sync(&p, Function::SyncClients, &tok).await["status"], "succeeded");
    map_all(&p, &tok).await;
    assert_eq!(run_sync(&p, Function::SyncDevices, &tok).await["status"], "succeeded");

    // Page 1 is read and queues pages 2 and 3; then 15 agents are deleted in Tactical, so page 3
    // is past the end ("Invalid page.") and agents slide to pages already read.
    let (s, v) = p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain_rounds(2).await;
    for a in &agents[..15] {
        st.remove_agent(&a.agent_id).unwrap();
    }
    p.drain().await;
    let (_, run) =
        p.call(Function::SyncDevices, "GET", &format!("/runs/{}", v["run_id"].as_str().unwrap()), &tok, None).await;
    assert_eq!(run["status"], "succeeded", "a page past the end is an empty page: {run}");
    assert_eq!(run["items_failed"], 0, "{run}");
    assert_eq!(run["items_missing"], 0, "{run}");
    assert!(run["message"].as_str().unwrap_or_default().contains("changed"), "{run}");
    let past_end = st
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(tactical_sim::RouteKind::BetaAgents) && r.status == 404)
        .count();
    assert_eq!(past_end, 1, "page 3 was asked once, not retried");
    let states = p.deps.store.list_asset_states(&t).await.unwrap();
    assert!(states.iter().all(|a| a.missing_since.is_none()), "nothing skipped by paging drift is flagged missing");

    // The next run sees a still fleet: the deleted agents are flagged, the others are not.
    let run = run_sync(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_missing"], json!(15), "{run}");
    let states = p.deps.store.list_asset_states(&t).await.unwrap();
    for a in &agents[15..] {
        let id = shared::domain::asset::asset_id_for(&t, &a.agent_id);
        let s = states.iter().find(|s| s.asset_id == id).unwrap();
        assert!(s.missing_since.is_none(), "{} is still in Tactical", a.agent_id);
    }
}
