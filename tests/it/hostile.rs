//! A hostile Tactical: one tenant points its integration at a server that answers what a stock
//! Tactical never would (the simulator's `Fault::Rewrite` and `Fault::EndlessBody`). Each case
//! puts that tenant's work item and a well-behaved tenant's in the same SQS batch of one worker
//! invocation, and shows that only the hostile tenant's run fails (or copes), the other tenant's
//! run completes, and nothing is written half (every asset has its mapping and the reverse).

use super::faults::assert_assets_match_mappings;
use integration_tests::cleanup::drop_stack;
use integration_tests::*;
use serde_json::{Value, json};
use shared::TenantId;
use tactical_sim::{Fault, RouteKind, SimConfig, Simulator};

fn fleet() -> SimConfig {
    SimConfig {
        fleet: tactical_sim::FleetSpec { clients: 2, sites_per_client: 1, agents: 6, software_per_agent: 2, alerts: 0 },
        ..SimConfig::default()
    }
}

struct Tenant {
    id: TenantId,
    tok: String,
    sim: Simulator,
}

async fn tenant_on(p: &Pipeline, label: &str) -> Tenant {
    let sim = simulator(fleet()).await;
    let id = tenant(label);
    let tok = admin_token(&id);
    connect(p, &id, &sim).await;
    let (s, v) = p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", &tok, None).await;
    for m in v["mappings"].as_array().expect("mappings") {
        let id = m["id"].as_str().expect("id");
        let body = Some(json!({"client_id": "psa-1"}));
        let (s, v) = p.call(Function::SyncClients, "PATCH", &format!("/mappings/{id}"), &tok, body).await;
        assert_eq!(s, 200, "{v}");
    }
    Tenant { id, tok, sim }
}

/// Receives what is visible on `queue` (both tenants' start messages) and hands it to the worker
/// as ONE batch, as Lambda's event source would. Returns the tenants whose records failed.
async fn one_batch(p: &Pipeline, queue: &str, f: Function, expect: usize) -> Vec<String> {
    batch_of(p, queue, f, expect, |_| true).await
}

/// Like [`one_batch`], but only the messages `take` accepts go to the worker; the others are
/// made visible again untouched (SQS delivers in any order; this picks one).
async fn batch_of(p: &Pipeline, queue: &str, f: Function, expect: usize, take: impl Fn(&Value) -> bool) -> Vec<String> {
    let url = p.stack.queue_urls[queue].clone();
    let mut msgs = Vec::new();
    for _ in 0..20 {
        let out = p.sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
        msgs.extend(out.messages.unwrap_or_default());
        if msgs.len() >= expect {
            break;
        }
    }
    assert_eq!(msgs.len(), expect, "the expected messages are visible");
    let body = |m: &aws_sdk_sqs::types::Message| -> Value {
        serde_json::from_str(m.body().unwrap_or_default()).expect("json")
    };
    let (msgs, skipped): (Vec<_>, Vec<_>) = msgs.into_iter().partition(|m| take(&body(m)));
    for m in &skipped {
        let rh = m.receipt_handle().expect("receipt");
        p.sqs
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(rh)
            .visibility_timeout(0)
            .send()
            .await
            .expect("vis");
    }
    let records: Vec<Value> = msgs
        .iter()
        .map(|m| json!({"messageId": m.message_id(), "body": m.body(), "attributes": {"ApproximateReceiveCount": "1"}}))
        .collect();
    let inv = lambda_glue::lambda::classify(json!({ "Records": records })).expect("sqs event");
    let result = match f {
        Function::SyncDevices => sync_devices::invoke(&p.deps, inv).await,
        Function::SyncSoftware => sync_software::invoke(&p.deps, inv).await,
        _ => unreachable!("a queue consumer"),
    }
    .expect("the batch is answered (no panic, no lost batch)");
    let failed: Vec<&str> = result["batchItemFailures"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["itemIdentifier"].as_str()).collect())
        .unwrap_or_default();
    let mut failed_tenants = Vec::new();
    for m in &msgs {
        let rh = m.receipt_handle().expect("receipt");
        if failed.iter().any(|f| Some(*f) == m.message_id()) {
            failed_tenants.push(body(m)["tenant"].as_str().unwrap_or_default().to_owned());
            p.sqs
                .change_message_visibility()
                .queue_url(&url)
                .receipt_handle(rh)
                .visibility_timeout(0)
                .send()
                .await
                .expect("vis");
        } else {
            p.sqs.delete_message().queue_url(&url).receipt_handle(rh).send().await.expect("delete");
        }
    }
    failed_tenants
}

