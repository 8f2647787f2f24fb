//! PSA → Tactical: resolve, snooze and unsnooze alerts (and the rmm_alerts record that follows),
//! ticket links, script runs with exit codes, results fetched later and the agent's run history.
//! Against the simulator and LocalStack; every input and answer is checked against its schema.

use integration_tests::schema::{Schema, remote_actions_dir};
use integration_tests::*;
use lambda_glue::Deps;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::ApiError;
use shared::auth::perms;
use shared::domain::alert_flow;
use shared::domain::alerts::AlertEvent;
use shared::domain::asset::{ExternalEntityMapping, OrgContext, asset_from_agent};
use shared::domain::audit::AuditQuery;
use shared::domain::mapping::TacticalOrg;
use shared::domain::time::{now, now_rfc3339};
use shared::ports::AssetWrite;
use shared::tactical::types::{AlertChange, BetaAgentQuery};
use shared::tactical::{Credentials, InstanceUrl, TacticalApi};
use shared::tenant::TenantId;
use tactical_sim::{AgentInfo, NewAlert, Plat, RouteKind, Severity, SimConfig, Simulator};

const ALL: &[&str] =
    &[perms::RMM_READ, perms::RMM_RUN_SCRIPT, perms::RMM_EXECUTE_COMMAND, perms::RMM_REBOOT, perms::RMM_MANAGE_ALERTS];
const NEW_ACTIONS: &[&str] =
    &["alerts.resolve", "alerts.snooze", "alerts.unsnooze", "agents.script_result", "agents.history"];

struct Ctx {
    p: Pipeline,
    sim: Simulator,
    t: TenantId,
}

/// A connected Enterprise tenant whose Tactical clients are mapped and whose agents are assets.
async fn setup(label: &str) -> Ctx {
    let stack = shared_stack().await;
    let deps = deps_with(&stack, |env| {
        env.insert("ENTERPRISE_REMOTE_ACTIONS".into(), "true".into());
    })
    .await;
    let sqs = aws_sdk_sqs::Client::new(&sdk().await);
    let p = Pipeline { stack, deps, sqs };
    let sim = simulator(SimConfig::default()).await;
    let t = tenant(label);
    connect(&p, &t, &sim).await;
    adopt(&p.deps, &t, &sim).await;
    sim.state().reset_counters();
    Ctx { p, sim, t }
}

fn api(deps: &Deps, sim: &Simulator) -> Box<dyn TacticalApi> {
    deps.tactical
        .connect(
            InstanceUrl::parse(&sim.base_url()).unwrap(),
            Credentials::ApiKey(SecretString::from(tactical_sim::DEFAULT_API_KEY)),
            None,
            None,
        )
        .unwrap()
}

async fn adopt(deps: &Deps, t: &TenantId, sim: &Simulator) {
    let api = api(deps, sim);
    let at = now_rfc3339();
    let clients = api.clients().await.unwrap();
    for c in &clients {
        deps.store.write_org_mapping(t, &TacticalOrg::from(c), &at).await.unwrap();
    }
    let page = api.beta_agents_page(&BetaAgentQuery { page: 1, page_size: 1000, ..Default::default() }).await.unwrap();
    let mut writes = Vec::new();
    for a in &page.results {
        let client = clients.iter().find(|c| c.sites.iter().any(|s| Some(s.id) == a.site)).unwrap();
        let site = client.sites.iter().find(|s| Some(s.id) == a.site).map(|s| s.name.as_str());
        let org = OrgContext { tactical_client_id: client.id, psa_client_id: Some("psa-1"), site_name: site };
        let asset = asset_from_agent(t, a, &org, now());
        let mapping = Some(ExternalEntityMapping::for_asset(&asset, &at));
        writes.push(AssetWrite { asset, mapping });
    }
    deps.store.write_assets(t, &writes).await.unwrap();
}

fn online(sim: &Simulator, plat: Plat) -> AgentInfo {
    let st = sim.state();
    let a = st.agents().into_iter().find(|a| a.plat == plat).expect("an agent of the platform");
    st.make_online(&a.agent_id).unwrap();
    a
}

