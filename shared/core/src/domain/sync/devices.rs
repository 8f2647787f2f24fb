//! Sync Devices: one beta page of agents per queue message → assets, fanned out per organization
//! and page.

use super::{TacticalErrorOrApi, client_for};
use crate::app::Deps;
use crate::domain::asset::{ExternalEntityMapping, OrgContext, asset_from_agent};
use crate::domain::integration::RmmIntegration;
use crate::domain::limits::{check_run_total, page_count};
use crate::domain::mapping::OrgMapping;
use crate::domain::sync_run::SyncCounts;
use crate::domain::time::{now, now_rfc3339};
use crate::messages::{SyncMessage, SyncType};
use crate::ports::{AssetWrite, RunProgress};
use crate::tactical::types::BetaAgentQuery;
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;
use std::collections::{HashMap, HashSet};

/// Adds `n` pending work items once per `key`, then queues them, then notes `{key}#sent`. A
/// retried parent whose children were claimed but maybe not all sent (the send failed half-way,
/// or the worker died in between) sends them all again without claiming again: each child counts
/// at most once by its own work-item key, so a duplicate costs work but never a count, and the
/// run cannot finish before every claimed child has reported. Returns false when nothing was sent.
pub(crate) async fn fan_out(
    deps: &Deps,
    tenant: &TenantId,
    st: SyncType,
    run_id: &str,
    key: &str,
    msgs: Vec<SyncMessage>,
) -> Result<bool, TacticalErrorOrApi> {
    let n = i64::try_from(msgs.len()).unwrap_or(i64::MAX);
    let claim = RunProgress {
        pending_delta: n,
        work_item: Some(key.to_owned()),
        counts: SyncCounts { work_total: n, ..Default::default() },
        ..Default::default()
    };
    let sent_key = format!("{key}#sent");
    let sent = RunProgress { work_item: Some(sent_key.clone()), ..Default::default() };
    match deps.store.add_run_progress(tenant, st, run_id, &claim).await? {
        Some(run) => {
            if let Err(e) = check_run_total(run.counts.work_total, &deps.config.fan_out) {
                // Nothing was sent: give the claim back, but keep its key (and mark it sent) so
                // no redelivery of the parent sends these children.
                let undo = RunProgress {
                    pending_delta: -n,
                    counts: SyncCounts { work_total: -n, ..Default::default() },
                    work_item: Some(sent_key),
                    ..Default::default()
                };
                deps.store.add_run_progress(tenant, st, run_id, &undo).await?;
                return Err(TacticalErrorOrApi::Limit(e.to_string()));
            }
            deps.queue.send(st.queue(), &msgs).await.map_err(|e| TacticalErrorOrApi::FanOut(e.to_string()))?;
            deps.store.add_run_progress(tenant, st, run_id, &sent).await?;
        }
        None => {
            // Claimed before. Sent completely (or the run is gone or over): nothing to do.
            match deps.store.add_run_progress(tenant, st, run_id, &sent).await? {
                Some(run) if !run.status.is_finished() => {}
                _ => return Ok(false),
            }
            if let Err(e) = deps.queue.send(st.queue(), &msgs).await {
                let unmark = RunProgress { undo_item: Some(sent_key), ..Default::default() };
                deps.store.add_run_progress(tenant, st, run_id, &unmark).await?;
                return Err(TacticalErrorOrApi::FanOut(e.to_string()));
            }
        }
    }
    Ok(true)
}

