use super::audit::{Audit, FINISH_ATTEMPTS};
use super::error::{map_action_error, tactical_error};
use super::*;
use crate::auth::{Caller, perms};
use crate::domain::audit::{AuditFinish, AuditOutcome, AuditPage, AuditQuery, AuditRecord, Via};
use crate::error::ErrorCode;
use crate::ports::{AuditStore, PortError};
use crate::tactical::TacticalError;
use crate::tactical::policy::MAX_ACTION_OUTPUT;
use crate::tactical::types::{AlertChange, HistoryRow};
use crate::tenant::TenantId;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const AGENT: &str = "gdINOUXzJUGNddnBSRPsWGqLrrlIIrEJEkXGBvcL";

fn err(action: Action, v: Value) -> ActionError {
    Input::parse(action, &v).unwrap_err()
}

#[test]
fn names_with_and_without_the_original_prefix() {
    assert_eq!(Action::parse("tacticalrmm.agents.run_command"), Some(Action::RunCommand));
    assert_eq!(Action::parse("agents.reboot"), Some(Action::Reboot));
    assert_eq!(Action::parse("agents.shutdown"), None);
    assert!(Action::ALL.iter().filter(|a| a.side_effecting()).all(|a| a.permission() != perms::RMM_READ));
}

#[test]
fn validation_names_the_field() {
    let cases = [
        (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "timeout": 0}), "timeout"),
        (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "timeout": 3601}), "timeout"),
        (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "timeout": 600}), "timeout"),
        (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "shell": "zsh"}), "shell"),
        (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "shell": "custom"}), "custom_shell"),
        (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "custom_shell": "/bin/zsh"}), "custom_shell"),
        (Action::RunCommand, json!({"agent_id": AGENT, "command": "  "}), "command"),
        (Action::RunCommand, json!({"agent_id": "short", "command": "x"}), "agent_id"),
        (Action::RunCommand, json!({"agent_id": AGENT}), "command"),
        (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "timout": 5}), "timout"),
        (Action::RunScript, json!({"agent_id": AGENT, "script_id": "abc"}), "script_id"),
        (Action::RunScript, json!({"agent_id": AGENT, "script_id": 1, "env_vars": ["1X=y"]}), "env_vars[0]"),
        (Action::RunScript, json!({"agent_id": AGENT, "script_id": 1, "timeout": 3600}), "timeout"),
        (Action::RunScript, json!({"agent_id": AGENT, "script_id": 1, "args": "x"}), "args"),
        (Action::Reboot, json!({"agent_id": AGENT, "at": "2030-01-01 10:00"}), "at"),
        (Action::AgentsFind, json!({"limit": 201}), "limit"),
        (Action::ScriptsList, json!({"limit": 0}), "limit"),
        (Action::AgentsGet, json!([]), "input"),
    ];
    for (action, input, field) in cases {
        let e = err(action, input.clone());
        assert_eq!((e.code(), e.field()), (ErrorCode::ValidationFailed, Some(field)), "{input}: {e:?}");
    }
}

#[test]
fn accepted_inputs_get_the_original_defaults() {
    match Input::parse(Action::RunScript, &json!({"agent_id": AGENT, "script_id": "12"})).unwrap() {
        Input::RunScript { req, .. } => {
            assert_eq!((req.script_id, req.timeout, req.wait, req.run_as_user), (12, 90, true, false));
        }
        other => panic!("{other:?}"),
    }
    let long = Input::parse(
        Action::RunScript,
        &json!({"agent_id": AGENT, "script_id": 3, "timeout": 3600, "wait_for_output": false}),
    );
    assert!(long.is_ok(), "long scripts are fine when nobody waits");
    match Input::parse(Action::RunCommand, &json!({"agent_id": AGENT, "command": "hostname"})).unwrap() {
        Input::RunCommand { req, shell_given, .. } => {
            assert_eq!((req.shell.as_str(), req.timeout, shell_given), ("powershell", 30, false));
        }
        other => panic!("{other:?}"),
    }
    assert!(Input::parse(Action::Reboot, &json!({"agent_id": AGENT, "at": "2030-01-01T10:00"})).is_ok());
    assert!(Input::parse(Action::AgentsFind, &Value::Null).is_ok());
}

