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
/// sk = the asset id (UUIDv5 of tenant and agent id).
pub fn assets(t: &TenantId) -> String {
    format!("{t}#assets")
}
pub fn external_mappings(t: &TenantId) -> String {
    format!("{t}#tenant_external_entity_mappings")
}
pub fn external_mapping_sk(agent_id: &str) -> String {
    format!("tacticalrmm#asset#{agent_id}")
}

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
            assets(&t),
            external_mappings(&t),
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
}
