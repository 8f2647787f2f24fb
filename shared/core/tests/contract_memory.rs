//! The port contract suite (shared/src/testing/contract) against the in-memory adapters; the
//! same suite runs against the AWS adapters on LocalStack in tests/it/contract.rs.

use shared::TenantId;
use shared::testing::contract::*;
use shared::testing::{MemoryQueue, MemorySecrets, MemoryStore};

fn t(label: &str) -> TenantId {
    TenantId::parse(label).unwrap()
}

macro_rules! store_contracts {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let store = MemoryStore::new();
            shared::testing::contract::$name(&store, &t(stringify!($name))).await;
        }
    )*};
}

shared::for_each_store_contract!(store_contracts);

#[tokio::test]
async fn active_integrations_are_listed() {
    let store = MemoryStore::new();
    shared::testing::contract::active_integrations_are_listed(&store, &t("on"), &t("off")).await;
}

#[tokio::test]
async fn the_whole_store_contract_on_one_store() {
    // Every contract on one store: tenants never see each other's items.
    let store = MemoryStore::new();
    store_contract(&store, |label| t(&format!("all-{label}"))).await;
}

#[tokio::test]
async fn secrets() {
    secrets_are_per_tenant(&MemorySecrets::new(), &t("a"), &t("b")).await;
}

#[tokio::test]
async fn queue() {
    let q = MemoryQueue::new();
    queue_delivers_what_was_sent(&q, &q, &t("q")).await;
}
