//! A faithful simulator of a stock **Tactical RMM 1.5.1** API server.
//!
//! It reproduces the behaviour described in `docs/tactical-behaviour.md` (quirks
//! included): mandatory trailing slashes (301), HTML 404/500 pages, DRF JSON errors, knox and
//! `X-API-KEY` authentication in the real order, the two-step TOTP login with throttling, the
//! classic client/site/agent/alert/software/script endpoints, the paginated beta API, remote
//! actions with NATS up/down and reachable/unreachable agents, the dashboard host answering
//! HTML everywhere, injectable faults, and Tactical's alert-template webhook ("URL action")
//! rendering and delivery.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use tactical_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! let url = format!("{}/agents/", sim.base_url()); // send X-API-KEY: SIMKEYFULLACCESS0000000000000001
//! # let _ = url;
//! let state = sim.state();
//! let first = &state.agents()[0];
//! state.make_overdue(&first.agent_id).unwrap();
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

#![recursion_limit = "256"]

mod fleet;
mod heavy;
mod model;
mod pyjson;
mod routes;
mod rows;
mod server;
mod state;
mod totp;
mod util;
mod webhook;

use std::net::SocketAddr;

pub use model::{AgentStatus, AlertType, MonitoringType, Plat, Severity, SoftwareItem};
pub use routes::RouteKind;
pub use state::{
    ActionWait, AgentInfo, AlertInfo, ClientInfo, Fault, FaultTarget, NewAgent, NewAlert, RequestRecord, SimError,
    SimState, SiteInfo,
};
pub use totp::totp_code;
pub use webhook::{PreparedWebhook, UrlAction, WEBHOOK_USER_AGENT, WebhookDelivery, WebhookError};

/// The API key present in [`SimConfig::default`] (full access).
pub const DEFAULT_API_KEY: &str = "SIMKEYFULLACCESS0000000000000001";

/// Simulator configuration. Build with struct-update syntax from [`SimConfig::default`].
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed of the deterministic fleet (same seed ⇒ same clients, sites, agent ids, alerts…).
    pub seed: u64,
    pub fleet: FleetSpec,
    /// `BETA_API_ENABLED` (default true). When false every `/beta/...` path is an HTML 404.
    pub beta_enabled: bool,
    /// Pretend to be the dashboard host: every path answers 200 `text/html` (default false).
    pub dashboard_mode: bool,
    pub api_keys: Vec<ApiKey>,
    /// Dashboard users for knox login (`/v2/checkcreds/`, `/v2/login/`).
    pub users: Vec<User>,
    /// Login/checkcreds throttle (per remote IP, unauthenticated requests only).
    pub throttle: ThrottleConfig,
    /// Whether the NATS broker is reachable (default true); when false remote actions answer
    /// `"natsdown"` the way Tactical does.
    pub nats_up: bool,
    /// Time Tactical spends on each agent row it serializes (ORM + DRF), so a response takes
    /// longer the more rows it carries: an `/agents/` table row costs this, a `?detail=false`
    /// row a quarter, a beta row of a posix agent the same, a Windows beta row (services and
    /// WMI, ~150 KB) eight times it. Default 2 ms: a stock server answers `/agents/?client=`
    /// for 1,200 agents in 2.5 s, and a 1000-row Windows beta page takes ~16 s.
    pub row_cost: std::time::Duration,
    /// How long remote actions take (default [`ActionWait::Realistic`], like Tactical).
    pub action_wait: ActionWait,
    /// Windows agent rows carry their `services` and full `wmi_detail`, ~150 KB a row, as real
    /// agents report them (default true). Only a test about something else at a scale where the
    /// weight would dominate (paging 50,000 agents) turns it off, and says so.
    pub heavy_rows: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            fleet: FleetSpec::default(),
            beta_enabled: true,
            dashboard_mode: false,
            api_keys: vec![ApiKey::full(DEFAULT_API_KEY)],
            users: Vec::new(),
            throttle: ThrottleConfig::default(),
            nats_up: true,
            row_cost: std::time::Duration::from_millis(2),
            action_wait: ActionWait::Realistic,
            heavy_rows: true,
        }
    }
}

/// Size and shape of the generated fleet.
#[derive(Clone, Debug)]
pub struct FleetSpec {
    pub clients: usize,
    pub sites_per_client: usize,
    pub agents: usize,
    /// Average number of software items per Windows agent with an inventory
    /// (posix agents never have one, as on the real server).
    pub software_per_agent: usize,
    pub alerts: usize,
}

