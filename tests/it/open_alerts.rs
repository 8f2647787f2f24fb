//! The alert sync's reads against DynamoDB (LocalStack): bounded by the open set (the sparse
//! `gsi1` of open or pending alerts), not by the resolved history; alerts written before the
//! open set existed are indexed once and still reconciled.

use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use futures::StreamExt;
use integration_tests::*;
use shared::domain::alert_flow::{BackfillCounts, backfill};
use shared::ports::{AlertStore, PortError};
use shared::tactical::types::AlertChange;
use shared::tactical::{TacticalApi, TacticalError};
use shared::testing::FakeTactical;
use shared::testing::contract::sample_alert;
use shared_aws::DynamoStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Items DynamoDB read for the store's calls: what a Query evaluated (`ScannedCount`, billed
/// whether filtered or not), what GetItem and BatchGetItem found.
#[derive(Debug, Clone, Default)]
struct ItemsRead(Arc<AtomicU64>);

impl ItemsRead {
    fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Intercept for ItemsRead {
    fn name(&self) -> &'static str {
        "ItemsRead"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(out) = context.output_or_error() {
            let n = if let Some(q) = out.downcast_ref::<QueryOutput>() {
                u64::try_from(q.scanned_count()).unwrap_or(0)
            } else if let Some(g) = out.downcast_ref::<GetItemOutput>() {
                u64::from(g.item().is_some())
            } else if let Some(b) = out.downcast_ref::<BatchGetItemOutput>() {
                b.responses().map_or(0, |r| r.values().map(|v| v.len() as u64).sum())
            } else {
                0
            };
            self.0.fetch_add(n, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[derive(Debug)]
enum RunError {
    #[allow(dead_code)]
    Tactical(TacticalError),
    #[allow(dead_code)]
    Store(PortError),
}
impl From<TacticalError> for RunError {
    fn from(e: TacticalError) -> Self {
        Self::Tactical(e)
    }
}
impl From<PortError> for RunError {
    fn from(e: PortError) -> Self {
        Self::Store(e)
    }
}

async fn counted_store(table: &str) -> (DynamoStore, ItemsRead) {
    let reads = ItemsRead::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk().await).interceptor(reads.clone()).build();
    (DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), table), reads)
}

async fn resolved_history(store: &DynamoStore, t: &shared::TenantId, from: usize, n: usize) {
    futures::stream::iter(from..from + n)
        .for_each_concurrent(8, |i| async move {
            let a = sample_alert(t, &format!("id#{}", 100_000 + i), "resolved", "as-1", 1);
            assert!(store.put_alert(&a).await.unwrap());
        })
        .await;
}

/// One Sync Alerts pass (backfill and reconciliation) and the items it read.
async fn run(
    store: &DynamoStore,
    reads: &ItemsRead,
    tactical: &FakeTactical,
    t: &shared::TenantId,
) -> (BackfillCounts, u64) {
    let before = reads.get();
    let c = backfill::<RunError>(store, tactical, t).await.unwrap();
    shared::domain::alert_flow::publish_pending(store, &shared::testing::MemoryEvents::new(), &c.to_publish)
        .await
        .unwrap();
    (c, reads.get() - before)
}

#[tokio::test]
async fn a_runs_reads_stay_with_the_open_alerts_however_long_the_history() {
    let stack = shared_stack().await;
    let (store, reads) = counted_store(&stack.table_name).await;
    let t = tenant("open-set-history");
    let tactical = FakeTactical::small_fleet();
    let first = tactical.alert_state(1).unwrap();
    for id in 2..=5 {
        tactical.add_alert(shared::tactical::types::Alert { id, ..first.clone() });
    }
    resolved_history(&store, &t, 0, 1000).await;

    let (c, indexing) = run(&store, &reads, &tactical, &t).await;
    assert_eq!((c.open_in_tactical, c.created), (5, 5), "{c:?}");
    assert!(indexing >= 1000, "the tenant's first run indexes its alerts once: {indexing} items read");
    let (c, steady) = run(&store, &reads, &tactical, &t).await;
    assert_eq!(c.unchanged, 5, "{c:?}");
    assert!(steady <= 10, "the 5 open alerts and the marker, not 1,000 resolved ones: {steady} items read");

    resolved_history(&store, &t, 1000, 1000).await;
    let (c, doubled) = run(&store, &reads, &tactical, &t).await;
    assert_eq!(c.unchanged, 5, "{c:?}");
    assert_eq!(doubled, steady, "twice the history, the same reads");
    println!("items read: first run {indexing}, then {steady}, with twice the history {doubled}");

    // Tactical resolves one: it is auto-resolved and leaves the set, once its change is published.
    TacticalApi::change_alert(&tactical, 5, AlertChange::Resolve).await.unwrap();
    let (c, _) = run(&store, &reads, &tactical, &t).await;
    assert_eq!(c.auto_resolved, 1, "{c:?}");
    let set = store.open_or_pending_alerts(&t).await.unwrap().unwrap();
    assert_eq!(set.len(), 4, "{:?}", set.iter().map(|a| &a.alert_key).collect::<Vec<_>>());
}

#[tokio::test]
async fn alerts_from_before_the_open_set_are_indexed_once_and_reconciled() {
    let stack = shared_stack().await;
    let (store, reads) = counted_store(&stack.table_name).await;
    let t = tenant("open-set-legacy");
    let tactical = FakeTactical::small_fleet();
    // Items as the adapter wrote them before the open set: no gsi1 key, no marker. One alert is
    // still open in Tactical, one Tactical closed since, and some history.
    let table = stack.table_name.clone();
    let client = aws_sdk_dynamodb::Client::new(&sdk().await);
    for (key, status) in [("id#1", "active"), ("id#900", "active"), ("id#901", "resolved")] {
        let mut a = sample_alert(&t, key, status, "as-1", 1);
        a.external_alert_id = key.strip_prefix("id#").map(str::to_owned);
        let mut item: std::collections::HashMap<String, AttributeValue> =
            serde_json::from_value::<serde_json::Map<String, serde_json::Value>>(serde_json::to_value(&a).unwrap())
                .unwrap()
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, shared_aws::item::to_attr(&v)))
                .collect();
        item.insert("pk".into(), AttributeValue::S(format!("{t}#rmm_alerts")));
        item.insert("sk".into(), AttributeValue::S(format!("tacticalrmm#alert#{key}")));
        item.insert("entity".into(), AttributeValue::S("rmm_alert".into()));
        client.put_item().table_name(&table).set_item(Some(item)).send().await.unwrap();
    }
    assert!(store.open_or_pending_alerts(&t).await.unwrap().is_none(), "not indexed yet");
    assert_eq!(store.open_alerts(&t).await.unwrap().len(), 2, "reads still see the open ones");

    let (c, _) = run(&store, &reads, &tactical, &t).await;
    assert_eq!((c.auto_resolved, c.created + c.updated + c.unchanged), (1, 1), "{c:?}");
    assert_eq!(store.get_alert(&t, "id#900").await.unwrap().unwrap().status, "auto_resolved");
    let set = store.open_or_pending_alerts(&t).await.unwrap().expect("indexed, the marker written");
    assert_eq!(set.iter().map(|a| a.alert_key.as_str()).collect::<Vec<_>>(), ["id#1"]);
    let (c, steady) = run(&store, &reads, &tactical, &t).await;
    assert_eq!((c.auto_resolved, c.unchanged), (0, 1), "{c:?}");
    assert!(steady <= 3, "the set only: {steady}");
}
