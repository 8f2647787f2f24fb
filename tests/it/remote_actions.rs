//! Enterprise remote actions through the `remote-actions` handler (Lambda Invoke event and
//! function URL) against the simulator and LocalStack. Every input sent and every answer received
//! is checked against `schemas/remote-actions/`.

use integration_tests::schema::{Schema, remote_actions_dir};
use integration_tests::*;
use lambda_glue::Deps;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::auth::perms;
use shared::domain::asset::{ExternalEntityMapping, OrgContext, asset_from_agent};
use shared::domain::mapping::TacticalOrg;
use shared::domain::time::{now, now_rfc3339};
use shared::ports::AssetWrite;
use shared::tactical::types::BetaAgentQuery;
use shared::tactical::{Credentials, InstanceUrl, TacticalApi};
use shared::tenant::TenantId;
use tactical_sim::{AgentInfo, NewAgent, Plat, RouteKind, SimConfig, Simulator};

const ALL: &[&str] = &[perms::RMM_READ, perms::RMM_RUN_SCRIPT, perms::RMM_EXECUTE_COMMAND, perms::RMM_REBOOT];
const ACTIONS: &[&str] = &[
    "agents.find",
    "agents.get",
    "scripts.list",
    "agents.run_script",
    "agents.run_command",
    "agents.reboot",
    "agents.script_result",
    "agents.history",
    "alerts.resolve",
    "alerts.snooze",
    "alerts.unsnooze",
];

struct Ctx {
    p: Pipeline,
    sim: Simulator,
    t: TenantId,
}

async fn pipeline(enterprise: bool) -> Pipeline {
    let stack = shared_stack().await;
    let deps = deps_with(&stack, |env| {
        env.insert("ENTERPRISE_REMOTE_ACTIONS".into(), enterprise.to_string());
    })
    .await;
    let sqs = aws_sdk_sqs::Client::new(&sdk().await);
    Pipeline { stack, deps, sqs }
}

