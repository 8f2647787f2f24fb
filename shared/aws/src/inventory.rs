//! DynamoDB side of organization mappings, assets and external entity mappings.

use super::dynamo::{DynamoStore, Update, query_all};
use super::item::{Item, attr_of, from_item, s, to_item};
use super::keys::{self, key};
use super::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, ReturnValue, WriteRequest};
use futures::{StreamExt, TryStreamExt, stream};
use shared::domain::asset::{Asset, AssetState, ExternalEntityMapping};
use shared::domain::mapping::{MappingPatch, OrgMapping, TacticalOrg};
use shared::ports::{AssetWrite, InventoryStore, MappingWrite, PortError};
use shared::tenant::TenantId;
use std::collections::HashMap;
use std::time::Duration;

/// A ProjectionExpression with its attribute names (every name aliased: some are reserved words).
pub(super) struct Projection {
    expression: String,
    names: HashMap<String, String>,
}

impl Projection {
    pub(super) fn of(attrs: &[&str]) -> Self {
        let names: HashMap<String, String> =
            attrs.iter().enumerate().map(|(i, a)| (format!("#p{i}"), (*a).to_owned())).collect();
        let expression = (0..attrs.len()).map(|i| format!("#p{i}")).collect::<Vec<_>>().join(", ");
        Self { expression, names }
    }
}

/// What change detection and missing-flagging read of an asset: a tenth of its size (no vitals).
fn asset_state_projection() -> Projection {
    Projection::of(&shared::domain::asset::AssetState::ATTRIBUTES)
}

/// Parallel DynamoDB requests per worker: enough to hide round trips, few enough to stay polite.
pub(super) const CONCURRENCY: usize = 8;
/// Attempts for unprocessed batch items before giving up (the message is then retried by SQS).
pub(super) const MAX_UNPROCESSED_ROUNDS: u32 = 8;

fn asset_item(a: &Asset) -> Result<Item, PortError> {
    let mut item = to_item(a)?;
    item.insert("pk".into(), s(keys::asset_pk(&a.tenant, &a.asset_id)));
    item.insert("sk".into(), s(a.asset_id.clone()));
    item.insert("entity".into(), s("asset"));
    Ok(item)
}

fn mapping_item(m: &ExternalEntityMapping) -> Result<Item, PortError> {
    let mut item = to_item(m)?;
    item.insert("pk".into(), s(keys::external_mapping_pk(&m.tenant, &m.external_entity_id)));
    item.insert("sk".into(), s(keys::external_mapping_sk(&m.external_entity_id)));
    item.insert("entity".into(), s("external_entity_mapping"));
    Ok(item)
}

/// The keys of assets by id, each in its shard.
pub(super) fn asset_keys(tenant: &TenantId, ids: &[String]) -> Vec<Item> {
    ids.iter().map(|id| key(keys::asset_pk(tenant, id), id.clone())).collect()
}

fn sort_key(item: &Item) -> &str {
    item.get(keys::SK).and_then(|v| v.as_s().ok()).map_or("", String::as_str)
}

