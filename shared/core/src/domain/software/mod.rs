//! Software inventory (admin guide "Ingest software inventory"): Tactical's cached inventory of
//! each asset's agent → a per-tenant software catalog and per-asset software links with install
//! and uninstall history. See docs/software.md.
//!
//! - Catalog identity: the normalised name (trimmed, lower-case, whitespace collapsed) and the
//!   normalised publisher (same rules; empty allowed). The version is not part of identity.
//! - Change detection: a hash of the asset's normalised list; an unchanged list costs no write.
//! - Unknown is not empty: an agent without inventory (`[]`, no row, or an empty list) is left
//!   untouched, never "everything uninstalled".
//! - Install counts: each asset's inventory record keeps the catalog keys counted for it, so a
//!   retried or duplicated work item computes the same deltas and the record's conditional write
//!   lets only one worker apply them (see `ingest_agent`).

mod catalog;
mod ingest;
mod normalize;
mod parse;

pub use catalog::{AssetDiff, AssetSoftware, CatalogDelta, CatalogEntry, SoftwareInventory, diff_asset};
pub use ingest::SOFTWARE_BATCH_SIZE;
pub(crate) use ingest::{batch_item, fan_out_software, software_batch};
pub use normalize::{NormalizedItem, catalog_key, clean_text, inventory_hash, key_tag, normalize, normalize_inventory};
pub use parse::{parse_go_time, parse_size};

#[cfg(test)]
mod tests {
    use super::normalize::MAX_NAME_KEY;
    use super::normalize::MAX_PUBLISHER_KEY;
    use super::*;
    use crate::tactical::types::SoftwareItem;
    use crate::tenant::TenantId;

    fn item(name: &str, version: &str, publisher: &str) -> SoftwareItem {
        SoftwareItem {
            name: name.into(),
            version: Some(version.into()),
            publisher: Some(publisher.into()),
            ..Default::default()
        }
    }

    #[test]
    fn names_and_publishers_normalise() {
        assert_eq!(normalize("  Microsoft\tEdge \n  WebView2 "), "microsoft edge webview2");
        assert_eq!(clean_text(" Microsoft  Edge\u{0}"), "Microsoft Edge");
        assert_eq!(normalize("ÄPFEL Corp"), "äpfel corp");
        assert_eq!(normalize("   "), "");
        assert_eq!(
            catalog_key(&normalize("7-Zip 23.01 (x64)"), &normalize("Igor Pavlov ")),
            "7-zip 23.01 (x64)#igor pavlov"
        );
        assert_eq!(catalog_key("", ""), "#");
    }