/// A connected tenant whose Tactical clients are mapped and whose agents are assets, written by
/// the sync's own constructors (no queues needed). One Linux agent is added to the fleet.
async fn setup(label: &str, enterprise: bool) -> Ctx {
    let p = pipeline(enterprise).await;
    let sim = simulator(SimConfig::default()).await;
    let st = sim.state();
    st.add_agent(NewAgent::new(st.sites()[0].id, Plat::Linux)).unwrap();
    // The agents tests act on are online when their assets are written.
    agent(&sim, Plat::Windows);
    agent(&sim, Plat::Linux);
    let t = tenant(label);
    connect(&p, &t, &sim).await;
    adopt(&p.deps, &t, &sim, |_| true).await;
    st.reset_counters();
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

/// Maps every Tactical client and makes the agents `keep` selects assets of `t`.
async fn adopt(deps: &Deps, t: &TenantId, sim: &Simulator, keep: impl Fn(&str) -> bool) {
    let api = api(deps, sim);
    let at = now_rfc3339();
    let clients = api.clients().await.unwrap();
    for c in &clients {
        deps.store.write_org_mapping(t, &TacticalOrg::from(c), &at).await.unwrap();
    }
    let page = api.beta_agents_page(&BetaAgentQuery { page: 1, page_size: 1000, ..Default::default() }).await.unwrap();
    let mut writes = Vec::new();
    for a in page.results.iter().filter(|a| keep(&a.agent_id)) {
        let client = clients.iter().find(|c| c.sites.iter().any(|s| Some(s.id) == a.site)).unwrap();
        let site = client.sites.iter().find(|s| Some(s.id) == a.site).map(|s| s.name.as_str());
        let org = OrgContext { tactical_client_id: client.id, psa_client_id: Some("psa-1"), site_name: site };
        let asset = asset_from_agent(t, a, &org, now());
        let mapping = Some(ExternalEntityMapping::for_asset(&asset, &at));
        writes.push(AssetWrite { asset, mapping });
    }
    deps.store.write_assets(t, &writes).await.unwrap();
}

fn agent(sim: &Simulator, plat: Plat) -> AgentInfo {
    let st = sim.state();
    let a = st.agents().into_iter().find(|a| a.plat == plat).expect("an agent of the platform");
    st.make_online(&a.agent_id).unwrap();
    a
}

/// A Lambda Invoke as the workflow engine sends it.
async fn invoke(deps: &Deps, t: &TenantId, perms: &[&str], action: &str, input: Value) -> Value {
    let ev = json!({
        "tenant": t.as_str(),
        "actor": {"user_id": "wf-user-1", "permissions": perms},
        "action": action,
        "input": input,
        "correlation_id": "workflow-run-7",
        "entitlements": ["rmm_remote_actions"],
    });
    let inv = lambda_glue::lambda::classify(ev).unwrap();
    assert!(matches!(inv, lambda_glue::lambda::Invocation::Direct(_)));
    remote_actions::invoke(deps, inv).await.expect("a direct invocation always answers JSON")
}

fn canonical(action: &str) -> &str {
    action.strip_prefix("tacticalrmm.").unwrap_or(action)
}

/// Runs an action that must succeed; checks input and result against the schemas.
async fn run(c: &Ctx, action: &str, input: Value) -> Value {
    Schema::remote(canonical(action), "input").assert_valid(&input);
    let v = invoke(&c.p.deps, &c.t, ALL, action, input.clone()).await;
    assert_eq!(v["ok"], true, "{action} {input} → {v}");
    Schema::remote(canonical(action), "output").assert_valid(&v["result"]);
    v["result"].clone()
}

/// Runs an action that must fail; checks the error against error.json.
async fn fail_with(deps: &Deps, t: &TenantId, perms: &[&str], action: &str, input: Value) -> Value {
    let v = invoke(deps, t, perms, action, input).await;
    assert_eq!(v["ok"], false, "{v}");
    Schema::load(&remote_actions_dir().join("error.json")).unwrap().assert_valid(&v);
    v
}

async fn fail(c: &Ctx, action: &str, input: Value) -> Value {
    fail_with(&c.p.deps, &c.t, ALL, action, input).await
}

fn remote_calls(sim: &Simulator) -> u64 {
    let st = sim.state();
    [RouteKind::AgentCmd, RouteKind::AgentRunScript, RouteKind::AgentReboot].iter().map(|r| st.request_count(*r)).sum()
}

async fn audit_records(c: &Ctx) -> Vec<Value> {
    let page =
        c.p.deps
            .store
            .list_audit(&c.t, &shared::domain::audit::AuditQuery { limit: 200, ..Default::default() })
            .await
            .unwrap();
    page.records.iter().map(|r| serde_json::to_value(r).unwrap()).collect()
}

#[test]
fn every_action_has_schemas_the_validator_fully_understands() {
    for action in ACTIONS {
        for kind in ["input", "output"] {
            let _ = Schema::remote(action, kind);
        }
    }
    let files = std::fs::read_dir(remote_actions_dir()).unwrap().count();
    assert_eq!(files, ACTIONS.len() * 2 + 1, "one input and one output schema per action, plus error.json");
    // The schemas carry the rules, not just the shapes.
    let cmd = Schema::remote("agents.run_command", "input");
    let a = "x".repeat(40);
    cmd.assert_valid(&json!({"agent_id": a, "command": "hostname", "shell": "custom", "custom_shell": "/bin/zsh"}));
    for bad in [
        json!({"agent_id": a, "command": "x", "timeout": 0}),
        json!({"agent_id": a, "command": "x", "timeout": 3601}),
        json!({"agent_id": a, "command": "x", "shell": "zsh"}),
        json!({"agent_id": a, "command": "x", "shell": "custom"}),
        json!({"agent_id": a, "command": "x", "custom_shell": "/bin/zsh"}),
        json!({"agent_id": a, "command": "x", "timout": 5}),
    ] {
        cmd.assert_invalid(&bad);
    }
    let script = Schema::remote("agents.run_script", "input");
    script.assert_valid(&json!({"agent_id": a, "script_id": "12", "timeout": 3600, "wait_for_output": false}));
    script.assert_invalid(&json!({"agent_id": a, "script_id": 12, "timeout": 3600}));
    script.assert_invalid(&json!({"agent_id": a, "script_id": 1, "env_vars": ["=x"]}));
}

#[tokio::test]
async fn community_edition_refuses_every_action_without_calling_tactical() {
    let p = pipeline(false).await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("ra-ce");
    connect(&p, &t, &sim).await;
    sim.state().reset_counters();
    let a = agent(&sim, Plat::Windows);
    for action in ACTIONS {
        let v =
            fail_with(&p.deps, &t, ALL, action, json!({"agent_id": a.agent_id, "command": "x", "script_id": 1})).await;
        assert_eq!(v["code"], "enterprise_only", "{action}: {v}");
    }
    let req = request("POST", "/actions/agents.find", Some(&enterprise_token(&t, ALL)), Some(json!({})));
    let (s, v) = read(remote_actions::handle(&p.deps, req).await);
    assert_eq!((s, v["code"].clone()), (403, json!("enterprise_only")));
    assert_eq!(sim.state().total_requests(), 0, "nothing reached Tactical");
}

#[tokio::test]
async fn permissions_are_checked_before_any_call_and_denials_are_audited() {
    let c = setup("ra-perm", true).await;
    let a = agent(&c.sim, Plat::Windows);
    let cases = [
        ("agents.find", json!({}), perms::RMM_READ),
        ("agents.get", json!({"agent_id": a.agent_id}), perms::RMM_READ),
        ("scripts.list", json!({}), perms::RMM_READ),
        ("agents.run_script", json!({"agent_id": a.agent_id, "script_id": 1}), perms::RMM_RUN_SCRIPT),
        (
            "tacticalrmm.agents.run_command",
            json!({"agent_id": a.agent_id, "command": "hostname"}),
            perms::RMM_EXECUTE_COMMAND,
        ),
        ("agents.reboot", json!({"agent_id": a.agent_id}), perms::RMM_REBOOT),
    ];
    for (action, input, needed) in cases {
        // Every permission but the one needed (and settings update, which is no substitute).
        let others: Vec<&str> = ALL.iter().copied().chain([perms::SETTINGS_UPDATE]).filter(|p| *p != needed).collect();
        let v = fail_with(&c.p.deps, &c.t, &others, action, input).await;
        assert_eq!(v["code"], "forbidden", "{action}: {v}");
        assert!(v["message"].as_str().unwrap().contains(needed), "{v}");
    }
    assert_eq!(c.sim.state().total_requests(), 0, "no Tactical call of any kind");
    let records = audit_records(&c).await;
    assert_eq!(records.len(), 3, "one record per denied side-effecting action: {records:?}");
    for r in &records {
        assert_eq!((r["outcome"].clone(), r["error_code"].clone()), (json!("error"), json!("forbidden")));
        assert_eq!(r["tactical_called"], false);
        assert_eq!(r["actor_user_id"], "wf-user-1");
        assert_eq!(r["agent_id"], json!(a.agent_id));
        assert_eq!(r["correlation_id"], "workflow-run-7");
    }
}

#[tokio::test]
async fn agents_of_another_tenant_or_never_synced_are_refused_without_a_call() {
    let c = setup("ra-own", true).await;
    let st = c.sim.state();
    // Another tenant on the same Tactical, whose assets are only the Linux agents.
    let other = tenant("ra-other");
    connect(&c.p, &other, &c.sim).await;
    let linux: Vec<String> = st.agents().iter().filter(|a| a.plat == Plat::Linux).map(|a| a.agent_id.clone()).collect();
    adopt(&c.p.deps, &other, &c.sim, |id| linux.iter().any(|l| l == id)).await;
    let win = agent(&c.sim, Plat::Windows);
    // An agent that appeared in Tactical after the last device sync.
    let fresh = st.add_agent(NewAgent::new(st.sites()[0].id, Plat::Windows)).unwrap();
    st.reset_counters();

    for (t, agent_id) in [(&other, &win.agent_id), (&c.t, &fresh.agent_id)] {
        for (action, input) in [
            ("agents.run_command", json!({"agent_id": agent_id, "command": "whoami"})),
            ("agents.run_script", json!({"agent_id": agent_id, "script_id": 1})),
            ("agents.reboot", json!({"agent_id": agent_id})),
            ("agents.get", json!({"agent_id": agent_id})),
        ] {
            let v = fail_with(&c.p.deps, t, ALL, action, input).await;
            assert_eq!(
                (v["code"].clone(), v["field"].clone()),
                (json!("not_found"), json!("agent_id")),
                "{action}: {v}"
            );
        }
    }
    assert_eq!(st.total_requests(), 0, "refused before Tactical");
    let page =
        c.p.deps
            .store
            .list_audit(&other, &shared::domain::audit::AuditQuery { limit: 50, ..Default::default() })
            .await
            .unwrap();
    assert_eq!(page.records.len(), 3, "the refused side-effecting attempts are audited");
    assert!(page.records.iter().all(|r| !r.tactical_called && r.error_code.as_deref() == Some("not_found")));
    // The tenant's own Linux agent works for the other tenant.
    st.make_online(&linux[0]).unwrap();
    let v = invoke(&c.p.deps, &other, ALL, "agents.run_command", json!({"agent_id": linux[0], "command": "hostname"}))
        .await;
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn an_inactive_integration_refuses_work() {
    let c = setup("ra-inactive", true).await;
    let a = agent(&c.sim, Plat::Windows);
    let (s, _) = c.p.call(Function::Connection, "POST", "/disconnect", &admin_token(&c.t), None).await;
    assert_eq!(s, 200);
    c.sim.state().reset_counters();
    for (action, input) in [
        ("agents.find", json!({})),
        ("scripts.list", json!({})),
        ("agents.run_command", json!({"agent_id": a.agent_id, "command": "hostname"})),
    ] {
        let v = fail(&c, action, input).await;
        assert_eq!(v["code"], "integration_inactive", "{action}: {v}");
    }
    assert_eq!(c.sim.state().total_requests(), 0);
    let records = audit_records(&c).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["error_code"], "integration_inactive");
}

#[tokio::test]
async fn run_command_returns_output_and_every_outcome_is_audited() {
    let c = setup("ra-cmd", true).await;
    let st = c.sim.state();
    let win = agent(&c.sim, Plat::Windows);
    let lin = agent(&c.sim, Plat::Linux);

    let r = run(&c, "agents.run_command", json!({"agent_id": win.agent_id, "command": "hostname"})).await;
    assert_eq!(r["output"], json!(format!("{}\r\n", win.hostname)));
    assert_eq!((r["shell"].clone(), r["truncated"].clone()), (json!("powershell"), json!(false)));
    assert_eq!(r["asset_id"], json!(shared::domain::asset::asset_id_for(&c.t, &win.agent_id)));
    let r = run(&c, "tacticalrmm.agents.run_command", json!({"agent_id": lin.agent_id, "command": "echo hi"})).await;
    assert_eq!(
        (r["output"].clone(), r["shell"].clone()),
        (json!("hi\n"), json!("bash")),
        "posix agents default to bash"
    );
    let r = run(
        &c,
        "agents.run_command",
        json!({"agent_id": lin.agent_id, "command": "echo custom", "shell": "custom", "custom_shell": "/usr/bin/zsh", "timeout": 285, "run_as_user": false}),
    )
    .await;
    assert_eq!(r["shell"], "custom");
    assert_eq!(st.request_count(RouteKind::AgentCmd), 3);

    // Offline: Tactical's 400 "Unable to contact the agent".
    st.make_offline(&win.agent_id).unwrap();
    let v = fail(&c, "agents.run_command", json!({"agent_id": win.agent_id, "command": "hostname"})).await;
    assert_eq!(v["code"], "agent_unreachable", "{v}");
    // NATS down: Tactical answers 200 "natsdown", which is not a success
    // (docs/tactical-behaviour.md#remote-actions-and-unreachable-agents).
    st.set_nats_up(false);
    let v = fail(&c, "agents.run_command", json!({"agent_id": lin.agent_id, "command": "hostname"})).await;
    assert_eq!(v["code"], "rmm_broker_down", "{v}");
    assert!(!v.to_string().contains("natsdown\""), "{v}");
    assert_eq!(st.request_count(RouteKind::AgentCmd), 5, "no retries of a non-idempotent action");

    let records = audit_records(&c).await;
    assert_eq!(records.len(), 5, "{records:?}");
    let outcomes: Vec<(String, Option<String>)> = records
        .iter()
        .rev()
        .map(|r| (r["outcome"].as_str().unwrap().to_owned(), r["error_code"].as_str().map(str::to_owned)))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("ok".into(), None),
            ("ok".into(), None),
            ("ok".into(), None),
            ("error".into(), Some("agent_unreachable".into())),
            ("error".into(), Some("rmm_broker_down".into())),
        ]
    );
    assert_eq!(records[3]["input"]["shell"], "bash", "the audit names the shell that ran");
    let first = records.last().unwrap();
    assert_eq!(first["action"], "agents.run_command");
    assert_eq!(first["via"], "workflow");
    assert_eq!(first["tactical_called"], true);
    assert_eq!(first["input"]["command"], "hostname");
    assert_eq!(first["result"]["output_bytes"], json!(win.hostname.len() + 2));
    assert!(first["duration_ms"].is_u64() && first["finished_at"].is_string());
    assert!(first.get("output").is_none() && !first.to_string().contains(&format!("{}\\r\\n", win.hostname)));
}

