//! [`MemorySecrets`]: per-tenant secrets in memory, with the Secrets Manager adapter's semantics
//! (put creates or overwrites, deleting a missing secret is not an error). Counts reads the way
//! Secrets Manager bills them: a `get` or a `bundle` is one read.

use crate::ports::{PortError, SecretBundle, SecretName, SecretStore};
use crate::tenant::TenantId;
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Default)]
pub struct MemorySecrets {
    values: Mutex<HashMap<(TenantId, SecretName), String>>,
    failing: AtomicBool,
    reads: AtomicUsize,
}

impl MemorySecrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// While set, every call fails as an unreachable Secrets Manager would.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Reads so far (each `get` and each `bundle`: one Secrets Manager read each).
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// Every secret name a tenant has (hygiene checks: what a disconnect left behind).
    pub fn names(&self, tenant: &TenantId) -> Vec<SecretName> {
        let mut v: Vec<SecretName> = self.values().keys().filter(|(t, _)| t == tenant).map(|(_, n)| *n).collect();
        v.sort_by_key(|n| n.as_str());
        v
    }

    fn values(&self) -> MutexGuard<'_, HashMap<(TenantId, SecretName), String>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self) -> Result<(), PortError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(PortError::Other("injected Secrets Manager failure".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn get(&self, tenant: &TenantId, name: SecretName) -> Result<Option<SecretString>, PortError> {
        self.check()?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.values().get(&(tenant.clone(), name)).map(|v| SecretString::from(v.clone())))
    }

    async fn bundle(&self, tenant: &TenantId) -> Result<SecretBundle, PortError> {
        self.check()?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .values()
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, n), v)| (*n, SecretString::from(v.clone())))
            .collect())
    }

    async fn put(&self, tenant: &TenantId, name: SecretName, value: &SecretString) -> Result<(), PortError> {
        self.check()?;
        self.values().insert((tenant.clone(), name), value.expose_secret().to_owned());
        Ok(())
    }

    async fn delete(&self, tenant: &TenantId, name: SecretName) -> Result<(), PortError> {
        self.check()?;
        self.values().remove(&(tenant.clone(), name));
        Ok(())
    }
}

/// A clock the test turns by hand, for [`crate::secret_cache::CachedSecrets`] (no sleeps).
#[derive(Clone)]
pub struct ManualClock {
    start: std::time::Instant,
    offset: std::sync::Arc<Mutex<std::time::Duration>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self { start: std::time::Instant::now(), offset: Default::default() }
    }
}

impl ManualClock {
    pub fn advance(&self, by: std::time::Duration) {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }

    pub fn clock(&self) -> crate::secret_cache::Clock {
        let me = self.clone();
        std::sync::Arc::new(move || me.start + *me.offset.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
