//! Internal data model (what Tactical keeps in PostgreSQL) and the public enums.

use serde::Serialize;

mod agent;
mod records;

pub(crate) use agent::*;
pub(crate) use records::*;

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

/// The computed `Agent.status` (see `Agent::status`; docs/tactical-behaviour.md).
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
