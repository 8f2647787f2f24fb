//! Shared simulator state: the data, auth (knox tokens, throttles), faults, counters.
//!
//! Every method of [`SimState`] is synchronous except the webhook ones; locks are std locks
//! held only for the duration of a call, so calling from async tests is fine.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration as StdDuration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

use crate::fleet::{self, AgentSeed, Catalog};
use crate::model::*;
use crate::routes::RouteKind;
use crate::util::now;
use crate::{ApiKey, KnoxTimes, SimConfig, ThrottleConfig, User};

// ------------------------------------------------------------------------------------------
// Public helper types

/// Snapshot of one agent, for tests.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentInfo {
    pub pk: i64,
    pub agent_id: String,
    pub hostname: String,
    pub client_id: i64,
    pub client_name: String,
    pub site_id: i64,
    pub site_name: String,
    pub plat: Plat,
    pub monitoring_type: MonitoringType,
    pub operating_system: String,
    pub last_seen: Option<OffsetDateTime>,
    pub offline_time: i64,
    pub overdue_time: i64,
    /// Status computed now (§3.4).
    pub status: AgentStatus,
    /// Raw value; the text `"None"` when nobody is logged on.
    pub logged_in_username: String,
    pub public_ip: String,
    /// As the API renders it (comma separated; CIDR on posix).
    pub local_ips: String,
    pub boot_time: f64,
    pub maintenance_mode: bool,
    pub serial_number: String,
    /// `None` ⇒ no inventory (`GET /software/<id>/` answers `[]`).
    pub software_count: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub id: i64,
    pub name: String,
    pub site_ids: Vec<i64>,
    pub agent_count: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteInfo {
    pub id: i64,
    pub client_id: i64,
    pub name: String,
    pub agent_count: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertInfo {
    pub id: i64,
    pub agent_id: Option<String>,
    pub agent_pk: Option<i64>,
    pub alert_type: AlertType,
    pub severity: Severity,
    pub message: String,
    pub alert_time: OffsetDateTime,
    pub resolved: bool,
    pub resolved_on: Option<OffsetDateTime>,
    pub snoozed: bool,
    pub hidden: bool,
    pub action_retcode: Option<i64>,
    pub resolved_action_retcode: Option<i64>,
}

/// Parameters of [`SimState::add_agent`]. `NewAgent::new(site_id, plat)` then set fields.
#[derive(Clone, Debug)]
pub struct NewAgent {
    pub site_id: i64,
    pub plat: Plat,
    /// Default: `WIN-<CLIENT>-<pk>` style.
    pub hostname: Option<String>,
    /// Default: 40 random letters.
    pub agent_id: Option<String>,
    pub monitoring_type: Option<MonitoringType>,
    /// Default: now (online).
    pub last_seen: Option<OffsetDateTime>,
    /// Default: the site's public IP.
    pub public_ip: Option<String>,
    /// Default: generated like the fleet (Windows only). `Some(vec![])` = empty inventory.
    pub software: Option<Vec<SoftwareItem>>,
    pub logged_in_username: Option<String>,
}

impl NewAgent {
    pub fn new(site_id: i64, plat: Plat) -> Self {
        NewAgent {
            site_id,
            plat,
            hostname: None,
            agent_id: None,
            monitoring_type: None,
            last_seen: None,
            public_ip: None,
            software: None,
            logged_in_username: None,
        }
    }
}

/// Parameters of [`SimState::raise_alert`].
#[derive(Clone, Debug)]
pub struct NewAlert {
    /// `None` ⇒ an alert without agent (then `hostname/agent_id/client/site` are absent).
    pub agent_id: Option<String>,
    pub alert_type: AlertType,
    pub severity: Severity,
    /// Default: Tactical's message for the type (availability: `"<host> in <client>, <site> is overdue."`).
    pub message: Option<String>,
    /// Default: now.
    pub alert_time: Option<OffsetDateTime>,
    pub hidden: bool,
    /// Force the alert id (replaces an existing alert with that id). Default: next id.
    pub id: Option<i64>,
}

impl NewAlert {
    /// An availability alert (severity error, Tactical's overdue message).
    pub fn availability(agent_id: impl Into<String>) -> Self {
        NewAlert {
            agent_id: Some(agent_id.into()),
            alert_type: AlertType::Availability,
            severity: Severity::Error,
            message: None,
            alert_time: None,
            hidden: false,
            id: None,
        }
    }
    /// A check alert with the given message.
    pub fn check(agent_id: impl Into<String>, severity: Severity, message: impl Into<String>) -> Self {
        NewAlert {
            agent_id: Some(agent_id.into()),
            alert_type: AlertType::Check,
            severity,
            message: Some(message.into()),
            alert_time: None,
            hidden: false,
            id: None,
        }
    }
    /// A custom alert (agent optional).
    pub fn custom(agent_id: Option<String>, severity: Severity, message: impl Into<String>) -> Self {
        NewAlert {
            agent_id,
            alert_type: AlertType::Custom,
            severity,
            message: Some(message.into()),
            alert_time: None,
            hidden: false,
            id: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    UnknownAgent(String),
    UnknownSite(i64),
    UnknownClient(i64),
    UnknownAlert(i64),
    DuplicateAgentId(String),
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::UnknownAgent(a) => write!(f, "unknown agent {a}"),
            SimError::UnknownSite(s) => write!(f, "unknown site {s}"),
            SimError::UnknownClient(c) => write!(f, "unknown client {c}"),
            SimError::UnknownAlert(a) => write!(f, "unknown alert {a}"),
            SimError::DuplicateAgentId(a) => write!(f, "agent id already exists: {a}"),
        }
    }
}

impl std::error::Error for SimError {}

/// An injected failure, applied before the route's handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Delay, then answer normally.
    Latency(StdDuration),
    /// Answer this status with an HTML body (Django page for 500, nginx page for 502/503/504).
    Status5xx(u16),
    /// 429 `{"detail":"Request was throttled. Expected available in N seconds."}` + `Retry-After: N`.
    TooManyRequests { retry_after_secs: u64 },
    /// Never answer (until the simulator shuts down). Use client timeouts.
    Hang,
    /// 200 `application/json` whose body is the real body cut in half (invalid JSON).
    MalformedJson,
    /// Send the headers (with the full Content-Length) and half of the body, then drop the connection.
    ResetMidBody,
    /// 200 `text/html` dashboard SPA page.
    DashboardHtml,
    /// A hostile server: the real 2xx JSON answer with these values put at these JSON pointers
    /// (`*` stands for every element of an array, e.g. `/results/*/offline_time`). Serves what a
    /// stock Tactical never would: extreme numbers, year-9999 times, a giant `count`.
    Rewrite(Vec<(String, serde_json::Value)>),
    /// A hostile server: 200 `application/json`, chunked, a JSON array that never ends.
    EndlessBody,
}