async fn invoke(deps: &Deps, t: &TenantId, perms: &[&str], action: &str, input: Value) -> Value {
    let ev = json!({
        "tenant": t.as_str(),
        "actor": {"user_id": "wf-user-1", "permissions": perms},
        "entitlements": ["rmm_remote_actions"],
        "action": action,
        "input": input,
        "correlation_id": "ticket-closed-42",
    });
    remote_actions::invoke(deps, lambda_glue::lambda::classify(ev).unwrap()).await.expect("always JSON")
}

async fn run(c: &Ctx, action: &str, input: Value) -> Value {
    Schema::remote(action, "input").assert_valid(&input);
    let v = invoke(&c.p.deps, &c.t, ALL, action, input.clone()).await;
    assert_eq!(v["ok"], true, "{action} {input} → {v}");
    Schema::remote(action, "output").assert_valid(&v["result"]);
    v["result"].clone()
}

async fn fail_with(deps: &Deps, t: &TenantId, perms: &[&str], action: &str, input: Value) -> Value {
    let v = invoke(deps, t, perms, action, input).await;
    assert_eq!(v["ok"], false, "{v}");
    Schema::load(&remote_actions_dir().join("error.json")).unwrap().assert_valid(&v);
    v
}

async fn audit(deps: &Deps, t: &TenantId) -> Vec<Value> {
    let page = deps.store.list_audit(t, &AuditQuery { limit: 200, ..Default::default() }).await.unwrap();
    page.records.iter().map(|r| serde_json::to_value(r).unwrap()).collect()
}

/// Raises `n` check alerts on the tenant's Windows agent and records them by backfill; their keys.
async fn alerts(c: &Ctx, n: usize) -> Vec<(String, i64)> {
    let st = c.sim.state();
    let a = online(&c.sim, Plat::Windows);
    let ids: Vec<i64> = (0..n)
        .map(|i| {
            st.raise_alert(NewAlert::check(a.agent_id.clone(), Severity::Warning, format!("Disk {i}: 95%"))).unwrap()
        })
        .collect();
    alert_flow::backfill::<ApiError>(c.p.deps.store.as_ref(), &*api(&c.p.deps, &c.sim), &c.t).await.unwrap();
    st.reset_counters();
    ids.into_iter().map(|id| (format!("id#{id}"), id)).collect()
}

async fn stored(c: &Ctx, key: &str) -> shared::domain::alerts::RmmAlert {
    c.p.deps.store.get_alert(&c.t, key).await.unwrap().expect("recorded")
}

#[test]
fn every_new_action_has_schemas_with_its_rules() {
    for action in NEW_ACTIONS {
        for kind in ["input", "output"] {
            let _ = Schema::remote(action, kind);
        }
    }
    let snooze = Schema::remote("alerts.snooze", "input");
    snooze.assert_valid(&json!({"alert_key": "id#1", "snooze_days": 3}));
    snooze.assert_valid(&json!({"alert_keys": ["id#1", "id#2"], "snooze_days": 365}));
    for bad in [
        json!({"alert_key": "id#1"}),
        json!({"alert_key": "id#1", "snooze_days": 0}),
        json!({"alert_key": "id#1", "snooze_days": 366}),
        json!({"alert_key": "id#1", "alert_keys": ["id#2"], "snooze_days": 1}),
        json!({"alert_keys": [], "snooze_days": 1}),
    ] {
        snooze.assert_invalid(&bad);
    }
    let resolve = Schema::remote("alerts.resolve", "input");
    resolve.assert_invalid(&json!({"alert_key": "id#1", "snooze_days": 1}));
    resolve.assert_invalid(&json!({}));
    let result = Schema::remote("agents.script_result", "input");
    result.assert_valid(&json!({"agent_id": "x".repeat(40), "history_id": "12"}));
    result.assert_invalid(&json!({"agent_id": "x".repeat(40), "history_id": 0}));
    Schema::remote("agents.history", "input").assert_invalid(&json!({"agent_id": "x".repeat(40), "limit": 101}));
}

