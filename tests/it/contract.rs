//! The port contract suite (shared/src/testing/contract) against the AWS adapters on LocalStack:
//! the same assertions the in-memory adapters pass (shared/tests/contract_memory.rs), so the two
//! cannot drift apart. Store contracts share one stack (each on its own tenant).

use integration_tests::*;
use shared::messages::{QueueKind, SyncMessage};
use shared::testing::QueueProbe;
use shared::testing::contract::*;

macro_rules! store_contracts {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let deps = deps(&shared_stack().await).await;
            shared::testing::contract::$name(deps.store.as_ref(), &tenant(&format!("ct-{}", stringify!($name)))).await;
        }
    )*};
}

mod store {
    use super::*;
    shared::for_each_store_contract!(store_contracts);

    #[tokio::test]
    async fn active_integrations_are_listed() {
        let deps = deps(&shared_stack().await).await;
        shared::testing::contract::active_integrations_are_listed(
            deps.store.as_ref(),
            &tenant("ct-on"),
            &tenant("ct-off"),
        )
        .await;
    }
}

#[tokio::test]
async fn contract_secrets() {
    let deps = deps(&shared_stack().await).await;
    secrets_are_per_tenant(deps.secrets.as_ref(), &tenant("ct-sa"), &tenant("ct-sb")).await;
}

/// Reads a stack's queues with real SQS receives (and deletes what it read).
struct SqsProbe {
    sqs: aws_sdk_sqs::Client,
    stack: devtools::provision::Provisioned,
}

#[async_trait::async_trait]
impl QueueProbe for SqsProbe {
    async fn receive(&self, queue: QueueKind, expected: usize) -> Vec<SyncMessage> {
        let id = match queue {
            QueueKind::SyncClients => "SyncClientsQueue",
            QueueKind::SyncDevices => "SyncDevicesQueue",
            QueueKind::SyncAlerts => "SyncAlertsQueue",
            QueueKind::SyncSoftware => "SyncSoftwareQueue",
        };
        let url = self.stack.queue_urls[id].clone();
        let mut got = Vec::new();
        while got.len() < expected {
            let max = i32::try_from((expected - got.len()).min(10)).unwrap();
            let out = self
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(max)
                .wait_time_seconds(2)
                .send()
                .await
                .unwrap();
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                got.push(serde_json::from_str(m.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        got
    }
}

#[tokio::test]
async fn contract_queue() {
    let stack = own_stack("ct-queue").await;
    let deps = deps(&stack).await;
    let probe = SqsProbe { sqs: aws_sdk_sqs::Client::new(&sdk().await), stack };
    queue_delivers_what_was_sent(deps.queue.as_ref(), &probe, &tenant("ct-q")).await;
}
