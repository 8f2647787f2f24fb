//! Recording alerts (webhook, backfill, re-fetch) and reconciling them with Tactical.

use super::alerts::{AlertEvent, PsaChange, RmmAlert, apply, apply_psa};
use super::asset::asset_id_for;
use super::time::now_rfc3339;
use crate::ports::{PortError, RECENT_DELIVERIES, Store};
use crate::tactical::types::AlertFilter;
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;
use serde::Serialize;
use std::collections::HashSet;

/// Optimistic-lock attempts before giving up (concurrent deliveries of different events).
const MAX_ATTEMPTS: u32 = 12;

/// Days of open alerts backfill asks Tactical for; older open alerts are not reconciled.
pub const BACKFILL_DAYS: u32 = 90;

#[derive(Debug, Serialize, PartialEq)]
pub struct Recorded {
    pub alert_key: String,
    pub status: String,
    /// The same delivery was recorded before: nothing changed.
    pub duplicate: bool,
    /// Something was written (false for duplicates and unchanged states).
    #[serde(skip)]
    pub written: bool,
}

/// The open-alert pointer of an agent and alert type (and check), for resolves without an id.
fn pointer(ev: &AlertEvent) -> String {
    super::alerts::alert_key(None, &ev.agent_id, ev.alert_type.as_deref(), ev.check.as_deref())
        .trim_start_matches("agent#")
        .to_owned()
}

/// The open-alert pointer change a recorded alert still needs (applied by [`apply_pointer`]).
#[derive(Debug, Clone, PartialEq)]
pub enum PointerUpdate {
    Set {
        pointer: String,
        alert_key: String,
    },
    /// Cleared if it still names this alert.
    Clear {
        pointer: String,
        alert_key: String,
    },
}

pub async fn apply_pointer(store: &dyn Store, tenant: &TenantId, p: Option<PointerUpdate>) -> Result<(), PortError> {
    match p {
        None => Ok(()),
        Some(PointerUpdate::Set { pointer, alert_key }) => {
            store.set_open_alert_pointer(tenant, &pointer, Some(&alert_key)).await
        }
        Some(PointerUpdate::Clear { pointer, alert_key }) => {
            if store.open_alert_pointer(tenant, &pointer).await?.as_deref() == Some(alert_key.as_str()) {
                store.set_open_alert_pointer(tenant, &pointer, None).await?;
            }
            Ok(())
        }
    }
}

/// The key an event applies to: a resolve without an id resolves whatever trigger the agent's
/// alert of this type had.
async fn key_of(store: &dyn Store, tenant: &TenantId, ev: &AlertEvent) -> Result<String, PortError> {
    if ev.alert_id.is_none()
        && ev.resolve
        && let Some(k) = store.open_alert_pointer(tenant, &pointer(ev)).await?
    {
        return Ok(k);
    }
    Ok(ev.key())
}

/// Applies `ev` with an optimistic lock (backfill, re-fetch: no delivery to deduplicate).
pub async fn record(store: &dyn Store, tenant: &TenantId, ev: &AlertEvent) -> Result<Recorded, PortError> {
    let key = key_of(store, tenant, ev).await?;
    let existing = store.get_alert(tenant, &key).await?;
    let (recorded, p) = write(store, tenant, ev, key, existing).await?;
    apply_pointer(store, tenant, p).await?;
    Ok(recorded)
}

/// A webhook delivery, deduplicated: the alert item remembers the fingerprints of its last
/// [`RECENT_DELIVERIES`] deliveries, and the new state is written with them in one conditional
/// PutItem (optimistic version), so recording and deduplicating are one write; of concurrent
/// duplicates exactly one wins and the others find their fingerprint on re-read.
///
/// A trigger is written first as a new alert without reading (most triggers are): one round
/// trip; if the alert exists, the condition fails and it is read and applied on top. A resolve
/// reads first. The pointer change is returned for the caller to apply alongside its own
/// follow-up work.
pub async fn record_delivery(
    store: &dyn Store,
    tenant: &TenantId,
    ev: &AlertEvent,
) -> Result<(Recorded, Option<PointerUpdate>), PortError> {
    let key = key_of(store, tenant, ev).await?;
    let fingerprint = ev.fingerprint();
    let (mut existing, mut deliveries) =
        if ev.resolve { store.get_alert_with_deliveries(tenant, &key).await? } else { (None, Vec::new()) };
    for _ in 0..MAX_ATTEMPTS {
        if deliveries.contains(&fingerprint) {
            let status = existing.map(|a| a.status).unwrap_or_default();
            return Ok((Recorded { alert_key: key, status, duplicate: true, written: false }, None));
        }
        let next = match next_state(tenant, existing.as_ref(), ev, &key) {
            Ok(next) => next,
            Err(unchanged) => return Ok((unchanged, None)),
        };
        deliveries.push(fingerprint.clone());
        let excess = deliveries.len().saturating_sub(RECENT_DELIVERIES);
        deliveries.drain(..excess);
        if store.put_alert_with_deliveries(&next, &deliveries).await? {
            return Ok(written(existing.as_ref(), next, ev));
        }
        (existing, deliveries) = store.get_alert_with_deliveries(tenant, &key).await?;
        tokio::task::yield_now().await;
    }
    Err(PortError::ConditionFailed("the alert kept changing under concurrent updates".into()))
}

