//! [`MemoryStore`] as the inventory (organization mappings, assets, external entity mappings) and
//! live-status store.

use super::items::{
    BATCH_GET, BATCH_WRITE, Item, check_batch_duplicates, from_item, json, set, set_if_not_exists, set_opt, str_attr,
    to_item,
};
use super::store::MemoryStore;
use crate::domain::asset::{Asset, AssetState, ExternalEntityMapping};
use crate::domain::mapping::{MappingPatch, OrgMapping, TacticalOrg};
use crate::domain::status::AgentStatus;
use crate::domain::status_refresh::{Snapshot, StatusChange};
use crate::ports::{AssetWrite, InventoryStore, MappingWrite, PortError, StatusStore};
use crate::tenant::TenantId;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;

/// Agents per member list item, as the DynamoDB adapter splits them.
const PART_SIZE: usize = 2000;

mod keys {
    use crate::tenant::TenantId;
    pub fn org_mappings(t: &TenantId) -> String {
        format!("{t}#rmm_organization_mappings")
    }
    pub fn org_mapping_sk(client_id: &str) -> String {
        format!("tacticalrmm#{client_id}")
    }
    pub fn assets(t: &TenantId) -> String {
        format!("{t}#assets")
    }
    pub fn external_mappings(t: &TenantId) -> String {
        format!("{t}#tenant_external_entity_mappings")
    }
    pub fn external_mapping_sk(agent_id: &str) -> String {
        format!("tacticalrmm#asset#{agent_id}")
    }
    pub fn status(t: &TenantId) -> String {
        format!("{t}#status")
    }
    pub fn snapshot_prefix(client_id: i64) -> String {
        format!("snapshot#{client_id}#")
    }
    pub fn snapshot_members_sk(client_id: i64, part: usize) -> String {
        format!("snapshot#{client_id}#members#{part:04}")
    }
    pub fn snapshot_statuses_sk(client_id: i64) -> String {
        format!("snapshot#{client_id}#statuses")
    }
    pub const OBSERVED: &str = "observed";
}

