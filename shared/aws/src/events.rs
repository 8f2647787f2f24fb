//! EventBridge adapter of [`EventPublisher`]: PutEvents in batches of ten, failed entries retried
//! with backoff; an error when any entry still fails, so the caller records nothing.

use super::port_error;
use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use shared::domain::status_refresh::EVENT_SOURCE;
use shared::ports::{BusEvent, EventPublisher, PortError};
use std::time::Duration;

/// Attempts per batch (the first included) before the work item fails.
const ATTEMPTS: u32 = 4;

#[derive(Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self { client, bus: bus.into() }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), PortError> {
        for chunk in events.chunks(10) {
            let mut pending: Vec<PutEventsRequestEntry> = chunk
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(EVENT_SOURCE)
                        .detail_type(e.detail_type)
                        .detail(e.detail.to_string())
                        .build()
                })
                .collect();
            let mut attempt = 0;
            loop {
                attempt += 1;
                let out = self.client.put_events().set_entries(Some(pending.clone())).send().await;
                let failed: Vec<PutEventsRequestEntry> = match out {
                    Ok(o) if o.failed_entry_count == 0 => break,
                    // Entries answer in request order; the failed ones carry an error code.
                    Ok(o) => o
                        .entries
                        .unwrap_or_default()
                        .iter()
                        .zip(pending.iter())
                        .filter(|(r, _)| r.error_code.is_some())
                        .map(|(_, e)| e.clone())
                        .collect(),
                    Err(e) if attempt < ATTEMPTS => {
                        tracing::warn!(error = %port_error(e), attempt, "PutEvents failed; retrying");
                        pending.clone()
                    }
                    Err(e) => return Err(port_error(e)),
                };
                if attempt >= ATTEMPTS {
                    return Err(PortError::Other(format!("{} events were not accepted by EventBridge", failed.len())));
                }
                // An answer that does not say which entries failed: send them all again.
                if !failed.is_empty() {
                    pending = failed;
                }
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }
}
