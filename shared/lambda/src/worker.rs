//! SQS consumption shared by the sync functions: each record is one work item; only failed
//! records go back to the queue (`ReportBatchItemFailures`), so one bad page never replays a batch.
//! Near the invocation's deadline no record is started and those still running are handed back,
//! so the timeout never kills a whole batch (whose finished records SQS would then redeliver).

use crate::app::Deps;
use crate::lambda::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::{StreamExt, stream};
use shared::domain::sync::{Outcome, handle_message};
use shared::messages::{SyncMessage, SyncType};
use tracing::Instrument;

/// Work items of one batch processed at once.
const PARALLEL: usize = 4;

/// A record is only started with at least this share of the invocation's budget left: one that
/// cannot finish goes back to the queue untouched rather than being cut off half-way.
const MIN_SHARE_TO_START: u32 = 10;

/// What became of one record.
enum Handled {
    Done,
    Failed(String),
}

pub async fn consume(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let budget = shared::deadline::current();
    let min_start = budget.map(|b| b.total() / MIN_SHARE_TO_START);
    let results: Vec<Handled> = stream::iter(event.records)
        .map(|r| async move {
            if let (Some(b), Some(min)) = (budget, min_start)
                && b.remaining() < min
            {
                message_span(&r).in_scope(|| {
                    tracing::warn!(
                        remaining_ms = b.remaining().as_millis() as u64,
                        "not started: too close to the deadline; back to the queue"
                    )
                });
                return Handled::Failed(id_of(&r));
            }
            let id = id_of(&r);
            let span = message_span(&r);
            let work = handle_record(deps, r);
            async move {
                match budget {
                    None => work.await,
                    // Cut at the deadline: SQS delivers the record again (work items are idempotent).
                    Some(b) => tokio::time::timeout_at(b.deadline.into(), work).await.unwrap_or_else(|_| {
                        tracing::warn!("record did not finish before the deadline; back to the queue");
                        Handled::Failed(id)
                    }),
                }
            }
            .instrument(span)
            .await
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for h in results {
        if let Handled::Failed(id) = h {
            response.add_failure(id);
        }
    }
    response
}

/// Every record has an id ([`crate::lambda::classify`] refuses a batch with one that has none).
fn id_of(r: &SqsMessage) -> String {
    r.message_id.clone().unwrap_or_default()
}

fn receive_count(r: &SqsMessage) -> u32 {
    r.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1)
}

/// The span of one message; what the body says (tenant, run, sync type) is recorded once read.
fn message_span(r: &SqsMessage) -> tracing::Span {
    tracing::info_span!(
        "message",
        message_id = r.message_id.as_deref().unwrap_or_default(),
        receives = receive_count(r),
        tenant = tracing::field::Empty,
        run_id = tracing::field::Empty,
        sync_type = tracing::field::Empty,
    )
}

/// The run and the sync type a message belongs to (a status refresh and an alert follow-up
/// belong to no run).
fn run_of(msg: &SyncMessage) -> (Option<&str>, SyncType) {
    match msg {
        SyncMessage::StartRun { run_id, sync_type, .. } => (Some(run_id), *sync_type),
        SyncMessage::DevicePage { run_id, .. } => (Some(run_id), SyncType::Devices),
        SyncMessage::SoftwareBatch { run_id, .. } => (Some(run_id), SyncType::Software),
        SyncMessage::AlertFollowUp { .. } => (None, SyncType::Alerts),
        SyncMessage::StatusRefresh { .. } => (None, SyncType::Devices),
    }
}

async fn handle_record(deps: &Deps, r: SqsMessage) -> Handled {
    let receives = receive_count(&r);
    match serde_json::from_str::<SyncMessage>(r.body.as_deref().unwrap_or_default()) {
        // Never succeeds: after maxReceiveCount SQS moves it to the DLQ for a person to see.
        Err(e) => {
            tracing::error!(error = %e, "malformed queue message");
            Handled::Failed(id_of(&r))
        }
        Ok(msg) => {
            let span = tracing::Span::current();
            crate::telemetry::record_tenant(msg.tenant());
            let (run_id, sync_type) = run_of(&msg);
            if let Some(run_id) = run_id {
                crate::telemetry::record_run_id(run_id);
            }
            span.record("sync_type", sync_type.as_str());
            match handle_message(deps, msg, receives).await {
                Outcome::Done => Handled::Done,
                Outcome::Retry(reason) => {
                    tracing::warn!(reason, "work item will be retried");
                    Handled::Failed(id_of(&r))
                }
            }
        }
    }
}
