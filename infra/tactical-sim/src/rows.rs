//! JSON representations (DRF serializers), in the field order the real server uses.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::heavy;
use crate::model::*;
use crate::state::Data;
use crate::util::{Iso, iso_opt};

#[derive(Serialize)]
pub struct TemplateBrief {
    name: &'static str,
    always_email: Option<bool>,
    always_text: Option<bool>,
    always_alert: Option<bool>,
}

fn template_brief(d: &Data, a: &Agent) -> Option<TemplateBrief> {
    d.template(d.agent_template(a)).map(|t| TemplateBrief {
        name: t.name,
        always_email: None,
        always_text: None,
        always_alert: Some(true),
    })
}

fn template_full(d: &Data, a: &Agent) -> Value {
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

const TIMEZONES: &[&str] = &[
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
fn services<'a>(d: &'a Data, a: &'a Agent) -> Option<heavy::Services<'a>> {
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

#[derive(Serialize, Clone, Copy, Default)]
pub struct FailingChecks {
    error: bool,
    warning: bool,
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

#[derive(Serialize)]
pub struct AlertRow<'a> {
    id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<&'a str>,
    alert_time: Iso,
    alert_type: &'static str,
    message: &'a str,
    snoozed: bool,
    snooze_until: Option<Iso>,
    resolved: bool,
    resolved_on: Option<Iso>,
    severity: &'static str,
    email_sent: Option<Iso>,
    resolved_email_sent: Option<Iso>,
    sms_sent: Option<Iso>,
    resolved_sms_sent: Option<Iso>,
    hidden: bool,
    action_run: Option<Iso>,
    action_stdout: Option<&'a str>,
    action_stderr: Option<&'a str>,
    action_retcode: Option<i64>,
    action_execution_time: Option<&'a str>,
    resolved_action_run: Option<Iso>,
    resolved_action_stdout: Option<&'a str>,
    resolved_action_stderr: Option<&'a str>,
    resolved_action_retcode: Option<i64>,
    resolved_action_execution_time: Option<&'a str>,
    agent: Option<i64>,
    assigned_check: Option<i64>,
    assigned_task: Option<i64>,
}

pub fn alert_row<'a>(d: &'a Data, al: &'a Alert) -> AlertRow<'a> {
    let agent = al.agent_pk.and_then(|pk| d.agent_by_pk(pk));
    let sc = agent.map(|a| d.site_client(a));
    AlertRow {
        id: al.id,
        hostname: agent.map(|a| a.hostname.as_str()),
        agent_id: agent.map(|a| a.agent_id.as_str()),
        client: sc.map(|(_, c)| c.name.as_str()),
        site: sc.map(|(s, _)| s.name.as_str()),
        alert_time: Iso(al.alert_time),
        alert_type: al.alert_type.as_str(),
        message: &al.message,
        snoozed: al.snoozed,
        snooze_until: iso_opt(al.snooze_until),
        resolved: al.resolved,
        resolved_on: iso_opt(al.resolved_on),
        severity: al.severity.as_str(),
        email_sent: iso_opt(al.email_sent),
        resolved_email_sent: None,
        sms_sent: None,
        resolved_sms_sent: None,
        hidden: al.hidden,
        action_run: iso_opt(al.action_run),
        action_stdout: al.action_stdout.as_deref(),
        action_stderr: al.action_stderr.as_deref(),
        action_retcode: al.action_retcode,
        action_execution_time: al.action_execution_time.as_deref(),
        resolved_action_run: iso_opt(al.resolved_action_run),
        resolved_action_stdout: al.resolved_action_stdout.as_deref(),
        resolved_action_stderr: al.resolved_action_stderr.as_deref(),
        resolved_action_retcode: al.resolved_action_retcode,
        resolved_action_execution_time: al.resolved_action_execution_time.as_deref(),
        agent: agent.map(|a| a.pk),
        assigned_check: al.assigned_check,
        assigned_task: al.assigned_task,
    }
}

#[derive(Serialize)]
pub struct SoftwareRow<'a> {
    id: i64,
    #[serde(serialize_with = "ser_items")]
    software: &'a [Arc<SoftwareItem>],
    agent: i64,
}

fn ser_items<S: serde::Serializer>(v: &&[Arc<SoftwareItem>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|a| &**a))
}

pub fn software_row(a: &Agent) -> Option<SoftwareRow<'_>> {
    a.software.as_ref().map(|s| SoftwareRow { id: a.software_row_id, software: s, agent: a.pk })
}

#[derive(Serialize)]
pub struct ScriptRow<'a> {
    id: i64,
    name: &'a str,
    description: &'a str,
    script_type: &'a str,
    shell: &'a str,
    args: &'a [&'static str],
    category: Option<&'a str>,
    favorite: bool,
    default_timeout: i64,
    syntax: Option<&'a str>,
    filename: Option<&'a str>,
    hidden: bool,
    supported_platforms: &'a [&'static str],
    run_as_user: bool,
    env_vars: &'a [&'static str],
}

pub fn script_row(s: &Script) -> ScriptRow<'_> {
    ScriptRow {
        id: s.id,
        name: s.name,
        description: s.description,
        script_type: s.script_type,
        shell: s.shell,
        args: s.args,
        category: s.category,
        favorite: s.favorite,
        default_timeout: s.default_timeout,
        syntax: s.syntax,
        filename: s.filename,
        hidden: s.hidden,
        supported_platforms: s.supported_platforms,
        run_as_user: s.run_as_user,
        env_vars: s.env_vars,
    }
}
