//! DynamoDB side of rmm_alerts. Items: pk `{tenant}#rmm_alerts`, sk `tacticalrmm#alert#{key}`;
//! open-alert pointers sk `tacticalrmm#open#{agent}#{type}#{check}`; ticket links
//! sk `tacticalrmm#ticket#{ticket_id}#{alert key}` (ticket ids never contain `#`). The open set:
//! alerts that are open or have pending events carry `gsi1pk = {tenant}#rmm_alerts#open` (the
//! sparse index `gsi1`, `gsi1sk` = their sk), so a run reads them without the resolved history.

use super::dynamo::for_each_page;
use super::dynamo::{DynamoStore, Update};
use super::item::{Item, from_item, s, to_attr, to_item};
use super::keys::{
    self, ALERT_PREFIX, GSI1, GSI1_PK, GSI1_SK, OPEN_INDEX_SK, alert_sk, key, open_alerts_gsi1pk,
    open_pointer_sk as pointer_sk, ticket_link_sk, ticket_prefix,
};
use super::{applied, port_error};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use shared::domain::alerts::RmmAlert;
use shared::ports::{AlertPage, AlertQuery, AlertStore, PortError};
use shared::tenant::TenantId;
use std::collections::HashMap;

/// Fingerprints of the alert's recent webhook deliveries (a list, oldest first).
const DELIVERIES: &str = "recent_deliveries";

/// The optimistic lock of an alert write at `version`: the stored version must be the one
/// before it (`:prev`), or absent for a first write.
fn version_condition(version: i64) -> (&'static str, Option<AttributeValue>) {
    if version <= 1 {
        ("attribute_not_exists(#ver)", None)
    } else {
        ("#ver = :prev", Some(super::item::n(version - 1)))
    }
}

/// An item without state (none is written so any more; kept for items from before) is no alert.
fn alert_of(item: &Item) -> Result<Option<RmmAlert>, PortError> {
    if !item.contains_key("status") {
        return Ok(None);
    }
    from_item(item).map(Some)
}

fn in_open_set(a: &RmmAlert) -> bool {
    a.is_open() || !a.pending_events.is_empty()
}

/// The open-set index attributes of an alert in it.
fn open_index_attrs(a: &RmmAlert) -> [(&'static str, AttributeValue); 2] {
    [(GSI1_PK, s(open_alerts_gsi1pk(&a.tenant))), (GSI1_SK, s(alert_sk(&a.alert_key)))]
}

fn encode_cursor(k: &Item) -> Option<String> {
    let sk = k.get("sk")?.as_s().ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk))
}

fn decode_cursor(tenant: &TenantId, c: &str) -> Result<Item, PortError> {
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).map_err(|_| PortError::Corrupt("cursor".into()))?;
    let sk = String::from_utf8(bytes).map_err(|_| PortError::Corrupt("cursor".into()))?;
    if !sk.starts_with(ALERT_PREFIX) {
        return Err(PortError::Corrupt("cursor".into()));
    }
    // The cursor only carries the sort key: the partition is always the caller's tenant.
    Ok(key(keys::alerts(tenant), sk))
}

#[async_trait]
impl AlertStore for DynamoStore {
    async fn get_alert_with_deliveries(
        &self,
        tenant: &TenantId,
        alert_key: &str,
    ) -> Result<(Option<RmmAlert>, Vec<String>), PortError> {
        let Some(item) = self.get(keys::alerts(tenant), alert_sk(alert_key)).await? else {
            return Ok((None, Vec::new()));
        };
        let deliveries = match item.get(DELIVERIES) {
            Some(AttributeValue::L(v)) => v.iter().filter_map(|x| x.as_s().ok().cloned()).collect(),
            _ => Vec::new(),
        };
        Ok((alert_of(&item)?, deliveries))
    }

    async fn put_alert_with_deliveries(&self, a: &RmmAlert, deliveries: &[String]) -> Result<bool, PortError> {
        // A whole-item PutItem: the item holds nothing but the alert and its deliveries.
        let mut item = to_item(a)?;
        item.extend(key(keys::alerts(&a.tenant), alert_sk(&a.alert_key)));
        item.insert("entity".into(), s("rmm_alert"));
        item.insert("version".into(), super::item::n(a.version));
        item.insert(DELIVERIES.into(), AttributeValue::L(deliveries.iter().map(|d| s(d.clone())).collect()));
        if in_open_set(a) {
            item.extend(open_index_attrs(a).map(|(k, v)| (k.to_owned(), v)));
        }
        let (condition, prev) = version_condition(a.version);
        let r = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_names("#ver", "version")
            .set_expression_attribute_values(prev.map(|p| HashMap::from([(":prev".to_owned(), p)])))
            .send()
            .await;
        applied(r.map_err(port_error))
    }

