//! Agents, clients, sites and inventories: inspection and mutation.

use std::collections::HashMap;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::types::*;
use super::*;
use crate::fleet::{self, AgentSeed};

impl SimState {
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

    pub(super) fn with_agent<R>(&self, agent_id: &str, f: impl FnOnce(&mut Agent) -> R) -> Result<R, SimError> {
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
}