#[tokio::test]
async fn output_is_bounded_and_says_so() {
    let c = setup("ra-big", true).await;
    let lin = agent(&c.sim, Plat::Linux);
    let big = "é".repeat(40_000); // 80,000 bytes of two-byte characters
    let r = run(&c, "agents.run_command", json!({"agent_id": lin.agent_id, "command": format!("echo {big}")})).await;
    assert_eq!(r["truncated"], true);
    assert_eq!(r["output_bytes"], 80_001);
    let out = r["output"].as_str().unwrap();
    assert_eq!(out.len(), 64 * 1024, "cut at the bound, on a character boundary");
    assert!(out.chars().all(|ch| ch == 'é'));
    let records = audit_records(&c).await;
    assert_eq!(records[0]["result"], json!({"output_bytes": 80_001, "truncated": true}));
}

#[tokio::test]
async fn run_script_waits_forgets_and_reads_tacticals_failures() {
    let c = setup("ra-script", true).await;
    let st = c.sim.state();
    let win = agent(&c.sim, Plat::Windows);
    let r = run(
        &c,
        "agents.run_script",
        json!({"agent_id": win.agent_id, "script_id": 1, "args": ["-Verbose"], "env_vars": ["API_TOKEN=very-secret-1"], "timeout": 60}),
    )
    .await;
    assert_eq!(r["status"], "completed");
    assert!(
        r["output"].as_str().unwrap().starts_with(&format!("Get Uptime ran on {} with args [-Verbose]", win.hostname)),
        "{r}"
    );
    let r = run(
        &c,
        "agents.run_script",
        json!({"agent_id": win.agent_id, "script_id": "5", "wait_for_output": false, "timeout": 3600}),
    )
    .await;
    assert_eq!(r["status"], "accepted");
    assert_eq!(r["message"], json!(format!("Clear Print Spooler and Restart will now be run on {}", win.hostname)));

    let v = fail(&c, "agents.run_script", json!({"agent_id": win.agent_id, "script_id": 999})).await;
    assert_eq!(
        (v["code"].clone(), v["field"].clone(), v["vendor_status"].clone()),
        (json!("not_found"), json!("script_id"), json!(404))
    );
    // Offline while waiting: Tactical answers 200 "timeout".
    st.make_offline(&win.agent_id).unwrap();
    let v = fail(&c, "agents.run_script", json!({"agent_id": win.agent_id, "script_id": 1})).await;
    assert_eq!(v["code"], "agent_timeout", "{v}");
    st.make_online(&win.agent_id).unwrap();
    st.set_nats_up(false);
    let v = fail(&c, "agents.run_script", json!({"agent_id": win.agent_id, "script_id": 1})).await;
    assert_eq!(v["code"], "rmm_broker_down", "{v}");

    let records = audit_records(&c).await;
    assert_eq!(records.len(), 5);
    assert!(!serde_json::to_string(&records).unwrap().contains("very-secret-1"), "env var values are never audited");
    let first = records.last().unwrap();
    assert_eq!(first["input"]["env_var_names"], json!(["API_TOKEN"]));
    assert_eq!(first["input"]["args"], json!(["-Verbose"]));
    assert_eq!(records[0]["error_code"], "rmm_broker_down");
}

