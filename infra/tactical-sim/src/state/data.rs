//! The data Tactical keeps in PostgreSQL (clients, sites, agents, alerts, scripts, history),
//! its lookups, and the seeded scripts.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration as StdDuration;

use rand::rngs::StdRng;
use time::OffsetDateTime;

use super::types::*;
use super::*;
use crate::fleet::Catalog;

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

    pub(super) fn info(&self, a: &Agent, now: OffsetDateTime) -> AgentInfo {
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

    pub(super) fn alert_info(&self, al: &Alert) -> AlertInfo {
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

pub(super) fn scripts() -> Vec<Script> {
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
