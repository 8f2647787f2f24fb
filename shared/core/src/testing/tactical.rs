//! [`FakeTactical`]: the [`TacticalApi`](crate::tactical::TacticalApi) port over a small in-memory fleet (clients, sites,
//! agents, alerts, software, scripts, history), with knobs for Tactical's failures. It answers as
//! a stock Tactical 1.5 does where the domain depends on it (paging, `Invalid page.`, hidden and
//! community scripts, unreachable agents); the simulator (infra/tactical-sim) stays the wire-level
//! reference.

use crate::domain::status::AgentStatus;
use crate::domain::time::{now, to_rfc3339};
use crate::tactical::TacticalError;
use crate::tactical::types::*;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use crate::tactical::policy::MAX_ACTION_OUTPUT;

/// One Tactical route of the port, for failure knobs and call counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Probe,
    CheckCreds,
    Login,
    Logout,
    Clients,
    BetaAgents,
    AgentsSlim,
    AgentStatuses,
    Agent,
    AgentRow,
    Alerts,
    Alert,
    ChangeAlert,
    ChangeAlertsBulk,
    AgentHistory,
    SoftwareFor,
    SoftwareAll,
    Scripts,
    RunCommand,
    RunScript,
    Reboot,
    RebootAt,
}

/// A side effect a remote action had on the fleet.
#[derive(Debug, Clone, PartialEq)]
pub enum TacticalAction {
    Command { agent_id: String, cmd: String },
    Script { agent_id: String, script_id: i64, wait: bool },
    Reboot { agent_id: String },
    RebootAt { agent_id: String, datetime: String },
    AlertChange { id: i64, change: AlertChange },
}

/// An agent of the fake fleet: its beta row, its client, and the status Tactical reports.
#[derive(Debug, Clone)]
pub struct FakeAgent {
    pub row: BetaAgent,
    pub client_id: i64,
    pub status: AgentStatus,
}

impl FakeAgent {
    /// An online Windows workstation, seen just now (offline after 4 min, overdue after 30).
    pub fn new(pk: i64, agent_id: &str, hostname: &str, client_id: i64, site_id: i64) -> Self {
        let row = BetaAgent {
            id: pk,
            agent_id: agent_id.to_owned(),
            hostname: hostname.to_owned(),
            site: Some(site_id),
            monitoring_type: Some("workstation".into()),
            plat: Some("windows".into()),
            goarch: Some("amd64".into()),
            operating_system: Some("Windows 11 Pro, 64 bit v23H2 (build 22631.3007)".into()),
            version: Some("2.10.0".into()),
            last_seen: Some(to_rfc3339(now())),
            offline_time: Some(4),
            overdue_time: Some(30),
            boot_time: None,
            logged_in_username: None,
            last_logged_in_user: None,
            public_ip: None,
            total_ram: Some(16),
            needs_reboot: Some(false),
            maintenance_mode: Some(false),
            description: None,
            wmi_detail: None,
        };
        Self { row, client_id, status: AgentStatus::Online }
    }
}

#[derive(Debug, Default)]
pub(super) struct Fleet {
    pub(super) clients: Vec<Client>,
    pub(super) agents: Vec<FakeAgent>,
    pub(super) alerts: Vec<Alert>,
    /// Inventories by agent id; an agent without one answers `None` (Tactical's `[]`).
    pub(super) software: HashMap<String, Vec<SoftwareItem>>,
    pub(super) scripts: Vec<Script>,
    pub(super) history: HashMap<String, Vec<HistoryRow>>,
    pub(super) script_output: HashMap<i64, String>,
    pub(super) credentials: Option<(String, String, Option<String>)>,
}

#[derive(Debug, Default)]
struct Knobs {
    next: HashMap<Route, VecDeque<TacticalError>>,
    always: HashMap<Route, TacticalError>,
    calls: HashMap<Route, usize>,
    actions: Vec<TacticalAction>,
}

#[derive(Debug, Default)]
pub struct FakeTactical {
    pub(super) fleet: Mutex<Fleet>,
    knobs: Mutex<Knobs>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn not_found(path: String) -> TacticalError {
    TacticalError::NotFound { path, detail: None }
}

pub(super) fn bound(text: &str) -> ActionOutput {
    let mut cut = text.len().min(MAX_ACTION_OUTPUT);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    ActionOutput { output: text[..cut].to_owned(), truncated: cut < text.len(), output_bytes: text.len() }
}

impl FakeTactical {
    pub fn new() -> Self {
        Self::default()
    }

