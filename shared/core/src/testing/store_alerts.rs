//! [`MemoryStore`] as the alert store (versioned alerts, delivery fingerprints, open pointers,
//! ticket links, cursor paging) and the audit log (its own table, newest first).

use super::items::{BATCH_GET, Item, check_batch_duplicates, from_item, json, set, str_attr, to_item};
use super::store::MemoryStore;
use crate::domain::alerts::RmmAlert;
use crate::domain::audit::{AuditFinish, AuditPage, AuditQuery, AuditRecord, audit_id_floor};
use crate::ports::{AlertPage, AlertQuery, AlertStore, AuditStore, PortError};
use crate::tenant::TenantId;
use async_trait::async_trait;
use base64::Engine;
use serde_json::Value;

const ALERT_PREFIX: &str = "tacticalrmm#alert#";
const DELIVERIES: &str = "recent_deliveries";

fn pk(t: &TenantId) -> String {
    format!("{t}#rmm_alerts")
}
fn alert_sk(key: &str) -> String {
    format!("{ALERT_PREFIX}{key}")
}
fn pointer_sk(p: &str) -> String {
    format!("tacticalrmm#open#{p}")
}
fn ticket_prefix(ticket_id: &str) -> String {
    format!("tacticalrmm#ticket#{ticket_id}#")
}
/// The open set, as the DynamoDB adapter keeps it: a sparse index (`gsi1`) holding the alerts
/// that are open or have pending events, and a marker item once the tenant's older alerts are in.
fn open_set_pk(t: &TenantId) -> String {
    format!("{t}#rmm_alerts#open")
}
const OPEN_INDEX_SK: &str = "tacticalrmm#open_index";
const GSI_PK: &str = "gsi1pk";
const GSI_SK: &str = "gsi1sk";

fn in_open_set(a: &RmmAlert) -> bool {
    a.is_open() || !a.pending_events.is_empty()
}

/// Puts the alert item in the open set or takes it out, by the state written.
fn set_open_index(item: &mut Item, a: &RmmAlert) {
    if in_open_set(a) {
        set(item, GSI_PK, open_set_pk(&a.tenant));
        set(item, GSI_SK, alert_sk(&a.alert_key));
    } else {
        item.remove(GSI_PK);
        item.remove(GSI_SK);
    }
}

fn audit_pk(t: &TenantId) -> String {
    format!("{t}#rmm_audit_log")
}

/// The optimistic lock of a write at `version`: stored version `version - 1`, or none for a first
/// write (an item without a version counts as none).
fn version_ok(item: Option<&Item>, version: i64) -> bool {
    let stored = item.and_then(|i| i.get("version")).and_then(Value::as_i64);
    if version <= 1 { item.is_none_or(|i| !i.contains_key("version")) } else { stored == Some(version - 1) }
}

/// An item without state is no alert.
fn alert_of(item: &Item) -> Result<Option<RmmAlert>, PortError> {
    if !item.contains_key("status") {
        return Ok(None);
    }
    from_item(item).map(Some)
}

fn decode_cursor(c: &str) -> Result<String, PortError> {
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).map_err(|_| PortError::Corrupt("cursor".into()))?;
    let sk = String::from_utf8(bytes).map_err(|_| PortError::Corrupt("cursor".into()))?;
    if !sk.starts_with(ALERT_PREFIX) {
        return Err(PortError::Corrupt("cursor".into()));
    }
    Ok(sk)
}

fn clamp(limit: impl Into<i64>, max: i64) -> usize {
    usize::try_from(limit.into().clamp(1, max)).unwrap_or(1)
}

