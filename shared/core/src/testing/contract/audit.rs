//! rmm_audit_log: written once, finished once, listed newest first with filters and cursors.

use crate::domain::audit::{AuditFinish, AuditOutcome, AuditQuery, AuditRecord, Via};
use crate::ports::{PortError, Store};
use crate::tenant::TenantId;

/// Audit ids sort by start time: `n` is the second of the day.
fn record(t: &TenantId, n: u32, action: &str) -> AuditRecord {
    AuditRecord {
        tenant: t.clone(),
        audit_id: format!("20260101T{:02}{:02}{:02}.000Z-{n:08x}", n / 3600, n / 60 % 60, n % 60),
        action: action.into(),
        actor_user_id: "user-1".into(),
        via: Via::FunctionUrl,
        correlation_id: None,
        agent_id: Some("agent-1".into()),
        asset_id: Some(format!("as-{}", n % 2)),
        input: serde_json::json!({"cmd": "ipconfig"}),
        outcome: AuditOutcome::Pending,
        tactical_called: true,
        error_code: None,
        error_message: None,
        result: None,
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: None,
        duration_ms: None,
    }
}

pub async fn audit_records_write_once(store: &dyn Store, t: &TenantId) {
    let r = record(t, 1, "agents.run_command");
    store.put_audit(&r).await.unwrap();
    assert!(matches!(store.put_audit(&r).await, Err(PortError::ConditionFailed(_))), "an id is written once");
    let f = AuditFinish {
        outcome: AuditOutcome::Error,
        error_code: Some("agent_unreachable".into()),
        error_message: Some("offline".into()),
        result: Some(serde_json::json!({"output_bytes": 0})),
        finished_at: "2026-01-01T00:00:01Z".into(),
        duration_ms: 1000,
    };
    store.finish_audit(t, &r.audit_id, &f).await.unwrap();
    let mut want = r.clone();
    want.apply(&f);
    assert_eq!(store.get_audit(t, &r.audit_id).await.unwrap(), Some(want.clone()));
    let ok = AuditFinish { outcome: AuditOutcome::Ok, error_code: None, error_message: None, result: None, ..f };
    store.finish_audit(t, &r.audit_id, &ok).await.unwrap();
    want.apply(&ok);
    assert_eq!(
        store.get_audit(t, &r.audit_id).await.unwrap(),
        Some(want),
        "finishing again clears what it does not name"
    );
    assert!(store.finish_audit(t, "20260101T000000.000Z-deadbeef", &ok).await.is_err(), "never a half record");
    assert!(store.get_audit(t, "20260101T000000.000Z-deadbeef").await.unwrap().is_none());
}

pub async fn audit_lists_page_newest_first(store: &dyn Store, t: &TenantId) {
    for n in 0..12 {
        store
            .put_audit(&record(t, 100 + n, if n % 3 == 0 { "agents.reboot" } else { "agents.run_command" }))
            .await
            .unwrap();
    }
    let list = |q: AuditQuery| async move {
        let (mut out, mut q, mut pages) = (Vec::new(), q, 0);
        loop {
            let page = store.list_audit(t, &q).await.unwrap();
            pages += 1;
            assert!(page.records.len() <= q.limit as usize);
            out.extend(page.records.into_iter().map(|r| r.audit_id));
            match page.next_before {
                Some(b) => q.before = Some(b),
                None => return out,
            }
            assert!(pages <= 30, "paging ends");
        }
    };
    let all = list(AuditQuery { limit: 5, ..Default::default() }).await;
    let want: Vec<String> = (0..12).rev().map(|n| record(t, 100 + n, "").audit_id).collect();
    assert_eq!(all, want, "every record once, newest first");
    let reboots = list(AuditQuery { limit: 2, action: Some("agents.reboot".into()), ..Default::default() }).await;
    assert_eq!(reboots, [9, 6, 3, 0].map(|n| record(t, 100 + n, "").audit_id), "a filter reads on until the end");
    let both = list(AuditQuery {
        limit: 500,
        action: Some("agents.reboot".into()),
        asset_id: Some("as-0".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(both, [6, 0].map(|n| record(t, 100 + n, "").audit_id), "filters combine");
    let since = time::macros::datetime!(2026-01-01 00:01:50 UTC);
    let recent = list(AuditQuery { limit: 3, since: Some(since), ..Default::default() }).await;
    assert_eq!(
        recent,
        (10..12).rev().map(|n| record(t, 100 + n, "").audit_id).collect::<Vec<_>>(),
        "since is a lower bound"
    );
    let pending = list(AuditQuery { limit: 500, outcome: Some(AuditOutcome::Ok), ..Default::default() }).await;
    assert!(pending.is_empty(), "by outcome");
}
