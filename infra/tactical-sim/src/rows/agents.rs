//! Agent rows of the classic API: the agents table, slim rows, the detail view.

use super::*;
use crate::heavy;
use crate::state::Data;
use crate::util::{Iso, iso_opt};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

#[derive(Serialize)]
pub struct TemplateBrief {
    name: &'static str,
    always_email: Option<bool>,
    always_text: Option<bool>,
    always_alert: Option<bool>,
}

pub(super) fn template_brief(d: &Data, a: &Agent) -> Option<TemplateBrief> {
    d.template(d.agent_template(a)).map(|t| TemplateBrief {
        name: t.name,
        always_email: None,
        always_text: None,
        always_alert: Some(true),
    })
}

pub(super) fn template_full(d: &Data, a: &Agent) -> Value {
    match d.template(d.agent_template(a)) {
        None => Value::Null,
        Some(t) => json!({
            "id": t.id,
            "created_by": "admin",
            "created_time": "2026-01-05T09:00:00.000000Z",
            "modified_by": "admin",
            "modified_time": "2026-01-05T09:00:00.000000Z",
            "name": t.name,
            "is_active": true,
            "action_type": "rest",
            "action_args": [],
            "action_env_vars": [],
            "action_timeout": 15,
            "resolved_action_type": "rest",
            "resolved_action_args": [],
            "resolved_action_env_vars": [],
            "resolved_action_timeout": 15,
            "email_recipients": [],
            "text_recipients": [],
            "email_from": "",
            "agent_email_on_resolved": false,
            "agent_text_on_resolved": false,
            "agent_always_email": null,
            "agent_always_text": null,
            "agent_always_alert": true,
            "agent_periodic_alert_days": 0,
            "agent_script_actions": true,
            "check_email_alert_severity": [],
            "check_text_alert_severity": [],
            "check_dashboard_alert_severity": [],
            "check_email_on_resolved": false,
            "check_text_on_resolved": false,
            "check_always_email": null,
            "check_always_text": null,
            "check_always_alert": null,
            "check_periodic_alert_days": 0,
            "check_script_actions": true,
            "task_email_alert_severity": [],
            "task_text_alert_severity": [],
            "task_dashboard_alert_severity": [],
            "task_email_on_resolved": false,
            "task_text_on_resolved": false,
            "task_always_email": null,
            "task_always_text": null,
            "task_always_alert": null,
            "task_periodic_alert_days": 0,
            "task_script_actions": true,
            "exclude_workstations": false,
            "exclude_servers": false,
            "action": null,
            "action_rest": 1,
            "resolved_action": null,
            "resolved_action_rest": 2,
            "excluded_sites": [],
            "excluded_clients": [],
            "excluded_agents": []
        }),
    }
}

pub(super) const TIMEZONES: &[&str] = &[
    "Africa/Abidjan",
    "Africa/Cairo",
    "Africa/Johannesburg",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/New_York",
    "America/Phoenix",
    "America/Sao_Paulo",
    "America/Toronto",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Europe/Amsterdam",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Paris",
    "Pacific/Auckland",
    "UTC",
];

/// A Windows agent's services (posix agents report none).
pub(super) fn services<'a>(d: &'a Data, a: &'a Agent) -> Option<heavy::Services<'a>> {
    (d.heavy_rows && a.plat == Plat::Windows).then(|| heavy::Services { partner: partner(d, a) })
}

/// The agent whose hostname this agent's services mention: the next one by pk.
pub(crate) fn partner<'a>(d: &'a Data, a: &Agent) -> &'a str {
    d.agent_by_pk(a.pk + 1).or(d.agents.first()).map(|p| p.hostname.as_str()).unwrap_or("")
}

/// `AgentTableSerializer` (`GET /agents/`).
#[derive(Serialize)]
pub struct AgentTableRow<'a> {
    agent_id: &'a str,
    alert_template: Option<TemplateBrief>,
    hostname: &'a str,
    site_name: &'a str,
    client_name: &'a str,
    monitoring_type: &'static str,
    description: &'a str,
    needs_reboot: bool,
    pending_actions_count: i64,
    status: &'static str,
    overdue_text_alert: bool,
    overdue_email_alert: bool,
    overdue_dashboard_alert: bool,
    last_seen: Option<Iso>,
    boot_time: f64,
    checks: Value,
    maintenance_mode: bool,
    logged_username: String,
    italic: bool,
    block_policy_inheritance: bool,
    plat: &'static str,
    goarch: &'static str,
    has_patches_pending: bool,
    version: &'static str,
    operating_system: &'a str,
    public_ip: &'a str,
    cpu_model: Vec<String>,
    graphics: String,
    local_ips: String,
    make_model: String,
    physical_disks: Vec<String>,
    custom_fields: [(); 0],
    serial_number: String,
}

