//! Every partition and sort key of the table, in one place: the key table of
//! docs/architecture.md, row by row. Partition keys always start with the tenant id, which cannot
//! contain `#` or `/`, so no key of one tenant can be built from another's.

use super::item::{Item, s};
use shared::messages::SyncType;
use shared::tenant::TenantId;
use std::collections::HashMap;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const TTL: &str = "expires_at";
/// `gsi1pk` of active integrations (the sparse index the scheduler reads; `gsi1sk` = tenant).
pub const ACTIVE_INTEGRATIONS: &str = "rmm_integrations#active";

/// A primary key.
pub fn key(pk: String, sk: String) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

// rmm_integrations and short tenant locks.

pub fn integrations(t: &TenantId) -> String {
    format!("{t}#rmm_integrations")
}
pub const INTEGRATION_SK: &str = "tacticalrmm";
pub fn integration(t: &TenantId) -> (String, String) {
    (integrations(t), INTEGRATION_SK.into())
}
/// A short tenant lock (Knox re-login), in the integration's partition.
pub fn tenant_lock_sk(name: &str) -> String {
    format!("lock#{name}")
}

// Organization mappings, assets, external entity mappings.

pub fn org_mappings(t: &TenantId) -> String {
    format!("{t}#rmm_organization_mappings")
}
pub fn org_mapping_sk(client_id: &str) -> String {
    format!("tacticalrmm#{client_id}")
}
/// Assets and external entity mappings are spread over this many partition keys: a first sync
/// of a large tenant writes faster than one partition accepts (1,000 WRU/s).
pub const SHARDS: u8 = 16;

/// The shard of an asset id: its first hex digit. Asset ids are UUIDv5s (uniform), so the shards
/// fill evenly; and as the digit sorts like the id, shards read in order 0..f list the assets in
/// asset-id order. An id that does not start with a hex digit (never written by a sync) still has
/// one place: shard 0.
pub fn shard(asset_id: &str) -> u8 {
    asset_id.chars().next().and_then(|c| c.to_digit(16)).and_then(|d| u8::try_from(d).ok()).unwrap_or(0)
}

/// One shard of the assets; sk = the asset id (UUIDv5 of tenant and agent id).
pub fn assets_shard(t: &TenantId, s: u8) -> String {
    format!("{t}#assets#{s:x}")
}
/// The partition of one asset.
pub fn asset_pk(t: &TenantId, asset_id: &str) -> String {
    assets_shard(t, shard(asset_id))
}
/// One shard of the external entity mappings; sk = [`external_mapping_sk`].
pub fn external_mappings_shard(t: &TenantId, s: u8) -> String {
    format!("{t}#tenant_external_entity_mappings#{s:x}")
}
/// The partition of an agent's mapping: the shard of the asset it points to. Readers look a
/// mapping up by agent id, and the asset id is computed from tenant and agent id alone, so each
/// of them finds the shard; a mapping and its asset sit in shards of the same number.
pub fn external_mapping_pk(t: &TenantId, agent_id: &str) -> String {
    external_mappings_shard(t, shard(&shared::domain::asset::asset_id_for(t, agent_id)))
}
pub fn external_mapping_sk(agent_id: &str) -> String {
    format!("{EXTERNAL_MAPPING_PREFIX}{agent_id}")
}
pub const EXTERNAL_MAPPING_PREFIX: &str = "tacticalrmm#asset#";
/// The unsharded partitions of deployments before sharding; read only to move their items into
/// the shards ([`ASSETS_SHARDED`]).
pub fn legacy_assets(t: &TenantId) -> String {
    format!("{t}#assets")
}
pub fn legacy_external_mappings(t: &TenantId) -> String {
    format!("{t}#tenant_external_entity_mappings")
}
/// Attribute of the integration item: set once the tenant's legacy assets and mappings are moved.
pub const ASSETS_SHARDED: &str = "assets_sharded";

// Sync runs, their lock and the agents each run saw.

