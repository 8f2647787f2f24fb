//! SQS consumption shared by the sync functions: each record is one work item; only failed
//! records go back to the queue (`ReportBatchItemFailures`), so one bad page never replays a batch.
//! Near the invocation's deadline no record is started and those still running are handed back,
//! so the timeout never kills a whole batch (whose finished records SQS would then redeliver).

use crate::app::Deps;
use crate::lambda::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsRecord};
use futures::{StreamExt, stream};
use shared::domain::sync::{Outcome, handle_message};
use shared::messages::SyncMessage;

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
                tracing::warn!(message_id = %r.message_id, remaining_ms = b.remaining().as_millis() as u64, "not started: too close to the deadline; back to the queue");
                return Handled::Failed(r.message_id);
            }
            let id = r.message_id.clone();
            let work = handle_record(deps, r);
            match budget {
                None => work.await,
                // Cut at the deadline: SQS delivers the record again (work items are idempotent).
                Some(b) => tokio::time::timeout_at(b.deadline.into(), work).await.unwrap_or_else(|_| {
                    tracing::warn!(message_id = %id, "record did not finish before the deadline; back to the queue");
                    Handled::Failed(id)
                }),
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    SqsBatchResponse {
        batch_item_failures: results
            .into_iter()
            .filter_map(|h| match h {
                Handled::Done => None,
                Handled::Failed(id) => Some(BatchItemFailure { item_identifier: id }),
            })
            .collect(),
    }
}

async fn handle_record(deps: &Deps, r: SqsRecord) -> Handled {
    let receives = r.attributes.approximate_receive_count.as_deref().and_then(|c| c.parse().ok()).unwrap_or(1);
    match serde_json::from_str::<SyncMessage>(&r.body) {
        // Never succeeds: after maxReceiveCount SQS moves it to the DLQ for a person to see.
        Err(e) => {
            tracing::error!(message_id = %r.message_id, error = %e, "malformed queue message");
            Handled::Failed(r.message_id)
        }
        Ok(msg) => match handle_message(deps, msg, receives).await {
            Outcome::Done => Handled::Done,
            Outcome::Retry(reason) => {
                tracing::warn!(message_id = %r.message_id, receives, reason, "work item will be retried");
                Handled::Failed(r.message_id)
            }
        },
    }
}