impl Default for FleetSpec {
    fn default() -> Self {
        FleetSpec { clients: 3, sites_per_client: 2, agents: 12, software_per_agent: 8, alerts: 10 }
    }
}

impl FleetSpec {
    /// A fleet of `agents` agents over `clients` × `sites_per_client` sites, with the default
    /// software average and one alert per ten agents (at least 10).
    pub fn sized(clients: usize, sites_per_client: usize, agents: usize) -> Self {
        FleetSpec { clients, sites_per_client, agents, software_per_agent: 8, alerts: (agents / 10).max(10) }
    }
}

/// An `X-API-KEY` credential.
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub key: String,
    pub role: Role,
    /// `expiration` in the past ⇒ 401 `{"detail":"The token has expired."}`.
    pub expired: bool,
}

impl ApiKey {
    pub fn full(key: impl Into<String>) -> Self {
        ApiKey { key: key.into(), role: Role::Full, expired: false }
    }
    pub fn read_only(key: impl Into<String>) -> Self {
        ApiKey { key: key.into(), role: Role::ReadOnly, expired: false }
    }
    pub fn clients(key: impl Into<String>, client_ids: Vec<i64>) -> Self {
        ApiKey { key: key.into(), role: Role::Clients(client_ids), expired: false }
    }
    pub fn expired(key: impl Into<String>) -> Self {
        ApiKey { key: key.into(), role: Role::Full, expired: true }
    }
}

/// What a key or user may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Superuser: everything.
    Full,
    /// Lists and details only; cmd/runscript/reboot, alert PUT, agent edits → 403.
    ReadOnly,
    /// Full permissions, scoped to these client ids: classic lists are filtered, an
    /// out-of-scope agent/client/alert → 403. (The beta API ignores scoping, like the real one.)
    Clients(Vec<i64>),
}

/// A dashboard user (knox login).
#[derive(Clone, Debug)]
pub struct User {
    pub username: String,
    pub password: String,
    /// Raw TOTP secret bytes (RFC 6238, SHA1, 6 digits, 30 s). `None` ⇒ no TOTP configured.
    pub totp_secret: Option<Vec<u8>>,
    pub role: Role,
}

impl User {
    pub fn new(username: impl Into<String>, password: impl Into<String>, totp_secret: Option<Vec<u8>>) -> Self {
        User { username: username.into(), password: password.into(), totp_secret, role: Role::Full }
    }
}

/// DRF `AnonRateThrottle` rates for `/v2/checkcreds/` and `/v2/login/` (each endpoint has its
/// own per-minute and per-day buckets, keyed by remote IP).
#[derive(Clone, Copy, Debug)]
pub struct ThrottleConfig {
    pub per_minute: u32,
    pub per_day: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig { per_minute: 10, per_day: 300 }
    }
}

/// Knox token lifetimes (`REST_KNOX` in Tactical's settings.py and `CheckCredsV2.get_token_ttl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnoxTimes {
    /// A `/v2/checkcreds/` token lives this long until its first use (180 s).
    pub checkcreds_ttl: time::Duration,
    /// `TOKEN_TTL`: `/v2/login/` tokens, and any token from each use (`AUTO_REFRESH`) (5 h).
    pub token_ttl: time::Duration,
    /// `MIN_REFRESH_INTERVAL`: a use extends the expiry only when that moves it by more (600 s).
    pub min_refresh_interval: time::Duration,
}

impl Default for KnoxTimes {
    fn default() -> Self {
        KnoxTimes {
            checkcreds_ttl: time::Duration::seconds(180),
            token_ttl: time::Duration::hours(5),
            min_refresh_interval: time::Duration::seconds(600),
        }
    }
}

/// A running simulator bound to a local TCP port.
pub struct Simulator {
    addr: SocketAddr,
    state: SimState,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Generate the fleet and serve on `127.0.0.1:<ephemeral>`.
    pub async fn start(cfg: SimConfig) -> std::io::Result<Simulator> {
        Self::start_on(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Generate the fleet and serve on `addr`.
    pub async fn start_on(cfg: SimConfig, addr: SocketAddr) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = SimState::new(cfg);
        let task = server::spawn(listener, state.clone());
        Ok(Simulator { addr, state, task })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Inspection/mutation handle (cheap clone).
    pub fn state(&self) -> SimState {
        self.state.clone()
    }

    /// Stop accepting, release hanging requests, wait (≤ 2 s) for connections to close.
    pub async fn shutdown(self) {
        self.state.signal_shutdown();
        let mut task = self.task;
        if tokio::time::timeout(std::time::Duration::from_secs(2), &mut task).await.is_err() {
            task.abort();
        }
    }
}
