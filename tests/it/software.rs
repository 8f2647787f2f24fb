//! Software inventory through the handlers, real SQS and DynamoDB (LocalStack) and the
//! Tactical simulator.

use integration_tests::*;
use serde_json::{Value, json};
use shared::domain::asset::asset_id_for;
use shared::domain::software::{NormalizedItem, normalize_inventory};
use shared::domain::sync::{Outcome, handle_message};
use shared::domain::sync_run::new_run_id;
use shared::domain::{SyncCounts, SyncRun, SyncRunStatus};
use shared::messages::{SyncMessage, SyncType, Trigger};
use shared::ports::StartOutcome;
use shared::tenant::TenantId;
use std::collections::{BTreeMap, HashMap};
use tactical_sim::{FleetSpec, SimConfig, SoftwareItem};

/// The simulator's items as the bridge decodes and normalises them.
fn normalised(items: &[SoftwareItem]) -> Vec<NormalizedItem> {
    let wire: Vec<shared::tactical::types::SoftwareItem> =
        serde_json::from_value(serde_json::to_value(items).unwrap()).unwrap();
    normalize_inventory(&wire)
}

async fn run_sync(p: &Pipeline, f: Function, tok: &str) -> Value {
    let (s, v) = p.call(f, "POST", "/sync", tok, None).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["started"], true, "{v}");
    p.drain().await;
    let (s, run) = p.call(f, "GET", &format!("/runs/{}", v["run_id"].as_str().unwrap()), tok, None).await;
    assert_eq!(s, 200, "{run}");
    run
}

