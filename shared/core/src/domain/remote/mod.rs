//! Enterprise remote actions for workflows (admin guide "Remote actions (Enterprise Edition)"):
//! find and inspect agents, list scripts, run a script or a command (with its exit code and
//! history), reboot, and resolve or snooze Tactical alerts. docs/remote-actions.md.
//!
//! Order of checks, each before anything later can happen: the Enterprise flag, the action name,
//! the caller's permission (before any store read or Tactical call), the input, the integration
//! (active), the agent (an asset of the calling tenant), then for side-effecting actions the
//! audit record, and only then Tactical.
//!
//! One module per concern: [`action`] (names, permissions, the call's envelope), [`input`]
//! (validation), [`agents`], [`scripts`], [`history`], [`command`], [`reboot`], [`alerts`],
//! [`acting`] (the audited frame of agent actions), [`audit`], [`ids`] (typed ids and times),
//! `client` (tenancy and the Tactical client with token renewal) and [`error`] (the use case's
//! one error).

pub mod acting;
pub mod action;
pub mod agents;
pub mod alerts;
pub mod audit;
mod client;
pub mod command;
pub mod error;
pub mod history;
pub mod ids;
pub mod input;
pub mod reboot;
pub mod scripts;
#[cfg(test)]
mod tests;

pub use acting::{Acted, AgentRef, RunStatus};
pub use action::{Action, ActionRequest};
pub use agents::{AgentFound, AgentList, AgentView};
pub use alerts::AlertsChanged;
pub use audit::Audited;
pub use error::ActionError;
pub use history::{RunHistory, RunResult, ScriptResult, run_result};
pub use ids::AgentId;
pub use input::{
    Input, MAX_ALERTS_PER_CALL, MAX_COMMAND_BYTES, MAX_SNOOZE_DAYS, MAX_WAITED_TIMEOUT_SECS, parse_object,
};
pub use scripts::ScriptList;

use crate::app::Deps;
use crate::auth::entitlements::REMOTE_ACTIONS;
use audit::Audit;
use input::agent_id_hint;
use serde::Serialize;
use serde_json::Value;

/// An action's result: the `result` object a workflow reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ActionAnswer {
    Agents(AgentList),
    Agent(AgentFound),
    Scripts(ScriptList),
    ScriptResult(ScriptResult),
    History(RunHistory),
    /// A command, a script run or a reboot.
    Acted(Audited<Acted>),
    Alerts(Audited<AlertsChanged>),
}

/// Runs one action.
pub async fn execute(deps: &Deps, req: ActionRequest<'_>) -> Result<ActionAnswer, ActionError> {
    if !deps.config.enterprise_remote_actions {
        return Err(ActionError::EnterpriseOnly(
            "remote actions are part of the Enterprise Edition and are switched off in this deployment (ENTERPRISE_REMOTE_ACTIONS)".into(),
        ));
    }
    // Per tenant: the deployment switch only says the feature exists here.
    if !req.caller.entitled(REMOTE_ACTIONS) {
        return Err(ActionError::EnterpriseOnly(format!(
            "remote actions are part of the Enterprise Edition, which this tenant does not have (no {REMOTE_ACTIONS} entitlement)"
        )));
    }
    let action = Action::parse(req.action).ok_or_else(|| {
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        ActionError::not_found(
            "action",
            format!("unknown action {:?}; one of {}", input::truncate(req.action, 60), names.join(", ")),
        )
    })?;
    let caller = req.caller;
    if !caller.has(action.permission()) {
        let e = ActionError::Forbidden(action.permission());
        if action.side_effecting() {
            let mut audit = Audit::new(deps.store.as_ref(), &req, action, agent_id_hint(&req.input), Value::Null);
            audit.refused(&e).await;
        }
        tracing::info!(tenant = %caller.tenant, user = %caller.user_id, action = action.name(), "remote action refused: permission");
        return Err(e);
    }
    let input = Input::parse(action, &req.input)?;
    let result = if action.on_alerts() {
        alerts::act_on_alerts(deps, &req, action, input).await.map(ActionAnswer::Alerts)
    } else if action.side_effecting() {
        acting::act(deps, &req, action, input).await.map(ActionAnswer::Acted)
    } else {
        read(deps, &req, input).await
    };
    match &result {
        Ok(_) => {
            tracing::info!(tenant = %caller.tenant, user = %caller.user_id, action = action.name(), "remote action done")
        }
        Err(e) => {
            tracing::info!(tenant = %caller.tenant, user = %caller.user_id, action = action.name(), code = %e.code_str(), "remote action failed")
        }
    }
    result
}

async fn read(deps: &Deps, req: &ActionRequest<'_>, input: Input) -> Result<ActionAnswer, ActionError> {
    let tenant = &req.caller.tenant;
    match input {
        Input::Find(f) => agents::find(deps, tenant, f).await.map(ActionAnswer::Agents),
        Input::Get { agent_id } => agents::get(deps, tenant, &agent_id).await.map(ActionAnswer::Agent),
        Input::Scripts(s) => scripts::list(deps, tenant, s).await.map(ActionAnswer::Scripts),
        Input::ScriptResult { agent_id, history_id } => {
            history::script_result(deps, tenant, &agent_id, history_id).await.map(ActionAnswer::ScriptResult)
        }
        Input::History { agent_id, limit, before_id } => {
            history::history(deps, tenant, &agent_id, limit, before_id).await.map(ActionAnswer::History)
        }
        Input::RunScript { .. } | Input::RunCommand { .. } | Input::Reboot { .. } | Input::Alerts { .. } => {
            Err(ActionError::unexpected(NotARead))
        }
    }
}

/// A side-effecting input reached the read actions: a dispatch bug.
#[derive(Debug, thiserror::Error)]
#[error("not a read action")]
struct NotARead;