#[test]
fn audit_summaries_keep_no_env_values() {
    let input = Input::parse(
        Action::RunScript,
        &json!({"agent_id": AGENT, "script_id": 1, "env_vars": ["API_TOKEN=s3cr3t-value"], "args": ["-Name", "x"]}),
    )
    .unwrap();
    let s = input.audit_summary().to_string();
    assert!(!s.contains("s3cr3t"), "{s}");
    assert!(s.contains("API_TOKEN"), "{s}");
    let script = Input::parse(
        Action::RunScript,
        &json!({"agent_id": AGENT, "script_id": 1, "args": ["-User", "bob", "-Password", "Hunter2"]}),
    )
    .unwrap();
    let s = script.audit_summary().to_string();
    assert!(!s.contains("Hunter2") && s.contains("bob"), "{s}");
    let cmd =
        Input::parse(Action::RunCommand, &json!({"agent_id": AGENT, "command": "net user bob Hunter2 --token=tok123"}))
            .unwrap();
    let s = cmd.audit_summary().to_string();
    assert!(!s.contains("tok123"), "{s}");
    assert!(!s.contains(&hex::encode(Sha256::digest(b"net user bob Hunter2 --token=tok123"))), "{s}");
    let cmd = Input::parse(Action::RunCommand, &json!({"agent_id": AGENT, "command": "x".repeat(5000)})).unwrap();
    let v = cmd.audit_summary();
    assert_eq!(v["command"].as_str().unwrap().len(), 1000);
    assert_eq!(v["command_bytes"], 5000);
}

#[test]
fn tactical_failures_keep_their_kind_and_vendor_status() {
    assert_eq!(tactical_error(TacticalError::AgentUnreachable, true).code(), ErrorCode::AgentUnreachable);
    assert_eq!(tactical_error(TacticalError::BrokerDown, true).code(), ErrorCode::RmmBrokerDown);
    let t = tactical_error(TacticalError::Timeout(std::time::Duration::from_secs(45)), true);
    assert_eq!(t.code(), ErrorCode::AgentTimeout);
    assert_eq!(
        tactical_error(TacticalError::Timeout(std::time::Duration::from_secs(5)), false).code(),
        ErrorCode::TacticalUnreachable
    );
    let r = tactical_error(TacticalError::Rejected { status: 400, message: "nope".into() }, true);
    assert_eq!((r.code(), r.vendor_status()), (ErrorCode::TacticalError, Some(400)));
    let nf = map_action_error(TacticalError::NotFound {
        path: "x".into(),
        detail: Some("No Script matches the given query.".into()),
    });
    assert_eq!(nf.field(), Some("script_id"));
}

fn row(v: Value) -> HistoryRow {
    serde_json::from_value(v).unwrap()
}

