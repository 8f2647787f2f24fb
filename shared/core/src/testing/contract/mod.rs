//! The port contract: what every adapter of a port must do, as async functions over `&dyn` ports
//! and a fresh tenant. Run against the memory adapters (shared/tests/contract_memory.rs) and the
//! AWS adapters on LocalStack (tests/it/contract.rs), so the two cannot drift apart.
//!
//! Each function panics (assert) on a broken promise; it only asserts what the port's
//! documentation promises, never how an adapter keeps it.

mod alerts;
mod audit;
mod inventory;
mod runs;
mod secrets_queue;
mod software;
mod status;

pub use alerts::*;
pub use audit::*;
pub use inventory::*;
pub use runs::*;
pub use secrets_queue::*;
pub use software::*;
pub use status::*;

use crate::domain::asset::{Asset, OrgContext, asset_from_agent};
use crate::tenant::TenantId;

/// Calls `$m!` with the name of every store contract that takes one tenant: the one list each
/// runner (memory, DynamoDB, [`store_contract`]) expands into its own tests. A contract added
/// here runs everywhere. (`active_integrations_are_listed` takes two tenants: runners call it
/// themselves.)
#[macro_export]
macro_rules! for_each_store_contract {
    ($m:ident) => {
        $m!(
            integrations_patch_only_what_they_name,
            webhook_digests_backfill_only_where_none,
            one_run_per_tenant_and_type,
            run_progress_counts_once,
            run_locks_expire,
            named_locks,
            seen_records,
            org_mappings_keep_person_fields,
            assets_and_their_mappings,
            asset_pages_cover_every_asset,
            asset_pages_resume_after_any_id,
            batches_refuse_duplicate_keys,
            status_snapshots_and_transitions,
            status_snapshot_members_and_statuses,
            alerts_are_versioned,
            alert_lists_filter_and_page,
            alert_pointers_and_ticket_links,
            open_alerts_are_exactly_the_open_and_pending,
            software_inventories_compare_and_set,
            software_catalog_counts,
            audit_records_write_once,
            audit_lists_page_newest_first,
        );
    };
}

/// Every store contract, in turn, on fresh tenants made by `tenant` (one per contract, so a
/// shared table never mixes them).
pub async fn store_contract(store: &dyn crate::ports::Store, tenant: impl Fn(&str) -> TenantId) {
    macro_rules! run_each {
        ($($name:ident),* $(,)?) => {
            $( $name(store, &tenant(stringify!($name))).await; )*
        };
    }
    crate::for_each_store_contract!(run_each);
    active_integrations_are_listed(store, &tenant("active"), &tenant("inactive")).await;
}

/// An asset as a device sync builds it, for agent `n` of Tactical client `client`.
pub fn sample_asset(tenant: &TenantId, n: usize, client: i64) -> Asset {
    let agent = super::FakeAgent::new(
        i64::try_from(n).unwrap_or(0),
        &format!("agent-{n:04}"),
        &format!("HOST-{n:04}"),
        client,
        client * 10,
    );
    let org = OrgContext { tactical_client_id: client, psa_client_id: None, site_name: Some("HQ") };
    asset_from_agent(tenant, &agent.row, &org, crate::domain::time::now())
}