/// Which requests a [`Fault`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    Route(RouteKind),
    /// Request path starts with this (e.g. `"/beta/"`).
    PathPrefix(String),
    /// This route when its query string has this exact `key=value` pair (e.g. one client's beta
    /// pages: `RouteWithParam(RouteKind::BetaAgents, "client_id=4".into())`).
    RouteWithParam(RouteKind, String),
    Any,
}

impl From<RouteKind> for FaultTarget {
    fn from(r: RouteKind) -> Self {
        FaultTarget::Route(r)
    }
}
impl From<&str> for FaultTarget {
    fn from(p: &str) -> Self {
        FaultTarget::PathPrefix(p.to_string())
    }
}
impl From<String> for FaultTarget {
    fn from(p: String) -> Self {
        FaultTarget::PathPrefix(p)
    }
}

/// How long remote actions take before answering `"natsdown"` / `"timeout"` /
/// `"Unable to contact the agent"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ActionWait {
    /// Answer at once (tests that are not about timing).
    Instant,
    /// Wait this long for every failure answer.
    Fixed(StdDuration),
    /// Like the real server (default): NATS down ≈ 4 s, cmd timeout + 2 s, runscript timeout + 3 s, reboot 10 s.
    #[default]
    Realistic,
}

/// One served request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub route: Option<RouteKind>,
    /// 0 for a request that hung.
    pub status: u16,
    /// `"knox"`, `"api_key"` or `None` (which credential header was presented).
    pub credential: Option<&'static str>,
    pub fault: Option<Fault>,
}

// ------------------------------------------------------------------------------------------
// Internal state

pub(crate) struct Data {
    /// Windows rows carry their services and the full WMI (see `SimConfig::heavy_rows`).
    pub heavy_rows: bool,
    pub clients: BTreeMap<i64, Client>,
    pub sites: BTreeMap<i64, Site>,
    /// Sorted by pk.
    pub agents: Vec<Agent>,
    pub by_agent_id: HashMap<String, i64>,
    pub alerts: BTreeMap<i64, Alert>,
    pub scripts: Vec<Script>,
    pub templates: Vec<AlertTemplate>,
    pub catalog: Catalog,
    pub rng: StdRng,
    pub next_pk: i64,
    pub next_client: i64,
    pub next_site: i64,
    pub next_alert: i64,
    pub software_avg: usize,
    pub globals: Vec<(String, String)>,
    pub history: Vec<HistEntry>,
    pub next_history: i64,
    /// How long after a run the agent's results show in its history.
    pub report_delay: StdDuration,
}

impl Data {
    pub fn idx_by_pk(&self, pk: i64) -> Option<usize> {
        self.agents.binary_search_by_key(&pk, |a| a.pk).ok()
    }
    pub fn agent_by_pk(&self, pk: i64) -> Option<&Agent> {
        self.idx_by_pk(pk).map(|i| &self.agents[i])
    }
    pub fn idx_by_agent_id(&self, agent_id: &str) -> Option<usize> {
        self.by_agent_id.get(agent_id).and_then(|pk| self.idx_by_pk(*pk))
    }
    pub fn agent(&self, agent_id: &str) -> Option<&Agent> {
        self.idx_by_agent_id(agent_id).map(|i| &self.agents[i])
    }
    pub fn site_client(&self, a: &Agent) -> (&Site, &Client) {
        let site = &self.sites[&a.site_id];
        (site, &self.clients[&site.client_id])
    }
    pub fn client_of(&self, a: &Agent) -> i64 {
        self.sites.get(&a.site_id).map(|s| s.client_id).unwrap_or(0)
    }
    pub fn template(&self, id: Option<i64>) -> Option<&AlertTemplate> {
        id.and_then(|id| self.templates.iter().find(|t| t.id == id))
    }
    /// The effective alert template id of an agent (its client's).
    pub fn agent_template(&self, a: &Agent) -> Option<i64> {
        self.sites.get(&a.site_id).and_then(|s| self.clients.get(&s.client_id)).and_then(|c| c.alert_template)
    }

