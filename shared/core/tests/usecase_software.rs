//! Software ingest (domain/software.rs) on the in-memory adapters, through `sync::start` and
//! `sync::handle_message`: the behaviours tests/it/software.rs checks on LocalStack.

mod common;

use common::{run, sees_nothing, synced, tenant};
use shared::TenantId;
use shared::domain::SyncRunStatus;
use shared::domain::asset::asset_id_for;
use shared::domain::software::{AssetSoftware, CatalogEntry};
use shared::messages::SyncType;
use shared::ports::SoftwareStore;
use shared::tactical::types::SoftwareItem;
use shared::testing::TestBed;

fn item(name: &str, publisher: &str, version: &str) -> SoftwareItem {
    SoftwareItem {
        name: name.into(),
        publisher: Some(publisher.into()),
        version: Some(version.into()),
        ..Default::default()
    }
}

async fn catalog(bed: &TestBed, t: &TenantId) -> Vec<CatalogEntry> {
    let mut c = bed.store.search_software_catalog(t, None, None).await.unwrap();
    c.sort_by(|a, b| a.catalog_key.cmp(&b.catalog_key));
    c
}

fn installs(c: &[CatalogEntry]) -> Vec<(&str, i64)> {
    c.iter().map(|e| (e.normalized_name.as_str(), e.install_count)).collect()
}

async fn links(bed: &TestBed, t: &TenantId, agent: &str) -> Vec<AssetSoftware> {
    let mut l = bed.store.list_asset_software(t, &asset_id_for(t, agent)).await.unwrap();
    l.sort_by(|a, b| a.catalog_key.cmp(&b.catalog_key));
    l
}

#[tokio::test]
async fn ingest_creates_catalog_entries_and_asset_software() {
    let (bed, t) = (TestBed::new(), tenant("sw-ingest"));
    synced(&bed, &t).await;
    let r = run(&bed, &t, SyncType::Software).await;
    assert_eq!(r.status, SyncRunStatus::Succeeded, "{r:?}");
    let c = &r.counts;
    assert_eq!((c.items_processed, c.items_updated, c.agents_no_inventory), (5, 2, 3), "{c:?}");
    assert_eq!((c.items_created, c.software_items), (3, 3), "three installs over two agents");
    assert_eq!(installs(&catalog(&bed, &t).await), vec![("7-zip 23.01 (x64)", 1), ("google chrome", 2)]);
    let acme = links(&bed, &t, "agent-acme-1").await;
    assert_eq!(acme.len(), 2);
    assert!(acme.iter().all(|l| l.is_current && l.uninstalled_at.is_none()));
    let chrome = &links(&bed, &t, "agent-globex-1").await[0];
    assert_eq!((chrome.name.as_str(), chrome.version.as_deref()), ("Google Chrome", Some("121.0")));
    assert!(links(&bed, &t, "agent-acme-2").await.is_empty(), "an agent without inventory gets nothing");
}

#[tokio::test]
async fn an_unchanged_run_writes_nothing() {
    let (bed, t) = (TestBed::new(), tenant("sw-unchanged"));
    synced(&bed, &t).await;
    run(&bed, &t, SyncType::Software).await;
    let (before_catalog, before_links) = (catalog(&bed, &t).await, links(&bed, &t, "agent-acme-1").await);
    let r = run(&bed, &t, SyncType::Software).await;
    assert_eq!(r.status, SyncRunStatus::Succeeded);
    let c = &r.counts;
    assert_eq!((c.items_unchanged, c.items_updated, c.items_created, c.items_deleted), (2, 0, 0, 0), "{c:?}");
    assert_eq!(catalog(&bed, &t).await, before_catalog, "install counts are not added twice");
    assert_eq!(links(&bed, &t, "agent-acme-1").await, before_links, "no link was rewritten");
}

#[tokio::test]
async fn an_uninstall_is_kept_as_history_and_a_reinstall_keeps_first_seen() {
    let (bed, t) = (TestBed::new(), tenant("sw-history"));
    synced(&bed, &t).await;
    run(&bed, &t, SyncType::Software).await;
    let first_seen = links(&bed, &t, "agent-acme-1").await[0].first_seen_at.clone();

    bed.tactical.set_software("agent-acme-1", Some(vec![item("Google Chrome", "Google LLC", "120.0")]));
    let r = run(&bed, &t, SyncType::Software).await;
    assert_eq!((r.counts.items_deleted, r.counts.items_updated), (1, 1), "{:?}", r.counts);
    let zip = links(&bed, &t, "agent-acme-1").await.remove(0);
    assert!(zip.catalog_key.starts_with("7-zip"), "{zip:?}");
    assert!(!zip.is_current && zip.uninstalled_at.is_some(), "uninstalled, not deleted: {zip:?}");
    assert_eq!(installs(&catalog(&bed, &t).await), vec![("7-zip 23.01 (x64)", 0), ("google chrome", 2)]);

    bed.tactical.set_software(
        "agent-acme-1",
        Some(vec![item("7-Zip 23.01 (x64)", "Igor Pavlov", "23.01"), item("Google Chrome", "Google LLC", "120.0")]),
    );
    let r = run(&bed, &t, SyncType::Software).await;
    assert_eq!(r.counts.items_created, 1, "the reinstall");
    let zip = links(&bed, &t, "agent-acme-1").await.remove(0);
    assert!(zip.is_current && zip.uninstalled_at.is_none());
    assert_eq!(zip.first_seen_at, first_seen, "first seen survives the uninstall");
    assert_eq!(installs(&catalog(&bed, &t).await)[0], ("7-zip 23.01 (x64)", 1));
}

#[tokio::test]
async fn an_empty_list_is_unknown_not_everything_uninstalled() {
    let (bed, t) = (TestBed::new(), tenant("sw-empty"));
    synced(&bed, &t).await;
    run(&bed, &t, SyncType::Software).await;
    bed.tactical.set_software("agent-acme-1", Some(vec![]));
    let r = run(&bed, &t, SyncType::Software).await;
    assert_eq!((r.counts.items_deleted, r.counts.agents_no_inventory), (0, 4));
    assert!(links(&bed, &t, "agent-acme-1").await.iter().all(|l| l.is_current));
}

#[tokio::test]
async fn a_second_tenant_on_the_same_bed_sees_nothing_of_the_first() {
    let (bed, a, b) = (TestBed::new(), tenant("sw-iso-a"), tenant("sw-iso-b"));
    synced(&bed, &a).await;
    run(&bed, &a, SyncType::Software).await;
    common::connect(&bed, &b).await;
    sees_nothing(&bed, &b).await;
    let r = run(&bed, &b, SyncType::Software).await;
    assert_eq!(r.counts.items_processed, 0, "B has no asset, so no agent of A is ingested for it");
    assert!(r.message.is_some_and(|m| m.contains("sync devices first")));
    assert!(catalog(&bed, &b).await.is_empty());
    assert!(links(&bed, &b, "agent-acme-1").await.is_empty());
    assert_eq!(catalog(&bed, &a).await.len(), 2);
}
