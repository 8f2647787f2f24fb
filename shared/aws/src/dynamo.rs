//! DynamoDB adapter: one table, keys lead with the tenant (`{tenant}#{entity}`), entity names from
//! the admin guide. Key design: docs/architecture.md.

use super::item::{Item, from_item, n, s, to_attr, to_item};
use super::{applied, port_error};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use shared::domain::time::{now, now_rfc3339};
use shared::domain::{IntegrationPatch, RmmIntegration, SyncRun, SyncRunStatus};
use shared::messages::SyncType;
use shared::ports::{PortError, RunProgress, StartOutcome, Store};
use shared::tenant::TenantId;
use std::collections::HashMap;

fn seen_sk(st: SyncType, run_id: &str, part: &str) -> String {
    format!("seen#{}#{}#{}", st.as_str(), run_id, part)
}

/// The attribute of a seen record: one line per asset, `{asset id}` or `{asset id} {hash}`.
const SEEN: &str = "seen";

fn seen_entries(ids: &[String], hashes: &[String]) -> String {
    let mut out = String::with_capacity(ids.len() * 64);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(id);
        if let Some(h) = hashes.get(i) {
            out.push(' ');
            out.push_str(h);
        }
    }
    out
}

/// Key builders. Partition keys always start with the tenant id, which cannot contain `#`.
pub mod keys {
    use shared::messages::SyncType;
    use shared::tenant::TenantId;

    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const GSI1: &str = "gsi1";
    pub const GSI1_PK: &str = "gsi1pk";
    pub const GSI1_SK: &str = "gsi1sk";
    pub const TTL: &str = "expires_at";
    pub const ACTIVE_INTEGRATIONS: &str = "rmm_integrations#active";

    pub fn integration(t: &TenantId) -> (String, String) {
        (format!("{t}#rmm_integrations"), "tacticalrmm".into())
    }
    pub fn sync_runs(t: &TenantId) -> String {
        format!("{t}#sync_runs")
    }
    pub fn sync_run_sk(st: SyncType, run_id: &str) -> String {
        format!("{}#{}", st.as_str(), run_id)
    }
    pub fn sync_lock_sk(st: SyncType) -> String {
        format!("lock#{}", st.as_str())
    }
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// The remote-action audit log's own table (only remote-actions may write it).
    audit_table: String,
}

/// Errors kept on one run record (each at most 300 characters): far below DynamoDB's 400 KB.
pub const MAX_RUN_ERRORS: i64 = 20;

