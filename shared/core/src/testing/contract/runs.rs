//! Integrations, sync runs, their locks and seen records.

use crate::domain::integration::{AuthMode, IntegrationPatch, Schedule, ScheduleKind, WebhookDigests};
use crate::domain::sync_run::new_run_id;
use crate::domain::{SyncCounts, SyncRun, SyncRunStatus};
use crate::messages::{SyncType, Trigger};
use crate::ports::{PortError, RunProgress, StartOutcome, Store};
use crate::tactical::InstanceUrl;
use crate::tenant::TenantId;

pub fn sample_run(tenant: &TenantId, st: SyncType) -> SyncRun {
    SyncRun {
        tenant: tenant.clone(),
        run_id: new_run_id(),
        sync_type: st,
        trigger: Trigger::Manual,
        status: SyncRunStatus::Queued,
        started_at: crate::domain::time::now_rfc3339(),
        finished_at: None,
        counts: SyncCounts::default(),
        pending: 1,
        errors: vec![],
        message: None,
    }
}

fn progress(processed: i64, pending: i64, item: Option<&str>) -> RunProgress {
    RunProgress {
        counts: SyncCounts { items_processed: processed, ..Default::default() },
        pending_delta: pending,
        work_item: item.map(str::to_owned),
        ..Default::default()
    }
}

pub async fn integrations_patch_only_what_they_name(store: &dyn Store, t: &TenantId) {
    assert!(store.get_integration(t).await.unwrap().is_none(), "a new tenant has no integration");
    let sched = Schedule { enabled: true, interval_minutes: 30 };
    let first = IntegrationPatch { schedules: vec![(ScheduleKind::DeviceSync, sched)], ..Default::default() };
    let created = store.patch_integration(t, &first).await.unwrap();
    assert_eq!(created.tenant, *t);
    assert!(!created.is_active, "created inactive");
    let creds = IntegrationPatch {
        instance_url: Some(InstanceUrl::parse("https://api.example.com").unwrap()),
        auth_mode: Some(AuthMode::ApiKey),
        sync_error: Some(Some("boom".into())),
        ..Default::default()
    };
    let after = store.patch_integration(t, &creds).await.unwrap();
    assert_eq!(after.device_sync, Some(sched), "a patch never wipes what it does not name");
    assert_eq!(after.auth_mode, Some(AuthMode::ApiKey));
    assert_eq!(after.sync_error.as_deref(), Some("boom"));
    let cleared =
        store.patch_integration(t, &IntegrationPatch { sync_error: Some(None), ..Default::default() }).await.unwrap();
    assert_eq!(cleared.sync_error, None, "Some(None) clears a field");
    assert_eq!(cleared.instance_url, after.instance_url);
    assert_eq!(store.get_integration(t).await.unwrap(), Some(cleared), "the patch returns the stored state");
}

/// `only_without_webhook_digests`: written only on an existing item without digests (a backfill
/// never overwrites a rotation's or a disconnect's, nor creates an item).
pub async fn webhook_digests_backfill_only_where_none(store: &dyn Store, t: &TenantId) {
    let digests = |c: &str| WebhookDigests { current: Some(c.into()), previous: None };
    let backfill = |d: WebhookDigests| IntegrationPatch {
        webhook_digests: Some(d),
        only_without_webhook_digests: true,
        ..Default::default()
    };
    let refused = store.patch_integration(t, &backfill(digests("a"))).await;
    assert!(matches!(refused, Err(PortError::ConditionFailed(_))), "no item: {refused:?}");
    assert!(store.get_integration(t).await.unwrap().is_none(), "a backfill creates no item");
    store.patch_integration(t, &IntegrationPatch::default()).await.unwrap();
    let first = store.patch_integration(t, &backfill(digests("a"))).await.unwrap();
    assert_eq!(first.webhook_digests, Some(digests("a")));
    let second = store.patch_integration(t, &backfill(digests("b"))).await;
    assert!(matches!(second, Err(PortError::ConditionFailed(_))), "already recorded: {second:?}");
    let none = IntegrationPatch { webhook_digests: Some(WebhookDigests::default()), ..Default::default() };
    let cleared = store.patch_integration(t, &none).await.unwrap();
    assert_eq!(cleared.webhook_digests, Some(WebhookDigests::default()), "no secret: recorded as such");
    let third = store.patch_integration(t, &backfill(digests("c"))).await;
    assert!(matches!(third, Err(PortError::ConditionFailed(_))), "empty digests are digests: {third:?}");
    assert_eq!(store.get_integration(t).await.unwrap().unwrap().webhook_digests, Some(WebhookDigests::default()));
}

