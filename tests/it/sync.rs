//! Sync Clients and Sync Devices through the handlers and real SQS (LocalStack).

use integration_tests::*;
use serde_json::{Value, json};
use shared::domain::asset::asset_id_for;
use std::collections::HashMap;
use tactical_sim::{FleetSpec, SimConfig};

async fn mappings(p: &Pipeline, tok: &str) -> Vec<Value> {
    let (s, v) = p.call(Function::SyncClients, "GET", "/mappings", tok, None).await;
    assert_eq!(s, 200, "{v}");
    v["mappings"].as_array().unwrap().clone()
}

async fn run_sync(p: &Pipeline, f: Function, tok: &str) -> Value {
    let (s, v) = p.call(f, "POST", "/sync", tok, None).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["started"], true);
    p.drain().await;
    let (s, run) = p.call(f, "GET", &format!("/runs/{}", v["run_id"].as_str().unwrap()), tok, None).await;
    assert_eq!(s, 200, "{run}");
    run
}

async fn map_all(p: &Pipeline, tok: &str, only: Option<&[i64]>) {
    for m in mappings(p, tok).await {
        let id: i64 = m["id"].as_str().unwrap().parse().unwrap();
        if only.is_some_and(|o| !o.contains(&id)) {
            continue;
        }
        let (s, v) = p
            .call(
                Function::SyncClients,
                "PATCH",
                &format!("/mappings/{id}"),
                tok,
                Some(json!({"client_id": format!("psa-{id}")})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
}

/// Every asset through the paginated API, keyed by agent id.
async fn assets(p: &Pipeline, tok: &str) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let mut cursor = String::new();
    for _ in 0..1000 {
        let (s, v) = p.call(Function::SyncDevices, "GET", &format!("/assets?limit=400{cursor}"), tok, None).await;
        assert_eq!(s, 200, "{v}");
        for a in v["assets"].as_array().unwrap() {
            assert!(
                out.insert(a["rmm_device_id"].as_str().unwrap().to_owned(), a.clone()).is_none(),
                "an asset listed twice"
            );
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
    panic!("paging did not end")
}

#[tokio::test]
async fn clients_become_mappings_and_sync_never_overwrites_what_a_person_set() {
    let p = Pipeline::new("clients").await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("clients");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let run = run_sync(&p, Function::SyncClients, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_created"], 3);
    let ms = mappings(&p, &tok).await;
    let clients = sim.state().clients();
    assert_eq!(ms.len(), clients.len());
    for c in &clients {
        let m = ms.iter().find(|m| m["id"] == json!(c.id.to_string())).expect("mapping per client");
        assert_eq!(m["external_organization_name"], json!(c.name));
        assert_eq!(m["site_count"], json!(c.site_ids.len()));
        assert_eq!(m["agent_count"], json!(c.agent_count));
        assert_eq!(m["auto_sync_assets"], true);
        assert_eq!(m["client_id"], Value::Null);
    }
    let first = clients[0].id;
    let (s, v) = p
        .call(
            Function::SyncClients,
            "PATCH",
            &format!("/mappings/{first}"),
            &tok,
            Some(json!({"client_id": "psa-42", "auto_sync_assets": false, "default_contact_id": "c-7"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = p
        .call(
            Function::SyncClients,
            "PATCH",
            &format!("/mappings/{first}"),
            &tok,
            Some(json!({"auto_sync_assets": "no"})),
        )
        .await;
    assert_eq!((s, v["field"].clone()), (400, json!("auto_sync_assets")));
    let (s, _) =
        p.call(Function::SyncClients, "PATCH", "/mappings/999999", &tok, Some(json!({"client_id": "x"}))).await;
    assert_eq!(s, 404);

    sim.state().rename_client(first, "Renamed Corp").unwrap();
    let run = run_sync(&p, Function::SyncClients, &tok).await;
    assert_eq!((run["items_updated"].clone(), run["items_unchanged"].clone()), (json!(1), json!(2)), "{run}");
    let m = mappings(&p, &tok).await.into_iter().find(|m| m["id"] == json!(first.to_string())).unwrap();
    assert_eq!(m["external_organization_name"], "Renamed Corp");
    assert_eq!(m["client_id"], "psa-42", "person-set fields survive a sync");
    assert_eq!(m["auto_sync_assets"], false);
    assert_eq!(m["default_contact_id"], "c-7");
}

#[tokio::test]
async fn devices_land_as_assets_with_true_status_and_a_resync_writes_nothing() {
    // Pages of 100 (DEVICE_PAGE_SIZE): the bigger client spans three pages.
    let p = Pipeline::new_with("devices", |env| {
        env.insert("DEVICE_PAGE_SIZE".into(), "100".into());
    })
    .await;
    let sim = simulator(SimConfig {
        fleet: FleetSpec { clients: 2, sites_per_client: 2, agents: 480, software_per_agent: 2, alerts: 0 },
        ..Default::default()
    })
    .await;
    stabilize(&sim);
    let t = tenant("devices");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    run_sync(&p, Function::SyncClients, &tok).await;
    let clients = sim.state().clients();
    let mut by_size = clients.clone();
    by_size.sort_by_key(|c| std::cmp::Reverse(c.agent_count));
    let unmapped = by_size.last().unwrap().id;
    assert!(by_size.last().unwrap().agent_count > 0);
    let mapped: Vec<i64> = clients.iter().map(|c| c.id).filter(|id| *id != unmapped).collect();
    assert!(by_size[0].agent_count > 200, "the mapped client needs three pages: {by_size:?}");
    map_all(&p, &tok, Some(&mapped)).await;

    let run = run_sync(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let agents: Vec<_> = sim.state().agents().into_iter().filter(|a| mapped.contains(&a.client_id)).collect();
    assert_eq!(run["items_processed"], json!(agents.len()));
    assert_eq!(run["items_created"], json!(agents.len()));
    // start + three pages, all done.
    assert_eq!((run["work_total"].clone(), run["work_done"].clone()), (json!(4), json!(4)), "{run}");
    let got = assets(&p, &tok).await;
    assert_eq!(got.len(), agents.len(), "one asset per agent of mapped organizations only");
    for a in &agents {
        let asset = &got[&a.agent_id];
        assert_eq!(asset["agent_status"], json!(format!("{:?}", a.status).to_lowercase()), "{}", a.agent_id);
        assert_eq!(asset["rmm_organization_id"], json!(a.client_id.to_string()));
        assert_eq!(asset["client_id"], json!(format!("psa-{}", a.client_id)));
        assert_eq!(asset["location"], json!(a.site_name));
        assert_eq!(asset["name"], json!(a.hostname));
        assert_eq!(asset["asset_id"], json!(asset_id_for(&t, &a.agent_id)));
        assert_eq!(asset["asset_type"], json!(format!("{:?}", a.monitoring_type).to_lowercase()));
        let user = asset["vitals"]["current_user"].as_str();
        assert_eq!(
            user,
            (a.logged_in_username != "None").then_some(a.logged_in_username.as_str()),
            "\"None\" means nobody"
        );
    }
    let ext = p.deps.store.list_external_mappings(&t).await.unwrap();
    assert_eq!(ext.len(), agents.len(), "every asset has its external entity mapping");
    assert!(
        ext.iter().all(|m| m.integration_type == "tacticalrmm"
            && got[&m.external_entity_id]["asset_id"] == json!(m.alga_entity_id))
    );

    // One asset in detail, and the list filters.
    let one = &got[&agents[0].agent_id];
    let (s, v) = p
        .call(Function::SyncDevices, "GET", &format!("/assets/{}", one["asset_id"].as_str().unwrap()), &tok, None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["external_entity_mapping"]["external_entity_id"], json!(agents[0].agent_id));
    let (_, v) = p.call(Function::SyncDevices, "GET", "/assets?status=overdue&limit=1000", &tok, None).await;
    let overdue = agents.iter().filter(|a| a.status == tactical_sim::AgentStatus::Overdue).count();
    assert_eq!(v["count"], json!(overdue));
    let name = agents[0].hostname.to_lowercase();
    let (_, v) = p.call(Function::SyncDevices, "GET", &format!("/assets?name={name}"), &tok, None).await;
    assert!(v["assets"].as_array().unwrap().iter().any(|a| a["rmm_device_id"] == json!(agents[0].agent_id)));

    // Nothing changed in Tactical: the re-sync reads everything and writes no asset.
    let run = run_sync(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["items_unchanged"], json!(agents.len()), "{run}");
    assert_eq!((run["items_created"].clone(), run["items_updated"].clone()), (json!(0), json!(0)));

    // Agents go offline and come back. With the status refresh on (the default) it follows them
    // and the device sync writes nothing; with it off, the device sync writes only them.
    let st = sim.state();
    let online: Vec<_> = agents.iter().filter(|a| a.status == tactical_sim::AgentStatus::Online).take(2).collect();
    let down = agents.iter().find(|a| a.status == tactical_sim::AgentStatus::Overdue).unwrap();
    st.make_offline(&online[0].agent_id).unwrap();
    st.make_overdue(&online[1].agent_id).unwrap();
    st.make_online(&down.agent_id).unwrap();
    let run = run_sync(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["items_updated"], 0, "a status change alone is the refresh's: {run}");
    let (s, v) = p.call(Function::SyncDevices, "POST", "/status/refresh", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    let got = assets(&p, &tok).await;
    assert_eq!(got[&online[0].agent_id]["agent_status"], "offline");
    assert_eq!(got[&online[1].agent_id]["agent_status"], "overdue");
    assert_eq!(got[&down.agent_id]["agent_status"], "online");
    let off = json!({"schedules": {"status_refresh": {"enabled": false, "interval_minutes": 5}}});
    let (s, v) = p.call(Function::Connection, "PATCH", "/settings", &tok, Some(off)).await;
    assert_eq!(s, 200, "{v}");
    // The hash then covers the status again: one sync rewrites every asset once.
    let run = run_sync(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["items_updated"], json!(agents.len()), "{run}");
    st.make_online(&online[0].agent_id).unwrap();
    st.make_online(&online[1].agent_id).unwrap();
    st.make_overdue(&down.agent_id).unwrap();
    let run = run_sync(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["items_updated"], 3, "{run}");
    let got = assets(&p, &tok).await;
    assert_eq!(got[&online[0].agent_id]["agent_status"], "online");
    assert_eq!(got[&online[1].agent_id]["agent_status"], "online");
    assert_eq!(got[&down.agent_id]["agent_status"], "overdue");
}

#[tokio::test]
async fn auto_sync_off_skips_an_organization_and_a_failing_page_makes_a_partial_run() {
    let p = Pipeline::new_with("partial", |env| {
        env.insert("DEVICE_PAGE_SIZE".into(), "10".into());
        // Each delivery tries Tactical once: SQS redelivery is the retry under test here.
        env.insert("TACTICAL_MAX_ATTEMPTS".into(), "1".into());
    })
    .await;
    // Each redelivery comes after the visibility timeout (short here, never instant).
    p.redeliver_after(1).await;
    let sim = simulator(SimConfig {
        fleet: FleetSpec { clients: 2, sites_per_client: 1, agents: 40, software_per_agent: 0, alerts: 0 },
        ..Default::default()
    })
    .await;
    let t = tenant("partial");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    run_sync(&p, Function::SyncClients, &tok).await;
    map_all(&p, &tok, None).await;
    let clients = sim.state().clients();
    let (off, on) = (clients[0].id, clients[1].id);
    p.call(Function::SyncClients, "PATCH", &format!("/mappings/{off}"), &tok, Some(json!({"auto_sync_assets": false})))
        .await;

    // Page 1 is served and fans out; then Tactical breaks for the other pages, on every delivery.
    let (s, v) = p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain_rounds(2).await;
    sim.state().set_fault(tactical_sim::FaultTarget::PathPrefix("/beta/".into()), tactical_sim::Fault::Status5xx(503));
    p.drain().await;
    let (_, run) =
        p.call(Function::SyncDevices, "GET", &format!("/runs/{}", v["run_id"].as_str().unwrap()), &tok, None).await;
    assert_eq!(run["status"], "partial", "{run}");
    assert!(run["message"].as_str().unwrap().contains("503"), "the message names the failure: {run}");
    assert_eq!(run["items_processed"], 10, "{run}");
    assert!(run["items_failed"].as_i64().unwrap() >= 1);
    assert_eq!(run["items_missing"], 0, "a partial run flags nothing missing");

    // Tactical recovers: the next run completes what the partial one missed.
    sim.state().clear_faults();
    let run = run_sync(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let got = assets(&p, &tok).await;
    let expected = sim.state().agents().into_iter().filter(|a| a.client_id == on).count();
    assert_eq!(got.len(), expected, "auto-sync off: the other organization's agents are not synced");
    assert!(got.values().all(|a| a["rmm_organization_id"] == json!(on.to_string())));
}

#[tokio::test]
async fn moved_gone_and_returning_agents_keep_their_asset() {
    let p = Pipeline::new("moves").await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("moves");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    run_sync(&p, Function::SyncClients, &tok).await;
    map_all(&p, &tok, None).await;
    run_sync(&p, Function::SyncDevices, &tok).await;
    let before = assets(&p, &tok).await;
    let st = sim.state();
    let agents = st.agents();
    let mover = agents[0].clone();
    let other_site = st.sites().into_iter().find(|s| s.client_id != mover.client_id).unwrap();
    st.move_agent(&mover.agent_id, other_site.id).unwrap();
    let gone = agents[1].clone();
    st.remove_agent(&gone.agent_id).unwrap();
    let sleeper = agents
        .iter()
        .find(|a| {
            a.agent_id != mover.agent_id && a.agent_id != gone.agent_id && a.status == tactical_sim::AgentStatus::Online
        })
        .unwrap()
        .clone();
    st.make_overdue(&sleeper.agent_id).unwrap();

    let run = run_sync(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(run["message"].as_str().unwrap_or_default().contains("1 assets flagged missing"), "{run}");
    let after = assets(&p, &tok).await;
    assert_eq!(after.len(), before.len(), "nothing deleted, nothing duplicated");
    let moved = &after[&mover.agent_id];
    assert_eq!(moved["asset_id"], before[&mover.agent_id]["asset_id"], "a move keeps the asset");
    assert_eq!(moved["rmm_organization_id"], json!(other_site.client_id.to_string()));
    assert_eq!(moved["client_id"], json!(format!("psa-{}", other_site.client_id)));
    let link = p.deps.store.get_external_mapping(&t, &mover.agent_id).await.unwrap().unwrap();
    assert_eq!(link.external_realm_id, other_site.client_id.to_string(), "the mapping follows the move");
    assert!(after[&gone.agent_id]["missing_since"].is_string(), "gone agents are flagged, not deleted");
    let (s, v) = p.call(Function::SyncDevices, "POST", "/status/refresh", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    assert_eq!(assets(&p, &tok).await[&sleeper.agent_id]["agent_status"], "overdue", "the status refresh follows it");

    // The agent comes back: the flag is cleared.
    let mut spec = tactical_sim::NewAgent::new(gone.site_id, gone.plat);
    spec.agent_id = Some(gone.agent_id.clone());
    spec.hostname = Some(gone.hostname.clone());
    st.add_agent(spec).unwrap();
    run_sync(&p, Function::SyncDevices, &tok).await;
    let back = assets(&p, &tok).await;
    assert!(back[&gone.agent_id]["missing_since"].is_null(), "{}", back[&gone.agent_id]);
    assert_eq!(back[&gone.agent_id]["asset_id"], before[&gone.agent_id]["asset_id"]);
}

#[tokio::test]
async fn two_sync_starts_at_once_make_one_run_and_unmapped_tenants_are_told_to_map() {
    let p = Pipeline::new("once").await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("once");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (a, b) = tokio::join!(
        p.call(Function::SyncDevices, "POST", "/sync", &tok, None),
        p.call(Function::SyncDevices, "POST", "/sync", &tok, None)
    );
    assert_eq!(a.1["run_id"], b.1["run_id"], "one run: {a:?} {b:?}");
    assert_ne!(a.1["started"], b.1["started"]);
    p.drain().await;
    let (_, run) = p.call(Function::SyncDevices, "GET", "/runs/latest", &tok, None).await;
    assert_eq!(run["status"], "succeeded");
    assert!(run["message"].as_str().unwrap().contains("map organizations first"), "{run}");
}
