//! The stored software: catalog entries, asset software links with their history, and the diff of
//! one asset's links against a new inventory.

use super::{NormalizedItem, key_tag};
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// asset_software: one catalog entry on one asset (admin guide field names). Never deleted: an
/// uninstall sets `is_current = false` and `uninstalled_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetSoftware {
    pub tenant: TenantId,
    pub asset_id: String,
    pub catalog_key: String,
    pub name: String,
    #[serde(default)]
    pub publisher: String,
    pub normalized_name: String,
    #[serde(default)]
    pub normalized_publisher: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub install_date: Option<String>,
    #[serde(default)]
    pub install_path: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    pub first_seen_at: String,
    /// When a run last wrote this link (first seen, changed, reinstalled). A run that finds the
    /// asset's list unchanged writes nothing, so it does not move this.
    pub last_seen_at: String,
    pub is_current: bool,
    #[serde(default)]
    pub uninstalled_at: Option<String>,
}

impl AssetSoftware {
    fn same_details(&self, n: &NormalizedItem) -> bool {
        self.name == n.name
            && self.publisher == n.publisher
            && self.version == n.version
            && self.install_date == n.install_date
            && self.install_path == n.install_path
            && self.size_bytes == n.size_bytes
    }

    fn from_item(tenant: &TenantId, asset_id: &str, n: &NormalizedItem, first_seen_at: &str, now: &str) -> Self {
        AssetSoftware {
            tenant: tenant.clone(),
            asset_id: asset_id.to_owned(),
            catalog_key: n.catalog_key.clone(),
            name: n.name.clone(),
            publisher: n.publisher.clone(),
            normalized_name: n.normalized_name.clone(),
            normalized_publisher: n.normalized_publisher.clone(),
            version: n.version.clone(),
            install_date: n.install_date.clone(),
            install_path: n.install_path.clone(),
            size_bytes: n.size_bytes,
            first_seen_at: first_seen_at.to_owned(),
            last_seen_at: now.to_owned(),
            is_current: true,
            uninstalled_at: None,
        }
    }
}

/// The per-asset record of the last ingested inventory: its hash (change detection) and the
/// catalog keys counted in install counts for this asset (tags, see [`key_tag`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftwareInventory {
    pub tenant: TenantId,
    pub asset_id: String,
    pub agent_id: String,
    pub hash: String,
    #[serde(default)]
    pub counted: Vec<String>,
    #[serde(default)]
    pub item_count: u64,
    pub updated_at: String,
    #[serde(default)]
    pub run_id: Option<String>,
}

/// software_catalog: one entry per tenant and (normalised name, normalised publisher).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub tenant: TenantId,
    pub catalog_key: String,
    /// The spelling first seen.
    pub name: String,
    pub normalized_name: String,
    #[serde(default)]
    pub publisher: String,
    #[serde(default)]
    pub normalized_publisher: String,
    /// Assets on which the entry is currently installed.
    #[serde(default)]
    pub install_count: i64,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub software_type: Option<String>,
    #[serde(default)]
    pub is_managed: bool,
    #[serde(default)]
    pub is_security_relevant: bool,
    #[serde(default)]
    pub first_seen_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A change to one catalog entry's install count; creates the entry if needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogDelta {
    pub catalog_key: String,
    pub name: String,
    pub publisher: String,
    pub normalized_name: String,
    pub normalized_publisher: String,
    pub delta: i64,
}

// ---- per-asset diff ------------------------------------------------------------------------

/// What one changed list does to an asset.
#[derive(Debug, Default, PartialEq)]
pub struct AssetDiff {
    /// Links to (re)write.
    pub writes: Vec<AssetSoftware>,
    /// New or reinstalled links.
    pub installs: i64,
    pub uninstalls: i64,
    /// Links still installed whose version or details changed.
    pub changed: i64,
    /// Install count changes, from the keys counted before (not from the links, which a failed
    /// attempt may have half written).
    pub deltas: Vec<CatalogDelta>,
    /// Tags of the keys counted after this diff.
    pub counted: Vec<String>,
}

/// Compares the new list with the asset's links and its counted keys.
pub fn diff_asset(
    tenant: &TenantId,
    asset_id: &str,
    new: &[NormalizedItem],
    links: &[AssetSoftware],
    counted_before: &[String],
    now: &str,
) -> AssetDiff {
    let by_key: HashMap<&str, &AssetSoftware> = links.iter().map(|l| (l.catalog_key.as_str(), l)).collect();
    let counted: HashSet<&str> = counted_before.iter().map(String::as_str).collect();
    let mut d = AssetDiff::default();
    let mut new_keys = HashSet::new();
    for n in new {
        new_keys.insert(n.catalog_key.as_str());
        match by_key.get(n.catalog_key.as_str()) {
            None => {
                d.installs += 1;
                d.writes.push(AssetSoftware::from_item(tenant, asset_id, n, now, now));
            }
            Some(l) if !l.is_current => {
                d.installs += 1;
                d.writes.push(AssetSoftware::from_item(tenant, asset_id, n, &l.first_seen_at, now));
            }
            Some(l) if !l.same_details(n) => {
                d.changed += 1;
                d.writes.push(AssetSoftware::from_item(tenant, asset_id, n, &l.first_seen_at, now));
            }
            Some(_) => {}
        }
        let tag = key_tag(&n.catalog_key);
        if !counted.contains(tag.as_str()) {
            d.deltas.push(CatalogDelta {
                catalog_key: n.catalog_key.clone(),
                name: n.name.clone(),
                publisher: n.publisher.clone(),
                normalized_name: n.normalized_name.clone(),
                normalized_publisher: n.normalized_publisher.clone(),
                delta: 1,
            });
        }
        d.counted.push(tag);
    }
    let new_tags: HashSet<&str> = d.counted.iter().map(String::as_str).collect();
    for l in links {
        if new_keys.contains(l.catalog_key.as_str()) {
            continue;
        }
        if l.is_current {
            d.uninstalls += 1;
            d.writes.push(AssetSoftware { is_current: false, uninstalled_at: Some(now.to_owned()), ..(*l).clone() });
        }
        let tag = key_tag(&l.catalog_key);
        if counted.contains(tag.as_str()) && !new_tags.contains(tag.as_str()) {
            d.deltas.push(CatalogDelta {
                catalog_key: l.catalog_key.clone(),
                name: l.name.clone(),
                publisher: l.publisher.clone(),
                normalized_name: l.normalized_name.clone(),
                normalized_publisher: l.normalized_publisher.clone(),
                delta: -1,
            });
        }
    }
    d
}

// ---- runs ----------------------------------------------------------------------------------