#[tokio::test]
async fn resolve_snooze_and_unsnooze_one_and_many_and_the_record_follows() {
    let c = setup("loop-alerts").await;
    let st = c.sim.state();
    let keys = alerts(&c, 4).await;

    // One alert: PUT /alerts/<id>/.
    let r = run(&c, "alerts.resolve", json!({"alert_key": keys[0].0})).await;
    assert_eq!((r["count"].clone(), r["bulk"].clone()), (json!(1), json!(false)));
    assert_eq!(r["alerts"][0]["resolved_by"], "wf-user-1");
    assert!(st.alert(keys[0].1).unwrap().resolved, "resolved in Tactical");
    let a = stored(&c, &keys[0].0).await;
    assert_eq!((a.status.as_str(), a.resolved_by.as_deref()), ("resolved", Some("wf-user-1")));
    assert!(a.resolved_at.is_some());
    assert_eq!(st.request_count(RouteKind::Alert), 1);

    // Several: one POST /alerts/bulk/.
    let many = json!([keys[1].0, keys[2].0, keys[1].0]);
    let r = run(&c, "alerts.snooze", json!({"alert_keys": many, "snooze_days": 3})).await;
    assert_eq!((r["count"].clone(), r["bulk"].clone()), (json!(2), json!(true)), "duplicates are one alert");
    assert_eq!(st.request_count(RouteKind::AlertsBulk), 1);
    let in_3_days = shared::domain::time::to_rfc3339(now() + time::Duration::days(3) - time::Duration::minutes(1));
    for (key, id) in &keys[1..3] {
        assert!(st.alert(*id).unwrap().snoozed);
        let a = stored(&c, key).await;
        assert_eq!(a.status, "suppressed");
        assert!(a.snoozed_until.as_deref().unwrap() > in_3_days.as_str(), "{a:?}");
    }
    let snooze_one = run(&c, "alerts.snooze", json!({"alert_key": keys[3].0, "snooze_days": 1})).await;
    assert_eq!(snooze_one["alerts"][0]["status"], "suppressed");

    // Tactical has no bulk unsnooze: one PUT per alert.
    st.reset_counters();
    let r = run(&c, "alerts.unsnooze", json!({"alert_keys": [keys[1].0, keys[2].0]})).await;
    assert_eq!((r["bulk"].clone(), st.request_count(RouteKind::Alert)), (json!(false), 2));
    for (key, id) in &keys[1..3] {
        assert!(!st.alert(*id).unwrap().snoozed);
        let a = stored(&c, key).await;
        assert_eq!((a.status.as_str(), a.snoozed_until.as_deref()), ("active", None));
    }
    let r = run(&c, "alerts.unsnooze", json!({"alert_key": keys[3].0})).await;
    assert_eq!(r["alerts"][0]["status"], "active");

    // Resolve the rest in one call. Tactical's bulk answer is "ok" even for an alert it no longer
    // has: each is read back, and that one's record is left as it was.
    st.delete_alert(keys[3].1).unwrap();
    let r = run(&c, "alerts.resolve", json!({"alert_keys": [keys[1].0, keys[2].0, keys[3].0]})).await;
    assert_eq!((r["bulk"].clone(), r["count"].clone()), (json!(true), json!(2)));
    assert_eq!(r["not_changed"][0]["alert_key"], json!(keys[3].0), "{r}");
    for (key, id) in &keys[1..3] {
        assert!(st.alert(*id).unwrap().resolved);
        assert_eq!(stored(&c, key).await.status, "resolved");
    }
    assert_eq!(stored(&c, &keys[3].0).await.status, "active");

    // Every call is audited with what Tactical was asked.
    let records = audit(&c.p.deps, &c.t).await;
    let names: Vec<&str> = records.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(names.iter().filter(|n| n.starts_with("alerts.")).count(), 6, "one record per call: {names:?}");
    for r in &records {
        assert_eq!((r["outcome"].clone(), r["tactical_called"].clone()), (json!("ok"), json!(true)), "{r}");
        assert_eq!(r["correlation_id"], "ticket-closed-42");
        assert!(r["result"]["tactical_alert_ids"].as_array().is_some_and(|a| !a.is_empty()), "{r}");
        assert!(r["input"]["alert_keys"].as_array().is_some_and(|a| !a.is_empty()), "{r}");
    }
}