/// The state `ev` leads to from `existing`, versioned for the optimistic write; `Err` with the
/// answer when nothing changes (an unchanged state costs no write).
fn next_state(
    tenant: &TenantId,
    existing: Option<&RmmAlert>,
    ev: &AlertEvent,
    key: &str,
) -> Result<RmmAlert, Recorded> {
    let mut next = apply(tenant, existing.cloned(), ev);
    next.alert_key = key.to_owned();
    if existing.is_some_and(|e| same_state(e, &next)) {
        return Err(Recorded { alert_key: next.alert_key, status: next.status, duplicate: false, written: false });
    }
    next.version = existing.map_or(0, |a| a.version) + 1;
    Ok(next)
}

/// Every written change of an alert passes here, whatever its source (webhook, backfill,
/// re-fetch, reconciliation, the PSA): the one place to publish alert changes from.
fn changed(before: Option<&RmmAlert>, after: &RmmAlert, source: &str) {
    if before.map(|b| b.status.as_str()) != Some(after.status.as_str()) {
        tracing::debug!(tenant = %after.tenant, alert = %after.alert_key, status = %after.status, source, "alert status changed");
    }
}

/// The answer for a written state change, and what it does to the open-alert pointer.
fn written(before: Option<&RmmAlert>, after: RmmAlert, ev: &AlertEvent) -> (Recorded, Option<PointerUpdate>) {
    changed(before, &after, ev.source);
    let key = after.alert_key.clone();
    let p = match (before.is_some_and(RmmAlert::is_open), after.is_open()) {
        // Set when the alert opened; a repeat of an open alert needs no write.
        (true, true) => None,
        (false, true) => Some(PointerUpdate::Set { pointer: pointer(ev), alert_key: key.clone() }),
        (_, false) => Some(PointerUpdate::Clear { pointer: pointer(ev), alert_key: key.clone() }),
    };
    (Recorded { alert_key: key, status: after.status, duplicate: false, written: true }, p)
}

/// The optimistic-lock loop of backfill and re-fetch: `existing` is the state read before.
async fn write(
    store: &dyn Store,
    tenant: &TenantId,
    ev: &AlertEvent,
    key: String,
    existing: Option<RmmAlert>,
) -> Result<(Recorded, Option<PointerUpdate>), PortError> {
    let mut read = Some(existing);
    for _ in 0..MAX_ATTEMPTS {
        let existing = match read.take() {
            Some(e) => e,
            None => store.get_alert(tenant, &key).await?,
        };
        let next = match next_state(tenant, existing.as_ref(), ev, &key) {
            Ok(next) => next,
            Err(unchanged) => return Ok((unchanged, None)),
        };
        if store.put_alert(&next).await? {
            return Ok(written(existing.as_ref(), next, ev));
        }
        tokio::task::yield_now().await;
    }
    Err(PortError::ConditionFailed("the alert kept changing under concurrent updates".into()))
}

