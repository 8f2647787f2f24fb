//! SQS consumption shared by the sync functions: each record is one work item; only failed
//! records go back to the queue (`ReportBatchItemFailures`), so one bad page never replays a batch.

use crate::app::Deps;
use crate::domain::sync::{Outcome, handle_message};
use crate::lambda::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use crate::messages::SyncMessage;
use futures::{StreamExt, stream};

/// Work items of one batch processed at once.
const PARALLEL: usize = 4;

pub async fn consume(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let failures: Vec<Option<String>> = stream::iter(event.records)
        .map(|r| async move {
            let receives = r.attributes.approximate_receive_count.as_deref().and_then(|c| c.parse().ok()).unwrap_or(1);
            match serde_json::from_str::<SyncMessage>(&r.body) {
                // Never succeeds: after maxReceiveCount SQS moves it to the DLQ for a person to see.
                Err(e) => {
                    tracing::error!(message_id = %r.message_id, error = %e, "malformed queue message");
                    Some(r.message_id)
                }
                Ok(msg) => match handle_message(deps, msg, receives).await {
                    Outcome::Done => None,
                    Outcome::Retry(reason) => {
                        tracing::warn!(message_id = %r.message_id, receives, reason, "work item will be retried");
                        Some(r.message_id)
                    }
                },
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    SqsBatchResponse {
        batch_item_failures: failures
            .into_iter()
            .flatten()
            .map(|id| BatchItemFailure { item_identifier: id })
            .collect(),
    }
}