#[tokio::test]
async fn a_stale_trigger_after_a_psa_resolve_does_not_reopen_and_an_ended_snooze_does() {
    let c = setup("loop-stale").await;
    let keys = alerts(&c, 2).await;
    let tactical = api(&c.p.deps, &c.sim);
    // The trigger delivery as Tactical sent it before the resolve.
    let before = tactical.alert(keys[0].1).await.unwrap();
    run(&c, "alerts.resolve", json!({"alert_key": keys[0].0})).await;
    let mut late = AlertEvent::from_tactical(&before, "webhook").unwrap();
    late.counts_occurrence = true;
    let (r, _) = alert_flow::record_delivery(c.p.deps.store.as_ref(), &c.t, &late).await.unwrap();
    assert_eq!(r.status, "resolved", "the late trigger does not re-open it");
    // A backfill listing fetched before the resolve does not either.
    let stale = AlertEvent::from_tactical(&before, "backfill").unwrap();
    assert_eq!(alert_flow::record(c.p.deps.store.as_ref(), &c.t, &stale).await.unwrap().status, "resolved");
    let a = stored(&c, &keys[0].0).await;
    assert_eq!((a.status.as_str(), a.resolved_by.as_deref()), ("resolved", Some("wf-user-1")));

    // Snoozed: a repeat of the trigger keeps it suppressed while the snooze runs.
    run(&c, "alerts.snooze", json!({"alert_key": keys[1].0, "snooze_days": 2})).await;
    let mut repeat = AlertEvent::from_tactical(&tactical.alert(keys[1].1).await.unwrap(), "webhook").unwrap();
    repeat.snoozed = false;
    repeat.counts_occurrence = true;
    let (r, _) = alert_flow::record_delivery(c.p.deps.store.as_ref(), &c.t, &repeat).await.unwrap();
    assert_eq!(r.status, "suppressed");
    // The snooze ends in Tactical (its periodic unsnooze); the next backfill re-opens it.
    tactical.change_alert(keys[1].1, AlertChange::Unsnooze).await.unwrap();
    alert_flow::backfill::<ApiError>(c.p.deps.store.as_ref(), &*tactical, &c.t).await.unwrap();
    let a = stored(&c, &keys[1].0).await;
    assert_eq!((a.status.as_str(), a.snoozed_until.as_deref()), ("active", None));
    assert_eq!(stored(&c, &keys[0].0).await.status, "resolved", "and the resolved one stays resolved");
}

