//! rmm_alerts: versioned writes, delivery fingerprints, open pointers, ticket links, paging.

use crate::domain::alerts::RmmAlert;
use crate::ports::{AlertQuery, Store};
use crate::tenant::TenantId;

pub fn sample_alert(t: &TenantId, key: &str, status: &str, asset: &str, version: i64) -> RmmAlert {
    let mut a: RmmAlert = serde_json::from_value(serde_json::json!({
        "tenant": t, "alert_key": key, "external_device_id": "agent-1", "status": status,
        "severity": "high", "source_type": "tacticalrmm", "asset_id": asset, "message": "disk full",
    }))
    .expect("a valid alert");
    a.version = version;
    a
}

pub async fn alerts_are_versioned(store: &dyn Store, t: &TenantId) {
    assert_eq!(store.get_alert_with_deliveries(t, "id#1").await.unwrap(), (None, vec![]));
    let v1 = sample_alert(t, "id#1", "active", "as-1", 1);
    assert!(store.put_alert_with_deliveries(&v1, &["d1".into()]).await.unwrap(), "first write");
    assert!(!store.put_alert_with_deliveries(&v1, &["d2".into()]).await.unwrap(), "a second first write loses");
    let (got, deliveries) = store.get_alert_with_deliveries(t, "id#1").await.unwrap();
    assert_eq!((got.as_ref(), deliveries), (Some(&v1), vec!["d1".to_owned()]));
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.message = None;
    v2.pending_events = vec![serde_json::from_value(serde_json::json!({"version": 2, "kind": "resolved", "to": "resolved", "severity": "high", "source": "psa", "observed_at": "2026-01-01T00:00:00Z"})).unwrap()];
    assert!(store.put_alert(&v2).await.unwrap(), "the next version");
    assert!(!store.put_alert(&v2).await.unwrap(), "the same version twice loses");
    let mut stale = v1.clone();
    stale.version = 5;
    assert!(!store.put_alert(&stale).await.unwrap(), "a version that skips one loses");
    let (got, deliveries) = store.get_alert_with_deliveries(t, "id#1").await.unwrap();
    assert_eq!(got.as_ref(), Some(&v2), "cleared fields are gone, the outbox kept");
    assert_eq!(deliveries, vec!["d1".to_owned()], "put_alert keeps the deliveries");
    assert!(!store.clear_pending_events(&v1).await.unwrap(), "an old version does not clear");
    assert!(store.clear_pending_events(&v2).await.unwrap());
    assert!(store.get_alert(t, "id#1").await.unwrap().unwrap().pending_events.is_empty());
    assert!(!store.clear_pending_events(&sample_alert(t, "id#404", "active", "as-1", 1)).await.unwrap());
    let mut v3 = v2.clone();
    v3.version = 3;
    v3.pending_events.clear();
    assert!(store.put_alert_with_deliveries(&v3, &["d2".into(), "d3".into()]).await.unwrap());
    assert_eq!(
        store.get_alert_with_deliveries(t, "id#1").await.unwrap().1,
        vec!["d2".to_owned(), "d3".to_owned()],
        "replaced"
    );
    let mut other = sample_alert(t, "id#2", "active", "as-1", 2);
    assert!(!store.put_alert(&other).await.unwrap(), "version 2 of an alert never written loses");
    other.version = 1;
    assert!(store.put_alert(&other).await.unwrap());
    assert!(store.get_alert(t, "id#404").await.unwrap().is_none());
}

