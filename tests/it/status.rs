//! Live status: after one device sync, a status refresh every (simulated) 5 minutes keeps every
//! asset's status equal to Tactical's while agents stop and resume checking in; each transition
//! is one `Asset Status Changed` event on the stack's bus; an unchanged fleet's refresh writes no
//! asset and no snapshot. The simulator's clock moves instead of the test sleeping.

use integration_tests::aws_faults::{AwsFaults, faulty_pipeline};
use integration_tests::cleanup::drop_stack;
use integration_tests::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use tactical_sim::{AgentStatus, FleetSpec, SimConfig};
use time::Duration;

fn status_str(s: AgentStatus) -> &'static str {
    match s {
        AgentStatus::Online => "online",
        AgentStatus::Offline => "offline",
        AgentStatus::Overdue => "overdue",
    }
}

/// Every event on the queue: long polls until `want` arrived and one more poll found nothing new
/// (delivery is asynchronous; a bounded number of empty polls ends the wait).
async fn take_events(p: &Pipeline, url: &str, want: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut empty = 0;
    loop {
        let r = p.sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send().await;
        let msgs = r.unwrap().messages.unwrap_or_default();
        if msgs.is_empty() {
            empty += 1;
            if out.len() >= want || empty >= 5 {
                return out;
            }
        }
        for m in msgs {
            out.push(serde_json::from_str::<Value>(m.body().unwrap()).unwrap());
            p.sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
}

async fn setup(p: &Pipeline, sim: &tactical_sim::Simulator, t: &shared::TenantId) {
    let tok = admin_token(t);
    connect(p, t, sim).await;
    let (s, v) = p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    for c in sim.state().clients() {
        let body = json!({"client_id": format!("psa-{}", c.id)});
        let (s, v) = p.call(Function::SyncClients, "PATCH", &format!("/mappings/{}", c.id), &tok, Some(body)).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
}

async fn refresh(p: &Pipeline, tok: &str) {
    let (s, v) = p.call(Function::SyncDevices, "POST", "/status/refresh", tok, None).await;
    assert_eq!(s, 202, "{v}");
    assert!(v["refresh_id"].is_string(), "{v}");
    p.drain().await;
}

async fn assets_by_agent(p: &Pipeline, tok: &str) -> BTreeMap<String, Value> {
    let (s, v) = p.call(Function::SyncDevices, "GET", "/assets?limit=1000", tok, None).await;
    assert_eq!(s, 200, "{v}");
    v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["rmm_device_id"].as_str().unwrap().to_owned(), a.clone()))
        .collect()
}

fn small_fleet() -> SimConfig {
    SimConfig {
        fleet: FleetSpec { clients: 2, sites_per_client: 1, agents: 10, software_per_agent: 0, alerts: 0 },
        ..Default::default()
    }
}

/// All agents online with Tactical's default thresholds (4 min offline, 30 min overdue).
fn all_online(sim: &tactical_sim::Simulator) {
    let st = sim.state();
    for a in st.agents() {
        st.set_agent_thresholds(&a.agent_id, 4, 30).unwrap();
        st.make_online(&a.agent_id).unwrap();
    }
}

#[tokio::test]
async fn status_follows_tactical_through_a_simulated_hour_with_one_event_per_transition() {
    let (p, faults) = faulty_pipeline("status", |env| {
        env.insert("TACTICAL_RETRY_BASE_MS".into(), "1".into());
    })
    .await;
    let sim = simulator(small_fleet()).await;
    all_online(&sim);
    let st = sim.state();
    let t = tenant("status");
    let tok = admin_token(&t);
    setup(&p, &sim, &t).await;
    let queue = event_queue(&p, t.as_str(), "Asset Status Changed", "test").await;
    let agents: Vec<String> = st.agents().iter().map(|a| a.agent_id.clone()).collect();
    let asset_writes = faults.watch("UpdateItem", &[&format!("{t}#assets")]);

    // The first refresh records the snapshots; nothing changed, nothing published.
    refresh(&p, &tok).await;

    // Who stops or resumes checking in, per 5-minute step of the hour.
    let plan: BTreeMap<u32, Vec<(&str, usize)>> = BTreeMap::from([
        (1, vec![("stop", 0), ("stop", 1)]),
        (3, vec![("resume", 0)]),
        (4, vec![("stop", 2)]),
        (8, vec![("resume", 1)]),
        (9, vec![("stop", 3), ("stop", 0)]),
        (11, vec![("resume", 2)]),
    ]);
    let mut before: BTreeMap<String, AgentStatus> =
        st.agents().iter().map(|a| (a.agent_id.clone(), a.status)).collect();
    let mut expected: Vec<(String, String, String)> = Vec::new();
    for step in 1..=12u32 {
        for (what, i) in plan.get(&step).cloned().unwrap_or_default() {
            match what {
                "stop" => st.stop_checkins(&agents[i]).unwrap(),
                _ => st.resume_checkins(&agents[i]).unwrap(),
            }
        }
        st.advance_clock(Duration::minutes(5));
        let writes_before = faults.watched(asset_writes);
        refresh(&p, &tok).await;
        let now: BTreeMap<String, AgentStatus> = st.agents().iter().map(|a| (a.agent_id.clone(), a.status)).collect();
        let mut changed = 0u64;
        for (id, s) in &now {
            if before[id] != *s {
                changed += 1;
                expected.push((id.clone(), status_str(before[id]).into(), status_str(*s).into()));
            }
        }
        assert_eq!(
            faults.watched(asset_writes) - writes_before,
            changed,
            "step {step}: one asset write per transition"
        );
        let assets = assets_by_agent(&p, &tok).await;
        for (id, s) in &now {
            assert_eq!(assets[id]["agent_status"], status_str(*s), "step {step}: {id} as Tactical shows it");
            assert!(assets[id]["status_as_of"].is_string(), "{}", assets[id]);
        }
        before = now;
    }
    // The hour did what the plan says: agents went offline, overdue and came back.
    let kinds: BTreeSet<(&str, &str)> = expected.iter().map(|(_, f, t)| (f.as_str(), t.as_str())).collect();
    for k in [("online", "offline"), ("offline", "overdue"), ("overdue", "online"), ("offline", "online")] {
        assert!(kinds.contains(&k), "{k:?} not exercised: {expected:?}");
    }

    let events = take_events(&p, &queue, expected.len()).await;
    let schema = integration_tests::schema::Schema::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/events/asset-status-changed.json"),
    )
    .unwrap();
    let mut got: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            assert_eq!(
                (e["source"].as_str(), e["detail-type"].as_str()),
                (Some("tactical-bridge"), Some("Asset Status Changed"))
            );
            let d = &e["detail"];
            schema.assert_valid(d);
            assert_eq!(d["tenant"], t.as_str());
            assert_eq!(d["asset_id"], shared::domain::asset::asset_id_for(&t, d["agent_id"].as_str().unwrap()));
            assert!(d["client_id"].as_str().is_some_and(|c| c.starts_with("psa-")), "{d}");
            assert!(d["event_id"].is_string() && d["observed_at"].is_string(), "{d}");
            (
                d["agent_id"].as_str().unwrap().to_owned(),
                d["from"].as_str().unwrap().to_owned(),
                d["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "one event per transition");
    println!(
        "simulated hour: {} transitions, {} events, {} asset writes",
        expected.len(),
        events.len(),
        faults.watched(asset_writes)
    );
    let ids: BTreeSet<&str> = events.iter().map(|e| e["detail"]["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique per transition");
    // The template's example rule: the transitions to offline or overdue, on the PSA's queue.
    let down = expected.iter().filter(|(_, _, to)| to != "online").count();
    let on_down_queue = take_events(&p, &p.stack.queue_urls["AgentDownQueue"], down).await;
    assert_eq!(on_down_queue.len(), down, "{on_down_queue:?}");
    assert!(on_down_queue.iter().all(|e| e["detail"]["to"] != "online"));
    let _ = p.sqs.delete_queue().queue_url(&queue).send().await;
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn an_unchanged_fleet_writes_nothing_but_its_observation_time() {
    let (p, faults) = faulty_pipeline("status-quiet", |_| {}).await;
    let sim = simulator(small_fleet()).await;
    all_online(&sim);
    let t = tenant("quiet");
    let tok = admin_token(&t);
    setup(&p, &sim, &t).await;
    refresh(&p, &tok).await;
    let assets = assets_by_agent(&p, &tok).await;

    // Agents keep checking in for an hour: their last_seen moves, their status does not.
    sim.state().advance_clock(Duration::minutes(60));
    let (s, v) = p.call(Function::SyncDevices, "POST", "/status/refresh", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    let (puts, updates, batch_writes, reads) = (
        faults.calls("PutItem"),
        faults.calls("UpdateItem"),
        faults.calls("BatchWriteItem"),
        faults.calls("BatchGetItem"),
    );
    p.drain().await;
    assert_eq!(faults.calls("UpdateItem") - updates, 0, "no asset written");
    assert_eq!(faults.calls("BatchWriteItem") - batch_writes, 0, "no snapshot written");
    assert_eq!(faults.calls("BatchGetItem") - reads, 0, "no asset read");
    assert_eq!(faults.calls("PutItem") - puts, 1, "only the record of when each client was observed");
    let after = assets_by_agent(&p, &tok).await;
    for (id, a) in &after {
        assert_eq!(a["agent_status"], "online");
        let at = |v: &Value| {
            time::OffsetDateTime::parse(
                v["status_as_of"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        };
        assert!(at(a) > at(&assets[id]), "status_as_of advances: {a}");
    }

    // The hourly device sync of the same fleet: every agent checked in, none really changed.
    let (s, v) = p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    let (s, run) =
        p.call(Function::SyncDevices, "GET", &format!("/runs/{}", v["run_id"].as_str().unwrap()), &tok, None).await;
    assert_eq!(s, 200, "{run}");
    assert_eq!((run["items_updated"].as_i64(), run["items_unchanged"].as_i64()), (Some(0), Some(10)), "{run}");
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn a_transition_rewrites_its_clients_statuses_and_not_the_member_list() {
    let (p, faults) = faulty_pipeline("status-vector", |_| {}).await;
    let sim = simulator(small_fleet()).await;
    all_online(&sim);
    let st = sim.state();
    let t = tenant("vector");
    let tok = admin_token(&t);
    setup(&p, &sim, &t).await;
    let lists = faults.watch("BatchWriteItem", &["snapshot#", "#members#"]);
    refresh(&p, &tok).await;
    assert_eq!(faults.watched(lists), 2, "the first refresh records both clients' member lists");

    let victim = st.agents()[0].agent_id.clone();
    st.stop_checkins(&victim).unwrap();
    st.advance_clock(Duration::minutes(10));
    let statuses = faults.watch("PutItem", &["#statuses"]);
    let asset_writes = faults.watch("UpdateItem", &[&format!("{t}#assets")]);
    let (puts, batch_writes, deletes) =
        (faults.calls("PutItem"), faults.calls("BatchWriteItem"), faults.calls("DeleteItem"));
    refresh(&p, &tok).await;
    assert_eq!(faults.watched(asset_writes), 1, "the asset's transition");
    assert_eq!(faults.watched(statuses), 1, "the changed client's statuses");
    assert_eq!(faults.calls("PutItem") - puts, 2, "its statuses and the observation time");
    assert_eq!(faults.calls("BatchWriteItem") - batch_writes, 0, "no member list rewritten");
    assert_eq!(faults.calls("DeleteItem") - deletes, 0);
    assert_eq!(assets_by_agent(&p, &tok).await[&victim]["agent_status"], "offline");
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn a_transition_is_recorded_only_once_its_event_is_published() {
    let (p, faults): (Pipeline, std::sync::Arc<AwsFaults>) = faulty_pipeline("status-fail", |_| {}).await;
    let sim = simulator(small_fleet()).await;
    all_online(&sim);
    let st = sim.state();
    let t = tenant("evfail");
    let tok = admin_token(&t);
    setup(&p, &sim, &t).await;
    let queue = event_queue(&p, t.as_str(), "Asset Status Changed", "test").await;
    // The failed deliveries below come back through SQS, after a (short) visibility timeout.
    p.redeliver_after(1).await;
    refresh(&p, &tok).await;
    let victim = st.agents()[0].agent_id.clone();
    st.stop_checkins(&victim).unwrap();
    st.advance_clock(Duration::minutes(10));

    // EventBridge refuses every attempt of the first delivery: nothing is recorded.
    faults.throttle("PutEvents", &[], 12);
    let (s, v) = p.call(Function::SyncDevices, "POST", "/status/refresh", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain_rounds(1).await;
    assert_eq!(assets_by_agent(&p, &tok).await[&victim]["agent_status"], "online", "not recorded without its event");

    // The retried work item publishes and records it.
    p.drain().await;
    assert_eq!(assets_by_agent(&p, &tok).await[&victim]["agent_status"], "offline");

    // Published, then the asset write fails: the redelivery publishes the same event id again.
    let second = st.agents()[1].agent_id.clone();
    st.stop_checkins(&second).unwrap();
    st.advance_clock(Duration::minutes(10));
    faults.throttle("UpdateItem", &[&format!("{t}#assets")], 3);
    refresh(&p, &tok).await;
    assert_eq!(assets_by_agent(&p, &tok).await[&second]["agent_status"], "offline");
    let events = take_events(&p, &queue, 3).await;
    let of = |agent: &str| -> Vec<&Value> { events.iter().filter(|e| e["detail"]["agent_id"] == agent).collect() };
    assert_eq!(of(&victim).len(), 1, "{events:?}");
    let dup = of(&second);
    assert_eq!(dup.len(), 2, "published twice: {events:?}");
    assert_eq!(dup[0]["detail"]["event_id"], dup[1]["detail"]["event_id"], "with one event id");
    let _ = p.sqs.delete_queue().queue_url(&queue).send().await;
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn an_availability_alert_sets_the_status_at_once() {
    let p = Pipeline::new_with("status-avail", |env| {
        env.insert("WEBHOOK_BASE_URL".into(), "https://hooks.example.test".into());
    })
    .await;
    let sim = simulator(small_fleet()).await;
    all_online(&sim);
    let st = sim.state();
    let t = tenant("avail");
    let tok = admin_token(&t);
    setup(&p, &sim, &t).await;
    let (s, info) = p.call(Function::Connection, "POST", "/webhook/secret", &tok, None).await;
    assert_eq!(s, 200, "{info}");
    let action = |event: &str| {
        let a = &info["url_actions"][event];
        tactical_sim::UrlAction::post(
            a["pattern"].as_str().unwrap(),
            a["rest_body"].as_str().unwrap(),
            a["rest_headers"].as_str().unwrap(),
        )
    };
    let cache = webhook::SecretCache::new(std::time::Duration::ZERO, std::time::Duration::ZERO);
    let agent = st.agents()[0].agent_id.clone();

    // Tactical's overdue alert: the asset reads overdue as soon as the follow-up ran.
    st.make_overdue(&agent).unwrap();
    let id = st.raise_alert(tactical_sim::NewAlert::availability(agent.clone())).unwrap();
    let w = st.prepare_webhook(&action("failure"), id, false).unwrap();
    let (s, v) = read(webhook::handle_with(&p.deps, &cache, webhook_request(&w)).await);
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    assert_eq!(assets_by_agent(&p, &tok).await[&agent]["agent_status"], "overdue");

    // Back and resolved: online at once.
    st.resume_checkins(&agent).unwrap();
    st.resolve_alert(id).unwrap();
    let w = st.prepare_webhook(&action("resolved"), id, true).unwrap();
    let (s, v) = read(webhook::handle_with(&p.deps, &cache, webhook_request(&w)).await);
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    assert_eq!(assets_by_agent(&p, &tok).await[&agent]["agent_status"], "online");
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn the_scheduler_queues_a_refresh_at_the_tenant_interval_and_not_when_off() {
    let p = Pipeline::new("status-sched").await;
    let sim = simulator(small_fleet()).await;
    let t = tenant("sched");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    for bad in [0, 61] {
        let body = json!({"schedules": {"status_refresh": {"enabled": true, "interval_minutes": bad}}});
        let (s, v) = p.call(Function::Connection, "PATCH", "/settings", &tok, Some(body)).await;
        assert_eq!((s, v["field"].as_str()), (400, Some("schedules.status_refresh.interval_minutes")), "{v}");
    }
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &tok, None).await;
    assert_eq!(v["schedules"]["status_refresh"], json!({"enabled": true, "interval_minutes": 5}), "{v}");
    let mine = format!("{t}:status");
    let tick = scheduler::tick(&p.deps).await.unwrap();
    assert!(tick.started.contains(&mine), "{tick:?}");
    let tick = scheduler::tick(&p.deps).await.unwrap();
    assert!(!tick.started.contains(&mine), "not due again within 5 minutes: {tick:?}");
    let off = json!({"schedules": {"status_refresh": {"enabled": false, "interval_minutes": 1}}});
    let (s, v) = p.call(Function::Connection, "PATCH", "/settings", &tok, Some(off)).await;
    assert_eq!(s, 200, "{v}");
    let integ = p.deps.store.get_integration(&t).await.unwrap().unwrap();
    assert!(!shared::domain::sync::keep_status(&integ), "off: the device sync writes the status again");
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn a_snapshot_of_the_older_line_layout_reads_as_absent_and_the_next_write_removes_it() {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    use shared::domain::status::AgentStatus as S;
    use shared::domain::status_refresh::{Entry, Snapshot};
    let stack = shared_stack().await;
    let deps = deps(&stack).await;
    let t = tenant("status-legacy");
    let ddb = aws_sdk_dynamodb::Client::new(&sdk().await);
    let sk_of = |sk: &str| (A::S(format!("{t}#status")), A::S(sk.to_owned()));
    // Two parts of the line layout written before the member list and statuses were split.
    for (part, lines) in [("0000", "agent-a n1\nagent-b f1"), ("0001", "agent-c o0")] {
        let (pk, sk) = sk_of(&format!("snapshot#5#{part}"));
        ddb.put_item()
            .table_name(&stack.table_name)
            .item("pk", pk)
            .item("sk", sk)
            .item("entity", A::S("status_snapshot".into()))
            .item("observed_at", A::S("2026-01-01T00:00:00Z".into()))
            .item("parts", A::N("2".into()))
            .item("entries", A::S(lines.into()))
            .send()
            .await
            .expect("put");
    }
    assert_eq!(deps.store.status_snapshot(&t, 5).await.unwrap(), None, "read as absent, never misread");

    // The refresh then writes without a prior: the old items go, the new snapshot reads back.
    let entries = [("agent-a", S::Online), ("agent-b", S::Offline)]
        .into_iter()
        .map(|(id, status)| (id.to_owned(), Entry { status, asset: true }))
        .collect();
    let snap = Snapshot::new("2026-01-01T00:05:00Z".into(), entries);
    deps.store.put_status_snapshot(&t, 5, &snap, None).await.unwrap();
    assert_eq!(deps.store.status_snapshot(&t, 5).await.unwrap().as_ref(), Some(&snap));
    let out = ddb
        .query()
        .table_name(&stack.table_name)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", A::S(format!("{t}#status")))
        .send()
        .await
        .expect("query");
    let sks: Vec<String> =
        out.items().iter().filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()).cloned()).collect();
    assert_eq!(sks, vec!["snapshot#5#members#0000".to_owned(), "snapshot#5#statuses".to_owned()]);
}