#[tokio::test]
async fn only_the_tenants_own_recorded_alerts_can_be_named_and_every_refusal_is_audited() {
    let c = setup("loop-refuse").await;
    let keys = alerts(&c, 1).await;
    let other = tenant("loop-refuse-other");
    connect(&c.p, &other, &c.sim).await;
    let st = c.sim.state();
    st.reset_counters();
    let cases = [
        (&other, "alerts.resolve", json!({"alert_key": keys[0].0}), "not_found", "alert_key"),
        (&c.t, "alerts.resolve", json!({"alert_keys": [keys[0].0, "id#999999"]}), "not_found", "alert_keys[1]"),
        (&c.t, "alerts.snooze", json!({"alert_key": keys[0].0}), "validation_failed", "snooze_days"),
        (&c.t, "alerts.snooze", json!({"alert_key": keys[0].0, "snooze_days": 0}), "validation_failed", "snooze_days"),
        (&c.t, "alerts.resolve", json!({"alert_key": keys[0].0, "snooze_days": 2}), "validation_failed", "snooze_days"),
        (&c.t, "alerts.unsnooze", json!({}), "validation_failed", "alert_key"),
        (&c.t, "alerts.unsnooze", json!({"alert_keys": []}), "validation_failed", "alert_keys"),
    ];
    for (t, action, input, code, field) in cases {
        let v = fail_with(&c.p.deps, t, ALL, action, input.clone()).await;
        assert_eq!((v["code"].clone(), v["field"].clone()), (json!(code), json!(field)), "{action} {input}: {v}");
    }
    // Without the permission: refused before anything is read, and audited.
    let others: Vec<&str> = ALL.iter().copied().filter(|p| *p != perms::RMM_MANAGE_ALERTS).collect();
    for action in ["alerts.resolve", "alerts.snooze", "alerts.unsnooze"] {
        let v = fail_with(&c.p.deps, &c.t, &others, action, json!({"alert_key": keys[0].0, "snooze_days": 1})).await;
        assert_eq!(v["code"], "forbidden", "{v}");
        assert!(v["message"].as_str().unwrap().contains(perms::RMM_MANAGE_ALERTS), "{v}");
    }
    assert_eq!(st.total_requests(), 0, "nothing reached Tactical");
    assert!(!st.alert(keys[0].1).unwrap().resolved);
    let mine = audit(&c.p.deps, &c.t).await;
    let forbidden = mine.iter().filter(|r| r["error_code"] == "forbidden").count();
    assert_eq!(forbidden, 3, "{mine:?}");
    assert!(mine.iter().all(|r| r["tactical_called"] == false && r["outcome"] == "error"));
    // Refusals after the permission check (the alert keys) are audited too; validation is not an attempt.
    assert_eq!(mine.iter().filter(|r| r["error_code"] == "not_found").count(), 1, "{mine:?}");
    assert_eq!(audit(&c.p.deps, &other).await.len(), 1, "the other tenant's attempt is in its own log");
}

#[tokio::test]
async fn tickets_link_alerts_and_a_closed_ticket_resolves_them_in_one_call() {
    let c = setup("loop-tickets").await;
    let keys = alerts(&c, 3).await;
    let p = &c.p;
    let tok = admin_token(&c.t);
    let enc = |k: &str| k.replace('#', "%23");
    for (key, _) in &keys[..2] {
        let (s, v) = p
            .call(
                Function::SyncAlerts,
                "PATCH",
                &format!("/alerts/{}", enc(key)),
                &tok,
                Some(json!({"ticket_id": "T-100"})),
            )
            .await;
        assert_eq!((s, v["ticket_id"].clone()), (200, json!("T-100")), "{v}");
    }
    let linked = |v: &Value| {
        let mut k: Vec<String> =
            v["alerts"].as_array().unwrap().iter().map(|a| a["alert_key"].as_str().unwrap().to_owned()).collect();
        k.sort();
        k
    };
    let (s, v) = p.call(Function::SyncAlerts, "GET", "/alerts?ticket_id=T-100", &tok, None).await;
    assert_eq!(s, 200, "{v}");
    let mut expected = vec![keys[0].0.clone(), keys[1].0.clone()];
    expected.sort();
    assert_eq!(linked(&v), expected);

    // Moving one alert to another ticket, and unlinking.
    let path = format!("/alerts/{}", enc(&keys[1].0));
    let (s, _) = p.call(Function::SyncAlerts, "PATCH", &path, &tok, Some(json!({"ticket_id": "T-200"}))).await;
    assert_eq!(s, 200);
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts?ticket_id=T-100", &tok, None).await;
    assert_eq!(linked(&v), vec![keys[0].0.clone()]);
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts?ticket_id=T-200", &tok, None).await;
    assert_eq!(linked(&v), vec![keys[1].0.clone()]);
    let (s, v) = p.call(Function::SyncAlerts, "PATCH", &path, &tok, Some(json!({"ticket_id": null}))).await;
    assert_eq!((s, v["ticket_id"].clone()), (200, Value::Null));
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts?ticket_id=T-200", &tok, None).await;
    assert!(linked(&v).is_empty());

    // Refusals: the permission, the input, unknown alerts, other tenants.
    let read_only = token(&c.t, &[perms::SETTINGS_READ]);
    let (s, _) = p.call(Function::SyncAlerts, "PATCH", &path, &read_only, Some(json!({"ticket_id": "T-1"}))).await;
    assert_eq!(s, 403);
    for (body, field) in [
        (json!({"ticket_id": "a#b"}), "ticket_id"),
        (json!({"ticket_id": 5}), "ticket_id"),
        (json!({}), "ticket_id"),
        (json!({"ticket_id": "T-1", "status": "resolved"}), "status"),
    ] {
        let (s, v) = p.call(Function::SyncAlerts, "PATCH", &path, &tok, Some(body)).await;
        assert_eq!((s, v["field"].clone()), (400, json!(field)), "{v}");
    }
    let (s, _) =
        p.call(Function::SyncAlerts, "PATCH", "/alerts/id%23999999", &tok, Some(json!({"ticket_id": "T-1"}))).await;
    assert_eq!(s, 404);
    let other = tenant("loop-tickets-other");
    let (s, _) = p
        .call(
            Function::SyncAlerts,
            "PATCH",
            &format!("/alerts/{}", enc(&keys[2].0)),
            &admin_token(&other),
            Some(json!({"ticket_id": "T-100"})),
        )
        .await;
    assert_eq!(s, 404, "another tenant's alert does not exist for it");
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts?ticket_id=T-100", &admin_token(&other), None).await;
    assert!(linked(&v).is_empty());

    // Ticket T-100 closed: the workflow resolves its alerts in one call.
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts?ticket_id=T-100&status=active", &tok, None).await;
    let keys_of_ticket = linked(&v);
    let r = run(&c, "alerts.resolve", json!({"alert_keys": keys_of_ticket})).await;
    assert_eq!(r["alerts"][0]["ticket_id"], "T-100");
    assert!(c.sim.state().alert(keys[0].1).unwrap().resolved);
    let (_, v) = p.call(Function::SyncAlerts, "GET", "/alerts?ticket_id=T-100&status=active", &tok, None).await;
    assert!(linked(&v).is_empty());
}

