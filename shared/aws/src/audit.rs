//! DynamoDB side of rmm_audit_log, in its own table (`AUDIT_TABLE_NAME`): pk
//! `{tenant}#rmm_audit_log`, sk the audit id (time-sortable), no TTL (retention is the operator's decision; point-in-time recovery covers the table).

use super::dynamo::{DynamoStore, Update};
use super::item::{Item, from_item, n, s, to_attr, to_item};
use super::port_error;
use async_trait::async_trait;
use shared::domain::audit::{AuditFinish, AuditPage, AuditQuery, AuditRecord, audit_id_floor};
use shared::ports::{AuditStore, PortError};
use shared::tenant::TenantId;
use std::collections::HashMap;

pub mod keys {
    use shared::tenant::TenantId;
    pub fn audit_log(t: &TenantId) -> String {
        format!("{t}#rmm_audit_log")
    }
}

fn key(tenant: &TenantId, audit_id: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(keys::audit_log(tenant))), ("sk".to_owned(), s(audit_id))])
}

#[async_trait]
impl AuditStore for DynamoStore {
    async fn put_audit(&self, record: &AuditRecord) -> Result<(), PortError> {
        let mut item = to_item(record)?;
        item.extend(key(&record.tenant, &record.audit_id));
        item.insert("entity".into(), s("rmm_audit_log"));
        self.client()
            .put_item()
            .table_name(self.audit_table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn finish_audit(&self, tenant: &TenantId, audit_id: &str, f: &AuditFinish) -> Result<(), PortError> {
        let mut u = Update::default();
        u.set("outcome", to_attr(&serde_json::to_value(f.outcome).unwrap_or_default()));
        u.set_opt("error_code", f.error_code.clone().map(s));
        u.set_opt("error_message", f.error_message.clone().map(s));
        u.set_opt("result", f.result.as_ref().map(to_attr));
        u.set("finished_at", s(f.finished_at.clone()));
        u.set("duration_ms", n(f.duration_ms));
        self.client()
            .update_item()
            .table_name(self.audit_table())
            .set_key(Some(key(tenant, audit_id)))
            .update_expression(u.expression())
            // Never create a half record: the first write must exist.
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn get_audit(&self, tenant: &TenantId, audit_id: &str) -> Result<Option<AuditRecord>, PortError> {
        // From the audit table (not the main one, where `get` reads): records live only there.
        let out = self
            .client()
            .get_item()
            .table_name(self.audit_table())
            .set_key(Some(key(tenant, audit_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(port_error)?;
        out.item.as_ref().map(from_item).transpose()
    }

    async fn list_audit(&self, tenant: &TenantId, q: &AuditQuery) -> Result<AuditPage, PortError> {
        let limit = q.limit.clamp(1, 500);
        let mut req = self
            .client()
            .query()
            .table_name(self.audit_table())
            .expression_attribute_values(":p", s(keys::audit_log(tenant)))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(q.before.as_deref().map(|b| key(tenant, b)))
            .consistent_read(true);
        req = match q.since {
            Some(t) => req
                .key_condition_expression("pk = :p AND sk >= :since")
                .expression_attribute_values(":since", s(audit_id_floor(t))),
            None => req.key_condition_expression("pk = :p"),
        };
        let outcome = q.outcome.map(|o| serde_json::to_value(o).ok().and_then(|v| v.as_str().map(str::to_owned)));
        let filters = [
            ("action", q.action.clone()),
            ("asset_id", q.asset_id.clone()),
            ("agent_id", q.agent_id.clone()),
            ("actor_user_id", q.actor_user_id.clone()),
            ("outcome", outcome.flatten()),
        ];
        let mut clauses = Vec::new();
        for (i, (attr, value)) in filters.into_iter().enumerate() {
            if let Some(v) = value {
                clauses.push(format!("#f{i} = :f{i}"));
                req = req
                    .expression_attribute_names(format!("#f{i}"), attr)
                    .expression_attribute_values(format!(":f{i}"), s(v));
            }
        }
        if !clauses.is_empty() {
            req = req.filter_expression(clauses.join(" AND "));
        }
        let out = req.send().await.map_err(port_error)?;
        let records = out.items().iter().map(from_item).collect::<Result<Vec<AuditRecord>, _>>()?;
        let next_before = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .cloned()
            // Unfiltered, a short page is the last; filtered, only DynamoDB knows (it read
            // `limit` records, of which fewer matched).
            .filter(|_| records.len() as u32 >= limit || !clauses.is_empty());
        Ok(AuditPage { records, next_before })
    }
}
