//! Recording alerts (webhook, backfill, re-fetch) and reconciling them with Tactical.

use super::alerts::{AlertEvent, PendingEvent, PsaChange, RmmAlert, apply, apply_psa};
use super::asset::asset_id_for;
use super::time::now_rfc3339;
use crate::ports::{AlertQuery, BusEvent, EventPublisher, PortError, RECENT_DELIVERIES, Store};
use crate::tactical::types::AlertFilter;
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;
use serde::Serialize;
use std::collections::HashSet;

/// Optimistic-lock attempts before giving up (concurrent deliveries of different events).
const MAX_ATTEMPTS: u32 = 12;

/// Days of open alerts backfill asks Tactical for; older open alerts are not reconciled.
pub const BACKFILL_DAYS: u32 = 90;

pub const ALERT_CHANGED: &str = "RMM Alert Changed";

/// Unpublished changes an alert item keeps at most: the next handler publishes them within
/// seconds (the follow-up) or minutes (backfill), so this is reached only while EventBridge is
/// down for long; the oldest are then dropped, logged, rather than growing the item.
const MAX_PENDING: usize = 50;

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
fn next_state(
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
fn changed(before: Option<&RmmAlert>, after: &mut RmmAlert, source: &str) {
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

/// The `RMM Alert Changed` detail (schemas/events/rmm-alert-changed.json).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertChangedDetail {
    pub event_id: String,
    pub tenant: String,
    pub alert_key: String,
    /// Tactical's alert id, when known.
    pub alert_id: Option<i64>,
    pub agent_id: String,
    pub asset_id: Option<String>,
    pub severity: String,
    pub from: Option<String>,
    pub to: String,
    pub kind: String,
    pub source: String,
    pub observed_at: String,
}

/// Deterministic: tenant, alert and the version written with the change. A re-published
/// pending change gets the same id, and no two changes of one alert share a version.
pub fn alert_event_id(tenant: &TenantId, alert_key: &str, version: i64) -> String {
    const NS: uuid::Uuid = uuid::Uuid::from_u128(0x7d41_0c8e_93a2_4b6f_8e15_c2d9_60f3_a718);
    let name = format!("{tenant}|alert|{alert_key}|{version}");
    uuid::Uuid::new_v5(&NS, name.as_bytes()).to_string()
}

/// The events of an alert's pending changes, oldest first.
pub fn pending_bus_events(a: &RmmAlert) -> Vec<BusEvent> {
    a.pending_events
        .iter()
        .map(|p| {
            let detail = AlertChangedDetail {
                event_id: alert_event_id(&a.tenant, &a.alert_key, p.version),
                tenant: a.tenant.to_string(),
                alert_key: a.alert_key.clone(),
                alert_id: a.external_alert_id.as_deref().and_then(|i| i.parse().ok()),
                agent_id: a.external_device_id.clone(),
                asset_id: a.asset_id.clone(),
                severity: p.severity.clone(),
                from: p.from.clone(),
                to: p.to.clone(),
                kind: p.kind.clone(),
                source: p.source.clone(),
                observed_at: p.observed_at.clone(),
            };
            BusEvent { detail_type: ALERT_CHANGED, detail: serde_json::to_value(&detail).unwrap_or_default() }
        })
        .collect()
}

/// Publishes the pending changes of these alert states (one `PutEvents` per ten) and then
/// clears them, each on condition that the alert is still at the version read; an alert that
/// moved on is re-read and published again (same ids: consumers drop the duplicates). An error
/// means some change may be unpublished: the caller's work item fails and is retried, and the
/// changes stay pending on their items.
pub async fn publish_pending(
    store: &dyn Store,
    events: &dyn EventPublisher,
    alerts: &[RmmAlert],
) -> Result<usize, PortError> {
    let with: Vec<&RmmAlert> = alerts.iter().filter(|a| !a.pending_events.is_empty()).collect();
    if with.is_empty() {
        return Ok(0);
    }
    let batch: Vec<BusEvent> = with.iter().flat_map(|a| pending_bus_events(a)).collect();
    events.publish(&batch).await?;
    let mut published = batch.len();
    for a in with {
        if !store.clear_pending_events(&a.tenant, &a.alert_key, a.version).await? {
            published += publish_alert(store, events, &a.tenant, &a.alert_key).await?;
        }
    }
    Ok(published)
}

/// Publishes one alert's pending changes as stored now (the webhook follow-up does this first).
pub async fn publish_alert(
    store: &dyn Store,
    events: &dyn EventPublisher,
    tenant: &TenantId,
    alert_key: &str,
) -> Result<usize, PortError> {
    let mut published = 0;
    for _ in 0..MAX_ATTEMPTS {
        let Some(a) = store.get_alert(tenant, alert_key).await? else { return Ok(published) };
        if a.pending_events.is_empty() {
            return Ok(published);
        }
        let batch = pending_bus_events(&a);
        events.publish(&batch).await?;
        published += batch.len();
        if store.clear_pending_events(tenant, alert_key, a.version).await? {
            return Ok(published);
        }
        tokio::task::yield_now().await;
    }
    Err(PortError::ConditionFailed("the alert kept changing while its events were published".into()))
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
    let strip = |x: &RmmAlert| RmmAlert {
        updated_at: None,
        version: 0,
        last_occurrence_at: None,
        pending_events: Vec::new(),
        ..x.clone()
    };
    strip(a) == strip(b)
}

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

/// Every alert of the tenant that is open or has changes still to publish (one pass over the
/// tenant's alerts, as reading the open ones costs anyway).
async fn open_or_pending_alerts(store: &dyn Store, tenant: &TenantId) -> Result<Vec<RmmAlert>, PortError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_alerts(tenant, &AlertQuery { status: None, asset_id: None, limit: 500, cursor }).await?;
        out.extend(page.alerts.into_iter().filter(|a| a.is_open() || !a.pending_events.is_empty()));
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(out),
        }
    }
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
    // Latest known state of every alert with pending changes, by key.
    let mut pending: std::collections::HashMap<String, RmmAlert> = std::collections::HashMap::new();
    for ev in &events {
        let existed = store.get_alert(tenant, &ev.key()).await?.is_some();
        let r = record(store, tenant, ev).await?;
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
    let cutoff = super::time::to_rfc3339(super::time::now() - time::Duration::days(i64::from(BACKFILL_DAYS)));
    for local in open_or_pending_alerts(store, tenant).await? {
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

/// Records a change Tactical accepted from the PSA. `None` when the alert is not recorded. The
/// answer carries the change pending; the caller publishes it ([`publish_pending`]).
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
        changed(Some(&existing), &mut next, "psa");
        if store.put_alert(&next).await? {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(status: &str, severity: &str, version: i64) -> RmmAlert {
        serde_json::from_value(serde_json::json!({
            "tenant": "t1", "alert_key": "id#7", "external_alert_id": "7", "external_device_id": "agent-1",
            "status": status, "severity": severity, "source_type": "tacticalrmm", "version": version,
        }))
        .unwrap()
    }

    #[test]
    fn every_change_of_state_has_its_kind_and_nothing_else_has_one() {
        let kind = |b: Option<(&str, &str)>, a: (&str, &str)| {
            change_kind(b.map(|(s, v)| alert(s, v, 1)).as_ref(), &alert(a.0, a.1, 2))
        };
        assert_eq!(kind(None, ("active", "minor")), Some("opened"));
        assert_eq!(kind(None, ("suppressed", "minor")), Some("opened"));
        assert_eq!(kind(None, ("resolved", "minor")), Some("resolved"));
        assert_eq!(kind(Some(("active", "minor")), ("active", "critical")), Some("severity_updated"));
        assert_eq!(kind(Some(("active", "minor")), ("active", "minor")), None);
        assert_eq!(kind(Some(("resolved", "minor")), ("resolved", "critical")), None);
        assert_eq!(kind(Some(("active", "minor")), ("resolved", "minor")), Some("resolved"));
        assert_eq!(kind(Some(("suppressed", "minor")), ("auto_resolved", "minor")), Some("auto_resolved"));
        assert_eq!(kind(Some(("active", "minor")), ("suppressed", "minor")), Some("suppressed"));
        assert_eq!(kind(Some(("suppressed", "minor")), ("active", "minor")), Some("unsuppressed"));
        assert_eq!(kind(Some(("auto_resolved", "minor")), ("active", "minor")), Some("reopened"));
    }

    #[test]
    fn a_change_is_kept_pending_with_its_version_and_gets_a_stable_id() {
        let before = alert("active", "minor", 3);
        let mut after = alert("resolved", "minor", 4);
        changed(Some(&before), &mut after, "psa");
        changed(Some(&after.clone()), &mut alert("resolved", "minor", 5), "psa");
        assert_eq!(after.pending_events.len(), 1);
        let events = pending_bus_events(&after);
        let d = &events[0].detail;
        assert_eq!(
            (d["kind"].as_str(), d["from"].as_str(), d["to"].as_str()),
            (Some("resolved"), Some("active"), Some("resolved"))
        );
        assert_eq!((d["alert_id"].as_i64(), d["source"].as_str()), (Some(7), Some("psa")));
        let t = TenantId::parse("t1").unwrap();
        assert_eq!(d["event_id"], alert_event_id(&t, "id#7", 4));
        assert_eq!(alert_event_id(&t, "id#7", 4), alert_event_id(&t, "id#7", 4));
        assert_ne!(alert_event_id(&t, "id#7", 4), alert_event_id(&t, "id#7", 5));
        assert_ne!(alert_event_id(&t, "id#7", 4), alert_event_id(&TenantId::parse("t2").unwrap(), "id#7", 4));
    }

    #[test]
    fn the_outbox_stays_bounded() {
        let mut a = alert("active", "minor", 0);
        for v in 1..=(MAX_PENDING as i64 + 5) {
            let before = a.clone();
            a.version = v;
            a.severity = if v % 2 == 0 { "minor".into() } else { "critical".into() };
            changed(Some(&before), &mut a, "webhook");
        }
        assert_eq!(a.pending_events.len(), MAX_PENDING);
        assert_eq!(a.pending_events.last().map(|p| p.version), Some(MAX_PENDING as i64 + 5));
    }
}
