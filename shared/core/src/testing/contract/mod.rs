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

/// Every store contract, in turn, on fresh tenants made by `tenant` (one per contract, so a
/// shared table never mixes them).
pub async fn store_contract(store: &dyn crate::ports::Store, tenant: impl Fn(&str) -> TenantId) {
    integrations_patch_only_what_they_name(store, &tenant("integ")).await;
    webhook_digests_backfill_only_where_none(store, &tenant("digests")).await;
    active_integrations_are_listed(store, &tenant("active"), &tenant("inactive")).await;
    one_run_per_tenant_and_type(store, &tenant("runs")).await;
    run_progress_counts_once(store, &tenant("progress")).await;
    run_locks_expire(store, &tenant("expiry")).await;
    named_locks(store, &tenant("locks")).await;
    seen_records(store, &tenant("seen")).await;
    org_mappings_keep_person_fields(store, &tenant("orgs")).await;
    assets_and_their_mappings(store, &tenant("assets")).await;
    asset_pages_cover_every_asset(store, &tenant("pages")).await;
    batches_refuse_duplicate_keys(store, &tenant("dupes")).await;
    status_snapshots_and_transitions(store, &tenant("status")).await;
    alerts_are_versioned(store, &tenant("alerts")).await;
    alert_lists_filter_and_page(store, &tenant("alist")).await;
    alert_pointers_and_ticket_links(store, &tenant("alinks")).await;
    software_inventories_compare_and_set(store, &tenant("swinv")).await;
    software_catalog_counts(store, &tenant("swcat")).await;
    audit_records_write_once(store, &tenant("audit")).await;
    audit_lists_page_newest_first(store, &tenant("apage")).await;
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
