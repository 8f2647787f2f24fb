//! The small traits the domain depends on. Adapters: [`crate::aws`] (DynamoDB, Secrets Manager,
//! SQS) and [`crate::tactical::TacticalHttp`].

use crate::messages::{QueueKind, SyncMessage};
use crate::tenant::TenantId;
use async_trait::async_trait;
use secrecy::SecretString;

/// Infrastructure failures. Callers act on `Throttled` and `ConditionFailed`; the rest is opaque
/// (logged, answered as an internal error).
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("a conditional write lost: {0}")]
    ConditionFailed(String),
    #[error("the AWS service throttled the request")]
    Throttled,
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    #[error("AWS call failed: {0}")]
    Other(String),
}

/// Per-tenant secrets, named as in the admin guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretName {
    ApiKey,
    Username,
    Password,
    KnoxToken,
    WebhookSecret,
    /// The secret before the last rotation, accepted until the grace period ends.
    WebhookSecretPrevious,
}

impl SecretName {
    pub const ALL: [SecretName; 6] = [
        SecretName::ApiKey,
        SecretName::Username,
        SecretName::Password,
        SecretName::KnoxToken,
        SecretName::WebhookSecret,
        SecretName::WebhookSecretPrevious,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::ApiKey => "tacticalrmm_api_key",
            SecretName::Username => "tacticalrmm_username",
            SecretName::Password => "tacticalrmm_password",
            SecretName::KnoxToken => "tacticalrmm_knox_token",
            SecretName::WebhookSecret => "tacticalrmm_webhook_secret",
            SecretName::WebhookSecretPrevious => "tacticalrmm_webhook_secret_previous",
        }
    }
}

/// Every secret a tenant has, read at once ([`SecretStore::bundle`]).
#[derive(Debug, Clone, Default)]
pub struct SecretBundle {
    values: std::collections::HashMap<SecretName, SecretString>,
}

impl SecretBundle {
    pub fn get(&self, name: SecretName) -> Option<&SecretString> {
        self.values.get(&name)
    }

    /// An owned copy of one value (what [`SecretStore::get`] answers).
    pub fn value(&self, name: SecretName) -> Option<SecretString> {
        self.values.get(&name).cloned()
    }

    pub fn insert(&mut self, name: SecretName, value: SecretString) {
        self.values.insert(name, value);
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether `self` and `other` hold the same value under `name` (both absent counts as same).
    pub fn same(&self, other: &SecretBundle, name: SecretName) -> bool {
        use secrecy::ExposeSecret;
        self.get(name).map(|s| s.expose_secret()) == other.get(name).map(|s| s.expose_secret())
    }
}

impl FromIterator<(SecretName, SecretString)> for SecretBundle {
    fn from_iter<I: IntoIterator<Item = (SecretName, SecretString)>>(iter: I) -> Self {
        Self { values: iter.into_iter().collect() }
    }
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, tenant: &TenantId, name: SecretName) -> Result<Option<SecretString>, PortError>;
    /// Every secret of the tenant in one read. Use cases that need more than one name read this:
    /// the Secrets Manager adapter keeps them in one secret, so a read per name would fetch the
    /// whole bundle each time. The default reads name by name (adapters that keep them apart).
    async fn bundle(&self, tenant: &TenantId) -> Result<SecretBundle, PortError> {
        let mut bundle = SecretBundle::default();
        for name in SecretName::ALL {
            if let Some(v) = self.get(tenant, name).await? {
                bundle.insert(name, v);
            }
        }
        Ok(bundle)
    }
    /// [`Self::bundle`] for credentials about to be sent to `host` (the integration's instance
    /// URL as read now). A store that keeps copies hands one out only to the host it was first
    /// read for: credentials are bound to their host, and another process may have moved the
    /// integration to a new host (deleting the old credentials first) since the copy was made.
    async fn bundle_for(&self, tenant: &TenantId, host: &str) -> Result<SecretBundle, PortError> {
        let _ = host;
        self.bundle(tenant).await
    }
    /// True for a store that keeps copies of what it read (a cache in front of the real one): a
    /// credential it hands out may have been replaced by another process since.
    fn caches(&self) -> bool {
        false
    }
    /// Drops the copy of the tenant's secrets held in front of the store, so the next read is
    /// fresh. Returns the copy it held (a store that keeps none: `None`).
    fn forget(&self, _tenant: &TenantId) -> Option<SecretBundle> {
        None
    }
    async fn put(&self, tenant: &TenantId, name: SecretName, value: &SecretString) -> Result<(), PortError>;
    /// Deleting a secret that does not exist is not an error.
    async fn delete(&self, tenant: &TenantId, name: SecretName) -> Result<(), PortError>;
    /// Every secret of the tenant (disconnect). An adapter that keeps them together deletes them
    /// in one call.
    async fn delete_all(&self, tenant: &TenantId) -> Result<(), PortError> {
        for name in SecretName::ALL {
            self.delete(tenant, name).await?;
        }
        Ok(())
    }
}

