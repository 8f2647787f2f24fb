//! Ingest runs: the agents that are assets fanned out in batches, each batch's inventories read
//! from Tactical and written.

use super::{AssetDiff, CatalogDelta, SoftwareInventory, diff_asset, inventory_hash, normalize_inventory};
use crate::app::Deps;
use crate::domain::asset::asset_id_for;
use crate::domain::integration::RmmIntegration;
use crate::domain::sync::{TacticalErrorOrApi, client_for, fan_out};
use crate::domain::sync_run::SyncCounts;
use crate::domain::time::now_rfc3339;
use crate::messages::{SyncMessage, SyncType};
use crate::ports::RunProgress;
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, stream};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Agents per `software_batch` message: about 100 × (one Tactical call + a few DynamoDB calls),
/// far inside a worker's 300 s, and a small message (ids only).
pub const SOFTWARE_BATCH_SIZE: usize = 100;
/// Tactical calls in flight per worker: hides round trips without hammering the server.
pub(super) const AGENT_CONCURRENCY: usize = 8;
/// Software run, step 1: the Tactical agents that are assets of the tenant (agent ids from the
/// beta agent list, which also maps Tactical's integer pks), queued in batches.
pub(crate) async fn fan_out_software(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    run_id: &str,
) -> Result<RunProgress, TacticalErrorOrApi> {
    let api = client_for(deps, tenant, integ).await?;
    let agents = asset_agents(deps, tenant, api.as_ref()).await?;
    let msgs: Vec<SyncMessage> = agents
        .chunks(SOFTWARE_BATCH_SIZE)
        .zip(1u32..)
        .map(|(ids, batch)| SyncMessage::SoftwareBatch {
            tenant: tenant.clone(),
            run_id: run_id.to_owned(),
            batch,
            part: 0,
            agent_ids: ids.to_vec(),
        })
        .collect();
    fan_out(deps, tenant, SyncType::Software, run_id, "fanout", msgs).await?;
    Ok(RunProgress { pending_delta: -1, ..Default::default() })
}

/// Every agent in Tactical whose asset exists for the tenant, in pk order. Read from the
/// role-scoped `GET /agents/?detail=false` (~150 bytes an agent, one request): the beta list
/// ignores the credentials' role and carries each agent's services and WMI (~150 KB a row).
pub(super) async fn asset_agents(
    deps: &Deps,
    tenant: &TenantId,
    api: &dyn TacticalApi,
) -> Result<Vec<String>, TacticalErrorOrApi> {
    let mut listed = api.agents_slim(None).await?;
    listed.sort_by_key(|a| a.id);
    let mut out = Vec::new();
    for chunk in listed.chunks(AGENT_LOOKUP_CHUNK) {
        let asset_ids: Vec<String> = chunk.iter().map(|a| asset_id_for(tenant, &a.agent_id)).collect();
        let known: HashSet<String> =
            deps.store.get_assets(tenant, &asset_ids).await?.into_iter().map(|a| a.rmm_device_id).collect();
        out.extend(chunk.iter().filter(|a| known.contains(&a.agent_id)).map(|a| a.agent_id.clone()));
    }
    let mut seen = HashSet::new();
    out.retain(|a| seen.insert(a.clone()));
    Ok(out)
}

/// Agents whose assets are looked up at once.
pub(super) const AGENT_LOOKUP_CHUNK: usize = 1000;

/// What ingesting one agent did.
pub(super) enum AgentOutcome {
    /// No inventory in Tactical (or the agent is gone): left untouched.
    NoInventory,
    Unchanged {
        items: i64,
    },
    Changed {
        items: i64,
        diff: AssetDiff,
    },
}

/// The run's work item name of a batch (or of a retried part of one).
pub(crate) fn batch_item(batch: u32, part: u32) -> String {
    if part == 0 { format!("batch#{batch}") } else { format!("batch#{batch}.{part}") }
}

