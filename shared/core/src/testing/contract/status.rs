//! Live status: snapshots per Tactical client, transitions, observation times.

use super::sample_asset;
use crate::domain::status::AgentStatus;
use crate::domain::status_refresh::{Entry, Snapshot, StatusChange};
use crate::ports::{AssetWrite, Store};
use crate::tenant::TenantId;
use std::collections::BTreeMap;

fn snapshot(n: usize, at: &str) -> Snapshot {
    let entries = (0..n)
        .map(|i| {
            let status = [AgentStatus::Online, AgentStatus::Offline, AgentStatus::Overdue][i % 3];
            (format!("agent-{i:05}"), Entry { status, asset: i % 2 == 0 })
        })
        .collect();
    Snapshot { observed_at: at.into(), entries }
}

pub async fn status_snapshots_and_transitions(store: &dyn Store, t: &TenantId) {
    assert!(store.status_snapshot(t, 1).await.unwrap().is_none());
    // Larger than one stored part, then smaller: the smaller one replaces it whole.
    let big = snapshot(9000, "2026-01-01T00:00:00Z");
    store.put_status_snapshot(t, 1, &big).await.unwrap();
    store.put_status_snapshot(t, 12, &snapshot(3, "2026-01-01T00:00:01Z")).await.unwrap();
    assert_eq!(store.status_snapshot(t, 1).await.unwrap(), Some(big), "read back whole");
    let small = snapshot(5, "2026-01-01T00:05:00Z");
    store.put_status_snapshot(t, 1, &small).await.unwrap();
    assert_eq!(store.status_snapshot(t, 1).await.unwrap(), Some(small));
    assert_eq!(store.status_snapshot(t, 12).await.unwrap().map(|s| s.entries.len()), Some(3), "per client");
    let empty = Snapshot { observed_at: "2026-01-01T00:10:00Z".into(), entries: BTreeMap::new() };
    store.put_status_snapshot(t, 1, &empty).await.unwrap();
    assert_eq!(store.status_snapshot(t, 1).await.unwrap(), Some(empty), "an empty client is known, not unknown");

    let a = sample_asset(t, 7, 1);
    store.write_assets(t, &[AssetWrite { asset: a.clone(), mapping: None }]).await.unwrap();
    let ids = vec![a.asset_id.clone(), "ghost".into()];
    assert_eq!(store.asset_statuses(t, &ids).await.unwrap(), vec![(a.asset_id.clone(), a.agent_status)]);
    let change = StatusChange {
        asset_id: a.asset_id.clone(),
        status: AgentStatus::Overdue,
        last_seen_at: Some("2026-01-01T00:00:00Z".into()),
        observed_at: "2026-01-01T01:00:00Z".into(),
    };
    assert!(store.apply_status(t, &change).await.unwrap());
    let after = store.get_assets(t, &ids[..1]).await.unwrap().remove(0);
    assert_eq!(after.agent_status, AgentStatus::Overdue);
    assert_eq!(after.status_changed_at.as_deref(), Some("2026-01-01T01:00:00Z"));
    assert_eq!(after.status_as_of.as_deref(), Some("2026-01-01T01:00:00Z"));
    assert_eq!(after.last_seen_at.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(after.name, a.name, "the rest of the asset stays");
    let ghost = StatusChange { asset_id: "ghost".into(), ..change };
    assert!(!store.apply_status(t, &ghost).await.unwrap(), "no asset: nothing written");
    assert!(store.get_assets(t, &ids[1..]).await.unwrap().is_empty());

    assert!(store.status_observed(t).await.unwrap().is_empty());
    let observed: BTreeMap<String, String> = [("1".to_owned(), "2026-01-01T00:00:00Z".to_owned())].into();
    store.record_status_observed(t, &observed).await.unwrap();
    assert_eq!(store.status_observed(t).await.unwrap(), observed);
}
