//! The public value types of the state API: snapshots, constructors' parameters, errors.

use time::OffsetDateTime;

use super::*;

// Public helper types

/// Snapshot of one agent, for tests.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentInfo {
    pub pk: i64,
    pub agent_id: String,
    pub hostname: String,
    pub client_id: i64,
    pub client_name: String,
    pub site_id: i64,
    pub site_name: String,
    pub plat: Plat,
    pub monitoring_type: MonitoringType,
    pub operating_system: String,
    pub last_seen: Option<OffsetDateTime>,
    pub offline_time: i64,
    pub overdue_time: i64,
    /// Status computed at the simulated now.
    pub status: AgentStatus,
    /// Raw value; the text `"None"` when nobody is logged on.
    pub logged_in_username: String,
    pub public_ip: String,
    /// As the API renders it (comma separated; CIDR on posix).
    pub local_ips: String,
    pub boot_time: f64,
    pub maintenance_mode: bool,
    pub serial_number: String,
    /// `None` ⇒ no inventory (`GET /software/<id>/` answers `[]`).
    pub software_count: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub id: i64,
    pub name: String,
    pub site_ids: Vec<i64>,
    pub agent_count: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteInfo {
    pub id: i64,
    pub client_id: i64,
    pub name: String,
    pub agent_count: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertInfo {
    pub id: i64,
    pub agent_id: Option<String>,
    pub agent_pk: Option<i64>,
    pub alert_type: AlertType,
    pub severity: Severity,
    pub message: String,
    pub alert_time: OffsetDateTime,
    pub resolved: bool,
    pub resolved_on: Option<OffsetDateTime>,
    pub snoozed: bool,
    pub hidden: bool,
    pub action_retcode: Option<i64>,
    pub resolved_action_retcode: Option<i64>,
}

/// Parameters of [`SimState::add_agent`]. `NewAgent::new(site_id, plat)` then set fields.
#[derive(Clone, Debug)]
pub struct NewAgent {
    pub site_id: i64,
    pub plat: Plat,
    /// Default: `WIN-<CLIENT>-<pk>` style.
    pub hostname: Option<String>,
    /// Default: 40 random letters.
    pub agent_id: Option<String>,
    pub monitoring_type: Option<MonitoringType>,
    /// Default: now (online).
    pub last_seen: Option<OffsetDateTime>,
    /// Default: the site's public IP.
    pub public_ip: Option<String>,
    /// Default: generated like the fleet (Windows only). `Some(vec![])` = empty inventory.
    pub software: Option<Vec<SoftwareItem>>,
    pub logged_in_username: Option<String>,
}

impl NewAgent {
    pub fn new(site_id: i64, plat: Plat) -> Self {
        NewAgent {
            site_id,
            plat,
            hostname: None,
            agent_id: None,
            monitoring_type: None,
            last_seen: None,
            public_ip: None,
            software: None,
            logged_in_username: None,
        }
    }
}

/// Parameters of [`SimState::raise_alert`].
#[derive(Clone, Debug)]
pub struct NewAlert {
    /// `None` ⇒ an alert without agent (then `hostname/agent_id/client/site` are absent).
    pub agent_id: Option<String>,
    pub alert_type: AlertType,
    pub severity: Severity,
    /// Default: Tactical's message for the type (availability: `"<host> in <client>, <site> is overdue."`).
    pub message: Option<String>,
    /// Default: now.
    pub alert_time: Option<OffsetDateTime>,
    pub hidden: bool,
    /// Force the alert id (replaces an existing alert with that id). Default: next id.
    pub id: Option<i64>,
}

impl NewAlert {
    /// An availability alert (severity error, Tactical's overdue message).
    pub fn availability(agent_id: impl Into<String>) -> Self {
        NewAlert {
            agent_id: Some(agent_id.into()),
            alert_type: AlertType::Availability,
            severity: Severity::Error,
            message: None,
            alert_time: None,
            hidden: false,
            id: None,
        }
    }
    /// A check alert with the given message.
    pub fn check(agent_id: impl Into<String>, severity: Severity, message: impl Into<String>) -> Self {
        NewAlert {
            agent_id: Some(agent_id.into()),
            alert_type: AlertType::Check,
            severity,
            message: Some(message.into()),
            alert_time: None,
            hidden: false,
            id: None,
        }
    }
    /// A custom alert (agent optional).
    pub fn custom(agent_id: Option<String>, severity: Severity, message: impl Into<String>) -> Self {
        NewAlert {
            agent_id,
            alert_type: AlertType::Custom,
            severity,
            message: Some(message.into()),
            alert_time: None,
            hidden: false,
            id: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    UnknownAgent(String),
    UnknownSite(i64),
    UnknownClient(i64),
    UnknownAlert(i64),
    DuplicateAgentId(String),
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::UnknownAgent(a) => write!(f, "unknown agent {a}"),
            SimError::UnknownSite(s) => write!(f, "unknown site {s}"),
            SimError::UnknownClient(c) => write!(f, "unknown client {c}"),
            SimError::UnknownAlert(a) => write!(f, "unknown alert {a}"),
            SimError::DuplicateAgentId(a) => write!(f, "agent id already exists: {a}"),
        }
    }
}

impl std::error::Error for SimError {}
