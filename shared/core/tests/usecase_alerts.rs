//! Alert backfill and reconciliation (the alerts sync run, domain/alert_flow.rs `backfill`) on
//! the in-memory adapters, through `sync::start` and `sync::handle_message`: what
//! tests/it/alerts.rs checks on LocalStack. Webhook recording is in alert_flow_memory.rs.

mod common;

use common::{connect, run, sees_nothing, synced, tenant};
use shared::domain::SyncRunStatus;
use shared::domain::asset::asset_id_for;
use shared::messages::SyncType;
use shared::ports::{AlertStore, Store};
use shared::tactical::TacticalApi;
use shared::tactical::types::AlertChange;
use shared::testing::TestBed;

#[tokio::test]
async fn a_backfill_records_open_alerts_linked_to_their_assets() {
    let (bed, t) = (TestBed::new(), tenant("alerts-backfill"));
    synced(&bed, &t).await;
    let r = run(&bed, &t, SyncType::Alerts).await;
    assert_eq!(r.status, SyncRunStatus::Succeeded, "{r:?}");
    assert_eq!((r.counts.items_processed, r.counts.items_created), (1, 1));
    let open = bed.store.open_alerts(&t).await.unwrap();
    assert_eq!(open.len(), 1);
    let a = &open[0];
    assert_eq!((a.status.as_str(), a.external_device_id.as_str()), ("active", "agent-acme-1"));
    assert_eq!(a.asset_id.as_deref(), Some(asset_id_for(&t, "agent-acme-1").as_str()));
    assert!(a.pending_events.is_empty(), "its change was published");
    let events = bed.events.take();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail_type, "RMM Alert Changed");

    let assets_read = bed.store.asset_states_read();
    let r = run(&bed, &t, SyncType::Alerts).await;
    assert_eq!((r.counts.items_unchanged, r.counts.items_created, r.counts.items_updated), (1, 0, 0));
    assert!(bed.events.take().is_empty(), "an unchanged backfill publishes nothing");
    assert_eq!(bed.store.asset_states_read(), assets_read, "a linked open alert reads no asset again");
}

#[tokio::test]
async fn an_alert_gone_from_tactical_is_resolved() {
    let (bed, t) = (TestBed::new(), tenant("alerts-reconcile"));
    synced(&bed, &t).await;
    run(&bed, &t, SyncType::Alerts).await;
    let key = bed.store.open_alerts(&t).await.unwrap()[0].alert_key.clone();
    bed.events.take();

    bed.tactical.change_alert(1, AlertChange::Resolve).await.unwrap();
    let r = run(&bed, &t, SyncType::Alerts).await;
    assert_eq!((r.counts.items_processed, r.counts.items_deleted), (0, 1), "{:?}", r.counts);
    let a = bed.store.get_alert(&t, &key).await.unwrap().unwrap();
    assert_eq!(a.status, "auto_resolved");
    assert!(a.resolved_at.is_some());
    assert!(bed.store.open_alerts(&t).await.unwrap().is_empty());
    assert_eq!(bed.events.take().len(), 1, "the resolve is published once");
}

#[tokio::test]
async fn an_alert_before_its_asset_is_linked_by_the_device_run_that_creates_it() {
    let (bed, t) = (TestBed::new(), tenant("alerts-late-asset"));
    connect(&bed, &t).await;
    run(&bed, &t, SyncType::Alerts).await;
    assert!(bed.store.open_alerts(&t).await.unwrap()[0].asset_id.is_none(), "no asset yet");
    run(&bed, &t, SyncType::Clients).await;
    common::map_all(&bed, &t).await;
    run(&bed, &t, SyncType::Devices).await;
    let a = &bed.store.open_alerts(&t).await.unwrap()[0];
    assert_eq!(a.asset_id.as_deref(), Some(asset_id_for(&t, "agent-acme-1").as_str()));
}

