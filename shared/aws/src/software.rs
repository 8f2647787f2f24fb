//! DynamoDB side of the software inventory: catalog entries, asset software links and per-asset
//! inventory records. Keys lead with the tenant (`crate::keys`).

use super::dynamo::{DynamoStore, Update, for_each_page};
use super::inventory::{CONCURRENCY, MAX_UNPROCESSED_ROUNDS, backoff};
use super::item::{Item, from_item, s, to_item};
use super::keys::key;
use super::{applied, port_error};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt, stream};
use shared::domain::software::{AssetSoftware, CatalogDelta, CatalogEntry, SoftwareInventory};
use shared::ports::{PortError, SoftwareStore};
use shared::tenant::TenantId;

/// The software keys, where they were before the keys had a module of their own.
pub mod keys {
    pub use crate::keys::{INVENTORY_SK, asset_software, software_catalog};
}

fn link_item(l: &AssetSoftware) -> Result<Item, PortError> {
    let mut item = to_item(l)?;
    item.insert("pk".into(), s(keys::asset_software(&l.tenant, &l.asset_id)));
    item.insert("sk".into(), s(l.catalog_key.clone()));
    item.insert("entity".into(), s("asset_software"));
    Ok(item)
}

#[async_trait]
impl SoftwareStore for DynamoStore {
    async fn get_software_inventories(
        &self,
        tenant: &TenantId,
        asset_ids: &[String],
    ) -> Result<Vec<SoftwareInventory>, PortError> {
        let keys =
            asset_ids.iter().map(|id| key(keys::asset_software(tenant, id), keys::INVENTORY_SK.into())).collect();
        self.batch_get(keys).await?.iter().map(from_item).collect()
    }

    async fn record_software_inventory(
        &self,
        tenant: &TenantId,
        record: &SoftwareInventory,
        prev_hash: Option<&str>,
    ) -> Result<bool, PortError> {
        let mut item = to_item(record)?;
        item.insert("pk".into(), s(keys::asset_software(tenant, &record.asset_id)));
        item.insert("sk".into(), s(keys::INVENTORY_SK));
        item.insert("entity".into(), s("asset_software_inventory"));
        let mut req = self.client().put_item().table_name(self.table()).set_item(Some(item));
        req = match prev_hash {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(h) => req
                .condition_expression("#h = :prev")
                .expression_attribute_names("#h", "hash")
                .expression_attribute_values(":prev", s(h)),
        };
        applied(req.send().await.map_err(port_error))
    }

    async fn list_asset_software(&self, tenant: &TenantId, asset_id: &str) -> Result<Vec<AssetSoftware>, PortError> {
        self.query_partition(keys::asset_software(tenant, asset_id))
            .await?
            .iter()
            .filter(|i| i.get("sk").and_then(|v| v.as_s().ok()).is_some_and(|sk| sk != keys::INVENTORY_SK))
            .map(from_item)
            .collect()
    }

    async fn write_asset_software(&self, _tenant: &TenantId, links: &[AssetSoftware]) -> Result<(), PortError> {
        let items = links.iter().map(link_item).collect::<Result<Vec<_>, _>>()?;
        self.batch_write(items).await
    }

    async fn add_to_software_catalog(
        &self,
        tenant: &TenantId,
        deltas: &[CatalogDelta],
        now: &str,
    ) -> Result<(), PortError> {
        let pk = keys::software_catalog(tenant);
        stream::iter(deltas.to_vec())
            .map(|d| {
                let pk = pk.clone();
                async move {
                    // One UpdateItem creates the entry if needed (if_not_exists keeps the first
                    // spelling) and ADDs the count: atomic per item, so concurrent workers on
                    // the same entry make one entry and lose no count.
                    let mut u = Update::default();
                    u.set("tenant", s(tenant.as_str()));
                    u.set("entity", s("software_catalog"));
                    u.set("catalog_key", s(d.catalog_key.clone()));
                    u.set_if_not_exists("name", s(d.name.clone()));
                    u.set_if_not_exists("publisher", s(d.publisher.clone()));
                    u.set("normalized_name", s(d.normalized_name.clone()));
                    u.set("normalized_publisher", s(d.normalized_publisher.clone()));
                    u.set_if_not_exists("is_managed", AttributeValue::Bool(false));
                    u.set_if_not_exists("is_security_relevant", AttributeValue::Bool(false));
                    u.set_if_not_exists("first_seen_at", s(now));
                    u.set("updated_at", s(now));
                    u.add("install_count", d.delta);
                    let expr = u.expression();
                    // Retried here rather than by SQS: the caller has already recorded the
                    // inventories these counts belong to, so a lost delta would stay lost.
                    let mut round = 0;
                    loop {
                        let r = self
                            .client()
                            .update_item()
                            .table_name(self.table())
                            .set_key(Some(key(pk.clone(), d.catalog_key.clone())))
                            .update_expression(&expr)
                            .set_expression_attribute_names(Some(u.names.clone()))
                            .set_expression_attribute_values(Some(u.values.clone()))
                            .send()
                            .await
                            .map_err(port_error);
                        match r {
                            Ok(_) => return Ok(()),
                            Err(e) if round + 1 >= MAX_UNPROCESSED_ROUNDS => return Err(e),
                            Err(_) => {
                                backoff(round).await;
                                round += 1;
                            }
                        }
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    async fn search_software_catalog(
        &self,
        tenant: &TenantId,
        name: Option<&str>,
        publisher: Option<&str>,
    ) -> Result<Vec<CatalogEntry>, PortError> {
        let mut filters = Vec::new();
        let mut req_names = Vec::new();
        let mut req_values = vec![(":p".to_owned(), s(keys::software_catalog(tenant)))];
        for (attr, v) in [("normalized_name", name), ("normalized_publisher", publisher)] {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                let i = req_names.len();
                filters.push(format!("contains(#f{i}, :f{i})"));
                req_names.push((format!("#f{i}"), attr.to_owned()));
                req_values.push((format!(":f{i}"), s(v)));
            }
        }
        let mut query = self.client().query().table_name(self.table()).key_condition_expression("pk = :p");
        for (k, v) in &req_names {
            query = query.expression_attribute_names(k, v);
        }
        for (k, v) in &req_values {
            query = query.expression_attribute_values(k, v.clone());
        }
        if !filters.is_empty() {
            query = query.filter_expression(filters.join(" AND "));
        }
        let mut out = Vec::new();
        for_each_page(query, |items| {
            for item in &items {
                out.push(from_item::<CatalogEntry>(item)?);
            }
            Ok(())
        })
        .await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_lead_with_the_tenant() {
        let t = TenantId::parse("t1").unwrap();
        assert_eq!(keys::software_catalog(&t), "t1#software_catalog");
        assert_eq!(keys::asset_software(&t, "a1"), "t1#asset_software#a1");
        assert!(!keys::INVENTORY_SK.contains('#'));
    }
}