async fn latest_run(p: &Pipeline, f: Function, tok: &str) -> Value {
    let (s, run) = p.call(f, "GET", "/runs/latest", tok, None).await;
    assert_eq!(s, 200, "{run}");
    run
}

/// Starts a device sync for both tenants, delivers both start messages in one batch, then the rest.
async fn device_syncs(p: &Pipeline, good: &Tenant, evil: &Tenant) -> (Value, Value, Vec<String>) {
    for t in [good, evil] {
        let (s, v) = p.call(Function::SyncDevices, "POST", "/sync", &t.tok, None).await;
        assert_eq!(s, 202, "{v}");
    }
    let failed = one_batch(p, "SyncDevicesQueue", Function::SyncDevices, 2).await;
    p.drain().await;
    (
        latest_run(p, Function::SyncDevices, &good.tok).await,
        latest_run(p, Function::SyncDevices, &evil.tok).await,
        failed,
    )
}

fn assert_good(run: &Value, case: &str) {
    assert_eq!(run["status"], "succeeded", "{case}: the other tenant's run completes: {run}");
    assert_eq!(run["items_processed"], 6, "{case}: {run}");
}

fn message(run: &Value) -> String {
    run["message"].as_str().unwrap_or_default().to_owned()
}

async fn pipeline(label: &str) -> Pipeline {
    Pipeline::new_with(label, |env| {
        env.insert("TACTICAL_RETRY_BASE_MS".into(), "1".into());
    })
    .await
}