/// For functions that read no secret (webhook, scheduler): every call fails, so a code path that
/// would reach Secrets Manager fails in tests too instead of only where IAM refuses it.
pub struct NoSecrets;

impl NoSecrets {
    fn refused() -> PortError {
        PortError::Other("this function reads no secret".into())
    }
}

#[async_trait]
impl SecretStore for NoSecrets {
    async fn get(&self, _: &TenantId, _: SecretName) -> Result<Option<SecretString>, PortError> {
        Err(Self::refused())
    }
    async fn bundle(&self, _: &TenantId) -> Result<SecretBundle, PortError> {
        Err(Self::refused())
    }
    async fn put(&self, _: &TenantId, _: SecretName, _: &SecretString) -> Result<(), PortError> {
        Err(Self::refused())
    }
    async fn delete(&self, _: &TenantId, _: SecretName) -> Result<(), PortError> {
        Err(Self::refused())
    }
    async fn delete_all(&self, _: &TenantId) -> Result<(), PortError> {
        Err(Self::refused())
    }
}

#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Sends messages in batches of ten; fails if any message could not be sent.
    async fn send(&self, queue: QueueKind, messages: &[SyncMessage]) -> Result<(), PortError>;
}

use crate::domain::{IntegrationPatch, RmmIntegration, SyncCounts, SyncRun, SyncRunStatus};
use crate::messages::SyncType;

/// Outcome of trying to start a run: at most one run per tenant and sync type at a time.
#[derive(Debug, Clone, PartialEq)]
pub enum StartOutcome {
    Started(Box<SyncRun>),
    AlreadyRunning { run_id: String },
}

/// Progress reported by one work item of a run.
#[derive(Debug, Clone, Default)]
pub struct RunProgress {
    pub counts: SyncCounts,
    /// Work items added (fan-out) minus work items finished.
    pub pending_delta: i64,
    pub errors: Vec<String>,
    /// Applies this progress at most once per run: SQS may deliver a message twice, and a retried
    /// page must not be counted (or fanned out) twice.
    pub work_item: Option<String>,
    /// Forgets a work item recorded earlier (its effect failed and is being rolled back).
    pub undo_item: Option<String>,
}

/// Persistence of the domain. Every key the adapter writes leads with the tenant.
#[async_trait]
pub trait Store: InventoryStore + AlertStore + SoftwareStore + AuditStore + StatusStore + Send + Sync {
    async fn get_integration(&self, tenant: &TenantId) -> Result<Option<RmmIntegration>, PortError>;
    /// Creates the item if needed and writes only the patched fields; returns the new state.
    async fn patch_integration(&self, tenant: &TenantId, patch: &IntegrationPatch)
    -> Result<RmmIntegration, PortError>;
    /// Every active integration (for the scheduler), across tenants.
    async fn list_active_integrations(&self) -> Result<Vec<RmmIntegration>, PortError>;

