//! Internal data model (what Tactical keeps in PostgreSQL) and the public enums.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

/// `Agent.plat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plat {
    Windows,
    Linux,
    Darwin,
}

impl Plat {
    pub fn as_str(self) -> &'static str {
        match self {
            Plat::Windows => "windows",
            Plat::Linux => "linux",
            Plat::Darwin => "darwin",
        }
    }
    pub fn parse(s: &str) -> Option<Plat> {
        match s {
            "windows" => Some(Plat::Windows),
            "linux" => Some(Plat::Linux),
            "darwin" => Some(Plat::Darwin),
            _ => None,
        }
    }
    pub fn is_posix(self) -> bool {
        self != Plat::Windows
    }
}

/// `Agent.monitoring_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MonitoringType {
    Server,
    Workstation,
}

impl MonitoringType {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitoringType::Server => "server",
            MonitoringType::Workstation => "workstation",
        }
    }
    pub fn parse(s: &str) -> Option<MonitoringType> {
        match s {
            "server" => Some(MonitoringType::Server),
            "workstation" => Some(MonitoringType::Workstation),
            _ => None,
        }
    }
}

/// The computed `Agent.status` (docs/tactical-behaviour.md#agent-status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgentStatus {
    Online,
    Offline,
    Overdue,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Offline => "offline",
            AgentStatus::Overdue => "overdue",
        }
    }
}

/// `Alert.alert_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertType {
    Availability,
    Check,
    Task,
    Custom,
}

impl AlertType {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertType::Availability => "availability",
            AlertType::Check => "check",
            AlertType::Task => "task",
            AlertType::Custom => "custom",
        }
    }
    pub fn parse(s: &str) -> Option<AlertType> {
        match s {
            "availability" => Some(AlertType::Availability),
            "check" => Some(AlertType::Check),
            "task" => Some(AlertType::Task),
            "custom" => Some(AlertType::Custom),
            _ => None,
        }
    }
}

/// `Alert.severity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

/// One installed program as the agent reports it (Go `SoftwareList`). Everything but `name`
/// and `version` is optional: old agents sent only those two (they are then omitted in JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SoftwareItem {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uninstall: Option<String>,
    /// Go time string, e.g. `"2019-06-08 00:00:00 +0000 UTC"` or `"0001-01-01 00:00:00 +0000 UTC"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install_date: Option<String>,
}

impl SoftwareItem {
    /// A full item with empty strings for the optional fields.
    pub fn new(name: impl Into<String>, version: impl Into<String>, publisher: impl Into<String>) -> Self {
        SoftwareItem {
            name: name.into(),
            size: Some("0 B".into()),
            source: Some(String::new()),
            version: version.into(),
            location: Some(String::new()),
            publisher: Some(publisher.into()),
            uninstall: Some(String::new()),
            install_date: Some("0001-01-01 00:00:00 +0000 UTC".into()),
        }
    }
    /// An item as very old agents sent it: only name and version.
    pub fn minimal(name: impl Into<String>, version: impl Into<String>) -> Self {
        SoftwareItem {
            name: name.into(),
            size: None,
            source: None,
            version: version.into(),
            location: None,
            publisher: None,
            uninstall: None,
            install_date: None,
        }
    }
}

// ------------------------------------------------------------------------------------------
// Hardware profiles (what WMI / the posix agent report)

pub(crate) struct WinHw {
    pub cpu: &'static str,
    pub cores: u32,
    pub threads: u32,
    pub sockets: usize,
    pub vendor: &'static str,
    pub model: &'static str,
    pub family: &'static str,
    pub board_mfr: &'static str,
    pub board_product: &'static str,
    pub gpus: &'static [&'static str],
    /// (caption, size bytes, interface)
    pub disks: &'static [(&'static str, u64, &'static str)],
    pub server: bool,
}

pub(crate) struct PosixHw {
    pub cpus: &'static [&'static str],
    pub gpus: &'static [&'static str],
    pub disks: &'static [&'static str],
    pub make_model: &'static str,
    pub plat: Plat,
}

