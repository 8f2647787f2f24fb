//! Secrets Manager adapter: one JSON secret per tenant, `{prefix}{tenant}/tacticalrmm`, whose keys
//! are the admin guide's names (`tacticalrmm_api_key`, ...). One secret instead of up to five per
//! tenant (Secrets Manager bills per secret); see docs/security.md, *Tenant secrets*.
//!
//! Writes to the bundle are compare-and-swap, so a Knox refresh and a webhook rotation racing on one
//! tenant cannot lose each other's change: the new value is stored as a version carrying a private
//! staging label only, then `AWSCURRENT` is moved to it with `RemoveFromVersionId` set to the version
//! that was read, which Secrets Manager refuses when `AWSCURRENT` has moved since. A refused move
//! re-reads and tries again (bounded).
//!
//! Tenants connected before the bundle hold one secret per name (`{prefix}{tenant}/{name}`). A read
//! or write that finds no bundle moves those into it, then deletes them, so an upgrade loses nothing.

use super::port_error;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use shared::ports::{PortError, SecretBundle, SecretName, SecretStore};
use shared::tenant::TenantId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Suffix of the per-tenant bundle (the IAM statements in template.yaml name it).
pub const BUNDLE_NAME: &str = "tacticalrmm";
/// The label a version carries between its write and the move of `AWSCURRENT` to it.
pub const PENDING_STAGE: &str = "TB_PENDING";
const CURRENT_STAGE: &str = "AWSCURRENT";
/// Compare-and-swap attempts before a write gives up (each lost one means another write landed).
const MAX_ATTEMPTS: u32 = 10;

#[derive(Clone)]
pub struct SecretsManagerStore {
    client: Client,
    prefix: String,
    /// Set once a migration was refused by IAM (the read-only functions): they then read the old
    /// names without trying to move them on every read.
    migration_denied: Arc<AtomicBool>,
}

/// The tenant's bundle as read: its `AWSCURRENT` version and its keys.
struct Bundle {
    version: String,
    entries: Map<String, Value>,
}

/// Why one compare-and-swap attempt did not land.
enum Attempt {
    /// Another write (or a delete) got there first: read again and retry.
    Lost,
    Failed(PortError),
}