    /// Records a new run unless one of the same type is in progress (lock expires after `lock_secs`).
    async fn try_start_run(&self, run: &SyncRun, lock_secs: i64) -> Result<StartOutcome, PortError>;
    async fn get_run(&self, tenant: &TenantId, sync_type: SyncType, run_id: &str)
    -> Result<Option<SyncRun>, PortError>;
    /// Adds counts atomically; returns the run as it is after the update, or `None` when the
    /// progress names a work item already applied (or the run does not exist).
    async fn add_run_progress(
        &self,
        tenant: &TenantId,
        sync_type: SyncType,
        run_id: &str,
        progress: &RunProgress,
    ) -> Result<Option<SyncRun>, PortError>;
    /// Marks the run finished (once: a second call is a no-op) and releases the lock.
    async fn finish_run(
        &self,
        tenant: &TenantId,
        sync_type: SyncType,
        run_id: &str,
        status: SyncRunStatus,
        message: Option<String>,
    ) -> Result<bool, PortError>;
    async fn latest_run(&self, tenant: &TenantId, sync_type: SyncType) -> Result<Option<SyncRun>, PortError>;
    /// A short named lock of a tenant (expires after `ttl_secs`); false when someone holds it.
    async fn try_lock(&self, tenant: &TenantId, name: &str, ttl_secs: i64) -> Result<bool, PortError>;
    async fn unlock(&self, tenant: &TenantId, name: &str) -> Result<(), PortError>;
    /// Records which agents one work item of a run saw (expires with the run's bookkeeping), with
    /// the sync hash each was left at (`hashes`: parallel to `ids`, or empty).
    async fn record_seen(
        &self,
        tenant: &TenantId,
        sync_type: SyncType,
        run_id: &str,
        part: &str,
        ids: &[String],
        hashes: &[String],
    ) -> Result<(), PortError>;
    /// What one work item of a run recorded: asset id → sync hash (`None`: nothing recorded, or
    /// recorded without hashes).
    async fn seen_hashes(
        &self,
        tenant: &TenantId,
        sync_type: SyncType,
        run_id: &str,
        part: &str,
    ) -> Result<Option<std::collections::HashMap<String, String>>, PortError>;
    /// Everything recorded with `record_seen` for a run: each part with its ids.
    async fn seen_in_run(
        &self,
        tenant: &TenantId,
        sync_type: SyncType,
        run_id: &str,
    ) -> Result<Vec<(String, Vec<String>)>, PortError>;
}

use crate::domain::asset::{Asset, AssetState, ExternalEntityMapping};
use crate::domain::mapping::{MappingPatch, OrgMapping, TacticalOrg};

/// Result of writing one organization mapping from Tactical's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingWrite {
    Created,
    Updated,
}

/// An asset to write, with what the sync learned about it.
#[derive(Debug, Clone)]
pub struct AssetWrite {
    pub asset: Asset,
    /// The external entity mapping must be (re)written too: new agent, or moved/renamed site.
    pub mapping: Option<ExternalEntityMapping>,
}

