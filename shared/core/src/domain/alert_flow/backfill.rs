//! Backfill and reconciliation with Tactical, and linking alerts to the assets of their agents.

use super::{BACKFILL_DAYS, changed, record_known};
use crate::domain::alerts::{AlertEvent, RmmAlert};
use crate::domain::asset::asset_id_for;
use crate::domain::time::now_rfc3339;
use crate::ports::{PortError, Store};
use crate::tactical::types::AlertFilter;
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct BackfillCounts {
    pub open_in_tactical: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub auto_resolved: i64,
    /// The alerts with changes still to publish ([`publish_pending`]): those this run wrote, and
    /// any an earlier handler left pending (a failed publish, a follow-up that never ran).
    #[serde(skip)]
    pub to_publish: Vec<RmmAlert>,
}

/// The tenant's open set: its open alerts and those with changes still to publish, read without
/// the resolved history. The first run on a tenant whose alerts predate the set indexes them
/// (one pass over all its alerts, once).
pub(super) async fn open_set(store: &dyn Store, tenant: &TenantId) -> Result<Vec<RmmAlert>, PortError> {
    match store.open_or_pending_alerts(tenant).await? {
        Some(set) => Ok(set),
        None => store.index_open_alerts(tenant).await,
    }
}

/// Sync Alerts: upserts Tactical's open alerts and resolves local open alerts Tactical no longer
/// has open (`auto_resolved`). Snoozed alerts are asked for too and recorded `suppressed`, so a
/// snooze in Tactical is not mistaken for a resolve.
///
/// Reads are bounded by what is open, not by history: one read of the open set, and one batched
/// read of the alerts Tactical lists that the set lacks (new ones, ones closed here). The set may
/// lag the latest writes by a moment, which is safe: every write is conditional on the version
/// it was computed from, so a state read from the set that is no longer current only loses its
/// write and is re-read; a state the set shows as matching Tactical costs no write, which is
/// what a run at the moment of that state would have done; an alert the set does not show yet
/// is read by the batched read when Tactical lists it, and otherwise waits for the next run.
///
/// Generic over the error so the caller keeps Tactical's errors as they are: a sync worker must
/// know a timeout or an unreadable body is transient (SQS retries it).
pub async fn backfill<E: From<TacticalError> + From<PortError>>(
    store: &dyn Store,
    api: &dyn TacticalApi,
    tenant: &TenantId,
) -> Result<BackfillCounts, E> {
    let open =
        api.alerts(&AlertFilter { time_filter: BACKFILL_DAYS, resolved_filter: false, snoozed_filter: true }).await?;
    let mut counts =
        BackfillCounts { open_in_tactical: i64::try_from(open.len()).unwrap_or(i64::MAX), ..Default::default() };
    let mut seen = HashSet::new();
    let mut events: Vec<AlertEvent> =
        open.iter().filter(|a| !a.resolved).filter_map(|a| AlertEvent::from_tactical(a, "backfill")).collect();
    let local = open_set(store, tenant).await?;
    let mut known: HashMap<String, RmmAlert> = local.iter().map(|a| (a.alert_key.clone(), a.clone())).collect();
    // An alert already linked keeps its asset (the id derives from tenant and agent), so a run
    // over open alerts it knows reads no asset: only the others are looked up.
    for ev in events.iter_mut() {
        if let Some(id) = known.get(&ev.key()).and_then(|a| a.asset_id.clone()) {
            ev.asset_id = Some(id);
        }
    }
    link_assets(store, tenant, &mut events).await?;
    let missing: Vec<String> = events
        .iter()
        .map(AlertEvent::key)
        .filter(|k| !known.contains_key(k))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // Open but outside the set: written before the set existed by a writer that did not know it
    // (or a moment ago, not in the set yet). Written back, it is in the set for the next runs.
    let mut outside = HashSet::new();
    for a in store.get_alerts(tenant, &missing).await? {
        if a.is_open() || !a.pending_events.is_empty() {
            outside.insert(a.alert_key.clone());
        }
        known.insert(a.alert_key.clone(), a);
    }
    // Latest known state of every alert with pending changes, by key.
    let mut pending: HashMap<String, RmmAlert> = HashMap::new();
    for ev in &events {
        let key = ev.key();
        let existing = known.get(&key).cloned();
        let existed = existing.is_some();
        let r = record_known(store, tenant, ev, key.clone(), existing.clone()).await?;
        if !r.written
            && outside.contains(&key)
            && let Some(mut a) = existing
        {
            // The same state one version up: no change to publish, and the write indexes it. A
            // concurrent write that wins the version has indexed it itself.
            a.version += 1;
            if store.put_alert(&a).await? && !a.pending_events.is_empty() {
                pending.insert(a.alert_key.clone(), a);
            }
        }
        seen.insert(r.alert_key.clone());
        if let Some(a) = r.alert {
            pending.insert(a.alert_key.clone(), *a);
        }
        match (existed, r.written) {
            (false, _) => counts.created += 1,
            (true, true) => counts.updated += 1,
            (true, false) => counts.unchanged += 1,
        }
    }
    let cutoff =
        crate::domain::time::to_rfc3339(crate::domain::time::now() - time::Duration::days(i64::from(BACKFILL_DAYS)));
    for local in local {
        let recent = local.triggered_at.as_deref().is_none_or(|t| t >= cutoff.as_str());
        if seen.contains(&local.alert_key) || !recent || !local.is_open() {
            // The listing may predate this run's own write of it: that state wins.
            if !local.pending_events.is_empty() {
                pending.entry(local.alert_key.clone()).or_insert(local);
            }
            continue;
        }
        let mut closed = local.clone();
        closed.status = "auto_resolved".into();
        closed.resolved_at = Some(now_rfc3339());
        closed.updated_at = closed.resolved_at.clone();
        closed.version = local.version + 1;
        changed(Some(&local), &mut closed, "reconciliation");
        if store.put_alert(&closed).await? {
            counts.auto_resolved += 1;
            pending.insert(closed.alert_key.clone(), closed);
        } else if !local.pending_events.is_empty() {
            pending.insert(local.alert_key.clone(), local);
        }
    }
    counts.to_publish = pending.into_values().collect();
    Ok(counts)
}