    fn info(&self, a: &Agent, now: OffsetDateTime) -> AgentInfo {
        let (site, client) = self.site_client(a);
        AgentInfo {
            pk: a.pk,
            agent_id: a.agent_id.clone(),
            hostname: a.hostname.clone(),
            client_id: client.id,
            client_name: client.name.clone(),
            site_id: site.id,
            site_name: site.name.clone(),
            plat: a.plat,
            monitoring_type: a.monitoring_type,
            operating_system: a.operating_system.clone(),
            last_seen: a.last_seen,
            offline_time: a.offline_time,
            overdue_time: a.overdue_time,
            status: a.status(now),
            logged_in_username: a.logged_in_username.clone(),
            public_ip: a.public_ip.clone(),
            local_ips: a.local_ips_str(),
            boot_time: a.boot_time,
            maintenance_mode: a.maintenance_mode,
            serial_number: a.serial_number(),
            software_count: a.software.as_ref().map(|s| s.len()),
        }
    }

    fn alert_info(&self, al: &Alert) -> AlertInfo {
        AlertInfo {
            id: al.id,
            agent_id: al.agent_pk.and_then(|pk| self.agent_by_pk(pk)).map(|a| a.agent_id.clone()),
            agent_pk: al.agent_pk,
            alert_type: al.alert_type,
            severity: al.severity,
            message: al.message.clone(),
            alert_time: al.alert_time,
            resolved: al.resolved,
            resolved_on: al.resolved_on,
            snoozed: al.snoozed,
            hidden: al.hidden,
            action_retcode: al.action_retcode,
            resolved_action_retcode: al.resolved_action_retcode,
        }
    }
}