#[tokio::test]
async fn a_failing_script_returns_its_exit_code_and_streams_and_env_values_stay_out() {
    let c = setup("loop-exit").await;
    let win = online(&c.sim, Plat::Windows);
    let r = run(
        &c,
        "agents.run_script",
        json!({"agent_id": win.agent_id, "script_id": 9, "env_vars": ["API_TOKEN=s3cr3t-value"], "timeout": 60}),
    )
    .await;
    assert_eq!(r["status"], "completed");
    assert_eq!(r["exit_code"], 3, "{r}");
    assert_eq!(r["stderr"], "C: is 97% full\r\n");
    assert_eq!(r["stdout"], json!(format!("Checking disk space on {}\r\n", win.hostname)));
    assert_eq!(r["output"], json!(format!("{}{}", r["stdout"].as_str().unwrap(), r["stderr"].as_str().unwrap())));
    assert!(r["execution_time"].as_f64().unwrap() > 0.0);
    let hid = r["history_id"].as_i64().expect("the run's history id");
    // One run; the history is read once before it and, while the report is on its way, a few
    // times after (bounded).
    let st = c.sim.state();
    let reads = st.request_count(RouteKind::AgentHistory);
    assert_eq!(st.request_count(RouteKind::AgentRunScript), 1);
    assert!((2..=8).contains(&reads), "{reads} history reads");
    let runs = c.sim.state().history_of(&win.agent_id);
    assert!(runs.iter().any(|(id, kind, _)| *id == hid && kind == "script_run"), "{runs:?}");
    // The audit keeps the exit code and the env var's name, never its value or the output.
    let records = audit(&c.p.deps, &c.t).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0]["result"]["exit_code"].clone(), records[0]["result"]["history_id"].clone()),
        (json!(3), json!(hid))
    );
    let text = records[0].to_string();
    assert!(!text.contains("s3cr3t") && !text.contains("97% full"), "{text}");
    assert!(text.contains("API_TOKEN"));
    // A successful script: exit code 0, empty stderr.
    let r = run(&c, "agents.run_script", json!({"agent_id": win.agent_id, "script_id": 1})).await;
    assert_eq!((r["exit_code"].clone(), r["stderr"].clone()), (json!(0), json!("")));
}

