//! Remote actions (domain/remote.rs `execute`) on the in-memory adapters: the checks before any
//! Tactical call, tenancy, output, audit records and Tactical's refusals, as
//! tests/it/remote_actions.rs checks them on LocalStack and the simulator.

mod common;

use common::{connect, synced, tenant};
use serde_json::{Value, json};
use shared::ErrorCode;
use shared::TenantId;
use shared::auth::{Caller, entitlements, perms};
use shared::domain::audit::{AuditOutcome, AuditQuery, AuditRecord, Via};
use shared::domain::remote::{ActionError, ActionRequest, execute};
use shared::domain::status::AgentStatus;
use shared::ports::AuditStore;
use shared::testing::{FakeAgent, FakeTactical, Route, TacticalAction, TestBed, config};

/// Tactical agent ids are 40 letters; the small fleet's short ones would be refused as input.
const ONLINE: &str = "AgentOnlineAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const OFFLINE: &str = "AgentOfflineBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

fn enterprise_bed() -> TestBed {
    let fleet = FakeTactical::small_fleet();
    fleet.add_agent(FakeAgent::new(301, ONLINE, "ACME-WS-9", 1, 10));
    fleet.add_agent(FakeAgent::new(302, OFFLINE, "ACME-WS-10", 1, 10));
    fleet.set_status(OFFLINE, AgentStatus::Offline);
    fleet.set_script_output(1, "C: 42% used\n");
    TestBed::with(config(&[("ENTERPRISE_REMOTE_ACTIONS", "true")]), fleet)
}

fn caller(t: &TenantId, permissions: &[&str]) -> Caller {
    Caller {
        tenant: t.clone(),
        user_id: "user-1".into(),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        entitlements: vec![entitlements::REMOTE_ACTIONS.into()],
    }
}

async fn act(bed: &TestBed, caller: &Caller, action: &str, input: Value) -> Result<Value, ActionError> {
    let req = ActionRequest { caller, via: Via::Workflow, correlation_id: Some("wf-1".into()), action, input };
    execute(&bed.deps, req).await.map(|a| serde_json::to_value(a).expect("answers serialise"))
}

async fn audit(bed: &TestBed, t: &TenantId) -> Vec<AuditRecord> {
    bed.store.list_audit(t, &AuditQuery { limit: 100, ..Default::default() }).await.unwrap().records
}

/// Every Tactical route an action could reach.
fn action_calls(bed: &TestBed) -> usize {
    [Route::RunScript, Route::RunCommand, Route::Reboot, Route::RebootAt, Route::AgentHistory, Route::Agent]
        .iter()
        .map(|r| bed.tactical.calls(*r))
        .sum()
}

#[tokio::test]
async fn without_the_enterprise_edition_nothing_reaches_tactical() {
    // The deployment switch off.
    let bed = TestBed::new();
    let t = tenant("remote-community");
    synced(&bed, &t).await;
    let all = caller(&t, &[perms::RMM_RUN_SCRIPT]);
    let e = act(&bed, &all, "agents.run_script", json!({"agent_id": ONLINE, "script_id": 1})).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::EnterpriseOnly);

    // The switch on, but the tenant has no entitlement.
    let bed = enterprise_bed();
    synced(&bed, &t).await;
    let mut no_entitlement = caller(&t, &[perms::RMM_RUN_SCRIPT, perms::RMM_REBOOT]);
    no_entitlement.entitlements.clear();
    let e = act(&bed, &no_entitlement, "agents.reboot", json!({"agent_id": ONLINE})).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::EnterpriseOnly);
    assert!(e.to_string().contains(entitlements::REMOTE_ACTIONS), "{e}");
    assert_eq!(action_calls(&bed), 0);
    assert!(bed.tactical.actions().is_empty());
}

#[tokio::test]
async fn permissions_are_checked_before_any_call_and_the_refusal_is_audited() {
    let (bed, t) = (enterprise_bed(), tenant("remote-perms"));
    synced(&bed, &t).await;
    let reader = caller(&t, &[perms::RMM_READ]);
    for (action, input) in [
        ("agents.reboot", json!({"agent_id": ONLINE})),
        ("agents.run_script", json!({"agent_id": ONLINE, "script_id": 1})),
        ("agents.run_command", json!({"agent_id": ONLINE, "command": "whoami"})),
    ] {
        let e = act(&bed, &reader, action, input).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Forbidden, "{action}: {e:?}");
    }
    assert_eq!(action_calls(&bed), 0, "no Tactical call without the permission");
    let records = audit(&bed, &t).await;
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!((r.outcome, r.tactical_called), (AuditOutcome::Error, false), "{r:?}");
        assert_eq!(r.error_code.as_deref(), Some("forbidden"));
        assert_eq!(r.agent_id.as_deref(), Some(ONLINE));
    }
}

#[tokio::test]
async fn an_action_on_another_tenants_asset_is_refused_without_a_call() {
    let bed = enterprise_bed();
    let (a, b) = (tenant("remote-owner"), tenant("remote-intruder"));
    synced(&bed, &a).await;
    connect(&bed, &b).await;
    let intruder = caller(&b, &[perms::RMM_REBOOT, perms::RMM_RUN_SCRIPT]);
    let e = act(&bed, &intruder, "agents.reboot", json!({"agent_id": ONLINE})).await.unwrap_err();
    assert_eq!((e.code(), e.field()), (ErrorCode::NotFound, Some("agent_id")));
    assert_eq!(action_calls(&bed), 0);
    assert!(bed.tactical.actions().is_empty());
    let records = audit(&bed, &b).await;
    assert_eq!(records.len(), 1, "the attempt is audited for the caller's tenant");
    assert!(!records[0].tactical_called);
    assert!(audit(&bed, &a).await.is_empty(), "and nothing lands in the owner's audit log");
}

