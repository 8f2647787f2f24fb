//! [`CachedSecrets`]: a warm worker keeps each tenant's secret bundle for a short time, so the
//! messages of one tenant that a process handles within that time cost one Secrets Manager read.
//!
//! Another process may change a secret meanwhile (a Knox renewal, a new API key): what reads a
//! credential Tactical refused calls [`SecretStore::forget`] and reads again before it decides the
//! credential is bad (see `ConnectionService::with_renewal`). Writes through the cache drop the
//! tenant's copy. Functions whose reads must always be fresh (connection settings) do not use it.

use crate::ports::{PortError, SecretBundle, SecretName, SecretStore};
use crate::tenant::TenantId;
use async_trait::async_trait;
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a worker keeps a tenant's bundle.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// Tenants a worker keeps at once (a bundle is a few hundred bytes).
pub const DEFAULT_MAX_TENANTS: usize = 1024;

/// Where the cache reads the time (tests turn it by hand).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

struct Entry {
    bundle: SecretBundle,
    loaded: Instant,
    /// The host the credentials were read to be sent to (`None`: read for no host). A copy is
    /// never handed out for another host: the settings of another process may have moved the
    /// integration since, and the old credentials must not follow it.
    host: Option<String>,
}

pub struct CachedSecrets {
    inner: Arc<dyn SecretStore>,
    ttl: Duration,
    max_tenants: usize,
    clock: Clock,
    entries: Mutex<HashMap<TenantId, Entry>>,
    /// Bumped by every write, delete and forget: a read that started before one of them does not
    /// store what it read (it may be the value the write replaced).
    generation: AtomicU64,
}

impl CachedSecrets {
    pub fn new(inner: Arc<dyn SecretStore>, ttl: Duration, max_tenants: usize) -> Self {
        Self::with_clock(inner, ttl, max_tenants, Arc::new(Instant::now))
    }

