//! [`MemoryStore`]: the DynamoDB adapter's semantics over in-memory tables (same keys, same
//! conditions), and its [`Store`] part: integrations, sync runs, run locks, seen records.

use super::items::{Item, Table, add, from_item, json, set, set_if_not_exists, set_opt, str_attr, to_item};
use crate::domain::time::to_rfc3339;
use crate::domain::{IntegrationPatch, RmmIntegration, SyncRun, SyncRunStatus};
use crate::messages::SyncType;
use crate::ports::{PortError, RunProgress, StartOutcome, Store};
use crate::tenant::TenantId;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};
use time::OffsetDateTime;

/// Errors kept on one run record, as the DynamoDB adapter bounds them.
const MAX_RUN_ERRORS: usize = 20;
/// Errors one progress report adds, each cut to this many characters.
const ERRORS_PER_PROGRESS: usize = 5;
const ERROR_CHARS: usize = 300;
/// How long seen records are kept (TTL), as in the DynamoDB adapter.
const SEEN_TTL_SECS: i64 = 7 * 24 * 3600;
const ACTIVE_INTEGRATIONS: &str = "rmm_integrations#active";

pub(crate) mod keys {
    use crate::messages::SyncType;
    use crate::tenant::TenantId;
    pub fn integration(t: &TenantId) -> String {
        format!("{t}#rmm_integrations")
    }
    pub const INTEGRATION_SK: &str = "tacticalrmm";
    pub fn sync_runs(t: &TenantId) -> String {
        format!("{t}#sync_runs")
    }
    pub fn run_sk(st: SyncType, run_id: &str) -> String {
        format!("{}#{run_id}", st.as_str())
    }
    pub fn lock_sk(st: SyncType) -> String {
        format!("lock#{}", st.as_str())
    }
    pub fn seen_prefix(st: SyncType, run_id: &str) -> String {
        format!("seen#{}#{run_id}#", st.as_str())
    }
}

#[derive(Debug, Default)]
pub(crate) struct Tables {
    pub main: Table,
    /// The remote-action audit log has a table of its own in production.
    pub audit: Table,
}

