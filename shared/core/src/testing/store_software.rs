//! [`MemoryStore`] as the software store: catalog entries with atomic install counts, asset
//! software links and per-asset inventory records with their compare-and-set.

use super::items::{
    BATCH_GET, BATCH_WRITE, Item, add, check_batch_duplicates, from_item, set, set_if_not_exists, str_attr, to_item,
};
use super::store::MemoryStore;
use crate::domain::software::{AssetSoftware, CatalogDelta, CatalogEntry, SoftwareInventory};
use crate::ports::{PortError, SoftwareStore};
use crate::tenant::TenantId;
use async_trait::async_trait;

const INVENTORY_SK: &str = "inventory";

fn catalog_pk(t: &TenantId) -> String {
    format!("{t}#software_catalog")
}
fn asset_software_pk(t: &TenantId, asset_id: &str) -> String {
    format!("{t}#asset_software#{asset_id}")
}

#[async_trait]
impl SoftwareStore for MemoryStore {
    async fn get_software_inventories(
        &self,
        tenant: &TenantId,
        asset_ids: &[String],
    ) -> Result<Vec<SoftwareInventory>, PortError> {
        check_batch_duplicates(asset_ids.iter().map(String::as_str), BATCH_GET)?;
        let t = self.tables();
        asset_ids
            .iter()
            .filter_map(|id| t.main.get(&asset_software_pk(tenant, id), INVENTORY_SK))
            .map(from_item)
            .collect()
    }

    async fn record_software_inventory(
        &self,
        tenant: &TenantId,
        record: &SoftwareInventory,
        prev_hash: Option<&str>,
    ) -> Result<bool, PortError> {
        let mut item = to_item(record)?;
        set(&mut item, "entity", "asset_software_inventory");
        let pk = asset_software_pk(tenant, &record.asset_id);
        let mut t = self.tables();
        let stored = t.main.get(&pk, INVENTORY_SK);
        let holds = match prev_hash {
            None => stored.is_none(),
            Some(h) => stored.and_then(|i| str_attr(i, "hash")) == Some(h),
        };
        if holds {
            t.main.put(&pk, INVENTORY_SK, item);
        }
        Ok(holds)
    }

    async fn list_asset_software(&self, tenant: &TenantId, asset_id: &str) -> Result<Vec<AssetSoftware>, PortError> {
        let t = self.tables();
        t.main
            .query(&asset_software_pk(tenant, asset_id), "")
            .filter(|(sk, _)| sk.as_str() != INVENTORY_SK)
            .map(|(_, i)| from_item(i))
            .collect()
    }

    async fn write_asset_software(&self, _tenant: &TenantId, links: &[AssetSoftware]) -> Result<(), PortError> {
        let keys: Vec<String> =
            links.iter().map(|l| format!("{}|{}|{}", l.tenant, l.asset_id, l.catalog_key)).collect();
        check_batch_duplicates(keys.iter().map(String::as_str), BATCH_WRITE)?;
        let mut items: Vec<Item> = Vec::with_capacity(links.len());
        for l in links {
            let mut item = to_item(l)?;
            set(&mut item, "entity", "asset_software");
            items.push(item);
        }
        let mut t = self.tables();
        for (l, item) in links.iter().zip(items) {
            t.main.put(&asset_software_pk(&l.tenant, &l.asset_id), &l.catalog_key, item);
        }
        Ok(())
    }

    async fn add_to_software_catalog(
        &self,
        tenant: &TenantId,
        deltas: &[CatalogDelta],
        now: &str,
    ) -> Result<(), PortError> {
        let mut t = self.tables();
        for d in deltas {
            // One UpdateItem per delta: the first spelling stays, the count adds up.
            let i = t.main.upsert(&catalog_pk(tenant), &d.catalog_key);
            set(i, "tenant", tenant.as_str());
            set(i, "entity", "software_catalog");
            set(i, "catalog_key", d.catalog_key.clone());
            set_if_not_exists(i, "name", d.name.clone());
            set_if_not_exists(i, "publisher", d.publisher.clone());
            set(i, "normalized_name", d.normalized_name.clone());
            set(i, "normalized_publisher", d.normalized_publisher.clone());
            set_if_not_exists(i, "is_managed", false);
            set_if_not_exists(i, "is_security_relevant", false);
            set_if_not_exists(i, "first_seen_at", now);
            set(i, "updated_at", now);
            add(i, "install_count", d.delta);
        }
        Ok(())
    }

    async fn search_software_catalog(
        &self,
        tenant: &TenantId,
        name: Option<&str>,
        publisher: Option<&str>,
    ) -> Result<Vec<CatalogEntry>, PortError> {
        let filters: Vec<(&str, &str)> = [("normalized_name", name), ("normalized_publisher", publisher)]
            .into_iter()
            .filter_map(|(a, v)| Some((a, v.filter(|v| !v.is_empty())?)))
            .collect();
        let t = self.tables();
        t.main
            .query(&catalog_pk(tenant), "")
            .filter(|(_, i)| filters.iter().all(|(a, v)| str_attr(i, a).is_some_and(|s| s.contains(v))))
            .map(|(_, i)| from_item(i))
            .collect()
    }
}
