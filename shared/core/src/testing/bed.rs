//! [`TestBed`]: the core's [`Deps`] over the in-memory adapters, with a handle on each, so a use
//! case runs end to end in milliseconds and the test reads what it wrote, sent and published.

use super::{FakeConnector, FakeTactical, MemoryEvents, MemoryQueue, MemorySecrets, MemoryStore};
use crate::app::Deps;
use crate::config::Config;
use crate::secret_cache::CachedSecrets;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct TestBed {
    pub deps: Deps,
    pub store: Arc<MemoryStore>,
    pub secrets: Arc<MemorySecrets>,
    pub queue: Arc<MemoryQueue>,
    pub events: Arc<MemoryEvents>,
    pub tactical: Arc<FakeTactical>,
    pub connector: Arc<FakeConnector>,
}

/// The configuration of a local stack, with `overrides` (environment names and values).
pub fn config(overrides: &[(&str, &str)]) -> Config {
    let mut env: BTreeMap<String, String> = [
        ("TABLE_NAME", "memory"),
        ("SYNC_CLIENTS_QUEUE_URL", "sync-clients"),
        ("SYNC_DEVICES_QUEUE_URL", "sync-devices"),
        ("SYNC_ALERTS_QUEUE_URL", "sync-alerts"),
        ("SYNC_SOFTWARE_QUEUE_URL", "sync-software"),
        ("PSA_JWT_KEY", "memory-key"),
        ("LOCAL_DEVELOPMENT", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in overrides {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    // A fixed map of valid values: a failure here is a bug of this helper.
    #[allow(clippy::expect_used)]
    Config::from_map(&env).expect("the test bed's configuration is valid")
}

impl TestBed {
    /// Every port in memory, over [`FakeTactical::small_fleet`].
    pub fn new() -> Self {
        Self::with(config(&[]), FakeTactical::small_fleet())
    }

    pub fn with(config: Config, tactical: FakeTactical) -> Self {
        let store = Arc::new(MemoryStore::new());
        let secrets = Arc::new(MemorySecrets::default());
        let queue = Arc::new(MemoryQueue::default());
        let events = Arc::new(MemoryEvents::default());
        let tactical = Arc::new(tactical);
        let connector = Arc::new(FakeConnector::new(tactical.clone()));
        let deps = Deps {
            config: Arc::new(config),
            store: store.clone(),
            secrets: secrets.clone(),
            queue: queue.clone(),
            events: events.clone(),
            tactical: connector.clone(),
        };
        Self { deps, store, secrets, queue, events, tactical, connector }
    }
}

impl TestBed {
    /// Puts the worker's secret cache (kept `ttl` by `clock`) in front of the memory secrets, as
    /// the sync and remote-action functions run; `self.secrets` still reaches the store behind it.
    pub fn cache_secrets(&mut self, ttl: std::time::Duration, clock: &super::ManualClock) -> Arc<CachedSecrets> {
        let cache = Arc::new(CachedSecrets::with_clock(
            self.secrets.clone(),
            ttl,
            crate::secret_cache::DEFAULT_MAX_TENANTS,
            clock.clock(),
        ));
        self.deps.secrets = cache.clone();
        cache
    }
}

impl Default for TestBed {
    fn default() -> Self {
        Self::new()
    }
}
