//! Beta API rows: agents (the whole model), clients, sites.

use super::agents::*;
use super::orgs::*;
use super::*;
use crate::heavy;
use crate::state::Data;
use crate::util::{Iso, iso_opt};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use time::OffsetDateTime;

/// Beta agent model fields (list rows; `id` omitted in the detail where it comes first).
#[derive(Serialize)]
pub struct BetaAgentModel<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    created_by: Option<&'static str>,
    created_time: Iso,
    modified_by: Option<&'static str>,
    modified_time: Iso,
    version: &'static str,
    operating_system: &'a str,
    plat: &'static str,
    goarch: &'static str,
    hostname: &'a str,
    agent_id: &'a str,
    last_seen: Option<Iso>,
    services: Option<heavy::Services<'a>>,
    public_ip: &'a str,
    total_ram: i64,
    disks: &'a [Disk],
    boot_time: f64,
    logged_in_username: &'a str,
    last_logged_in_user: &'a str,
    monitoring_type: &'static str,
    description: &'a str,
    mesh_node_id: Option<&'static str>,
    overdue_email_alert: bool,
    overdue_text_alert: bool,
    overdue_dashboard_alert: bool,
    offline_time: i64,
    overdue_time: i64,
    check_interval: i64,
    needs_reboot: bool,
    choco_installed: bool,
    wmi_detail: heavy::Wmi,
    patches_last_installed: Option<Iso>,
    time_zone: Option<&'a str>,
    maintenance_mode: bool,
    block_policy_inheritance: bool,
    default_shell: &'static str,
    default_shell_custom: &'static str,
    alert_template: Option<i64>,
    site: i64,
    policy: Option<i64>,
}

pub fn beta_agent<'a>(d: &'a Data, a: &'a Agent, with_id: bool) -> BetaAgentModel<'a> {
    BetaAgentModel {
        id: with_id.then_some(a.pk),
        created_by: None,
        created_time: Iso(a.created_time),
        modified_by: None,
        modified_time: Iso(a.modified_time),
        version: a.version,
        operating_system: &a.operating_system,
        plat: a.plat.as_str(),
        goarch: a.goarch,
        hostname: &a.hostname,
        agent_id: &a.agent_id,
        last_seen: iso_opt(a.last_seen),
        services: services(d, a),
        public_ip: &a.public_ip,
        total_ram: a.total_ram,
        disks: &a.disks,
        boot_time: a.boot_time,
        logged_in_username: &a.logged_in_username,
        last_logged_in_user: &a.last_logged_in_user,
        monitoring_type: a.monitoring_type.as_str(),
        description: &a.description,
        mesh_node_id: None,
        overdue_email_alert: a.overdue_email_alert,
        overdue_text_alert: a.overdue_text_alert,
        overdue_dashboard_alert: a.overdue_dashboard_alert,
        offline_time: a.offline_time,
        overdue_time: a.overdue_time,
        check_interval: a.check_interval,
        needs_reboot: a.needs_reboot,
        choco_installed: false,
        wmi_detail: heavy::Wmi { own: a.wmi_detail(), heavy: d.heavy_rows && a.plat == Plat::Windows },
        patches_last_installed: None,
        time_zone: a.time_zone.as_deref(),
        maintenance_mode: a.maintenance_mode,
        block_policy_inheritance: false,
        default_shell: "use_global",
        default_shell_custom: "",
        alert_template: d.agent_template(a),
        site: a.site_id,
        policy: None,
    }
}

/// `DetailAgentSerializer` (`GET /beta/v1/agent/<pk>/`).
#[derive(Serialize)]
pub struct BetaAgentDetail<'a> {
    id: i64,
    status: &'static str,
    hex_mesh_node_id: &'static str,
    checks: Value,
    pending_actions_count: i64,
    cpu_model: Vec<String>,
    graphics: String,
    local_ips: String,
    make_model: String,
    physical_disks: Vec<String>,
    serial_number: String,
    #[serde(flatten)]
    model: BetaAgentModel<'a>,
}

pub fn beta_agent_detail<'a>(d: &'a Data, a: &'a Agent, now: OffsetDateTime) -> BetaAgentDetail<'a> {
    BetaAgentDetail {
        id: a.pk,
        status: a.status(now).as_str(),
        hex_mesh_node_id: "error",
        checks: a.checks.json(),
        pending_actions_count: a.pending_actions_count,
        cpu_model: a.cpu_model(),
        graphics: a.graphics(),
        local_ips: a.local_ips_str(),
        make_model: a.make_model(),
        physical_disks: a.physical_disks(),
        serial_number: a.serial_number(),
        model: beta_agent(d, a, false),
    }
}

#[derive(Serialize)]
pub struct BetaClientRow<'a> {
    id: i64,
    created_by: Option<&'static str>,
    created_time: Iso,
    modified_by: Option<&'static str>,
    modified_time: Iso,
    name: &'a str,
    block_policy_inheritance: bool,
    failing_checks: FailingChecks,
    workstation_policy: Option<i64>,
    server_policy: Option<i64>,
    alert_template: Option<i64>,
}

pub fn beta_client<'a>(c: &'a Client, agg: &HashMap<i64, SiteAgg>, d: &Data) -> BetaClientRow<'a> {
    let mut fc = FailingChecks::default();
    for s in d.sites.values().filter(|s| s.client_id == c.id) {
        if let Some(a) = agg.get(&s.id) {
            fc.error |= a.failing.error;
            fc.warning |= a.failing.warning;
        }
    }
    BetaClientRow {
        id: c.id,
        created_by: None,
        created_time: Iso(c.created_time),
        modified_by: None,
        modified_time: Iso(c.modified_time),
        name: &c.name,
        block_policy_inheritance: false,
        failing_checks: fc,
        workstation_policy: None,
        server_policy: None,
        alert_template: c.alert_template,
    }
}

#[derive(Serialize)]
pub struct BetaSiteRow<'a> {
    id: i64,
    created_by: Option<&'static str>,
    created_time: Iso,
    modified_by: Option<&'static str>,
    modified_time: Iso,
    name: &'a str,
    block_policy_inheritance: bool,
    failing_checks: FailingChecks,
    client: i64,
    workstation_policy: Option<i64>,
    server_policy: Option<i64>,
    alert_template: Option<i64>,
}

pub fn beta_site<'a>(s: &'a Site, agg: &HashMap<i64, SiteAgg>) -> BetaSiteRow<'a> {
    let a = agg.get(&s.id).copied().unwrap_or_default();
    BetaSiteRow {
        id: s.id,
        created_by: None,
        created_time: Iso(s.created_time),
        modified_by: None,
        modified_time: Iso(s.modified_time),
        name: &s.name,
        block_policy_inheritance: false,
        failing_checks: FailingChecks { error: a.failing.error, warning: a.failing.warning },
        client: s.client_id,
        workstation_policy: None,
        server_policy: None,
        alert_template: None,
    }
}