#[tokio::test]
async fn reboot_now_and_scheduled_where_tactical_supports_it() {
    let c = setup("ra-reboot", true).await;
    let st = c.sim.state();
    let win = agent(&c.sim, Plat::Windows);
    let lin = agent(&c.sim, Plat::Linux);
    let r = run(&c, "agents.reboot", json!({"agent_id": win.agent_id})).await;
    assert_eq!((r["status"].clone(), r["scheduled"].clone()), (json!("reboot_sent"), json!(false)));
    let r = run(&c, "tacticalrmm.agents.reboot", json!({"agent_id": win.agent_id, "at": "2099-01-01T10:00"})).await;
    assert_eq!(r["time"], "January 01, 2099 at 10:00 AM");
    assert!(r["task_name"].as_str().unwrap().starts_with("TacticalRMM_SchedReboot_"));

    let v = fail(&c, "agents.reboot", json!({"agent_id": win.agent_id, "at": "2020-01-01T10:00"})).await;
    assert_eq!((v["code"].clone(), v["field"].clone()), (json!("validation_failed"), json!("at")));
    assert!(v["message"].as_str().unwrap().contains("Date cannot be set in the past"), "{v}");
    assert_eq!(st.request_count(RouteKind::AgentReboot), 3);

    let v = fail(&c, "agents.reboot", json!({"agent_id": lin.agent_id, "at": "2099-01-01T10:00"})).await;
    assert_eq!((v["code"].clone(), v["field"].clone()), (json!("validation_failed"), json!("at")));
    assert!(v["message"].as_str().unwrap().contains("Windows agents only"), "{v}");
    assert_eq!(st.request_count(RouteKind::AgentReboot), 3, "refused before Tactical");

    st.make_offline(&win.agent_id).unwrap();
    let v = fail(&c, "agents.reboot", json!({"agent_id": win.agent_id})).await;
    assert_eq!(v["code"], "agent_unreachable");
    let v = fail(&c, "agents.reboot", json!({"agent_id": win.agent_id, "at": "2099-01-01T10:00"})).await;
    assert_eq!(v["code"], "agent_timeout", "Tactical's 400 \"timeout\": {v}");

    let records = audit_records(&c).await;
    let codes: Vec<Value> = records.iter().rev().map(|r| r["error_code"].clone()).collect();
    assert_eq!(
        codes,
        vec![
            Value::Null,
            Value::Null,
            json!("validation_failed"),
            json!("validation_failed"),
            json!("agent_unreachable"),
            json!("agent_timeout")
        ]
    );
    assert_eq!(records[2]["tactical_called"], false, "the posix refusal never reached Tactical");
    assert_eq!(records[3]["tactical_called"], true);
}

