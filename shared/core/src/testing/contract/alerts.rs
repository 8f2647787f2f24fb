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
    assert!(!store.clear_pending_events(t, "id#1", 1).await.unwrap(), "an old version does not clear");
    assert!(store.clear_pending_events(t, "id#1", 2).await.unwrap());
    assert!(store.get_alert(t, "id#1").await.unwrap().unwrap().pending_events.is_empty());
    assert!(!store.clear_pending_events(t, "id#404", 1).await.unwrap());
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
