//! Alert work of the sync queue: the backfill run and a webhook's follow-up.

use super::{TacticalErrorOrApi, client_for, refresh_agent};
use crate::app::Deps;
use crate::domain::integration::RmmIntegration;
use crate::domain::sync_run::SyncCounts;
use crate::domain::time::now_rfc3339;
use crate::ports::RunProgress;
use crate::tactical::TacticalError;
use crate::tenant::TenantId;

/// Sync Alerts: backfill open alerts and reconcile (see `alert_flow::backfill`).
pub(super) async fn run_alerts(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
) -> Result<RunProgress, TacticalErrorOrApi> {
    let api = client_for(deps, tenant, integ).await?;
    let c =
        crate::domain::alert_flow::backfill::<TacticalErrorOrApi>(deps.store.as_ref(), api.as_ref(), tenant).await?;
    // Publishing fails the run's work item: SQS retries it, the changes staying pending.
    crate::domain::alert_flow::publish_pending(deps.store.as_ref(), deps.events.as_ref(), &c.to_publish).await?;
    let counts = SyncCounts {
        items_processed: c.open_in_tactical,
        items_created: c.created,
        items_updated: c.updated,
        items_unchanged: c.unchanged,
        items_deleted: c.auto_resolved,
        ..Default::default()
    };
    Ok(RunProgress { counts, pending_delta: -1, ..Default::default() })
}

/// After a webhook: re-fetch the alert when its body was broken, refresh the agent's asset from
/// Tactical, and link the alert to the asset.
pub(super) async fn alert_follow_up(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    alert_key: &str,
    alert_id: Option<i64>,
    agent_id: &str,
    refetch: bool,
) -> Result<(), TacticalErrorOrApi> {
    let api = client_for(deps, tenant, integ).await?;
    let mut agent_id = agent_id.to_owned();
    if refetch && let Some(id) = alert_id {
        match api.alert(id).await {
            Ok(a) => {
                if let Some(ev) = crate::domain::alerts::AlertEvent::from_tactical(&a, "refetch") {
                    let r = crate::domain::alert_flow::record(deps.store.as_ref(), tenant, &ev).await?;
                    let written: Vec<_> = r.alert.into_iter().map(|a| *a).collect();
                    crate::domain::alert_flow::publish_pending(deps.store.as_ref(), deps.events.as_ref(), &written)
                        .await?;
                    // Tactical's word over a body that had to be read leniently: a message that
                    // imitates `"agent_id": "…"` must not link the alert to another agent.
                    agent_id = ev.agent_id;
                }
            }
            Err(TacticalError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let asset_id = crate::domain::asset::asset_id_for(tenant, &agent_id);
    if !refresh_agent(deps, tenant, api.as_ref(), &agent_id).await? {
        // Not an asset (yet): the next device sync brings it in if its organization is mapped.
        return Ok(());
    }
    availability_status(deps, tenant, alert_key, &asset_id).await?;
    for _ in 0..4 {
        let Some(mut alert) = deps.store.get_alert(tenant, alert_key).await? else { return Ok(()) };
        if alert.asset_id.as_deref() == Some(asset_id.as_str()) {
            return Ok(());
        }
        alert.asset_id = Some(asset_id.clone());
        alert.version += 1;
        if deps.store.put_alert(&alert).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// An availability alert is Tactical's word on its agent: overdue while the alert is open, back
/// online once Tactical resolves it. Written onto the asset at once; the next status refresh
/// sees the same change against its snapshot and publishes it (one event per transition).
pub(super) async fn availability_status(
    deps: &Deps,
    tenant: &TenantId,
    alert_key: &str,
    asset_id: &str,
) -> Result<(), TacticalErrorOrApi> {
    let Some(alert) = deps.store.get_alert(tenant, alert_key).await? else { return Ok(()) };
    if alert.alert_class.as_deref() != Some("availability") {
        return Ok(());
    }
    let status = match alert.status.as_str() {
        "active" => crate::domain::status::AgentStatus::Overdue,
        "resolved" => crate::domain::status::AgentStatus::Online,
        _ => return Ok(()),
    };
    let change = crate::domain::status_refresh::StatusChange {
        asset_id: asset_id.to_owned(),
        status,
        last_seen_at: None,
        observed_at: now_rfc3339(),
    };
    deps.store.apply_status(tenant, &change).await?;
    Ok(())
}