/// Only the named attributes of an item (a ProjectionExpression).
fn project(item: &Item, attrs: &[&str]) -> Item {
    item.iter().filter(|(k, _)| attrs.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl MemoryStore {
    /// BatchGetItem of a partition's items by sort key: missing ones absent, duplicates refused.
    fn batch_get(&self, pk: &str, sks: &[String], attrs: Option<&[&str]>) -> Result<Vec<Item>, PortError> {
        check_batch_duplicates(sks.iter().map(String::as_str), BATCH_GET)?;
        let t = self.tables();
        Ok(sks
            .iter()
            .filter_map(|sk| t.main.get(pk, sk))
            .map(|i| attrs.map_or_else(|| i.clone(), |a| project(i, a)))
            .collect())
    }

    fn all(&self, pk: &str) -> Vec<Item> {
        self.tables().main.query(pk, "").map(|(_, i)| i.clone()).collect()
    }

    /// `SET missing_since = if_not_exists(missing_since, :now)` on an existing item only.
    fn flag_missing(&self, pk: &str, sk: &str, now: &str) {
        if let Some(i) = self.tables().main.get_mut(pk, sk) {
            set_if_not_exists(i, "missing_since", now);
        }
    }
}

#[async_trait]
impl InventoryStore for MemoryStore {
    async fn list_org_mappings(&self, tenant: &TenantId) -> Result<Vec<OrgMapping>, PortError> {
        let mut v: Vec<OrgMapping> =
            self.all(&keys::org_mappings(tenant)).iter().map(from_item).collect::<Result<_, _>>()?;
        v.sort_by_key(|m| m.external_organization_name.to_lowercase());
        Ok(v)
    }

    async fn get_org_mapping(&self, tenant: &TenantId, id: &str) -> Result<Option<OrgMapping>, PortError> {
        self.tables().main.get(&keys::org_mappings(tenant), &keys::org_mapping_sk(id)).map(from_item).transpose()
    }

    async fn write_org_mapping(
        &self,
        tenant: &TenantId,
        org: &TacticalOrg,
        now: &str,
    ) -> Result<MappingWrite, PortError> {
        let mut t = self.tables();
        let i = t.main.upsert(&keys::org_mappings(tenant), &keys::org_mapping_sk(&org.external_organization_id));
        let existed = i.contains_key("created_at");
        set(i, "tenant", tenant.as_str());
        set(i, "entity", "rmm_organization_mapping");
        set(i, "integration_type", "tacticalrmm");
        set(i, "external_organization_id", org.external_organization_id.clone());
        set(i, "external_organization_name", org.external_organization_name.clone());
        set(i, "sites", json(&org.sites));
        set(i, "agent_count", org.agent_count);
        set(i, "updated_at", now);
        set(i, "last_synced_at", now);
        set_if_not_exists(i, "created_at", now);
        set_if_not_exists(i, "auto_sync_assets", true);
        i.remove("missing_since");
        Ok(if existed { MappingWrite::Updated } else { MappingWrite::Created })
    }

    async fn flag_org_mapping_missing(&self, tenant: &TenantId, id: &str, now: &str) -> Result<(), PortError> {
        self.flag_missing(&keys::org_mappings(tenant), &keys::org_mapping_sk(id), now);
        Ok(())
    }

    async fn patch_org_mapping(
        &self,
        tenant: &TenantId,
        id: &str,
        p: &MappingPatch,
        now: &str,
    ) -> Result<Option<OrgMapping>, PortError> {
        let mut t = self.tables();
        let Some(i) = t.main.get_mut(&keys::org_mappings(tenant), &keys::org_mapping_sk(id)) else { return Ok(None) };
        set(i, "updated_at", now);
        if let Some(v) = &p.client_id {
            set_opt(i, "client_id", v.clone());
        }
        if let Some(v) = p.auto_sync_assets {
            set(i, "auto_sync_assets", v);
        }
        if let Some(v) = &p.default_contact_id {
            set_opt(i, "default_contact_id", v.clone());
        }
        from_item(i).map(Some)
    }

    async fn get_assets(&self, tenant: &TenantId, ids: &[String]) -> Result<Vec<Asset>, PortError> {
        self.batch_get(&keys::assets(tenant), ids, None)?.iter().map(from_item).collect()
    }

    async fn write_assets(&self, _tenant: &TenantId, writes: &[AssetWrite]) -> Result<(), PortError> {
        // Mappings first, then assets, each a BatchWriteItem of whole items (as the adapter).
        let mappings: Vec<&ExternalEntityMapping> = writes.iter().filter_map(|w| w.mapping.as_ref()).collect();
        let mapping_keys: Vec<String> =
            mappings.iter().map(|m| format!("{}|{}", m.tenant, m.external_entity_id)).collect();
        check_batch_duplicates(mapping_keys.iter().map(String::as_str), BATCH_WRITE)?;
        let asset_keys: Vec<String> =
            writes.iter().map(|w| format!("{}|{}", w.asset.tenant, w.asset.asset_id)).collect();
        let mut items = Vec::with_capacity(writes.len());
        for w in writes {
            items.push(to_item(&w.asset)?);
        }
        let mut mapping_items = Vec::with_capacity(mappings.len());
        for m in &mappings {
            mapping_items.push(to_item(m)?);
        }
        let mut t = self.tables();
        for (m, mut item) in mappings.iter().zip(mapping_items) {
            set(&mut item, "entity", "external_entity_mapping");
            t.main.put(&keys::external_mappings(&m.tenant), &keys::external_mapping_sk(&m.external_entity_id), item);
        }
        // The assets' request is refused after the mappings were written, as in production.
        check_batch_duplicates(asset_keys.iter().map(String::as_str), BATCH_WRITE)?;
        for (w, mut item) in writes.iter().zip(items) {
            set(&mut item, "entity", "asset");
            t.main.put(&keys::assets(&w.asset.tenant), &w.asset.asset_id, item);
        }
        Ok(())
    }

    async fn list_assets(&self, tenant: &TenantId) -> Result<Vec<Asset>, PortError> {
        self.all(&keys::assets(tenant)).iter().map(from_item).collect()
    }

    async fn asset_states(&self, tenant: &TenantId, ids: &[String]) -> Result<Vec<AssetState>, PortError> {
        self.asset_states_read
            .fetch_add(u64::try_from(ids.len()).unwrap_or(u64::MAX), std::sync::atomic::Ordering::SeqCst);
        self.batch_get(&keys::assets(tenant), ids, Some(&AssetState::ATTRIBUTES))?.iter().map(from_item).collect()
    }

    async fn list_asset_states(&self, tenant: &TenantId) -> Result<Vec<AssetState>, PortError> {
        self.all(&keys::assets(tenant)).iter().map(|i| from_item(&project(i, &AssetState::ATTRIBUTES))).collect()
    }

    async fn has_assets(&self, tenant: &TenantId) -> Result<bool, PortError> {
        Ok(self.tables().main.query(&keys::assets(tenant), "").next().is_some())
    }

    async fn assets_page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Asset>, Option<String>), PortError> {
        let limit = usize::try_from(limit.clamp(1, 1000)).unwrap_or(1);
        let t = self.tables();
        let page: Vec<(&String, &Item)> = t
            .main
            .query(&keys::assets(tenant), "")
            .filter(|(sk, _)| after.is_none_or(|a| sk.as_str() > a))
            .take(limit)
            .collect();
        // DynamoDB hands back a key whenever it stopped at the limit, even if nothing follows.
        let next = (page.len() == limit).then(|| page.last().map(|(sk, _)| (*sk).clone())).flatten();
        let assets = page.iter().map(|(_, i)| from_item(i)).collect::<Result<Vec<Asset>, _>>()?;
        Ok((assets, next))
    }

    async fn get_external_mapping(
        &self,
        tenant: &TenantId,
        agent_id: &str,
    ) -> Result<Option<ExternalEntityMapping>, PortError> {
        let t = self.tables();
        t.main.get(&keys::external_mappings(tenant), &keys::external_mapping_sk(agent_id)).map(from_item).transpose()
    }

    async fn list_external_mappings(&self, tenant: &TenantId) -> Result<Vec<ExternalEntityMapping>, PortError> {
        self.all(&keys::external_mappings(tenant)).iter().map(from_item).collect()
    }

    async fn flag_assets_missing(&self, tenant: &TenantId, ids: &[String], now: &str) -> Result<(), PortError> {
        for id in ids {
            self.flag_missing(&keys::assets(tenant), id, now);
        }
        Ok(())
    }
}

#[async_trait]
impl StatusStore for MemoryStore {
    async fn status_snapshot(&self, tenant: &TenantId, client_id: i64) -> Result<Option<Snapshot>, PortError> {
        let statuses_sk = keys::snapshot_statuses_sk(client_id);
        let t = self.tables();
        let items: Vec<(&String, &Item)> =
            t.main.query(&keys::status(tenant), &keys::snapshot_prefix(client_id)).collect();
        let Some((_, head)) = items.iter().find(|(sk, _)| **sk == statuses_sk) else { return Ok(None) };
        let version = str_attr(head, "members_version").unwrap_or_default();
        let parts = head.get("parts").and_then(Value::as_u64).and_then(|p| usize::try_from(p).ok()).unwrap_or(0);
        let members: Vec<&Item> = items.iter().filter(|(sk, _)| **sk != statuses_sk).map(|(_, i)| *i).collect();
        // Exactly the parts the statuses name, all of their version: anything else (a write that
        // stopped half-way, an item of the older line layout) is not trusted.
        let whole = members.len() == parts
            && members.iter().enumerate().all(|(n, i)| {
                str_attr(i, "sk") == Some(keys::snapshot_members_sk(client_id, n).as_str())
                    && str_attr(i, "members_version") == Some(version)
            });
        if !whole {
            return Ok(None);
        }
        Ok(Snapshot::decode(
            str_attr(head, "observed_at").unwrap_or_default().to_owned(),
            version.to_owned(),
            members.iter().map(|i| str_attr(i, "members").unwrap_or_default()),
            str_attr(head, "statuses").unwrap_or_default(),
        ))
    }

    async fn put_status_snapshot(
        &self,
        tenant: &TenantId,
        client_id: i64,
        snap: &Snapshot,
        prior: Option<&Snapshot>,
    ) -> Result<(), PortError> {
        let pk = keys::status(tenant);
        let statuses_sk = keys::snapshot_statuses_sk(client_id);
        let same_members = prior.is_some_and(|p| p.members_version == snap.members_version);
        let ids: Vec<&String> = snap.entries.keys().collect();
        let chunks: Vec<&[&String]> = if ids.is_empty() { vec![&[][..]] } else { ids.chunks(PART_SIZE).collect() };
        let mut t = self.tables();
        if !same_members {
            for (n, c) in chunks.iter().enumerate() {
                let mut item = Item::new();
                set(&mut item, "entity", "status_members");
                set(&mut item, "members_version", snap.members_version.clone());
                set(&mut item, "members", Snapshot::encode_members(c.iter().copied()));
                t.main.put(&pk, &keys::snapshot_members_sk(client_id, n), item);
            }
        }
        let mut item = Item::new();
        set(&mut item, "entity", "status_snapshot");
        set(&mut item, "observed_at", snap.observed_at.clone());
        set(&mut item, "members_version", snap.members_version.clone());
        set(&mut item, "parts", chunks.len());
        set(&mut item, "statuses", snap.encode_statuses());
        t.main.put(&pk, &statuses_sk, item);
        if !same_members {
            let keep: Vec<String> = (0..chunks.len()).map(|n| keys::snapshot_members_sk(client_id, n)).collect();
            let stale: Vec<String> = t
                .main
                .query(&pk, &keys::snapshot_prefix(client_id))
                .map(|(sk, _)| sk.clone())
                .filter(|sk| *sk != statuses_sk && !keep.contains(sk))
                .collect();
            for sk in stale {
                t.main.delete(&pk, &sk);
            }
        }
        Ok(())
    }

    async fn asset_statuses(&self, tenant: &TenantId, ids: &[String]) -> Result<Vec<(String, AgentStatus)>, PortError> {
        let items = self.batch_get(&keys::assets(tenant), ids, Some(&["asset_id", "agent_status"]))?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let id = str_attr(i, "asset_id")?.to_owned();
                let st: AgentStatus = serde_json::from_value(i.get("agent_status")?.clone()).ok()?;
                Some((id, st))
            })
            .collect())
    }

    async fn apply_status(&self, tenant: &TenantId, c: &StatusChange) -> Result<bool, PortError> {
        let mut t = self.tables();
        let Some(i) = t.main.get_mut(&keys::assets(tenant), &c.asset_id) else { return Ok(false) };
        set(i, "agent_status", c.status.as_str());
        set(i, "status_changed_at", c.observed_at.clone());
        set(i, "status_as_of", c.observed_at.clone());
        if let Some(l) = &c.last_seen_at {
            set(i, "last_seen_at", l.clone());
        }
        Ok(true)
    }

    async fn status_observed(&self, tenant: &TenantId) -> Result<BTreeMap<String, String>, PortError> {
        let t = self.tables();
        let clients =
            t.main.get(&keys::status(tenant), keys::OBSERVED).and_then(|i| i.get("clients")).and_then(Value::as_object);
        Ok(clients
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
            .unwrap_or_default())
    }

    async fn record_status_observed(
        &self,
        tenant: &TenantId,
        observed: &BTreeMap<String, String>,
    ) -> Result<(), PortError> {
        let mut item = Item::new();
        set(&mut item, "entity", "status_observed");
        set(&mut item, "clients", json(observed));
        self.tables().main.put(&keys::status(tenant), keys::OBSERVED, item);
        Ok(())
    }
}