#[tokio::test]
async fn a_failed_publish_is_retried_and_published_once() {
    let (bed, t) = (TestBed::new(), tenant("alerts-outbox"));
    synced(&bed, &t).await;
    bed.events.set_failing(true);
    let started =
        shared::domain::sync::start(&bed.deps, &t, SyncType::Alerts, shared::messages::Trigger::Manual).await.unwrap();
    let msg = bed.queue.drain(shared::messages::QueueKind::SyncAlerts).remove(0);
    let first = shared::domain::sync::handle_message(&bed.deps, msg.clone(), 1).await;
    assert!(matches!(first, shared::domain::sync::Outcome::Retry(_)), "{first:?}");
    assert_eq!(bed.store.open_alerts(&t).await.unwrap()[0].pending_events.len(), 1, "kept pending");
    bed.events.set_failing(false);
    assert_eq!(shared::domain::sync::handle_message(&bed.deps, msg, 2).await, shared::domain::sync::Outcome::Done);
    assert_eq!(bed.events.take().len(), 1);
    let r = bed.store.get_run(&t, SyncType::Alerts, &started.run_id).await.unwrap().unwrap();
    assert_eq!(r.status, SyncRunStatus::Succeeded);
}

#[tokio::test]
async fn a_second_tenant_on_the_same_bed_sees_nothing_of_the_first() {
    let (bed, a, b) = (TestBed::new(), tenant("alerts-iso-a"), tenant("alerts-iso-b"));
    synced(&bed, &a).await;
    run(&bed, &a, SyncType::Alerts).await;
    connect(&bed, &b).await;
    sees_nothing(&bed, &b).await;
    // B's own backfill records Tactical's alert for B, unlinked: B has no asset.
    run(&bed, &b, SyncType::Alerts).await;
    let open = bed.store.open_alerts(&b).await.unwrap();
    assert_eq!(open.len(), 1);
    assert!(open[0].asset_id.is_none(), "never linked to A's asset");
    assert_eq!(open[0].tenant, b);
}

/// `n` resolved alerts of the tenant's past (as the store holds them, no Tactical call).
async fn resolved_history(bed: &TestBed, t: &shared::TenantId, from: usize, n: usize) {
    for i in from..from + n {
        let a = shared::testing::contract::sample_alert(t, &format!("id#{}", 100_000 + i), "resolved", "as-1", 1);
        assert!(bed.store.put_alert(&a).await.unwrap());
    }
}

/// Four more open alerts in Tactical besides the small fleet's one.
fn more_open_alerts(bed: &TestBed) {
    let first = bed.tactical.alert_state(1).unwrap();
    for id in 2..=5 {
        bed.tactical.add_alert(shared::tactical::types::Alert { id, ..first.clone() });
    }
}

#[tokio::test]
async fn a_runs_reads_do_not_grow_with_resolved_history() {
    let (bed, t) = (TestBed::new(), tenant("alerts-history"));
    synced(&bed, &t).await;
    more_open_alerts(&bed);
    resolved_history(&bed, &t, 0, 1000).await;
    let before = bed.store.alert_items_read();
    let r = run(&bed, &t, SyncType::Alerts).await;
    assert_eq!((r.counts.items_processed, r.counts.items_created), (5, 5), "{r:?}");
    let first = bed.store.alert_items_read() - before;
    assert!(first >= 1000, "the first run indexes the tenant's alerts once: {first} items read");

    let before = bed.store.alert_items_read();
    let r = run(&bed, &t, SyncType::Alerts).await;
    assert_eq!(r.counts.items_unchanged, 5, "{r:?}");
    let second = bed.store.alert_items_read() - before;
    assert!(second <= 10, "the open set and its marker, not the history: {second} items read");

    resolved_history(&bed, &t, 1000, 1000).await;
    bed.tactical.change_alert(5, AlertChange::Resolve).await.unwrap();
    let before = bed.store.alert_items_read();
    let r = run(&bed, &t, SyncType::Alerts).await;
    assert_eq!((r.counts.items_unchanged, r.counts.items_deleted), (4, 1), "{r:?}");
    let third = bed.store.alert_items_read() - before;
    assert_eq!(third, second, "twice the history, the same reads");
    assert_eq!(bed.store.open_alerts(&t).await.unwrap().len(), 4, "the auto-resolved one left the set");
}

