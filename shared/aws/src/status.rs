//! DynamoDB side of live status: per-client snapshots (`{tenant}#status`, `snapshot#{client}#{part}`),
//! when each client was last observed (`observed`), and transitions written onto assets.

use super::dynamo::{DynamoStore, query_all};
use super::inventory::Projection;
use super::item::{Item, from_attr, n, s};
use super::keys::{self, key};
use super::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::domain::status::AgentStatus;
use shared::domain::status_refresh::{Entry, Snapshot, StatusChange};
use shared::ports::{PortError, StatusStore};
use shared::tenant::TenantId;
use std::collections::BTreeMap;

/// Agents per snapshot item: 4,000 lines of ≈ 43 bytes stay far below DynamoDB's 400 KB.
const PART_SIZE: usize = 4000;

fn attr_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

impl DynamoStore {
    async fn snapshot_items(&self, tenant: &TenantId, client_id: i64, keys_only: bool) -> Result<Vec<Item>, PortError> {
        let mut query = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :p AND begins_with(sk, :s)")
            .expression_attribute_values(":p", s(keys::status(tenant)))
            .expression_attribute_values(":s", s(keys::snapshot_prefix(client_id)))
            .consistent_read(true);
        if keys_only {
            query = query.projection_expression("pk, sk");
        }
        query_all(query).await
    }
}

#[async_trait]
impl StatusStore for DynamoStore {
    async fn status_snapshot(&self, tenant: &TenantId, client_id: i64) -> Result<Option<Snapshot>, PortError> {
        let items = self.snapshot_items(tenant, client_id, false).await?;
        let Some(first) = items.first() else { return Ok(None) };
        let observed_at = attr_s(first, "observed_at").unwrap_or_default();
        let parts = match first.get("parts") {
            Some(AttributeValue::N(v)) => v.parse::<usize>().unwrap_or(0),
            _ => 0,
        };
        // A snapshot half replaced (a crash between part writes) is not trusted: the refresh then
        // reads the assets' own statuses instead.
        if parts != items.len() || items.iter().any(|i| attr_s(i, "observed_at").as_deref() != Some(&observed_at)) {
            return Ok(None);
        }
        let mut entries = BTreeMap::new();
        for i in &items {
            Snapshot::decode_entries(&attr_s(i, "entries").unwrap_or_default(), &mut entries);
        }
        Ok(Some(Snapshot { observed_at, entries }))
    }

    async fn put_status_snapshot(&self, tenant: &TenantId, client_id: i64, snap: &Snapshot) -> Result<(), PortError> {
        let all: Vec<(&String, &Entry)> = snap.entries.iter().collect();
        let chunks: Vec<&[(&String, &Entry)]> =
            if all.is_empty() { vec![&[][..]] } else { all.chunks(PART_SIZE).collect() };
        let parts = chunks.len();
        let items: Vec<Item> = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut item = key(keys::status(tenant), keys::snapshot_sk(client_id, i));
                item.insert("entity".into(), s("status_snapshot"));
                item.insert("observed_at".into(), s(snap.observed_at.clone()));
                item.insert("parts".into(), n(parts));
                item.insert("entries".into(), s(Snapshot::encode_entries(c.iter().map(|(k, v)| (*k, *v)))));
                item
            })
            .collect();
        let existing = self.snapshot_items(tenant, client_id, true).await?;
        self.batch_write(items).await?;
        for old in existing {
            let sk = attr_s(&old, "sk").unwrap_or_default();
            let stale = sk
                .strip_prefix(&keys::snapshot_prefix(client_id))
                .and_then(|p| p.parse::<usize>().ok())
                .is_some_and(|p| p >= parts);
            if stale {
                self.client()
                    .delete_item()
                    .table_name(self.table())
                    .set_key(Some(key(keys::status(tenant), sk)))
                    .send()
                    .await
                    .map_err(port_error)?;
            }
        }
        Ok(())
    }

    async fn asset_statuses(&self, tenant: &TenantId, ids: &[String]) -> Result<Vec<(String, AgentStatus)>, PortError> {
        self.ensure_sharded(tenant).await?;
        let keys = super::inventory::asset_keys(tenant, ids);
        let items = self.batch_get_projected(keys, Some(&Projection::of(&["asset_id", "agent_status"]))).await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let id = attr_s(i, "asset_id")?;
                let st: AgentStatus = serde_json::from_value(from_attr(i.get("agent_status")?)).ok()?;
                Some((id, st))
            })
            .collect())
    }

    async fn apply_status(&self, tenant: &TenantId, c: &StatusChange) -> Result<bool, PortError> {
        self.ensure_sharded(tenant).await?;
        let mut u = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::asset_pk(tenant, &c.asset_id), c.asset_id.clone())))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#st", "agent_status")
            .expression_attribute_names("#ch", "status_changed_at")
            .expression_attribute_names("#as", "status_as_of")
            .expression_attribute_values(":st", s(c.status.as_str()))
            .expression_attribute_values(":o", s(c.observed_at.clone()));
        let mut set = "SET #st = :st, #ch = :o, #as = :o".to_owned();
        if let Some(l) = &c.last_seen_at {
            set.push_str(", #ls = :ls");
            u = u.expression_attribute_names("#ls", "last_seen_at").expression_attribute_values(":ls", s(l.clone()));
        }
        match u.update_expression(set).send().await.map_err(port_error) {
            Ok(_) => Ok(true),
            Err(PortError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn status_observed(&self, tenant: &TenantId) -> Result<BTreeMap<String, String>, PortError> {
        let Some(item) = self.get(keys::status(tenant), keys::OBSERVED.into()).await? else {
            return Ok(BTreeMap::new());
        };
        Ok(match item.get("clients") {
            Some(AttributeValue::M(m)) => m
                .iter()
                .filter_map(|(k, v)| match v {
                    AttributeValue::S(t) => Some((k.clone(), t.clone())),
                    _ => None,
                })
                .collect(),
            _ => BTreeMap::new(),
        })
    }

    async fn record_status_observed(
        &self,
        tenant: &TenantId,
        observed: &BTreeMap<String, String>,
    ) -> Result<(), PortError> {
        let mut item = key(keys::status(tenant), keys::OBSERVED.into());
        item.insert("entity".into(), s("status_observed"));
        item.insert(
            "clients".into(),
            AttributeValue::M(observed.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect()),
        );
        self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(port_error)?;
        Ok(())
    }
}
