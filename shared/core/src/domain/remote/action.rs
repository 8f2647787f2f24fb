//! The remote actions, who may run them, and one call's envelope.

use crate::auth::{Caller, perms};
use crate::domain::audit::Via;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    AgentsFind,
    AgentsGet,
    ScriptsList,
    RunScript,
    RunCommand,
    Reboot,
    ScriptResult,
    History,
    AlertsResolve,
    AlertsSnooze,
    AlertsUnsnooze,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::AgentsFind,
        Action::AgentsGet,
        Action::ScriptsList,
        Action::RunScript,
        Action::RunCommand,
        Action::Reboot,
        Action::ScriptResult,
        Action::History,
        Action::AlertsResolve,
        Action::AlertsSnooze,
        Action::AlertsUnsnooze,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::AgentsFind => "agents.find",
            Action::AgentsGet => "agents.get",
            Action::ScriptsList => "scripts.list",
            Action::RunScript => "agents.run_script",
            Action::RunCommand => "agents.run_command",
            Action::Reboot => "agents.reboot",
            Action::ScriptResult => "agents.script_result",
            Action::History => "agents.history",
            Action::AlertsResolve => "alerts.resolve",
            Action::AlertsSnooze => "alerts.snooze",
            Action::AlertsUnsnooze => "alerts.unsnooze",
        }
    }

    /// Accepts the original's names too (`tacticalrmm.agents.find`).
    pub fn parse(raw: &str) -> Option<Action> {
        let name = raw.strip_prefix("tacticalrmm.").unwrap_or(raw);
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn permission(self) -> &'static str {
        match self {
            Action::AgentsFind | Action::AgentsGet | Action::ScriptsList => perms::RMM_READ,
            // Script output and run history can hold what a script printed: as for running it.
            Action::RunScript | Action::ScriptResult | Action::History => perms::RMM_RUN_SCRIPT,
            Action::RunCommand => perms::RMM_EXECUTE_COMMAND,
            Action::Reboot => perms::RMM_REBOOT,
            Action::AlertsResolve | Action::AlertsSnooze | Action::AlertsUnsnooze => perms::RMM_MANAGE_ALERTS,
        }
    }

    /// Acts on an endpoint or on Tactical's data: audited.
    pub fn side_effecting(self) -> bool {
        matches!(self, Action::RunScript | Action::RunCommand | Action::Reboot) || self.on_alerts()
    }

    pub fn on_alerts(self) -> bool {
        matches!(self, Action::AlertsResolve | Action::AlertsSnooze | Action::AlertsUnsnooze)
    }
}

/// One call: who, which action, what input. `caller` carries the tenant and permissions (from the
/// JWT, or from the workflow engine's event).
pub struct ActionRequest<'a> {
    pub caller: &'a Caller,
    pub via: Via,
    pub correlation_id: Option<String>,
    pub action: &'a str,
    pub input: Value,
}
