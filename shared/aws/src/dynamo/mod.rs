//! DynamoDB adapter: one table, keys lead with the tenant (`{tenant}#{entity}`, all in
//! [`crate::keys`]), entity names from the admin guide. The [`Store`] port is implemented here
//! and carried out per concern: integrations and tenant locks, sync runs, seen records.

mod integration;
mod query;
mod runs;
mod seen;
mod update;

pub use crate::keys;
pub(crate) use query::{for_each_page, query_all};
pub use update::Update;

use crate::item::Item;
use crate::keys::key;
use crate::port_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use shared::domain::{IntegrationPatch, RmmIntegration, SyncRun, SyncRunStatus};
use shared::messages::SyncType;
use shared::ports::{PortError, RunProgress, StartOutcome, Store};
use shared::tenant::TenantId;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// The remote-action audit log's own table (only remote-actions may write it).
    audit_table: String,
    /// Tenants whose assets are known to be sharded, shared by the clones of this store.
    sharded: Arc<crate::sharding::ShardedTenants>,
}

/// Errors kept on one run record (each at most 300 characters): far below DynamoDB's 400 KB.
pub const MAX_RUN_ERRORS: i64 = 20;

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self { client, audit_table: table.clone(), table, sharded: Arc::default() }
    }

    /// A store that never moves a tenant's legacy assets into their shards (the webhook: its
    /// 10 s budget is for the delivery); it reads an unmoved tenant's assets by id from both
    /// layouts. Every other function moves them on first use.
    pub fn without_moves(mut self) -> Self {
        self.sharded = Arc::new(crate::sharding::ShardedTenants::without_moves());
        self
    }

    pub(crate) fn sharded_tenants(&self) -> &crate::sharding::ShardedTenants {
        &self.sharded
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

    /// One item by key, consistently read.
    pub(crate) async fn get(&self, pk: String, sk: String) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(port_error)?;
        Ok(out.item)
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get_integration(&self, tenant: &TenantId) -> Result<Option<RmmIntegration>, PortError> {
        integration::get_integration(self, tenant).await
    }

    async fn patch_integration(&self, tenant: &TenantId, p: &IntegrationPatch) -> Result<RmmIntegration, PortError> {
        integration::patch_integration(self, tenant, p).await
    }

    async fn list_active_integrations(&self) -> Result<Vec<RmmIntegration>, PortError> {
        integration::list_active_integrations(self).await
    }

    async fn try_start_run(&self, run: &SyncRun, lock_secs: i64) -> Result<StartOutcome, PortError> {
        runs::try_start_run(self, run, lock_secs).await
    }

    async fn get_run(&self, tenant: &TenantId, st: SyncType, run_id: &str) -> Result<Option<SyncRun>, PortError> {
        runs::get_run(self, tenant, st, run_id).await
    }

    async fn add_run_progress(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
        p: &RunProgress,
    ) -> Result<Option<SyncRun>, PortError> {
        runs::add_run_progress(self, tenant, st, run_id, p).await
    }

    async fn finish_run(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
        status: SyncRunStatus,
        message: Option<String>,
    ) -> Result<bool, PortError> {
        runs::finish_run(self, tenant, st, run_id, status, message).await
    }

    async fn try_lock(&self, tenant: &TenantId, name: &str, ttl_secs: i64) -> Result<bool, PortError> {
        integration::try_lock(self, tenant, name, ttl_secs).await
    }

    async fn unlock(&self, tenant: &TenantId, name: &str) -> Result<(), PortError> {
        integration::unlock(self, tenant, name).await
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
        seen::record_seen(self, tenant, st, run_id, part, ids, hashes).await
    }

    async fn seen_hashes(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
        part: &str,
    ) -> Result<Option<HashMap<String, String>>, PortError> {
        seen::seen_hashes(self, tenant, st, run_id, part).await
    }

    async fn seen_in_run(
        &self,
        tenant: &TenantId,
        st: SyncType,
        run_id: &str,
    ) -> Result<Vec<(String, Vec<String>)>, PortError> {
        seen::seen_in_run(self, tenant, st, run_id).await
    }

    async fn latest_run(&self, tenant: &TenantId, st: SyncType) -> Result<Option<SyncRun>, PortError> {
        runs::latest_run(self, tenant, st).await
    }
}