pub async fn alert_lists_filter_and_page(store: &dyn Store, t: &TenantId) {
    for i in 0..23 {
        let status = if i % 2 == 0 { "active" } else { "resolved" };
        let a = sample_alert(t, &format!("id#{i:03}"), status, if i % 3 == 0 { "as-a" } else { "as-b" }, 1);
        assert!(store.put_alert(&a).await.unwrap());
    }
    // Index items of the same partition are never listed.
    store.set_open_alert_pointer(t, "agent-1#check#1", Some("id#000")).await.unwrap();
    store.set_ticket_link(t, "T1", "id#000", true).await.unwrap();
    let read_all = |status: Option<&str>, asset: Option<&str>, limit: i32| {
        let q =
            AlertQuery { status: status.map(str::to_owned), asset_id: asset.map(str::to_owned), limit, cursor: None };
        async move {
            let (mut out, mut q, mut pages) = (Vec::new(), q, 0);
            loop {
                let page = store.list_alerts(t, &q).await.unwrap();
                pages += 1;
                assert!(page.alerts.len() <= q.limit as usize);
                out.extend(page.alerts.into_iter().map(|a| a.alert_key));
                match page.next {
                    Some(c) => q.cursor = Some(c),
                    None => return (out, pages),
                }
                assert!(pages <= 50, "paging ends");
            }
        }
    };
    let (all, _) = read_all(None, None, 5).await;
    assert_eq!(all, (0..23).map(|i| format!("id#{i:03}")).collect::<Vec<_>>(), "every alert once, in key order");
    let (active, _) = read_all(Some("active"), None, 4).await;
    assert_eq!(active.len(), 12);
    let (a_active, _) = read_all(Some("active"), Some("as-a"), 500).await;
    assert_eq!(a_active, ["id#000", "id#006", "id#012", "id#018"]);
    let (one, pages) = read_all(None, None, 500).await;
    assert_eq!((one.len(), pages), (23, 1), "one page when it all fits");
    let open = store.open_alerts(t).await.unwrap();
    assert_eq!(open.len(), 12);
    for bad in ["not base64!", "dGFjdGljYWxybW0jb3BlbiN4"] {
        let q = AlertQuery { cursor: Some(bad.into()), limit: 5, ..Default::default() };
        assert!(store.list_alerts(t, &q).await.is_err(), "a forged cursor is refused: {bad}");
    }
}

pub async fn alert_pointers_and_ticket_links(store: &dyn Store, t: &TenantId) {
    let p = "agent-1#check#42";
    assert!(store.open_alert_pointer(t, p).await.unwrap().is_none());
    store.set_open_alert_pointer(t, p, Some("id#7")).await.unwrap();
    store.set_open_alert_pointer(t, p, Some("id#8")).await.unwrap();
    assert_eq!(store.open_alert_pointer(t, p).await.unwrap().as_deref(), Some("id#8"));
    store.set_open_alert_pointer(t, p, None).await.unwrap();
    store.set_open_alert_pointer(t, p, None).await.unwrap();
    assert!(store.open_alert_pointer(t, p).await.unwrap().is_none());

    for k in ["id#1", "id#2", "id#3"] {
        store.set_ticket_link(t, "T1", k, true).await.unwrap();
    }
    store.set_ticket_link(t, "T10", "id#9", true).await.unwrap();
    store.set_ticket_link(t, "T1", "id#2", true).await.unwrap();
    store.set_ticket_link(t, "T1", "id#3", false).await.unwrap();
    store.set_ticket_link(t, "T1", "id#404", false).await.unwrap();
    let mut keys = store.ticket_alert_keys(t, "T1", 50).await.unwrap();
    keys.sort();
    assert_eq!(keys, ["id#1", "id#2"], "links by ticket, not by ticket-id prefix");
    assert_eq!(store.ticket_alert_keys(t, "T1", 1).await.unwrap().len(), 1, "at most `limit`");
    assert!(store.ticket_alert_keys(t, "T404", 50).await.unwrap().is_empty());
}

fn pending(version: i64, kind: &str, to: &str) -> crate::domain::alerts::PendingEvent {
    serde_json::from_value(serde_json::json!({"version": version, "kind": kind, "to": to, "severity": "high",
        "source": "backfill", "observed_at": "2026-01-01T00:00:00Z"}))
    .expect("a valid pending event")
}

/// Keys of the open set, sorted (`None`: the tenant is not indexed yet).
async fn open_set_keys(store: &dyn Store, t: &TenantId) -> Option<Vec<String>> {
    let set = store.open_or_pending_alerts(t).await.unwrap()?;
    let mut keys: Vec<String> = set.into_iter().map(|a| a.alert_key).collect();
    keys.sort();
    Some(keys)
}

