//! Assets and external entity mappings in 16 shards: items a deployment wrote before sharding
//! (one partition per tenant) move into their shards on the tenant's first use, and none is lost.

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::*;
use shared::domain::asset::{Asset, ExternalEntityMapping};
use shared::domain::integration::IntegrationPatch;
use shared::tenant::TenantId;
use shared::testing::contract::sample_asset;
use shared_aws::item::{Item, s, to_item};
use shared_aws::keys;

fn legacy_asset(a: &Asset) -> Item {
    let mut item = to_item(a).unwrap();
    item.insert("pk".into(), s(keys::legacy_assets(&a.tenant)));
    item.insert("sk".into(), s(a.asset_id.clone()));
    item.insert("entity".into(), s("asset"));
    item
}

fn legacy_mapping(m: &ExternalEntityMapping) -> Item {
    let mut item = to_item(m).unwrap();
    item.insert("pk".into(), s(keys::legacy_external_mappings(&m.tenant)));
    item.insert("sk".into(), s(keys::external_mapping_sk(&m.external_entity_id)));
    item.insert("entity".into(), s("external_entity_mapping"));
    item
}

async fn put(ddb: &aws_sdk_dynamodb::Client, table: &str, item: Item) {
    ddb.put_item().table_name(table).set_item(Some(item)).send().await.unwrap();
}