#[tokio::test]
async fn inputs_out_of_range_are_refused_with_the_field_named() {
    let c = setup("ra-valid", true).await;
    let a = agent(&c.sim, Plat::Windows).agent_id;
    let cases = [
        ("agents.run_command", json!({"agent_id": a, "command": "x", "timeout": 0}), "timeout"),
        ("agents.run_command", json!({"agent_id": a, "command": "x", "timeout": 3601}), "timeout"),
        ("agents.run_command", json!({"agent_id": a, "command": "x", "timeout": 600}), "timeout"),
        ("agents.run_command", json!({"agent_id": a, "command": "x", "shell": "zsh"}), "shell"),
        ("agents.run_command", json!({"agent_id": a, "command": "x", "shell": "custom"}), "custom_shell"),
        ("agents.run_command", json!({"agent_id": a, "command": "x", "timeout": "30"}), "timeout"),
        ("agents.run_command", json!({"agent_id": a, "cmd": "x"}), "cmd"),
        ("agents.run_script", json!({"agent_id": a, "script_id": 1, "timeout": 0}), "timeout"),
        (
            "agents.run_script",
            json!({"agent_id": a, "script_id": 1, "timeout": 3601, "wait_for_output": false}),
            "timeout",
        ),
        ("agents.run_script", json!({"agent_id": a, "script_id": 1, "timeout": 900}), "timeout"),
        ("agents.run_script", json!({"agent_id": a, "script_id": 1, "env_vars": ["no-equals"]}), "env_vars[0]"),
        ("agents.run_script", json!({"agent_id": a}), "script_id"),
        ("agents.reboot", json!({"agent_id": a, "at": "tomorrow"}), "at"),
        ("agents.reboot", json!({"agent_id": "x/../../clients"}), "agent_id"),
        ("agents.find", json!({"limit": 0}), "limit"),
        ("scripts.list", json!({"limit": 501}), "limit"),
    ];
    for (action, input, field) in cases {
        Schema::remote(action, "input").assert_invalid(&input);
        let v = fail(&c, action, input.clone()).await;
        assert_eq!(
            (v["code"].clone(), v["field"].clone()),
            (json!("validation_failed"), json!(field)),
            "{action} {input}: {v}"
        );
    }
    let v = fail(&c, "agents.shutdown", json!({"agent_id": a})).await;
    assert_eq!((v["code"].clone(), v["field"].clone()), (json!("not_found"), json!("action")));
    assert_eq!(c.sim.state().total_requests(), 0);
    assert!(audit_records(&c).await.is_empty(), "malformed inputs attempt nothing");
}

