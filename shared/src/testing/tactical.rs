//! [`FakeTactical`]: the [`TacticalApi`] port over a small in-memory fleet (clients, sites,
//! agents, alerts, software, scripts, history), with knobs for Tactical's failures. It answers as
//! a stock Tactical 1.5 does where the domain depends on it (paging, `Invalid page.`, hidden and
//! community scripts, unreachable agents); the simulator (infra/tactical-sim) stays the wire-level
//! reference.

use crate::domain::status::AgentStatus;
use crate::domain::time::{now, to_rfc3339};
use crate::tactical::types::*;
use crate::tactical::{SoftwareRows, TacticalApi, TacticalError};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Output kept of a command or script, as the HTTP client bounds it.
const MAX_ACTION_OUTPUT: usize = 64 * 1024;

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
struct Fleet {
    clients: Vec<Client>,
    agents: Vec<FakeAgent>,
    alerts: Vec<Alert>,
    /// Inventories by agent id; an agent without one answers `None` (Tactical's `[]`).
    software: HashMap<String, Vec<SoftwareItem>>,
    scripts: Vec<Script>,
    history: HashMap<String, Vec<HistoryRow>>,
    script_output: HashMap<i64, String>,
    credentials: Option<(String, String, Option<String>)>,
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
    fleet: Mutex<Fleet>,
    knobs: Mutex<Knobs>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn not_found(path: String) -> TacticalError {
    TacticalError::NotFound { path, detail: None }
}

fn bound(text: &str) -> ActionOutput {
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
    fn enter(&self, route: Route) -> Result<(), TacticalError> {
        let mut k = lock(&self.knobs);
        *k.calls.entry(route).or_default() += 1;
        if let Some(e) = k.next.get_mut(&route).and_then(VecDeque::pop_front) {
            return Err(e);
        }
        k.always.get(&route).cloned().map_or(Ok(()), Err)
    }

    fn record(&self, action: TacticalAction) {
        lock(&self.knobs).actions.push(action);
    }

    fn agent(&self, agent_id: &str) -> Result<FakeAgent, TacticalError> {
        let f = lock(&self.fleet);
        f.agents
            .iter()
            .find(|a| a.row.agent_id == agent_id)
            .cloned()
            .ok_or_else(|| not_found(format!("/agents/{agent_id}/")))
    }

    /// Tactical sends the command over NATS; an agent that is not online never answers.
    fn reachable(&self, agent_id: &str) -> Result<FakeAgent, TacticalError> {
        let a = self.agent(agent_id)?;
        if a.status != AgentStatus::Online {
            return Err(TacticalError::AgentUnreachable);
        }
        Ok(a)
    }

    fn change(&self, id: i64, change: AlertChange) -> bool {
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

#[async_trait]
impl TacticalApi for FakeTactical {
    async fn probe(&self) -> Result<(), TacticalError> {
        self.enter(Route::Probe)
    }

    async fn check_creds(&self, username: &str, password: &SecretString) -> Result<CheckCreds, TacticalError> {
        self.enter(Route::CheckCreds)?;
        let creds = lock(&self.fleet).credentials.clone();
        match creds {
            Some((u, p, _)) if u != username || p != password.expose_secret() => Err(TacticalError::BadCredentials),
            Some((_, _, Some(_))) => Ok(CheckCreds::TotpRequired),
            _ => Ok(CheckCreds::Token { token: SecretString::from("fake-knox-token"), expiry: None }),
        }
    }

    async fn login(&self, username: &str, password: &SecretString, totp: &str) -> Result<KnoxLogin, TacticalError> {
        self.enter(Route::Login)?;
        let creds = lock(&self.fleet).credentials.clone();
        match creds {
            Some((u, p, code))
                if u != username || p != password.expose_secret() || code.as_deref().is_some_and(|c| c != totp) =>
            {
                Err(TacticalError::BadCredentials)
            }
            _ => Ok(KnoxLogin { token: SecretString::from("fake-knox-token"), expiry: None }),
        }
    }

    async fn logout(&self) -> Result<(), TacticalError> {
        self.enter(Route::Logout)
    }

    async fn clients(&self) -> Result<Vec<Client>, TacticalError> {
        self.enter(Route::Clients)?;
        Ok(lock(&self.fleet).clients.clone())
    }

    async fn beta_agents_page(&self, q: &BetaAgentQuery) -> Result<BetaPage<BetaAgent>, TacticalError> {
        self.enter(Route::BetaAgents)?;
        let f = lock(&self.fleet);
        let rows: Vec<BetaAgent> = f
            .agents
            .iter()
            .filter(|a| q.client_id.is_none_or(|c| a.client_id == c))
            .filter(|a| q.site.is_none_or(|s| a.row.site == Some(s)))
            .filter(|a| q.hostname.as_ref().is_none_or(|h| a.row.hostname == *h))
            .filter(|a| q.search.as_ref().is_none_or(|s| a.row.hostname.to_lowercase().contains(&s.to_lowercase())))
            .map(|a| a.row.clone())
            .collect();
        // DRF paging: page_size up to 1000 (100 by default), a page past the last is a 404.
        let size = if q.page_size == 0 { 100 } else { q.page_size.min(1000) } as usize;
        let pages = rows.len().div_ceil(size).max(1);
        let page = if q.page == 0 { 1 } else { q.page as usize };
        if page > pages {
            return Err(TacticalError::NotFound {
                path: "/beta/v1/agent/".into(),
                detail: Some("Invalid page.".into()),
            });
        }
        let count = rows.len() as u64;
        let next = (page < pages).then(|| format!("/beta/v1/agent/?page={}&page_size={size}", page + 1));
        let previous = (page > 1).then(|| format!("/beta/v1/agent/?page={}&page_size={size}", page - 1));
        let results = rows.into_iter().skip((page - 1) * size).take(size).collect();
        Ok(BetaPage { count, next, previous, results })
    }

    async fn agents_slim(&self, client_id: Option<i64>) -> Result<Vec<AgentSlim>, TacticalError> {
        self.enter(Route::AgentsSlim)?;
        let f = lock(&self.fleet);
        let name_of = |a: &FakeAgent| {
            let c = f.clients.iter().find(|c| c.id == a.client_id);
            let site = c.and_then(|c| c.sites.iter().find(|s| Some(s.id) == a.row.site)).map(|s| s.name.clone());
            (c.map(|c| c.name.clone()).unwrap_or_default(), site.unwrap_or_default())
        };
        Ok(f.agents
            .iter()
            .filter(|a| client_id.is_none_or(|c| a.client_id == c))
            .map(|a| {
                let (client, site) = name_of(a);
                AgentSlim {
                    id: a.row.id,
                    agent_id: a.row.agent_id.clone(),
                    hostname: a.row.hostname.clone(),
                    client,
                    site,
                }
            })
            .collect())
    }

    async fn agent(&self, agent_id: &str) -> Result<AgentDetail, TacticalError> {
        self.enter(Route::Agent)?;
        let a = self.agent(agent_id)?;
        let f = lock(&self.fleet);
        let client = f.clients.iter().find(|c| c.id == a.client_id);
        let site_name = client.and_then(|c| c.sites.iter().find(|s| Some(s.id) == a.row.site)).map(|s| s.name.clone());
        let r = a.row;
        Ok(AgentDetail {
            agent_id: r.agent_id,
            hostname: r.hostname,
            site: r.site,
            site_name,
            client: client.map(|c| c.name.clone()),
            status: Some(a.status.as_str().to_owned()),
            monitoring_type: r.monitoring_type,
            plat: r.plat,
            operating_system: r.operating_system,
            version: r.version,
            last_seen: r.last_seen,
            offline_time: r.offline_time,
            overdue_time: r.overdue_time,
            boot_time: r.boot_time,
            logged_in_username: r.logged_in_username,
            public_ip: r.public_ip,
            local_ips: None,
            make_model: None,
            needs_reboot: r.needs_reboot,
            maintenance_mode: r.maintenance_mode,
            timezone: Some("UTC".into()),
        })
    }

    async fn agent_row(&self, agent_id: &str) -> Result<BetaAgent, TacticalError> {
        self.enter(Route::AgentRow)?;
        // The classic detail carries no integer pk.
        Ok(BetaAgent { id: 0, ..self.agent(agent_id)?.row })
    }

    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, TacticalError> {
        self.enter(Route::Alerts)?;
        let since = now() - time::Duration::days(i64::from(filter.time_filter));
        let f = lock(&self.fleet);
        Ok(f.alerts
            .iter()
            .filter(|a| !a.hidden)
            .filter(|a| filter.snoozed_filter || !a.snoozed)
            .filter(|a| filter.resolved_filter || !a.resolved)
            .filter(|a| a.alert_time.as_deref().and_then(crate::domain::time::parse_rfc3339).is_none_or(|t| t >= since))
            .cloned()
            .collect())
    }

    async fn alert(&self, id: i64) -> Result<Alert, TacticalError> {
        self.enter(Route::Alert)?;
        self.alert_state(id).ok_or_else(|| not_found(format!("/alerts/{id}/")))
    }

    async fn change_alert(&self, id: i64, change: AlertChange) -> Result<(), TacticalError> {
        self.enter(Route::ChangeAlert)?;
        if self.change(id, change) { Ok(()) } else { Err(not_found(format!("/alerts/{id}/"))) }
    }

    async fn change_alerts_bulk(&self, ids: &[i64], change: AlertChange) -> Result<(), TacticalError> {
        self.enter(Route::ChangeAlertsBulk)?;
        for id in ids {
            // Unknown ids (or outside the key's role) are skipped silently, as Tactical does.
            self.change(*id, change);
        }
        Ok(())
    }

    async fn agent_history(&self, agent_id: &str) -> Result<Vec<HistoryRow>, TacticalError> {
        self.enter(Route::AgentHistory)?;
        self.agent(agent_id)?;
        Ok(lock(&self.fleet).history.get(agent_id).cloned().unwrap_or_default())
    }

    async fn software_for(&self, agent_id: &str) -> Result<Option<Vec<SoftwareItem>>, TacticalError> {
        self.enter(Route::SoftwareFor)?;
        self.agent(agent_id)?;
        Ok(lock(&self.fleet).software.get(agent_id).cloned())
    }

    async fn software_all(&self) -> Result<SoftwareRows, TacticalError> {
        self.enter(Route::SoftwareAll)?;
        let f = lock(&self.fleet);
        let rows: Vec<Result<SoftwareRow, TacticalError>> = f
            .agents
            .iter()
            .filter_map(|a| Some((a.row.id, f.software.get(&a.row.agent_id)?.clone())))
            .enumerate()
            .map(|(i, (pk, software))| Ok(SoftwareRow { id: i64::try_from(i + 1).ok(), agent: Some(pk), software }))
            .collect();
        Ok(Box::pin(futures::stream::iter(rows)))
    }

    async fn scripts(&self, include_community: bool) -> Result<Vec<Script>, TacticalError> {
        self.enter(Route::Scripts)?;
        let f = lock(&self.fleet);
        Ok(f.scripts
            .iter()
            .filter(|s| !s.hidden)
            .filter(|s| include_community || s.script_type.as_deref() != Some("builtin"))
            .cloned()
            .collect())
    }

    async fn run_command(&self, agent_id: &str, req: &RunCommand) -> Result<ActionOutput, TacticalError> {
        self.enter(Route::RunCommand)?;
        self.reachable(agent_id)?;
        self.record(TacticalAction::Command { agent_id: agent_id.to_owned(), cmd: req.cmd.clone() });
        Ok(bound(&format!("ran: {}\n", req.cmd)))
    }

    async fn run_script(&self, agent_id: &str, req: &RunScript) -> Result<ScriptRun, TacticalError> {
        self.enter(Route::RunScript)?;
        let a = self.agent(agent_id)?;
        let (script, output) = {
            let f = lock(&self.fleet);
            let s = f.scripts.iter().find(|s| s.id == req.script_id).cloned();
            (s, f.script_output.get(&req.script_id).cloned().unwrap_or_default())
        };
        let script = script.ok_or_else(|| not_found(format!("/scripts/{}/", req.script_id)))?;
        if !req.wait {
            // Tactical answers so even for an offline agent: it does not mean the script ran.
            self.record(TacticalAction::Script {
                agent_id: agent_id.to_owned(),
                script_id: req.script_id,
                wait: false,
            });
            return Ok(ScriptRun::Accepted {
                message: format!("{} will now be run on {}", script.name, a.row.hostname),
            });
        }
        self.reachable(agent_id)?;
        self.record(TacticalAction::Script { agent_id: agent_id.to_owned(), script_id: req.script_id, wait: true });
        Ok(ScriptRun::Completed(bound(&output)))
    }

    async fn reboot(&self, agent_id: &str) -> Result<(), TacticalError> {
        self.enter(Route::Reboot)?;
        self.reachable(agent_id)?;
        self.record(TacticalAction::Reboot { agent_id: agent_id.to_owned() });
        Ok(())
    }

    async fn reboot_at(&self, agent_id: &str, datetime: &str) -> Result<ScheduledReboot, TacticalError> {
        self.enter(Route::RebootAt)?;
        let a = self.reachable(agent_id)?;
        self.record(TacticalAction::RebootAt { agent_id: agent_id.to_owned(), datetime: datetime.to_owned() });
        Ok(ScheduledReboot {
            time: datetime.to_owned(),
            agent: a.row.hostname,
            task_name: format!("TacticalRMM_SchedReboot_{}", a.row.id),
        })
    }
}
