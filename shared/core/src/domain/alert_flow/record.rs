//! Recording an alert state (a webhook delivery, a backfilled or re-fetched alert): the versioned
//! write, the open-alert pointer, and the changes it queues for publishing.

use super::{MAX_ATTEMPTS, MAX_PENDING};
use crate::domain::alerts::{AlertEvent, PendingEvent, RmmAlert, apply};
use crate::domain::time::now_rfc3339;
use crate::ports::{PortError, RECENT_DELIVERIES, Store};
use crate::tenant::TenantId;
use serde::Serialize;

#[derive(Debug, Serialize, PartialEq)]
pub struct Recorded {
    pub alert_key: String,
    pub status: String,
    /// The same delivery was recorded before: nothing changed.
    pub duplicate: bool,
    /// Something was written (false for duplicates and unchanged states).
    #[serde(skip)]
    pub written: bool,
    /// The state written, when something was (its pending events still to publish).
    #[serde(skip)]
    pub alert: Option<Box<RmmAlert>>,
}

/// The open-alert pointer of an agent and alert type (and check), for resolves without an id.
pub(super) fn pointer(ev: &AlertEvent) -> String {
    crate::domain::alerts::alert_key(None, &ev.agent_id, ev.alert_type.as_deref(), ev.check.as_deref())
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
pub(super) async fn key_of(store: &dyn Store, tenant: &TenantId, ev: &AlertEvent) -> Result<String, PortError> {
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
    record_known(store, tenant, ev, key, existing).await
}

/// [`record`] with the stored state already read (backfill reads them in bulk). A state older
/// than the stored one costs a retry, never a lost update: the write is conditional on its
/// version, and the retry reads the item itself.
pub(super) async fn record_known(
    store: &dyn Store,
    tenant: &TenantId,
    ev: &AlertEvent,
    key: String,
    existing: Option<RmmAlert>,
) -> Result<Recorded, PortError> {
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
            return Ok((Recorded { alert_key: key, status, duplicate: true, written: false, alert: None }, None));
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
pub(super) fn next_state(
    tenant: &TenantId,
    existing: Option<&RmmAlert>,
    ev: &AlertEvent,
    key: &str,
) -> Result<RmmAlert, Recorded> {
    let mut next = apply(tenant, existing.cloned(), ev);
    next.alert_key = key.to_owned();
    if existing.is_some_and(|e| same_state(e, &next)) {
        return Err(Recorded {
            alert_key: next.alert_key,
            status: next.status,
            duplicate: false,
            written: false,
            alert: None,
        });
    }
    next.version = existing.map_or(0, |a| a.version) + 1;
    changed(existing, &mut next, ev.source);
    Ok(next)
}

/// What a change from `before` to `after` is, for `RMM Alert Changed`; `None` when it is no
/// change of state (an occurrence, a message, a link to an asset or a ticket).
pub fn change_kind(before: Option<&RmmAlert>, after: &RmmAlert) -> Option<&'static str> {
    let from = before.map(|b| b.status.as_str());
    let to = after.status.as_str();
    if from == Some(to) {
        return (before.is_some_and(|b| b.severity != after.severity) && after.is_open()).then_some("severity_updated");
    }
    Some(match (from, to) {
        (_, "resolved") => "resolved",
        (_, "auto_resolved") => "auto_resolved",
        (None, _) => "opened",
        (_, "suppressed") => "suppressed",
        (Some("suppressed"), _) => "unsuppressed",
        (Some(_), _) => "reopened",
    })
}

/// Every change of an alert passes here before it is written, whatever its source (webhook,
/// backfill, re-fetch, reconciliation, the PSA): a change of state is recorded on the item
/// itself as a pending event (the outbox), written in the same write as the change, so it can
/// never be lost between the write and its publication. `after.version` must be set.
pub(super) fn changed(before: Option<&RmmAlert>, after: &mut RmmAlert, source: &str) {
    let Some(kind) = change_kind(before, after) else { return };
    tracing::debug!(tenant = %after.tenant, alert = %after.alert_key, status = %after.status, kind, source, "alert changed");
    after.pending_events.push(PendingEvent {
        version: after.version,
        kind: kind.to_owned(),
        from: before.map(|b| b.status.clone()),
        to: after.status.clone(),
        severity: after.severity.clone(),
        source: source.to_owned(),
        observed_at: after.updated_at.clone().unwrap_or_else(now_rfc3339),
    });
    let excess = after.pending_events.len().saturating_sub(MAX_PENDING);
    if excess > 0 {
        tracing::error!(tenant = %after.tenant, alert = %after.alert_key, dropped = excess, "unpublished alert changes dropped");
        after.pending_events.drain(..excess);
    }
}

/// The answer for a written state change, and what it does to the open-alert pointer.
pub(super) fn written(
    before: Option<&RmmAlert>,
    after: RmmAlert,
    ev: &AlertEvent,
) -> (Recorded, Option<PointerUpdate>) {
    let key = after.alert_key.clone();
    let p = match (before.is_some_and(RmmAlert::is_open), after.is_open()) {
        // Set when the alert opened; a repeat of an open alert needs no write.
        (true, true) => None,
        (false, true) => Some(PointerUpdate::Set { pointer: pointer(ev), alert_key: key.clone() }),
        (_, false) => Some(PointerUpdate::Clear { pointer: pointer(ev), alert_key: key.clone() }),
    };
    (
        Recorded {
            alert_key: key,
            status: after.status.clone(),
            duplicate: false,
            written: true,
            alert: Some(Box::new(after)),
        },
        p,
    )
}

/// The optimistic-lock loop of backfill and re-fetch: `existing` is the state read before.
pub(super) async fn write(
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
pub(super) fn same_state(a: &RmmAlert, b: &RmmAlert) -> bool {
    let strip = |x: &RmmAlert| RmmAlert {
        updated_at: None,
        version: 0,
        last_occurrence_at: None,
        pending_events: Vec::new(),
        ..x.clone()
    };
    strip(a) == strip(b)
}
