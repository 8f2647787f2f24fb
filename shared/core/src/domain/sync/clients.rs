//! Sync Clients: Tactical clients → organization mappings.

use super::{TacticalErrorOrApi, client_for};
use crate::app::Deps;
use crate::domain::integration::RmmIntegration;
use crate::domain::mapping::{OrgMapping, TacticalOrg};
use crate::domain::sync_run::SyncCounts;
use crate::domain::time::now_rfc3339;
use crate::ports::{MappingWrite, RunProgress};
use crate::tenant::TenantId;
use std::collections::{HashMap, HashSet};

/// Sync Clients: one organization mapping per Tactical client; person-set fields untouched; a
/// client gone from Tactical is flagged, not deleted.
pub(super) async fn run_clients(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    _run_id: &str,
) -> Result<RunProgress, TacticalErrorOrApi> {
    let api = client_for(deps, tenant, integ).await?;
    let clients = api.clients().await?;
    let existing: HashMap<String, OrgMapping> = deps
        .store
        .list_org_mappings(tenant)
        .await?
        .into_iter()
        .map(|m| (m.external_organization_id.clone(), m))
        .collect();
    let now = now_rfc3339();
    let mut counts = SyncCounts::default();
    let mut seen = HashSet::new();
    for c in &clients {
        let org = TacticalOrg::from(c);
        seen.insert(org.external_organization_id.clone());
        counts.items_processed += 1;
        match existing.get(&org.external_organization_id) {
            Some(m) if !org.differs_from(m) => counts.items_unchanged += 1,
            _ => match deps.store.write_org_mapping(tenant, &org, &now).await? {
                MappingWrite::Created => counts.items_created += 1,
                MappingWrite::Updated => counts.items_updated += 1,
            },
        }
    }
    for (id, m) in &existing {
        if !seen.contains(id) && m.missing_since.is_none() {
            deps.store.flag_org_mapping_missing(tenant, id, &now).await?;
            counts.items_deleted += 1;
        }
    }
    Ok(RunProgress { counts, pending_delta: -1, ..Default::default() })
}
