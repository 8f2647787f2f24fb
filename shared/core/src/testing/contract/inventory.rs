//! Organization mappings, assets and external entity mappings.

use super::sample_asset;
use crate::domain::asset::ExternalEntityMapping;
use crate::domain::mapping::{MappedSite, MappingPatch, TacticalOrg};
use crate::ports::{AssetWrite, MappingWrite, Store};
use crate::tenant::TenantId;

fn org(id: &str, name: &str, agents: i64) -> TacticalOrg {
    TacticalOrg {
        external_organization_id: id.into(),
        external_organization_name: name.into(),
        sites: vec![MappedSite { id: 10, name: "HQ".into(), agent_count: agents }],
        agent_count: agents,
    }
}

fn write(a: crate::domain::asset::Asset, with_mapping: bool) -> AssetWrite {
    let mapping = with_mapping.then(|| ExternalEntityMapping::for_asset(&a, "2026-01-01T00:00:00Z"));
    AssetWrite { asset: a, mapping }
}

pub async fn org_mappings_keep_person_fields(store: &dyn Store, t: &TenantId) {
    let t0 = "2026-01-01T00:00:00Z";
    assert_eq!(store.write_org_mapping(t, &org("4", "globex", 2), t0).await.unwrap(), MappingWrite::Created);
    assert_eq!(store.write_org_mapping(t, &org("5", "Acme", 1), t0).await.unwrap(), MappingWrite::Created);
    let m = store.get_org_mapping(t, "4").await.unwrap().unwrap();
    assert!(m.auto_sync_assets && m.client_id.is_none(), "person fields start at their defaults");
    assert_eq!(m.created_at.as_deref(), Some(t0));
    let patch =
        MappingPatch { client_id: Some(Some("psa-1".into())), auto_sync_assets: Some(false), default_contact_id: None };
    let patched = store.patch_org_mapping(t, "4", &patch, t0).await.unwrap().unwrap();
    assert_eq!((patched.client_id.as_deref(), patched.auto_sync_assets), (Some("psa-1"), false));
    assert!(
        store.patch_org_mapping(t, "404", &patch, t0).await.unwrap().is_none(),
        "no mapping: none, nothing created"
    );
    assert!(store.get_org_mapping(t, "404").await.unwrap().is_none());
    // Gone from Tactical: flagged once (the first time stays), cleared by the next write.
    store.flag_org_mapping_missing(t, "4", "2026-02-01T00:00:00Z").await.unwrap();
    store.flag_org_mapping_missing(t, "4", "2026-03-01T00:00:00Z").await.unwrap();
    store.flag_org_mapping_missing(t, "404", "2026-03-01T00:00:00Z").await.unwrap();
    assert!(store.get_org_mapping(t, "404").await.unwrap().is_none(), "flagging never creates");
    let flagged = store.get_org_mapping(t, "4").await.unwrap().unwrap();
    assert_eq!(flagged.missing_since.as_deref(), Some("2026-02-01T00:00:00Z"));
    let t1 = "2026-04-01T00:00:00Z";
    assert_eq!(store.write_org_mapping(t, &org("4", "Globex", 3), t1).await.unwrap(), MappingWrite::Updated);
    let back = store.get_org_mapping(t, "4").await.unwrap().unwrap();
    assert_eq!(back.missing_since, None, "a write clears the flag");
    assert_eq!(
        (back.client_id.as_deref(), back.auto_sync_assets),
        (Some("psa-1"), false),
        "a sync never overwrites a person's fields"
    );
    assert_eq!(
        (back.external_organization_name.as_str(), back.agent_count, back.created_at.as_deref()),
        ("Globex", 3, Some(t0))
    );
    let names: Vec<String> =
        store.list_org_mappings(t).await.unwrap().into_iter().map(|m| m.external_organization_name).collect();
    assert_eq!(names, ["Acme", "Globex"], "listed by name, case-insensitively");
}

pub async fn assets_and_their_mappings(store: &dyn Store, t: &TenantId) {
    assert!(!store.has_assets(t).await.unwrap());
    let assets: Vec<_> = (0..30).map(|n| sample_asset(t, n, 1 + (n as i64 % 2))).collect();
    let writes: Vec<AssetWrite> = assets.iter().cloned().enumerate().map(|(i, a)| write(a, i % 3 != 0)).collect();
    store.write_assets(t, &writes).await.unwrap();
    assert!(store.has_assets(t).await.unwrap());
    let mut ids: Vec<String> = assets.iter().map(|a| a.asset_id.clone()).collect();
    ids.push("not-an-asset".into());
    let mut got = store.get_assets(t, &ids).await.unwrap();
    got.sort_by(|a, b| a.asset_id.cmp(&b.asset_id));
    let mut want = assets.clone();
    want.sort_by(|a, b| a.asset_id.cmp(&b.asset_id));
    assert_eq!(got, want, "assets read back whole; missing ids are absent");
    assert!(store.get_assets(t, &[]).await.unwrap().is_empty());
    let states = store.asset_states(t, &ids[..3]).await.unwrap();
    assert_eq!(states.len(), 3);
    assert!(states.iter().all(|s| want.iter().any(|a| a.asset_id == s.asset_id && a.sync_hash == s.sync_hash)));
    assert_eq!(store.list_asset_states(t).await.unwrap().len(), 30);
    assert_eq!(store.list_assets(t).await.unwrap().len(), 30);
    assert_eq!(store.list_external_mappings(t).await.unwrap().len(), 20, "mappings only where written");
    let m = store.get_external_mapping(t, &assets[1].rmm_device_id).await.unwrap().unwrap();
    assert_eq!((m.alga_entity_id.as_str(), m.external_realm_id.as_str()), (assets[1].asset_id.as_str(), "2"));
    assert!(store.get_external_mapping(t, &assets[0].rmm_device_id).await.unwrap().is_none());
    // Missing flags keep their first time and never create an asset.
    let now1 = "2026-05-01T00:00:00Z";
    let flag = vec![assets[0].asset_id.clone(), "ghost".to_owned()];
    store.flag_assets_missing(t, &flag, now1).await.unwrap();
    store.flag_assets_missing(t, &flag[..1], "2026-06-01T00:00:00Z").await.unwrap();
    let flagged = store.get_assets(t, &flag).await.unwrap();
    assert_eq!(flagged.len(), 1, "flagging never creates");
    assert_eq!(flagged[0].missing_since.as_deref(), Some(now1));
    // A rewrite replaces the whole asset (the sync builds it whole).
    let mut moved = assets[0].clone();
    moved.name = "RENAMED".into();
    moved.missing_since = None;
    store.write_assets(t, &[write(moved.clone(), true)]).await.unwrap();
    assert_eq!(store.get_assets(t, &flag[..1]).await.unwrap(), vec![moved]);
}