/// Sync Devices, step 1: one page-1 message per organization that syncs devices. Each carries
/// what spares reads: the previous run when it succeeded (its page hashes), or that the tenant
/// has no asset yet.
pub(super) async fn fan_out_devices(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    run_id: &str,
) -> Result<RunProgress, TacticalErrorOrApi> {
    let baseline = integ.last_complete_device_run.clone().filter(|b| b != run_id);
    let fresh = baseline.is_none() && !deps.store.has_assets(tenant).await?;
    if fresh {
        // Remembered on the run: every asset at its end was created by it, none can be missing.
        deps.store.record_seen(tenant, SyncType::Devices, run_id, FRESH_PART, &[], &[]).await?;
    }
    // The beta list ignores the credentials' role: only clients the role-scoped `/clients/`
    // shows now are paged, so a key narrowed to some clients never imports the others.
    let api = client_for(deps, tenant, integ).await?;
    let visible: HashSet<i64> = api.clients().await?.iter().map(|c| c.id).collect();
    let orgs: Vec<i64> = deps
        .store
        .list_org_mappings(tenant)
        .await?
        .iter()
        .filter(|m| m.syncs_devices())
        .filter_map(OrgMapping::tactical_client_id)
        .filter(|c| visible.contains(c))
        .collect();
    let msgs: Vec<SyncMessage> = orgs
        .iter()
        .map(|c| SyncMessage::DevicePage {
            tenant: tenant.clone(),
            run_id: run_id.to_owned(),
            client_id: *c,
            page: 1,
            page_size: deps.config.device_page_size,
            baseline: baseline.clone(),
            fresh,
            count: None,
        })
        .collect();
    // Counted before they are sent, so the run cannot finish in between.
    fan_out(deps, tenant, SyncType::Devices, run_id, "fanout", msgs).await?;
    Ok(RunProgress { pending_delta: -1, ..Default::default() })
}

/// The `seen` part of a device run that started on a tenant without assets.
pub(super) const FRESH_PART: &str = "fresh";

/// Which page a device work item is, and what the run knows before reading it.
pub(super) struct PageAt<'a> {
    pub(super) client_id: i64,
    pub(super) page: u32,
    pub(super) page_size: u32,
    pub(super) baseline: Option<&'a str>,
    pub(super) fresh: bool,
    /// The client's agent count on page 1 (pages 2..).
    pub(super) count: Option<u64>,
}

/// The `seen` part of a device run whose pages moved under it (agents added or deleted in
/// Tactical while it paged): it cannot tell a missing agent from one that slid to a page
/// already read, so it flags none and is no baseline.
pub(super) const DRIFT_PART: &str = "drift";

/// Sync Devices, step 2: one beta page of one Tactical client → assets. Page 1 also queues the
/// client's other pages. Unchanged agents cost no write, and no read when the previous
/// successful run recorded the same hash for them (read alongside the Tactical page).
pub(super) async fn device_page(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    run_id: &str,
    at: &PageAt<'_>,
) -> Result<RunProgress, TacticalErrorOrApi> {
    let (client_id, page, page_size) = (at.client_id, at.page, at.page_size);
    let mapping = deps.store.get_org_mapping(tenant, &client_id.to_string()).await?;
    let Some(mapping) = mapping.filter(OrgMapping::syncs_devices) else {
        // Unmapped since the run started: nothing to do for this organization.
        return Ok(RunProgress { pending_delta: -1, ..Default::default() });
    };
    let api = client_for(deps, tenant, integ).await?;
    let part = format!("{client_id}-{page}");
    let query = BetaAgentQuery { client_id: Some(client_id), page, page_size, ..Default::default() };
    let known = async {
        match at.baseline {
            Some(b) => deps.store.seen_hashes(tenant, SyncType::Devices, b, &part).await,
            None => Ok(None),
        }
    };
    let (result, known) = tokio::join!(api.beta_agents_page(&query), known);
    let known = known?;
    let page_data = match result {
        Ok(p) => p,
        // "Invalid page." (404): a client with no agents (page 1), or one that lost agents since
        // page 1 was read, so this page is past the end now: an empty page, not a failure.
        Err(TacticalError::NotFound { .. }) => {
            if page > 1 {
                deps.store.record_seen(tenant, SyncType::Devices, run_id, DRIFT_PART, &[], &[]).await?;
            }
            deps.store.record_seen(tenant, SyncType::Devices, run_id, &part, &[], &[]).await?;
            return Ok(RunProgress { pending_delta: -1, ..Default::default() });
        }
        Err(e) => return Err(e.into()),
    };
    if page > 1 && at.count.is_some_and(|c| c != page_data.count) {
        deps.store.record_seen(tenant, SyncType::Devices, run_id, DRIFT_PART, &[], &[]).await?;
    }
    if page == 1 {
        let what = format!("client {client_id}");
        let pages = page_count(page_data.count, page_size, deps.config.fan_out.max_pages_per_listing, &what)
            .map_err(|e| TacticalErrorOrApi::Limit(e.to_string()))?;
        if pages > 1 {
            let msgs: Vec<SyncMessage> = (2..=pages)
                .map(|p| SyncMessage::DevicePage {
                    tenant: tenant.clone(),
                    run_id: run_id.to_owned(),
                    client_id,
                    page: p,
                    page_size,
                    baseline: at.baseline.map(str::to_owned),
                    fresh: at.fresh,
                    count: Some(page_data.count),
                })
                .collect();
            fan_out(deps, tenant, SyncType::Devices, run_id, &format!("fanout#{client_id}"), msgs).await?;
        }
    }
    let prior = if at.fresh { Prior::None } else { Prior::Known(known.as_ref()) };
    let keep = keep_status(integ);
    let (counts, ids, hashes) =
        upsert_agents(deps, tenant, client_id, &mapping, page_data.results, Some(run_id), prior, keep).await?;
    deps.store.record_seen(tenant, SyncType::Devices, run_id, &part, &ids, &hashes).await?;
    Ok(RunProgress { counts, pending_delta: -1, ..Default::default() })
}

