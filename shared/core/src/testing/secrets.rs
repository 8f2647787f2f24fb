//! [`MemorySecrets`]: per-tenant secrets in memory, with the Secrets Manager adapter's semantics
//! (put creates or overwrites, deleting a missing secret is not an error).

use crate::ports::{PortError, SecretName, SecretStore};
use crate::tenant::TenantId;
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Default)]
pub struct MemorySecrets {
    values: Mutex<HashMap<(TenantId, SecretName), String>>,
    failing: AtomicBool,
}

impl MemorySecrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// While set, every call fails as an unreachable Secrets Manager would.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
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
        Ok(self.values().get(&(tenant.clone(), name)).map(|v| SecretString::from(v.clone())))
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