    async fn get_alert(&self, tenant: &TenantId, alert_key: &str) -> Result<Option<RmmAlert>, PortError> {
        match self.get(keys::alerts(tenant), alert_sk(alert_key)).await? {
            Some(i) => alert_of(&i),
            None => Ok(None),
        }
    }

    async fn put_alert(&self, a: &RmmAlert) -> Result<bool, PortError> {
        let mut u = Update::default();
        let v = serde_json::to_value(a).map_err(|e| PortError::Other(e.to_string()))?;
        for (k, val) in v.as_object().into_iter().flatten() {
            if k == "version" {
                continue;
            }
            if val.is_null() {
                u.remove(k);
            } else {
                u.set(k, to_attr(val));
            }
        }
        if a.pending_events.is_empty() {
            u.remove("pending_events");
        }
        u.set("entity", s("rmm_alert"));
        u.set("version", super::item::n(a.version));
        if in_open_set(a) {
            for (k, v) in open_index_attrs(a) {
                u.set(k, v);
            }
        } else {
            u.remove(GSI1_PK);
            u.remove(GSI1_SK);
        }
        let mut values = u.values.clone();
        let (condition, prev) = version_condition(a.version);
        values.extend(prev.map(|p| (":prev".to_owned(), p)));
        let mut names = u.names.clone();
        names.insert("#ver".into(), "version".into());
        let r = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::alerts(&a.tenant), alert_sk(&a.alert_key))))
            .update_expression(u.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        applied(r.map_err(port_error))
    }

    async fn clear_pending_events(&self, a: &RmmAlert) -> Result<bool, PortError> {
        // At this version the alert is `a`: a closed one has nothing left to keep it in the set.
        let expression = if a.is_open() { "REMOVE pending_events" } else { "REMOVE pending_events, #gpk, #gsk" };
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::alerts(&a.tenant), alert_sk(&a.alert_key))))
            .update_expression(expression)
            .condition_expression("#ver = :v")
            .expression_attribute_names("#ver", "version")
            .expression_attribute_values(":v", super::item::n(a.version));
        if !a.is_open() {
            req = req.expression_attribute_names("#gpk", GSI1_PK).expression_attribute_names("#gsk", GSI1_SK);
        }
        applied(req.send().await.map_err(port_error))
    }

    async fn get_alerts(&self, tenant: &TenantId, alert_keys: &[String]) -> Result<Vec<RmmAlert>, PortError> {
        let keys: Vec<Item> = alert_keys.iter().map(|k| key(keys::alerts(tenant), alert_sk(k))).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for item in self.batch_get(keys).await? {
            out.extend(alert_of(&item)?);
        }
        Ok(out)
    }

    async fn open_alert_pointer(&self, tenant: &TenantId, pointer: &str) -> Result<Option<String>, PortError> {
        let item = self.get(keys::alerts(tenant), pointer_sk(pointer)).await?;
        Ok(item.and_then(|i| i.get("alert_key").and_then(|v| v.as_s().ok()).cloned()))
    }

    async fn set_open_alert_pointer(
        &self,
        tenant: &TenantId,
        pointer: &str,
        alert_key: Option<&str>,
    ) -> Result<(), PortError> {
        let k = key(keys::alerts(tenant), pointer_sk(pointer));
        match alert_key {
            Some(a) => {
                let mut item = k;
                item.insert("alert_key".into(), s(a));
                item.insert("tenant".into(), s(tenant.as_str()));
                self.client()
                    .put_item()
                    .table_name(self.table())
                    .set_item(Some(item))
                    .send()
                    .await
                    .map_err(port_error)?;
            }
            None => {
                self.client()
                    .delete_item()
                    .table_name(self.table())
                    .set_key(Some(k))
                    .send()
                    .await
                    .map_err(port_error)?;
            }
        }
        Ok(())
    }

    async fn list_alerts(&self, tenant: &TenantId, q: &AlertQuery) -> Result<AlertPage, PortError> {
        let mut req = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
            .expression_attribute_values(":p", s(keys::alerts(tenant)))
            .expression_attribute_values(":prefix", s(ALERT_PREFIX))
            .limit(q.limit.clamp(1, 500));
        let mut filters = vec!["attribute_exists(#st)".to_owned()];
        req = req.expression_attribute_names("#st", "status");
        if let Some(st) = &q.status {
            filters.push("#st = :status".into());
            req = req.expression_attribute_values(":status", s(st.clone()));
        }
        if let Some(a) = &q.asset_id {
            filters.push("asset_id = :asset".into());
            req = req.expression_attribute_values(":asset", s(a.clone()));
        }
        req = req.filter_expression(filters.join(" AND "));
        if let Some(c) = &q.cursor {
            req = req.set_exclusive_start_key(Some(decode_cursor(tenant, c)?));
        }
        let out = req.send().await.map_err(port_error)?;
        let mut alerts = Vec::new();
        for item in out.items() {
            if let Some(a) = alert_of(item)? {
                alerts.push(a);
            }
        }
        Ok(AlertPage { alerts, next: out.last_evaluated_key.as_ref().and_then(encode_cursor) })
    }

    async fn set_ticket_link(
        &self,
        tenant: &TenantId,
        ticket_id: &str,
        alert_key: &str,
        linked: bool,
    ) -> Result<(), PortError> {
        let k = key(keys::alerts(tenant), ticket_link_sk(ticket_id, alert_key));
        if linked {
            let mut item = k;
            item.insert("entity".into(), s("rmm_alert_ticket"));
            item.insert("alert_key".into(), s(alert_key));
            item.insert("ticket_id".into(), s(ticket_id));
            self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(port_error)?;
        } else {
            self.client().delete_item().table_name(self.table()).set_key(Some(k)).send().await.map_err(port_error)?;
        }
        Ok(())
    }

    async fn ticket_alert_keys(
        &self,
        tenant: &TenantId,
        ticket_id: &str,
        limit: i32,
    ) -> Result<Vec<String>, PortError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
            .expression_attribute_values(":p", s(keys::alerts(tenant)))
            .expression_attribute_values(":prefix", s(ticket_prefix(ticket_id)))
            .limit(limit.clamp(1, 500))
            .send()
            .await
            .map_err(port_error)?;
        Ok(out.items().iter().filter_map(|i| i.get("alert_key").and_then(|v| v.as_s().ok()).cloned()).collect())
    }

    async fn open_or_pending_alerts(&self, tenant: &TenantId) -> Result<Option<Vec<RmmAlert>>, PortError> {
        // A GSI Query reads only the set (eventually consistent: callers write conditionally).
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(GSI1)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", GSI1_PK)
            .expression_attribute_values(":p", s(open_alerts_gsi1pk(tenant)));
        let (mut out, mut indexed) = (Vec::new(), false);
        for_each_page(query, |items| {
            for item in &items {
                if item.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(OPEN_INDEX_SK) {
                    indexed = true;
                } else if let Some(a) = alert_of(item)? {
                    out.push(a);
                }
            }
            Ok(())
        })
        .await?;
        Ok(indexed.then_some(out))
    }

    async fn index_open_alerts(&self, tenant: &TenantId) -> Result<Vec<RmmAlert>, PortError> {
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
            .expression_attribute_values(":p", s(keys::alerts(tenant)))
            .expression_attribute_values(":prefix", s(ALERT_PREFIX))
            .consistent_read(true);
        let mut found: Vec<(RmmAlert, bool)> = Vec::new();
        for_each_page(query, |items| {
            for item in &items {
                if let Some(a) = alert_of(item)?.filter(in_open_set) {
                    found.push((a, item.contains_key(GSI1_PK)));
                }
            }
            Ok(())
        })
        .await?;
        for (a, _) in found.iter().filter(|(_, indexed)| !indexed) {
            // On the version read: a newer write has put the alert in the set (or out) itself.
            let mut req = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(keys::alerts(tenant), alert_sk(&a.alert_key))))
                .update_expression("SET #gpk = :gpk, #gsk = :gsk")
                .expression_attribute_names("#gpk", GSI1_PK)
                .expression_attribute_names("#gsk", GSI1_SK)
                .expression_attribute_names("#ver", "version");
            for (name, (_, v)) in [":gpk", ":gsk"].into_iter().zip(open_index_attrs(a)) {
                req = req.expression_attribute_values(name, v);
            }
            req = req.condition_expression("#ver = :v").expression_attribute_values(":v", super::item::n(a.version));
            applied(req.send().await.map_err(port_error))?;
        }
        let mut marker = key(keys::alerts(tenant), OPEN_INDEX_SK.to_owned());
        marker.insert("tenant".into(), s(tenant.as_str()));
        marker.insert(GSI1_PK.into(), s(open_alerts_gsi1pk(tenant)));
        marker.insert(GSI1_SK.into(), s(OPEN_INDEX_SK));
        self.client().put_item().table_name(self.table()).set_item(Some(marker)).send().await.map_err(port_error)?;
        Ok(found.into_iter().map(|(a, _)| a).collect())
    }
}