#[tokio::test]
async fn run_script_returns_its_output_and_is_audited_before_and_after() {
    let (bed, t) = (enterprise_bed(), tenant("remote-script"));
    synced(&bed, &t).await;
    let tech = caller(&t, &[perms::RMM_RUN_SCRIPT]);
    let input = json!({"agent_id": ONLINE, "script_id": 1, "env_vars": ["TOKEN=s3cret"], "timeout": 60});
    let v = act(&bed, &tech, "agents.run_script", input).await.unwrap();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["output"], "C: 42% used\n");
    assert_eq!(v["hostname"], "ACME-WS-9");
    assert_eq!(
        bed.tactical.actions(),
        vec![TacticalAction::Script { agent_id: ONLINE.into(), script_id: 1, wait: true }]
    );

    let id = v["audit_id"].as_str().expect("the result names its audit record");
    let r = bed.store.get_audit(&t, id).await.unwrap().expect("the record");
    assert_eq!((r.outcome, r.tactical_called), (AuditOutcome::Ok, true));
    assert_eq!(
        (r.action.as_str(), r.actor_user_id.as_str(), r.correlation_id.as_deref()),
        ("agents.run_script", "user-1", Some("wf-1"))
    );
    assert!(r.finished_at.is_some() && r.duration_ms.is_some());
    assert_eq!(r.result.as_ref().map(|x| x["output_bytes"].clone()), Some(json!(12)));
    let kept = serde_json::to_string(&r).unwrap();
    assert!(kept.contains("TOKEN") && !kept.contains("s3cret"), "env var values are never audited: {kept}");
    assert!(!kept.contains("42% used"), "nor the output itself");
}

#[tokio::test]
async fn reboot_now_and_at_a_time() {
    let (bed, t) = (enterprise_bed(), tenant("remote-reboot"));
    synced(&bed, &t).await;
    let tech = caller(&t, &[perms::RMM_REBOOT]);
    let v = act(&bed, &tech, "agents.reboot", json!({"agent_id": ONLINE})).await.unwrap();
    assert_eq!((v["status"].as_str(), v["scheduled"].as_bool()), (Some("reboot_sent"), Some(false)));
    let v = act(&bed, &tech, "tacticalrmm.agents.reboot", json!({"agent_id": ONLINE, "at": "2030-01-01T10:00"}))
        .await
        .unwrap();
    assert_eq!(v["status"], "scheduled");
    assert_eq!(
        bed.tactical.actions(),
        vec![
            TacticalAction::Reboot { agent_id: ONLINE.into() },
            TacticalAction::RebootAt { agent_id: ONLINE.into(), datetime: "2030-01-01T10:00".into() },
        ]
    );
    let e = act(&bed, &tech, "agents.reboot", json!({"agent_id": ONLINE, "at": "tomorrow"})).await.unwrap_err();
    assert_eq!(e.field(), Some("at"), "a bad time is refused with its field");
    assert_eq!(bed.tactical.calls(Route::RebootAt), 1);
    assert_eq!(audit(&bed, &t).await.iter().filter(|r| r.outcome == AuditOutcome::Ok).count(), 2);
}

#[tokio::test]
async fn an_unreachable_agent_is_a_clear_error_and_audited_as_one() {
    let (bed, t) = (enterprise_bed(), tenant("remote-offline"));
    synced(&bed, &t).await;
    let tech = caller(&t, &[perms::RMM_EXECUTE_COMMAND]);
    let e =
        act(&bed, &tech, "agents.run_command", json!({"agent_id": OFFLINE, "command": "ipconfig"})).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::AgentUnreachable, "{e:?}");
    assert!(e.to_string().contains("offline or unreachable"), "{e}");
    assert!(bed.tactical.actions().is_empty());
    let r = &audit(&bed, &t).await[0];
    assert_eq!((r.outcome, r.tactical_called), (AuditOutcome::Error, true), "it was sent: {r:?}");
    assert_eq!(r.error_code.as_deref(), Some("agent_unreachable"));
}

#[tokio::test]
async fn a_second_tenant_on_the_same_bed_sees_nothing_of_the_first() {
    let bed = enterprise_bed();
    let (a, b) = (tenant("remote-iso-a"), tenant("remote-iso-b"));
    synced(&bed, &a).await;
    act(&bed, &caller(&a, &[perms::RMM_REBOOT]), "agents.reboot", json!({"agent_id": ONLINE})).await.unwrap();
    connect(&bed, &b).await;
    common::sees_nothing(&bed, &b).await;
    assert!(audit(&bed, &b).await.is_empty());
    let found =
        act(&bed, &caller(&b, &[perms::RMM_READ]), "agents.find", json!({"hostname": "ACME-WS-9"})).await.unwrap();
    assert_eq!(found["agents"], json!([]), "B's search does not find A's asset: {found}");
}
