//! Sync runs end to end: start (one run per tenant and type), clients, and devices fanned out
//! one beta-API page per queue message (admin guide "Sync clients" and "Sync devices").

use super::asset::{ExternalEntityMapping, OrgContext, asset_from_agent};
use super::connection::ConnectionService;
use super::integration::{IntegrationPatch, RmmIntegration};
use super::limits::{check_run_total, page_count};
use super::mapping::{OrgMapping, TacticalOrg};
use super::sync_run::{SyncCounts, SyncRun, SyncRunStatus, new_run_id};
use super::time::{now, now_rfc3339};
use crate::app::Deps;
use crate::error::{ApiError, ErrorCode};
use crate::messages::{SyncMessage, SyncType, Trigger};
use crate::ports::{AssetWrite, MappingWrite, RunProgress, StartOutcome};
use crate::tactical::types::BetaAgentQuery;
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// A run's lock outlives a stuck run by this much, so a crashed run cannot block syncs forever.
const LOCK_SECS: i64 = 2 * 3600;
/// SQS attempts (maxReceiveCount in template.yaml): on the last one a failing work item is
/// recorded as failed on the run instead of being retried into the DLQ unseen.
pub const MAX_RECEIVES: u32 = 5;

#[derive(Debug, Serialize)]
pub struct Started {
    pub run_id: String,
    /// False when a run of this type was already in progress; `run_id` is that run.
    pub started: bool,
    pub sync_type: SyncType,
}

fn connection(deps: &Deps) -> ConnectionService<'_> {
    ConnectionService::new(deps)
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

/// What a queue message handler tells the SQS adapter.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Leave the message for SQS to redeliver (transient failure, attempts left).
    Retry(String),
}

/// The integration of a message's tenant, or a reason to drop the message (no integration, or
/// inactive: a disconnected tenant's queued work must not run; a queue message can never act for
/// a tenant without one). `Err(None)`:
/// the store could not be read (throttled, unavailable): the message is retried, not dropped.
pub(super) async fn active_integration(deps: &Deps, tenant: &TenantId) -> Result<RmmIntegration, Option<String>> {
    match deps.store.get_integration(tenant).await {
        Ok(Some(i)) if i.is_active && i.instance_url.is_some() => Ok(i),
        Ok(Some(_)) => Err(Some("the integration is inactive or disconnected".into())),
        Ok(None) => Err(Some("no Tactical integration for this tenant".into())),
        Err(e) => {
            tracing::warn!(tenant = %tenant, error = %e, "reading the integration failed; the message will be retried");
            Err(None)
        }
    }
}

const RETRY_INTEGRATION: &str = "reading the integration failed";