#[tokio::test]
async fn a_huge_offline_time_or_a_year_9999_last_seen_never_panics_a_shared_worker() {
    let p = pipeline("hostile-times").await;
    let good = tenant_on(&p, "hostile-times-good").await;
    let evil = tenant_on(&p, "hostile-times-evil").await;
    evil.sim.state().set_fault(
        RouteKind::BetaAgents,
        Fault::Rewrite(vec![
            ("/results/*/offline_time".into(), json!(i64::MAX)),
            ("/results/*/overdue_time".into(), json!(i64::MIN)),
            ("/results/0/last_seen".into(), json!("9999-12-31T23:59:59-05:00")),
            ("/results/*/boot_time".into(), json!(1.0e300)),
            ("/results/*/total_ram".into(), json!(i64::MAX)),
        ]),
    );
    let (good_run, evil_run, failed) = device_syncs(&p, &good, &evil).await;
    assert!(failed.is_empty(), "no record of the batch failed: {failed:?}");
    assert_good(&good_run, "huge thresholds");
    // The hostile values are data, not a crash: the run completes with every agent.
    assert_eq!(evil_run["status"], "succeeded", "{evil_run}");
    assert_eq!(assert_assets_match_mappings(&p, &evil.id).await, 6);
    assert_eq!(assert_assets_match_mappings(&p, &good.id).await, 6);
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn a_giant_count_fails_only_its_run_and_queues_nothing() {
    let p = pipeline("hostile-count").await;
    let good = tenant_on(&p, "hostile-count-good").await;
    let evil = tenant_on(&p, "hostile-count-evil").await;
    evil.sim
        .state()
        .set_fault(RouteKind::BetaAgents, Fault::Rewrite(vec![("/count".into(), json!(4_294_967_295_000u64))]));
    let before = evil.sim.state().request_count(RouteKind::BetaAgents);
    let (good_run, evil_run, failed) = device_syncs(&p, &good, &evil).await;
    assert!(failed.is_empty(), "the start messages fan out without failing: {failed:?}");
    assert_good(&good_run, "giant count");
    assert_eq!(evil_run["status"], "failed", "{evil_run}");
    assert!(message(&evil_run).contains("MAX_PAGES_PER_LISTING"), "the run says why: {evil_run}");
    // Page 1 of each client was read once; no other page was ever queued or requested.
    let pages = evil.sim.state().request_count(RouteKind::BetaAgents) - before;
    assert_eq!(pages, 2, "one page-1 request per client");
    assert_eq!(assert_assets_match_mappings(&p, &evil.id).await, 0, "nothing written for a refused listing");
    assert_eq!(assert_assets_match_mappings(&p, &good.id).await, 6);

    // The software run lists agents without a count (`GET /agents/?detail=false`): nothing to cap.
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn an_endless_chunked_body_is_cut_at_the_routes_cap() {
    let p = pipeline("hostile-endless").await;
    let good = tenant_on(&p, "hostile-endless-good").await;
    let evil = tenant_on(&p, "hostile-endless-evil").await;
    evil.sim.state().set_fault(RouteKind::BetaAgents, Fault::EndlessBody);
    let before = evil.sim.state().request_count(RouteKind::BetaAgents);
    let (good_run, evil_run, failed) = device_syncs(&p, &good, &evil).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_good(&good_run, "endless body");
    assert_eq!(evil_run["status"], "failed", "{evil_run}");
    assert!(message(&evil_run).contains("larger than"), "{evil_run}");
    // Not retried: the same server would send the same body again.
    assert_eq!(evil.sim.state().request_count(RouteKind::BetaAgents) - before, 2, "one request per client page 1");
    assert_eq!(assert_assets_match_mappings(&p, &evil.id).await, 0);
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn malformed_json_fails_only_the_hostile_record_of_the_batch() {
    let p = Pipeline::new_with("hostile-json", |env| {
        env.insert("TACTICAL_RETRY_BASE_MS".into(), "1".into());
        env.insert("TACTICAL_MAX_ATTEMPTS".into(), "1".into());
    })
    .await;
    let good = tenant_on(&p, "hostile-json-good").await;
    let evil = tenant_on(&p, "hostile-json-evil").await;
    evil.sim.state().set_fault(RouteKind::BetaAgents, Fault::MalformedJson);
    for t in [&good, &evil] {
        let (s, v) = p.call(Function::SyncDevices, "POST", "/sync", &t.tok, None).await;
        assert_eq!(s, 202, "{v}");
    }
    // The start messages fan out (they read only the client list), then both tenants' page
    // messages share a batch.
    let failed = one_batch(&p, "SyncDevicesQueue", Function::SyncDevices, 2).await;
    assert!(failed.is_empty(), "{failed:?}");
    // An answer that cannot be decoded is not retried (the same server would send it again): the
    // hostile pages fail for good on the run, and no record of the batch goes back to the queue.
    let failed = one_batch(&p, "SyncDevicesQueue", Function::SyncDevices, 4).await;
    assert!(failed.is_empty(), "{failed:?}");
    p.drain().await;
    assert_good(&latest_run(&p, Function::SyncDevices, &good.tok).await, "malformed json");
    let run = latest_run(&p, Function::SyncDevices, &evil.tok).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(assert_assets_match_mappings(&p, &evil.id).await, 0);
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn year_9999_install_dates_with_a_negative_offset_are_unknown_not_a_crash() {
    let p = pipeline("hostile-software").await;
    let good = tenant_on(&p, "hostile-sw-good").await;
    let evil = tenant_on(&p, "hostile-sw-evil").await;
    let (good_run, evil_run, _) = device_syncs(&p, &good, &evil).await;
    assert_good(&good_run, "devices first");
    assert_good(&evil_run, "devices first");
    evil.sim.state().set_fault(
        RouteKind::AgentSoftware,
        Fault::Rewrite(vec![("/software/*/install_date".into(), json!("9999-12-31 23:30:00 -0700 MST"))]),
    );
    for t in [&good, &evil] {
        let (s, v) = p.call(Function::SyncSoftware, "POST", "/sync", &t.tok, None).await;
        assert_eq!(s, 202, "{v}");
    }
    assert!(one_batch(&p, "SyncSoftwareQueue", Function::SyncSoftware, 2).await.is_empty());
    // Both tenants' batches of agents in one invocation.
    assert!(one_batch(&p, "SyncSoftwareQueue", Function::SyncSoftware, 2).await.is_empty());
    p.drain().await;
    for t in [&good, &evil] {
        let run = latest_run(&p, Function::SyncSoftware, &t.tok).await;
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    assert!(evil.sim.state().request_count(RouteKind::AgentSoftware) > 0, "the hostile answers were read");
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn one_unreadable_integration_item_never_stops_the_schedulers_tick() {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let p = pipeline("hostile-tick").await;
    let good = tenant_on(&p, "hostile-tick-good").await;
    // An active integration item whose fields do not read (as a bad write or a manual edit
    // could leave it): it is in the scheduler's index like any other.
    let bad = tenant("hostile-tick-bad");
    let ddb = aws_sdk_dynamodb::Client::new(&sdk().await);
    ddb.put_item()
        .table_name(&p.stack.table_name)
        .item("pk", A::S(format!("{bad}#rmm_integrations")))
        .item("sk", A::S("tacticalrmm".into()))
        .item("gsi1pk", A::S("rmm_integrations#active".into()))
        .item("gsi1sk", A::S(bad.to_string()))
        .item("is_active", A::S("not a boolean".into()))
        .item("schedules", A::N("12".into()))
        .send()
        .await
        .expect("put");
    // A budget already spent starts nothing and says so: the next tick takes the rest.
    let spent = scheduler::tick_within(&p.deps, std::time::Duration::ZERO).await.expect("tick");
    assert!(spent.started.is_empty() && spent.deferred > 0, "{spent:?}");
    let tick = scheduler::tick(&p.deps).await.expect("the tick runs");
    assert_eq!(tick.tenants, 1, "the unreadable item is skipped: {tick:?}");
    assert!(tick.started.iter().any(|s| s.starts_with(good.id.as_str())), "{tick:?}");
    assert!(tick.errors.is_empty() && tick.deferred == 0, "{tick:?}");
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn a_fan_out_that_fails_half_way_neither_finishes_the_run_early_nor_flags_assets_missing() {
    let (p, faults) = integration_tests::aws_faults::faulty_pipeline("hostile-fanout", |env| {
        env.insert("TACTICAL_RETRY_BASE_MS".into(), "1".into());
        env.insert("DEVICE_PAGE_SIZE".into(), "1".into());
    })
    .await;
    let sim = simulator(SimConfig {
        fleet: tactical_sim::FleetSpec {
            clients: 1,
            sites_per_client: 1,
            agents: 30,
            software_per_agent: 0,
            alerts: 0,
        },
        ..SimConfig::default()
    })
    .await;
    let t = tenant("hostile-fanout");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (_, v) = p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    assert!(v["run_id"].is_string(), "{v}");
    p.drain().await;
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", &tok, None).await;
    let id = v["mappings"][0]["id"].as_str().expect("a mapping").to_owned();
    p.call(Function::SyncClients, "PATCH", &format!("/mappings/{id}"), &tok, Some(json!({"client_id": "psa-1"}))).await;
    // A first complete run: 30 assets, the baseline of the next.
    p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    p.drain().await;
    assert_eq!(latest_run(&p, Function::SyncDevices, &tok).await["status"], "succeeded");
    assert_eq!(assert_assets_match_mappings(&p, &t).await, 30);

    // Page 1 queues pages 2..=30 in batches of 10: the second batch fails (after the SDK's own
    // 3 attempts), after the first was sent.
    faults.throttle("SendMessageBatch", &[r#"\"page\":12,"#], 3);
    p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    assert!(one_batch(&p, "SyncDevicesQueue", Function::SyncDevices, 1).await.is_empty(), "the start queues page 1");
    let failed = one_batch(&p, "SyncDevicesQueue", Function::SyncDevices, 1).await;
    assert_eq!(failed, vec![t.to_string()], "page 1 failed to queue all its pages");
    // The pages that were sent arrive before page 1's retry.
    let failed = batch_of(&p, "SyncDevicesQueue", Function::SyncDevices, 11, |m| m["page"] != 1).await;
    assert!(failed.is_empty(), "{failed:?}");
    let run = latest_run(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["status"], "running", "the run waits for every page it claimed: {run}");
    p.drain().await;
    assert_eq!(faults.throttled("SendMessageBatch"), 3, "the fault fired");
    let run = latest_run(&p, Function::SyncDevices, &tok).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_processed"], 30, "every page counted once: {run}");
    assert_eq!(run["work_done"], run["work_total"], "{run}");
    let missing =
        p.deps.store.list_assets(&t).await.expect("assets").iter().filter(|a| a.missing_since.is_some()).count();
    assert_eq!(missing, 0, "no present asset is flagged missing");
    drop_stack(&p.stack).await;
}

/// Fairness in the template: every function has reserved concurrency (one function's flood cannot
/// take another's capacity), and each queue's event source leaves part of it to the function URL.
#[test]
fn every_function_reserves_concurrency_and_queues_leave_room_for_the_function_url() {
    use serde_yaml::Value as Y;
    let text = std::fs::read_to_string(devtools::provision::template_path()).expect("template");
    let t: Y = serde_yaml::from_str(&text).expect("yaml");
    let mut seen = 0;
    for (id, r) in t["Resources"].as_mapping().expect("resources") {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        seen += 1;
        // `!If [ReserveConcurrency, N, !Ref AWS::NoValue]`
        let reserved = match &r["Properties"]["ReservedConcurrentExecutions"] {
            Y::Tagged(tag) => tag.value[1].as_u64(),
            _ => None,
        };
        let reserved = reserved.unwrap_or_else(|| panic!("{id:?} reserves concurrency"));
        for (_, ev) in r["Properties"]["Events"].as_mapping().into_iter().flatten() {
            if ev["Type"] == "SQS" {
                let max =
                    ev["Properties"]["ScalingConfig"]["MaximumConcurrency"].as_u64().expect("queue concurrency cap");
                assert!((2..reserved).contains(&max), "{id:?}: the queue takes {max} of {reserved}");
            }
        }
    }
    assert_eq!(seen, FUNCTIONS.len());
}

#[tokio::test]
async fn a_runs_error_list_stays_bounded_and_a_finished_run_takes_no_more_progress() {
    use shared::domain::sync_run::{SyncRun, SyncRunStatus, new_run_id};
    use shared::messages::{SyncType, Trigger};
    use shared::ports::{RunProgress, StartOutcome};
    let stack = shared_stack().await;
    let deps = deps(&stack).await;
    let t = tenant("hostile-errors");
    let run = SyncRun {
        tenant: t.clone(),
        run_id: new_run_id(),
        sync_type: SyncType::Devices,
        trigger: Trigger::Manual,
        status: SyncRunStatus::Queued,
        started_at: shared::domain::time::now_rfc3339(),
        finished_at: None,
        counts: Default::default(),
        pending: 100,
        errors: vec![],
        message: None,
    };
    let StartOutcome::Started(run) = deps.store.try_start_run(&run, 600).await.expect("start") else {
        panic!("a fresh tenant starts")
    };
    // 60 failing items, each with the most errors one progress carries, 300+ characters each.
    for i in 0..60 {
        let p = RunProgress {
            counts: shared::domain::SyncCounts { items_failed: 1, ..Default::default() },
            pending_delta: -1,
            errors: vec!["e".repeat(1000); 5],
            work_item: Some(format!("page#1#{i}")),
            undo_item: None,
        };
        let after = deps.store.add_run_progress(&t, SyncType::Devices, &run.run_id, &p).await.expect("progress");
        assert!(after.is_some(), "item {i} counts even when the error list is full");
    }
    let after = deps.store.get_run(&t, SyncType::Devices, &run.run_id).await.expect("get").expect("run");
    assert_eq!(after.counts.items_failed, 60, "every item counted");
    assert!((20..25).contains(&after.errors.len()), "errors kept: {}", after.errors.len());
    assert!(after.errors.iter().all(|e| e.chars().count() <= 300));
    // Finished: a late duplicate or straggler cannot reopen it.
    assert!(
        deps.store.finish_run(&t, SyncType::Devices, &run.run_id, SyncRunStatus::Failed, None).await.expect("finish")
    );
    let late = RunProgress { pending_delta: -1, work_item: Some("page#2#1".into()), ..Default::default() };
    assert!(deps.store.add_run_progress(&t, SyncType::Devices, &run.run_id, &late).await.expect("late").is_none());
    let after = deps.store.get_run(&t, SyncType::Devices, &run.run_id).await.expect("get").expect("run");
    assert_eq!(after.status, SyncRunStatus::Failed);
}

#[tokio::test]
async fn a_run_over_its_work_item_cap_fails_and_queues_nothing() {
    let p = Pipeline::new_with("hostile-cap", |env| {
        env.insert("DEVICE_PAGE_SIZE".into(), "1".into());
        env.insert("MAX_WORK_ITEMS_PER_RUN".into(), "5".into());
    })
    .await;
    let sim = simulator(SimConfig {
        fleet: tactical_sim::FleetSpec {
            clients: 1,
            sites_per_client: 1,
            agents: 10,
            software_per_agent: 0,
            alerts: 0,
        },
        ..SimConfig::default()
    })
    .await;
    let t = tenant("hostile-cap");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    p.drain().await;
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", &tok, None).await;
    let id = v["mappings"][0]["id"].as_str().expect("a mapping").to_owned();
    p.call(Function::SyncClients, "PATCH", &format!("/mappings/{id}"), &tok, Some(json!({"client_id": "psa-1"}))).await;
    let before = sim.state().request_count(RouteKind::BetaAgents);
    p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    p.drain().await;
    let run = latest_run(&p, Function::SyncDevices, &tok).await;
    // start + page 1 + 9 more pages = 11 work items, over 5.
    assert_eq!(run["status"], "failed", "{run}");
    assert!(message(&run).contains("MAX_WORK_ITEMS_PER_RUN"), "{run}");
    assert_eq!(sim.state().request_count(RouteKind::BetaAgents) - before, 1, "no page beyond page 1 was queued");
    assert_eq!(assert_assets_match_mappings(&p, &t).await, 0, "the refused page wrote nothing");
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn a_webhook_with_year_9999_times_and_negative_offsets_is_recorded_without_them() {
    let p = Pipeline::new_with("hostile-webhook", |env| {
        env.insert("WEBHOOK_BASE_URL".into(), "https://hooks.example.test".into());
    })
    .await;
    let good = tenant_on(&p, "hostile-wh-good").await;
    let evil = tenant_on(&p, "hostile-wh-evil").await;
    let cache = webhook::SecretCache::new(std::time::Duration::ZERO, std::time::Duration::ZERO);
    let mut secrets = Vec::new();
    for t in [&good, &evil] {
        let (s, info) = p.call(Function::Connection, "POST", "/webhook/secret", &t.tok, None).await;
        assert_eq!(s, 200, "{info}");
        secrets.push(info["secret"].as_str().expect("secret").to_owned());
    }
    let times = |t: &str| {
        json!({"agent_id": "A".repeat(40), "alert_id": "7", "event": "failure", "alert_time": t, "resolved_on": t})
            .to_string()
    };
    let hostile = times("9999-12-31 23:59:59.999999-05:00");
    let fine = times("2026-11-21 00:19:35.527811+00:00");
    let (s, v) = read(
        webhook::handle_with(&p.deps, &cache, raw_webhook(evil.id.as_str(), Some(&secrets[1]), &hostile, "")).await,
    );
    assert!((200..300).contains(&s), "the hostile delivery is answered, not a crash: {s} {v}");
    let (s, v) =
        read(webhook::handle_with(&p.deps, &cache, raw_webhook(good.id.as_str(), Some(&secrets[0]), &fine, "")).await);
    assert!((200..300).contains(&s), "{s} {v}");
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts", &evil.tok, None).await;
    let alerts = v["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "{v}");
    let a = &alerts[0];
    for f in ["triggered_at", "resolved_at", "last_occurrence_at"] {
        assert!(!a[f].as_str().unwrap_or_default().starts_with("9999"), "the impossible time is unknown ({f}): {v}");
    }
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts", &good.tok, None).await;
    assert_eq!(v["alerts"][0]["triggered_at"].as_str().map(|t| &t[..19]), Some("2026-11-21T00:19:35"), "{v}");
    drop_stack(&p.stack).await;
}