/// Persistence of organization mappings, assets and external entity mappings.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    async fn list_org_mappings(&self, tenant: &TenantId) -> Result<Vec<OrgMapping>, PortError>;
    async fn get_org_mapping(
        &self,
        tenant: &TenantId,
        tactical_client_id: &str,
    ) -> Result<Option<OrgMapping>, PortError>;
    /// Writes the Tactical-owned fields only; person-set fields are created with defaults once
    /// and never overwritten. Clears `missing_since`.
    async fn write_org_mapping(
        &self,
        tenant: &TenantId,
        org: &TacticalOrg,
        now: &str,
    ) -> Result<MappingWrite, PortError>;
    /// Flags a mapping whose client is gone from Tactical (idempotent: keeps the first time).
    async fn flag_org_mapping_missing(
        &self,
        tenant: &TenantId,
        tactical_client_id: &str,
        now: &str,
    ) -> Result<(), PortError>;
    /// A person's edit; `None` when the mapping does not exist.
    async fn patch_org_mapping(
        &self,
        tenant: &TenantId,
        tactical_client_id: &str,
        patch: &MappingPatch,
        now: &str,
    ) -> Result<Option<OrgMapping>, PortError>;

    /// Reads assets by id (missing ids are simply absent).
    async fn get_assets(&self, tenant: &TenantId, asset_ids: &[String]) -> Result<Vec<Asset>, PortError>;
    /// Writes assets; a mapping that comes with an asset is written first, so no asset ever
    /// exists without its mapping (an idempotent pair of writes).
    async fn write_assets(&self, tenant: &TenantId, writes: &[AssetWrite]) -> Result<(), PortError>;
    /// Every asset of the tenant (paged internally).
    async fn list_assets(&self, tenant: &TenantId) -> Result<Vec<Asset>, PortError>;
    /// The change-detection state of assets by id (missing ids are simply absent).
    async fn asset_states(&self, tenant: &TenantId, asset_ids: &[String]) -> Result<Vec<AssetState>, PortError>;
    /// The change-detection state of every asset of the tenant.
    async fn list_asset_states(&self, tenant: &TenantId) -> Result<Vec<AssetState>, PortError>;
    /// Whether the tenant has any asset at all.
    async fn has_assets(&self, tenant: &TenantId) -> Result<bool, PortError>;
    /// Up to `limit` assets after the asset id `after` (ordered by asset id), and the id to
    /// continue after when there may be more.
    async fn assets_page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Asset>, Option<String>), PortError>;
    async fn get_external_mapping(
        &self,
        tenant: &TenantId,
        agent_id: &str,
    ) -> Result<Option<ExternalEntityMapping>, PortError>;
    /// Every external entity mapping of the tenant.
    async fn list_external_mappings(&self, tenant: &TenantId) -> Result<Vec<ExternalEntityMapping>, PortError>;
    /// Flags assets whose agents are gone from Tactical (keeps an existing flag's time).
    async fn flag_assets_missing(&self, tenant: &TenantId, asset_ids: &[String], now: &str) -> Result<(), PortError>;
}

use crate::domain::alerts::RmmAlert;

/// A page of alerts for the list API.
#[derive(Debug, Clone, Default)]
pub struct AlertPage {
    pub alerts: Vec<RmmAlert>,
    /// Opaque cursor for the next page.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub status: Option<String>,
    pub asset_id: Option<String>,
    pub limit: i32,
    pub cursor: Option<String>,
}

/// Webhook delivery fingerprints kept on an alert item for deduplication (Tactical never
/// retries: duplicates come from overlapping URL actions, seconds apart).
pub const RECENT_DELIVERIES: usize = 50;