async fn partition_len(ddb: &aws_sdk_dynamodb::Client, table: &str, pk: String) -> i32 {
    let out = ddb
        .query()
        .table_name(table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", AttributeValue::S(pk))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.count
}

async fn marker(ddb: &aws_sdk_dynamodb::Client, table: &str, t: &TenantId) -> Option<AttributeValue> {
    let (pk, sk) = keys::integration(t);
    let out = ddb.get_item().table_name(table).set_key(Some(keys::key(pk, sk))).send().await.unwrap();
    out.item.and_then(|mut i| i.remove(keys::ASSETS_SHARDED))
}

#[tokio::test]
async fn legacy_assets_and_mappings_move_into_their_shards_on_first_use() {
    let stack = shared_stack().await;
    let table = stack.table_name.clone();
    let ddb = aws_sdk_dynamodb::Client::new(&sdk().await);
    let t = tenant("shard-move");
    let deps0 = deps(&stack).await;
    deps0.store.patch_integration(&t, &IntegrationPatch::default()).await.unwrap();

    // 60 assets with their mappings, as a deployment before sharding wrote them.
    let assets: Vec<Asset> = (0..60).map(|n| sample_asset(&t, n, 1 + (n as i64 % 3))).collect();
    for a in &assets {
        put(&ddb, &table, legacy_mapping(&ExternalEntityMapping::for_asset(a, "2026-01-01T00:00:00Z"))).await;
        put(&ddb, &table, legacy_asset(a)).await;
    }
    // A move that crashed after copying some items, and a sync that wrote a newer asset since:
    // the shard's copy is kept, never overwritten by the older legacy item.
    let mut newer = assets[0].clone();
    newer.name = "NEWER".into();
    let mut copied = legacy_asset(&newer);
    copied.insert("pk".into(), s(keys::asset_pk(&t, &newer.asset_id)));
    put(&ddb, &table, copied).await;
    assert_eq!(partition_len(&ddb, &table, keys::legacy_assets(&t)).await, 60);
    assert!(marker(&ddb, &table, &t).await.is_none());

    // A function's first read of the tenant (a fresh process) moves everything.
    let store = deps(&stack).await.store.clone();
    let mut listed = store.list_assets(&t).await.unwrap();
    listed.sort_by(|a, b| a.asset_id.cmp(&b.asset_id));
    let mut want = assets.clone();
    want[0] = newer.clone();
    want.sort_by(|a, b| a.asset_id.cmp(&b.asset_id));
    assert_eq!(listed, want, "every legacy asset readable, the newer copy kept");
    assert_eq!(partition_len(&ddb, &table, keys::legacy_assets(&t)).await, 0, "the old asset partition is empty");
    assert_eq!(partition_len(&ddb, &table, keys::legacy_external_mappings(&t)).await, 0, "and the old mappings'");
    assert_eq!(marker(&ddb, &table, &t).await, Some(AttributeValue::N("16".into())), "the move is recorded");
    assert_eq!(store.list_external_mappings(&t).await.unwrap().len(), 60);
    for a in &assets {
        let m = store.get_external_mapping(&t, &a.rmm_device_id).await.unwrap();
        assert_eq!(m.map(|m| m.alga_entity_id), Some(a.asset_id.clone()), "each mapping found by its agent");
    }
    let ids: Vec<String> = want.iter().map(|a| a.asset_id.clone()).collect();
    assert_eq!(store.get_assets(&t, &ids).await.unwrap().len(), 60);
    let (mut paged, mut after) = (Vec::new(), None::<String>);
    loop {
        let (page, next) = store.assets_page(&t, after.as_deref(), 7).await.unwrap();
        paged.extend(page.into_iter().map(|a| a.asset_id));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(paged, ids, "paged across the shards in asset-id order, each once");
    let used: std::collections::BTreeSet<u8> = ids.iter().map(|id| keys::shard(id)).collect();
    assert!(used.len() > 10, "60 assets land in most of the 16 shards: {used:?}");

    // Marked: a new process reads no legacy partition. An item an old version wrote after the
    // move stays put until the move runs again, which is safe at any time.
    let late = sample_asset(&t, 99, 1);
    put(&ddb, &table, legacy_asset(&late)).await;
    let store2 = deps(&stack).await.store.clone();
    assert!(store2.get_assets(&t, std::slice::from_ref(&late.asset_id)).await.unwrap().is_empty());
    let raw = shared_aws::DynamoStore::new(ddb.clone(), table.clone());
    assert_eq!(raw.move_legacy_items(&t).await.unwrap(), 1);
    assert_eq!(raw.move_legacy_items(&t).await.unwrap(), 0, "a re-run finds nothing left");
    assert_eq!(store2.get_assets(&t, std::slice::from_ref(&late.asset_id)).await.unwrap(), vec![late]);
    assert_eq!(store2.list_assets(&t).await.unwrap().len(), 61);
    assert_eq!(partition_len(&ddb, &table, keys::legacy_assets(&t)).await, 0);
}

#[tokio::test]
async fn a_tenant_without_an_integration_item_gets_none_from_the_move() {
    let stack = shared_stack().await;
    let table = stack.table_name.clone();
    let ddb = aws_sdk_dynamodb::Client::new(&sdk().await);
    let t = tenant("shard-none");
    let a = sample_asset(&t, 1, 1);
    put(&ddb, &table, legacy_asset(&a)).await;
    let store = deps(&stack).await.store.clone();
    assert_eq!(store.list_assets(&t).await.unwrap(), vec![a], "moved all the same");
    assert!(store.get_integration(&t).await.unwrap().is_none(), "the marker never creates an integration");
}

#[tokio::test]
async fn the_webhooks_store_moves_nothing_and_finds_an_unmoved_tenants_assets_by_id() {
    let stack = shared_stack().await;
    let table = stack.table_name.clone();
    let ddb = aws_sdk_dynamodb::Client::new(&sdk().await);
    let t = tenant("shard-webhook");
    deps(&stack).await.store.patch_integration(&t, &IntegrationPatch::default()).await.unwrap();
    let assets: Vec<Asset> = (0..5).map(|n| sample_asset(&t, n, 1)).collect();
    for a in &assets[..4] {
        put(&ddb, &table, legacy_asset(a)).await;
    }
    // A move in progress elsewhere: the fifth is copied into its shard already, not yet deleted.
    put(&ddb, &table, legacy_asset(&assets[4])).await;
    let mut copied = legacy_asset(&assets[4]);
    copied.insert("pk".into(), s(keys::asset_pk(&t, &assets[4].asset_id)));
    put(&ddb, &table, copied).await;

    // The webhook's store (never moves: its 10 s are for the delivery) reads both layouts by id.
    let webhook = shared_aws::DynamoStore::new(ddb.clone(), table.clone()).without_moves();
    let ids: Vec<String> = assets.iter().map(|a| a.asset_id.clone()).collect();
    let mut found: Vec<String> = shared::ports::InventoryStore::asset_states(&webhook, &t, &ids)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.asset_id)
        .collect();
    found.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(found, want, "each asset once, wherever it is");
    assert_eq!(partition_len(&ddb, &table, keys::legacy_assets(&t)).await, 5, "nothing moved");
    assert!(marker(&ddb, &table, &t).await.is_none());

    // Once a worker moved the tenant, the webhook's store reads the shards only.
    let worker = deps(&stack).await.store.clone();
    assert_eq!(worker.list_assets(&t).await.unwrap().len(), 5);
    assert_eq!(partition_len(&ddb, &table, keys::legacy_assets(&t)).await, 0);
    let found = shared::ports::InventoryStore::asset_states(&webhook, &t, &ids).await.unwrap();
    assert_eq!(found.len(), 5);
}