/// The open set lists exactly the open alerts and those with changes to publish, whatever the
/// resolved history holds; a resolved alert leaves it with its write, a published one with the
/// clear; reopening brings it back. `get_alerts` reads any alerts by key in one call.
pub async fn open_alerts_are_exactly_the_open_and_pending(store: &dyn Store, t: &TenantId) {
    let put = |key: &str, status: &str, version: i64, events: Vec<crate::domain::alerts::PendingEvent>| {
        let mut a = sample_alert(t, key, status, "as-1", version);
        a.pending_events = events;
        a
    };
    for i in 0..30 {
        assert!(store.put_alert(&put(&format!("id#h{i:02}"), "resolved", 1, vec![])).await.unwrap(), "history");
    }
    let active = put("id#a", "active", 1, vec![pending(1, "opened", "active")]);
    let snoozed = put("id#s", "suppressed", 1, vec![]);
    let resolved_pending = put("id#r", "resolved", 1, vec![pending(1, "resolved", "resolved")]);
    assert!(store.put_alert(&active).await.unwrap());
    assert!(store.put_alert_with_deliveries(&snoozed, &["d1".into()]).await.unwrap());
    assert!(store.put_alert(&resolved_pending).await.unwrap());
    store.set_open_alert_pointer(t, "agent-1#check#1", Some("id#a")).await.unwrap();
    store.set_ticket_link(t, "T1", "id#a", true).await.unwrap();

    assert_eq!(open_set_keys(store, t).await, None, "not indexed until the tenant's first pass");
    let mut first: Vec<String> = store.index_open_alerts(t).await.unwrap().into_iter().map(|a| a.alert_key).collect();
    first.sort();
    assert_eq!(first, ["id#a", "id#r", "id#s"]);
    let want = Some(vec!["id#a".to_owned(), "id#r".to_owned(), "id#s".to_owned()]);
    assert_eq!(open_set_keys(store, t).await, want, "open, snoozed and pending; no history, no index item");
    assert_eq!(store.index_open_alerts(t).await.unwrap().len(), 3, "indexing again changes nothing");
    assert_eq!(open_set_keys(store, t).await, want);
    let set = store.open_or_pending_alerts(t).await.unwrap().unwrap();
    assert!(set.contains(&snoozed) && set.contains(&active), "whole alerts: {set:?}");

    // An open alert whose changes are published stays; a resolved one leaves.
    assert!(store.clear_pending_events(&active).await.unwrap());
    assert!(store.clear_pending_events(&resolved_pending).await.unwrap());
    let mut resolved = put("id#s", "resolved", 2, vec![]);
    resolved.resolved_at = Some("2026-01-02T00:00:00Z".into());
    assert!(store.put_alert(&resolved).await.unwrap());
    let mut reopened = put("id#h07", "active", 2, vec![]);
    reopened.message = Some("again".into());
    assert!(store.put_alert_with_deliveries(&reopened, &["d2".into()]).await.unwrap());
    let fresh = put("id#n", "active", 1, vec![]);
    assert!(store.put_alert_with_deliveries(&fresh, &["d3".into()]).await.unwrap());
    assert_eq!(open_set_keys(store, t).await, Some(vec!["id#a".to_owned(), "id#h07".to_owned(), "id#n".to_owned()]));
    let mut open: Vec<String> = store.open_alerts(t).await.unwrap().into_iter().map(|a| a.alert_key).collect();
    open.sort();
    assert_eq!(open, ["id#a", "id#h07", "id#n"]);
    // Closed with changes pending: in the set until they are published.
    let mut auto = put("id#n", "auto_resolved", 2, vec![pending(2, "auto_resolved", "auto_resolved")]);
    auto.resolved_at = Some("2026-01-03T00:00:00Z".into());
    assert!(store.put_alert(&auto).await.unwrap());
    assert!(open_set_keys(store, t).await.unwrap().contains(&"id#n".to_owned()));
    assert!(!store.open_alerts(t).await.unwrap().iter().any(|a| a.alert_key == "id#n"), "not open");
    assert!(store.clear_pending_events(&auto).await.unwrap());
    assert_eq!(open_set_keys(store, t).await, Some(vec!["id#a".to_owned(), "id#h07".to_owned()]));

    let keys: Vec<String> = ["id#a", "id#h00", "id#404", "id#s"].map(str::to_owned).to_vec();
    let mut got = store.get_alerts(t, &keys).await.unwrap();
    got.sort_by(|a, b| a.alert_key.cmp(&b.alert_key));
    assert_eq!(got.iter().map(|a| a.alert_key.as_str()).collect::<Vec<_>>(), ["id#a", "id#h00", "id#s"]);
    assert_eq!(got[2], resolved, "the stored state");
    let many: Vec<String> = (0..30).map(|i| format!("id#h{i:02}")).chain(["id#a".to_owned()]).collect();
    assert_eq!(store.get_alerts(t, &many).await.unwrap().len(), 31);
    assert!(store.get_alerts(t, &[]).await.unwrap().is_empty());
}