#[async_trait]
impl AlertStore for MemoryStore {
    async fn get_alert_with_deliveries(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<(Option<RmmAlert>, Vec<String>), PortError> {
        let t = self.tables();
        let Some(item) = t.main.get(&pk(tenant), &alert_sk(key)) else { return Ok((None, Vec::new())) };
        self.count_alert_reads(1);
        let deliveries = item
            .get(DELIVERIES)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|d| d.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        Ok((alert_of(item)?, deliveries))
    }

    async fn put_alert_with_deliveries(&self, a: &RmmAlert, deliveries: &[String]) -> Result<bool, PortError> {
        let mut item = to_item(a)?;
        set(&mut item, "entity", "rmm_alert");
        set(&mut item, "version", a.version);
        set(&mut item, DELIVERIES, json(&deliveries));
        set_open_index(&mut item, a);
        let (pk, sk) = (pk(&a.tenant), alert_sk(&a.alert_key));
        let mut t = self.tables();
        if !version_ok(t.main.get(&pk, &sk), a.version) {
            return Ok(false);
        }
        t.main.put(&pk, &sk, item);
        Ok(true)
    }

    async fn get_alert(&self, tenant: &TenantId, key: &str) -> Result<Option<RmmAlert>, PortError> {
        let t = self.tables();
        let item = t.main.get(&pk(tenant), &alert_sk(key));
        self.count_alert_reads(usize::from(item.is_some()));
        item.map(alert_of).transpose().map(Option::flatten)
    }

    async fn get_alerts(&self, tenant: &TenantId, keys: &[String]) -> Result<Vec<RmmAlert>, PortError> {
        let sks: Vec<String> = keys.iter().map(|k| alert_sk(k)).collect();
        check_batch_duplicates(sks.iter().map(String::as_str), BATCH_GET)?;
        let t = self.tables();
        let items: Vec<&Item> = sks.iter().filter_map(|sk| t.main.get(&pk(tenant), sk)).collect();
        self.count_alert_reads(items.len());
        Ok(items.into_iter().map(alert_of).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect())
    }

    async fn put_alert(&self, a: &RmmAlert) -> Result<bool, PortError> {
        // An UpdateItem: attributes the alert does not name (its deliveries) stay.
        let v = serde_json::to_value(a).map_err(|e| PortError::Other(e.to_string()))?;
        let (pk, sk) = (pk(&a.tenant), alert_sk(&a.alert_key));
        let mut t = self.tables();
        if !version_ok(t.main.get(&pk, &sk), a.version) {
            return Ok(false);
        }
        let item = t.main.upsert(&pk, &sk);
        for (k, val) in v.as_object().into_iter().flatten() {
            if val.is_null() {
                item.remove(k);
            } else {
                item.insert(k.clone(), val.clone());
            }
        }
        if a.pending_events.is_empty() {
            item.remove("pending_events");
        }
        set(item, "entity", "rmm_alert");
        set(item, "version", a.version);
        set_open_index(item, a);
        Ok(true)
    }

    async fn clear_pending_events(&self, a: &RmmAlert) -> Result<bool, PortError> {
        let mut t = self.tables();
        match t.main.get_mut(&pk(&a.tenant), &alert_sk(&a.alert_key)) {
            Some(i) if i.get("version").and_then(Value::as_i64) == Some(a.version) => {
                i.remove("pending_events");
                if !a.is_open() {
                    i.remove(GSI_PK);
                    i.remove(GSI_SK);
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn open_alert_pointer(&self, tenant: &TenantId, pointer: &str) -> Result<Option<String>, PortError> {
        let t = self.tables();
        Ok(t.main.get(&pk(tenant), &pointer_sk(pointer)).and_then(|i| str_attr(i, "alert_key")).map(str::to_owned))
    }

    async fn set_open_alert_pointer(
        &self,
        tenant: &TenantId,
        pointer: &str,
        key: Option<&str>,
    ) -> Result<(), PortError> {
        let mut t = self.tables();
        match key {
            Some(k) => {
                let mut item = Item::new();
                set(&mut item, "alert_key", k);
                set(&mut item, "tenant", tenant.as_str());
                t.main.put(&pk(tenant), &pointer_sk(pointer), item);
            }
            None => {
                t.main.delete(&pk(tenant), &pointer_sk(pointer));
            }
        }
        Ok(())
    }

    async fn list_alerts(&self, tenant: &TenantId, q: &AlertQuery) -> Result<AlertPage, PortError> {
        let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = clamp(q.limit, 500);
        let t = self.tables();
        // Limit counts the items read, before the filter (a page may hold fewer, even none).
        let read: Vec<(&String, &Item)> = t
            .main
            .query(&pk(tenant), ALERT_PREFIX)
            .filter(|(sk, _)| after.as_ref().is_none_or(|a| *sk > a))
            .take(limit)
            .collect();
        self.count_alert_reads(read.len());
        let mut alerts = Vec::new();
        for (_, item) in &read {
            let status = str_attr(item, "status");
            let keep = status.is_some()
                && q.status.as_deref().is_none_or(|s| status == Some(s))
                && q.asset_id.as_deref().is_none_or(|a| str_attr(item, "asset_id") == Some(a));
            if keep && let Some(a) = alert_of(item)? {
                alerts.push(a);
            }
        }
        let next = (read.len() == limit)
            .then(|| read.last().map(|(sk, _)| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk)))
            .flatten();
        Ok(AlertPage { alerts, next })
    }

    async fn open_or_pending_alerts(&self, tenant: &TenantId) -> Result<Option<Vec<RmmAlert>>, PortError> {
        let set_pk = open_set_pk(tenant);
        let t = self.tables();
        // The index: only the items that carry its key, whatever else the partition holds.
        let mut items: Vec<&Item> = t.main.scan().filter(|i| str_attr(i, GSI_PK) == Some(set_pk.as_str())).collect();
        items.sort_by_key(|i| str_attr(i, GSI_SK).unwrap_or_default().to_owned());
        self.count_alert_reads(items.len());
        let indexed = items.iter().any(|i| str_attr(i, "sk") == Some(OPEN_INDEX_SK));
        if !indexed {
            return Ok(None);
        }
        Ok(Some(items.into_iter().map(alert_of).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect()))
    }

    async fn index_open_alerts(&self, tenant: &TenantId) -> Result<Vec<RmmAlert>, PortError> {
        let mut t = self.tables();
        let keys: Vec<String> = t.main.query(&pk(tenant), ALERT_PREFIX).map(|(sk, _)| sk.clone()).collect();
        self.count_alert_reads(keys.len());
        let mut out = Vec::new();
        for sk in keys {
            let Some(item) = t.main.get_mut(&pk(tenant), &sk) else { continue };
            let Some(a) = alert_of(item)? else { continue };
            if in_open_set(&a) {
                set_open_index(item, &a);
                out.push(a);
            }
        }
        let mut marker = Item::new();
        set(&mut marker, "tenant", tenant.as_str());
        set(&mut marker, GSI_PK, open_set_pk(tenant));
        set(&mut marker, GSI_SK, OPEN_INDEX_SK);
        t.main.put(&pk(tenant), OPEN_INDEX_SK, marker);
        Ok(out)
    }

    async fn set_ticket_link(
        &self,
        tenant: &TenantId,
        ticket_id: &str,
        key: &str,
        linked: bool,
    ) -> Result<(), PortError> {
        let sk = format!("{}{key}", ticket_prefix(ticket_id));
        let mut t = self.tables();
        if linked {
            let mut item = Item::new();
            set(&mut item, "entity", "rmm_alert_ticket");
            set(&mut item, "alert_key", key);
            set(&mut item, "ticket_id", ticket_id);
            t.main.put(&pk(tenant), &sk, item);
        } else {
            t.main.delete(&pk(tenant), &sk);
        }
        Ok(())
    }

    async fn ticket_alert_keys(
        &self,
        tenant: &TenantId,
        ticket_id: &str,
        limit: i32,
    ) -> Result<Vec<String>, PortError> {
        let prefix = ticket_prefix(ticket_id);
        let t = self.tables();
        Ok(t.main
            .query(&pk(tenant), &prefix)
            .take(clamp(limit, 500))
            .filter_map(|(_, i)| str_attr(i, "alert_key").map(str::to_owned))
            .collect())
    }
}

/// Test aids for the open set.
impl MemoryStore {
    /// Alert items read so far by the alert store (every tenant): what a DynamoDB read would bill.
    pub fn alert_items_read(&self) -> u64 {
        self.alert_items_read.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Asset ids looked up by `asset_states` so far (every tenant).
    pub fn asset_states_read(&self) -> u64 {
        self.asset_states_read.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count_alert_reads(&self, n: usize) {
        self.alert_items_read.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes the tenant's alerts look as written before the open set existed: no alert carries
    /// the index key, and (unless `keep_marker`: alerts a writer unaware of the set wrote after
    /// the tenant was indexed) the tenant is not marked indexed.
    pub fn drop_open_index(&self, tenant: &TenantId, keep_marker: bool) {
        let mut t = self.tables();
        if !keep_marker {
            t.main.delete(&pk(tenant), OPEN_INDEX_SK);
        }
        let keys: Vec<String> = t.main.query(&pk(tenant), ALERT_PREFIX).map(|(sk, _)| sk.clone()).collect();
        for sk in keys {
            if let Some(i) = t.main.get_mut(&pk(tenant), &sk) {
                i.remove(GSI_PK);
                i.remove(GSI_SK);
            }
        }
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn put_audit(&self, record: &AuditRecord) -> Result<(), PortError> {
        let mut item = to_item(record)?;
        set(&mut item, "entity", "rmm_audit_log");
        let mut t = self.tables();
        let pk = audit_pk(&record.tenant);
        if t.audit.get(&pk, &record.audit_id).is_some() {
            return Err(PortError::ConditionFailed("The conditional request failed".into()));
        }
        t.audit.put(&pk, &record.audit_id, item);
        Ok(())
    }

    async fn finish_audit(&self, tenant: &TenantId, audit_id: &str, f: &AuditFinish) -> Result<(), PortError> {
        let mut t = self.tables();
        // Never create a half record: the first write must exist.
        let Some(i) = t.audit.get_mut(&audit_pk(tenant), audit_id) else {
            return Err(PortError::ConditionFailed("The conditional request failed".into()));
        };
        set(i, "outcome", json(&f.outcome));
        super::items::set_opt(i, "error_code", f.error_code.clone());
        super::items::set_opt(i, "error_message", f.error_message.clone());
        super::items::set_opt(i, "result", f.result.clone());
        set(i, "finished_at", f.finished_at.clone());
        set(i, "duration_ms", f.duration_ms);
        Ok(())
    }

    async fn get_audit(&self, tenant: &TenantId, audit_id: &str) -> Result<Option<AuditRecord>, PortError> {
        self.tables().audit.get(&audit_pk(tenant), audit_id).map(from_item).transpose()
    }

    async fn list_audit(&self, tenant: &TenantId, q: &AuditQuery) -> Result<AuditPage, PortError> {
        let limit = clamp(q.limit, 500);
        let floor = q.since.map(audit_id_floor);
        let outcome = q.outcome.map(|o| json(&o));
        let filters: Vec<(&str, Value)> = [
            ("action", q.action.clone().map(Value::from)),
            ("asset_id", q.asset_id.clone().map(Value::from)),
            ("agent_id", q.agent_id.clone().map(Value::from)),
            ("actor_user_id", q.actor_user_id.clone().map(Value::from)),
            ("outcome", outcome),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
        let t = self.tables();
        // Newest first, strictly before the cursor, at or after `since`; `limit` items read.
        let read: Vec<(&String, &Item)> = t
            .audit
            .query(&audit_pk(tenant), "")
            .rev()
            .filter(|(sk, _)| q.before.as_ref().is_none_or(|b| *sk < b))
            .take_while(|(sk, _)| floor.as_ref().is_none_or(|f| *sk >= f))
            .take(limit)
            .collect();
        let records = read
            .iter()
            .filter(|(_, i)| filters.iter().all(|(k, v)| i.get(*k) == Some(v)))
            .map(|(_, i)| from_item(i))
            .collect::<Result<Vec<AuditRecord>, _>>()?;
        let next_before = (read.len() == limit)
            .then(|| read.last().map(|(sk, _)| (*sk).clone()))
            .flatten()
            // Unfiltered, a short page is the last; filtered, the store read `limit` records.
            .filter(|_| records.len() >= limit || !filters.is_empty());
        Ok(AuditPage { records, next_before })
    }
}
