//! Clients, sites, alerts, scripts, alert templates and agent history as Tactical stores them.

use super::*;
use time::OffsetDateTime;

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