pub async fn asset_pages_cover_every_asset(store: &dyn Store, t: &TenantId) {
    let (empty, next) = store.assets_page(t, None, 10).await.unwrap();
    assert!(empty.is_empty() && next.is_none(), "no assets: one empty last page");
    let writes: Vec<AssetWrite> = (0..25).map(|n| write(sample_asset(t, n, 1), false)).collect();
    store.write_assets(t, &writes).await.unwrap();
    for limit in [1, 7, 25, 1000] {
        let (mut seen, mut after, mut pages) = (Vec::new(), None::<String>, 0);
        loop {
            let (page, next) = store.assets_page(t, after.as_deref(), limit).await.unwrap();
            pages += 1;
            assert!(page.len() <= limit as usize, "a page holds at most `limit`");
            seen.extend(page.into_iter().map(|a| a.asset_id));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
            assert!(pages <= 30, "paging ends");
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(seen, sorted, "pages ordered by asset id, no repeats (limit {limit})");
        assert_eq!(seen.len(), 25, "every asset once (limit {limit})");
    }
}

/// A cursor is any asset id: a page goes on with the ids after it, wherever they are stored (the
/// DynamoDB adapter spreads assets over 16 partitions), and the lists keep their orders.
pub async fn asset_pages_resume_after_any_id(store: &dyn Store, t: &TenantId) {
    let assets: Vec<_> = (0..40).map(|n| sample_asset(t, n, 1)).collect();
    store.write_assets(t, &assets.iter().cloned().map(|a| write(a, true)).collect::<Vec<_>>()).await.unwrap();
    let mut ids: Vec<String> = assets.iter().map(|a| a.asset_id.clone()).collect();
    ids.sort();
    let listed: Vec<String> = store.list_assets(t).await.unwrap().into_iter().map(|a| a.asset_id).collect();
    assert_eq!(listed, ids, "every asset, in asset-id order");
    let mut agents: Vec<String> = assets.iter().map(|a| a.rmm_device_id.clone()).collect();
    agents.sort();
    let mapped: Vec<String> =
        store.list_external_mappings(t).await.unwrap().into_iter().map(|m| m.external_entity_id).collect();
    assert_eq!(mapped, agents, "every mapping, in agent-id order");
    let mut cursors: Vec<String> = ids.clone();
    // Ids that are no asset: before all, between shards, after all.
    cursors.extend(["0".into(), "7".into(), "7fffffff".into(), "a".into(), "ffffffff-ffff".into()]);
    for c in &cursors {
        let (page, next) = store.assets_page(t, Some(c), 1000).await.unwrap();
        let got: Vec<String> = page.into_iter().map(|a| a.asset_id).collect();
        let want: Vec<String> = ids.iter().filter(|id| id.as_str() > c.as_str()).cloned().collect();
        assert_eq!(got, want, "the ids after {c}, in order");
        assert!(next.is_none(), "nothing after the last asset");
    }
    // Pages of 3 from the middle still meet every later asset once.
    let (mut seen, mut after) = (Vec::new(), Some(ids[17].clone()));
    while let Some(a) = after {
        let (page, next) = store.assets_page(t, Some(&a), 3).await.unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.into_iter().map(|a| a.asset_id));
        after = next;
        assert!(seen.len() <= 40, "paging ends");
    }
    assert_eq!(seen, ids[18..].to_vec());
}

/// DynamoDB refuses a batch read that names one key twice; callers must deduplicate first.
///
/// Real DynamoDB refuses such a batch *write* too (BatchWriteItem's ValidationException), but
/// LocalStack accepts it, so the contract cannot hold the AWS adapter to it here: the memory
/// store refuses it as production does ([`crate::testing::MemoryStore`]).
pub async fn batches_refuse_duplicate_keys(store: &dyn Store, t: &TenantId) {
    let a = sample_asset(t, 1, 1);
    store.write_assets(t, &[write(a.clone(), true)]).await.unwrap();
    let twice = vec![a.asset_id.clone(), a.asset_id.clone()];
    assert!(store.get_assets(t, &twice).await.is_err(), "a read naming an asset twice fails");
    assert!(store.asset_states(t, &twice).await.is_err());
    assert!(store.asset_statuses(t, &twice).await.is_err());
    let inv = ["x".to_owned(), "x".to_owned()];
    assert!(store.get_software_inventories(t, &inv).await.is_err());
}