pub fn agent_table<'a>(d: &'a Data, a: &'a Agent, now: OffsetDateTime) -> AgentTableRow<'a> {
    let (site, client) = d.site_client(a);
    let status = a.status(now);
    let (logged_username, italic) = a.logged_username(status);
    AgentTableRow {
        agent_id: &a.agent_id,
        alert_template: template_brief(d, a),
        hostname: &a.hostname,
        site_name: &site.name,
        client_name: &client.name,
        monitoring_type: a.monitoring_type.as_str(),
        description: &a.description,
        needs_reboot: a.needs_reboot,
        pending_actions_count: a.pending_actions_count,
        status: status.as_str(),
        overdue_text_alert: a.overdue_text_alert,
        overdue_email_alert: a.overdue_email_alert,
        overdue_dashboard_alert: a.overdue_dashboard_alert,
        last_seen: iso_opt(a.last_seen),
        boot_time: a.boot_time,
        checks: a.checks.json(),
        maintenance_mode: a.maintenance_mode,
        logged_username,
        italic,
        block_policy_inheritance: false,
        plat: a.plat.as_str(),
        goarch: a.goarch,
        has_patches_pending: a.has_patches_pending,
        version: a.version,
        operating_system: &a.operating_system,
        public_ip: &a.public_ip,
        cpu_model: a.cpu_model(),
        graphics: a.graphics(),
        local_ips: a.local_ips_str(),
        make_model: a.make_model(),
        physical_disks: a.physical_disks(),
        custom_fields: [],
        serial_number: a.serial_number(),
    }
}

/// `AgentHostnameSerializer` (`GET /agents/?detail=false`).
#[derive(Serialize)]
pub struct AgentSlimRow<'a> {
    id: i64,
    hostname: &'a str,
    agent_id: &'a str,
    client: &'a str,
    site: &'a str,
}

pub fn agent_slim<'a>(d: &'a Data, a: &'a Agent) -> AgentSlimRow<'a> {
    let (site, client) = d.site_client(a);
    AgentSlimRow { id: a.pk, hostname: &a.hostname, agent_id: &a.agent_id, client: &client.name, site: &site.name }
}

/// `AgentSerializer` (`GET /agents/<agent_id>/`).
#[derive(Serialize)]
pub struct AgentDetail<'a> {
    winupdatepolicy: [(); 0],
    status: &'static str,
    cpu_model: Vec<String>,
    local_ips: String,
    make_model: String,
    physical_disks: Vec<String>,
    graphics: String,
    checks: Value,
    timezone: &'a str,
    all_timezones: &'static [&'static str],
    client: &'a str,
    site_name: &'a str,
    custom_fields: [(); 0],
    patches_last_installed: Option<Iso>,
    last_seen: Option<Iso>,
    applied_policies: Value,
    effective_patch_policy: Value,
    alert_template: Value,
    effective_default_shell: &'static str,
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
    time_zone: Option<&'a str>,
    maintenance_mode: bool,
    block_policy_inheritance: bool,
    default_shell: &'static str,
    default_shell_custom: &'static str,
    site: i64,
    policy: Option<i64>,
}

pub fn agent_detail<'a>(d: &'a Data, a: &'a Agent, now: OffsetDateTime) -> AgentDetail<'a> {
    let (site, client) = d.site_client(a);
    AgentDetail {
        winupdatepolicy: [],
        status: a.status(now).as_str(),
        cpu_model: a.cpu_model(),
        local_ips: a.local_ips_str(),
        make_model: a.make_model(),
        physical_disks: a.physical_disks(),
        graphics: a.graphics(),
        checks: a.checks.json(),
        timezone: a.timezone(),
        all_timezones: TIMEZONES,
        client: &client.name,
        site_name: &site.name,
        custom_fields: [],
        patches_last_installed: None,
        last_seen: iso_opt(a.last_seen),
        applied_policies: json!({"agent_policy": null, "site_policy": null, "client_policy": null, "default_policy": null}),
        effective_patch_policy: json!({
            "id": a.pk,
            "created_by": "admin",
            "created_time": crate::util::iso(a.created_time),
            "modified_by": "admin",
            "modified_time": crate::util::iso(a.modified_time),
            "critical": "inherit",
            "important": "inherit",
            "moderate": "inherit",
            "low": "inherit",
            "other": "inherit",
            "run_time_hour": 3,
            "run_time_frequency": "inherit",
            "run_time_days": [],
            "run_time_day": 1,
            "reboot_after_install": "inherit",
            "reprocess_failed_inherit": true,
            "reprocess_failed": false,
            "reprocess_failed_times": 5,
            "email_if_fail": false,
            "agent": a.pk,
            "policy": null
        }),
        alert_template: template_full(d, a),
        effective_default_shell: a.effective_default_shell(),
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
        time_zone: a.time_zone.as_deref(),
        maintenance_mode: a.maintenance_mode,
        block_policy_inheritance: false,
        default_shell: "use_global",
        default_shell_custom: "",
        site: a.site_id,
        policy: None,
    }
}
