//! A sync run's life: started (one per tenant and type), each work item accounted once, and
//! finished when the last one is done.

use super::{Outcome, TacticalErrorOrApi, flag_missing_assets};
use crate::app::Deps;
use crate::domain::integration::IntegrationPatch;
use crate::domain::sync_run::{SyncCounts, SyncRun, SyncRunStatus, new_run_id};
use crate::domain::time::now_rfc3339;
use crate::error::{ApiError, ErrorCode};
use crate::messages::{SyncMessage, SyncType, Trigger};
use crate::ports::{RunProgress, StartOutcome};
use crate::tenant::TenantId;
use serde::Serialize;

/// A run's lock outlives a stuck run by this much, so a crashed run cannot block syncs forever.
pub(super) const LOCK_SECS: i64 = 2 * 3600;
#[derive(Debug, Serialize)]
pub struct Started {
    pub run_id: String,
    /// False when a run of this type was already in progress; `run_id` is that run.
    pub started: bool,
    pub sync_type: SyncType,
}

/// Records a run and queues its first message. Refused when the integration is inactive.
pub async fn start(deps: &Deps, tenant: &TenantId, sync_type: SyncType, trigger: Trigger) -> Result<Started, ApiError> {
    let integ = deps.store.get_integration(tenant).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::IntegrationNotConfigured, "Tactical RMM is not configured for this tenant")
    })?;
    integ.ensure_active()?;
    let run = SyncRun {
        tenant: tenant.clone(),
        run_id: new_run_id(),
        sync_type,
        trigger,
        status: SyncRunStatus::Queued,
        started_at: now_rfc3339(),
        finished_at: None,
        counts: SyncCounts { work_total: 1, ..Default::default() },
        pending: 1,
        errors: vec![],
        message: None,
    };
    match deps.store.try_start_run(&run, LOCK_SECS).await? {
        StartOutcome::AlreadyRunning { run_id } => Ok(Started { run_id, started: false, sync_type }),
        StartOutcome::Started(run) => {
            let msg = SyncMessage::StartRun { tenant: tenant.clone(), run_id: run.run_id.clone(), sync_type, trigger };
            if let Err(e) = deps.queue.send(sync_type.queue(), &[msg]).await {
                deps.store
                    .finish_run(
                        tenant,
                        sync_type,
                        &run.run_id,
                        SyncRunStatus::Failed,
                        Some("could not queue the run".into()),
                    )
                    .await?;
                return Err(e.into());
            }
            deps.store
                .patch_integration(
                    tenant,
                    &IntegrationPatch {
                        last_started: vec![(sync_type.as_str().into(), run.started_at.clone())],
                        ..Default::default()
                    },
                )
                .await?;
            Ok(Started { run_id: run.run_id, started: true, sync_type })
        }
    }
}

pub(super) async fn fail_run(deps: &Deps, tenant: &TenantId, st: SyncType, run_id: &str, msg: &str) {
    // Only a run that exists (and was not finished yet) is reported on its integration: a message
    // naming a tenant without an integration must not create one.
    let finished = deps.store.finish_run(tenant, st, run_id, SyncRunStatus::Failed, Some(msg.to_owned())).await;
    if !matches!(finished, Ok(true)) {
        return;
    }
    let _ = deps
        .store
        .patch_integration(
            tenant,
            &IntegrationPatch {
                sync_status: Some("failed".into()),
                sync_error: Some(Some(msg.to_owned())),
                ..Default::default()
            },
        )
        .await;
}

/// Accounts one finished work item on its run and finishes the run when it was the last.
pub(super) async fn finish_work_item(
    deps: &Deps,
    tenant: &TenantId,
    st: SyncType,
    run_id: &str,
    work_item: &str,
    result: Result<RunProgress, TacticalErrorOrApi>,
    last_attempt: bool,
) -> Outcome {
    let progress = match result {
        Ok(p) => RunProgress {
            work_item: Some(work_item.to_owned()),
            counts: SyncCounts { work_done: p.counts.work_done + 1, ..p.counts },
            ..p
        },
        Err(e) if e.transient() && !last_attempt => {
            tracing::warn!(tenant = %tenant, run_id, error = %e.message(), "work item failed; SQS will retry");
            return Outcome::Retry(e.message());
        }
        Err(e) => {
            tracing::error!(tenant = %tenant, run_id, error = %e.message(), "work item failed for good");
            if matches!(e, TacticalErrorOrApi::FanOut(_)) {
                // Its claimed children will never all arrive: end the run now, not at lock expiry.
                fail_run(deps, tenant, st, run_id, &e.message()).await;
                return Outcome::Done;
            }
            RunProgress {
                counts: SyncCounts { items_failed: 1, work_done: 1, ..Default::default() },
                pending_delta: -1,
                errors: vec![e.message()],
                work_item: Some(work_item.to_owned()),
                undo_item: None,
            }
        }
    };
    let run = match deps.store.add_run_progress(tenant, st, run_id, &progress).await {
        Ok(Some(r)) => r,
        // A duplicate delivery of a work item already counted: nothing more to do.
        Ok(None) => return Outcome::Done,
        Err(e) => return Outcome::Retry(format!("recording progress: {e}")),
    };
    if run.pending > 0 || run.status.is_finished() {
        return Outcome::Done;
    }
    match finalize(deps, tenant, &run).await {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::Retry(format!("finishing the run: {}", e.message())),
    }
}

