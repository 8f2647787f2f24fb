//! Shared simulator state: the data, auth (knox tokens, throttles), faults, counters.
//!
//! Every method of [`SimState`] is synchronous except the webhook ones; locks are std locks
//! held only for the duration of a call, so calling from async tests is fine.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration as StdDuration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use time::Duration;
use tokio::sync::watch;

use crate::fleet;
use crate::model::*;
use crate::util::now;
use crate::{KnoxTimes, SimConfig};

mod accounts;
mod agents;
mod alerts;
mod clock;
mod counters;
mod data;
mod faults;
mod modes;
mod types;

pub(crate) use accounts::*;
pub use counters::*;
pub(crate) use data::*;
pub use faults::*;
pub use modes::*;
pub use types::*;

// ------------------------------------------------------------------------------------------

pub(crate) struct Shared {
    pub data: RwLock<Data>,
    pub auth: Mutex<AuthState>,
    faults: Mutex<Vec<FaultRule>>,
    stats: Mutex<Stats>,
    beta: AtomicBool,
    dashboard: AtomicBool,
    nats: AtomicBool,
    action_wait: Mutex<ActionWait>,
    row_cost: Mutex<StdDuration>,
    shutdown: watch::Sender<bool>,
    /// Simulated time ahead of the wall clock (µs): tests move it forward instead of sleeping.
    clock_offset_us: AtomicI64,
    /// Agents told to stop checking in (their `last_seen` stays where it is).
    silent: Mutex<HashSet<String>>,
    /// How far apart an online agent's check-ins are (its `last_seen` lags by at most this).
    checkin_every: Mutex<Duration>,
}

/// Handle on the simulator's state. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct SimState {
    pub(crate) inner: Arc<Shared>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimState {
    /// Generate the fleet for `cfg` (no server). [`crate::Simulator::start`] calls this.
    pub fn new(cfg: SimConfig) -> SimState {
        let (action_wait, row_cost) = (cfg.action_wait, cfg.row_cost);
        let now = now();
        let g = fleet::generate(cfg.seed, &cfg.fleet, now);
        let mut by_agent_id = HashMap::with_capacity(g.agents.len());
        for a in &g.agents {
            by_agent_id.insert(a.agent_id.clone(), a.pk);
        }
        let data = Data {
            next_pk: g.agents.iter().map(|a| a.pk).max().unwrap_or(0) + 1,
            next_client: g.clients.len() as i64 + 1,
            next_site: g.sites.len() as i64 + 1,
            next_alert: g.alerts.iter().map(|a| a.id).max().unwrap_or(0) + 1,
            clients: g.clients.into_iter().map(|c| (c.id, c)).collect(),
            sites: g.sites.into_iter().map(|s| (s.id, s)).collect(),
            agents: g.agents,
            by_agent_id,
            alerts: g.alerts.into_iter().map(|a| (a.id, a)).collect(),
            scripts: scripts(),
            templates: vec![AlertTemplate { id: 1, name: "webhook template" }],
            catalog: g.catalog,
            rng: g.rng,
            software_avg: cfg.fleet.software_per_agent,
            heavy_rows: cfg.heavy_rows,
            globals: Vec::new(),
            history: Vec::new(),
            next_history: 1,
            report_delay: StdDuration::from_millis(150),
        };
        let auth = AuthState {
            api_keys: cfg.api_keys,
            users: cfg.users,
            tokens: HashMap::new(),
            throttle: cfg.throttle,
            history: HashMap::new(),
            rng: StdRng::seed_from_u64(cfg.seed ^ 0x5eed_70ce),
            knox: KnoxTimes::default(),
        };
        let (tx, _) = watch::channel(false);
        SimState {
            inner: Arc::new(Shared {
                data: RwLock::new(data),
                auth: Mutex::new(auth),
                faults: Mutex::new(Vec::new()),
                stats: Mutex::new(Stats::default()),
                beta: AtomicBool::new(cfg.beta_enabled),
                dashboard: AtomicBool::new(cfg.dashboard_mode),
                nats: AtomicBool::new(cfg.nats_up),
                action_wait: Mutex::new(action_wait),
                row_cost: Mutex::new(row_cost),
                shutdown: tx,
                clock_offset_us: AtomicI64::new(0),
                silent: Mutex::new(HashSet::new()),
                checkin_every: Mutex::new(Duration::seconds(30)),
            }),
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Data> {
        self.inner.data.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Data> {
        self.inner.data.write().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn auth(&self) -> MutexGuard<'_, AuthState> {
        lock(&self.inner.auth)
    }

    // Shutdown

    pub(crate) fn signal_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    pub(crate) async fn wait_shutdown(&self) {
        let mut rx = self.inner.shutdown.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}
