//! [`FakeTactical`] as the [`TacticalApi`] port: each route answers from the fleet as a stock
//! Tactical 1.5 does, after counting the call and honouring an injected failure.

use super::tactical::{FakeAgent, FakeTactical, Route, TacticalAction, bound, lock, not_found};
use crate::domain::time::now;
use crate::tactical::policy::RetryPolicy;
use crate::tactical::status_list::AgentStatusRow;
use crate::tactical::types::*;
use crate::tactical::url::AddressPolicy;
use crate::tactical::{Credentials, InstanceUrl, SoftwareRows, TacticalApi, TacticalConnector, TacticalError};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

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

    async fn agent_statuses(&self, client_id: i64) -> Result<Vec<AgentStatusRow>, TacticalError> {
        self.enter(Route::AgentStatuses)?;
        let f = lock(&self.fleet);
        Ok(f.agents
            .iter()
            .filter(|a| a.client_id == client_id)
            .map(|a| AgentStatusRow {
                agent_id: a.row.agent_id.clone(),
                hostname: a.row.hostname.clone(),
                status: Some(a.status.as_str().to_owned()),
                last_seen: a.row.last_seen.clone(),
            })
            .collect())
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

/// Connections hand out clones of one shared fake, so a test sees every call a use case made.
#[async_trait]
impl TacticalApi for Arc<FakeTactical> {
    async fn probe(&self) -> Result<(), TacticalError> {
        TacticalApi::probe(&**self).await
    }

    async fn check_creds(&self, username: &str, password: &SecretString) -> Result<CheckCreds, TacticalError> {
        TacticalApi::check_creds(&**self, username, password).await
    }

    async fn login(&self, username: &str, password: &SecretString, totp: &str) -> Result<KnoxLogin, TacticalError> {
        TacticalApi::login(&**self, username, password, totp).await
    }

    async fn logout(&self) -> Result<(), TacticalError> {
        TacticalApi::logout(&**self).await
    }

    async fn clients(&self) -> Result<Vec<Client>, TacticalError> {
        TacticalApi::clients(&**self).await
    }

    async fn beta_agents_page(&self, query: &BetaAgentQuery) -> Result<BetaPage<BetaAgent>, TacticalError> {
        TacticalApi::beta_agents_page(&**self, query).await
    }

    async fn agents_slim(&self, client_id: Option<i64>) -> Result<Vec<AgentSlim>, TacticalError> {
        TacticalApi::agents_slim(&**self, client_id).await
    }

    async fn agent_statuses(&self, client_id: i64) -> Result<Vec<AgentStatusRow>, TacticalError> {
        TacticalApi::agent_statuses(&**self, client_id).await
    }

    async fn agent(&self, agent_id: &str) -> Result<AgentDetail, TacticalError> {
        TacticalApi::agent(&**self, agent_id).await
    }

    async fn agent_row(&self, agent_id: &str) -> Result<BetaAgent, TacticalError> {
        TacticalApi::agent_row(&**self, agent_id).await
    }

    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, TacticalError> {
        TacticalApi::alerts(&**self, filter).await
    }

    async fn alert(&self, id: i64) -> Result<Alert, TacticalError> {
        TacticalApi::alert(&**self, id).await
    }

    async fn change_alert(&self, id: i64, change: AlertChange) -> Result<(), TacticalError> {
        TacticalApi::change_alert(&**self, id, change).await
    }

    async fn change_alerts_bulk(&self, ids: &[i64], change: AlertChange) -> Result<(), TacticalError> {
        TacticalApi::change_alerts_bulk(&**self, ids, change).await
    }

    async fn agent_history(&self, agent_id: &str) -> Result<Vec<HistoryRow>, TacticalError> {
        TacticalApi::agent_history(&**self, agent_id).await
    }

    async fn software_for(&self, agent_id: &str) -> Result<Option<Vec<SoftwareItem>>, TacticalError> {
        TacticalApi::software_for(&**self, agent_id).await
    }

    async fn software_all(&self) -> Result<SoftwareRows, TacticalError> {
        TacticalApi::software_all(&**self).await
    }

    async fn scripts(&self, include_community: bool) -> Result<Vec<Script>, TacticalError> {
        TacticalApi::scripts(&**self, include_community).await
    }

    async fn run_command(&self, agent_id: &str, req: &RunCommand) -> Result<ActionOutput, TacticalError> {
        TacticalApi::run_command(&**self, agent_id, req).await
    }

    async fn run_script(&self, agent_id: &str, req: &RunScript) -> Result<ScriptRun, TacticalError> {
        TacticalApi::run_script(&**self, agent_id, req).await
    }

    async fn reboot(&self, agent_id: &str) -> Result<(), TacticalError> {
        TacticalApi::reboot(&**self, agent_id).await
    }

    async fn reboot_at(&self, agent_id: &str, datetime: &str) -> Result<ScheduledReboot, TacticalError> {
        TacticalApi::reboot_at(&**self, agent_id, datetime).await
    }
}

/// The [`TacticalConnector`] of tests: every tenant's connection reaches the one shared
/// [`FakeTactical`]; the credentials used are recorded, and addresses can be refused.
#[derive(Default)]
pub struct FakeConnector {
    pub tactical: Arc<FakeTactical>,
    blocked: std::sync::Mutex<Vec<String>>,
    connections: std::sync::Mutex<Vec<(String, &'static str)>>,
    /// The API key or Knox token of each connection (tests: which copy of a credential was used).
    credentials: std::sync::Mutex<Vec<String>>,
}

impl FakeConnector {
    pub fn new(tactical: Arc<FakeTactical>) -> Self {
        Self { tactical, ..Default::default() }
    }

    /// `check_address` refuses this host from now on (as the address guard refuses a private one).
    pub fn block(&self, host: &str) {
        lock(&self.blocked).push(host.to_owned());
    }

    /// The API key or Knox token of each connection handed out with one, in order.
    pub fn credentials_used(&self) -> Vec<String> {
        lock(&self.credentials).clone()
    }

    /// Every connection handed out: the instance URL and the kind of credentials.
    pub fn connections(&self) -> Vec<(String, &'static str)> {
        lock(&self.connections).clone()
    }
}

#[async_trait]
impl TacticalConnector for FakeConnector {
    async fn check_address(&self, url: &InstanceUrl) -> Result<(), TacticalError> {
        if lock(&self.blocked).iter().any(|h| *h == url.host()) {
            return Err(TacticalError::BlockedAddress);
        }
        // The same https rule as the HTTP connector (no development hosts here).
        AddressPolicy::default().check_scheme(url).map_err(|_| TacticalError::InsecureScheme)
    }

    fn connect(
        &self,
        url: InstanceUrl,
        creds: Credentials,
        _retry: Option<RetryPolicy>,
        _timeout: Option<Duration>,
    ) -> Result<Box<dyn TacticalApi>, TacticalError> {
        let kind = match &creds {
            Credentials::ApiKey(_) => "api_key",
            Credentials::KnoxToken(_) => "knox_token",
            Credentials::None => "none",
        };
        if let Credentials::ApiKey(s) | Credentials::KnoxToken(s) = &creds {
            lock(&self.credentials).push(s.expose_secret().to_owned());
        }
        lock(&self.connections).push((url.to_string(), kind));
        Ok(Box::new(self.tactical.clone()))
    }

    fn request_timeout(&self) -> Duration {
        Duration::from_secs(30)
    }
}
