//! DynamoDB side of rmm_alerts. Items: pk `{tenant}#rmm_alerts`, sk `tacticalrmm#alert#{key}`;
//! open-alert pointers sk `tacticalrmm#open#{agent}#{type}#{check}`.

use super::dynamo::{DynamoStore, Update};
use super::item::{Item, from_item, s, to_attr};
use super::port_error;
use crate::domain::alerts::RmmAlert;
use crate::ports::{AlertPage, AlertQuery, AlertStore, Claim, PortError};
use crate::tenant::TenantId;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use std::collections::HashMap;

fn pk(t: &TenantId) -> String {
    format!("{t}#rmm_alerts")
}
fn alert_sk(key: &str) -> String {
    format!("tacticalrmm#alert#{key}")
}
fn pointer_sk(p: &str) -> String {
    format!("tacticalrmm#open#{p}")
}
fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// An item that only holds claimed deliveries (no state written yet) is no alert.
fn alert_of(item: &Item) -> Result<Option<RmmAlert>, PortError> {
    if !item.contains_key("status") {
        return Ok(None);
    }
    from_item(item).map(Some)
}

fn encode_cursor(k: &Item) -> Option<String> {
    let sk = k.get("sk")?.as_s().ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk))
}

fn decode_cursor(tenant: &TenantId, c: &str) -> Result<Item, PortError> {
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).map_err(|_| PortError::Corrupt("cursor".into()))?;
    let sk = String::from_utf8(bytes).map_err(|_| PortError::Corrupt("cursor".into()))?;
    if !sk.starts_with("tacticalrmm#alert#") {
        return Err(PortError::Corrupt("cursor".into()));
    }
    // The cursor only carries the sort key: the partition is always the caller's tenant.
    Ok(key(pk(tenant), sk))
}

#[async_trait]
impl AlertStore for DynamoStore {
    async fn claim_delivery(&self, tenant: &TenantId, alert_key: &str, fingerprint: &str) -> Result<Claim, PortError> {
        let r = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(pk(tenant), alert_sk(alert_key))))
            .update_expression("ADD delivery_ids :fps SET tenant = if_not_exists(tenant, :t), alert_key = if_not_exists(alert_key, :k)")
            .condition_expression("NOT contains(delivery_ids, :fp)")
            .expression_attribute_values(":fps", AttributeValue::Ss(vec![fingerprint.to_owned()]))
            .expression_attribute_values(":fp", s(fingerprint))
            .expression_attribute_values(":t", s(tenant.as_str()))
            .expression_attribute_values(":k", s(alert_key))
            // The item after the claim is the alert as it stands: no GetItem before the write.
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match r.map_err(port_error) {
            Ok(out) => Ok(Claim::Claimed(alert_of(&out.attributes.unwrap_or_default())?.map(Box::new))),
            Err(PortError::ConditionFailed(_)) => Ok(Claim::Duplicate),
            Err(e) => Err(e),
        }
    }

    async fn release_delivery(&self, tenant: &TenantId, alert_key: &str, fingerprint: &str) -> Result<(), PortError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(pk(tenant), alert_sk(alert_key))))
            .update_expression("DELETE delivery_ids :fps")
            .expression_attribute_values(":fps", AttributeValue::Ss(vec![fingerprint.to_owned()]))
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn get_alert(&self, tenant: &TenantId, alert_key: &str) -> Result<Option<RmmAlert>, PortError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(pk(tenant), alert_sk(alert_key))))
            .consistent_read(true)
            .send()
            .await
            .map_err(port_error)?;
        match out.item {
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
        u.set("entity", s("rmm_alert"));
        u.set("version", super::item::n(a.version));
        let mut values = u.values.clone();
        let condition = if a.version <= 1 {
            "attribute_not_exists(#ver)".to_owned()
        } else {
            values.insert(":prev".into(), super::item::n(a.version - 1));
            "#ver = :prev".to_owned()
        };
        let mut names = u.names.clone();
        names.insert("#ver".into(), "version".into());
        let r = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(pk(&a.tenant), alert_sk(&a.alert_key))))
            .update_expression(u.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match r.map_err(port_error) {
            Ok(_) => Ok(true),
            Err(PortError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn open_alert_pointer(&self, tenant: &TenantId, pointer: &str) -> Result<Option<String>, PortError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(pk(tenant), pointer_sk(pointer))))
            .consistent_read(true)
            .send()
            .await
            .map_err(port_error)?;
        Ok(out.item.and_then(|i| i.get("alert_key").and_then(|v| v.as_s().ok()).cloned()))
    }

    async fn set_open_alert_pointer(
        &self,
        tenant: &TenantId,
        pointer: &str,
        alert_key: Option<&str>,
    ) -> Result<(), PortError> {
        let k = key(pk(tenant), pointer_sk(pointer));
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
            .expression_attribute_values(":p", s(pk(tenant)))
            .expression_attribute_values(":prefix", s("tacticalrmm#alert#"))
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

    async fn open_alerts(&self, tenant: &TenantId) -> Result<Vec<RmmAlert>, PortError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page =
                self.list_alerts(tenant, &AlertQuery { status: None, asset_id: None, limit: 500, cursor }).await?;
            out.extend(page.alerts.into_iter().filter(RmmAlert::is_open));
            match page.next {
                Some(n) => cursor = Some(n),
                None => return Ok(out),
            }
        }
    }
}
