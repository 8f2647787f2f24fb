//! `RMM Alert Changed` events: the pending changes of an alert published once each, with stable
//! event ids.

use super::{ALERT_CHANGED, MAX_ATTEMPTS};
use crate::domain::alerts::RmmAlert;
use crate::ports::{BusEvent, EventPublisher, PortError, Store};
use crate::tenant::TenantId;
use serde::Serialize;

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
        if !store.clear_pending_events(a).await? {
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
        if store.clear_pending_events(&a).await? {
            return Ok(published);
        }
        tokio::task::yield_now().await;
    }
    Err(PortError::ConditionFailed("the alert kept changing while its events were published".into()))
}
