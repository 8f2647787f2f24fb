//! One sync queue message → its work, run with a fresh Knox token when Tactical refuses the old one.

use super::{
    MAX_RECEIVES, Outcome, PageAt, TacticalErrorOrApi, active_integration, alert_follow_up, connection, device_page,
    fail_run, fan_out_devices, finish_work_item, run_alerts, run_clients,
};
use crate::app::Deps;
use crate::domain::integration::RmmIntegration;
use crate::error::{ApiError, ErrorCode};
use crate::messages::{SyncMessage, SyncType};
use crate::tactical::TacticalError;
use crate::tenant::TenantId;

pub(super) const RETRY_INTEGRATION: &str = "reading the integration failed";

/// Runs one work item; when Tactical refuses the Knox token, a new one is taken (or waited
/// for) and the item runs again at once, not after an SQS redelivery (12 to 30 minutes later).
pub(crate) async fn with_renewal<T, F, Fut>(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    work: F,
) -> Result<T, TacticalErrorOrApi>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, TacticalErrorOrApi>>,
{
    connection(deps)
        .with_renewal(
            tenant,
            integ.knox_token_expires_at.as_deref(),
            |e| matches!(e, TacticalErrorOrApi::Tactical(TacticalError::Unauthorized { .. })),
            // Transient: SQS delivers the item again later.
            |reason| TacticalErrorOrApi::Api(ApiError::new(ErrorCode::Internal, reason)),
            work,
        )
        .await
}

/// Handles one message of any sync queue.
pub async fn handle_message(deps: &Deps, msg: SyncMessage, receive_count: u32) -> Outcome {
    let last_attempt = receive_count >= MAX_RECEIVES;
    match msg {
        SyncMessage::StartRun { tenant, run_id, sync_type, .. } => {
            let integ = match active_integration(deps, &tenant).await {
                Ok(i) => i,
                Err(None) => return Outcome::Retry(RETRY_INTEGRATION.into()),
                Err(Some(reason)) => {
                    tracing::warn!(tenant = %tenant, reason, "dropping sync message");
                    fail_run(deps, &tenant, sync_type, &run_id, &reason).await;
                    return Outcome::Done;
                }
            };
            crate::domain::webhook_settings::backfill_digests(
                deps.store.as_ref(),
                deps.secrets.as_ref(),
                &tenant,
                &integ,
            )
            .await;
            let result = with_renewal(deps, &tenant, &integ, || async {
                match sync_type {
                    SyncType::Clients => run_clients(deps, &tenant, &integ, &run_id).await,
                    SyncType::Devices => fan_out_devices(deps, &tenant, &integ, &run_id).await,
                    SyncType::Alerts => run_alerts(deps, &tenant, &integ).await,
                    SyncType::Software => {
                        crate::domain::software::fan_out_software(deps, &tenant, &integ, &run_id).await
                    }
                }
            })
            .await;
            finish_work_item(deps, &tenant, sync_type, &run_id, "start", result, last_attempt).await
        }
        SyncMessage::DevicePage { tenant, run_id, client_id, page, page_size, baseline, fresh, count } => {
            let integ = match active_integration(deps, &tenant).await {
                Ok(i) => i,
                Err(None) => return Outcome::Retry(RETRY_INTEGRATION.into()),
                Err(Some(reason)) => {
                    tracing::warn!(tenant = %tenant, reason, "dropping device page");
                    fail_run(deps, &tenant, SyncType::Devices, &run_id, &reason).await;
                    return Outcome::Done;
                }
            };
            let at = PageAt { client_id, page, page_size, baseline: baseline.as_deref(), fresh, count };
            let result = with_renewal(deps, &tenant, &integ, || device_page(deps, &tenant, &integ, &run_id, &at)).await;
            let item = format!("page#{client_id}#{page}");
            finish_work_item(deps, &tenant, SyncType::Devices, &run_id, &item, result, last_attempt).await
        }
        SyncMessage::AlertFollowUp { tenant, alert_key, alert_id, agent_id, refetch } => {
            // The webhook's change first, whatever happens with Tactical: a failure fails the
            // item (SQS redelivers it and the same event ids are published).
            if let Err(e) =
                crate::domain::alert_flow::publish_alert(deps.store.as_ref(), deps.events.as_ref(), &tenant, &alert_key)
                    .await
            {
                tracing::warn!(tenant = %tenant, alert_key, error = %e, "publishing alert changes failed");
                return Outcome::Retry(format!("publishing alert changes failed: {e}"));
            }
            let integ = match active_integration(deps, &tenant).await {
                Ok(i) => i,
                Err(None) => return Outcome::Retry(RETRY_INTEGRATION.into()),
                Err(Some(reason)) => {
                    tracing::warn!(tenant = %tenant, reason, "dropping alert follow-up");
                    return Outcome::Done;
                }
            };
            let result = with_renewal(deps, &tenant, &integ, || {
                alert_follow_up(deps, &tenant, &integ, &alert_key, alert_id, &agent_id, refetch)
            })
            .await;
            match result {
                Ok(()) => Outcome::Done,
                Err(e) if e.transient() && !last_attempt => Outcome::Retry(e.message()),
                Err(e) => {
                    tracing::warn!(tenant = %tenant, alert_key, error = %e.message(), "alert follow-up failed");
                    Outcome::Done
                }
            }
        }
        SyncMessage::StatusRefresh { tenant, .. } => {
            crate::domain::status_refresh::handle(deps, &tenant, last_attempt).await
        }
        SyncMessage::SoftwareBatch { tenant, run_id, batch, part, agent_ids } => {
            let integ = match active_integration(deps, &tenant).await {
                Ok(i) => i,
                Err(None) => return Outcome::Retry(RETRY_INTEGRATION.into()),
                Err(Some(reason)) => {
                    tracing::warn!(tenant = %tenant, reason, "dropping software batch");
                    fail_run(deps, &tenant, SyncType::Software, &run_id, &reason).await;
                    return Outcome::Done;
                }
            };
            let result = with_renewal(deps, &tenant, &integ, || {
                crate::domain::software::software_batch(deps, &tenant, &integ, &run_id, batch, part, &agent_ids)
            })
            .await;
            let item = crate::domain::software::batch_item(batch, part);
            finish_work_item(deps, &tenant, SyncType::Software, &run_id, &item, result, last_attempt).await
        }
    }
}