pub(super) async fn finalize(deps: &Deps, tenant: &TenantId, run: &SyncRun) -> Result<(), TacticalErrorOrApi> {
    let c = &run.counts;
    let status = if run.errors.is_empty() && c.items_failed == 0 {
        SyncRunStatus::Succeeded
    } else if c.items_processed > 0 {
        SyncRunStatus::Partial
    } else {
        SyncRunStatus::Failed
    };
    let mut message = None;
    if run.sync_type == SyncType::Devices && status == SyncRunStatus::Succeeded {
        // Only a complete run may call an agent missing: a failed page would flag its agents.
        let Some(flagged) = flag_missing_assets(deps, tenant, run).await? else {
            let drift = "agents changed in Tactical while the run paged: missing agents are checked next run";
            return finish(deps, tenant, run, status, Some(drift.into()), false).await;
        };
        if flagged > 0 {
            let missing = RunProgress {
                counts: SyncCounts { items_missing: i64::try_from(flagged).unwrap_or(i64::MAX), ..Default::default() },
                ..Default::default()
            };
            deps.store.add_run_progress(tenant, run.sync_type, &run.run_id, &missing).await?;
            message = Some(format!("{flagged} assets flagged missing from Tactical"));
        }
    }
    if run.sync_type == SyncType::Devices && c.items_created > 0 {
        // Alerts that arrived before their agent was an asset are linked now that it is one.
        let linked = crate::domain::alert_flow::link_open_alerts(deps.store.as_ref(), tenant).await?;
        if linked > 0 {
            tracing::info!(tenant = %tenant, run_id = %run.run_id, linked, "open alerts linked to new assets");
        }
    }
    if run.sync_type == SyncType::Devices
        && status == SyncRunStatus::Succeeded
        && c.items_processed == 0
        && message.is_none()
    {
        message = Some("no organization has a PSA client with auto-sync on: map organizations first".into());
    }
    if run.sync_type == SyncType::Software && status == SyncRunStatus::Succeeded && c.items_processed == 0 {
        message = Some("no Tactical agent is an asset of this tenant yet: sync devices first".into());
    }
    if status != SyncRunStatus::Succeeded {
        message = Some(run.errors.first().cloned().unwrap_or_else(|| "some work items failed".into()));
    }
    finish(deps, tenant, run, status, message, status == SyncRunStatus::Succeeded).await
}

pub(super) async fn finish(
    deps: &Deps,
    tenant: &TenantId,
    run: &SyncRun,
    status: SyncRunStatus,
    message: Option<String>,
    complete: bool,
) -> Result<(), TacticalErrorOrApi> {
    let c = &run.counts;
    deps.store.finish_run(tenant, run.sync_type, &run.run_id, status, message.clone()).await?;
    let now = now_rfc3339();
    // Only a run that saw every page may be the next run's baseline.
    let last_complete_device_run = (run.sync_type == SyncType::Devices).then(|| complete.then(|| run.run_id.clone()));
    deps.store
        .patch_integration(
            tenant,
            &IntegrationPatch {
                last_sync_at: Some(now),
                sync_status: Some(if status == SyncRunStatus::Failed { "failed" } else { "completed" }.into()),
                sync_error: Some(if status == SyncRunStatus::Succeeded { None } else { message }),
                last_complete_device_run,
                ..Default::default()
            },
        )
        .await?;
    tracing::info!(tenant = %tenant, run_id = %run.run_id, sync_type = run.sync_type.as_str(), ?status, processed = c.items_processed, "sync run finished");
    crate::domain::run_metrics::emit(&crate::domain::run_metrics::emf_line(run, status, crate::domain::time::now()));
    Ok(())
}