#[tokio::test]
async fn find_get_and_scripts_read_our_assets_and_tactical() {
    let c = setup("ra-read", true).await;
    let st = c.sim.state();
    let win = agent(&c.sim, Plat::Windows);
    let total = st.agent_count();

    let r = run(&c, "agents.find", json!({})).await;
    assert_eq!(
        (r["count"].clone(), r["total"].clone(), r["source"].clone()),
        (json!(total), json!(total), json!("local"))
    );
    let r = run(&c, "tacticalrmm.agents.find", json!({"query": win.hostname.to_lowercase(), "limit": 5})).await;
    let found = r["agents"].as_array().unwrap().iter().find(|a| a["agent_id"] == json!(win.agent_id)).unwrap();
    assert_eq!(found["agent_id"], json!(win.agent_id));
    assert_eq!(found["organization_id"], json!(win.client_id.to_string()));
    assert_eq!(found["organization_name"], json!(win.client_name));
    assert_eq!((found["agent_online"].clone(), found["status"].clone()), (json!(true), json!("online")));
    let asset_id = found["asset_id"].as_str().unwrap().to_owned();
    let r = run(&c, "agents.find", json!({"asset_id": asset_id})).await;
    assert_eq!(r["agents"][0]["agent_id"], json!(win.agent_id));
    let r = run(&c, "agents.find", json!({"agent_id": win.agent_id, "hostname": win.hostname})).await;
    assert_eq!(r["count"], 1);
    let r = run(&c, "agents.find", json!({"limit": 2})).await;
    assert_eq!((r["count"].clone(), r["has_more"].clone()), (json!(2), json!(true)));
    assert_eq!(st.total_requests(), 0, "local finds never call Tactical");

    // Live: the beta list with search=, never ?agent_id= (a 500 in Tactical).
    let r = run(&c, "agents.find", json!({"query": win.hostname, "live": true})).await;
    assert_eq!(r["source"], "tacticalrmm");
    let live = r["agents"].as_array().unwrap().iter().find(|a| a["agent_id"] == json!(win.agent_id)).unwrap().clone();
    assert_eq!(live["asset_id"], json!(asset_id));
    assert_eq!(live["site_name"], json!(win.site_name));
    let r = run(&c, "agents.find", json!({"agent_id": win.agent_id, "live": true})).await;
    assert_eq!(r["agents"][0]["hostname"], json!(win.hostname));
    // Tactical's search= also matches the services JSON: a Windows agent whose services name
    // the next agent's host comes back from Tactical, and `query` leaves it out.
    let site = win.site_id;
    let named_in = st.add_agent(NewAgent::new(site, Plat::Windows)).unwrap();
    let named = st.add_agent(NewAgent::new(site, Plat::Windows)).unwrap();
    assert!(!named_in.hostname.to_lowercase().contains(&named.hostname.to_lowercase()));
    st.reset_counters();
    let r = run(&c, "agents.find", json!({"query": named.hostname, "live": true})).await;
    let ids: Vec<&Value> = r["agents"].as_array().unwrap().iter().map(|a| &a["agent_id"]).collect();
    assert!(ids.contains(&&json!(named.agent_id)), "{r}");
    assert!(!ids.contains(&&json!(named_in.agent_id)), "host names only: {r}");
    assert!(r["total"].as_u64().unwrap() >= 2, "Tactical matched the services too: {r}");
    assert!(
        st.requests().iter().all(|q| !q.query.as_deref().unwrap_or_default().contains("agent_id")),
        "no ?agent_id= on beta"
    );
    // An agent of a Tactical client this tenant has not synced is left out of live results.
    let client = st.add_client("Not Synced Ltd");
    let site = st.add_site(client, "Main").unwrap();
    let stranger = st.add_agent(NewAgent::new(site, Plat::Windows)).unwrap();
    let r = run(&c, "agents.find", json!({"hostname": stranger.hostname, "live": true})).await;
    assert_eq!((r["count"].clone(), r["excluded"].clone()), (json!(0), json!(1)), "{r}");
    // The key is narrowed to another client than win's: win's organization is still mapped, but
    // live rows of it are left out (the beta list ignores the key's scope, `/clients/` does not).
    let other = st.clients().into_iter().find(|x| x.id != win.client_id && x.agent_count > 0).unwrap();
    st.add_api_key(tactical_sim::ApiKey::clients("SIMKEYNARROWED0000000000000001", vec![other.id]));
    let admin = admin_token(&c.t);
    let use_key = |key: &'static str| {
        let body = json!({"instance_url": c.sim.base_url(), "auth_mode": "api_key", "api_key": key});
        let (p, admin) = (&c.p, admin.clone());
        async move {
            let (s, v) = p.call(Function::Connection, "PATCH", "/settings", &admin, Some(body)).await;
            assert_eq!(s, 200, "{v}");
            let (_, v) = p.call(Function::Connection, "POST", "/test", &admin, Some(json!({}))).await;
            assert_eq!(v["success"], true, "{v}");
        }
    };
    use_key("SIMKEYNARROWED0000000000000001").await;
    let r = run(&c, "agents.find", json!({"hostname": win.hostname, "live": true})).await;
    assert_eq!((r["count"].clone(), r["excluded"].clone()), (json!(0), json!(1)), "out of the key's scope: {r}");
    use_key(tactical_sim::DEFAULT_API_KEY).await;

    let r = run(&c, "agents.get", json!({"agent_id": win.agent_id})).await;
    let g = &r["agent"];
    assert_eq!((g["hostname"].clone(), g["source"].clone()), (json!(win.hostname), json!("tacticalrmm")));
    assert_eq!(g["asset_id"], json!(asset_id));
    assert_eq!(g["organization_name"], json!(win.client_name));
    assert_eq!(g["os_name"], json!(win.operating_system));
    assert_eq!(g["status"], "online");
    st.make_overdue(&win.agent_id).unwrap();
    let r = run(&c, "agents.get", json!({"agent_id": win.agent_id})).await;
    assert_eq!((r["agent"]["status"].clone(), r["agent"]["agent_online"].clone()), (json!("overdue"), json!(false)));

    let r = run(&c, "scripts.list", json!({})).await;
    let names: Vec<&str> = r["scripts"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"Restart Service") && !names.contains(&"Old cleanup"),
        "hidden scripts stay hidden: {names:?}"
    );
    let env = r["scripts"].as_array().unwrap().iter().find(|s| s["name"] == "Echo env").unwrap();
    assert_eq!(env["env_var_names"], json!(["FOO"]), "default env values are not returned");
    let r = run(&c, "scripts.list", json!({"query": "SERVICE", "limit": 1})).await;
    assert_eq!(r["scripts"][0]["name"], "Restart Service");
    let r = run(&c, "scripts.list", json!({"include_community": false, "limit": 500})).await;
    assert!(r["scripts"].as_array().unwrap().iter().all(|s| s["script_type"] == "userdefined"));
    assert!(audit_records(&c).await.is_empty(), "reads are not audited");
}

