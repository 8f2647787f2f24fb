//! Client and site rows of the classic API, with their per-site aggregates.

use crate::model::*;
use crate::state::Data;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Serialize, Clone, Copy, Default)]
pub struct FailingChecks {
    pub(super) error: bool,
    pub(super) warning: bool,
}

#[derive(Default, Clone, Copy)]
pub struct SiteAgg {
    pub count: usize,
    pub maintenance: bool,
    pub failing: FailingChecksAgg,
}

#[derive(Default, Clone, Copy)]
pub struct FailingChecksAgg {
    pub error: bool,
    pub warning: bool,
}

/// Per-site aggregates (agent count, maintenance, failing checks) in one pass.
pub fn site_aggregates(d: &Data) -> HashMap<i64, SiteAgg> {
    let mut m: HashMap<i64, SiteAgg> = HashMap::new();
    for a in &d.agents {
        let e = m.entry(a.site_id).or_default();
        e.count += 1;
        e.maintenance |= a.maintenance_mode;
        e.failing.error |= a.checks.failing > 0;
        e.failing.warning |= a.checks.warning > 0;
    }
    m
}

#[derive(Serialize)]
pub struct SiteRow<'a> {
    id: i64,
    name: &'a str,
    server_policy: Option<i64>,
    workstation_policy: Option<i64>,
    alert_template: Option<i64>,
    client_name: &'a str,
    client: i64,
    custom_fields: [(); 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_count: Option<usize>,
    block_policy_inheritance: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    maintenance_mode: Option<bool>,
    failing_checks: FailingChecks,
}

pub fn site_row<'a>(d: &'a Data, s: &'a Site, agg: Option<&HashMap<i64, SiteAgg>>, nested: bool) -> SiteRow<'a> {
    let a = agg.and_then(|m| m.get(&s.id)).copied().unwrap_or_default();
    SiteRow {
        id: s.id,
        name: &s.name,
        server_policy: None,
        workstation_policy: None,
        alert_template: None,
        client_name: &d.clients[&s.client_id].name,
        client: s.client_id,
        custom_fields: [],
        agent_count: nested.then_some(a.count),
        block_policy_inheritance: false,
        maintenance_mode: nested.then_some(a.maintenance),
        failing_checks: FailingChecks { error: a.failing.error, warning: a.failing.warning },
    }
}

#[derive(Serialize)]
pub struct ClientRow<'a> {
    id: i64,
    name: &'a str,
    server_policy: Option<i64>,
    workstation_policy: Option<i64>,
    alert_template: Option<i64>,
    block_policy_inheritance: bool,
    sites: Vec<SiteRow<'a>>,
    custom_fields: [(); 0],
    agent_count: usize,
    maintenance_mode: bool,
    failing_checks: FailingChecks,
}

pub fn client_row<'a>(d: &'a Data, c: &'a Client, agg: &HashMap<i64, SiteAgg>) -> ClientRow<'a> {
    let mut sites: Vec<&Site> = d.sites.values().filter(|s| s.client_id == c.id).collect();
    sites.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let mut count = 0;
    let mut maint = false;
    let mut fc = FailingChecks::default();
    for s in &sites {
        if let Some(a) = agg.get(&s.id) {
            count += a.count;
            maint |= a.maintenance;
            fc.error |= a.failing.error;
            fc.warning |= a.failing.warning;
        }
    }
    ClientRow {
        id: c.id,
        name: &c.name,
        server_policy: None,
        workstation_policy: None,
        alert_template: c.alert_template,
        block_policy_inheritance: false,
        sites: sites.into_iter().map(|s| site_row(d, s, Some(agg), true)).collect(),
        custom_fields: [],
        agent_count: count,
        maintenance_mode: maint,
        failing_checks: fc,
    }
}
