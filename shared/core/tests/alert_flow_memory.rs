//! Alert recording from webhook deliveries (domain/alert_flow.rs) on the in-memory adapters: the
//! behaviour LocalStack tests cover end to end, here in milliseconds.

use shared::TenantId;
use shared::domain::alert_flow::{apply_pointer, publish_alert, record_delivery};
use shared::domain::alerts::AlertEvent;
use shared::domain::webhook_payload::parse;
use shared::ports::AlertStore;
use shared::testing::{MemoryEvents, MemoryStore};

fn event(body: &str) -> AlertEvent {
    AlertEvent::from_webhook(&parse(body.as_bytes()), None).expect("an agent alert")
}

fn trigger(id: i64) -> AlertEvent {
    event(&format!(
        r#"{{"event":"trigger","agent_id":"agent-1","alert_id":"{id}","alert_type":"check","severity":"error",
        "message":"Disk space check failed","hostname":"WS-1","client":"Acme","site":"HQ","alert_time":"2026-01-01T10:00:00Z"}}"#
    ))
}

fn t(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

#[tokio::test]
async fn a_delivery_is_recorded_once() {
    let (store, t) = (MemoryStore::new(), t("once"));
    let ev = trigger(7);
    let (first, pointer) = record_delivery(&store, &t, &ev).await.unwrap();
    assert!(first.written && !first.duplicate);
    apply_pointer(&store, &t, pointer).await.unwrap();
    let (again, _) = record_delivery(&store, &t, &ev).await.unwrap();
    assert!(again.duplicate && !again.written, "the same body twice is one delivery");
    let stored = store.get_alert(&t, &first.alert_key).await.unwrap().unwrap();
    assert_eq!((stored.status.as_str(), stored.occurrence_count, stored.version), ("active", 1, 1));
}

#[tokio::test]
async fn concurrent_duplicates_write_once() {
    let (store, t) = (MemoryStore::new(), t("race"));
    let ev = trigger(8);
    let results = futures::future::join_all((0..8).map(|_| record_delivery(&store, &t, &ev))).await;
    let written = results.iter().filter(|r| r.as_ref().unwrap().0.written).count();
    assert_eq!(written, 1, "of concurrent duplicates exactly one wins");
}

#[tokio::test]
async fn a_resolve_finds_its_alert_and_publishes_each_change_once() {
    let (store, events, t) = (MemoryStore::new(), MemoryEvents::new(), t("resolve"));
    let (rec, pointer) = record_delivery(&store, &t, &trigger(9)).await.unwrap();
    apply_pointer(&store, &t, pointer).await.unwrap();
    let resolve = event(
        r#"{"event":"resolve","agent_id":"agent-1","alert_id":"9","alert_type":"check","resolved_on":"2026-01-01T11:00:00Z"}"#,
    );
    let (res, pointer) = record_delivery(&store, &t, &resolve).await.unwrap();
    apply_pointer(&store, &t, pointer).await.unwrap();
    assert_eq!((res.alert_key.as_str(), res.status.as_str()), (rec.alert_key.as_str(), "resolved"));

    // The outbox: an unreachable bus leaves the changes pending, the next attempt publishes them.
    events.set_failing(true);
    assert!(publish_alert(&store, &events, &t, &rec.alert_key).await.is_err());
    assert!(!store.get_alert(&t, &rec.alert_key).await.unwrap().unwrap().pending_events.is_empty());
    events.set_failing(false);
    let n = publish_alert(&store, &events, &t, &rec.alert_key).await.unwrap();
    assert_eq!(n, 2, "opened, then resolved");
    assert_eq!(publish_alert(&store, &events, &t, &rec.alert_key).await.unwrap(), 0, "published once");
    let published = events.take();
    assert_eq!(published.len(), 2);
    assert!(published.iter().all(|e| e.detail_type == "RMM Alert Changed"));
}
