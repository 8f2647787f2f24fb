//! SQS adapter: JSON messages, sent in batches of ten.

use super::port_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use shared::config::QueueUrls;
use shared::messages::{QueueKind, SyncMessage};
use shared::ports::{MessageQueue, PortError};

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    urls: QueueUrls,
}

impl SqsQueue {
    pub fn new(client: Client, urls: QueueUrls) -> Self {
        Self { client, urls }
    }

    pub fn url(&self, q: QueueKind) -> &str {
        match q {
            QueueKind::SyncClients => &self.urls.sync_clients,
            QueueKind::SyncDevices => &self.urls.sync_devices,
            QueueKind::SyncAlerts => &self.urls.sync_alerts,
            QueueKind::SyncSoftware => &self.urls.sync_software,
        }
    }
}

#[async_trait]
impl MessageQueue for SqsQueue {
    async fn send(&self, queue: QueueKind, messages: &[SyncMessage]) -> Result<(), PortError> {
        let url = self.url(queue);
        for chunk in messages.chunks(10) {
            let mut req = self.client.send_message_batch().queue_url(url);
            for (i, m) in chunk.iter().enumerate() {
                let body = serde_json::to_string(m).map_err(|e| PortError::Other(e.to_string()))?;
                req = req.entries(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        // SQS fair queues: one message group per tenant, so one tenant's backlog
                        // does not delay the others' messages (a standard queue stays unordered).
                        .message_group_id(m.tenant().to_string())
                        .build()
                        .map_err(|e| PortError::Other(e.to_string()))?,
                );
            }
            let out = req.send().await.map_err(port_error)?;
            if !out.failed.is_empty() {
                return Err(PortError::Other(format!(
                    "{} of {} messages were not accepted by SQS",
                    out.failed.len(),
                    chunk.len()
                )));
            }
        }
        Ok(())
    }
}