    /// Two clients (three sites) and five agents, one of them offline; an open alert; software on
    /// two agents; a visible, a hidden and a community script.
    pub fn small_fleet() -> Self {
        let t = Self::new();
        t.add_client(1, "Acme Corp", &[(10, "HQ"), (11, "Branch")]);
        t.add_client(2, "Globex", &[(20, "Main")]);
        let agents = [
            (101, "agent-acme-1", "ACME-WS-1", 1, 10),
            (102, "agent-acme-2", "ACME-WS-2", 1, 10),
            (103, "agent-acme-3", "ACME-SRV-1", 1, 11),
            (201, "agent-globex-1", "GLOBEX-WS-1", 2, 20),
            (202, "agent-globex-2", "GLOBEX-WS-2", 2, 20),
        ];
        for (pk, id, host, client, site) in agents {
            t.add_agent(FakeAgent::new(pk, id, host, client, site));
        }
        t.set_status("agent-globex-2", AgentStatus::Offline);
        t.add_alert(Alert {
            id: 1,
            agent_id: Some("agent-acme-1".into()),
            hostname: Some("ACME-WS-1".into()),
            client: Some("Acme Corp".into()),
            site: Some("HQ".into()),
            alert_time: Some(to_rfc3339(now())),
            alert_type: Some("check".into()),
            message: Some("ACME-WS-1 had a disk space check fail".into()),
            snoozed: false,
            resolved: false,
            resolved_on: None,
            severity: Some("error".into()),
            hidden: false,
            snooze_until: None,
        });
        let item = |name: &str, publisher: &str, version: &str| SoftwareItem {
            name: name.into(),
            publisher: Some(publisher.into()),
            version: Some(version.into()),
            ..Default::default()
        };
        t.set_software(
            "agent-acme-1",
            Some(vec![item("7-Zip 23.01 (x64)", "Igor Pavlov", "23.01"), item("Google Chrome", "Google LLC", "120.0")]),
        );
        t.set_software("agent-globex-1", Some(vec![item("Google Chrome", "Google LLC", "121.0")]));
        let script = |id: i64, name: &str, script_type: &str, hidden: bool| Script {
            id,
            name: name.into(),
            description: String::new(),
            script_type: Some(script_type.into()),
            shell: Some("powershell".into()),
            args: vec![],
            category: None,
            default_timeout: Some(90),
            hidden,
            supported_platforms: vec![],
            run_as_user: false,
            env_vars: vec![],
        };
        t.add_script(script(1, "Disk usage", "userdefined", false));
        t.add_script(script(2, "Old cleanup", "userdefined", true));
        t.add_script(script(3, "Community: clear temp", "builtin", false));
        t
    }

    pub fn add_client(&self, id: i64, name: &str, sites: &[(i64, &str)]) {
        let sites = sites.iter().map(|(id, n)| Site { id: *id, name: (*n).to_owned(), agent_count: Some(0) }).collect();
        lock(&self.fleet).clients.push(Client { id, name: name.to_owned(), sites, agent_count: Some(0) });
        self.recount();
    }

    /// Removes a client and its agents (a client deleted in Tactical).
    pub fn remove_client(&self, id: i64) {
        let mut f = lock(&self.fleet);
        f.clients.retain(|c| c.id != id);
        f.agents.retain(|a| a.client_id != id);
        drop(f);
        self.recount();
    }

    pub fn add_agent(&self, agent: FakeAgent) {
        lock(&self.fleet).agents.push(agent);
        self.recount();
    }

    pub fn remove_agent(&self, agent_id: &str) {
        lock(&self.fleet).agents.retain(|a| a.row.agent_id != agent_id);
        self.recount();
    }

    /// Changes an agent's row in place (host name, site, vitals...).
    pub fn update_agent(&self, agent_id: &str, change: impl FnOnce(&mut FakeAgent)) {
        if let Some(a) = lock(&self.fleet).agents.iter_mut().find(|a| a.row.agent_id == agent_id) {
            change(a);
        }
        self.recount();
    }

    /// Sets the status Tactical reports, and a `last_seen` that gives that status.
    pub fn set_status(&self, agent_id: &str, status: AgentStatus) {
        let minutes_ago = match status {
            AgentStatus::Online => 0,
            AgentStatus::Offline => 10,
            AgentStatus::Overdue => 120,
        };
        self.update_agent(agent_id, |a| {
            a.status = status;
            a.row.last_seen = Some(to_rfc3339(now() - time::Duration::minutes(minutes_ago)));
        });
    }

    pub fn add_alert(&self, alert: Alert) {
        lock(&self.fleet).alerts.push(alert);
    }

