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
    Snapshot::new(at.into(), entries)
}

/// The same members with every status moved on and every asset flag flipped, as a refresh with
/// transitions only writes it (the members' version kept).
fn moved_on(s: &Snapshot, at: &str) -> Snapshot {
    let entries = s
        .entries
        .iter()
        .map(|(k, e)| {
            let status = match e.status {
                AgentStatus::Online => AgentStatus::Offline,
                AgentStatus::Offline => AgentStatus::Overdue,
                AgentStatus::Overdue => AgentStatus::Online,
            };
            (k.clone(), Entry { status, asset: !e.asset })
        })
        .collect();
    Snapshot { observed_at: at.into(), members_version: s.members_version.clone(), entries }
}

pub async fn status_snapshots_and_transitions(store: &dyn Store, t: &TenantId) {
    assert!(store.status_snapshot(t, 1).await.unwrap().is_none());
    // Larger than one stored part, then smaller: the smaller one replaces it whole.
    let big = snapshot(9000, "2026-01-01T00:00:00Z");
    store.put_status_snapshot(t, 1, &big, None).await.unwrap();
    store.put_status_snapshot(t, 12, &snapshot(3, "2026-01-01T00:00:01Z"), None).await.unwrap();
    assert_eq!(store.status_snapshot(t, 1).await.unwrap().as_ref(), Some(&big), "read back whole");
    let small = snapshot(5, "2026-01-01T00:05:00Z");
    store.put_status_snapshot(t, 1, &small, Some(&big)).await.unwrap();
    assert_eq!(store.status_snapshot(t, 1).await.unwrap().as_ref(), Some(&small));
    assert_eq!(store.status_snapshot(t, 12).await.unwrap().map(|s| s.entries.len()), Some(3), "per client");
    let empty = Snapshot::new("2026-01-01T00:10:00Z".into(), BTreeMap::new());
    store.put_status_snapshot(t, 1, &empty, Some(&small)).await.unwrap();
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

/// A snapshot is a member list and the statuses aligned with it: a write with the prior's
/// members version writes the statuses only, a new version writes both, and statuses that do not
/// line up with the stored list read as no snapshot at all.
pub async fn status_snapshot_members_and_statuses(store: &dyn Store, t: &TenantId) {
    // Round trip, across several member list parts.
    let first = snapshot(4500, "2026-01-01T00:00:00Z");
    store.put_status_snapshot(t, 3, &first, None).await.unwrap();
    assert_eq!(store.status_snapshot(t, 3).await.unwrap().as_ref(), Some(&first), "round trip");

    // Transitions only: the statuses move on, the member list stays as stored. Proof that it is
    // not rewritten: ids handed in with the kept version are not the ones read back.
    let second = moved_on(&first, "2026-01-01T00:05:00Z");
    store.put_status_snapshot(t, 3, &second, Some(&first)).await.unwrap();
    assert_eq!(store.status_snapshot(t, 3).await.unwrap().as_ref(), Some(&second), "statuses moved on");
    let mut renamed = moved_on(&second, "2026-01-01T00:10:00Z");
    // The last id renamed: the rest stay aligned.
    let entry = renamed.entries.remove("agent-04499").unwrap();
    renamed.entries.insert("agent-zzzzz".into(), entry);
    store.put_status_snapshot(t, 3, &renamed, Some(&second)).await.unwrap();
    let read = store.status_snapshot(t, 3).await.unwrap().expect("a whole snapshot");
    assert!(read.entries.contains_key("agent-04499") && !read.entries.contains_key("agent-zzzzz"), "the stored list");
    assert_eq!(read.observed_at, renamed.observed_at);
    assert_eq!(read.entries["agent-04499"], renamed.entries["agent-zzzzz"], "the new statuses");
    assert_eq!(read.entries["agent-00001"], renamed.entries["agent-00001"]);
    let second = read;

    // Membership changes: agents leave (fewer parts) and join; each writes a new list.
    let fewer = snapshot(2100, "2026-01-01T00:15:00Z");
    assert_ne!(fewer.members_version, second.members_version);
    store.put_status_snapshot(t, 3, &fewer, Some(&second)).await.unwrap();
    assert_eq!(store.status_snapshot(t, 3).await.unwrap().as_ref(), Some(&fewer), "agents left");
    let mut more = moved_on(&fewer, "2026-01-01T00:20:00Z");
    more.entries.insert("agent-new".into(), Entry { status: AgentStatus::Online, asset: false });
    let more = Snapshot::new(more.observed_at, more.entries);
    store.put_status_snapshot(t, 3, &more, Some(&fewer)).await.unwrap();
    assert_eq!(store.status_snapshot(t, 3).await.unwrap().as_ref(), Some(&more), "an agent joined");

    // Torn: statuses written against a list that is not stored read as absent, whether the count
    // differs or the version does.
    let mut longer = moved_on(&more, "2026-01-01T00:25:00Z");
    longer.entries.insert("agent-other".into(), Entry { status: AgentStatus::Online, asset: true });
    store.put_status_snapshot(t, 3, &longer, Some(&more)).await.unwrap();
    assert_eq!(store.status_snapshot(t, 3).await.unwrap(), None, "more statuses than stored members");
    store.put_status_snapshot(t, 3, &more, None).await.unwrap();
    assert_eq!(store.status_snapshot(t, 3).await.unwrap().as_ref(), Some(&more), "a full write repairs it");
    let stranger = Snapshot { members_version: "not-stored".into(), ..moved_on(&more, "2026-01-01T00:30:00Z") };
    store.put_status_snapshot(t, 3, &stranger, Some(&stranger)).await.unwrap();
    assert_eq!(store.status_snapshot(t, 3).await.unwrap(), None, "a version the list does not have");
    assert_eq!(store.status_snapshot(t, 4).await.unwrap(), None, "another client has none");

    // A full write after a torn snapshot (the refresh then has no prior) leaves a whole one.
    let healed = snapshot(10, "2026-01-01T00:35:00Z");
    store.put_status_snapshot(t, 3, &healed, None).await.unwrap();
    assert_eq!(store.status_snapshot(t, 3).await.unwrap().as_ref(), Some(&healed));
}