async fn fail_run(deps: &Deps, tenant: &TenantId, st: SyncType, run_id: &str, msg: &str) {
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

/// Runs one work item; when Tactical refuses the Knox token, a new one is taken (or waited
/// for) and the item runs again at once, not after an SQS redelivery (12 to 30 minutes later).
async fn with_renewal<T, F, Fut>(
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

/// Tactical refused the credentials of work that does not run again inline: a Knox account
/// without TOTP gets a new token (true: the work may be retried), otherwise the integration is
/// flagged `reauth_required` for a person ([`ConnectionService::renew_token`]).
pub(super) async fn note_auth_failure(deps: &Deps, tenant: &TenantId, e: &TacticalError) -> bool {
    if !matches!(e, TacticalError::Unauthorized { .. }) {
        return false;
    }
    let seen = deps.store.get_integration(tenant).await.ok().flatten().and_then(|i| i.knox_token_expires_at);
    matches!(connection(deps).renew_token(tenant, seen.as_deref()).await, Ok(super::connection::Renewal::Renewed))
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
            super::webhook_settings::backfill_digests(deps.store.as_ref(), deps.secrets.as_ref(), &tenant, &integ)
                .await;
            let result = with_renewal(deps, &tenant, &integ, || async {
                match sync_type {
                    SyncType::Clients => run_clients(deps, &tenant, &integ, &run_id).await,
                    SyncType::Devices => fan_out_devices(deps, &tenant, &integ, &run_id).await,
                    SyncType::Alerts => run_alerts(deps, &tenant, &integ).await,
                    SyncType::Software => super::software::fan_out_software(deps, &tenant, &integ, &run_id).await,
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
                super::alert_flow::publish_alert(deps.store.as_ref(), deps.events.as_ref(), &tenant, &alert_key).await
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
        SyncMessage::StatusRefresh { tenant, .. } => super::status_refresh::handle(deps, &tenant, last_attempt).await,
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
                super::software::software_batch(deps, &tenant, &integ, &run_id, batch, part, &agent_ids)
            })
            .await;
            let item = super::software::batch_item(batch, part);
            finish_work_item(deps, &tenant, SyncType::Software, &run_id, &item, result, last_attempt).await
        }
    }
}

#[derive(Debug)]
pub enum TacticalErrorOrApi {
    Tactical(TacticalError),
    Api(ApiError),
    /// Queueing a fan-out's work items failed (some may have been sent): retried; on the last
    /// attempt the run is failed, since the children it claimed will never all arrive.
    FanOut(String),
    /// A cap on the work a Tactical answer may cause (`limits`): never retried.
    Limit(String),
}

impl From<TacticalError> for TacticalErrorOrApi {
    fn from(e: TacticalError) -> Self {
        Self::Tactical(e)
    }
}
impl From<ApiError> for TacticalErrorOrApi {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}
impl From<crate::ports::PortError> for TacticalErrorOrApi {
    fn from(e: crate::ports::PortError) -> Self {
        // Transient (`ErrorCode::Internal`); a throttle reads "the data store is busy", never as
        // a Tactical failure.
        Self::Api(e.into())
    }
}

impl TacticalErrorOrApi {
    pub(super) fn transient(&self) -> bool {
        match self {
            Self::Tactical(e) => e.is_transient(),
            Self::Api(e) => e.code == ErrorCode::Internal,
            Self::FanOut(_) => true,
            Self::Limit(_) => false,
        }
    }
    pub(super) fn message(&self) -> String {
        match self {
            Self::Tactical(e) => e.to_string(),
            Self::Api(e) => e.message.clone(),
            Self::FanOut(e) => format!("queueing work items failed: {e}"),
            Self::Limit(e) => e.clone(),
        }
    }
}

/// Accounts one finished work item on its run and finishes the run when it was the last.
async fn finish_work_item(
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

async fn finalize(deps: &Deps, tenant: &TenantId, run: &SyncRun) -> Result<(), TacticalErrorOrApi> {
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
        let linked = super::alert_flow::link_open_alerts(deps.store.as_ref(), tenant).await?;
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

async fn finish(
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
    super::run_metrics::emit(&super::run_metrics::emf_line(run, status, super::time::now()));
    Ok(())
}

pub(super) async fn client_for(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
) -> Result<Box<dyn TacticalApi>, TacticalErrorOrApi> {
    Ok(connection(deps).client(tenant, integ).await?)
}

/// Sync Clients: one organization mapping per Tactical client; person-set fields untouched; a
/// client gone from Tactical is flagged, not deleted.
async fn run_clients(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    _run_id: &str,
) -> Result<RunProgress, TacticalErrorOrApi> {
    let api = client_for(deps, tenant, integ).await?;
    let clients = api.clients().await?;
    let existing: HashMap<String, OrgMapping> = deps
        .store
        .list_org_mappings(tenant)
        .await?
        .into_iter()
        .map(|m| (m.external_organization_id.clone(), m))
        .collect();
    let now = now_rfc3339();
    let mut counts = SyncCounts::default();
    let mut seen = HashSet::new();
    for c in &clients {
        let org = TacticalOrg::from(c);
        seen.insert(org.external_organization_id.clone());
        counts.items_processed += 1;
        match existing.get(&org.external_organization_id) {
            Some(m) if !org.differs_from(m) => counts.items_unchanged += 1,
            _ => match deps.store.write_org_mapping(tenant, &org, &now).await? {
                MappingWrite::Created => counts.items_created += 1,
                MappingWrite::Updated => counts.items_updated += 1,
            },
        }
    }
    for (id, m) in &existing {
        if !seen.contains(id) && m.missing_since.is_none() {
            deps.store.flag_org_mapping_missing(tenant, id, &now).await?;
            counts.items_deleted += 1;
        }
    }
    Ok(RunProgress { counts, pending_delta: -1, ..Default::default() })
}

/// Adds `n` pending work items once per `key`, then queues them, then notes `{key}#sent`. A
/// retried parent whose children were claimed but maybe not all sent (the send failed half-way,
/// or the worker died in between) sends them all again without claiming again: each child counts
/// at most once by its own work-item key, so a duplicate costs work but never a count, and the
/// run cannot finish before every claimed child has reported. Returns false when nothing was sent.
pub(super) async fn fan_out(
    deps: &Deps,
    tenant: &TenantId,
    st: SyncType,
    run_id: &str,
    key: &str,
    msgs: Vec<SyncMessage>,
) -> Result<bool, TacticalErrorOrApi> {
    let n = i64::try_from(msgs.len()).unwrap_or(i64::MAX);
    let claim = RunProgress {
        pending_delta: n,
        work_item: Some(key.to_owned()),
        counts: SyncCounts { work_total: n, ..Default::default() },
        ..Default::default()
    };
    let sent_key = format!("{key}#sent");
    let sent = RunProgress { work_item: Some(sent_key.clone()), ..Default::default() };
    match deps.store.add_run_progress(tenant, st, run_id, &claim).await? {
        Some(run) => {
            if let Err(e) = check_run_total(run.counts.work_total, &deps.config.fan_out) {
                // Nothing was sent: give the claim back, but keep its key (and mark it sent) so
                // no redelivery of the parent sends these children.
                let undo = RunProgress {
                    pending_delta: -n,
                    counts: SyncCounts { work_total: -n, ..Default::default() },
                    work_item: Some(sent_key),
                    ..Default::default()
                };
                deps.store.add_run_progress(tenant, st, run_id, &undo).await?;
                return Err(TacticalErrorOrApi::Limit(e.to_string()));
            }
            deps.queue.send(st.queue(), &msgs).await.map_err(|e| TacticalErrorOrApi::FanOut(e.to_string()))?;
            deps.store.add_run_progress(tenant, st, run_id, &sent).await?;
        }
        None => {
            // Claimed before. Sent completely (or the run is gone or over): nothing to do.
            match deps.store.add_run_progress(tenant, st, run_id, &sent).await? {
                Some(run) if !run.status.is_finished() => {}
                _ => return Ok(false),
            }
            if let Err(e) = deps.queue.send(st.queue(), &msgs).await {
                let unmark = RunProgress { undo_item: Some(sent_key), ..Default::default() };
                deps.store.add_run_progress(tenant, st, run_id, &unmark).await?;
                return Err(TacticalErrorOrApi::FanOut(e.to_string()));
            }
        }
    }
    Ok(true)
}

/// Sync Devices, step 1: one page-1 message per organization that syncs devices. Each carries
/// what spares reads: the previous run when it succeeded (its page hashes), or that the tenant
/// has no asset yet.
async fn fan_out_devices(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    run_id: &str,
) -> Result<RunProgress, TacticalErrorOrApi> {
    let baseline = integ.last_complete_device_run.clone().filter(|b| b != run_id);
    let fresh = baseline.is_none() && !deps.store.has_assets(tenant).await?;
    if fresh {
        // Remembered on the run: every asset at its end was created by it, none can be missing.
        deps.store.record_seen(tenant, SyncType::Devices, run_id, FRESH_PART, &[], &[]).await?;
    }
    // The beta list ignores the credentials' role: only clients the role-scoped `/clients/`
    // shows now are paged, so a key narrowed to some clients never imports the others.
    let api = client_for(deps, tenant, integ).await?;
    let visible: HashSet<i64> = api.clients().await?.iter().map(|c| c.id).collect();
    let orgs: Vec<i64> = deps
        .store
        .list_org_mappings(tenant)
        .await?
        .iter()
        .filter(|m| m.syncs_devices())
        .filter_map(OrgMapping::tactical_client_id)
        .filter(|c| visible.contains(c))
        .collect();
    let msgs: Vec<SyncMessage> = orgs
        .iter()
        .map(|c| SyncMessage::DevicePage {
            tenant: tenant.clone(),
            run_id: run_id.to_owned(),
            client_id: *c,
            page: 1,
            page_size: deps.config.device_page_size,
            baseline: baseline.clone(),
            fresh,
            count: None,
        })
        .collect();
    // Counted before they are sent, so the run cannot finish in between.
    fan_out(deps, tenant, SyncType::Devices, run_id, "fanout", msgs).await?;
    Ok(RunProgress { pending_delta: -1, ..Default::default() })
}

/// The `seen` part of a device run that started on a tenant without assets.
const FRESH_PART: &str = "fresh";

/// Which page a device work item is, and what the run knows before reading it.
struct PageAt<'a> {
    client_id: i64,
    page: u32,
    page_size: u32,
    baseline: Option<&'a str>,
    fresh: bool,
    /// The client's agent count on page 1 (pages 2..).
    count: Option<u64>,
}

/// The `seen` part of a device run whose pages moved under it (agents added or deleted in
/// Tactical while it paged): it cannot tell a missing agent from one that slid to a page
/// already read, so it flags none and is no baseline.
const DRIFT_PART: &str = "drift";

/// Sync Devices, step 2: one beta page of one Tactical client → assets. Page 1 also queues the
/// client's other pages. Unchanged agents cost no write, and no read when the previous
/// successful run recorded the same hash for them (read alongside the Tactical page).
async fn device_page(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    run_id: &str,
    at: &PageAt<'_>,
) -> Result<RunProgress, TacticalErrorOrApi> {
    let (client_id, page, page_size) = (at.client_id, at.page, at.page_size);
    let mapping = deps.store.get_org_mapping(tenant, &client_id.to_string()).await?;
    let Some(mapping) = mapping.filter(OrgMapping::syncs_devices) else {
        // Unmapped since the run started: nothing to do for this organization.
        return Ok(RunProgress { pending_delta: -1, ..Default::default() });
    };
    let api = client_for(deps, tenant, integ).await?;
    let part = format!("{client_id}-{page}");
    let query = BetaAgentQuery { client_id: Some(client_id), page, page_size, ..Default::default() };
    let known = async {
        match at.baseline {
            Some(b) => deps.store.seen_hashes(tenant, SyncType::Devices, b, &part).await,
            None => Ok(None),
        }
    };
    let (result, known) = tokio::join!(api.beta_agents_page(&query), known);
    let known = known?;
    let page_data = match result {
        Ok(p) => p,
        // "Invalid page." (404): a client with no agents (page 1), or one that lost agents since
        // page 1 was read, so this page is past the end now: an empty page, not a failure.
        Err(TacticalError::NotFound { .. }) => {
            if page > 1 {
                deps.store.record_seen(tenant, SyncType::Devices, run_id, DRIFT_PART, &[], &[]).await?;
            }
            deps.store.record_seen(tenant, SyncType::Devices, run_id, &part, &[], &[]).await?;
            return Ok(RunProgress { pending_delta: -1, ..Default::default() });
        }
        Err(e) => return Err(e.into()),
    };
    if page > 1 && at.count.is_some_and(|c| c != page_data.count) {
        deps.store.record_seen(tenant, SyncType::Devices, run_id, DRIFT_PART, &[], &[]).await?;
    }
    if page == 1 {
        let what = format!("client {client_id}");
        let pages = page_count(page_data.count, page_size, deps.config.fan_out.max_pages_per_listing, &what)
            .map_err(|e| TacticalErrorOrApi::Limit(e.to_string()))?;
        if pages > 1 {
            let msgs: Vec<SyncMessage> = (2..=pages)
                .map(|p| SyncMessage::DevicePage {
                    tenant: tenant.clone(),
                    run_id: run_id.to_owned(),
                    client_id,
                    page: p,
                    page_size,
                    baseline: at.baseline.map(str::to_owned),
                    fresh: at.fresh,
                    count: Some(page_data.count),
                })
                .collect();
            fan_out(deps, tenant, SyncType::Devices, run_id, &format!("fanout#{client_id}"), msgs).await?;
        }
    }
    let prior = if at.fresh { Prior::None } else { Prior::Known(known.as_ref()) };
    let keep = keep_status(integ);
    let (counts, ids, hashes) =
        upsert_agents(deps, tenant, client_id, &mapping, page_data.results, Some(run_id), prior, keep).await?;
    deps.store.record_seen(tenant, SyncType::Devices, run_id, &part, &ids, &hashes).await?;
    Ok(RunProgress { counts, pending_delta: -1, ..Default::default() })
}

/// What is known of the stored assets before a page is written.
#[derive(Clone, Copy)]
pub enum Prior<'a> {
    /// The tenant had no asset when the run started: nothing to read.
    None,
    /// Asset id → sync hash the previous successful run left (agents whose hash matches are
    /// unchanged without a read); the others are read.
    Known(Option<&'a HashMap<String, String>>),
}

/// Agents of one Tactical client → assets (and their external entity mappings). Unchanged agents
/// cost no write. Returns the counts, and the asset ids seen with the hash each is left at.
#[allow(clippy::too_many_arguments)]
pub async fn upsert_agents(
    deps: &Deps,
    tenant: &TenantId,
    client_id: i64,
    mapping: &OrgMapping,
    // Owned: each agent row is dropped once its asset is built (a page is the worker's peak memory).
    agents: Vec<crate::tactical::types::BetaAgent>,
    run_id: Option<&str>,
    prior: Prior<'_>,
    keep_status: bool,
) -> Result<(SyncCounts, Vec<String>, Vec<String>), TacticalErrorOrApi> {
    let now_t = now();
    let now_s = now_rfc3339();
    let mut assets = Vec::with_capacity(agents.len());
    for agent in agents {
        let org = OrgContext {
            tactical_client_id: client_id,
            psa_client_id: mapping.client_id.as_deref(),
            site_name: mapping.site_name(agent.site),
        };
        assets.push(asset_from_agent(tenant, &agent, &org, now_t));
    }
    if keep_status {
        for a in &mut assets {
            a.sync_hash = super::asset::inventory_hash(a);
        }
    }
    let ids: Vec<String> = assets.iter().map(|a| a.asset_id.clone()).collect();
    let hashes: Vec<String> = assets.iter().map(|a| a.sync_hash.clone()).collect();
    // The hash is over every synced field but the check-in times (and the status while the
    // status refresh owns it), so a recorded match means the asset holds this state.
    let known_unchanged = |a: &super::asset::Asset| match prior {
        Prior::Known(Some(k)) => k.get(&a.asset_id) == Some(&a.sync_hash),
        _ => false,
    };
    let to_read: Vec<String> = match prior {
        Prior::None => Vec::new(),
        Prior::Known(_) => assets.iter().filter(|a| !known_unchanged(a)).map(|a| a.asset_id.clone()).collect(),
    };
    let existing: HashMap<String, super::asset::AssetState> = if to_read.is_empty() {
        HashMap::new()
    } else {
        deps.store.asset_states(tenant, &to_read).await?.into_iter().map(|a| (a.asset_id.clone(), a)).collect()
    };
    let mut counts = SyncCounts::default();
    let mut writes = Vec::new();
    for mut a in assets {
        counts.items_processed += 1;
        match a.agent_status {
            super::status::AgentStatus::Online => counts.status_online += 1,
            super::status::AgentStatus::Offline => counts.status_offline += 1,
            super::status::AgentStatus::Overdue => counts.status_overdue += 1,
        }
        if known_unchanged(&a) {
            counts.items_unchanged += 1;
            continue;
        }
        let old = existing.get(&a.asset_id);
        if let Some(o) = old
            && o.sync_hash == a.sync_hash
            && o.missing_since.is_none()
        {
            counts.items_unchanged += 1;
            continue;
        }
        if keep_status
            && let Some(o) = old
            && let Some(st) = o.agent_status
        {
            // The status refresh owns an existing asset's status (and publishes its changes).
            a.agent_status = st;
            a.status_as_of = o.status_as_of.clone();
            a.status_changed_at = o.status_changed_at.clone();
        }
        a.created_at = old.and_then(|o| o.created_at.clone()).or_else(|| Some(now_s.clone()));
        a.last_rmm_sync_at = Some(now_s.clone());
        a.last_sync_run = run_id.map(str::to_owned).or_else(|| old.and_then(|o| o.last_sync_run.clone()));
        let needs_mapping = old.is_none_or(|o| {
            o.rmm_organization_id != a.rmm_organization_id || o.site_id != a.site_id || o.location != a.location
        });
        if old.is_some() {
            counts.items_updated += 1;
        } else {
            counts.items_created += 1;
        }
        let mapping = needs_mapping.then(|| ExternalEntityMapping::for_asset(&a, &now_s));
        writes.push(AssetWrite { asset: a, mapping });
    }
    deps.store.write_assets(tenant, &writes).await?;
    Ok((counts, ids, hashes))
}

/// Whether an existing asset's status is left to the status refresh (when it runs).
pub fn keep_status(integ: &RmmIntegration) -> bool {
    integ.schedule(super::integration::ScheduleKind::StatusRefresh).enabled
}

/// Single-agent refresh (after a webhook): `GET /agents/<agent_id>/`, then the same upsert as a
/// device page. The organization comes from the mapping that lists the agent's site, so a move
/// between Tactical clients is followed here too. Returns whether the agent is an asset.
pub async fn refresh_agent(
    deps: &Deps,
    tenant: &TenantId,
    api: &dyn TacticalApi,
    agent_id: &str,
) -> Result<bool, TacticalErrorOrApi> {
    let asset_id = super::asset::asset_id_for(tenant, agent_id);
    if deps.store.asset_states(tenant, std::slice::from_ref(&asset_id)).await?.is_empty() {
        return Ok(false);
    }
    let row = match api.agent_row(agent_id).await {
        Ok(r) => r,
        // Gone from Tactical: the next complete device run flags it missing.
        Err(TacticalError::NotFound { .. }) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    let mappings = deps.store.list_org_mappings(tenant).await?;
    let Some(mapping) = mappings.iter().find(|m| row.site.is_some_and(|s| m.sites.iter().any(|x| x.id == s))) else {
        return Ok(true);
    };
    if let (true, Some(client_id)) = (mapping.syncs_devices(), mapping.tactical_client_id()) {
        let keep = deps.store.get_integration(tenant).await?.is_some_and(|i| keep_status(&i));
        upsert_agents(deps, tenant, client_id, mapping, vec![row], None, Prior::Known(None), keep).await?;
    }
    Ok(true)
}

/// Sync Alerts: backfill open alerts and reconcile (see `alert_flow::backfill`).
async fn run_alerts(deps: &Deps, tenant: &TenantId, integ: &RmmIntegration) -> Result<RunProgress, TacticalErrorOrApi> {
    let api = client_for(deps, tenant, integ).await?;
    let c = super::alert_flow::backfill::<TacticalErrorOrApi>(deps.store.as_ref(), api.as_ref(), tenant).await?;
    // Publishing fails the run's work item: SQS retries it, the changes staying pending.
    super::alert_flow::publish_pending(deps.store.as_ref(), deps.events.as_ref(), &c.to_publish).await?;
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
async fn alert_follow_up(
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
                if let Some(ev) = super::alerts::AlertEvent::from_tactical(&a, "refetch") {
                    let r = super::alert_flow::record(deps.store.as_ref(), tenant, &ev).await?;
                    let written: Vec<_> = r.alert.into_iter().map(|a| *a).collect();
                    super::alert_flow::publish_pending(deps.store.as_ref(), deps.events.as_ref(), &written).await?;
                    // Tactical's word over a body that had to be read leniently: a message that
                    // imitates `"agent_id": "…"` must not link the alert to another agent.
                    agent_id = ev.agent_id;
                }
            }
            Err(TacticalError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let asset_id = super::asset::asset_id_for(tenant, &agent_id);
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
async fn availability_status(
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
        "active" => super::status::AgentStatus::Overdue,
        "resolved" => super::status::AgentStatus::Online,
        _ => return Ok(()),
    };
    let change = super::status_refresh::StatusChange {
        asset_id: asset_id.to_owned(),
        status,
        last_seen_at: None,
        observed_at: now_rfc3339(),
    };
    deps.store.apply_status(tenant, &change).await?;
    Ok(())
}

/// After a complete device run: assets of synced organizations that no page saw are flagged
/// `missing_since` (kept, never deleted; cleared when the agent comes back).
///
/// Assets are only created by device runs, so when the previous run succeeded too (the
/// baseline), the only candidates are the assets it saw that this run did not: a few reads
/// instead of every asset. Without a usable baseline, every asset's state is read.
async fn flag_missing_assets(
    deps: &Deps,
    tenant: &TenantId,
    run: &SyncRun,
) -> Result<Option<usize>, TacticalErrorOrApi> {
    let parts = deps.store.seen_in_run(tenant, SyncType::Devices, &run.run_id).await?;
    if parts.iter().any(|(p, _)| p == DRIFT_PART) {
        return Ok(None);
    }
    if parts.iter().any(|(p, _)| p == FRESH_PART) {
        return Ok(Some(0));
    }
    // Organizations this run read (an out-of-scope one is not: its assets are not called missing).
    let read: HashSet<&str> = parts.iter().filter_map(|(p, _)| p.rsplit_once('-').map(|(c, _)| c)).collect();
    let covered: HashSet<String> = deps
        .store
        .list_org_mappings(tenant)
        .await?
        .into_iter()
        .filter(|m| m.syncs_devices() && read.contains(m.external_organization_id.as_str()))
        .map(|m| m.external_organization_id)
        .collect();
    let seen: HashSet<String> = parts.into_iter().flat_map(|(_, ids)| ids).collect();
    let candidates = match baseline_candidates(deps, tenant, run, &covered, &seen).await? {
        Some(ids) if ids.is_empty() => Vec::new(),
        Some(ids) => deps.store.asset_states(tenant, &ids).await?,
        None => deps.store.list_asset_states(tenant).await?,
    };
    let missing: Vec<String> = candidates
        .into_iter()
        .filter(|a| {
            a.missing_since.is_none() && covered.contains(&a.rmm_organization_id) && !seen.contains(&a.asset_id)
        })
        .map(|a| a.asset_id)
        .collect();
    if !missing.is_empty() {
        deps.store.flag_assets_missing(tenant, &missing, &now_rfc3339()).await?;
    }
    Ok(Some(missing.len()))
}

/// The assets the baseline run saw and this one did not, or `None` when the baseline cannot
/// tell: there is none, its records expired (fewer ids than it counted), or an organization
/// synced now was not synced then (its assets were in no page of the baseline).
async fn baseline_candidates(
    deps: &Deps,
    tenant: &TenantId,
    run: &SyncRun,
    covered: &HashSet<String>,
    seen: &HashSet<String>,
) -> Result<Option<Vec<String>>, TacticalErrorOrApi> {
    let Some(integ) = deps.store.get_integration(tenant).await? else { return Ok(None) };
    let Some(baseline) = integ.last_complete_device_run.filter(|b| *b != run.run_id) else { return Ok(None) };
    let Some(prev) = deps.store.get_run(tenant, SyncType::Devices, &baseline).await? else { return Ok(None) };
    let parts = deps.store.seen_in_run(tenant, SyncType::Devices, &baseline).await?;
    let recorded: i64 =
        parts.iter().map(|(_, ids)| i64::try_from(ids.len()).unwrap_or(i64::MAX)).fold(0, i64::saturating_add);
    let orgs: HashSet<&str> = parts.iter().filter_map(|(p, _)| p.rsplit_once('-').map(|(c, _)| c)).collect();
    if recorded != prev.counts.items_processed || covered.iter().any(|c| !orgs.contains(c.as_str())) {
        return Ok(None);
    }
    let mut ids: Vec<String> = parts.into_iter().flat_map(|(_, ids)| ids).filter(|id| !seen.contains(id)).collect();
    ids.sort();
    ids.dedup();
    Ok(Some(ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortError;

    #[test]
    fn a_throttled_store_is_transient_and_not_blamed_on_tactical() {
        let e = TacticalErrorOrApi::from(PortError::Throttled);
        assert!(e.transient(), "SQS retries it");
        assert!(!e.message().contains("Tactical"), "{}", e.message());
        assert!(e.message().contains("data store"), "{}", e.message());
        assert!(TacticalErrorOrApi::from(PortError::Other("x".into())).transient());
    }
}