/// Connects, syncs clients, maps the given Tactical clients (all when `None`), syncs devices.
async fn with_assets(p: &Pipeline, t: &TenantId, sim: &tactical_sim::Simulator, only: Option<&[i64]>) {
    let tok = admin_token(t);
    connect(p, t, sim).await;
    run_sync(p, Function::SyncClients, &tok).await;
    for c in sim.state().clients() {
        if only.is_some_and(|o| !o.contains(&c.id)) {
            continue;
        }
        let (s, v) = p
            .call(
                Function::SyncClients,
                "PATCH",
                &format!("/mappings/{}", c.id),
                &tok,
                Some(json!({"client_id": format!("psa-{}", c.id)})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let run = run_sync(p, Function::SyncDevices, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
}

async fn asset_software(p: &Pipeline, tok: &str, t: &TenantId, agent_id: &str, all: bool) -> Value {
    let q = if all { "?include_uninstalled=true" } else { "" };
    let path = format!("/assets/{}/software{q}", asset_id_for(t, agent_id));
    let (s, v) = p.call(Function::SyncSoftware, "GET", &path, tok, None).await;
    assert_eq!(s, 200, "{v}");
    v
}

fn by_name(v: &Value) -> BTreeMap<String, Value> {
    v["software"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["catalog_key"].as_str().unwrap().to_owned(), i.clone()))
        .collect()
}

async fn catalog(p: &Pipeline, tok: &str, query: &str) -> HashMap<String, Value> {
    let (s, v) = p.call(Function::SyncSoftware, "GET", &format!("/software{query}"), tok, None).await;
    assert_eq!(s, 200, "{v}");
    v["software"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["catalog_key"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

fn n(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} in {v}"))
}

#[tokio::test]
async fn ingest_is_idempotent_and_follows_installs_upgrades_and_uninstalls() {
    let p = Pipeline::new("software").await;
    let sim = simulator(SimConfig {
        fleet: FleetSpec { clients: 2, sites_per_client: 1, agents: 16, software_per_agent: 8, alerts: 0 },
        ..Default::default()
    })
    .await;
    let t = tenant("software");
    let tok = admin_token(&t);
    with_assets(&p, &t, &sim, None).await;
    let st = sim.state();
    let agents = st.agents();
    let with_inv: Vec<_> = agents.iter().filter(|a| a.software_count.is_some()).cloned().collect();
    assert!(with_inv.len() >= 4 && with_inv.len() < agents.len(), "the fleet needs agents with and without inventory");
    let expected: HashMap<String, Vec<NormalizedItem>> =
        with_inv.iter().map(|a| (a.agent_id.clone(), normalised(&st.software(&a.agent_id).unwrap()))).collect();
    let total: usize = expected.values().map(Vec::len).sum();

    // First ingest.
    let run = run_sync(&p, Function::SyncSoftware, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(n(&run, "items_processed"), agents.len() as i64);
    assert_eq!(n(&run, "agents_no_inventory"), (agents.len() - with_inv.len()) as i64);
    assert_eq!(n(&run, "items_updated"), with_inv.len() as i64);
    assert_eq!(n(&run, "items_created"), total as i64, "{run}");
    assert_eq!(n(&run, "software_items"), total as i64);
    assert_eq!((n(&run, "items_deleted"), n(&run, "items_failed")), (0, 0));

    let a0 = &with_inv[0];
    let got = asset_software(&p, &tok, &t, &a0.agent_id, false).await;
    assert_eq!(got["inventory_known"], true);
    let links = by_name(&got);
    assert_eq!(links.len(), expected[&a0.agent_id].len());
    for e in &expected[&a0.agent_id] {
        let l = &links[&e.catalog_key];
        assert_eq!(l["version"], json!(e.version));
        assert_eq!(l["install_date"], json!(e.install_date));
        assert_eq!(l["size_bytes"], json!(e.size_bytes));
        assert_eq!(l["is_current"], true);
        assert_eq!(l["first_seen_at"], l["last_seen_at"]);
    }
    assert!(links.values().any(|l| l["install_date"].as_str().is_some_and(|d| d.ends_with('Z'))));
    let linux = agents.iter().find(|a| a.software_count.is_none()).unwrap();
    let none = asset_software(&p, &tok, &t, &linux.agent_id, true).await;
    assert_eq!((none["inventory_known"].clone(), none["count"].clone()), (json!(false), json!(0)));

    // Install counts: one per agent carrying the key.
    let mut want: HashMap<String, i64> = HashMap::new();
    for items in expected.values() {
        for i in items {
            *want.entry(i.catalog_key.clone()).or_default() += 1;
        }
    }
    let cat = catalog(&p, &tok, "?limit=1000").await;
    assert_eq!(cat.len(), want.len());
    for (k, c) in &want {
        assert_eq!(n(&cat[k], "install_count"), *c, "{k}");
    }

    // Nothing changed in Tactical: every agent is read, nothing is written.
    let run = run_sync(&p, Function::SyncSoftware, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(n(&run, "items_unchanged"), with_inv.len() as i64, "{run}");
    for f in ["items_updated", "items_created", "items_deleted", "software_changed"] {
        assert_eq!(n(&run, f), 0, "{f}: {run}");
    }
    let again = asset_software(&p, &tok, &t, &a0.agent_id, false).await;
    assert_eq!(again["inventory_updated_at"], got["inventory_updated_at"], "the inventory record was not rewritten");
    assert_eq!(again["software"], got["software"], "no link was rewritten (last_seen_at unchanged)");
    assert_eq!(catalog(&p, &tok, "?limit=1000").await, cat);

    // a0 loses a program, a1 upgrades one, a2's inventory disappears ([]), a3 gains one.
    let (a1, a2, a3) = (&with_inv[1], &with_inv[2], &with_inv[3]);
    let removed = st.software(&a0.agent_id).unwrap()[0].clone();
    assert!(st.uninstall_software(&a0.agent_id, &removed.name).unwrap());
    let mut upgraded = st.software(&a1.agent_id).unwrap()[0].clone();
    upgraded.version = "99.0.1".into();
    st.install_software(&a1.agent_id, upgraded.clone()).unwrap();
    let a2_before = asset_software(&p, &tok, &t, &a2.agent_id, true).await;
    st.clear_software(&a2.agent_id).unwrap();
    st.install_software(&a3.agent_id, SoftwareItem::new("Brand New Tool", "1.0", "Newco")).unwrap();

    let run = run_sync(&p, Function::SyncSoftware, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(n(&run, "items_updated"), 3, "{run}");
    assert_eq!((n(&run, "items_deleted"), n(&run, "software_changed"), n(&run, "items_created")), (1, 1, 1), "{run}");
    assert_eq!(n(&run, "agents_no_inventory"), (agents.len() - with_inv.len() + 1) as i64);

    let removed_key = normalised(std::slice::from_ref(&removed))[0].catalog_key.clone();
    let now_current = by_name(&asset_software(&p, &tok, &t, &a0.agent_id, false).await);
    assert!(!now_current.contains_key(&removed_key), "uninstalled items leave the default list");
    let all = by_name(&asset_software(&p, &tok, &t, &a0.agent_id, true).await);
    let gone = &all[&removed_key];
    assert_eq!(gone["is_current"], false);
    let parse = |v: &Value| shared::domain::time::parse_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(parse(&gone["uninstalled_at"]) > parse(&links[&removed_key]["first_seen_at"]), "{gone}");
    assert_eq!(gone["first_seen_at"], links[&removed_key]["first_seen_at"]);
    let up_key = normalised(std::slice::from_ref(&upgraded))[0].catalog_key.clone();
    let up = &by_name(&asset_software(&p, &tok, &t, &a1.agent_id, false).await)[&up_key];
    assert_eq!((up["version"].clone(), up["is_current"].clone()), (json!("99.0.1"), json!(true)));
    assert_eq!(
        asset_software(&p, &tok, &t, &a2.agent_id, true).await["software"],
        a2_before["software"],
        "unknown is not empty"
    );
    let cat2 = catalog(&p, &tok, "?limit=1000").await;
    assert_eq!(n(&cat2[&removed_key], "install_count"), want[&removed_key] - 1);
    assert_eq!(n(&cat2[&up_key], "install_count"), want[&up_key], "an upgrade is not an install");
    let newco = catalog(&p, &tok, "?name=brand%20new&publisher=NEWCO").await;
    assert_eq!(newco.len(), 1);
    assert_eq!(n(newco.values().next().unwrap(), "install_count"), 1);

    // a0 reinstalls: current again, first seen kept.
    st.install_software(&a0.agent_id, removed.clone()).unwrap();
    let run = run_sync(&p, Function::SyncSoftware, &tok).await;
    assert_eq!((n(&run, "items_created"), n(&run, "items_updated")), (1, 1), "{run}");
    let back = &by_name(&asset_software(&p, &tok, &t, &a0.agent_id, false).await)[&removed_key];
    assert_eq!((back["is_current"].clone(), back["uninstalled_at"].clone()), (json!(true), Value::Null));
    assert_eq!(back["first_seen_at"], links[&removed_key]["first_seen_at"]);
    assert_eq!(n(&catalog(&p, &tok, "?limit=1000").await[&removed_key], "install_count"), want[&removed_key]);

    // The API checks its input and its caller.
    let reader = token(&t, &[shared::auth::perms::SETTINGS_READ]);
    let (s, _) = p.call(Function::SyncSoftware, "GET", "/software", &reader, None).await;
    assert_eq!(s, 200);
    let (s, _) = p.call(Function::SyncSoftware, "POST", "/sync", &reader, None).await;
    assert_eq!(s, 403);
    let (s, v) = p.call(Function::SyncSoftware, "GET", "/assets/nope/software", &tok, None).await;
    assert_eq!((s, v["field"].clone()), (400, json!("asset_id")));
    let (s, _) =
        p.call(Function::SyncSoftware, "GET", &format!("/assets/{}/software", asset_id_for(&t, "x")), &tok, None).await;
    assert_eq!(s, 404);
    let (s, v) = p.call(Function::SyncSoftware, "GET", "/software?limit=0", &tok, None).await;
    assert_eq!((s, v["field"].clone()), (400, json!("limit")));
    let other = admin_token(&tenant("software-other"));
    let (s, v) = p
        .call(
            Function::SyncSoftware,
            "GET",
            &format!("/assets/{}/software", asset_id_for(&t, &a0.agent_id)),
            &other,
            None,
        )
        .await;
    assert_eq!(s, 404, "another tenant sees nothing: {v}");
}

/// Delivers messages to the software worker all at once, and redelivers those it hands back
/// (as SQS would after the visibility timeout) until every one is done.
async fn deliver_at_once(p: &Pipeline, msgs: Vec<SyncMessage>) {
    let mut pending: Vec<(SyncMessage, u32)> = msgs.into_iter().map(|m| (m, 1)).collect();
    for _ in 0..5 {
        let outcomes =
            futures::future::join_all(pending.iter().map(|(m, n)| handle_message(&p.deps, m.clone(), *n))).await;
        pending = pending
            .into_iter()
            .zip(outcomes)
            .filter(|(_, o)| *o != Outcome::Done)
            .map(|((m, n), _)| (m, n + 1))
            .collect();
        if pending.is_empty() {
            // Agents that failed on their own were queued apart: deliver those too.
            p.drain().await;
            return;
        }
    }
    panic!("messages still failing after 5 deliveries: {pending:?}");
}

/// Starts a software run by hand with `batches` work items, as the fan-out would.
async fn manual_run(p: &Pipeline, t: &TenantId, batches: i64) -> String {
    let run = SyncRun {
        tenant: t.clone(),
        run_id: new_run_id(),
        sync_type: SyncType::Software,
        trigger: Trigger::Manual,
        status: SyncRunStatus::Queued,
        started_at: shared::domain::time::now_rfc3339(),
        finished_at: None,
        counts: SyncCounts::default(),
        pending: batches,
        errors: vec![],
        message: None,
    };
    match p.deps.store.try_start_run(&run, 600).await.unwrap() {
        StartOutcome::Started(r) => r.run_id,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn spellings_share_one_catalog_entry_and_concurrent_workers_count_every_install_once() {
    let p = Pipeline::new("swcat").await;
    let sim = simulator(SimConfig {
        fleet: FleetSpec { clients: 1, sites_per_client: 1, agents: 24, software_per_agent: 4, alerts: 0 },
        ..Default::default()
    })
    .await;
    let t = tenant("swcat");
    let tok = admin_token(&t);
    with_assets(&p, &t, &sim, None).await;
    let st = sim.state();
    let agents: Vec<String> = st.agents().into_iter().map(|a| a.agent_id).collect();
    let names = ["Contoso VPN Client", "contoso vpn client", "  CONTOSO   VPN Client ", "Contoso\tVPN  client"];
    let publishers = ["Contoso Ltd.", "contoso ltd.", "CONTOSO LTD. ", " Contoso  Ltd."];
    for (i, a) in agents.iter().enumerate() {
        st.set_software(
            a,
            vec![
                SoftwareItem::new(names[i % 4], format!("1.{i}"), publishers[(i / 4) % 4]),
                SoftwareItem::minimal("Shared Runtime", "2.0"),
            ],
        )
        .unwrap();
    }

    // Six workers at once, each with its own batch; batch 1 is delivered twice (SQS redelivery
    // while the first copy is still running).
    let run_id = manual_run(&p, &t, 6).await;
    let batches: Vec<SyncMessage> = agents
        .chunks(4)
        .enumerate()
        .map(|(i, ids)| SyncMessage::SoftwareBatch {
            tenant: t.clone(),
            run_id: run_id.clone(),
            batch: i as u32 + 1,
            part: 0,
            agent_ids: ids.to_vec(),
        })
        .collect();
    let mut work: Vec<SyncMessage> = batches.clone();
    work.push(batches[0].clone());
    deliver_at_once(&p, work).await;

    let run = p.deps.store.get_run(&t, SyncType::Software, &run_id).await.unwrap().unwrap();
    assert_eq!(run.status, SyncRunStatus::Succeeded, "{run:?}");
    assert_eq!(run.counts.items_processed, agents.len() as i64, "the duplicate is not counted: {run:?}");

    let cat = catalog(&p, &tok, "").await;
    assert_eq!(cat.len(), 2, "case and spacing variants are one entry: {cat:?}");
    let vpn = &cat["contoso vpn client#contoso ltd."];
    assert_eq!(n(vpn, "install_count"), agents.len() as i64, "{vpn}");
    // Stored with whitespace cleaned; which spelling arrives first depends on worker timing.
    let cleaned: Vec<String> = names.iter().map(|n| n.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert!(cleaned.iter().any(|c| c == vpn["name"].as_str().unwrap()), "the first spelling seen is kept: {vpn}");
    assert_eq!(n(&cat["shared runtime#"], "install_count"), agents.len() as i64);
    assert_eq!(cat["shared runtime#"]["publisher"], "", "old agents send no publisher");
    let search = catalog(&p, &tok, "?name=VPN%20%20client&publisher=contoso").await;
    assert_eq!(search.keys().collect::<Vec<_>>(), vec!["contoso vpn client#contoso ltd."]);

    // Everyone uninstalls it at once: the count returns to 0, the entry stays.
    for a in &agents {
        st.uninstall_software(a, &st.software(a).unwrap()[0].name).unwrap();
    }
    let run_id = manual_run(&p, &t, 6).await;
    let work: Vec<SyncMessage> = batches
        .iter()
        .map(|m| match m.clone() {
            SyncMessage::SoftwareBatch { tenant, batch, agent_ids, .. } => {
                SyncMessage::SoftwareBatch { tenant, run_id: run_id.clone(), batch, part: 0, agent_ids }
            }
            _ => unreachable!(),
        })
        .collect();
    deliver_at_once(&p, work).await;
    let run = p.deps.store.get_run(&t, SyncType::Software, &run_id).await.unwrap().unwrap();
    assert_eq!(run.counts.items_deleted, agents.len() as i64, "{run:?}");
    let cat = catalog(&p, &tok, "").await;
    assert_eq!(n(&cat["contoso vpn client#contoso ltd."], "install_count"), 0);
    assert_eq!(n(&cat["shared runtime#"], "install_count"), agents.len() as i64);
}

#[tokio::test]
async fn only_assets_count_and_the_beta_api_is_not_needed() {
    let p = Pipeline::new("swscope").await;
    let sim = simulator(SimConfig {
        fleet: FleetSpec { clients: 2, sites_per_client: 1, agents: 12, software_per_agent: 4, alerts: 0 },
        ..Default::default()
    })
    .await;
    let t = tenant("swscope");
    let tok = admin_token(&t);
    let st = sim.state();
    let mapped = st.clients()[0].id;
    // Every agent has an inventory, so only mapping decides who is read.
    for a in st.agents() {
        st.set_software(&a.agent_id, vec![SoftwareItem::new(format!("Tool of {}", a.client_id), "1", "Acme")]).unwrap();
    }

    // No assets yet: the run says what to do.
    connect(&p, &t, &sim).await;
    let run = run_sync(&p, Function::SyncSoftware, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(run["message"].as_str().unwrap_or_default().contains("sync devices first"), "{run}");

    with_assets(&p, &t, &sim, Some(&[mapped])).await;
    st.reset_counters();
    let run = run_sync(&p, Function::SyncSoftware, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let inside: Vec<_> = st.agents().into_iter().filter(|a| a.client_id == mapped).collect();
    assert!(!inside.is_empty() && inside.len() < st.agents().len());
    assert_eq!(n(&run, "items_processed"), inside.len() as i64, "{run}");
    assert_eq!(
        st.request_count(tactical_sim::RouteKind::AgentSoftware),
        inside.len() as u64,
        "agents that are not assets are never read"
    );
    let cat = catalog(&p, &tok, "").await;
    assert_eq!(cat.len(), 1, "{cat:?}");
    assert_eq!(n(&cat[&format!("tool of {mapped}#acme")], "install_count"), inside.len() as i64);

    // The fleet is listed from the role-scoped `/agents/?detail=false`: the beta API is not read.
    st.set_beta_enabled(false);
    let run = run_sync(&p, Function::SyncSoftware, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(n(&run, "items_processed"), inside.len() as i64, "{run}");
    assert_eq!(p.dlq_depth("SyncSoftwareQueue").await, 0);
}

#[tokio::test]
async fn the_client_reads_one_agent_or_streams_all_and_never_panics_on_a_broken_body() {
    use futures::StreamExt;
    use shared::tactical::policy::RetryPolicy;
    use shared::tactical::{Credentials, InstanceUrl, TacticalApi, TacticalError};
    use tactical_client::{HttpClientOptions, TacticalHttp};
    use tactical_sim::{Fault, RouteKind};
    let sim = simulator(SimConfig::default()).await;
    let http = tactical_client::build_http_client(&HttpClientOptions {
        allowlist: vec!["127.0.0.1".into()],
        ..Default::default()
    });
    let key = secrecy::SecretString::from(tactical_sim::DEFAULT_API_KEY);
    let api = TacticalHttp::new(http, InstanceUrl::parse(&sim.base_url()).unwrap(), Credentials::ApiKey(key))
        .with_retry(RetryPolicy { max_attempts: 1, ..Default::default() });
    let st = sim.state();
    let agents = st.agents();
    let with = agents.iter().find(|a| a.software_count.is_some()).unwrap();
    let without = agents.iter().find(|a| a.software_count.is_none()).unwrap();
    let items = api.software_for(&with.agent_id).await.unwrap().expect("an inventory");
    assert_eq!(items.len(), with.software_count.unwrap());
    assert_eq!(api.software_for(&without.agent_id).await.unwrap(), None, "[] is unknown");
    assert!(matches!(api.software_for("short").await, Err(TacticalError::NotFound { .. })));

    let rows: Vec<_> = api.software_all().await.unwrap().collect().await;
    let rows: Vec<_> = rows.into_iter().map(Result::unwrap).collect();
    assert_eq!(rows.len(), agents.iter().filter(|a| a.software_count.is_some()).count());
    for r in &rows {
        let a = st.agent_by_pk(r.agent.unwrap()).expect("rows name agents by pk");
        assert_eq!(Some(r.software.len()), a.software_count);
    }

    for fault in [Fault::MalformedJson, Fault::ResetMidBody] {
        st.set_fault_times(RouteKind::Software, fault.clone(), 1);
        let got: Vec<_> = api.software_all().await.unwrap().collect().await;
        let last = got.last().expect("an error item");
        assert!(
            matches!(last, Err(TacticalError::Decode { .. } | TacticalError::Interrupted { .. })),
            "{fault:?}: {last:?}"
        );
        st.set_fault_times(RouteKind::AgentSoftware, fault.clone(), 1);
        assert!(api.software_for(&with.agent_id).await.is_err(), "{fault:?}");
    }
}

// ---- measurement ---------------------------------------------------------------------------

/// Peak resident memory (VmHWM, KiB) of a process since its last reset.
fn peak_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets a process's peak resident memory to its current size.
fn reset_peak(pid: &str) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// `GET /software/` streamed vs `GET /software/<agent_id>/` per agent, on a simulated fleet.
/// Figures in docs/software.md. Run:
/// `BENCH_AGENTS=10000 BENCH_SOFTWARE=150 TACTICAL_SIM_BIN=$CARGO_TARGET_DIR/release/tactical-sim
///  cargo test -p integration-tests --test it software_endpoints -- --ignored --nocapture`
/// (without `TACTICAL_SIM_BIN` the simulator runs in this process and memory figures mix).
#[tokio::test]
#[ignore = "measurement; prints figures"]
async fn software_endpoints_measured() {
    use futures::{StreamExt, TryStreamExt};
    use shared::tactical::types::BetaAgentQuery;
    use shared::tactical::{Credentials, InstanceUrl, TacticalApi};
    use std::time::Instant;
    use tactical_client::{HttpClientOptions, TacticalHttp, build_http_client};

    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (agents, software) = (env("BENCH_AGENTS", 10_000), env("BENCH_SOFTWARE", 150));
    let concurrency = env("BENCH_CONCURRENCY", 8);
    let fleet = FleetSpec { clients: 20, sites_per_client: 3, agents, software_per_agent: software, alerts: 0 };
    let mut child = None;
    let mut in_process = None;
    let (base, sim_pid) = match std::env::var("TACTICAL_SIM_BIN") {
        Ok(bin) => {
            use std::io::BufRead;
            let mut c = std::process::Command::new(bin)
                .args(["--addr", "127.0.0.1:0", "--agents", &agents.to_string(), "--clients", "20"])
                .args(["--sites-per-client", "3", "--software-per-agent", &software.to_string(), "--alerts", "0"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("simulator binary starts");
            let mut line = String::new();
            std::io::BufReader::new(c.stdout.take().unwrap()).read_line(&mut line).unwrap();
            let base = line.trim().rsplit(' ').next().unwrap().to_owned();
            let pid = c.id().to_string();
            child = Some(c);
            (base, Some(pid))
        }
        Err(_) => {
            let sim = simulator(SimConfig { fleet, ..Default::default() }).await;
            let base = sim.base_url();
            in_process = Some(sim);
            (base, None)
        }
    };
    let http = build_http_client(&HttpClientOptions { allowlist: vec!["127.0.0.1".into()], ..Default::default() });
    let key = secrecy::SecretString::from(tactical_sim::DEFAULT_API_KEY);
    let api = TacticalHttp::new(http.clone(), InstanceUrl::parse(&base).unwrap(), Credentials::ApiKey(key));
    let me = std::process::id().to_string();
    let server_mib = |pid: &Option<String>| pid.as_deref().map(|p| peak_kib(p) / 1024).unwrap_or(0);

    // The beta list (pk ↔ agent_id), needed by both ways.
    let t = Instant::now();
    let mut ids = Vec::new();
    let mut pk_to_id = HashMap::new();
    for page in 1.. {
        let p = api.beta_agents_page(&BetaAgentQuery { page, page_size: 1000, ..Default::default() }).await.unwrap();
        for a in p.results {
            pk_to_id.insert(a.id, a.agent_id.clone());
            ids.push(a.agent_id);
        }
        if p.next.is_none() {
            break;
        }
    }
    let list_s = t.elapsed().as_secs_f64();

    // Bulk, raw: the body size and what a client that buffers it would hold.
    let t = Instant::now();
    let resp = http
        .get(format!("{base}/software/"))
        .header("X-API-KEY", tactical_sim::DEFAULT_API_KEY)
        .timeout(std::time::Duration::from_secs(600))
        .send()
        .await
        .unwrap();
    let body_bytes: usize =
        resp.bytes_stream().map_ok(|b| b.len()).try_fold(0, |a, n| async move { Ok(a + n) }).await.unwrap();
    let raw_s = t.elapsed().as_secs_f64();

    // Bulk, streamed and decoded row by row (the client's software_all).
    if let Some(p) = &sim_pid {
        reset_peak(p);
    }
    reset_peak(&me);
    let client_before = peak_kib(&me);
    let t = Instant::now();
    let mut rows = api.software_all().await.unwrap();
    let (mut n_rows, mut n_items, mut mapped) = (0usize, 0usize, 0usize);
    while let Some(r) = rows.next().await {
        let r = r.unwrap();
        n_rows += 1;
        n_items += r.software.len();
        mapped += usize::from(r.agent.and_then(|pk| pk_to_id.get(&pk)).is_some());
    }
    let bulk_s = t.elapsed().as_secs_f64();
    let bulk_client_mib = peak_kib(&me).saturating_sub(client_before) / 1024;
    let bulk_server_mib = server_mib(&sim_pid);

    // Bulk, buffered and decoded at once: what a client that does not stream would need.
    reset_peak(&me);
    let client_before = peak_kib(&me);
    let t = Instant::now();
    let body = http
        .get(format!("{base}/software/"))
        .header("X-API-KEY", tactical_sim::DEFAULT_API_KEY)
        .timeout(std::time::Duration::from_secs(600))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let all: Vec<shared::tactical::types::SoftwareRow> = serde_json::from_slice(&body).unwrap();
    let buffered_s = t.elapsed().as_secs_f64();
    let buffered_client_mib = peak_kib(&me).saturating_sub(client_before) / 1024;
    drop((all, body));

    // Per agent, `concurrency` calls in flight (one worker).
    if let Some(p) = &sim_pid {
        reset_peak(p);
    }
    reset_peak(&me);
    let client_before = peak_kib(&me);
    let t = Instant::now();
    let per: Vec<Option<usize>> = futures::stream::iter(ids.iter())
        .map(|id| {
            let api = &api;
            async move { api.software_for(id).await.unwrap().map(|v| v.len()) }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let per_s = t.elapsed().as_secs_f64();
    let per_client_mib = peak_kib(&me).saturating_sub(client_before) / 1024;
    let per_server_mib = server_mib(&sim_pid);
    let per_items: usize = per.iter().flatten().sum();
    assert_eq!(per_items, n_items, "both ways read the same inventory");
    assert_eq!(mapped, n_rows, "every row's pk maps to an agent of the beta list");

    println!("fleet: {agents} agents, {n_rows} with inventory, {n_items} items, avg {software}/Windows agent");
    println!("beta agent list (pk -> agent_id): {:.2} s for {} pages", list_s, agents.div_ceil(1000));
    println!(
        "GET /software/ raw: {:.1} MB in {:.2} s ({:.0} MB/s)",
        body_bytes as f64 / 1e6,
        raw_s,
        body_bytes as f64 / 1e6 / raw_s
    );
    println!("GET /software/ buffered+decoded at once: {buffered_s:.2} s, client peak +{buffered_client_mib} MiB");
    println!(
        "GET /software/ streamed+decoded: {:.2} s, client peak +{} MiB, server peak {} MiB",
        bulk_s, bulk_client_mib, bulk_server_mib
    );
    println!(
        "GET /software/<id>/ x {}: {:.2} s at {} in flight ({:.2} ms/agent, {:.2} s per 100-agent batch), client peak +{} MiB, server peak {} MiB",
        ids.len(),
        per_s,
        concurrency,
        per_s * 1000.0 / ids.len() as f64,
        per_s * 100.0 / ids.len() as f64,
        per_client_mib,
        per_server_mib
    );
    println!("ratio per-agent / bulk time: {:.2}", per_s / bulk_s);
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    drop(in_process);
}