#[tokio::test]
async fn a_fire_and_forget_run_is_fetched_later_and_history_is_paged() {
    let c = setup("loop-forget").await;
    let st = c.sim.state();
    let win = online(&c.sim, Plat::Windows);
    run(&c, "agents.run_command", json!({"agent_id": win.agent_id, "command": "hostname"})).await;
    // The command's own report (150 ms later by default) is not what this test waits for.
    st.report_runs_now();
    // The agent takes its time: nothing reported until it does.
    st.set_report_delay(std::time::Duration::from_secs(3600));
    let r =
        run(&c, "agents.run_script", json!({"agent_id": win.agent_id, "script_id": 9, "wait_for_output": false})).await;
    assert_eq!(r["status"], "accepted");
    let hid = r["history_id"].as_i64().expect("history id of the run");
    let input = json!({"agent_id": win.agent_id, "history_id": hid});
    let p = run(&c, "agents.script_result", input.clone()).await;
    assert_eq!((p["status"].clone(), p["exit_code"].clone()), (json!("pending"), Value::Null));
    assert_eq!(st.report_runs_now(), 1);
    let done = run(&c, "agents.script_result", json!({"agent_id": win.agent_id, "history_id": hid.to_string()})).await;
    assert_eq!((done["status"].clone(), done["exit_code"].clone()), (json!("completed"), json!(3)));
    assert_eq!(done["stderr"], "C: is 97% full\r\n");
    assert_eq!((done["script_id"].clone(), done["type"].clone()), (json!(9), json!("script_run")));

    // History: newest first, paged by before_id.
    let page = run(&c, "agents.history", json!({"agent_id": win.agent_id, "limit": 1})).await;
    assert_eq!(page["runs"][0]["history_id"], hid);
    assert_eq!(
        (page["runs"][0]["exit_code"].clone(), page["runs"][0]["script_name"].clone()),
        (json!(3), json!("Check disk space"))
    );
    assert_eq!(page["has_more"], true);
    let next = page["next_before_id"].clone();
    let page2 = run(&c, "agents.history", json!({"agent_id": win.agent_id, "limit": 5, "before_id": next})).await;
    assert_eq!((page2["count"].clone(), page2["has_more"].clone()), (json!(1), json!(false)));
    assert_eq!(
        (page2["runs"][0]["type"].clone(), page2["runs"][0]["command"].clone()),
        (json!("cmd_run"), json!("hostname"))
    );
    assert_eq!(page2["runs"][0]["status"], "completed");

    // Unknown runs, other tenants' agents, the permission: refused, reads are not audited.
    let v = fail_with(
        &c.p.deps,
        &c.t,
        ALL,
        "agents.script_result",
        json!({"agent_id": win.agent_id, "history_id": 999999}),
    )
    .await;
    assert_eq!((v["code"].clone(), v["field"].clone()), (json!("not_found"), json!("history_id")));
    let other = tenant("loop-forget-other");
    connect(&c.p, &other, &c.sim).await;
    let v = fail_with(&c.p.deps, &other, ALL, "agents.history", json!({"agent_id": win.agent_id})).await;
    assert_eq!((v["code"].clone(), v["field"].clone()), (json!("not_found"), json!("agent_id")));
    st.reset_counters();
    let no_scripts: Vec<&str> = ALL.iter().copied().filter(|p| *p != perms::RMM_RUN_SCRIPT).collect();
    for action in ["agents.script_result", "agents.history"] {
        let v = fail_with(&c.p.deps, &c.t, &no_scripts, action, input.clone()).await;
        assert_eq!(v["code"], "forbidden", "{v}");
    }
    assert_eq!(st.total_requests(), 0);
    let records = audit(&c.p.deps, &c.t).await;
    assert!(
        records.iter().all(|r| r["action"] == "agents.run_script" || r["action"] == "agents.run_command"),
        "{records:?}"
    );
}
