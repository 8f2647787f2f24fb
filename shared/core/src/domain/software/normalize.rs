//! Inventory rows → normalized items: cleaned names and publishers, the catalog key, and the
//! inventory hash that lets an unchanged inventory cost no write.

use super::{parse_go_time, parse_size};
use crate::tactical::types::SoftwareItem;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Longest stored name / publisher component of a key (DynamoDB sort keys stop at 1024 bytes).
pub(super) const MAX_NAME_KEY: usize = 512;
pub(super) const MAX_PUBLISHER_KEY: usize = 256;
/// Bumped when normalisation changes, so every asset is rewritten once under the new rules.
pub(super) const HASH_VERSION: &str = "v1";

// ---- normalisation ------------------------------------------------------------------------

/// Trimmed, whitespace runs (and control characters) collapsed to one space; case kept. What we
/// show.
pub fn clean_text(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Catalog identity of a name or publisher: [`clean_text`], lower-cased.
pub fn normalize(s: &str) -> String {
    clean_text(s).to_lowercase()
}

/// Escapes the key separator and keeps a component within `max` bytes (a long one is cut and
/// suffixed with a hash of the whole, so distinct values keep distinct keys).
pub(super) fn key_part(s: &str, max: usize) -> String {
    let esc = s.replace('%', "%25").replace('#', "%23");
    if esc.len() <= max {
        return esc;
    }
    let mut cut = max - 17;
    while !esc.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{}", &esc[..cut], &hex::encode(Sha256::digest(esc.as_bytes()))[..16])
}

/// `{normalized_name}#{normalized_publisher}`: the catalog entry's sort key and the asset
/// link's. `#` and `%` inside the parts are escaped, so the key always splits back uniquely.
pub fn catalog_key(normalized_name: &str, normalized_publisher: &str) -> String {
    format!("{}#{}", key_part(normalized_name, MAX_NAME_KEY), key_part(normalized_publisher, MAX_PUBLISHER_KEY))
}

/// A short, stable tag of a catalog key (the per-asset record of counted keys stays small).
pub fn key_tag(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// One program of an asset's inventory after normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedItem {
    pub catalog_key: String,
    /// As reported, trimmed and whitespace collapsed.
    pub name: String,
    pub publisher: String,
    pub normalized_name: String,
    pub normalized_publisher: String,
    pub version: Option<String>,
    /// RFC 3339; `None` when unknown.
    pub install_date: Option<String>,
    pub install_path: Option<String>,
    pub size_bytes: Option<u64>,
}

pub(super) fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(clean_text).filter(|s| !s.is_empty())
}

/// The agent's list → one entry per catalog key, sorted by key. Items without a name are
/// dropped. Items sharing a key (the same product twice, in several versions) merge: versions
/// listed in order (`"1.0, 2.0"`), the earliest install date, the summed size, the first path.
pub fn normalize_inventory(items: &[SoftwareItem]) -> Vec<NormalizedItem> {
    let mut by_key: BTreeMap<String, Vec<NormalizedItem>> = BTreeMap::new();
    for i in items {
        let name = clean_text(&i.name);
        if name.is_empty() {
            continue;
        }
        let publisher = clean_text(i.publisher.as_deref().unwrap_or(""));
        let (nn, np) = (name.to_lowercase(), publisher.to_lowercase());
        let item = NormalizedItem {
            catalog_key: catalog_key(&nn, &np),
            name,
            publisher,
            normalized_name: nn,
            normalized_publisher: np,
            version: non_empty(i.version.as_deref()),
            install_date: i.install_date.as_deref().and_then(parse_go_time),
            install_path: non_empty(i.location.as_deref()),
            size_bytes: i.size.as_deref().and_then(parse_size),
        };
        by_key.entry(item.catalog_key.clone()).or_default().push(item);
    }
    by_key
        .into_values()
        .map(|mut group| {
            // Deterministic whatever order Tactical lists the duplicates in.
            group.sort_by(|a, b| {
                (&a.version, &a.install_date, &a.install_path, &a.name, &a.publisher, a.size_bytes).cmp(&(
                    &b.version,
                    &b.install_date,
                    &b.install_path,
                    &b.name,
                    &b.publisher,
                    b.size_bytes,
                ))
            });
            let mut first = group[0].clone();
            if group.len() > 1 {
                let mut versions: Vec<&str> = group.iter().filter_map(|g| g.version.as_deref()).collect();
                versions.dedup();
                first.version = (!versions.is_empty()).then(|| versions.join(", "));
                first.install_date = group.iter().filter_map(|g| g.install_date.clone()).min();
                first.install_path = group.iter().find_map(|g| g.install_path.clone());
                let sizes: Vec<u64> = group.iter().filter_map(|g| g.size_bytes).collect();
                first.size_bytes = (!sizes.is_empty()).then(|| sizes.iter().fold(0u64, |a, b| a.saturating_add(*b)));
            }
            first
        })
        .collect()
}

/// Hash of a normalised list (sorted by key): equal lists, equal hashes.
pub fn inventory_hash(items: &[NormalizedItem]) -> String {
    let mut h = Sha256::new();
    h.update(HASH_VERSION.as_bytes());
    for i in items {
        for field in [
            Some(i.catalog_key.as_str()),
            Some(i.name.as_str()),
            Some(i.publisher.as_str()),
            i.version.as_deref(),
            i.install_date.as_deref(),
            i.install_path.as_deref(),
        ] {
            h.update([0x1f]);
            if let Some(f) = field {
                h.update([1]);
                h.update(f.as_bytes());
            }
        }
        h.update(i.size_bytes.map(|s| s.to_string()).unwrap_or_default().as_bytes());
        h.update([0x1e]);
    }
    hex::encode(h.finalize())
}

// ---- stored shapes ------------------------------------------------------------------------