    pub fn with_clock(inner: Arc<dyn SecretStore>, ttl: Duration, max_tenants: usize, clock: Clock) -> Self {
        Self {
            inner,
            ttl,
            max_tenants: max_tenants.max(1),
            clock,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<TenantId, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fresh(&self, e: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(e.loaded) < self.ttl
    }

    /// Drops the tenant's copy and keeps reads in flight from storing theirs.
    fn invalidate(&self, tenant: &TenantId) -> Option<SecretBundle> {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.remove(tenant).map(|e| e.bundle)
    }

    fn store(&self, tenant: &TenantId, bundle: &SecretBundle, read_at: u64, loaded: Instant, host: Option<&str>) {
        let mut entries = self.entries();
        if self.generation.load(Ordering::SeqCst) != read_at {
            return;
        }
        if !entries.contains_key(tenant) && entries.len() >= self.max_tenants {
            let now = (self.clock)();
            entries.retain(|_, e| now.saturating_duration_since(e.loaded) < self.ttl);
            if entries.len() >= self.max_tenants
                && let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.loaded).map(|(t, _)| t.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(tenant.clone(), Entry { bundle: bundle.clone(), loaded, host: host.map(str::to_owned) });
    }

    /// Tenants held right now (tests: the bound holds).
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl SecretStore for CachedSecrets {
    async fn get(&self, tenant: &TenantId, name: SecretName) -> Result<Option<SecretString>, PortError> {
        Ok(self.bundle(tenant).await?.value(name))
    }

    async fn bundle(&self, tenant: &TenantId) -> Result<SecretBundle, PortError> {
        let now = (self.clock)();
        if let Some(e) = self.entries().get(tenant).filter(|e| self.fresh(e, now)) {
            return Ok(e.bundle.clone());
        }
        let read_at = self.generation.load(Ordering::SeqCst);
        let bundle = self.inner.bundle(tenant).await?;
        self.store(tenant, &bundle, read_at, now, None);
        Ok(bundle)
    }

    async fn bundle_for(&self, tenant: &TenantId, host: &str) -> Result<SecretBundle, PortError> {
        let now = (self.clock)();
        // Only a copy read for this very host (a copy read for no host is not vouched for either).
        if let Some(e) = self.entries().get(tenant).filter(|e| self.fresh(e, now) && e.host.as_deref() == Some(host)) {
            return Ok(e.bundle.clone());
        }
        let read_at = self.generation.load(Ordering::SeqCst);
        let bundle = self.inner.bundle(tenant).await?;
        self.store(tenant, &bundle, read_at, now, Some(host));
        Ok(bundle)
    }

    async fn put(&self, tenant: &TenantId, name: SecretName, value: &SecretString) -> Result<(), PortError> {
        self.invalidate(tenant);
        let r = self.inner.put(tenant, name, value).await;
        // Again after the write: a read of this process that ran during it may hold the old value.
        self.invalidate(tenant);
        r
    }

    async fn delete(&self, tenant: &TenantId, name: SecretName) -> Result<(), PortError> {
        self.invalidate(tenant);
        let r = self.inner.delete(tenant, name).await;
        self.invalidate(tenant);
        r
    }

    async fn delete_all(&self, tenant: &TenantId) -> Result<(), PortError> {
        self.invalidate(tenant);
        let r = self.inner.delete_all(tenant).await;
        self.invalidate(tenant);
        r
    }

    fn caches(&self) -> bool {
        true
    }

    fn forget(&self, tenant: &TenantId) -> Option<SecretBundle> {
        self.invalidate(tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts bundle reads of a plain map.
    #[derive(Default)]
    struct Counting {
        values: Mutex<HashMap<(TenantId, SecretName), String>>,
        reads: AtomicU64,
    }

    #[async_trait]
    impl SecretStore for Counting {
        async fn get(&self, tenant: &TenantId, name: SecretName) -> Result<Option<SecretString>, PortError> {
            Ok(self.bundle(tenant).await?.value(name))
        }
        async fn bundle(&self, tenant: &TenantId) -> Result<SecretBundle, PortError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let v = self.values.lock().unwrap();
            Ok(v.iter()
                .filter(|((t, _), _)| t == tenant)
                .map(|((_, n), s)| (*n, SecretString::from(s.clone())))
                .collect())
        }
        async fn put(&self, tenant: &TenantId, name: SecretName, value: &SecretString) -> Result<(), PortError> {
            use secrecy::ExposeSecret;
            self.values.lock().unwrap().insert((tenant.clone(), name), value.expose_secret().to_owned());
            Ok(())
        }
        async fn delete(&self, tenant: &TenantId, name: SecretName) -> Result<(), PortError> {
            self.values.lock().unwrap().remove(&(tenant.clone(), name));
            Ok(())
        }
    }

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    fn val(b: &SecretBundle, n: SecretName) -> Option<String> {
        use secrecy::ExposeSecret;
        b.get(n).map(|s| s.expose_secret().to_owned())
    }

    #[tokio::test]
    async fn the_bound_evicts_the_oldest_tenant() {
        let inner = Arc::new(Counting::default());
        let cache = CachedSecrets::new(inner.clone(), DEFAULT_TTL, 2);
        for name in ["a", "b", "c"] {
            cache.bundle(&t(name)).await.unwrap();
        }
        assert_eq!(cache.len(), 2, "never more than the bound");
        cache.bundle(&t("c")).await.unwrap();
        assert_eq!(inner.reads.load(Ordering::SeqCst), 3, "the newest stays");
        cache.bundle(&t("a")).await.unwrap();
        assert_eq!(inner.reads.load(Ordering::SeqCst), 4, "the oldest went first");
    }

    #[tokio::test]
    async fn a_read_that_raced_a_write_is_not_kept() {
        let inner = Arc::new(Counting::default());
        let cache = CachedSecrets::new(inner.clone(), DEFAULT_TTL, 8);
        let a = t("a");
        inner.put(&a, SecretName::ApiKey, &SecretString::from("old")).await.unwrap();
        // A read that began before a write of this process landed stores nothing.
        let read_at = cache.generation.load(Ordering::SeqCst);
        let stale = inner.bundle(&a).await.unwrap();
        cache.put(&a, SecretName::ApiKey, &SecretString::from("new")).await.unwrap();
        cache.store(&a, &stale, read_at, Instant::now(), None);
        assert_eq!(val(&cache.bundle(&a).await.unwrap(), SecretName::ApiKey).as_deref(), Some("new"));
    }
}