#[tokio::test]
async fn the_function_url_takes_tenant_and_permissions_from_the_token_and_serves_the_audit_log() {
    let c = setup("ra-url", true).await;
    let a = agent(&c.sim, Plat::Windows);
    let input = json!({"agent_id": a.agent_id, "command": "whoami"});
    let (s, v) = url(&c, None, "POST", "/actions/agents.run_command", Some(input.clone())).await;
    assert_eq!((s, v["code"].clone()), (401, json!("unauthenticated")));
    let reader = enterprise_token(&c.t, &[perms::RMM_READ]);
    let (s, v) = url(&c, Some(&reader), "POST", "/actions/agents.run_command", Some(input.clone())).await;
    assert_eq!((s, v["code"].clone()), (403, json!("forbidden")));
    assert_eq!(remote_calls(&c.sim), 0);

    let runner = enterprise_token(&c.t, &[perms::RMM_EXECUTE_COMMAND]);
    let (s, v) =
        url(&c, Some(&runner), "POST", "/lambda-url/remote-actions/actions/agents.run_command", Some(input.clone()))
            .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true);
    Schema::remote("agents.run_command", "output").assert_valid(&v["result"]);
    // A token of another tenant cannot reach this tenant's agent.
    let stranger = enterprise_token(&tenant("ra-url-x"), &[perms::RMM_EXECUTE_COMMAND]);
    let (s, v) = url(&c, Some(&stranger), "POST", "/actions/agents.run_command", Some(input.clone())).await;
    assert_eq!(s, 409, "that tenant has no integration: {v}");
    st_offline(&c, &a.agent_id);
    let (s, v) = url(&c, Some(&runner), "POST", "/actions/agents.run_command", Some(input.clone())).await;
    assert_eq!((s, v["code"].clone(), v["ok"].clone()), (502, json!("agent_unreachable"), json!(false)));
    let (s, _) = url(&c, Some(&runner), "GET", "/actions/agents.run_command", None).await;
    assert_eq!(s, 405);
    let (s, v) = url(
        &c,
        Some(&runner),
        "POST",
        "/actions/agents.run_command",
        Some(json!({"agent_id": a.agent_id, "command": "x", "timeout": 0})),
    )
    .await;
    assert_eq!((s, v["field"].clone()), (400, json!("timeout")));

    // The audit log: an rmm permission (not settings), newest first, paged.
    let (s, _) = url(&c, Some(&runner), "GET", "/audit", None).await;
    assert_eq!(s, 403, "the audit log needs rmm:audit_read");
    let (s, _) = url(&c, Some(&admin_token(&c.t)), "GET", "/audit", None).await;
    assert_eq!(s, 403, "settings administrators do not read what ran where");
    let admin = enterprise_token(&c.t, &[perms::RMM_AUDIT_READ]);
    let (s, v) = url(&c, Some(&admin), "GET", "/audit", None).await;
    assert_eq!(s, 200, "{v}");
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 3, "denied, ok, unreachable: {v}");
    assert_eq!(records[0]["error_code"], "agent_unreachable");
    assert_eq!(records[1]["outcome"], "ok");
    assert_eq!(records[2]["error_code"], "forbidden");
    assert!(records.iter().all(|r| r["via"] == "function_url" && r["actor_user_id"] == "test-user"));
    let (_, p1) = url(&c, Some(&admin), "GET", "/audit?limit=2", None).await;
    assert_eq!(p1["records"].as_array().unwrap().len(), 2);
    let before = p1["next_before"].as_str().expect("a next page").to_owned();
    let (_, p2) = url(&c, Some(&admin), "GET", &format!("/audit?limit=2&before={before}"), None).await;
    assert_eq!(p2["records"].as_array().unwrap().len(), 1);
    assert_eq!(p2["records"][0]["audit_id"], records[2]["audit_id"]);
    assert!(p2.get("next_before").is_none(), "{p2}");
    let (s, v) = url(&c, Some(&admin), "GET", "/audit?before=x%23y", None).await;
    assert_eq!((s, v["field"].clone()), (400, json!("before")));

    // Filters: by outcome, error, agent, actor, action and start time; they combine.
    let ids = |v: &Value| -> Vec<String> {
        v["records"].as_array().unwrap().iter().map(|r| r["audit_id"].as_str().unwrap().to_owned()).collect()
    };
    let (_, v) = url(&c, Some(&admin), "GET", "/audit?outcome=ok", None).await;
    assert_eq!(ids(&v), vec![records[1]["audit_id"].as_str().unwrap()], "{v}");
    let (_, v) = url(&c, Some(&admin), "GET", "/audit?outcome=error&limit=200", None).await;
    assert_eq!(ids(&v), vec![records[0]["audit_id"].as_str().unwrap(), records[2]["audit_id"].as_str().unwrap()]);
    let (_, v) = url(&c, Some(&admin), "GET", &format!("/audit?agent_id={}&outcome=ok", a.agent_id), None).await;
    assert_eq!(ids(&v).len(), 1, "{v}");
    let (_, v) = url(&c, Some(&admin), "GET", "/audit?actor=someone-else", None).await;
    assert!(ids(&v).is_empty(), "{v}");
    let (_, v) = url(&c, Some(&admin), "GET", "/audit?action=agents.run_command&actor=test-user", None).await;
    assert_eq!(ids(&v).len(), 3, "{v}");
    let (_, v) = url(&c, Some(&admin), "GET", "/audit?since=2999-01-01T00:00:00Z", None).await;
    assert!(ids(&v).is_empty(), "nothing started in the future: {v}");
    let (_, v) = url(&c, Some(&admin), "GET", "/audit?since=2000-01-01T00:00:00Z", None).await;
    assert_eq!(ids(&v).len(), 3, "{v}");
    for (q, field) in [("outcome=maybe", "outcome"), ("since=yesterday", "since"), ("action=", "action")] {
        let (s, v) = url(&c, Some(&admin), "GET", &format!("/audit?{q}"), None).await;
        assert_eq!((s, v["field"].clone()), (400, json!(field)), "{q}: {v}");
    }
}