#[tokio::test]
async fn alerts_written_before_the_open_set_are_indexed_once_and_still_reconciled() {
    let (bed, t) = (TestBed::new(), tenant("alerts-legacy"));
    synced(&bed, &t).await;
    run(&bed, &t, SyncType::Alerts).await;
    bed.events.take();
    // Older alerts: one Tactical closed since (no webhook reached us), one resolved whose change
    // was never published, and history.
    let gone = shared::testing::contract::sample_alert(&t, "id#900", "active", "as-1", 1);
    assert!(bed.store.put_alert(&gone).await.unwrap());
    let mut unpublished = shared::testing::contract::sample_alert(&t, "id#901", "resolved", "as-1", 1);
    unpublished.pending_events = serde_json::from_value(serde_json::json!([{"version": 1, "kind": "resolved",
        "to": "resolved", "severity": "high", "source": "webhook", "observed_at": "2026-01-01T00:00:00Z"}]))
    .unwrap();
    assert!(bed.store.put_alert(&unpublished).await.unwrap());
    resolved_history(&bed, &t, 0, 50).await;
    bed.store.drop_open_index(&t, false);
    assert!(bed.store.open_or_pending_alerts(&t).await.unwrap().is_none(), "as before the open set");
    assert_eq!(bed.store.open_alerts(&t).await.unwrap().len(), 2, "reads still see them, without migrating");

    let r = run(&bed, &t, SyncType::Alerts).await;
    assert_eq!((r.counts.items_unchanged, r.counts.items_deleted), (1, 1), "{r:?}");
    assert_eq!(bed.store.get_alert(&t, "id#900").await.unwrap().unwrap().status, "auto_resolved");
    let mut kinds: Vec<String> =
        bed.events.take().iter().map(|e| e.detail["kind"].as_str().unwrap_or_default().to_owned()).collect();
    kinds.sort();
    assert_eq!(kinds, ["auto_resolved", "resolved"], "the old pending change is published too");
    let set = bed.store.open_or_pending_alerts(&t).await.unwrap().expect("indexed");
    assert_eq!(set.iter().map(|a| a.alert_key.as_str()).collect::<Vec<_>>(), ["id#1"]);

    // Indexed once: the next run reads the set only, and finds nothing to do.
    let before = bed.store.alert_items_read();
    let r = run(&bed, &t, SyncType::Alerts).await;
    assert_eq!((r.counts.items_unchanged, r.counts.items_deleted), (1, 0), "{r:?}");
    assert!(bed.store.alert_items_read() - before <= 3);
    assert!(bed.events.take().is_empty());
}

#[tokio::test]
async fn an_open_alert_outside_the_set_is_put_back_by_the_run_that_sees_it() {
    let (bed, t) = (TestBed::new(), tenant("alerts-outside"));
    synced(&bed, &t).await;
    run(&bed, &t, SyncType::Alerts).await;
    bed.events.take();
    // Written by a writer unaware of the set after the tenant was indexed (a deploy's old code).
    bed.store.drop_open_index(&t, true);
    assert_eq!(bed.store.open_or_pending_alerts(&t).await.unwrap().map(|s| s.len()), Some(0));
    let r = run(&bed, &t, SyncType::Alerts).await;
    assert_eq!(r.counts.items_unchanged, 1, "{r:?}");
    assert_eq!(bed.store.open_or_pending_alerts(&t).await.unwrap().map(|s| s.len()), Some(1), "back in the set");
    assert!(bed.events.take().is_empty(), "no change of state to publish");
    bed.tactical.change_alert(1, AlertChange::Resolve).await.unwrap();
    let r = run(&bed, &t, SyncType::Alerts).await;
    assert_eq!(r.counts.items_deleted, 1, "so it is reconciled: {r:?}");
}