/// Every store port in memory. Cheap to share (`Arc<MemoryStore>` as `Arc<dyn Store>`).
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    /// Seconds added to the wall clock: lets a test expire locks without sleeping.
    clock_offset: AtomicI64,
    /// Alert items the alert store's reads returned or examined (what DynamoDB would bill).
    pub(crate) alert_items_read: std::sync::atomic::AtomicU64,
    /// Asset ids looked up by `asset_states` (link and change-detection reads).
    pub(crate) asset_states_read: std::sync::atomic::AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the store's clock (lock expiry, the times it stamps) forward by `secs`.
    pub fn advance_clock(&self, secs: i64) {
        self.clock_offset.fetch_add(secs, Ordering::SeqCst);
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        crate::domain::time::now() + time::Duration::seconds(self.clock_offset.load(Ordering::SeqCst))
    }

    pub(crate) fn now_rfc3339(&self) -> String {
        to_rfc3339(self.now())
    }

    /// The tables; a test that panicked while holding them leaves them as they were (no poison).
    pub(crate) fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The (pk, sk) of every item of the main table put whole, upserted or deleted since the last
    /// call, in order (assertions on what a use case wrote; conditional updates of an existing
    /// item in place, such as a status transition onto its asset, are not listed).
    pub fn take_writes(&self) -> Vec<(String, String)> {
        self.tables().main.take_writes()
    }

    /// How many items the main table holds under a tenant (assertions on what a use case wrote).
    pub fn item_count(&self, tenant: &TenantId) -> usize {
        let prefix = format!("{tenant}#");
        self.tables().main.scan().filter(|i| str_attr(i, "pk").is_some_and(|pk| pk.starts_with(&prefix))).count()
    }

    fn progress_once(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
        p: &RunProgress,
        with_errors: bool,
    ) -> Result<Option<SyncRun>, PortError> {
        if p.work_item.is_some() && p.undo_item.is_some() {
            // One UpdateExpression cannot ADD to and DELETE from the same set.
            return Err(PortError::Other("ValidationException: Two document paths overlap".into()));
        }
        let mut t = self.tables();
        let Some(item) = t.main.get_mut(&keys::sync_runs(tenant), &keys::run_sk(st, run_id)) else {
            return Ok(None);
        };
        // A finished run takes no more progress (a late duplicate must not reopen it).
        if matches!(str_attr(item, "status"), Some("succeeded" | "partial" | "failed")) {
            return Ok(None);
        }
        let errors_len = item.get("errors").and_then(Value::as_array).map_or(0, Vec::len);
        let add_errors = with_errors && !p.errors.is_empty();
        if add_errors && errors_len >= MAX_RUN_ERRORS {
            return Ok(None);
        }
        let done: Vec<String> = item
            .get("done_items")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        if let Some(wi) = &p.work_item
            && done.contains(wi)
        {
            return Ok(None);
        }
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
            add(item, attr, v);
        }
        set(item, "status", "running");
        if add_errors {
            let errs = item.entry("errors").or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(a) = errs {
                a.extend(
                    p.errors
                        .iter()
                        .take(ERRORS_PER_PROGRESS)
                        .map(|e| Value::String(e.chars().take(ERROR_CHARS).collect())),
                );
            }
        }
        // A string set: unique, and removed when its last element is deleted.
        let mut done = done;
        if let Some(wi) = &p.work_item {
            done.push(wi.clone());
        }
        if let Some(undo) = &p.undo_item {
            done.retain(|d| d != undo);
        }
        done.sort();
        done.dedup();
        if done.is_empty() {
            item.remove("done_items");
        } else {
            set(item, "done_items", json(&done));
        }
        from_item(item).map(Some)
    }

    fn lock_free(item: Option<&Item>, now_epoch: i64) -> bool {
        // `attribute_not_exists(pk) OR expires_at < :now`
        item.is_none_or(|i| i.get("expires_at").and_then(Value::as_i64).is_some_and(|e| e < now_epoch))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get_integration(&self, tenant: &TenantId) -> Result<Option<RmmIntegration>, PortError> {
        self.tables().main.get(&keys::integration(tenant), keys::INTEGRATION_SK).map(from_item).transpose()
    }

    async fn patch_integration(&self, tenant: &TenantId, p: &IntegrationPatch) -> Result<RmmIntegration, PortError> {
        let now = self.now_rfc3339();
        let mut t = self.tables();
        if p.only_without_webhook_digests {
            let item = t.main.get(&keys::integration(tenant), keys::INTEGRATION_SK);
            if item.is_none_or(|i| i.contains_key("webhook_digests")) {
                return Err(PortError::ConditionFailed("The conditional request failed".into()));
            }
        }
        let i = t.main.upsert(&keys::integration(tenant), keys::INTEGRATION_SK);
        set(i, "tenant", tenant.as_str());
        set(i, "provider", crate::domain::integration::PROVIDER);
        set(i, "entity", "rmm_integration");
        set(i, "updated_at", now);
        if let Some(url) = &p.instance_url {
            set(i, "instance_url", url.as_str());
        }
        if let Some(m) = p.auth_mode {
            set(i, "auth_mode", json(&m));
        }
        match p.is_active {
            Some(active) => {
                set(i, "is_active", active);
                // The sparse index of active integrations, read by the scheduler.
                if active {
                    set(i, "gsi1pk", ACTIVE_INTEGRATIONS);
                    set(i, "gsi1sk", tenant.as_str());
                } else {
                    i.remove("gsi1pk");
                    i.remove("gsi1sk");
                }
            }
            None => set_if_not_exists(i, "is_active", false),
        }
        if let Some(v) = &p.connected_at {
            set_opt(i, "connected_at", v.clone());
        }
        if let Some(v) = &p.disconnected_at {
            set_opt(i, "disconnected_at", v.clone());
        }
        if let Some(v) = p.reauth_required {
            set(i, "reauth_required", v);
        }
        if let Some(v) = &p.last_sync_at {
            set(i, "last_sync_at", v.clone());
        }
        if let Some(v) = &p.sync_status {
            set(i, "sync_status", v.clone());
        }
        if let Some(v) = &p.sync_error {
            set_opt(i, "sync_error", v.clone());
        }
        for (kind, sched) in &p.schedules {
            set(i, kind.attribute(), json(sched));
        }
        if let Some(v) = &p.last_complete_device_run {
            set_opt(i, "last_complete_device_run", v.clone());
        }
        if let Some(v) = &p.knox_token_expires_at {
            set_opt(i, "knox_token_expires_at", v.clone());
        }
        if let Some(v) = &p.webhook_previous_valid_until {
            set_opt(i, "webhook_previous_valid_until", v.clone());
        }
        if let Some(v) = &p.webhook_secret_version {
            set(i, "webhook_secret_version", v.clone());
        }
        if let Some(d) = &p.webhook_digests {
            set(i, "webhook_digests", json(d));
        }
        for (sync_type, at) in &p.last_started {
            set(i, &format!("last_started_{sync_type}"), at.clone());
        }
        from_item(i)
    }

    async fn list_active_integrations(&self) -> Result<Vec<RmmIntegration>, PortError> {
        let t = self.tables();
        let mut active: Vec<&Item> =
            t.main.scan().filter(|i| str_attr(i, "gsi1pk") == Some(ACTIVE_INTEGRATIONS)).collect();
        active.sort_by_key(|i| str_attr(i, "gsi1sk").unwrap_or_default().to_owned());
        let mut out = Vec::new();
        for item in active {
            // One unreadable item must not stop the scheduler for every tenant.
            match from_item(item) {
                Ok(i) => out.push(i),
                Err(e) => tracing::error!(error = %e, "skipping an unreadable integration item"),
            }
        }
        Ok(out)
    }

    async fn try_start_run(&self, run: &SyncRun, lock_secs: i64) -> Result<StartOutcome, PortError> {
        let now_epoch = self.now().unix_timestamp();
        let pk = keys::sync_runs(&run.tenant);
        let lock_sk = keys::lock_sk(run.sync_type);
        let mut t = self.tables();
        let lock = t.main.get(&pk, &lock_sk);
        if !Self::lock_free(lock, now_epoch) {
            let holder = lock.and_then(|l| str_attr(l, "run_id")).unwrap_or_default().to_owned();
            if holder.is_empty() {
                return Err(PortError::Other("could not start or find the sync run after concurrent attempts".into()));
            }
            return Ok(StartOutcome::AlreadyRunning { run_id: holder });
        }
        let mut l = Item::new();
        set(&mut l, "run_id", run.run_id.clone());
        set(&mut l, "expires_at", now_epoch + lock_secs);
        set(&mut l, "tenant", run.tenant.as_str());
        t.main.put(&pk, &lock_sk, l);
        let mut item = to_item(run)?;
        set(&mut item, "entity", "sync_run");
        t.main.put(&pk, &keys::run_sk(run.sync_type, &run.run_id), item);
        Ok(StartOutcome::Started(Box::new(run.clone())))
    }

    async fn get_run(&self, tenant: &TenantId, st: SyncType, run_id: &str) -> Result<Option<SyncRun>, PortError> {
        self.tables().main.get(&keys::sync_runs(tenant), &keys::run_sk(st, run_id)).map(from_item).transpose()
    }

    async fn add_run_progress(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
        p: &RunProgress,
    ) -> Result<Option<SyncRun>, PortError> {
        match self.progress_once(tenant, st, run_id, p, true)? {
            Some(run) => Ok(Some(run)),
            // The error list may be full (or the item a duplicate): the counts still count.
            None if !p.errors.is_empty() => self.progress_once(tenant, st, run_id, p, false),
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
        let now = self.now_rfc3339();
        let pk = keys::sync_runs(tenant);
        let mut t = self.tables();
        let finished = match t.main.get_mut(&pk, &keys::run_sk(st, run_id)) {
            Some(item) if !item.contains_key("finished_at") => {
                set(item, "status", json(&status));
                set(item, "finished_at", now);
                if let Some(m) = message {
                    set(item, "message", m);
                }
                true
            }
            _ => false,
        };
        // Release the lock only if this run still holds it.
        let lock_sk = keys::lock_sk(st);
        if t.main.get(&pk, &lock_sk).and_then(|l| str_attr(l, "run_id")) == Some(run_id) {
            t.main.delete(&pk, &lock_sk);
        }
        Ok(finished)
    }

    async fn latest_run(&self, tenant: &TenantId, st: SyncType) -> Result<Option<SyncRun>, PortError> {
        let prefix = format!("{}#", st.as_str());
        let t = self.tables();
        let last = t.main.query(&keys::sync_runs(tenant), &prefix).next_back();
        last.map(|(_, i)| from_item(i)).transpose()
    }

    async fn try_lock(&self, tenant: &TenantId, name: &str, ttl_secs: i64) -> Result<bool, PortError> {
        let now_epoch = self.now().unix_timestamp();
        let (pk, sk) = (keys::integration(tenant), format!("lock#{name}"));
        let mut t = self.tables();
        if !Self::lock_free(t.main.get(&pk, &sk), now_epoch) {
            return Ok(false);
        }
        let mut l = Item::new();
        set(&mut l, "tenant", tenant.as_str());
        set(&mut l, "expires_at", now_epoch + ttl_secs);
        t.main.put(&pk, &sk, l);
        Ok(true)
    }

    async fn unlock(&self, tenant: &TenantId, name: &str) -> Result<(), PortError> {
        self.tables().main.delete(&keys::integration(tenant), &format!("lock#{name}"));
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
        // The adapter's one-string encoding: `{asset id}` or `{asset id} {hash}` per line.
        let lines: Vec<String> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| match hashes.get(i) {
                Some(h) => format!("{id} {h}"),
                None => id.clone(),
            })
            .collect();
        let mut item = Item::new();
        set(&mut item, "tenant", tenant.as_str());
        if !ids.is_empty() {
            set(&mut item, "seen", lines.join("\n"));
        }
        set(&mut item, "expires_at", self.now().unix_timestamp() + SEEN_TTL_SECS);
        let sk = format!("{}{part}", keys::seen_prefix(st, run_id));
        self.tables().main.put(&keys::sync_runs(tenant), &sk, item);
        Ok(())
    }

    async fn seen_hashes(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
        part: &str,
    ) -> Result<Option<HashMap<String, String>>, PortError> {
        let sk = format!("{}{part}", keys::seen_prefix(st, run_id));
        let t = self.tables();
        let Some(item) = t.main.get(&keys::sync_runs(tenant), &sk) else { return Ok(None) };
        let mut out = HashMap::new();
        for line in str_attr(item, "seen").unwrap_or_default().lines() {
            // An entry without a hash: the record cannot vouch for it.
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
        let prefix = keys::seen_prefix(st, run_id);
        let t = self.tables();
        Ok(t.main
            .query(&keys::sync_runs(tenant), &prefix)
            .map(|(sk, item)| {
                let ids = str_attr(item, "seen")
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.split(' ').next())
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
                    .collect();
                (sk[prefix.len()..].to_owned(), ids)
            })
            .collect())
    }
}