    #[test]
    fn keys_never_collide_on_separators_and_stay_short() {
        assert_ne!(catalog_key("a#b", "c"), catalog_key("a", "b#c"));
        assert_eq!(catalog_key("c# dev kit", "50% off"), "c%23 dev kit#50%25 off");
        let long = "x".repeat(5000);
        let k = catalog_key(&long, &long);
        assert!(k.len() <= MAX_NAME_KEY + 1 + MAX_PUBLISHER_KEY, "{}", k.len());
        assert_ne!(k, catalog_key(&format!("{long}y"), &long));
        let wide = "é".repeat(400);
        assert!(catalog_key(&wide, "").len() <= MAX_NAME_KEY + 1);
    }

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(parse_size("5.2 MB"), Some(5_200_000));
        assert_eq!(parse_size("865.3 kB"), Some(865_300));
        assert_eq!(parse_size("0 B"), Some(0));
        assert_eq!(parse_size("1.5 GB"), Some(1_500_000_000));
        assert_eq!(parse_size("2 TB"), Some(2_000_000_000_000));
        assert_eq!(parse_size("1 KiB"), Some(1024));
        assert_eq!(parse_size("1.5 MiB"), Some(1_572_864));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size(" 7KB "), Some(7000));
        for bad in ["", "MB", "abc", "1.2.3 MB", "5 parsecs", "-1 MB", "1e400 B"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn go_times_become_rfc3339_and_the_zero_time_is_unknown() {
        assert_eq!(parse_go_time("2023-05-01 00:00:00 +0000 UTC").as_deref(), Some("2023-05-01T00:00:00Z"));
        assert_eq!(parse_go_time("2023-05-01 10:30:00 -0700 MST").as_deref(), Some("2023-05-01T17:30:00Z"));
        assert_eq!(
            parse_go_time("2023-05-01 10:30:00.123456789 +0200 CEST m=+0.001").as_deref(),
            Some("2023-05-01T08:30:00.123456789Z")
        );
        assert_eq!(parse_go_time("0001-01-01 00:00:00 +0000 UTC"), None);
        assert_eq!(parse_go_time("2019-06-08").as_deref(), Some("2019-06-08T00:00:00Z"));
        assert_eq!(parse_go_time("20190608").as_deref(), Some("2019-06-08T00:00:00Z"));
        assert_eq!(parse_go_time("2019-06-08T01:02:03+01:00").as_deref(), Some("2019-06-08T00:02:03Z"));
        for bad in ["", "yesterday", "2019-13-01 00:00:00 +0000 UTC", "2019-06-08 25:00:00 +0000", "2019-06-08 x"] {
            assert_eq!(parse_go_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn inventories_merge_spellings_and_hash_stably() {
        let a = vec![
            item("Google Chrome", "120.0", "Google LLC"),
            item("  google   CHROME ", "121.0", "google llc"),
            item("7-Zip", "23.01", ""),
            SoftwareItem { name: " ".into(), ..Default::default() },
        ];
        let n = normalize_inventory(&a);
        assert_eq!(n.len(), 2);
        let chrome = n.iter().find(|i| i.normalized_name == "google chrome").unwrap();
        assert_eq!(chrome.version.as_deref(), Some("120.0, 121.0"));
        assert_eq!(chrome.catalog_key, "google chrome#google llc");
        let mut b = a.clone();
        b.reverse();
        assert_eq!(inventory_hash(&n), inventory_hash(&normalize_inventory(&b)), "order does not matter");
        let mut c = a.clone();
        c[2].version = Some("24.00".into());
        assert_ne!(inventory_hash(&n), inventory_hash(&normalize_inventory(&c)), "a version change is a change");
    }

    #[test]
    fn minimal_items_of_old_agents_are_kept() {
        let n = normalize_inventory(&[SoftwareItem {
            name: "Old".into(),
            version: Some("1".into()),
            ..Default::default()
        }]);
        assert_eq!(n[0].catalog_key, "old#");
        assert_eq!((n[0].install_date.clone(), n[0].size_bytes), (None, None));
    }

    #[test]
    fn diffs_install_change_uninstall_and_reinstall() {
        let t = TenantId::parse("t1").unwrap();
        let first = normalize_inventory(&[item("A", "1", "P"), item("B", "1", "P")]);
        let d = diff_asset(&t, "asset", &first, &[], &[], "t0");
        assert_eq!((d.installs, d.uninstalls, d.changed, d.deltas.len()), (2, 0, 0, 2));
        let links = d.writes.clone();
        let counted = d.counted.clone();

        // B removed, A upgraded.
        let second = normalize_inventory(&[item("A", "2", "P")]);
        let d = diff_asset(&t, "asset", &second, &links, &counted, "t1");
        assert_eq!((d.installs, d.uninstalls, d.changed), (0, 1, 1));
        assert_eq!(d.deltas.iter().map(|d| (d.normalized_name.as_str(), d.delta)).collect::<Vec<_>>(), vec![("b", -1)]);
        let b = d.writes.iter().find(|w| w.normalized_name == "b").unwrap();
        assert_eq!((b.is_current, b.uninstalled_at.as_deref(), b.first_seen_at.as_str()), (false, Some("t1"), "t0"));
        let a = d.writes.iter().find(|w| w.normalized_name == "a").unwrap();
        assert_eq!((a.version.as_deref(), a.first_seen_at.as_str(), a.last_seen_at.as_str()), (Some("2"), "t0", "t1"));

        // B comes back: current again, first seen kept.
        let links: Vec<AssetSoftware> = d.writes.clone();
        let d2 = diff_asset(
            &t,
            "asset",
            &normalize_inventory(&[item("A", "2", "P"), item("b", "1", "p")]),
            &links,
            &d.counted,
            "t2",
        );
        assert_eq!((d2.installs, d2.uninstalls), (1, 0));
        let b = d2.writes.iter().find(|w| w.normalized_name == "b").unwrap();
        assert_eq!((b.is_current, b.uninstalled_at.clone(), b.first_seen_at.as_str()), (true, None, "t0"));
    }

    #[test]
    fn a_half_written_attempt_still_counts_once() {
        let t = TenantId::parse("t1").unwrap();
        let list = normalize_inventory(&[item("A", "1", "P"), item("B", "1", "P")]);
        // The links were written but the inventory record (and its counted keys) was not.
        let links = diff_asset(&t, "asset", &list, &[], &[], "t0").writes;
        let d = diff_asset(&t, "asset", &list, &links, &[], "t1");
        assert!(d.writes.is_empty());
        assert_eq!(d.deltas.iter().map(|d| d.delta).sum::<i64>(), 2, "the counts the first attempt never added");
    }
}