pub(crate) struct Token {
    pub username: String,
    pub expiry: OffsetDateTime,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum ThrottleScope {
    CheckCreds,
    Login,
}

pub(crate) struct AuthState {
    pub api_keys: Vec<ApiKey>,
    pub users: Vec<User>,
    pub tokens: HashMap<String, Token>,
    pub throttle: ThrottleConfig,
    /// (scope, ip, is_day) → request times on the simulated clock, newest first (DRF history
    /// order; DRF's throttles read the server's clock, so advancing it frees the buckets).
    pub history: HashMap<(ThrottleScope, IpAddr, bool), VecDeque<OffsetDateTime>>,
    pub rng: StdRng,
    pub knox: KnoxTimes,
}

struct FaultRule {
    target: FaultTarget,
    fault: Fault,
    remaining: Option<u32>,
}

#[derive(Default)]
struct Stats {
    counts: HashMap<RouteKind, u64>,
    unmatched: u64,
    total: u64,
    log: Vec<RequestRecord>,
}

const LOG_CAP: usize = 100_000;

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

/// The last run of Tactical's `unsnooze_alerts` beat task (every hour at minute 10) in
/// `(was, t]`, if any.
fn last_unsnooze_run(was: OffsetDateTime, t: OffsetDateTime) -> Option<OffsetDateTime> {
    let hour = t.replace_minute(0).ok()?.replace_second(0).ok()?.replace_nanosecond(0).ok()?;
    let run = hour + Duration::minutes(10);
    let run = if run > t { run - Duration::hours(1) } else { run };
    (run > was).then_some(run)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn scripts() -> Vec<Script> {
    let s = |id,
             name,
             script_type,
             shell,
             args: &'static [&'static str],
             category,
             timeout,
             hidden,
             plats: &'static [&'static str],
             env: &'static [&'static str]| Script {
        id,
        name,
        description: "",
        script_type,
        shell,
        args,
        category,
        favorite: false,
        default_timeout: timeout,
        syntax: None,
        filename: None,
        hidden,
        supported_platforms: plats,
        run_as_user: false,
        env_vars: env,
    };
    let mut v = vec![
        s(1, "Get Uptime", "userdefined", "powershell", &[], Some("seed"), 60, false, &["windows"], &[]),
        s(2, "Disk usage", "userdefined", "shell", &["-h"], Some("seed"), 30, false, &["linux", "darwin"], &[]),
        s(3, "Echo env", "userdefined", "python", &[], Some("seed"), 30, false, &[], &["FOO=bar"]),
        s(4, "Old cleanup", "userdefined", "cmd", &[], Some("seed"), 90, true, &["windows"], &[]),
        s(
            5,
            "Clear Print Spooler and Restart",
            "builtin",
            "cmd",
            &[],
            Some("TRMM (Win):Printing"),
            90,
            false,
            &["windows"],
            &[],
        ),
        s(
            6,
            "Restart Service",
            "builtin",
            "powershell",
            &["-ServiceName {{service}}"],
            Some("TRMM (Win):Services"),
            90,
            false,
            &["windows"],
            &[],
        ),
        s(7, "Update Linux packages", "builtin", "shell", &[], Some("TRMM (Nix):Updates"), 900, false, &["linux"], &[]),
        s(
            8,
            "Hidden community script",
            "builtin",
            "powershell",
            &[],
            Some("TRMM (Win):Other"),
            90,
            true,
            &["windows"],
            &[],
        ),
        // Exits 3 with a line on stderr (see the runscript view).
        s(9, "Check disk space", "userdefined", "shell", &[], Some("seed"), 60, false, &[], &[]),
    ];
    for sc in v.iter_mut().filter(|s| s.script_type == "builtin") {
        sc.filename = Some("Win_Script.ps1");
        sc.syntax = Some("-Param <string>");
        sc.description = "Community script";
    }
    v.sort_by(|a, b| a.category.cmp(&b.category).then(a.id.cmp(&b.id)));
    v
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

    // --------------------------------------------------------------------------------------
    // Inspection

    /// All agents, ordered by pk.
    pub fn agents(&self) -> Vec<AgentInfo> {
        let d = self.read();
        let now = self.now();
        d.agents.iter().map(|a| d.info(a, now)).collect()
    }

    pub fn agent(&self, agent_id: &str) -> Option<AgentInfo> {
        let d = self.read();
        d.agent(agent_id).map(|a| d.info(a, self.now()))
    }

    pub fn agent_by_pk(&self, pk: i64) -> Option<AgentInfo> {
        let d = self.read();
        d.agent_by_pk(pk).map(|a| d.info(a, self.now()))
    }

    pub fn agent_count(&self) -> usize {
        self.read().agents.len()
    }

    /// Clients ordered by id.
    pub fn clients(&self) -> Vec<ClientInfo> {
        let d = self.read();
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for a in &d.agents {
            *counts.entry(a.site_id).or_default() += 1;
        }
        d.clients
            .values()
            .map(|c| {
                let site_ids: Vec<i64> = d.sites.values().filter(|s| s.client_id == c.id).map(|s| s.id).collect();
                let agent_count = site_ids.iter().map(|s| counts.get(s).copied().unwrap_or(0)).sum();
                ClientInfo { id: c.id, name: c.name.clone(), site_ids, agent_count }
            })
            .collect()
    }

    /// Sites ordered by id.
    pub fn sites(&self) -> Vec<SiteInfo> {
        let d = self.read();
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for a in &d.agents {
            *counts.entry(a.site_id).or_default() += 1;
        }
        d.sites
            .values()
            .map(|s| SiteInfo {
                id: s.id,
                client_id: s.client_id,
                name: s.name.clone(),
                agent_count: counts.get(&s.id).copied().unwrap_or(0),
            })
            .collect()
    }

    /// All alerts ordered by id.
    pub fn alerts(&self) -> Vec<AlertInfo> {
        let d = self.read();
        d.alerts.values().map(|a| d.alert_info(a)).collect()
    }

    pub fn alert(&self, id: i64) -> Option<AlertInfo> {
        let d = self.read();
        d.alerts.get(&id).map(|a| d.alert_info(a))
    }

    /// The agent's inventory (`None` = no inventory).
    pub fn software(&self, agent_id: &str) -> Option<Vec<SoftwareItem>> {
        let d = self.read();
        d.agent(agent_id).and_then(|a| a.software.as_ref()).map(|v| v.iter().map(|s| (**s).clone()).collect())
    }

    // --------------------------------------------------------------------------------------
    // Agent mutation

    fn with_agent<R>(&self, agent_id: &str, f: impl FnOnce(&mut Agent) -> R) -> Result<R, SimError> {
        let mut d = self.write();
        let i = d.idx_by_agent_id(agent_id).ok_or_else(|| SimError::UnknownAgent(agent_id.to_string()))?;
        Ok(f(&mut d.agents[i]))
    }

    pub fn set_agent_last_seen(&self, agent_id: &str, last_seen: OffsetDateTime) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| a.last_seen = Some(crate::util::micros(last_seen)))
    }

    /// `last_seen = null` (status offline).
    pub fn clear_agent_last_seen(&self, agent_id: &str) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| a.last_seen = None)
    }

    /// last_seen halfway between the agent's offline_time and overdue_time ago ⇒ `offline`.
    pub fn make_offline(&self, agent_id: &str) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| {
            let mid = (a.offline_time + a.overdue_time) * 30; // seconds
            a.last_seen = Some(self.now() - Duration::seconds(mid));
        })
    }

    /// last_seen one hour beyond the agent's overdue_time ⇒ `overdue`.
    pub fn make_overdue(&self, agent_id: &str) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| a.last_seen = Some(self.now() - Duration::minutes(a.overdue_time + 60)))
    }

    /// last_seen = now ⇒ `online`.
    pub fn make_online(&self, agent_id: &str) -> Result<(), SimError> {
        lock(&self.inner.silent).remove(agent_id);
        let t = self.now();
        self.with_agent(agent_id, |a| a.last_seen = Some(t))
    }

    /// Per-agent thresholds in minutes (`offline_time`, `overdue_time`).
    pub fn set_agent_thresholds(&self, agent_id: &str, offline_time: i64, overdue_time: i64) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| {
            a.offline_time = offline_time;
            a.overdue_time = overdue_time;
        })
    }

    pub fn set_maintenance_mode(&self, agent_id: &str, on: bool) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| a.maintenance_mode = on)
    }

    /// Raw `logged_in_username` (use `"None"` for nobody).
    pub fn set_logged_in_username(&self, agent_id: &str, user: &str) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| {
            a.logged_in_username = user.to_string();
            if user != "None" {
                a.last_logged_in_user = user.to_string();
            }
        })
    }

    pub fn set_hostname(&self, agent_id: &str, hostname: &str) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| hostname.clone_into(&mut a.hostname))
    }

    /// Installed memory in GB (a hardware change the next device sync sees).
    pub fn set_total_ram(&self, agent_id: &str, gb: i64) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| a.total_ram = gb)
    }

    /// Every agent currently online that was not told to stop gets `last_seen` ≈ now (what the
    /// agents' check-ins do, each at its own phase within the check-in interval).
    /// Returns how many checked in. The binary calls this every 30 s.
    pub fn checkin_online_agents(&self) -> usize {
        let t = self.now();
        self.checkin_at(t, t)
    }

    /// Agents online at `was` (and not silent) check in by `t`.
    fn checkin_at(&self, was: OffsetDateTime, t: OffsetDateTime) -> usize {
        let silent = lock(&self.inner.silent).clone();
        let every_ms = lock(&self.inner.checkin_every).whole_milliseconds().clamp(1, 3_600_000) as u64;
        let mut d = self.write();
        let mut n = 0;
        for a in d.agents.iter_mut() {
            if a.status(was) == AgentStatus::Online && !silent.contains(&a.agent_id) {
                let jitter_ms = (a.pk.unsigned_abs() * 7919 + 13) % every_ms;
                let at = t - Duration::milliseconds(jitter_ms as i64) - Duration::microseconds(a.pk % 997);
                // Never backwards: a check-in only moves last_seen forward.
                if a.last_seen.is_none_or(|l| l < at) {
                    a.last_seen = Some(at);
                }
                n += 1;
            }
        }
        n
    }

    /// The simulator's one clock: the wall clock plus what [`SimState::advance_clock`] added.
    /// Everything Tactical reads from its own clock follows it: agent status, check-ins and
    /// rows, knox token lifetimes, login throttle windows, alert, history and snooze times.
    /// TOTP codes are checked against the wall clock instead, because the client computing them
    /// cannot be moved; remote-action waits, row costs and latency faults are real time, because
    /// they exist for the client's timeouts.
    pub fn now(&self) -> OffsetDateTime {
        now() + Duration::microseconds(self.inner.clock_offset_us.load(Ordering::SeqCst))
    }

    /// Moves simulated time forward by `by` (a negative `by` does nothing): agents that were
    /// online and checking in checked in meanwhile; silent and down agents did not (their status
    /// ages as in Tactical); knox tokens age (a 5 h idle token is dead); throttle windows pass;
    /// Tactical's hourly `unsnooze_alerts` task (at minute 10) ran if one of its runs fell in the
    /// interval. Boot times, IPs and everything else stay as they are. Returns how many agents
    /// checked in.
    pub fn advance_clock(&self, by: Duration) -> usize {
        let was = self.now();
        self.inner
            .clock_offset_us
            .fetch_add(by.whole_microseconds().clamp(0, i64::MAX as i128) as i64, Ordering::SeqCst);
        let t = self.now();
        if let Some(run) = last_unsnooze_run(was, t) {
            let mut d = self.write();
            for al in d.alerts.values_mut().filter(|al| al.snoozed && al.snooze_until.is_some_and(|u| u <= run)) {
                al.snoozed = false;
                al.snooze_until = None;
            }
        }
        self.checkin_at(was, t)
    }

    /// The spacing of check-ins (default 30 s; Tactical agents check in every 30-60 s).
    pub fn set_checkin_interval(&self, every: Duration) {
        *lock(&self.inner.checkin_every) = every;
    }

    /// The agent stops checking in (service stopped, machine off): its status ages.
    pub fn stop_checkins(&self, agent_id: &str) -> Result<(), SimError> {
        self.with_agent(agent_id, |_| ())?;
        lock(&self.inner.silent).insert(agent_id.to_owned());
        Ok(())
    }

    /// The agent checks in again now and keeps doing so.
    pub fn resume_checkins(&self, agent_id: &str) -> Result<(), SimError> {
        lock(&self.inner.silent).remove(agent_id);
        let t = self.now();
        self.with_agent(agent_id, |a| a.last_seen = Some(t))
    }

    /// Move an agent to another site (possibly of another client).
    pub fn move_agent(&self, agent_id: &str, new_site_id: i64) -> Result<(), SimError> {
        let mut d = self.write();
        if !d.sites.contains_key(&new_site_id) {
            return Err(SimError::UnknownSite(new_site_id));
        }
        let i = d.idx_by_agent_id(agent_id).ok_or_else(|| SimError::UnknownAgent(agent_id.to_string()))?;
        let ip = fleet::public_ip_for_site(new_site_id);
        let a = &mut d.agents[i];
        a.site_id = new_site_id;
        a.public_ip = ip;
        Ok(())
    }

    /// Delete an agent (its alerts go too, as with Django's cascade).
    pub fn remove_agent(&self, agent_id: &str) -> Result<(), SimError> {
        let mut d = self.write();
        let i = d.idx_by_agent_id(agent_id).ok_or_else(|| SimError::UnknownAgent(agent_id.to_string()))?;
        let a = d.agents.remove(i);
        d.by_agent_id.remove(&a.agent_id);
        d.alerts.retain(|_, al| al.agent_pk != Some(a.pk));
        Ok(())
    }

    /// Add an agent; returns its snapshot (pk and agent_id assigned).
    pub fn add_agent(&self, spec: NewAgent) -> Result<AgentInfo, SimError> {
        let mut d = self.write();
        let site = d.sites.get(&spec.site_id).ok_or(SimError::UnknownSite(spec.site_id))?;
        if let Some(id) = &spec.agent_id
            && d.by_agent_id.contains_key(id)
        {
            return Err(SimError::DuplicateAgentId(id.clone()));
        }
        let client_index = (site.client_id - 1).max(0) as usize;
        let code = fleet::client_code(client_index);
        let pk = d.next_pk;
        let t = self.now();
        let software_avg = d.software_avg;
        let site_ref = Site {
            id: site.id,
            client_id: site.client_id,
            name: site.name.clone(),
            created_time: site.created_time,
            modified_time: site.modified_time,
        };
        let data = &mut *d;
        let mut agent = fleet::make_agent(
            &mut data.rng,
            AgentSeed {
                pk,
                agent_id: spec.agent_id.clone(),
                hostname: spec.hostname.clone(),
                site: &site_ref,
                client_code: &code,
                plat: Some(spec.plat),
                monitoring_type: spec.monitoring_type,
                last_seen: Some(Some(spec.last_seen.map(crate::util::micros).unwrap_or(t))),
                software_avg,
            },
            &data.catalog,
            t,
        );
        agent.wmi_broken = false;
        if let Some(ip) = spec.public_ip {
            agent.public_ip = ip;
        }
        if let Some(sw) = spec.software {
            agent.software = Some(sw.into_iter().map(Arc::new).collect());
        }
        if let Some(u) = spec.logged_in_username {
            agent.logged_in_username = u;
        }
        agent.created_time = t;
        agent.modified_time = t;
        d.next_pk += 1;
        d.by_agent_id.insert(agent.agent_id.clone(), pk);
        d.agents.push(agent); // pk is the largest: stays sorted
        let a = d.agents.last().expect("just pushed");
        Ok(d.info(a, t))
    }

    /// Add a client (no sites); returns its id.
    pub fn add_client(&self, name: &str) -> i64 {
        let mut d = self.write();
        let id = d.next_client;
        d.next_client += 1;
        let t = self.now();
        d.clients
            .insert(id, Client { id, name: name.to_string(), created_time: t, modified_time: t, alert_template: None });
        id
    }

    /// Add a site to a client; returns its id.
    pub fn add_site(&self, client_id: i64, name: &str) -> Result<i64, SimError> {
        let mut d = self.write();
        if !d.clients.contains_key(&client_id) {
            return Err(SimError::UnknownClient(client_id));
        }
        let id = d.next_site;
        d.next_site += 1;
        let t = self.now();
        d.sites.insert(id, Site { id, client_id, name: name.to_string(), created_time: t, modified_time: t });
        Ok(id)
    }

    pub fn rename_client(&self, client_id: i64, name: &str) -> Result<(), SimError> {
        let mut d = self.write();
        let c = d.clients.get_mut(&client_id).ok_or(SimError::UnknownClient(client_id))?;
        c.name = name.to_string();
        Ok(())
    }

    pub fn rename_site(&self, site_id: i64, name: &str) -> Result<(), SimError> {
        let mut d = self.write();
        let s = d.sites.get_mut(&site_id).ok_or(SimError::UnknownSite(site_id))?;
        s.name = name.to_string();
        Ok(())
    }

    // --------------------------------------------------------------------------------------
    // Software

    /// Replace the agent's inventory (creates one if it had none).
    pub fn set_software(&self, agent_id: &str, items: Vec<SoftwareItem>) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| a.software = Some(items.into_iter().map(Arc::new).collect()))
    }

    /// Drop the inventory: `GET /software/<id>/` answers `[]` again.
    pub fn clear_software(&self, agent_id: &str) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| a.software = None)
    }

    /// Add an item (replacing one with the same exact name).
    pub fn install_software(&self, agent_id: &str, item: SoftwareItem) -> Result<(), SimError> {
        self.with_agent(agent_id, |a| {
            let list = a.software.get_or_insert_with(Vec::new);
            list.retain(|s| s.name != item.name);
            list.push(Arc::new(item));
        })
    }

    /// Remove items with this exact name; returns whether one was removed.
    pub fn uninstall_software(&self, agent_id: &str, name: &str) -> Result<bool, SimError> {
        self.with_agent(agent_id, |a| match a.software.as_mut() {
            Some(list) => {
                let before = list.len();
                list.retain(|s| s.name != name);
                list.len() != before
            }
            None => false,
        })
    }

    // --------------------------------------------------------------------------------------
    // Alerts

    /// Create an alert; returns its id.
    pub fn raise_alert(&self, spec: NewAlert) -> Result<i64, SimError> {
        let mut d = self.write();
        let agent = match &spec.agent_id {
            Some(id) => Some(d.agent(id).ok_or_else(|| SimError::UnknownAgent(id.clone()))?),
            None => None,
        };
        let message = match (&spec.message, agent) {
            (Some(m), _) => m.clone(),
            (None, Some(a)) => {
                let (site, client) = d.site_client(a);
                match spec.alert_type {
                    AlertType::Availability => fleet::availability_message(&a.hostname, &client.name, &site.name),
                    AlertType::Check => format!("{} has a CPU Load Check that failed.", a.hostname),
                    AlertType::Task => format!("{} has task: Nightly backup that failed.", a.hostname),
                    AlertType::Custom => format!("Custom alert on {}", a.hostname),
                }
            }
            (None, None) => "Custom alert".to_string(),
        };
        let agent_pk = agent.map(|a| a.pk);
        let id = spec.id.unwrap_or(d.next_alert);
        d.next_alert = d.next_alert.max(id + 1);
        let at = crate::util::micros(spec.alert_time.unwrap_or_else(|| self.now()));
        let mut al = Alert::new(id, agent_pk, spec.alert_type, spec.severity, message, at);
        al.hidden = spec.hidden;
        match spec.alert_type {
            AlertType::Check => {
                al.assigned_check = Some(100 + id);
                al.check_desc = Some("CPU Load".into());
            }
            AlertType::Task => {
                al.assigned_task = Some(200 + id);
                al.check_desc = Some("Nightly backup".into());
            }
            _ => {}
        }
        d.alerts.insert(id, al);
        Ok(id)
    }

    /// Resolve now (`resolved=true`, `resolved_on=now`, unsnoozed).
    pub fn resolve_alert(&self, id: i64) -> Result<(), SimError> {
        self.resolve_alert_at(id, self.now())
    }

    pub fn resolve_alert_at(&self, id: i64, at: OffsetDateTime) -> Result<(), SimError> {
        let mut d = self.write();
        let al = d.alerts.get_mut(&id).ok_or(SimError::UnknownAlert(id))?;
        al.resolved = true;
        al.resolved_on = Some(crate::util::micros(at));
        al.snoozed = false;
        al.snooze_until = None;
        Ok(())
    }

    pub fn snooze_alert(&self, id: i64, days: i64) -> Result<(), SimError> {
        let mut d = self.write();
        let al = d.alerts.get_mut(&id).ok_or(SimError::UnknownAlert(id))?;
        al.snoozed = true;
        al.snooze_until = Some(self.now() + Duration::days(days));
        Ok(())
    }

    pub fn set_alert_hidden(&self, id: i64, hidden: bool) -> Result<(), SimError> {
        let mut d = self.write();
        let al = d.alerts.get_mut(&id).ok_or(SimError::UnknownAlert(id))?;
        al.hidden = hidden;
        Ok(())
    }

    pub fn delete_alert(&self, id: i64) -> Result<(), SimError> {
        self.write().alerts.remove(&id).map(|_| ()).ok_or(SimError::UnknownAlert(id))
    }

    /// Global Key Store value for `{{global.NAME}}` in webhook templates.
    pub fn set_global_key(&self, name: &str, value: &str) {
        let mut d = self.write();
        d.globals.retain(|(k, _)| k != name);
        d.globals.push((name.to_string(), value.to_string()));
    }

    // --------------------------------------------------------------------------------------
    // Modes

    pub fn set_nats_up(&self, up: bool) {
        self.inner.nats.store(up, Ordering::SeqCst);
    }
    pub fn nats_up(&self) -> bool {
        self.inner.nats.load(Ordering::SeqCst)
    }
    pub fn set_beta_enabled(&self, on: bool) {
        self.inner.beta.store(on, Ordering::SeqCst);
    }
    pub fn beta_enabled(&self) -> bool {
        self.inner.beta.load(Ordering::SeqCst)
    }
    pub fn set_dashboard_mode(&self, on: bool) {
        self.inner.dashboard.store(on, Ordering::SeqCst);
    }
    pub fn dashboard_mode(&self) -> bool {
        self.inner.dashboard.load(Ordering::SeqCst)
    }
    /// How long after a command or script run its results appear in the agent's history
    /// (default 150 ms; the agent reports after answering).
    pub fn set_report_delay(&self, d: StdDuration) {
        self.write().report_delay = d;
    }

    /// Every run the agent has executed reports its results now.
    pub fn report_runs_now(&self) -> usize {
        let t = self.now();
        let mut d = self.write();
        let mut n = 0;
        for h in d.history.iter_mut().filter(|h| h.outcome.is_some() && h.ready_at > t) {
            h.ready_at = t;
            n += 1;
        }
        n
    }

    /// History rows of an agent: (id, kind, reported).
    pub fn history_of(&self, agent_id: &str) -> Vec<(i64, String, bool)> {
        let d = self.read();
        let Some(pk) = d.agent(agent_id).map(|a| a.pk) else { return Vec::new() };
        let t = self.now();
        d.history
            .iter()
            .filter(|h| h.agent_pk == pk)
            .map(|h| (h.id, h.kind.to_owned(), h.outcome.is_some() && h.ready_at <= t))
            .collect()
    }

    pub fn set_action_wait(&self, w: ActionWait) {
        *lock(&self.inner.action_wait) = w;
    }
    pub(crate) fn action_wait(&self) -> ActionWait {
        *lock(&self.inner.action_wait)
    }
    /// See [`crate::SimConfig::row_cost`].
    pub fn set_row_cost(&self, cost: StdDuration) {
        *lock(&self.inner.row_cost) = cost;
    }
    pub(crate) fn row_cost(&self) -> StdDuration {
        *lock(&self.inner.row_cost)
    }

    // --------------------------------------------------------------------------------------
    // Credentials

    pub fn add_api_key(&self, key: ApiKey) {
        let mut a = self.auth();
        a.api_keys.retain(|k| k.key != key.key);
        a.api_keys.push(key);
    }

    pub fn remove_api_key(&self, key: &str) {
        self.auth().api_keys.retain(|k| k.key != key);
    }

    pub fn add_user(&self, user: User) {
        let mut a = self.auth();
        a.users.retain(|u| u.username != user.username);
        a.users.push(user);
    }

    /// Number of live knox tokens.
    pub fn active_tokens(&self) -> usize {
        let t = self.now();
        let a = self.auth();
        a.tokens.values().filter(|k| k.expiry > t).count()
    }

    /// Current expiry of a knox token (`None` if unknown), on the simulated clock. A use pushes it
    /// to now + 5 h when that moves it by more than 10 minutes; checkcreds tokens of non-TOTP
    /// users start at now + 180 s.
    pub fn token_expiry(&self, token: &str) -> Option<OffsetDateTime> {
        self.auth().tokens.get(token).map(|t| t.expiry)
    }

    /// Expire every knox token (the next use answers 401 "Invalid token.").
    pub fn expire_tokens(&self) {
        self.auth().tokens.clear();
    }

    /// Knox token lifetimes (defaults: Tactical's).
    pub fn set_knox_times(&self, knox: KnoxTimes) {
        self.auth().knox = knox;
    }

    pub(crate) fn knox_times(&self) -> KnoxTimes {
        self.auth().knox
    }

    pub fn set_throttle(&self, cfg: ThrottleConfig) {
        let mut a = self.auth();
        a.throttle = cfg;
        a.history.clear();
    }

    pub(crate) fn new_token(&self, username: &str, ttl: Duration) -> (String, OffsetDateTime) {
        let expiry = self.now() + ttl;
        let mut a = self.auth();
        let token: String = (0..32).map(|_| format!("{:02x}", a.rng.random::<u8>())).collect();
        a.tokens.insert(token.clone(), Token { username: username.to_string(), expiry });
        (token, expiry)
    }

    // --------------------------------------------------------------------------------------
    // Faults

    /// Apply `fault` to every matching request until [`SimState::clear_faults`].
    pub fn set_fault(&self, target: impl Into<FaultTarget>, fault: Fault) {
        lock(&self.inner.faults).push(FaultRule { target: target.into(), fault, remaining: None });
    }

    /// Apply `fault` to the next `times` matching requests only.
    pub fn set_fault_times(&self, target: impl Into<FaultTarget>, fault: Fault, times: u32) {
        lock(&self.inner.faults).push(FaultRule { target: target.into(), fault, remaining: Some(times) });
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    pub(crate) fn take_fault(&self, route: Option<RouteKind>, path: &str, query: Option<&str>) -> Option<Fault> {
        let mut rules = lock(&self.inner.faults);
        let pos = rules.iter().position(|r| {
            r.remaining != Some(0)
                && match &r.target {
                    FaultTarget::Any => true,
                    FaultTarget::Route(k) => Some(*k) == route,
                    FaultTarget::PathPrefix(p) => path.starts_with(p.as_str()),
                    FaultTarget::RouteWithParam(k, pair) => {
                        Some(*k) == route && query.is_some_and(|q| q.split('&').any(|kv| kv == pair))
                    }
                }
        })?;
        let fault = rules[pos].fault.clone();
        if let Some(n) = rules[pos].remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                rules.remove(pos);
            }
        }
        Some(fault)
    }

    // --------------------------------------------------------------------------------------
    // Counters

    pub(crate) fn count_request(&self, route: Option<RouteKind>) {
        let mut s = lock(&self.inner.stats);
        s.total += 1;
        match route {
            Some(r) => *s.counts.entry(r).or_default() += 1,
            None => s.unmatched += 1,
        }
    }

    pub(crate) fn log_request(&self, rec: RequestRecord) {
        let mut s = lock(&self.inner.stats);
        if s.log.len() >= LOG_CAP {
            s.log.remove(0);
        }
        s.log.push(rec);
    }

    /// Requests received for this route (any method, any outcome, faulted ones included).
    pub fn request_count(&self, route: RouteKind) -> u64 {
        lock(&self.inner.stats).counts.get(&route).copied().unwrap_or(0)
    }

    pub fn request_counts(&self) -> HashMap<RouteKind, u64> {
        lock(&self.inner.stats).counts.clone()
    }

    /// Requests whose path matched no route (HTML 404 or 301 redirects).
    pub fn unmatched_request_count(&self) -> u64 {
        lock(&self.inner.stats).unmatched
    }

    pub fn total_requests(&self) -> u64 {
        lock(&self.inner.stats).total
    }

    /// The last (up to 100 000) requests, oldest first, with their status.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner.stats).log.clone()
    }

    pub fn reset_counters(&self) {
        *lock(&self.inner.stats) = Stats::default();
    }

    // --------------------------------------------------------------------------------------
    // Shutdown

    pub(crate) fn signal_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    pub(crate) async fn wait_shutdown(&self) {
        let mut rx = self.inner.shutdown.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}