#[derive(Clone, Copy)]
pub(crate) enum Hw {
    Win(&'static WinHw),
    Posix(&'static PosixHw),
}

/// A logical disk (`Agent.disks`), serialised in the key order PostgreSQL jsonb returns.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Disk {
    pub free: String,
    pub used: String,
    pub total: String,
    pub device: String,
    pub fstype: String,
    pub percent: i64,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Checks {
    pub total: i64,
    pub passing: i64,
    pub failing: i64,
    pub warning: i64,
    pub info: i64,
}

impl Checks {
    pub fn json(&self) -> Value {
        json!({
            "total": self.total, "passing": self.passing, "failing": self.failing,
            "warning": self.warning, "info": self.info,
            "has_failing_checks": self.failing > 0 || self.warning > 0,
        })
    }
}

pub(crate) struct Agent {
    pub pk: i64,
    pub agent_id: String,
    pub hostname: String,
    pub site_id: i64,
    pub plat: Plat,
    pub goarch: &'static str,
    pub version: &'static str,
    pub operating_system: String,
    pub monitoring_type: MonitoringType,
    pub description: String,
    pub last_seen: Option<OffsetDateTime>,
    pub boot_time: f64,
    pub public_ip: String,
    pub total_ram: i64,
    pub logged_in_username: String,
    pub last_logged_in_user: String,
    pub offline_time: i64,
    pub overdue_time: i64,
    pub check_interval: i64,
    pub needs_reboot: bool,
    pub maintenance_mode: bool,
    pub overdue_email_alert: bool,
    pub overdue_text_alert: bool,
    pub overdue_dashboard_alert: bool,
    pub hw: Hw,
    /// IPv4 addresses (posix: with CIDR suffix).
    pub local_ips: Vec<String>,
    pub serial: String,
    /// WMI/posix detail missing: computed fields show Tactical's failure strings.
    pub wmi_broken: bool,
    pub disks: Vec<Disk>,
    pub created_time: OffsetDateTime,
    pub modified_time: OffsetDateTime,
    pub software: Option<Vec<Arc<SoftwareItem>>>,
    pub software_row_id: i64,
    pub time_zone: Option<String>,
    pub checks: Checks,
    pub has_patches_pending: bool,
    pub pending_actions_count: i64,
}

pub(crate) const DEFAULT_TZ: &str = "America/Los_Angeles";

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Agent {
    /// `Agent.status` (docs/tactical-behaviour.md#agent-status), evaluated at `now`.
    pub fn status(&self, now: OffsetDateTime) -> AgentStatus {
        let Some(ls) = self.last_seen else {
            return AgentStatus::Offline;
        };
        let offline = now - Duration::minutes(self.offline_time);
        let overdue = now - Duration::minutes(self.overdue_time);
        if ls < offline && ls > overdue {
            AgentStatus::Offline
        } else if ls < offline && ls < overdue {
            AgentStatus::Overdue
        } else {
            AgentStatus::Online
        }
    }

    pub fn timezone(&self) -> &str {
        self.time_zone.as_deref().unwrap_or(DEFAULT_TZ)
    }

    pub fn cpu_model(&self) -> Vec<String> {
        if self.wmi_broken {
            return vec!["unknown cpu model".into()];
        }
        match self.hw {
            Hw::Win(w) => (0..w.sockets).map(|_| format!("{}, {}C/{}T", w.cpu, w.cores, w.threads)).collect(),
            Hw::Posix(p) => p.cpus.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn graphics(&self) -> String {
        if self.wmi_broken {
            return "Graphics info requires agent v1.4.14".into();
        }
        let gpus = match self.hw {
            Hw::Win(w) => w.gpus,
            Hw::Posix(p) => p.gpus,
        };
        if gpus.is_empty() { "No graphics cards".into() } else { gpus.join(", ") }
    }

    pub fn local_ips_str(&self) -> String {
        if self.wmi_broken {
            return "error getting local ips".into();
        }
        self.local_ips.join(", ")
    }

    pub fn make_model(&self) -> String {
        if self.wmi_broken {
            return "unknown make/model".into();
        }
        match self.hw {
            Hw::Win(w) => format!("{} {}", w.vendor, w.model),
            Hw::Posix(p) => p.make_model.to_string(),
        }
    }

    pub fn physical_disks(&self) -> Vec<String> {
        if self.wmi_broken {
            return vec!["unknown disk".into()];
        }
        match self.hw {
            Hw::Win(w) => w
                .disks
                .iter()
                .map(|(cap, size, iface)| {
                    let gb = (*size as f64 / 1_073_741_824.0).round() as u64;
                    format!("{cap} {}GB {iface}", thousands(gb))
                })
                .collect(),
            Hw::Posix(p) => p.disks.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn serial_number(&self) -> String {
        if self.wmi_broken { String::new() } else { self.serial.clone() }
    }

    /// The raw `wmi_detail` JSON (Windows: nested WMI arrays; posix: flat keys).
    pub fn wmi_detail(&self) -> Value {
        if self.wmi_broken {
            return json!({});
        }
        match self.hw {
            Hw::Win(w) => {
                let cpu: Vec<Value> = (0..w.sockets)
                    .map(|_| json!([{"Name": w.cpu}, {"NumberOfCores": w.cores, "NumberOfLogicalProcessors": w.threads}]))
                    .collect();
                let disk: Vec<Value> = w
                    .disks
                    .iter()
                    .map(|(cap, size, iface)| json!([{"InterfaceType": iface}, {"Caption": cap}, {"Size": size.to_string()}]))
                    .collect();
                let graphics: Vec<Value> = w.gpus.iter().map(|g| json!([{"Caption": g}])).collect();
                let mut ips: Vec<Value> = self.local_ips.iter().map(|s| json!(s)).collect();
                ips.push(json!("fe80::1c2d:3e4f:5a6b:7c8d"));
                json!({
                    "cpu": cpu,
                    "bios": [[{"SerialNumber": self.serial}]],
                    "disk": disk,
                    "comp_sys": [[{"Model": w.model}, {"SystemFamily": w.family}]],
                    "graphics": graphics,
                    "base_board": [[{"Manufacturer": w.board_mfr}, {"Product": w.board_product}]],
                    "comp_sys_prod": [[{"Vendor": w.vendor}, {"Version": "1.0"}]],
                    "network_config": [[{"IPAddress": ips}]],
                })
            }
            Hw::Posix(p) => json!({
                "cpus": p.cpus,
                "gpus": p.gpus,
                "disks": p.disks,
                "local_ips": self.local_ips,
                "make_model": p.make_model,
                "serialnumber": self.serial,
            }),
        }
    }

    /// `logged_username` and `italic` of the agent table (Tactical's `AgentTableSerializer`).
    pub fn logged_username(&self, status: AgentStatus) -> (String, bool) {
        if self.logged_in_username != "None" {
            (self.logged_in_username.clone(), false)
        } else if status == AgentStatus::Online && !self.last_logged_in_user.is_empty() {
            (self.last_logged_in_user.clone(), true)
        } else {
            ("-".into(), false)
        }
    }

    pub fn effective_default_shell(&self) -> &'static str {
        match self.plat {
            Plat::Windows => "cmd",
            _ => "bash",
        }
    }
}

pub(crate) struct Client {
    pub id: i64,
    pub name: String,
    pub created_time: OffsetDateTime,
    pub modified_time: OffsetDateTime,
    pub alert_template: Option<i64>,
}

pub(crate) struct Site {
    pub id: i64,
    pub client_id: i64,
    pub name: String,
    pub created_time: OffsetDateTime,
    pub modified_time: OffsetDateTime,
}

#[derive(Clone)]
pub(crate) struct Alert {
    pub id: i64,
    pub agent_pk: Option<i64>,
    pub alert_time: OffsetDateTime,
    pub alert_type: AlertType,
    pub message: String,
    pub severity: Severity,
    pub snoozed: bool,
    pub snooze_until: Option<OffsetDateTime>,
    pub resolved: bool,
    pub resolved_on: Option<OffsetDateTime>,
    pub hidden: bool,
    pub email_sent: Option<OffsetDateTime>,
    pub action_run: Option<OffsetDateTime>,
    pub action_stdout: Option<String>,
    pub action_stderr: Option<String>,
    pub action_retcode: Option<i64>,
    pub action_execution_time: Option<String>,
    pub resolved_action_run: Option<OffsetDateTime>,
    pub resolved_action_stdout: Option<String>,
    pub resolved_action_stderr: Option<String>,
    pub resolved_action_retcode: Option<i64>,
    pub resolved_action_execution_time: Option<String>,
    pub assigned_check: Option<i64>,
    pub assigned_task: Option<i64>,
    /// Readable description of the assigned check / name of the task.
    pub check_desc: Option<String>,
}

impl Alert {
    pub fn new(
        id: i64,
        agent_pk: Option<i64>,
        alert_type: AlertType,
        severity: Severity,
        message: String,
        at: OffsetDateTime,
    ) -> Self {
        Alert {
            id,
            agent_pk,
            alert_time: at,
            alert_type,
            message,
            severity,
            snoozed: false,
            snooze_until: None,
            resolved: false,
            resolved_on: None,
            hidden: false,
            email_sent: None,
            action_run: None,
            action_stdout: None,
            action_stderr: None,
            action_retcode: None,
            action_execution_time: None,
            resolved_action_run: None,
            resolved_action_stdout: None,
            resolved_action_stderr: None,
            resolved_action_retcode: None,
            resolved_action_execution_time: None,
            assigned_check: None,
            assigned_task: None,
            check_desc: None,
        }
    }

    pub fn is_open(&self) -> bool {
        !self.resolved && !self.snoozed && !self.hidden
    }
}

pub(crate) struct Script {
    pub id: i64,
    pub name: &'static str,
    pub description: &'static str,
    pub script_type: &'static str,
    pub shell: &'static str,
    pub args: &'static [&'static str],
    pub category: Option<&'static str>,
    pub favorite: bool,
    pub default_timeout: i64,
    pub syntax: Option<&'static str>,
    pub filename: Option<&'static str>,
    pub hidden: bool,
    pub supported_platforms: &'static [&'static str],
    pub run_as_user: bool,
    pub env_vars: &'static [&'static str],
}

pub(crate) struct AlertTemplate {
    pub id: i64,
    pub name: &'static str,
}

/// An `AgentHistory` row: a command or script run. The agent reports its results later (a
/// separate PATCH after its NATS reply), so they show only from `ready_at` on.
pub(crate) struct HistEntry {
    pub id: i64,
    pub agent_pk: i64,
    pub time: OffsetDateTime,
    /// `cmd_run` or `script_run`.
    pub kind: &'static str,
    pub command: Option<String>,
    pub username: String,
    pub script: Option<i64>,
    pub script_name: Option<&'static str>,
    /// What the agent will report: (stdout, stderr, retcode, execution_time); `None` when the
    /// agent never ran it (offline, NATS down).
    pub outcome: Option<(String, String, i64, f64)>,
    pub ready_at: OffsetDateTime,
}
