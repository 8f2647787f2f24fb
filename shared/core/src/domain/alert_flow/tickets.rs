//! The PSA's side of an alert: its changes and the ticket it is linked to.

use super::{MAX_ATTEMPTS, changed, same_state};
use crate::domain::alerts::{PsaChange, RmmAlert, apply_psa};
use crate::domain::time::now_rfc3339;
use crate::ports::{PortError, Store};
use crate::tenant::TenantId;

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
