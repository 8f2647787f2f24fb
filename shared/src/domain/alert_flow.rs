//! Recording alerts (webhook, backfill, re-fetch) and reconciling them with Tactical.

use super::alerts::{AlertEvent, RmmAlert, apply};
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

/// The answer for a written state change, and what it does to the open-alert pointer.
fn written(before: Option<&RmmAlert>, after: RmmAlert, ev: &AlertEvent) -> (Recorded, Option<PointerUpdate>) {
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
    for a in open.iter().filter(|a| !a.resolved) {
        let Some(ev) = AlertEvent::from_tactical(a, "backfill") else { continue };
        let existed = store.get_alert(tenant, &ev.key()).await?.is_some();
        let r = record(store, tenant, &ev).await?;
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
            counts.auto_resolved += 1;
        }
    }
    Ok(counts)
}