/// Links events to their agents' assets (asset ids derive from tenant and agent id): one
/// batched read for all those not linked yet. An agent that is not an asset leaves its event
/// unlinked.
pub async fn link_assets(store: &dyn Store, tenant: &TenantId, events: &mut [AlertEvent]) -> Result<(), PortError> {
    let ids: Vec<String> = events
        .iter()
        .filter(|ev| ev.asset_id.is_none())
        .map(|ev| asset_id_for(tenant, &ev.agent_id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let assets: HashSet<String> = store.asset_states(tenant, &ids).await?.into_iter().map(|a| a.asset_id).collect();
    for ev in events.iter_mut() {
        let id = asset_id_for(tenant, &ev.agent_id);
        if assets.contains(&id) {
            ev.asset_id = Some(id);
        }
    }
    Ok(())
}

/// Links the open alerts recorded before their agent became an asset (a device run that created
/// assets calls this once): one read of the open alerts, one batched read of their assets, and a
/// write only per alert linked. Returns how many were linked.
pub async fn link_open_alerts(store: &dyn Store, tenant: &TenantId) -> Result<usize, PortError> {
    let unlinked: Vec<RmmAlert> =
        store.open_alerts(tenant).await?.into_iter().filter(|a| a.asset_id.is_none()).collect();
    if unlinked.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = unlinked
        .iter()
        .map(|a| asset_id_for(tenant, &a.external_device_id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let assets: HashSet<String> = store.asset_states(tenant, &ids).await?.into_iter().map(|a| a.asset_id).collect();
    let mut linked = 0;
    for mut a in unlinked {
        let id = asset_id_for(tenant, &a.external_device_id);
        if !assets.contains(&id) {
            continue;
        }
        a.asset_id = Some(id);
        a.version += 1;
        // A concurrent change wins the version; the next record of that alert links it.
        if store.put_alert(&a).await? {
            linked += 1;
        }
    }
    Ok(linked)
}