pub async fn active_integrations_are_listed(store: &dyn Store, on: &TenantId, off: &TenantId) {
    let activate = IntegrationPatch { is_active: Some(true), ..Default::default() };
    store.patch_integration(on, &activate).await.unwrap();
    store.patch_integration(off, &activate).await.unwrap();
    store.patch_integration(off, &IntegrationPatch { is_active: Some(false), ..Default::default() }).await.unwrap();
    // Other tests' tenants may be listed too (a shared table): look at these two only.
    let listed: Vec<TenantId> = store.list_active_integrations().await.unwrap().into_iter().map(|i| i.tenant).collect();
    assert!(listed.contains(on), "an active integration is listed");
    assert!(!listed.contains(off), "a deactivated one is not");
}

pub async fn one_run_per_tenant_and_type(store: &dyn Store, t: &TenantId) {
    let (r1, r2) = (sample_run(t, SyncType::Devices), sample_run(t, SyncType::Devices));
    let (a, b) = futures::join!(store.try_start_run(&r1, 600), store.try_start_run(&r2, 600));
    let outcomes = [a.unwrap(), b.unwrap()];
    let winners: Vec<&SyncRun> = outcomes
        .iter()
        .filter_map(|o| match o {
            StartOutcome::Started(r) => Some(&**r),
            StartOutcome::AlreadyRunning { .. } => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "two starts at once make one run: {outcomes:?}");
    let winner = winners[0].clone();
    assert!(
        outcomes.iter().any(|o| matches!(o, StartOutcome::AlreadyRunning { run_id } if *run_id == winner.run_id)),
        "the loser names the running run"
    );
    assert!(
        matches!(store.try_start_run(&sample_run(t, SyncType::Alerts), 600).await.unwrap(), StartOutcome::Started(_)),
        "another sync type is not blocked"
    );
    assert_eq!(store.get_run(t, SyncType::Devices, &winner.run_id).await.unwrap(), Some(winner.clone()));
    assert!(store.get_run(t, SyncType::Clients, &winner.run_id).await.unwrap().is_none(), "runs are per type");
    assert!(
        store
            .finish_run(t, SyncType::Devices, &winner.run_id, SyncRunStatus::Succeeded, Some("done".into()))
            .await
            .unwrap()
    );
    assert!(
        !store.finish_run(t, SyncType::Devices, &winner.run_id, SyncRunStatus::Failed, None).await.unwrap(),
        "a run finishes once"
    );
    let latest = store.latest_run(t, SyncType::Devices).await.unwrap().unwrap();
    assert_eq!(
        (latest.run_id.as_str(), latest.status, latest.message.as_deref()),
        (winner.run_id.as_str(), SyncRunStatus::Succeeded, Some("done"))
    );
    assert!(latest.finished_at.is_some());
    let next = sample_run(t, SyncType::Devices);
    assert!(
        matches!(store.try_start_run(&next, 600).await.unwrap(), StartOutcome::Started(_)),
        "finishing released the lock"
    );
    assert_eq!(
        store.latest_run(t, SyncType::Devices).await.unwrap().unwrap().run_id,
        next.run_id,
        "the latest run is the newest"
    );
    assert!(
        !store.finish_run(t, SyncType::Devices, "no-such-run", SyncRunStatus::Failed, None).await.unwrap(),
        "finishing an unknown run changes nothing"
    );
    assert!(
        matches!(
            store.try_start_run(&sample_run(t, SyncType::Devices), 600).await.unwrap(),
            StartOutcome::AlreadyRunning { .. }
        ),
        "nor releases another run's lock"
    );
}

pub async fn run_progress_counts_once(store: &dyn Store, t: &TenantId) {
    let run = sample_run(t, SyncType::Software);
    store.try_start_run(&run, 600).await.unwrap();
    let st = SyncType::Software;
    let fan_out = progress(0, 2, Some("start"));
    let after = store.add_run_progress(t, st, &run.run_id, &fan_out).await.unwrap().unwrap();
    assert_eq!((after.pending, after.status), (3, SyncRunStatus::Running), "progress adds and marks the run running");
    assert!(store.add_run_progress(t, st, &run.run_id, &fan_out).await.unwrap().is_none(), "a work item counts once");
    // Concurrent progress of different items adds up.
    let (p1, p2) = (progress(5, -1, Some("b1")), progress(7, -1, Some("b2")));
    let (a, b) = futures::join!(
        store.add_run_progress(t, st, &run.run_id, &p1),
        store.add_run_progress(t, st, &run.run_id, &p2)
    );
    assert!(a.unwrap().is_some() && b.unwrap().is_some());
    let now = store.get_run(t, st, &run.run_id).await.unwrap().unwrap();
    assert_eq!((now.counts.items_processed, now.pending), (12, 1));
    // An undone item may be applied again.
    let undo = RunProgress { undo_item: Some("b2".into()), ..Default::default() };
    store.add_run_progress(t, st, &run.run_id, &undo).await.unwrap().unwrap();
    let again = store.add_run_progress(t, st, &run.run_id, &progress(1, 0, Some("b2"))).await.unwrap().unwrap();
    assert_eq!(again.counts.items_processed, 13);
    // Errors are kept (cut), bounded, and a full list never loses the counts.
    let long = "e".repeat(1000);
    for i in 0..30 {
        let p = RunProgress { errors: vec![long.clone(); 3], ..progress(1, 0, Some(&format!("err{i}"))) };
        assert!(
            store.add_run_progress(t, st, &run.run_id, &p).await.unwrap().is_some(),
            "counts still count (item {i})"
        );
    }
    let run_now = store.get_run(t, st, &run.run_id).await.unwrap().unwrap();
    assert_eq!(run_now.counts.items_processed, 43, "every progress counted");
    assert!(run_now.errors.len() >= 20 && run_now.errors.len() < 30, "errors bounded: {}", run_now.errors.len());
    assert!(run_now.errors.iter().all(|e| e.chars().count() <= 300), "each error cut");
    assert!(store.add_run_progress(t, st, "no-such-run", &progress(1, 0, None)).await.unwrap().is_none());
    store.finish_run(t, st, &run.run_id, SyncRunStatus::Partial, None).await.unwrap();
    assert!(
        store.add_run_progress(t, st, &run.run_id, &progress(1, -1, Some("late"))).await.unwrap().is_none(),
        "a finished run takes no more progress"
    );
    let done = store.get_run(t, st, &run.run_id).await.unwrap().unwrap();
    assert_eq!((done.status, done.counts.items_processed), (SyncRunStatus::Partial, 43));
}

pub async fn run_locks_expire(store: &dyn Store, t: &TenantId) {
    // A lock that expired a second ago (a worker that died) no longer blocks a start.
    let stale = sample_run(t, SyncType::Clients);
    assert!(matches!(store.try_start_run(&stale, -1).await.unwrap(), StartOutcome::Started(_)));
    let fresh = sample_run(t, SyncType::Clients);
    assert!(
        matches!(store.try_start_run(&fresh, 600).await.unwrap(), StartOutcome::Started(_)),
        "an expired lock is taken over"
    );
    // The stale run finishing late must not release the new run's lock.
    store.finish_run(t, SyncType::Clients, &stale.run_id, SyncRunStatus::Failed, None).await.unwrap();
    match store.try_start_run(&sample_run(t, SyncType::Clients), 600).await.unwrap() {
        StartOutcome::AlreadyRunning { run_id } => assert_eq!(run_id, fresh.run_id),
        other => panic!("the new run's lock was released: {other:?}"),
    }
}

pub async fn named_locks(store: &dyn Store, t: &TenantId) {
    assert!(store.try_lock(t, "relogin", 60).await.unwrap());
    assert!(!store.try_lock(t, "relogin", 60).await.unwrap(), "held");
    assert!(store.try_lock(t, "other", 60).await.unwrap(), "locks are by name");
    store.unlock(t, "relogin").await.unwrap();
    assert!(store.try_lock(t, "relogin", -1).await.unwrap(), "released");
    assert!(store.try_lock(t, "relogin", 60).await.unwrap(), "an expired lock is free");
    store.unlock(t, "never-locked").await.unwrap();
    assert!(store.get_integration(t).await.unwrap().is_none(), "locks are not an integration");
}

pub async fn seen_records(store: &dyn Store, t: &TenantId) {
    let st = SyncType::Devices;
    let ids: Vec<String> = vec!["a1".into(), "a2".into()];
    let hashes: Vec<String> = vec!["h1".into(), "h2".into()];
    store.record_seen(t, st, "r1", "1-1", &ids, &hashes).await.unwrap();
    store.record_seen(t, st, "r1", "1-2", &ids[..1], &[]).await.unwrap();
    store.record_seen(t, st, "r1", "2-1", &[], &[]).await.unwrap();
    store.record_seen(t, st, "r10", "1-1", &ids, &hashes).await.unwrap();
    let got = store.seen_hashes(t, st, "r1", "1-1").await.unwrap().unwrap();
    assert_eq!((got.len(), got["a1"].as_str(), got["a2"].as_str()), (2, "h1", "h2"));
    assert!(store.seen_hashes(t, st, "r1", "1-2").await.unwrap().is_none(), "ids without hashes vouch for nothing");
    assert_eq!(
        store.seen_hashes(t, st, "r1", "2-1").await.unwrap().map(|h| h.len()),
        Some(0),
        "an empty page is known"
    );
    assert!(store.seen_hashes(t, st, "r1", "9-9").await.unwrap().is_none());
    let mut parts = store.seen_in_run(t, st, "r1").await.unwrap();
    parts.sort();
    assert_eq!(
        parts,
        vec![("1-1".into(), ids.clone()), ("1-2".into(), vec!["a1".to_owned()]), ("2-1".into(), vec![])],
        "a run's parts only (not run r10's)"
    );
    assert!(store.seen_in_run(t, SyncType::Software, "r1").await.unwrap().is_empty(), "per sync type");
}