impl DynamoStore {
    async fn add_run_progress_once(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
        p: &RunProgress,
        with_errors: bool,
    ) -> Result<Option<SyncRun>, PortError> {
        let mut u = Update::default();
        let c = &p.counts;
        for (attr, v) in [
            ("items_processed", c.items_processed),
            ("items_created", c.items_created),
            ("items_updated", c.items_updated),
            ("items_unchanged", c.items_unchanged),
            ("items_deleted", c.items_deleted),
            ("items_failed", c.items_failed),
            ("status_online", c.status_online),
            ("status_offline", c.status_offline),
            ("status_overdue", c.status_overdue),
            ("items_missing", c.items_missing),
            ("work_done", c.work_done),
            ("work_total", c.work_total),
            ("software_items", c.software_items),
            ("software_changed", c.software_changed),
            ("agents_no_inventory", c.agents_no_inventory),
            ("pending", p.pending_delta),
        ] {
            u.add(attr, v);
        }
        u.set("status", s("running"));
        let mut expr = u.expression();
        let mut values = u.values.clone();
        let mut names = u.names.clone();
        // A finished run takes no more progress (a late duplicate must not reopen it).
        let mut condition = "attribute_exists(pk) AND NOT (#run_status IN (:fin_s, :fin_p, :fin_f))".to_owned();
        names.insert("#run_status".into(), "status".into());
        for (k, v) in [(":fin_s", "succeeded"), (":fin_p", "partial"), (":fin_f", "failed")] {
            values.insert(k.into(), s(v));
        }
        if with_errors && !p.errors.is_empty() {
            // Keep the first few errors only: a run record must stay far below 400 KB.
            let errs: Vec<AttributeValue> =
                p.errors.iter().take(5).map(|e| s(e.chars().take(300).collect::<String>())).collect();
            names.insert("#errs".into(), "errors".into());
            values.insert(":errs".into(), AttributeValue::L(errs));
            values.insert(":empty".into(), AttributeValue::L(vec![]));
            expr = expr.replacen("SET ", "SET #errs = list_append(if_not_exists(#errs, :empty), :errs), ", 1);
            // Bounded: a run with thousands of failed items keeps its first errors only.
            values.insert(":max_errs".into(), n(MAX_RUN_ERRORS));
            condition.push_str(" AND (attribute_not_exists(#errs) OR size(#errs) < :max_errs)");
        }
        if let Some(item) = &p.work_item {
            names.insert("#done".into(), "done_items".into());
            values.insert(":wi".into(), s(item.clone()));
            values.insert(":wis".into(), AttributeValue::Ss(vec![item.clone()]));
            expr.push_str(", #done :wis");
            condition.push_str(" AND NOT contains(#done, :wi)");
        }
        if let Some(item) = &p.undo_item {
            names.insert("#done".into(), "done_items".into());
            values.insert(":undo".into(), AttributeValue::Ss(vec![item.clone()]));
            expr.push_str(" DELETE #done :undo");
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::sync_runs(tenant), keys::sync_run_sk(st, run_id))))
            .update_expression(expr)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out.map_err(port_error) {
            Ok(out) => Ok(Some(from_item(&out.attributes.unwrap_or_default())?)),
            Err(PortError::ConditionFailed(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self { client, audit_table: table.clone(), table }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Keeps the audit log in its own table.
    pub fn with_audit_table(mut self, table: impl Into<String>) -> Self {
        self.audit_table = table.into();
        self
    }

    pub fn audit_table(&self) -> &str {
        &self.audit_table
    }

    fn key(pk: String, sk: String) -> Item {
        HashMap::from([(keys::PK.to_owned(), s(pk)), (keys::SK.to_owned(), s(sk))])
    }

    /// One item by key, consistently read.
    pub(super) async fn get(&self, pk: String, sk: String) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(port_error)?;
        Ok(out.item)
    }
}

/// Builds `SET a = :a, ...` / `REMOVE ...` from (attribute, value-or-none) pairs.
#[derive(Default)]
pub struct Update {
    sets: Vec<String>,
    removes: Vec<String>,
    adds: Vec<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Update {
    pub fn set(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let i = self.names.len();
        self.names.insert(format!("#a{i}"), attr.to_owned());
        self.values.insert(format!(":v{i}"), v);
        self.sets.push(format!("#a{i} = :v{i}"));
        self
    }
    pub fn set_if_not_exists(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let i = self.names.len();
        self.names.insert(format!("#a{i}"), attr.to_owned());
        self.values.insert(format!(":v{i}"), v);
        self.sets.push(format!("#a{i} = if_not_exists(#a{i}, :v{i})"));
        self
    }
    pub fn set_opt(&mut self, attr: &str, v: Option<AttributeValue>) -> &mut Self {
        match v {
            Some(v) => self.set(attr, v),
            None => self.remove(attr),
        }
    }
    pub fn remove(&mut self, attr: &str) -> &mut Self {
        let i = self.names.len();
        self.names.insert(format!("#a{i}"), attr.to_owned());
        self.removes.push(format!("#a{i}"));
        self
    }
    pub fn add(&mut self, attr: &str, delta: i64) -> &mut Self {
        let i = self.names.len();
        self.names.insert(format!("#a{i}"), attr.to_owned());
        self.values.insert(format!(":v{i}"), n(delta));
        self.adds.push(format!("#a{i} :v{i}"));
        self
    }
    pub fn expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        if !self.adds.is_empty() {
            parts.push(format!("ADD {}", self.adds.join(", ")));
        }
        parts.join(" ")
    }
}

impl DynamoStore {
    /// `None`: the transaction lost to a concurrent one whose lock is not readable yet.
    async fn start_run_once(&self, run: &SyncRun, lock_secs: i64) -> Result<Option<StartOutcome>, PortError> {
        let pk = keys::sync_runs(&run.tenant);
        let now_epoch = now().unix_timestamp();
        let mut lock = Self::key(pk.clone(), keys::sync_lock_sk(run.sync_type));
        lock.insert("run_id".into(), s(run.run_id.clone()));
        lock.insert(keys::TTL.into(), n(now_epoch + lock_secs));
        lock.insert("tenant".into(), s(run.tenant.as_str()));
        let mut item = to_item(run)?;
        item.insert(keys::PK.into(), s(pk.clone()));
        item.insert(keys::SK.into(), s(keys::sync_run_sk(run.sync_type, &run.run_id)));
        item.insert("entity".into(), s("sync_run"));
        // The lock is a single conditional put: one item, atomic everywhere (DynamoDB, and the
        // local moto backend, whose transactions are not isolated under concurrency).
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(lock))
            .condition_expression("attribute_not_exists(pk) OR #e < :now")
            .expression_attribute_names("#e", keys::TTL)
            .expression_attribute_values(":now", n(now_epoch))
            .send()
            .await;
        if result.is_ok() {
            self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(port_error)?;
        }
        match result {
            Ok(_) => Ok(Some(StartOutcome::Started(Box::new(run.clone())))),
            Err(e) => match port_error(e) {
                PortError::ConditionFailed(_) | PortError::Throttled => {
                    let holder = self
                        .get(pk, keys::sync_lock_sk(run.sync_type))
                        .await?
                        .and_then(|i| i.get("run_id").and_then(|v| v.as_s().ok()).cloned())
                        .filter(|h| !h.is_empty());
                    Ok(holder.map(|run_id| StartOutcome::AlreadyRunning { run_id }))
                }
                other => Err(other),
            },
        }
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get_integration(&self, tenant: &TenantId) -> Result<Option<RmmIntegration>, PortError> {
        let (pk, sk) = keys::integration(tenant);
        self.get(pk, sk).await?.map(|i| from_item(&i)).transpose()
    }

    async fn patch_integration(&self, tenant: &TenantId, p: &IntegrationPatch) -> Result<RmmIntegration, PortError> {
        let (pk, sk) = keys::integration(tenant);
        let mut u = Update::default();
        u.set("tenant", s(tenant.as_str()));
        u.set("provider", s(shared::domain::integration::PROVIDER));
        u.set("entity", s("rmm_integration"));
        u.set("updated_at", s(now_rfc3339()));
        if let Some(url) = &p.instance_url {
            u.set("instance_url", s(url.as_str()));
        }
        if let Some(m) = p.auth_mode {
            u.set("auth_mode", to_attr(&serde_json::to_value(m).unwrap_or_default()));
        }
        if let Some(active) = p.is_active {
            u.set("is_active", AttributeValue::Bool(active));
            // Sparse index of active integrations, read by the scheduler.
            if active {
                u.set(keys::GSI1_PK, s(keys::ACTIVE_INTEGRATIONS));
                u.set(keys::GSI1_SK, s(tenant.as_str()));
            } else {
                u.remove(keys::GSI1_PK);
                u.remove(keys::GSI1_SK);
            }
        } else {
            u.set_if_not_exists("is_active", AttributeValue::Bool(false));
        }
        if let Some(v) = &p.connected_at {
            u.set_opt("connected_at", v.clone().map(s));
        }
        if let Some(v) = &p.disconnected_at {
            u.set_opt("disconnected_at", v.clone().map(s));
        }
        if let Some(v) = p.reauth_required {
            u.set("reauth_required", AttributeValue::Bool(v));
        }
        if let Some(v) = &p.last_sync_at {
            u.set("last_sync_at", s(v.clone()));
        }
        if let Some(v) = &p.sync_status {
            u.set("sync_status", s(v.clone()));
        }
        if let Some(v) = &p.sync_error {
            u.set_opt("sync_error", v.clone().map(s));
        }
        for (kind, sched) in &p.schedules {
            u.set(kind.attribute(), to_attr(&serde_json::to_value(sched).unwrap_or_default()));
        }
        if let Some(v) = &p.last_complete_device_run {
            u.set_opt("last_complete_device_run", v.clone().map(s));
        }
        if let Some(v) = &p.knox_token_expires_at {
            u.set_opt("knox_token_expires_at", v.clone().map(s));
        }
        if let Some(v) = &p.webhook_previous_valid_until {
            u.set_opt("webhook_previous_valid_until", v.clone().map(s));
        }
        if let Some(v) = &p.webhook_secret_version {
            u.set("webhook_secret_version", s(v.clone()));
        }
        if let Some(d) = &p.webhook_digests {
            u.set("webhook_digests", to_attr(&serde_json::to_value(d).unwrap_or_default()));
        }
        for (sync_type, at) in &p.last_started {
            u.set(&format!("last_started_{sync_type}"), s(at.clone()));
        }
        let condition = p.only_without_webhook_digests.then(|| {
            u.names.insert("#cpk".into(), keys::PK.into());
            u.names.insert("#cwd".into(), "webhook_digests".into());
            "attribute_exists(#cpk) AND attribute_not_exists(#cwd)".to_owned()
        });
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .update_expression(u.expression())
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(port_error)?;
        from_item(&out.attributes.unwrap_or_default())
    }

    async fn list_active_integrations(&self) -> Result<Vec<RmmIntegration>, PortError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI1)
                .key_condition_expression("#p = :p")
                .expression_attribute_names("#p", keys::GSI1_PK)
                .expression_attribute_values(":p", s(keys::ACTIVE_INTEGRATIONS))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(port_error)?;
            for item in page.items() {
                // One unreadable item must not stop the scheduler for every tenant.
                match from_item(item) {
                    Ok(i) => out.push(i),
                    Err(e) => {
                        let tenant = item.get(keys::GSI1_SK).and_then(|v| v.as_s().ok()).map_or("?", String::as_str);
                        tracing::error!(tenant, error = %e, "skipping an unreadable integration item");
                    }
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn try_start_run(&self, run: &SyncRun, lock_secs: i64) -> Result<StartOutcome, PortError> {
        // A transaction that conflicts with a concurrent one is cancelled before the winner's
        // lock is visible: look again a few times before giving up.
        for attempt in 0..6u32 {
            match self.start_run_once(run, lock_secs).await? {
                Some(outcome) => return Ok(outcome),
                None => tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await,
            }
        }
        Err(PortError::Other("could not start or find the sync run after concurrent attempts".into()))
    }

    async fn get_run(&self, tenant: &TenantId, st: SyncType, run_id: &str) -> Result<Option<SyncRun>, PortError> {
        self.get(keys::sync_runs(tenant), keys::sync_run_sk(st, run_id)).await?.map(|i| from_item(&i)).transpose()
    }

    async fn add_run_progress(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
        p: &RunProgress,
    ) -> Result<Option<SyncRun>, PortError> {
        match self.add_run_progress_once(tenant, st, run_id, p, true).await? {
            Some(run) => Ok(Some(run)),
            // The error list may be full (or the item a duplicate): the counts still count.
            None if !p.errors.is_empty() => self.add_run_progress_once(tenant, st, run_id, p, false).await,
            None => Ok(None),
        }
    }

    async fn finish_run(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
        status: SyncRunStatus,
        message: Option<String>,
    ) -> Result<bool, PortError> {
        let status_attr = to_attr(&serde_json::to_value(status).unwrap_or_default());
        let mut u = Update::default();
        u.set("status", status_attr);
        u.set("finished_at", s(now_rfc3339()));
        if let Some(m) = message {
            u.set("message", s(m));
        }
        let values = u.values.clone();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::sync_runs(tenant), keys::sync_run_sk(st, run_id))))
            .update_expression(u.expression())
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(finished_at)")
            .set_expression_attribute_names(Some(u.names.clone()))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        let finished = match result {
            Ok(_) => true,
            Err(e) => match port_error(e) {
                PortError::ConditionFailed(_) => false,
                other => return Err(other),
            },
        };
        // Release the lock only if this run still holds it.
        let release = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::sync_runs(tenant), keys::sync_lock_sk(st))))
            .condition_expression("run_id = :r")
            .expression_attribute_values(":r", s(run_id))
            .send()
            .await;
        if let Err(e) = release {
            match port_error(e) {
                PortError::ConditionFailed(_) => {}
                other => return Err(other),
            }
        }
        Ok(finished)
    }

    async fn try_lock(&self, tenant: &TenantId, name: &str, ttl_secs: i64) -> Result<bool, PortError> {
        let (pk, _) = keys::integration(tenant);
        let now_epoch = now().unix_timestamp();
        let mut item = Self::key(pk, format!("lock#{name}"));
        item.insert("tenant".into(), s(tenant.as_str()));
        item.insert(keys::TTL.into(), n(now_epoch + ttl_secs));
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #e < :now")
            .expression_attribute_names("#e", keys::TTL)
            .expression_attribute_values(":now", n(now_epoch))
            .send()
            .await;
        applied(r.map_err(port_error))
    }

    async fn unlock(&self, tenant: &TenantId, name: &str) -> Result<(), PortError> {
        let (pk, _) = keys::integration(tenant);
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, format!("lock#{name}"))))
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn record_seen(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
        part: &str,
        ids: &[String],
        hashes: &[String],
    ) -> Result<(), PortError> {
        // One item per work item (a page of at most 1000 ids and hashes, ~70 KB), kept for a week.
        // One string attribute, not lists of 1000 elements: the same size in DynamoDB, and far
        // less to (de)serialize for every page on both sides.
        let mut item = Self::key(keys::sync_runs(tenant), seen_sk(st, run_id, part));
        item.insert("tenant".into(), s(tenant.as_str()));
        if !ids.is_empty() {
            item.insert(SEEN.into(), s(seen_entries(ids, hashes)));
        }
        item.insert(keys::TTL.into(), n(now().unix_timestamp() + 7 * 24 * 3600));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(port_error)?;
        Ok(())
    }

    async fn seen_hashes(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
        part: &str,
    ) -> Result<Option<HashMap<String, String>>, PortError> {
        let Some(item) = self.get(keys::sync_runs(tenant), seen_sk(st, run_id, part)).await? else {
            return Ok(None);
        };
        let entries = item.get(SEEN).and_then(|v| v.as_s().ok()).map_or("", String::as_str);
        let mut out = HashMap::new();
        for line in entries.lines() {
            // An entry without a hash (recorded without hashes): the record cannot vouch for it.
            let Some((id, hash)) = line.split_once(' ') else { return Ok(None) };
            out.insert(id.to_owned(), hash.to_owned());
        }
        Ok(Some(out))
    }

    async fn seen_in_run(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
    ) -> Result<Vec<(String, Vec<String>)>, PortError> {
        let prefix = format!("seen#{}#{}#", st.as_str(), run_id);
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
                .expression_attribute_values(":p", s(keys::sync_runs(tenant)))
                .expression_attribute_values(":prefix", s(prefix.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(port_error)?;
            for item in page.items() {
                let part = item.get("sk").and_then(|v| v.as_s().ok()).and_then(|sk| sk.strip_prefix(&prefix));
                if let Some(part) = part {
                    let entries = item.get(SEEN).and_then(|v| v.as_s().ok()).map_or("", String::as_str);
                    let ids = entries.lines().filter_map(|l| l.split(' ').next()).filter(|id| !id.is_empty());
                    out.push((part.to_owned(), ids.map(str::to_owned).collect()));
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    async fn latest_run(&self, tenant: &TenantId, st: SyncType) -> Result<Option<SyncRun>, PortError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
            .expression_attribute_values(":p", s(keys::sync_runs(tenant)))
            .expression_attribute_values(":prefix", s(format!("{}#", st.as_str())))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(port_error)?;
        out.items().first().map(from_item).transpose()
    }
}
