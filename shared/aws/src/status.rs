//! DynamoDB side of live status: per-client snapshots (`{tenant}#status`: the member list in
//! `snapshot#{client}#members#{part}`, the statuses in `snapshot#{client}#statuses`),
//! when each client was last observed (`observed`), and transitions written onto assets.

use super::dynamo::{DynamoStore, query_all};
use super::inventory::Projection;
use super::item::{Item, from_attr, n, s};
use super::keys::{self, key};
use super::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::domain::status::AgentStatus;
use shared::domain::status_refresh::{Snapshot, StatusChange};
use shared::ports::{PortError, StatusStore};
use shared::tenant::TenantId;
use std::collections::BTreeMap;

/// Agent ids per member list item: 2,000 ids of up to 128 characters stay below DynamoDB's 400 KB.
const PART_SIZE: usize = 2000;

fn attr_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

/// Member list items of a client with this many agents (an empty client has one, empty).
fn parts_for(agents: usize) -> usize {
    agents.div_ceil(PART_SIZE).max(1)
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

    async fn delete_snapshot_items(&self, tenant: &TenantId, sks: Vec<String>) -> Result<(), PortError> {
        for sk in sks {
            self.client()
                .delete_item()
                .table_name(self.table())
                .set_key(Some(key(keys::status(tenant), sk)))
                .send()
                .await
                .map_err(port_error)?;
        }
        Ok(())
    }
}

#[async_trait]
impl StatusStore for DynamoStore {
    async fn status_snapshot(&self, tenant: &TenantId, client_id: i64) -> Result<Option<Snapshot>, PortError> {
        let items = self.snapshot_items(tenant, client_id, false).await?;
        let statuses_sk = keys::snapshot_statuses_sk(client_id);
        let is_head = |i: &Item| attr_s(i, "sk").as_deref() == Some(statuses_sk.as_str());
        let Some(head) = items.iter().find(|i| is_head(i)) else { return Ok(None) };
        let version = attr_s(head, "members_version").unwrap_or_default();
        let parts = match head.get("parts") {
            Some(AttributeValue::N(v)) => v.parse::<usize>().unwrap_or(0),
            _ => 0,
        };
        let members: Vec<&Item> = items.iter().filter(|i| !is_head(i)).collect();
        // Exactly the parts the statuses name, all of their version: anything else (a write that
        // stopped half-way, two writers racing, an item of the older line layout) is not trusted,
        // and the refresh reads the assets' own statuses instead.
        let whole = members.len() == parts
            && members.iter().enumerate().all(|(n, i)| {
                attr_s(i, "sk") == Some(keys::snapshot_members_sk(client_id, n))
                    && attr_s(i, "members_version").as_deref() == Some(version.as_str())
            });
        if !whole {
            return Ok(None);
        }
        let texts: Vec<String> = members.iter().map(|i| attr_s(i, "members").unwrap_or_default()).collect();
        Ok(Snapshot::decode(
            attr_s(head, "observed_at").unwrap_or_default(),
            version,
            texts.iter().map(String::as_str),
            &attr_s(head, "statuses").unwrap_or_default(),
        ))
    }

    async fn put_status_snapshot(
        &self,
        tenant: &TenantId,
        client_id: i64,
        snap: &Snapshot,
        prior: Option<&Snapshot>,
    ) -> Result<(), PortError> {
        let same_members = prior.is_some_and(|p| p.members_version == snap.members_version);
        let parts = parts_for(snap.entries.len());
        if !same_members {
            // The list first, the statuses naming it last: a crash in between leaves statuses
            // naming another version, read as no snapshot.
            let ids: Vec<&String> = snap.entries.keys().collect();
            let items: Vec<Item> = (0..parts)
                .map(|n| {
                    let chunk = ids.iter().skip(n * PART_SIZE).take(PART_SIZE).copied();
                    let mut item = key(keys::status(tenant), keys::snapshot_members_sk(client_id, n));
                    item.insert("entity".into(), s("status_members"));
                    item.insert("members_version".into(), s(snap.members_version.clone()));
                    item.insert("members".into(), s(Snapshot::encode_members(chunk)));
                    item
                })
                .collect();
            self.batch_write(items).await?;
        }
        let mut item = key(keys::status(tenant), keys::snapshot_statuses_sk(client_id));
        item.insert("entity".into(), s("status_snapshot"));
        item.insert("observed_at".into(), s(snap.observed_at.clone()));
        item.insert("members_version".into(), s(snap.members_version.clone()));
        item.insert("parts".into(), n(parts));
        item.insert("statuses".into(), s(snap.encode_statuses()));
        self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(port_error)?;
        if same_members {
            return Ok(());
        }
        // Parts the list no longer needs. A whole prior held exactly its own parts, so nothing
        // need be read; without one (none yet, torn, or the older layout) the client's items are
        // listed and everything that is not the new snapshot goes.
        let stale: Vec<String> = match prior {
            Some(p) => (parts..parts_for(p.entries.len())).map(|n| keys::snapshot_members_sk(client_id, n)).collect(),
            None => {
                let keep: Vec<String> = (0..parts)
                    .map(|n| keys::snapshot_members_sk(client_id, n))
                    .chain([keys::snapshot_statuses_sk(client_id)])
                    .collect();
                self.snapshot_items(tenant, client_id, true)
                    .await?
                    .iter()
                    .filter_map(|i| attr_s(i, "sk"))
                    .filter(|sk| !keep.contains(sk))
                    .collect()
            }
        };
        self.delete_snapshot_items(tenant, stale).await
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