#[test]
fn run_results_are_read_from_any_shape_tactical_stores() {
    let agent = row(json!({"id": 7, "type": "script_run", "script": 9,
        "script_results": {"id": 7, "stdout": "ok\n", "stderr": "bad\n", "retcode": 3, "execution_time": 0.25}}));
    let r = run_result(&agent).unwrap();
    assert_eq!(
        (r.exit_code, r.stdout.as_str(), r.stderr.as_str(), r.execution_time),
        (Some(3), "ok\n", "bad\n", Some(0.25))
    );
    // A server-side run stores its time as a "%.4f" string.
    let server = row(
        json!({"id": 8, "type": "script_run", "script_results": {"stdout": "", "stderr": "", "retcode": "0", "execution_time": "1.5000"}}),
    );
    assert_eq!(run_result(&server).map(|r| (r.exit_code, r.execution_time)), Some((Some(0), Some(1.5))));
    assert_eq!(run_result(&row(json!({"id": 9, "type": "script_run", "script_results": null}))), None, "pending");
    assert_eq!(run_result(&row(json!({"id": 9, "type": "script_run", "script_results": {}}))), None);
    let cmd = row(json!({"id": 10, "type": "cmd_run", "command": "hostname", "results": "WIN-1\r\n"}));
    assert_eq!(run_result(&cmd).map(|r| (r.exit_code, r.stdout)), Some((None, "WIN-1\r\n".to_owned())));
    let big =
        row(json!({"id": 11, "type": "script_run", "script_results": {"stdout": "x".repeat(70_000), "retcode": 0}}));
    let r = run_result(&big).unwrap();
    assert!(r.truncated && r.stdout.len() == MAX_ACTION_OUTPUT && r.stdout_bytes == 70_000);
    let odd = row(
        json!({"id": 12, "type": "task_run", "script_results": {"stdout": 5, "retcode": [], "execution_time": -1}}),
    );
    assert_eq!(run_result(&odd).map(|r| (r.exit_code, r.stdout, r.execution_time)), Some((None, String::new(), None)));
}

#[test]
fn alert_inputs_name_their_field() {
    let cases = [
        (Action::AlertsSnooze, json!({"alert_key": "id#1"}), "snooze_days"),
        (Action::AlertsSnooze, json!({"alert_key": "id#1", "snooze_days": 366}), "snooze_days"),
        (Action::AlertsResolve, json!({"alert_key": "id#1", "snooze_days": 1}), "snooze_days"),
        (Action::AlertsResolve, json!({"alert_key": "id#1", "alert_keys": ["id#2"]}), "alert_keys"),
        (Action::AlertsUnsnooze, json!({"alert_keys": ["id#1", ""]}), "alert_keys[1]"),
        (Action::AlertsUnsnooze, json!({"alert_keys": vec!["k"; 101]}), "alert_keys"),
        (Action::AlertsResolve, json!({"alert_id": 5}), "alert_id"),
        (Action::ScriptResult, json!({"agent_id": AGENT, "history_id": "x"}), "history_id"),
        (Action::History, json!({"agent_id": AGENT, "limit": 0}), "limit"),
        (Action::History, json!({"agent_id": AGENT, "before_id": -1}), "before_id"),
    ];
    for (action, input, field) in cases {
        let e = err(action, input.clone());
        assert_eq!((e.code(), e.field()), (ErrorCode::ValidationFailed, Some(field)), "{input}: {e:?}");
    }
    match Input::parse(Action::AlertsSnooze, &json!({"alert_keys": ["a", "b", "a"], "snooze_days": 2})).unwrap() {
        Input::Alerts { keys, change, .. } => {
            assert_eq!((keys, change), (vec!["a".to_owned(), "b".to_owned()], AlertChange::Snooze { days: 2 }));
        }
        other => panic!("{other:?}"),
    }
}

/// An audit store whose writes can be made to fail.
#[derive(Default)]
struct FlakyAudit {
    fail_put: bool,
    fail_finish: bool,
    puts: std::sync::Mutex<Vec<AuditRecord>>,
    finishes: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl AuditStore for FlakyAudit {
    async fn put_audit(&self, record: &AuditRecord) -> Result<(), PortError> {
        if self.fail_put {
            return Err(PortError::Throttled);
        }
        self.puts.lock().unwrap().push(record.clone());
        Ok(())
    }
    async fn finish_audit(&self, _: &TenantId, _: &str, _: &AuditFinish) -> Result<(), PortError> {
        self.finishes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.fail_finish { Err(PortError::Other("down".into())) } else { Ok(()) }
    }
    async fn get_audit(&self, _: &TenantId, _: &str) -> Result<Option<AuditRecord>, PortError> {
        Ok(None)
    }
    async fn list_audit(&self, _: &TenantId, _: &AuditQuery) -> Result<AuditPage, PortError> {
        Ok(AuditPage { records: vec![], next_before: None })
    }
}

fn caller() -> Caller {
    Caller {
        tenant: TenantId::parse("t1").unwrap(),
        user_id: "u1".into(),
        permissions: vec![],
        entitlements: vec![crate::auth::entitlements::REMOTE_ACTIONS.into()],
    }
}

fn reboot_request(c: &Caller) -> ActionRequest<'_> {
    ActionRequest { caller: c, via: Via::Workflow, correlation_id: None, action: "agents.reboot", input: json!({}) }
}