/// Persistence of rmm_alerts.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// The alert (none if not recorded yet) and the fingerprints of its recent webhook deliveries.
    async fn get_alert_with_deliveries(
        &self,
        tenant: &TenantId,
        alert_key: &str,
    ) -> Result<(Option<RmmAlert>, Vec<String>), PortError>;
    /// Writes the whole alert with its recent deliveries in one write, if its stored version is
    /// still `alert.version - 1`.
    async fn put_alert_with_deliveries(&self, alert: &RmmAlert, deliveries: &[String]) -> Result<bool, PortError>;
    async fn get_alert(&self, tenant: &TenantId, alert_key: &str) -> Result<Option<RmmAlert>, PortError>;
    /// Writes the alert if its stored version is still `alert.version - 1` (optimistic lock).
    async fn put_alert(&self, alert: &RmmAlert) -> Result<bool, PortError>;
    /// Clears the pending events of `alert` (they were published) if it is still at
    /// `alert.version`; `false` when it moved on (its newer state holds them, maybe with more).
    /// An alert that is not open leaves the open set with them.
    async fn clear_pending_events(&self, alert: &RmmAlert) -> Result<bool, PortError>;
    /// The stored state of these alerts, read consistently in bulk (missing keys are left out).
    async fn get_alerts(&self, tenant: &TenantId, alert_keys: &[String]) -> Result<Vec<RmmAlert>, PortError>;
    /// The open alert of an agent and alert type (for resolves that carry no alert id).
    async fn open_alert_pointer(&self, tenant: &TenantId, pointer: &str) -> Result<Option<String>, PortError>;
    async fn set_open_alert_pointer(
        &self,
        tenant: &TenantId,
        pointer: &str,
        alert_key: Option<&str>,
    ) -> Result<(), PortError>;
    async fn list_alerts(&self, tenant: &TenantId, q: &AlertQuery) -> Result<AlertPage, PortError>;
    /// The open set: every alert of the tenant that is open (active or suppressed) or has changes
    /// still to publish, read without touching resolved history. Every alert write keeps an alert
    /// in it or out of it. The read may lag the writes by a moment (DynamoDB: a sparse GSI,
    /// eventually consistent), so a state listed here may be older than the stored one: writes
    /// based on it are conditional on its version. `None` until [`Self::index_open_alerts`]
    /// indexed the tenant's alerts written before the open set existed.
    async fn open_or_pending_alerts(&self, tenant: &TenantId) -> Result<Option<Vec<RmmAlert>>, PortError>;
    /// Once per tenant: one pass over all its alerts that adds the open or pending ones written
    /// before the open set existed, then records that the tenant is indexed. Idempotent. Returns
    /// the open-or-pending alerts it read (consistently).
    async fn index_open_alerts(&self, tenant: &TenantId) -> Result<Vec<RmmAlert>, PortError>;
    /// Every open (active or suppressed) alert of the tenant: the open set, or one pass over all
    /// its alerts while it is not indexed yet (no write: a read never migrates).
    async fn open_alerts(&self, tenant: &TenantId) -> Result<Vec<RmmAlert>, PortError> {
        if let Some(set) = self.open_or_pending_alerts(tenant).await? {
            return Ok(set.into_iter().filter(RmmAlert::is_open).collect());
        }
        let (mut out, mut cursor) = (Vec::new(), None);
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
    /// Adds (or removes) the small index item linking a PSA ticket to an alert.
    async fn set_ticket_link(
        &self,
        tenant: &TenantId,
        ticket_id: &str,
        alert_key: &str,
        linked: bool,
    ) -> Result<(), PortError>;
    /// Keys of the alerts linked to a ticket (at most `limit`), from the index items; a key may
    /// be stale (the alert moved to another ticket), so callers check the alert's `ticket_id`.
    async fn ticket_alert_keys(&self, tenant: &TenantId, ticket_id: &str, limit: i32)
    -> Result<Vec<String>, PortError>;
}

use crate::domain::software::{AssetSoftware, CatalogDelta, CatalogEntry, SoftwareInventory};

/// Persistence of the software catalog, asset software links and per-asset inventory records
/// (docs/software.md).
#[async_trait]
pub trait SoftwareStore: Send + Sync {
    /// Inventory records by asset id (assets without one are simply absent).
    async fn get_software_inventories(
        &self,
        tenant: &TenantId,
        asset_ids: &[String],
    ) -> Result<Vec<SoftwareInventory>, PortError>;
    /// Records an asset's new inventory if its record still has `prev_hash` (`None`: no record
    /// yet). False when another worker recorded it first.
    async fn record_software_inventory(
        &self,
        tenant: &TenantId,
        record: &SoftwareInventory,
        prev_hash: Option<&str>,
    ) -> Result<bool, PortError>;
    /// Every software link of an asset, current and uninstalled.
    async fn list_asset_software(&self, tenant: &TenantId, asset_id: &str) -> Result<Vec<AssetSoftware>, PortError>;
    /// Writes links whole (their state does not depend on what was there: rewriting is harmless).
    async fn write_asset_software(&self, tenant: &TenantId, links: &[AssetSoftware]) -> Result<(), PortError>;
    /// Creates missing catalog entries and adds to install counts, atomically per entry, so
    /// concurrent workers on the same entry neither duplicate it nor lose a count.
    async fn add_to_software_catalog(
        &self,
        tenant: &TenantId,
        deltas: &[CatalogDelta],
        now: &str,
    ) -> Result<(), PortError>;
    /// Catalog entries whose normalised name and publisher contain the given (normalised) texts.
    async fn search_software_catalog(
        &self,
        tenant: &TenantId,
        name: Option<&str>,
        publisher: Option<&str>,
    ) -> Result<Vec<CatalogEntry>, PortError>;
}

