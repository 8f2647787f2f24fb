//! Software inventory records, asset software links, the catalog.

use crate::domain::software::{AssetSoftware, CatalogDelta, SoftwareInventory};
use crate::ports::Store;
use crate::tenant::TenantId;

fn inventory(t: &TenantId, asset: &str, hash: &str) -> SoftwareInventory {
    SoftwareInventory {
        tenant: t.clone(),
        asset_id: asset.into(),
        agent_id: format!("agent-of-{asset}"),
        hash: hash.into(),
        counted: vec!["chrome#google".into()],
        item_count: 1,
        updated_at: "2026-01-01T00:00:00Z".into(),
        run_id: Some("r1".into()),
    }
}

fn link(t: &TenantId, asset: &str, key: &str, current: bool) -> AssetSoftware {
    AssetSoftware {
        tenant: t.clone(),
        asset_id: asset.into(),
        catalog_key: key.into(),
        name: key.into(),
        publisher: String::new(),
        normalized_name: key.into(),
        normalized_publisher: String::new(),
        version: Some("1.0".into()),
        install_date: None,
        install_path: None,
        size_bytes: Some(5_200_000),
        first_seen_at: "2026-01-01T00:00:00Z".into(),
        last_seen_at: "2026-01-01T00:00:00Z".into(),
        is_current: current,
        uninstalled_at: (!current).then(|| "2026-01-02T00:00:00Z".into()),
    }
}

fn delta(key: &str, name: &str, d: i64) -> CatalogDelta {
    let (n, p) = key.split_once('#').unwrap_or((key, ""));
    CatalogDelta {
        catalog_key: key.into(),
        name: name.into(),
        publisher: p.into(),
        normalized_name: n.into(),
        normalized_publisher: p.into(),
        delta: d,
    }
}

pub async fn software_inventories_compare_and_set(store: &dyn Store, t: &TenantId) {
    let ids = vec!["as-1".to_owned(), "as-2".to_owned()];
    assert!(store.get_software_inventories(t, &ids).await.unwrap().is_empty());
    assert!(store.record_software_inventory(t, &inventory(t, "as-1", "h1"), None).await.unwrap(), "first record");
    assert!(
        !store.record_software_inventory(t, &inventory(t, "as-1", "hX"), None).await.unwrap(),
        "another first loses"
    );
    assert!(
        !store.record_software_inventory(t, &inventory(t, "as-1", "hX"), Some("h0")).await.unwrap(),
        "a stale hash loses"
    );
    assert!(store.record_software_inventory(t, &inventory(t, "as-1", "h2"), Some("h1")).await.unwrap());
    assert!(
        !store.record_software_inventory(t, &inventory(t, "as-2", "h1"), Some("h1")).await.unwrap(),
        "no record: only None"
    );
    assert_eq!(store.get_software_inventories(t, &ids).await.unwrap(), vec![inventory(t, "as-1", "h2")]);

    let links = vec![
        link(t, "as-1", "chrome#google", true),
        link(t, "as-1", "7zip#igor pavlov", false),
        link(t, "as-2", "chrome#google", true),
    ];
    store.write_asset_software(t, &links).await.unwrap();
    store.write_asset_software(t, &links[..1]).await.unwrap();
    let mut got = store.list_asset_software(t, "as-1").await.unwrap();
    got.sort_by(|a, b| a.catalog_key.cmp(&b.catalog_key));
    assert_eq!(
        got,
        vec![links[1].clone(), links[0].clone()],
        "links of one asset, current and uninstalled; not its record"
    );
    assert!(store.list_asset_software(t, "as-3").await.unwrap().is_empty());
}

pub async fn software_catalog_counts(store: &dyn Store, t: &TenantId) {
    let now = "2026-01-01T00:00:00Z";
    store
        .add_to_software_catalog(t, &[delta("chrome#google", "Google Chrome", 1), delta("7zip#igor", "7-Zip", 2)], now)
        .await
        .unwrap();
    // Concurrent workers on one entry: one entry, no count lost, the first spelling kept.
    let first = [delta("chrome#google", "google chrome", 1)];
    let second = [delta("chrome#google", "GOOGLE CHROME", -1), delta("chrome#google", "x", 3)];
    let (a, b) = futures::join!(
        store.add_to_software_catalog(t, &first, "2026-01-02T00:00:00Z"),
        store.add_to_software_catalog(t, &second, now),
    );
    a.unwrap();
    b.unwrap();
    let all = store.search_software_catalog(t, None, None).await.unwrap();
    assert_eq!(all.len(), 2);
    let chrome = all.iter().find(|e| e.catalog_key == "chrome#google").unwrap();
    assert_eq!(
        (chrome.install_count, chrome.name.as_str(), chrome.first_seen_at.as_deref()),
        (4, "Google Chrome", Some(now))
    );
    assert!(!chrome.is_managed && !chrome.is_security_relevant);
    let found = store.search_software_catalog(t, Some("hrom"), None).await.unwrap();
    assert_eq!(found.len(), 1, "contains, on the normalised name");
    assert_eq!(
        store.search_software_catalog(t, Some(""), Some("igor")).await.unwrap().len(),
        1,
        "empty text: no filter"
    );
    assert!(
        store.search_software_catalog(t, Some("chrome"), Some("igor")).await.unwrap().is_empty(),
        "filters combine"
    );
}