#[tokio::test]
async fn no_audit_record_no_call() {
    let store = FlakyAudit { fail_put: true, ..Default::default() };
    let c = caller();
    let req = reboot_request(&c);
    let mut audit = Audit::new(&store, &req, Action::Reboot, Some(AGENT.into()), json!({}));
    let ran = std::sync::atomic::AtomicBool::new(false);
    let r = audit
        .around(async {
            ran.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok((json!({}), json!({})))
        })
        .await;
    assert_eq!(r.unwrap_err().code(), ErrorCode::Internal);
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "the action never ran");
    assert_eq!(store.finishes.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_lost_outcome_is_retried_and_the_result_still_returned() {
    let store = FlakyAudit { fail_finish: true, ..Default::default() };
    let c = caller();
    let req = reboot_request(&c);
    let mut audit = Audit::new(&store, &req, Action::Reboot, Some(AGENT.into()), json!({}));
    let r = audit.around(async { Ok(("reboot_sent", json!({}))) }).await;
    assert_eq!(r.unwrap().result, "reboot_sent", "the reboot happened: say so");
    assert_eq!(store.finishes.load(std::sync::atomic::Ordering::SeqCst), FINISH_ATTEMPTS);
    let puts = store.puts.lock().unwrap();
    assert_eq!((puts.len(), puts[0].outcome, puts[0].tactical_called), (1, AuditOutcome::Pending, true));
}

#[test]
fn answers_keep_their_wire_shape() {
    use super::reboot::{RebootDone, RebootSchedule, RebootStatus};
    let agent = AgentRef {
        agent_id: AgentId::parse("agent_id", AGENT.into()).unwrap(),
        asset_id: "a1".into(),
        hostname: "WIN-1".into(),
    };
    let now = RebootDone { agent: agent.clone(), status: RebootStatus::RebootSent, scheduled: false, schedule: None };
    let answer =
        ActionAnswer::Acted(Audited { result: Acted::Reboot(now), audit_id: "au1".into(), duration_ms: Some(3) });
    assert_eq!(
        serde_json::to_value(&answer).unwrap(),
        json!({"agent_id": AGENT, "asset_id": "a1", "hostname": "WIN-1", "status": "reboot_sent", "scheduled": false,
            "audit_id": "au1", "duration_ms": 3})
    );
    let schedule = Some(RebootSchedule { at: "2030-01-01T10:00".into(), time: "t".into(), task_name: "n".into() });
    let later = RebootDone { agent, status: RebootStatus::Scheduled, scheduled: true, schedule };
    let v = serde_json::to_value(&later).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["at"].as_str(), v["task_name"].as_str()),
        (Some("scheduled"), Some("2030-01-01T10:00"), Some("n"))
    );

    let local = AgentList {
        agents: vec![],
        count: 0,
        total: 0,
        has_more: false,
        excluded: None,
        source: agents::Source::Local,
    };
    assert_eq!(
        serde_json::to_value(&local).unwrap(),
        json!({"agents": [], "count": 0, "total": 0, "has_more": false, "source": "local"}),
        "a local listing has no `excluded`"
    );

    let row = row(json!({"id": 4, "type": "cmd_run", "time": "2026-11-29T15:00:00Z", "results": null}));
    let v = serde_json::to_value(history::HistoryEntry::of(&row)).unwrap();
    assert_eq!(
        (v["time"].as_str(), v["status"].as_str(), &v["exit_code"]),
        (Some("2026-11-29T15:00:00Z"), Some("pending"), &Value::Null)
    );
}
