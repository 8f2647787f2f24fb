//! Assets and external entity mappings live in 16 shards per tenant (`{tenant}#assets#{s}`,
//! `{tenant}#tenant_external_entity_mappings#{s}`, [`keys::shard`]): reading all of them, and
//! moving a tenant's items out of the unsharded partitions older deployments wrote.
//!
//! The move runs lazily: the first time a process touches a tenant's assets or mappings, it reads
//! the marker on the tenant's integration item ([`keys::ASSETS_SHARDED`]); when the marker is
//! absent it moves every legacy item (mappings first, then assets, so an asset never sits in a
//! shard without its mapping) and sets the marker. In steady state that is one GetItem per tenant
//! per warm process. The move is copy-then-delete per item, the copy conditional on the shard not
//! holding the item yet: a crash midway, a re-run, or two processes moving at once lose nothing
//! and never overwrite a newer item with an older one.

use crate::dynamo::DynamoStore;
use crate::inventory::{CONCURRENCY, Projection};
use crate::item::{Item, n, s};
use crate::keys::{self, key};
use crate::{applied, port_error};
use futures::{StreamExt, TryStreamExt, stream};
use shared::ports::PortError;
use shared::tenant::TenantId;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Items moved at once: conditional PutItems and DeleteItems spread over 16 partitions.
const MOVE_CONCURRENCY: usize = 16;

/// The tenants this process has seen sharded, and one move at a time per tenant (a batch of
/// messages of the same tenant would otherwise move the same items side by side, paying for failed
/// conditions). Per tenant: a large tenant's move never holds up another tenant's reads.
#[derive(Default)]
pub struct ShardedTenants {
    done: Mutex<HashSet<String>>,
    moving: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Never move (the webhook: a 10 s function on the hot path): an unmoved tenant's reads by id
    /// look in the legacy partition too instead.
    no_moves: bool,
}

impl ShardedTenants {
    pub(crate) fn without_moves() -> Self {
        Self { no_moves: true, ..Default::default() }
    }

    fn lock_of(&self, t: &TenantId) -> Arc<tokio::sync::Mutex<()>> {
        match self.moving.lock() {
            Ok(mut m) => m.entry(t.as_str().to_owned()).or_default().clone(),
            // A poisoned map only loses the spacing of moves, which are safe side by side.
            Err(_) => Arc::default(),
        }
    }

    fn is_done(&self, t: &TenantId) -> bool {
        self.done.lock().map(|d| d.contains(t.as_str())).unwrap_or(false)
    }

    fn set_done(&self, t: &TenantId) {
        if let Ok(mut d) = self.done.lock() {
            d.insert(t.as_str().to_owned());
        }
    }
}

impl DynamoStore {
    /// Every item of the 16 shards `pk_of` names, read concurrently (bounded), in shard order.
    pub(crate) async fn query_shards(
        &self,
        pk_of: impl Fn(u8) -> String,
        projection: Option<&Projection>,
    ) -> Result<Vec<Item>, PortError> {
        let parts: Vec<Vec<Item>> = stream::iter((0..keys::SHARDS).map(pk_of))
            .map(|pk| self.query_projected(pk, projection))
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Moves the tenant's legacy (unsharded) assets and mappings into their shards unless this
    /// process or the integration item's marker says it is done. Every reader and writer of
    /// assets and mappings calls it first. `false` only for a store that never moves
    /// ([`DynamoStore::without_moves`]) and a tenant not moved yet: its reads by id must look in
    /// the legacy partition too.
    pub async fn ensure_sharded(&self, tenant: &TenantId) -> Result<bool, PortError> {
        let tenants = self.sharded_tenants();
        if tenants.is_done(tenant) {
            return Ok(true);
        }
        if tenants.no_moves {
            let marked = self.marked_sharded(tenant).await?;
            if marked {
                tenants.set_done(tenant);
            }
            return Ok(marked);
        }
        let lock = tenants.lock_of(tenant);
        let _one = lock.lock().await;
        if tenants.is_done(tenant) {
            return Ok(true);
        }
        if !self.marked_sharded(tenant).await? {
            self.move_legacy_items(tenant).await?;
        }
        tenants.set_done(tenant);
        Ok(true)
    }

    async fn marked_sharded(&self, tenant: &TenantId) -> Result<bool, PortError> {
        let (pk, sk) = keys::integration(tenant);
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(pk, sk)))
            .projection_expression("#m")
            .expression_attribute_names("#m", keys::ASSETS_SHARDED)
            .send()
            .await
            .map_err(port_error)?;
        Ok(out.item.is_some_and(|i| i.contains_key(keys::ASSETS_SHARDED)))
    }

    /// The move itself, then the marker. Returns how many items were moved. Safe to run at any
    /// time, any number of times, concurrently with itself and with syncs.
    pub async fn move_legacy_items(&self, tenant: &TenantId) -> Result<usize, PortError> {
        let mappings = self
            .move_partition(keys::legacy_external_mappings(tenant), |sk| {
                sk.strip_prefix(keys::EXTERNAL_MAPPING_PREFIX).map(|agent| keys::external_mapping_pk(tenant, agent))
            })
            .await?;
        let assets = self.move_partition(keys::legacy_assets(tenant), |sk| Some(keys::asset_pk(tenant, sk))).await?;
        if mappings + assets > 0 {
            tracing::info!(tenant = tenant.as_str(), mappings, assets, "moved legacy items into their shards");
        }
        // Only on an existing integration item: the marker must never create one.
        let (pk, sk) = keys::integration(tenant);
        let r = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET #m = :n")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#m", keys::ASSETS_SHARDED)
            .expression_attribute_values(":n", n(keys::SHARDS))
            .send()
            .await;
        applied(r.map_err(port_error))?;
        Ok(mappings + assets)
    }

    /// Copies each item of `legacy_pk` to the partition `target` names for its sort key (unless
    /// that already holds the item), then deletes the original. An item whose sort key names no
    /// shard is left where it is.
    async fn move_partition(
        &self,
        legacy_pk: String,
        target: impl Fn(&str) -> Option<String>,
    ) -> Result<usize, PortError> {
        let mut moved = 0;
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(legacy_pk.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(port_error)?;
            let items: Vec<(Item, String, String)> = page
                .items
                .unwrap_or_default()
                .into_iter()
                .filter_map(|item| {
                    let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned()?;
                    match target(&sk) {
                        Some(pk) => Some((item, sk, pk)),
                        None => {
                            tracing::warn!(pk = legacy_pk.as_str(), sk, "legacy item names no shard; left in place");
                            None
                        }
                    }
                })
                .collect();
            moved += items.len();
            stream::iter(items)
                .map(|(mut item, sk, pk)| {
                    let legacy = key(legacy_pk.clone(), sk);
                    async move {
                        item.insert(keys::PK.into(), s(pk));
                        // A shard that holds the item already has it from an earlier move or
                        // from a sync since: that copy is as new or newer.
                        let copy = self
                            .client()
                            .put_item()
                            .table_name(self.table())
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(pk)")
                            .send()
                            .await;
                        applied(copy.map_err(port_error))?;
                        self.client()
                            .delete_item()
                            .table_name(self.table())
                            .set_key(Some(legacy))
                            .send()
                            .await
                            .map_err(port_error)?;
                        Ok::<(), PortError>(())
                    }
                })
                .buffer_unordered(MOVE_CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(moved),
            }
        }
    }
}