pub fn sync_runs(t: &TenantId) -> String {
    format!("{t}#sync_runs")
}
/// Run ids sort by start time, so the last run of a type is the last key under this prefix.
pub fn sync_run_prefix(st: SyncType) -> String {
    format!("{}#", st.as_str())
}
pub fn sync_run_sk(st: SyncType, run_id: &str) -> String {
    format!("{}{run_id}", sync_run_prefix(st))
}
pub fn sync_lock_sk(st: SyncType) -> String {
    format!("lock#{}", st.as_str())
}
pub fn seen_prefix(st: SyncType, run_id: &str) -> String {
    format!("seen#{}#{run_id}#", st.as_str())
}
/// `part` is the work item (`{client}-{page}`, with `#fresh` on a tenant without assets).
pub fn seen_sk(st: SyncType, run_id: &str, part: &str) -> String {
    format!("{}{part}", seen_prefix(st, run_id))
}

// Software.

/// Catalog entries; sk = catalog key `{normalized_name}#{normalized_publisher}`.
pub fn software_catalog(t: &TenantId) -> String {
    format!("{t}#software_catalog")
}
/// One asset's links (sk = catalog key) and its inventory record (sk [`INVENTORY_SK`]).
pub fn asset_software(t: &TenantId, asset_id: &str) -> String {
    format!("{t}#asset_software#{asset_id}")
}
/// Never a catalog key: those always contain `#`.
pub const INVENTORY_SK: &str = "inventory";

// Live status.

pub fn status(t: &TenantId) -> String {
    format!("{t}#status")
}
/// Everything of one client's snapshot (and the `{part}` items of the older line layout).
pub fn snapshot_prefix(client_id: i64) -> String {
    format!("snapshot#{client_id}#")
}
pub fn snapshot_members_sk(client_id: i64, part: usize) -> String {
    format!("{}members#{part:04}", snapshot_prefix(client_id))
}
pub fn snapshot_statuses_sk(client_id: i64) -> String {
    format!("{}statuses", snapshot_prefix(client_id))
}
pub const OBSERVED: &str = "observed";

// Alerts.

pub fn alerts(t: &TenantId) -> String {
    format!("{t}#rmm_alerts")
}
pub const ALERT_PREFIX: &str = "tacticalrmm#alert#";
/// `key` is `id#{alert id}` or `agent#{agent}#{type}#{check}`.
pub fn alert_sk(key: &str) -> String {
    format!("{ALERT_PREFIX}{key}")
}
/// `pointer` is `{agent}#{type}#{check}`.
pub fn open_pointer_sk(pointer: &str) -> String {
    format!("tacticalrmm#open#{pointer}")
}
/// Ticket ids never contain `#`, so one ticket's prefix is no other ticket's.
pub fn ticket_prefix(ticket_id: &str) -> String {
    format!("tacticalrmm#ticket#{ticket_id}#")
}
pub fn ticket_link_sk(ticket_id: &str, alert_key: &str) -> String {
    format!("{}{alert_key}", ticket_prefix(ticket_id))
}
/// `gsi1pk` of the open set: the tenant's alerts that are open or have changes to publish
/// (`gsi1sk` = the alert's sk). Every alert write sets or removes it.
pub fn open_alerts_gsi1pk(t: &TenantId) -> String {
    format!("{t}#rmm_alerts#open")
}
/// The marker saying the tenant's alerts from before the open set were indexed (in the alerts
/// partition, and in the open set itself so reading the set reads it too).
pub const OPEN_INDEX_SK: &str = "tacticalrmm#open_index";

// Remote-action audit log (its own table; sk = the audit id).