/// What is known of the stored assets before a page is written.
#[derive(Clone, Copy)]
pub enum Prior<'a> {
    /// The tenant had no asset when the run started: nothing to read.
    None,
    /// Asset id → sync hash the previous successful run left (agents whose hash matches are
    /// unchanged without a read); the others are read.
    Known(Option<&'a HashMap<String, String>>),
}

/// Agents of one Tactical client → assets (and their external entity mappings). Unchanged agents
/// cost no write. Returns the counts, and the asset ids seen with the hash each is left at.
#[allow(clippy::too_many_arguments)]
pub async fn upsert_agents(
    deps: &Deps,
    tenant: &TenantId,
    client_id: i64,
    mapping: &OrgMapping,
    // Owned: each agent row is dropped once its asset is built (a page is the worker's peak memory).
    agents: Vec<crate::tactical::types::BetaAgent>,
    run_id: Option<&str>,
    prior: Prior<'_>,
    keep_status: bool,
) -> Result<(SyncCounts, Vec<String>, Vec<String>), TacticalErrorOrApi> {
    let now_t = now();
    let now_s = now_rfc3339();
    let mut assets = Vec::with_capacity(agents.len());
    for agent in agents {
        let org = OrgContext {
            tactical_client_id: client_id,
            psa_client_id: mapping.client_id.as_deref(),
            site_name: mapping.site_name(agent.site),
        };
        assets.push(asset_from_agent(tenant, &agent, &org, now_t));
    }
    if keep_status {
        for a in &mut assets {
            a.sync_hash = crate::domain::asset::inventory_hash(a);
        }
    }
    let ids: Vec<String> = assets.iter().map(|a| a.asset_id.clone()).collect();
    let hashes: Vec<String> = assets.iter().map(|a| a.sync_hash.clone()).collect();
    // The hash is over every synced field but the check-in times (and the status while the
    // status refresh owns it), so a recorded match means the asset holds this state.
    let known_unchanged = |a: &crate::domain::asset::Asset| match prior {
        Prior::Known(Some(k)) => k.get(&a.asset_id) == Some(&a.sync_hash),
        _ => false,
    };
    let to_read: Vec<String> = match prior {
        Prior::None => Vec::new(),
        Prior::Known(_) => assets.iter().filter(|a| !known_unchanged(a)).map(|a| a.asset_id.clone()).collect(),
    };
    let existing: HashMap<String, crate::domain::asset::AssetState> = if to_read.is_empty() {
        HashMap::new()
    } else {
        deps.store.asset_states(tenant, &to_read).await?.into_iter().map(|a| (a.asset_id.clone(), a)).collect()
    };
    let mut counts = SyncCounts::default();
    let mut writes = Vec::new();
    for mut a in assets {
        counts.items_processed += 1;
        match a.agent_status {
            crate::domain::status::AgentStatus::Online => counts.status_online += 1,
            crate::domain::status::AgentStatus::Offline => counts.status_offline += 1,
            crate::domain::status::AgentStatus::Overdue => counts.status_overdue += 1,
        }
        if known_unchanged(&a) {
            counts.items_unchanged += 1;
            continue;
        }
        let old = existing.get(&a.asset_id);
        if let Some(o) = old
            && o.sync_hash == a.sync_hash
            && o.missing_since.is_none()
        {
            counts.items_unchanged += 1;
            continue;
        }
        if keep_status
            && let Some(o) = old
            && let Some(st) = o.agent_status
        {
            // The status refresh owns an existing asset's status (and publishes its changes).
            a.agent_status = st;
            a.status_as_of = o.status_as_of.clone();
            a.status_changed_at = o.status_changed_at.clone();
        }
        a.created_at = old.and_then(|o| o.created_at.clone()).or_else(|| Some(now_s.clone()));
        a.last_rmm_sync_at = Some(now_s.clone());
        a.last_sync_run = run_id.map(str::to_owned).or_else(|| old.and_then(|o| o.last_sync_run.clone()));
        let needs_mapping = old.is_none_or(|o| {
            o.rmm_organization_id != a.rmm_organization_id || o.site_id != a.site_id || o.location != a.location
        });
        if old.is_some() {
            counts.items_updated += 1;
        } else {
            counts.items_created += 1;
        }
        let mapping = needs_mapping.then(|| ExternalEntityMapping::for_asset(&a, &now_s));
        writes.push(AssetWrite { asset: a, mapping });
    }
    deps.store.write_assets(tenant, &writes).await?;
    Ok((counts, ids, hashes))
}

