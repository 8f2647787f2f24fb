//! Agents gone from Tactical: after a complete device run, the assets it did not see are flagged.

use super::{DRIFT_PART, FRESH_PART, TacticalErrorOrApi};
use crate::app::Deps;
use crate::domain::sync_run::SyncRun;
use crate::domain::time::now_rfc3339;
use crate::messages::SyncType;
use crate::tenant::TenantId;
use std::collections::HashSet;

/// After a complete device run: assets of synced organizations that no page saw are flagged
/// `missing_since` (kept, never deleted; cleared when the agent comes back).
///
/// Assets are only created by device runs, so when the previous run succeeded too (the
/// baseline), the only candidates are the assets it saw that this run did not: a few reads
/// instead of every asset. Without a usable baseline, every asset's state is read.
pub(super) async fn flag_missing_assets(
    deps: &Deps,
    tenant: &TenantId,
    run: &SyncRun,
) -> Result<Option<usize>, TacticalErrorOrApi> {
    let parts = deps.store.seen_in_run(tenant, SyncType::Devices, &run.run_id).await?;
    if parts.iter().any(|(p, _)| p == DRIFT_PART) {
        return Ok(None);
    }
    if parts.iter().any(|(p, _)| p == FRESH_PART) {
        return Ok(Some(0));
    }
    // Organizations this run read (an out-of-scope one is not: its assets are not called missing).
    let read: HashSet<&str> = parts.iter().filter_map(|(p, _)| p.rsplit_once('-').map(|(c, _)| c)).collect();
    let covered: HashSet<String> = deps
        .store
        .list_org_mappings(tenant)
        .await?
        .into_iter()
        .filter(|m| m.syncs_devices() && read.contains(m.external_organization_id.as_str()))
        .map(|m| m.external_organization_id)
        .collect();
    let seen: HashSet<String> = parts.into_iter().flat_map(|(_, ids)| ids).collect();
    let candidates = match baseline_candidates(deps, tenant, run, &covered, &seen).await? {
        Some(ids) if ids.is_empty() => Vec::new(),
        Some(ids) => deps.store.asset_states(tenant, &ids).await?,
        None => deps.store.list_asset_states(tenant).await?,
    };
    let missing: Vec<String> = candidates
        .into_iter()
        .filter(|a| {
            a.missing_since.is_none() && covered.contains(&a.rmm_organization_id) && !seen.contains(&a.asset_id)
        })
        .map(|a| a.asset_id)
        .collect();
    if !missing.is_empty() {
        deps.store.flag_assets_missing(tenant, &missing, &now_rfc3339()).await?;
    }
    Ok(Some(missing.len()))
}

/// The assets the baseline run saw and this one did not, or `None` when the baseline cannot
/// tell: there is none, its records expired (fewer ids than it counted), or an organization
/// synced now was not synced then (its assets were in no page of the baseline).
pub(super) async fn baseline_candidates(
    deps: &Deps,
    tenant: &TenantId,
    run: &SyncRun,
    covered: &HashSet<String>,
    seen: &HashSet<String>,
) -> Result<Option<Vec<String>>, TacticalErrorOrApi> {
    let Some(integ) = deps.store.get_integration(tenant).await? else { return Ok(None) };
    let Some(baseline) = integ.last_complete_device_run.filter(|b| *b != run.run_id) else { return Ok(None) };
    let Some(prev) = deps.store.get_run(tenant, SyncType::Devices, &baseline).await? else { return Ok(None) };
    let parts = deps.store.seen_in_run(tenant, SyncType::Devices, &baseline).await?;
    let recorded: i64 =
        parts.iter().map(|(_, ids)| i64::try_from(ids.len()).unwrap_or(i64::MAX)).fold(0, i64::saturating_add);
    let orgs: HashSet<&str> = parts.iter().filter_map(|(p, _)| p.rsplit_once('-').map(|(c, _)| c)).collect();
    if recorded != prev.counts.items_processed || covered.iter().any(|c| !orgs.contains(c.as_str())) {
        return Ok(None);
    }
    let mut ids: Vec<String> = parts.into_iter().flat_map(|(_, ids)| ids).filter(|id| !seen.contains(id)).collect();
    ids.sort();
    ids.dedup();
    Ok(Some(ids))
}