pub(super) async fn backoff(round: u32) {
    let ms = (25u64 << round.min(6)) + rand::random_range(0..25);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

impl DynamoStore {
    /// Every item of a partition.
    pub(super) async fn query_partition(&self, pk: String) -> Result<Vec<Item>, PortError> {
        self.query_projected(pk, None).await
    }

    /// [`Self::query_partition`] reading only the projected attributes.
    pub(super) async fn query_projected(
        &self,
        pk: String,
        projection: Option<&Projection>,
    ) -> Result<Vec<Item>, PortError> {
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(pk))
            .set_projection_expression(projection.map(|p| p.expression.clone()))
            .set_expression_attribute_names(projection.map(|p| p.names.clone()));
        query_all(query).await
    }

    /// Reads items by key: 100 keys per BatchGetItem, `CONCURRENCY` at once, unprocessed keys
    /// retried with backoff (bounded). Missing items are simply absent.
    pub(super) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, PortError> {
        self.batch_get_projected(keys, None).await
    }

    /// [`Self::batch_get`] reading only the projected attributes.
    pub(super) async fn batch_get_projected(
        &self,
        keys: Vec<Item>,
        projection: Option<&Projection>,
    ) -> Result<Vec<Item>, PortError> {
        let table = self.table().to_owned();
        let chunks: Vec<Vec<Item>> = keys.chunks(100).map(|c| c.to_vec()).collect();
        let results: Vec<Vec<Item>> = stream::iter(chunks)
            .map(|chunk| {
                let table = table.clone();
                async move {
                    let mut left = chunk;
                    let mut found = Vec::new();
                    for round in 0..MAX_UNPROCESSED_ROUNDS {
                        let out = self
                            .client()
                            .batch_get_item()
                            .request_items(
                                &table,
                                KeysAndAttributes::builder()
                                    .set_keys(Some(left))
                                    .set_projection_expression(projection.map(|p| p.expression.clone()))
                                    .set_expression_attribute_names(projection.map(|p| p.names.clone()))
                                    .consistent_read(true)
                                    .build()
                                    .map_err(|e| PortError::Other(e.to_string()))?,
                            )
                            .send()
                            .await
                            .map_err(port_error)?;
                        found.extend(out.responses.and_then(|mut r| r.remove(&table)).unwrap_or_default());
                        left =
                            out.unprocessed_keys.and_then(|mut u| u.remove(&table)).map(|k| k.keys).unwrap_or_default();
                        if left.is_empty() {
                            return Ok(found);
                        }
                        backoff(round).await;
                    }
                    Err(PortError::Throttled)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(results.into_iter().flatten().collect())
    }

    pub(super) async fn batch_write(&self, items: Vec<Item>) -> Result<(), PortError> {
        let table = self.table().to_owned();
        // The items are moved into their chunks, not copied: a page of 1000 agents is thousands
        // of attribute maps, and copies of them set the worker's peak memory.
        let mut items = items.into_iter();
        let chunks = std::iter::from_fn(|| {
            let chunk: Vec<Item> = items.by_ref().take(25).collect();
            (!chunk.is_empty()).then_some(chunk)
        });
        stream::iter(chunks)
            .map(|chunk| {
                let table = table.clone();
                async move {
                    let mut pending: Vec<WriteRequest> = chunk
                        .into_iter()
                        .map(|item| {
                            WriteRequest::builder()
                                .put_request(PutRequest::builder().set_item(Some(item)).build().expect("item set"))
                                .build()
                        })
                        .collect();
                    for round in 0..MAX_UNPROCESSED_ROUNDS {
                        let out = self
                            .client()
                            .batch_write_item()
                            .request_items(&table, pending)
                            .send()
                            .await
                            .map_err(port_error)?;
                        pending = out.unprocessed_items.and_then(|mut m| m.remove(&table)).unwrap_or_default();
                        if pending.is_empty() {
                            return Ok(());
                        }
                        backoff(round).await;
                    }
                    Err(PortError::Throttled)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl InventoryStore for DynamoStore {
    async fn list_org_mappings(&self, tenant: &TenantId) -> Result<Vec<OrgMapping>, PortError> {
        let mut v: Vec<OrgMapping> =
            self.query_partition(keys::org_mappings(tenant)).await?.iter().map(from_item).collect::<Result<_, _>>()?;
        v.sort_by_key(|m| m.external_organization_name.to_lowercase());
        Ok(v)
    }

    async fn get_org_mapping(&self, tenant: &TenantId, id: &str) -> Result<Option<OrgMapping>, PortError> {
        self.get(keys::org_mappings(tenant), keys::org_mapping_sk(id)).await?.map(|i| from_item(&i)).transpose()
    }

    async fn write_org_mapping(
        &self,
        tenant: &TenantId,
        org: &TacticalOrg,
        now: &str,
    ) -> Result<MappingWrite, PortError> {
        let mut u = Update::default();
        u.set("tenant", s(tenant.as_str()));
        u.set("entity", s("rmm_organization_mapping"));
        u.set("integration_type", s("tacticalrmm"));
        u.set("external_organization_id", s(org.external_organization_id.clone()));
        u.set("external_organization_name", s(org.external_organization_name.clone()));
        u.set("sites", attr_of(&org.sites)?);
        u.set("agent_count", super::item::n(org.agent_count));
        u.set("updated_at", s(now));
        u.set("last_synced_at", s(now));
        u.set_if_not_exists("created_at", s(now));
        u.set_if_not_exists("auto_sync_assets", AttributeValue::Bool(true));
        u.remove("missing_since");
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::org_mappings(tenant), keys::org_mapping_sk(&org.external_organization_id))))
            .update_expression(u.expression())
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(port_error)?;
        let existed = out.attributes.is_some_and(|a| a.contains_key("created_at"));
        Ok(if existed { MappingWrite::Updated } else { MappingWrite::Created })
    }

    async fn flag_org_mapping_missing(&self, tenant: &TenantId, id: &str, now: &str) -> Result<(), PortError> {
        let r = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::org_mappings(tenant), keys::org_mapping_sk(id))))
            .update_expression("SET missing_since = if_not_exists(missing_since, :now)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", s(now))
            .send()
            .await;
        match r.map_err(port_error) {
            Ok(_) | Err(PortError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn patch_org_mapping(
        &self,
        tenant: &TenantId,
        id: &str,
        p: &MappingPatch,
        now: &str,
    ) -> Result<Option<OrgMapping>, PortError> {
        let mut u = Update::default();
        u.set("updated_at", s(now));
        if let Some(v) = &p.client_id {
            u.set_opt("client_id", v.clone().map(s));
        }
        if let Some(v) = p.auto_sync_assets {
            u.set("auto_sync_assets", AttributeValue::Bool(v));
        }
        if let Some(v) = &p.default_contact_id {
            u.set_opt("default_contact_id", v.clone().map(s));
        }
        let r = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::org_mappings(tenant), keys::org_mapping_sk(id))))
            .update_expression(u.expression())
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match r.map_err(port_error) {
            Ok(out) => Ok(Some(from_item(&out.attributes.unwrap_or_default())?)),
            Err(PortError::ConditionFailed(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_assets(&self, tenant: &TenantId, ids: &[String]) -> Result<Vec<Asset>, PortError> {
        self.ensure_sharded(tenant).await?;
        let items = self.batch_get(asset_keys(tenant, ids)).await?;
        items.iter().map(from_item).collect()
    }

    /// An idempotent pair of writes instead of a transaction: every external entity mapping is
    /// written (and confirmed) before any asset of the batch. So an asset never exists without
    /// its mapping; if the worker dies in between, the retried page finds the asset missing and
    /// writes both again. Half the write cost of a transaction, and no cross-item locking.
    async fn write_assets(&self, tenant: &TenantId, writes: &[AssetWrite]) -> Result<(), PortError> {
        self.ensure_sharded(tenant).await?;
        let mappings =
            writes.iter().filter_map(|w| w.mapping.as_ref()).map(mapping_item).collect::<Result<Vec<_>, _>>()?;
        self.batch_write(mappings).await?;
        let assets = writes.iter().map(|w| asset_item(&w.asset)).collect::<Result<Vec<_>, _>>()?;
        self.batch_write(assets).await
    }

    async fn asset_states(&self, tenant: &TenantId, ids: &[String]) -> Result<Vec<AssetState>, PortError> {
        let sharded = self.ensure_sharded(tenant).await?;
        let mut keys = asset_keys(tenant, ids);
        if !sharded {
            // Not moved yet (a store that never moves): a move in progress copies before it
            // deletes, so each asset is in one layout or both.
            keys.extend(ids.iter().map(|id| key(keys::legacy_assets(tenant), id.clone())));
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for item in self.batch_get_projected(keys, Some(&asset_state_projection())).await? {
            let state: AssetState = from_item(&item)?;
            if seen.insert(state.asset_id.clone()) {
                out.push(state);
            }
        }
        Ok(out)
    }

    async fn list_asset_states(&self, tenant: &TenantId) -> Result<Vec<AssetState>, PortError> {
        self.ensure_sharded(tenant).await?;
        let items = self.query_shards(|s| keys::assets_shard(tenant, s), Some(&asset_state_projection())).await?;
        items.iter().map(from_item).collect()
    }

    async fn has_assets(&self, tenant: &TenantId) -> Result<bool, PortError> {
        self.ensure_sharded(tenant).await?;
        let found: Vec<bool> = stream::iter(0..keys::SHARDS)
            .map(|shard| async move {
                let out = self
                    .client()
                    .query()
                    .table_name(self.table())
                    .key_condition_expression("pk = :p")
                    .expression_attribute_values(":p", s(keys::assets_shard(tenant, shard)))
                    .projection_expression("sk")
                    .limit(1)
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(port_error)?;
                Ok::<bool, PortError>(out.count > 0)
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.contains(&true))
    }

    async fn list_assets(&self, tenant: &TenantId) -> Result<Vec<Asset>, PortError> {
        self.ensure_sharded(tenant).await?;
        self.query_shards(|s| keys::assets_shard(tenant, s), None).await?.iter().map(from_item).collect()
    }

    async fn assets_page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Asset>, Option<String>), PortError> {
        self.ensure_sharded(tenant).await?;
        // The shard is the asset id's first hex digit, so shards read in order 0..f are the
        // assets in id order, and the cursor (the last asset id) names both the shard to go on
        // in and where in it.
        let limit = usize::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let first = after.map_or(0, keys::shard);
        let mut assets: Vec<Asset> = Vec::new();
        for shard in first..keys::SHARDS {
            let pk = keys::assets_shard(tenant, shard);
            let mut start = if shard == first { after.map(|a| key(pk.clone(), a.to_owned())) } else { None };
            loop {
                let want = limit - assets.len();
                let out = self
                    .client()
                    .query()
                    .table_name(self.table())
                    .key_condition_expression("pk = :p")
                    .expression_attribute_values(":p", s(pk.clone()))
                    .set_exclusive_start_key(start.take())
                    .limit(i32::try_from(want).unwrap_or(1000))
                    .send()
                    .await
                    .map_err(port_error)?;
                for item in out.items() {
                    assets.push(from_item(item)?);
                }
                let more_here = out.last_evaluated_key.filter(|k| !k.is_empty());
                if assets.len() >= limit {
                    let more = more_here.is_some() || shard + 1 < keys::SHARDS;
                    let next = if more { assets.last().map(|a| a.asset_id.clone()) } else { None };
                    return Ok((assets, next));
                }
                match more_here {
                    Some(k) => start = Some(k),
                    None => break,
                }
            }
        }
        Ok((assets, None))
    }

    async fn get_external_mapping(
        &self,
        tenant: &TenantId,
        agent_id: &str,
    ) -> Result<Option<ExternalEntityMapping>, PortError> {
        self.ensure_sharded(tenant).await?;
        let item = self.get(keys::external_mapping_pk(tenant, agent_id), keys::external_mapping_sk(agent_id)).await?;
        item.map(|i| from_item(&i)).transpose()
    }

    async fn list_external_mappings(&self, tenant: &TenantId) -> Result<Vec<ExternalEntityMapping>, PortError> {
        self.ensure_sharded(tenant).await?;
        let mut items = self.query_shards(|s| keys::external_mappings_shard(tenant, s), None).await?;
        // One partition listed them by agent id; the merged shards keep that order.
        items.sort_by(|a, b| sort_key(a).cmp(sort_key(b)));
        items.iter().map(from_item).collect()
    }

    async fn flag_assets_missing(&self, tenant: &TenantId, ids: &[String], now: &str) -> Result<(), PortError> {
        self.ensure_sharded(tenant).await?;
        stream::iter(ids.to_vec())
            .map(|id| {
                let pk = keys::asset_pk(tenant, &id);
                async move {
                    let r = self
                        .client()
                        .update_item()
                        .table_name(self.table())
                        .set_key(Some(key(pk, id)))
                        .update_expression("SET missing_since = if_not_exists(missing_since, :now)")
                        .condition_expression("attribute_exists(pk)")
                        .expression_attribute_values(":now", s(now))
                        .send()
                        .await;
                    match r.map_err(port_error) {
                        Ok(_) | Err(PortError::ConditionFailed(_)) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }
}