    pub fn set_software(&self, agent_id: &str, items: Option<Vec<SoftwareItem>>) {
        let mut f = lock(&self.fleet);
        match items {
            Some(items) => f.software.insert(agent_id.to_owned(), items),
            None => f.software.remove(agent_id),
        };
    }

    pub fn add_script(&self, script: Script) {
        lock(&self.fleet).scripts.push(script);
    }

    /// What a waited-for run of the script prints.
    pub fn set_script_output(&self, script_id: i64, output: &str) {
        lock(&self.fleet).script_output.insert(script_id, output.to_owned());
    }

    pub fn add_history(&self, agent_id: &str, row: HistoryRow) {
        lock(&self.fleet).history.entry(agent_id.to_owned()).or_default().push(row);
    }

    /// Username and password `check_creds` accepts, and the TOTP code `login` wants (if any).
    pub fn set_credentials(&self, username: &str, password: &str, totp: Option<&str>) {
        lock(&self.fleet).credentials = Some((username.into(), password.into(), totp.map(str::to_owned)));
    }

    /// The next call of `route` fails with `err` (queued: several calls fail in turn).
    pub fn fail_next(&self, route: Route, err: TacticalError) {
        lock(&self.knobs).next.entry(route).or_default().push_back(err);
    }

    /// Every call of `route` fails with `err` until cleared with `None`.
    pub fn fail_always(&self, route: Route, err: Option<TacticalError>) {
        let mut k = lock(&self.knobs);
        match err {
            Some(e) => k.always.insert(route, e),
            None => k.always.remove(&route),
        };
    }

    /// Calls of `route` so far (failed ones included).
    pub fn calls(&self, route: Route) -> usize {
        lock(&self.knobs).calls.get(&route).copied().unwrap_or(0)
    }

    /// Side effects of remote actions so far, oldest first.
    pub fn actions(&self) -> Vec<TacticalAction> {
        lock(&self.knobs).actions.clone()
    }

    pub fn alert_state(&self, id: i64) -> Option<Alert> {
        lock(&self.fleet).alerts.iter().find(|a| a.id == id).cloned()
    }

    fn recount(&self) {
        let mut f = lock(&self.fleet);
        let counts: Vec<(i64, Option<i64>)> = f.agents.iter().map(|a| (a.client_id, a.row.site)).collect();
        for c in &mut f.clients {
            for s in &mut c.sites {
                s.agent_count = i64::try_from(counts.iter().filter(|(_, site)| *site == Some(s.id)).count()).ok();
            }
            c.agent_count = i64::try_from(counts.iter().filter(|(cl, _)| *cl == c.id).count()).ok();
        }
    }

    /// Counts the call and answers an injected failure, if one is due.
    pub(super) fn enter(&self, route: Route) -> Result<(), TacticalError> {
        let mut k = lock(&self.knobs);
        *k.calls.entry(route).or_default() += 1;
        if let Some(e) = k.next.get_mut(&route).and_then(VecDeque::pop_front) {
            return Err(e);
        }
        k.always.get(&route).cloned().map_or(Ok(()), Err)
    }

    pub(super) fn record(&self, action: TacticalAction) {
        lock(&self.knobs).actions.push(action);
    }

    pub(super) fn agent(&self, agent_id: &str) -> Result<FakeAgent, TacticalError> {
        let f = lock(&self.fleet);
        f.agents
            .iter()
            .find(|a| a.row.agent_id == agent_id)
            .cloned()
            .ok_or_else(|| not_found(format!("/agents/{agent_id}/")))
    }

    /// Tactical sends the command over NATS; an agent that is not online never answers.
    pub(super) fn reachable(&self, agent_id: &str) -> Result<FakeAgent, TacticalError> {
        let a = self.agent(agent_id)?;
        if a.status != AgentStatus::Online {
            return Err(TacticalError::AgentUnreachable);
        }
        Ok(a)
    }

    pub(super) fn change(&self, id: i64, change: AlertChange) -> bool {
        let mut f = lock(&self.fleet);
        let Some(a) = f.alerts.iter_mut().find(|a| a.id == id) else { return false };
        match change {
            AlertChange::Resolve => {
                a.resolved = true;
                a.resolved_on = Some(to_rfc3339(now()));
            }
            AlertChange::Snooze { days } => {
                a.snoozed = true;
                a.snooze_until = Some(to_rfc3339(now() + time::Duration::days(i64::from(days))));
            }
            AlertChange::Unsnooze => {
                a.snoozed = false;
                a.snooze_until = None;
            }
        }
        drop(f);
        self.record(TacticalAction::AlertChange { id, change });
        true
    }
}