/// Software run, step 2: one batch of agents → links, inventory records, catalog counts.
///
/// Agents that fail transiently go to a follow-up message of their own (the next `part`) while
/// the rest of the batch is counted, so a retry re-reads only them and no count is lost or
/// doubled. The chain ends: a part where no agent succeeds is retried by SQS as a whole.
pub(crate) async fn software_batch(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    run_id: &str,
    batch: u32,
    part: u32,
    agent_ids: &[String],
) -> Result<RunProgress, TacticalErrorOrApi> {
    let api = client_for(deps, tenant, integ).await?;
    let asset_ids: Vec<String> = agent_ids.iter().map(|a| asset_id_for(tenant, a)).collect();
    let before: HashMap<String, SoftwareInventory> = deps
        .store
        .get_software_inventories(tenant, &asset_ids)
        .await?
        .into_iter()
        .map(|i| (i.asset_id.clone(), i))
        .collect();
    let now = now_rfc3339();
    let work: Vec<BoxFuture<'_, (String, Result<AgentOutcome, TacticalErrorOrApi>)>> = agent_ids
        .iter()
        .map(|agent_id| {
            let prev = before.get(&asset_id_for(tenant, agent_id));
            let (api, now) = (api.as_ref(), now.as_str());
            async move { (agent_id.clone(), ingest_agent(deps, api, tenant, run_id, agent_id, prev, now).await) }
                .boxed()
        })
        .collect();
    let results: Vec<(String, Result<AgentOutcome, TacticalErrorOrApi>)> =
        stream::iter(work).buffer_unordered(AGENT_CONCURRENCY).collect().await;

    let mut counts = SyncCounts::default();
    let mut deltas: BTreeMap<String, CatalogDelta> = BTreeMap::new();
    let mut refused: Vec<String> = Vec::new();
    let mut fatal: Option<TacticalErrorOrApi> = None;
    let mut transient: Option<TacticalErrorOrApi> = None;
    let mut again: Vec<String> = Vec::new();
    let mut succeeded = 0usize;
    for (agent_id, r) in results {
        if r.is_ok() {
            succeeded += 1;
        }
        match r {
            Ok(AgentOutcome::NoInventory) => {
                counts.items_processed += 1;
                counts.agents_no_inventory += 1;
            }
            Ok(AgentOutcome::Unchanged { items }) => {
                counts.items_processed += 1;
                counts.items_unchanged += 1;
                counts.software_items += items;
            }
            Ok(AgentOutcome::Changed { items, diff }) => {
                counts.items_processed += 1;
                counts.items_updated += 1;
                counts.software_items += items;
                counts.items_created += diff.installs;
                counts.items_deleted += diff.uninstalls;
                counts.software_changed += diff.changed;
                for d in diff.deltas {
                    deltas.entry(d.catalog_key.clone()).and_modify(|e| e.delta += d.delta).or_insert(d);
                }
            }
            // One agent Tactical will not show us (role scope): the others still count.
            Err(TacticalErrorOrApi::Tactical(
                e @ (TacticalError::Forbidden { .. } | TacticalError::Rejected { .. }),
            )) => {
                counts.items_failed += 1;
                refused.push(format!("agent {agent_id}: {e}"));
            }
            Err(e) if e.transient() => {
                again.push(agent_id);
                transient.get_or_insert(e);
            }
            // Refused credentials, the dashboard host, …: the same for every agent.
            Err(e) => {
                fatal.get_or_insert(e);
            }
        }
    }
    // Install counts of assets whose new inventory is recorded are added whatever happens next:
    // those records no longer differ, so no retry would add them.
    let deltas: Vec<CatalogDelta> = deltas.into_values().filter(|d| d.delta != 0).collect();
    deps.store.add_to_software_catalog(tenant, &deltas, &now).await?;
    if let Some(e) = fatal {
        return Err(e);
    }
    if let Some(e) = transient {
        if succeeded == 0 {
            return Err(e);
        }
        again.sort();
        let msg = SyncMessage::SoftwareBatch {
            tenant: tenant.clone(),
            run_id: run_id.to_owned(),
            batch,
            part: part + 1,
            agent_ids: again,
        };
        let key = format!("retry#{}", batch_item(batch, part));
        fan_out(deps, tenant, SyncType::Software, run_id, &key, vec![msg]).await?;
        tracing::warn!(tenant = %tenant, run_id, batch, part, error = %e.message(), "some agents failed; retrying them apart");
    }
    // One error per batch: the run record must stay small however many agents are refused.
    let errors = match refused.len() {
        0 => vec![],
        1 => refused,
        n => vec![format!("{} (and {} more agents of this batch)", refused[0], n - 1)],
    };
    Ok(RunProgress { counts, pending_delta: -1, errors, ..Default::default() })
}

/// One agent: read its inventory; if the list changed, write the links, then record the new
/// inventory with a conditional write. Only the worker whose record write wins returns the
/// catalog deltas, so a duplicated message cannot count an install twice.
pub(super) async fn ingest_agent(
    deps: &Deps,
    api: &dyn TacticalApi,
    tenant: &TenantId,
    run_id: &str,
    agent_id: &str,
    prev: Option<&SoftwareInventory>,
    now: &str,
) -> Result<AgentOutcome, TacticalErrorOrApi> {
    let items = match api.software_for(agent_id).await {
        Ok(Some(items)) => items,
        Ok(None) | Err(TacticalError::NotFound { .. }) => return Ok(AgentOutcome::NoInventory),
        Err(e) => return Err(e.into()),
    };
    let list = normalize_inventory(&items);
    // An empty list is a failed collection (a Windows machine always has programs): unknown,
    // not "everything uninstalled".
    if list.is_empty() {
        return Ok(AgentOutcome::NoInventory);
    }
    let n = i64::try_from(list.len()).unwrap_or(i64::MAX);
    let hash = inventory_hash(&list);
    if prev.is_some_and(|p| p.hash == hash) {
        return Ok(AgentOutcome::Unchanged { items: n });
    }
    let asset_id = asset_id_for(tenant, agent_id);
    let links = deps.store.list_asset_software(tenant, &asset_id).await?;
    let counted_before = prev.map(|p| p.counted.as_slice()).unwrap_or_default();
    let mut diff = diff_asset(tenant, &asset_id, &list, &links, counted_before, now);
    deps.store.write_asset_software(tenant, &diff.writes).await?;
    let record = SoftwareInventory {
        tenant: tenant.clone(),
        asset_id,
        agent_id: agent_id.to_owned(),
        hash,
        counted: std::mem::take(&mut diff.counted),
        item_count: n.unsigned_abs(),
        updated_at: now.to_owned(),
        run_id: Some(run_id.to_owned()),
    };
    if !deps.store.record_software_inventory(tenant, &record, prev.map(|p| p.hash.as_str())).await? {
        // Another worker recorded this asset's inventory first (a duplicated message); it counts.
        return Ok(AgentOutcome::Unchanged { items: n });
    }
    Ok(AgentOutcome::Changed { items: n, diff })
}