impl SecretsManagerStore {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self { client, prefix: prefix.into(), migration_denied: Arc::new(AtomicBool::new(false)) }
    }

    /// The tenant's one secret. The `/tacticalrmm` suffix keeps it apart from the prefix's other
    /// secrets (the PSA key `{prefix}psa-jwt-key` would otherwise be tenant `psa-jwt-key`'s bundle).
    pub fn bundle_id(&self, tenant: &TenantId) -> String {
        format!("{}{}/{}", self.prefix, tenant, BUNDLE_NAME)
    }

    /// Where a tenant connected before the bundle keeps `name`.
    pub fn legacy_secret_id(&self, tenant: &TenantId, name: SecretName) -> String {
        format!("{}{}/{}", self.prefix, tenant, name.as_str())
    }

    /// Reads a secret by full id (the PSA JWT key, which is not per tenant).
    pub async fn get_raw(&self, id: &str) -> Result<Option<SecretString>, PortError> {
        match self.client.get_secret_value().secret_id(id).send().await {
            Ok(out) => Ok(out.secret_string.map(SecretString::from)),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(port_error(e)),
        }
    }

    async fn load(&self, tenant: &TenantId) -> Result<Option<Bundle>, PortError> {
        let id = self.bundle_id(tenant);
        let out = match self.client.get_secret_value().secret_id(&id).send().await {
            Ok(out) => out,
            Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(port_error(e)),
        };
        let version = out.version_id.ok_or_else(|| PortError::Corrupt(format!("{id}: no version id")))?;
        let text = out.secret_string.map(SecretString::from).unwrap_or_else(|| SecretString::from("{}"));
        // The error names the secret, never its contents.
        let entries = match serde_json::from_str::<Value>(text.expose_secret()) {
            Ok(Value::Object(m)) => m,
            _ => return Err(PortError::Corrupt(format!("{id}: not a JSON object"))),
        };
        Ok(Some(Bundle { version, entries }))
    }

    /// The old per-name secrets that exist. `Ok(None)` when IAM refuses one of the reads: this
    /// function may not migrate.
    async fn load_legacy(&self, tenant: &TenantId) -> Result<Option<Map<String, Value>>, PortError> {
        let mut found = Map::new();
        for name in SecretName::ALL {
            match self.client.get_secret_value().secret_id(self.legacy_secret_id(tenant, name)).send().await {
                Ok(out) => {
                    if let Some(s) = out.secret_string {
                        found.insert(name.as_str().to_owned(), Value::String(s));
                    }
                }
                Err(e) if e.code() == Some("ResourceNotFoundException") => {}
                Err(e) if e.code() == Some("AccessDeniedException") => return Ok(None),
                Err(e) => return Err(port_error(e)),
            }
        }
        Ok(Some(found))
    }

    /// Deletes the old per-name secrets once their values are in the bundle. A refusal (a role
    /// without delete) leaves them: the bundle exists, so they are never read again.
    async fn delete_legacy(&self, tenant: &TenantId, names: impl Iterator<Item = &str>) {
        for name in names {
            let id = format!("{}{}/{}", self.prefix, tenant, name);
            match self.client.delete_secret().secret_id(&id).force_delete_without_recovery(true).send().await {
                Ok(_) => {}
                Err(e) if e.code() == Some("ResourceNotFoundException") => {}
                Err(e) => {
                    tracing::warn!(tenant = %tenant, secret = name, error = %port_error(e), "old per-name secret not deleted")
                }
            }
        }
    }

    /// Applies `change` to the tenant's bundle, compare-and-swap, retried while other writes win.
    async fn update(&self, tenant: &TenantId, change: impl Fn(&mut Map<String, Value>)) -> Result<(), PortError> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let outcome = match self.load(tenant).await? {
                Some(bundle) => {
                    let mut entries = bundle.entries.clone();
                    change(&mut entries);
                    if entries == bundle.entries {
                        // Nothing changes: no version, no call.
                        return Ok(());
                    }
                    self.swap(tenant, &bundle.version, &entries).await
                }
                None => {
                    // No bundle yet: start from the old per-name secrets, so none is lost.
                    let Some(legacy) = self.load_legacy(tenant).await? else {
                        return Err(PortError::Other(
                            "AccessDeniedException: cannot read the tenant's previous secrets to migrate them".into(),
                        ));
                    };
                    let mut entries = legacy.clone();
                    change(&mut entries);
                    if entries.is_empty() {
                        self.delete_legacy(tenant, legacy.keys().map(String::as_str)).await;
                        return Ok(());
                    }
                    match self.create(tenant, &entries).await {
                        Ok(()) => {
                            self.delete_legacy(tenant, legacy.keys().map(String::as_str)).await;
                            return Ok(());
                        }
                        Err(a) => Err(a),
                    }
                }
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(Attempt::Lost) => continue,
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        Err(PortError::ConditionFailed(format!(
            "the secret bundle of {tenant} kept changing; gave up after {MAX_ATTEMPTS} attempts"
        )))
    }

    /// Writes `entries` as a new version and makes it current only if `read` still is.
    async fn swap(&self, tenant: &TenantId, read: &str, entries: &Map<String, Value>) -> Result<(), Attempt> {
        let id = self.bundle_id(tenant);
        let body = SecretString::from(Value::Object(entries.clone()).to_string());
        let version = uuid::Uuid::new_v4().to_string();
        match self
            .client
            .put_secret_value()
            .secret_id(&id)
            .client_request_token(&version)
            .secret_string(body.expose_secret())
            .version_stages(PENDING_STAGE)
            .send()
            .await
        {
            Ok(_) => {}
            // Deleted since the read (a disconnect): read again.
            Err(e) if e.code() == Some("ResourceNotFoundException") => return Err(Attempt::Lost),
            Err(e) => return Err(Attempt::Failed(port_error(e))),
        }
        let moved = self
            .client
            .update_secret_version_stage()
            .secret_id(&id)
            .version_stage(CURRENT_STAGE)
            .move_to_version_id(&version)
            .remove_from_version_id(read)
            .send()
            .await;
        // The pending label comes off either way, so the version ages out (or stays current only).
        self.unlabel(&id, &version).await;
        match moved {
            Ok(_) => Ok(()),
            // `AWSCURRENT` is no longer on the version read (another write won), or the pending
            // version lost its label to a concurrent write before the move.
            Err(e)
                if matches!(
                    e.code(),
                    Some("InvalidParameterException" | "InvalidRequestException" | "ResourceNotFoundException")
                ) =>
            {
                Err(Attempt::Lost)
            }
            Err(e) => Err(Attempt::Failed(port_error(e))),
        }
    }

    /// Removes the pending label from `version`. Best effort: a concurrent write may have taken the
    /// label already, and an unlabelled version is what we want.
    async fn unlabel(&self, id: &str, version: &str) {
        if let Err(e) = self
            .client
            .update_secret_version_stage()
            .secret_id(id)
            .version_stage(PENDING_STAGE)
            .remove_from_version_id(version)
            .send()
            .await
        {
            tracing::debug!(error = ?e.code(), "pending label not removed (taken by a concurrent write)");
        }
    }

    async fn create(&self, tenant: &TenantId, entries: &Map<String, Value>) -> Result<(), Attempt> {
        let body = SecretString::from(Value::Object(entries.clone()).to_string());
        match self
            .client
            .create_secret()
            .name(self.bundle_id(tenant))
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .secret_string(body.expose_secret())
            .tags(aws_sdk_secretsmanager::types::Tag::builder().key("tenant").value(tenant.as_str()).build())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Created concurrently (it holds the old secrets too), or still being deleted after a
            // disconnect: read again.
            Err(e) if matches!(e.code(), Some("ResourceExistsException" | "InvalidRequestException")) => {
                Err(Attempt::Lost)
            }
            Err(e) => Err(Attempt::Failed(port_error(e))),
        }
    }

    /// A read that finds no bundle: the old per-name secret, moved into a bundle when this
    /// function may (the others read it where it is).
    async fn get_legacy(&self, tenant: &TenantId, name: SecretName) -> Result<Option<SecretString>, PortError> {
        let Some(old) = self.legacy_value(tenant, name).await? else {
            // A concurrent migration may have moved it between the two reads.
            return Ok(self.load(tenant).await?.and_then(|b| entry(&b.entries, name)));
        };
        self.migrate(tenant).await;
        Ok(Some(old))
    }

    /// One old per-name secret; one this function may not read counts as absent.
    async fn legacy_value(&self, tenant: &TenantId, name: SecretName) -> Result<Option<SecretString>, PortError> {
        match self.get_raw(&self.legacy_secret_id(tenant, name)).await {
            Ok(v) => Ok(v),
            Err(PortError::Other(m)) if m.starts_with("AccessDeniedException") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves the old per-name secrets into a bundle (an empty change creates the bundle from them,
    /// then deletes them), unless this function was refused that once already. A failure only
    /// leaves them where they are for the next read.
    async fn migrate(&self, tenant: &TenantId) {
        if self.migration_denied.load(Ordering::Relaxed) {
            return;
        }
        match self.update(tenant, |_| {}).await {
            Ok(()) => {}
            Err(PortError::Other(m)) if m.starts_with("AccessDeniedException") => {
                self.migration_denied.store(true, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(tenant = %tenant, error = %e, "secrets not moved into the bundle yet"),
        }
    }
}

fn all_entries(entries: &Map<String, Value>) -> SecretBundle {
    SecretName::ALL.into_iter().filter_map(|n| entry(entries, n).map(|v| (n, v))).collect()
}

fn entry(entries: &Map<String, Value>, name: SecretName) -> Option<SecretString> {
    entries.get(name.as_str()).and_then(Value::as_str).map(|s| SecretString::from(s.to_owned()))
}

/// Jittered, growing pause between attempts, so racing writers do not retry in lock-step.
async fn backoff(attempt: u32) {
    let cap = 20u64 << attempt.min(4);
    let ms = rand::random::<u64>() % cap + 5;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, tenant: &TenantId, name: SecretName) -> Result<Option<SecretString>, PortError> {
        match self.load(tenant).await? {
            Some(bundle) => Ok(entry(&bundle.entries, name)),
            None => self.get_legacy(tenant, name).await,
        }
    }

    /// One GetSecretValue for a tenant with a bundle. A tenant connected before it: its old
    /// per-name secrets, moved into a bundle when this function may (as [`Self::get`] does).
    async fn bundle(&self, tenant: &TenantId) -> Result<SecretBundle, PortError> {
        if let Some(bundle) = self.load(tenant).await? {
            return Ok(all_entries(&bundle.entries));
        }
        let mut old = SecretBundle::default();
        for name in SecretName::ALL {
            if let Some(v) = self.legacy_value(tenant, name).await? {
                old.insert(name, v);
            }
        }
        if old.is_empty() {
            // Nothing here, or a concurrent migration moved it between the reads.
            return Ok(self.load(tenant).await?.map(|b| all_entries(&b.entries)).unwrap_or_default());
        }
        self.migrate(tenant).await;
        Ok(old)
    }

    async fn put(&self, tenant: &TenantId, name: SecretName, value: &SecretString) -> Result<(), PortError> {
        self.update(tenant, |entries| {
            entries.insert(name.as_str().to_owned(), Value::String(value.expose_secret().to_owned()));
        })
        .await
    }

    async fn delete(&self, tenant: &TenantId, name: SecretName) -> Result<(), PortError> {
        self.update(tenant, |entries| {
            entries.remove(name.as_str());
        })
        .await
    }

    /// Disconnect: the whole bundle and any old per-name secret, in one delete each.
    async fn delete_all(&self, tenant: &TenantId) -> Result<(), PortError> {
        let id = self.bundle_id(tenant);
        match self.client.delete_secret().secret_id(&id).force_delete_without_recovery(true).send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(port_error(e)),
        }
        self.delete_legacy(tenant, SecretName::ALL.iter().map(|n| n.as_str())).await;
        Ok(())
    }
}