use crate::domain::audit::{AuditFinish, AuditPage, AuditRecord};

/// rmm_audit_log: records of side-effecting remote actions, per tenant, newest first.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Writes a new record; fails (`ConditionFailed`) if its id exists.
    async fn put_audit(&self, record: &AuditRecord) -> Result<(), PortError>;
    /// Completes a record written before the action; fails if it does not exist.
    async fn finish_audit(&self, tenant: &TenantId, audit_id: &str, finish: &AuditFinish) -> Result<(), PortError>;
    async fn get_audit(&self, tenant: &TenantId, audit_id: &str) -> Result<Option<AuditRecord>, PortError>;
    /// Newest first: at most `q.limit` records read per page (filters may leave fewer); continue
    /// with the page's `next_before` as `q.before`.
    async fn list_audit(&self, tenant: &TenantId, q: &crate::domain::audit::AuditQuery)
    -> Result<AuditPage, PortError>;
}

/// One event for the stack's EventBridge bus (source `tactical-bridge`).
#[derive(Debug, Clone, PartialEq)]
pub struct BusEvent {
    /// `Asset Status Changed`, `RMM Alert Changed`.
    pub detail_type: &'static str,
    /// The JSON detail; carries a stable `event_id` so consumers can drop duplicates.
    pub detail: serde_json::Value,
}

/// Publishes domain events. A call returns only when every event was accepted: failed entries
/// are retried, and an error means some event may not have been published (the caller must not
/// record what the event announces).
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), PortError>;
}

/// For deployments without a bus (events off): accepts and drops.
pub struct NoEvents;

#[async_trait]
impl EventPublisher for NoEvents {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), PortError> {
        if !events.is_empty() {
            tracing::debug!(events = events.len(), "no event bus configured; events dropped");
        }
        Ok(())
    }
}

/// Live status: per-client snapshots of the statuses last observed, and transitions applied to
/// assets. Keys under `{tenant}#status`.
#[async_trait]
pub trait StatusStore: Send + Sync {
    /// The snapshot of one Tactical client, if one was recorded whole: a snapshot whose statuses
    /// do not line up with its member list (a write interrupted half-way, two writers racing, an
    /// item of an older layout) is `None`.
    async fn status_snapshot(
        &self,
        tenant: &TenantId,
        client_id: i64,
    ) -> Result<Option<crate::domain::status_refresh::Snapshot>, PortError>;
    /// Replaces a client's snapshot. `prior` is the snapshot the caller read (`None`: absent).
    /// When `snapshot.members_version` is the prior's, the member list is taken as stored and
    /// only the statuses are written (if the stored list is not that version after all, the
    /// snapshot then reads as absent); otherwise the member list is written too, and whatever
    /// else the client's snapshot held is removed.
    async fn put_status_snapshot(
        &self,
        tenant: &TenantId,
        client_id: i64,
        snapshot: &crate::domain::status_refresh::Snapshot,
        prior: Option<&crate::domain::status_refresh::Snapshot>,
    ) -> Result<(), PortError>;
    /// The stored status of these assets (absent: no such asset).
    async fn asset_statuses(
        &self,
        tenant: &TenantId,
        asset_ids: &[String],
    ) -> Result<Vec<(String, crate::domain::status::AgentStatus)>, PortError>;
    /// Writes a transition onto its asset; `false` when the asset does not exist.
    async fn apply_status(
        &self,
        tenant: &TenantId,
        change: &crate::domain::status_refresh::StatusChange,
    ) -> Result<bool, PortError>;
    /// When each Tactical client's statuses were last observed (client id → RFC 3339).
    async fn status_observed(&self, tenant: &TenantId)
    -> Result<std::collections::BTreeMap<String, String>, PortError>;
    async fn record_status_observed(
        &self,
        tenant: &TenantId,
        observed: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), PortError>;
}