pub fn audit_log(t: &TenantId) -> String {
    format!("{t}#rmm_audit_log")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_lead_with_the_tenant() {
        let t = TenantId::parse("t1").unwrap();
        for pk in [
            integrations(&t),
            org_mappings(&t),
            assets_shard(&t, 0),
            external_mappings_shard(&t, 15),
            legacy_assets(&t),
            legacy_external_mappings(&t),
            sync_runs(&t),
            software_catalog(&t),
            asset_software(&t, "a1"),
            status(&t),
            alerts(&t),
            audit_log(&t),
        ] {
            assert!(pk.starts_with("t1#"), "{pk}");
        }
    }

    #[test]
    fn keys_match_the_documented_formats() {
        let t = TenantId::parse("t1").unwrap();
        assert_eq!(integration(&t), ("t1#rmm_integrations".into(), "tacticalrmm".into()));
        assert_eq!(tenant_lock_sk("knox"), "lock#knox");
        assert_eq!(org_mapping_sk("7"), "tacticalrmm#7");
        assert_eq!(external_mapping_sk("ag"), "tacticalrmm#asset#ag");
        assert_eq!(sync_run_sk(SyncType::Devices, "r1"), format!("{}#r1", SyncType::Devices.as_str()));
        assert_eq!(sync_lock_sk(SyncType::Devices), format!("lock#{}", SyncType::Devices.as_str()));
        assert_eq!(seen_sk(SyncType::Devices, "r1", "3-1"), format!("seen#{}#r1#3-1", SyncType::Devices.as_str()));
        assert_eq!(asset_software(&t, "a1"), "t1#asset_software#a1");
        assert!(!INVENTORY_SK.contains('#'));
        assert_eq!(snapshot_members_sk(12, 3), "snapshot#12#members#0003");
        assert_eq!(snapshot_statuses_sk(12), "snapshot#12#statuses");
        assert_eq!(alert_sk("id#5"), "tacticalrmm#alert#id#5");
        assert_eq!(open_pointer_sk("ag#check#1"), "tacticalrmm#open#ag#check#1");
        assert_eq!(ticket_link_sk("T9", "id#5"), "tacticalrmm#ticket#T9#id#5");
        assert_eq!(open_alerts_gsi1pk(&t), "t1#rmm_alerts#open");
        assert!(!OPEN_INDEX_SK.starts_with(ALERT_PREFIX), "the marker is never listed as an alert");
    }

    #[test]
    fn the_shard_is_the_first_hex_digit_of_the_asset_id() {
        assert_eq!(shard("0a1b"), 0);
        assert_eq!(shard("9f00"), 9);
        assert_eq!(shard("a000"), 10);
        assert_eq!(shard("f3c2"), 15);
        assert_eq!(shard("ghost"), 0, "a non-hex id still has one place");
        assert_eq!(shard(""), 0);
        let t = TenantId::parse("t1").unwrap();
        assert_eq!(assets_shard(&t, 10), "t1#assets#a");
        assert_eq!(asset_pk(&t, "c0ffee00-0000-5000-8000-000000000000"), "t1#assets#c");
        assert_eq!(external_mappings_shard(&t, 3), "t1#tenant_external_entity_mappings#3");
    }

    #[test]
    fn a_mapping_sits_in_the_shard_of_its_asset() {
        let t = TenantId::parse("t1").unwrap();
        for agent in ["ag", "gdINOUXzJUGNddnBSRPsWGqLrrlIIrEJEkXGBvcL", "agent-0001"] {
            let asset_id = shared::domain::asset::asset_id_for(&t, agent);
            let s = format!("{:x}", shard(&asset_id));
            assert_eq!(external_mapping_pk(&t, agent), format!("t1#tenant_external_entity_mappings#{s}"));
            assert_eq!(asset_pk(&t, &asset_id), format!("t1#assets#{s}"));
        }
    }

    #[test]
    fn asset_ids_spread_over_every_shard_and_shard_order_is_id_order() {
        let t = TenantId::parse("t1").unwrap();
        let mut ids: Vec<String> =
            (0..1600).map(|n| shared::domain::asset::asset_id_for(&t, &format!("agent-{n}"))).collect();
        let mut per_shard = [0usize; SHARDS as usize];
        for id in &ids {
            per_shard[usize::from(shard(id))] += 1;
        }
        // 100 expected per shard; a uniform id leaves none nearly empty or twice as full.
        assert!(per_shard.iter().all(|n| (50..200).contains(n)), "{per_shard:?}");
        let mut by_shard = Vec::new();
        for s in 0..SHARDS {
            let mut part: Vec<String> = ids.iter().filter(|id| shard(id) == s).cloned().collect();
            part.sort();
            by_shard.extend(part);
        }
        ids.sort();
        assert_eq!(by_shard, ids, "shards 0..f, each in id order, are all ids in id order");
    }
}