/// Equal but for bookkeeping: an unchanged backfill costs no write.
fn same_state(a: &RmmAlert, b: &RmmAlert) -> bool {
    let strip = |x: &RmmAlert| RmmAlert { updated_at: None, version: 0, last_occurrence_at: None, ..x.clone() };
    strip(a) == strip(b)
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct BackfillCounts {
    pub open_in_tactical: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub auto_resolved: i64,
}

/// Sync Alerts: upserts Tactical's open alerts and resolves local open alerts Tactical no longer
/// has open (`auto_resolved`). Snoozed alerts are asked for too and recorded `suppressed`, so a
/// snooze in Tactical is not mistaken for a resolve.
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
    link_assets(store, tenant, &mut events).await?;
    for ev in &events {
        let existed = store.get_alert(tenant, &ev.key()).await?.is_some();
        let r = record(store, tenant, ev).await?;
        seen.insert(r.alert_key.clone());
        match (existed, r.written) {
            (false, _) => counts.created += 1,
            (true, true) => counts.updated += 1,
            (true, false) => counts.unchanged += 1,
        }
    }
    let cutoff = super::time::to_rfc3339(super::time::now() - time::Duration::days(i64::from(BACKFILL_DAYS)));
    for local in store.open_alerts(tenant).await? {
        let recent = local.triggered_at.as_deref().is_none_or(|t| t >= cutoff.as_str());
        if seen.contains(&local.alert_key) || !recent {
            continue;
        }
        let mut closed = local.clone();
        closed.status = "auto_resolved".into();
        closed.resolved_at = Some(now_rfc3339());
        closed.updated_at = closed.resolved_at.clone();
        closed.version = local.version + 1;
        if store.put_alert(&closed).await? {
            changed(Some(&local), &closed, "reconciliation");
            counts.auto_resolved += 1;
        }
    }
    Ok(counts)
}

/// Links events to their agents' assets (asset ids derive from tenant and agent id): one
/// batched read for all of them. An agent that is not an asset leaves its event unlinked.
pub async fn link_assets(store: &dyn Store, tenant: &TenantId, events: &mut [AlertEvent]) -> Result<(), PortError> {
    let ids: Vec<String> =
        events.iter().map(|ev| asset_id_for(tenant, &ev.agent_id)).collect::<HashSet<_>>().into_iter().collect();
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

/// Records a change Tactical accepted from the PSA. `None` when the alert is not recorded.
pub async fn record_psa_change(
    store: &dyn Store,
    tenant: &TenantId,
    alert_key: &str,
    change: &PsaChange,
) -> Result<Option<RmmAlert>, PortError> {
    for _ in 0..MAX_ATTEMPTS {
        let Some(existing) = store.get_alert(tenant, alert_key).await? else { return Ok(None) };
        let mut next = apply_psa(&existing, change);
        if same_state(&existing, &next) {
            return Ok(Some(existing));
        }
        next.version = existing.version + 1;
        if store.put_alert(&next).await? {
            changed(Some(&existing), &next, "psa");
            return Ok(Some(next));
        }
        tokio::task::yield_now().await;
    }
    Err(PortError::ConditionFailed("the alert kept changing under concurrent updates".into()))
}

/// Links an alert to a PSA ticket (or unlinks it with `None`). The index item is written before
/// the alert and the old one removed after, so a reader that checks the alert's own `ticket_id`
/// never misses a link. `None` when the alert is not recorded.
pub async fn set_ticket(
    store: &dyn Store,
    tenant: &TenantId,
    alert_key: &str,
    ticket_id: Option<&str>,
) -> Result<Option<RmmAlert>, PortError> {
    for _ in 0..MAX_ATTEMPTS {
        let Some(existing) = store.get_alert(tenant, alert_key).await? else { return Ok(None) };
        if existing.ticket_id.as_deref() == ticket_id {
            if let Some(t) = ticket_id {
                // Repairs a link whose index item a crash left unwritten.
                store.set_ticket_link(tenant, t, alert_key, true).await?;
            }
            return Ok(Some(existing));
        }
        if let Some(t) = ticket_id {
            store.set_ticket_link(tenant, t, alert_key, true).await?;
        }
        let mut next = existing.clone();
        next.ticket_id = ticket_id.map(str::to_owned);
        next.updated_at = Some(now_rfc3339());
        next.version = existing.version + 1;
        if store.put_alert(&next).await? {
            if let Some(old) = existing.ticket_id.as_deref() {
                store.set_ticket_link(tenant, old, alert_key, false).await?;
            }
            return Ok(Some(next));
        }
        tokio::task::yield_now().await;
    }
    Err(PortError::ConditionFailed("the alert kept changing under concurrent updates".into()))
}

/// The alerts linked to a ticket (at most `limit`).
pub async fn alerts_of_ticket(
    store: &dyn Store,
    tenant: &TenantId,
    ticket_id: &str,
    limit: i32,
) -> Result<Vec<RmmAlert>, PortError> {
    let mut out = Vec::new();
    for key in store.ticket_alert_keys(tenant, ticket_id, limit).await? {
        if let Some(a) = store.get_alert(tenant, &key).await?
            && a.ticket_id.as_deref() == Some(ticket_id)
        {
            out.push(a);
        }
    }
    Ok(out)
}