async fn url(c: &Ctx, tok: Option<&str>, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    read(remote_actions::handle(&c.p.deps, request(method, path, tok, body)).await)
}

fn st_offline(c: &Ctx, agent_id: &str) {
    c.sim.state().make_offline(agent_id).unwrap();
}

#[tokio::test]
async fn the_workflow_event_is_validated() {
    let p = pipeline(true).await;
    let cases = [
        (json!({"tenant": "a#b", "actor": {"user_id": "u", "permissions": []}, "action": "agents.find"}), "tenant"),
        (json!({"tenant": "t1", "action": "agents.find"}), "actor"),
        (
            json!({"tenant": "t1", "actor": {"user_id": " ", "permissions": []}, "action": "agents.find"}),
            "actor.user_id",
        ),
        (json!({"tenant": "t1", "actor": {"user_id": "u"}, "action": "agents.find", "tenant_id": "t2"}), "tenant_id"),
        (
            json!({"tenant": "t1", "actor": {"user_id": "u", "permissions": ["rmm:read"]}, "action": "agents.find", "input": [1], "entitlements": ["rmm_remote_actions"]}),
            "input",
        ),
    ];
    for (ev, field) in cases {
        let v = remote_actions::invoke(&p.deps, lambda_glue::lambda::Invocation::Direct(ev.clone())).await.unwrap();
        assert_eq!(v["ok"], false, "{ev}");
        assert_eq!(v["field"], json!(field), "{ev} → {v}");
    }
}

#[test]
fn the_function_timeout_fits_the_longest_wait_and_the_audit_writes() {
    let text = std::fs::read_to_string(devtools::provision::template_path()).unwrap();
    let t: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let f = &t["Resources"]["RemoteActionsFunction"]["Properties"];
    let timeout = f["Timeout"].as_u64().unwrap();
    let longest = shared::tactical::policy::MAX_ACTION_WAIT.as_secs();
    assert!(timeout >= longest + 20 && timeout <= 900, "Timeout {timeout} must leave room after a {longest} s wait");
    assert_eq!(
        shared::tactical::policy::action_http_timeout(shared::domain::remote::MAX_WAITED_TIMEOUT_SECS as u32),
        shared::tactical::policy::MAX_ACTION_WAIT,
        "the longest accepted timeout is exactly the longest wait"
    );
    let methods = f["FunctionUrlConfig"]["Cors"]["AllowMethods"].as_sequence().unwrap();
    assert!(methods.iter().any(|m| m == "GET") && methods.iter().any(|m| m == "POST"));
}