/// Whether an existing asset's status is left to the status refresh (when it runs).
pub fn keep_status(integ: &RmmIntegration) -> bool {
    integ.schedule(crate::domain::integration::ScheduleKind::StatusRefresh).enabled
}

/// Single-agent refresh (after a webhook): `GET /agents/<agent_id>/`, then the same upsert as a
/// device page. The organization comes from the mapping that lists the agent's site, so a move
/// between Tactical clients is followed here too. Returns whether the agent is an asset.
pub async fn refresh_agent(
    deps: &Deps,
    tenant: &TenantId,
    api: &dyn TacticalApi,
    agent_id: &str,
) -> Result<bool, TacticalErrorOrApi> {
    let asset_id = crate::domain::asset::asset_id_for(tenant, agent_id);
    if deps.store.asset_states(tenant, std::slice::from_ref(&asset_id)).await?.is_empty() {
        return Ok(false);
    }
    let row = match api.agent_row(agent_id).await {
        Ok(r) => r,
        // Gone from Tactical: the next complete device run flags it missing.
        Err(TacticalError::NotFound { .. }) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    let mappings = deps.store.list_org_mappings(tenant).await?;
    let Some(mapping) = mappings.iter().find(|m| row.site.is_some_and(|s| m.sites.iter().any(|x| x.id == s))) else {
        return Ok(true);
    };
    if let (true, Some(client_id)) = (mapping.syncs_devices(), mapping.tactical_client_id()) {
        let keep = deps.store.get_integration(tenant).await?.is_some_and(|i| keep_status(&i));
        upsert_agents(deps, tenant, client_id, mapping, vec![row], None, Prior::Known(None), keep).await?;
    }
    Ok(true)
}
