//! Actions on an agent (run a command or a script, reboot): the tenant's integration and asset
//! first, then the audit record, and only then Tactical. Refusals before the call are audited too.

use super::action::{Action, ActionRequest};
use super::audit::{Audit, Audited};
use super::client::Failure;
use super::client::{active_integration, client, tenant_asset, with_first_client};
use super::command::{self, CommandRun};
use super::error::{ActionError, map_action_error, validation};
use super::ids::AgentId;
use super::input::Input;
use super::reboot::{self, RebootDone};
use super::scripts::{self, ScriptRunDone};
use crate::app::Deps;
use crate::domain::asset::Asset;
use crate::tactical::TacticalApi;
use serde::Serialize;
use serde_json::Value;

/// The agent an answer is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentRef {
    pub agent_id: AgentId,
    pub asset_id: String,
    pub hostname: String,
}

impl AgentRef {
    pub(crate) fn of(agent_id: &AgentId, asset: &Asset) -> Self {
        Self { agent_id: agent_id.clone(), asset_id: asset.asset_id.clone(), hostname: asset.name.clone() }
    }
}

/// Whether a run has ended: `accepted` runs were handed to the agent without waiting, `pending`
/// ones have not reported yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Completed,
    Accepted,
    Pending,
}

/// What an action on an agent did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Acted {
    Command(CommandRun),
    Script(ScriptRunDone),
    Reboot(RebootDone),
}

pub(crate) async fn act(
    deps: &Deps,
    req: &ActionRequest<'_>,
    action: Action,
    input: Input,
) -> Result<Audited<Acted>, ActionError> {
    let tenant = &req.caller.tenant;
    let Some(agent_id) = input.agent_id().cloned() else {
        return Err(ActionError::unexpected(NotAnAgentAction));
    };
    let mut audit = Audit::new(deps.store.as_ref(), req, action, Some(agent_id.to_string()), input.audit_summary());

    // Refusals before any call are audited too: who tried what on which agent.
    let prepared = async {
        let integ = active_integration(deps, tenant).await?;
        let asset = tenant_asset(deps, tenant, agent_id.as_str()).await?;
        if let Input::Reboot { at: Some(_), .. } = &input
            && let Some(plat) = asset.os_type.as_deref().filter(|p| *p != "windows")
        {
            return Err(validation(
                "at",
                format!(
                    "Tactical schedules reboots on Windows agents only; this agent runs {plat}. Leave out `at` to reboot now"
                ),
            ));
        }
        let api = client(deps, tenant, &integ).await?;
        Ok((asset, integ, api))
    }
    .await;
    let (asset, integ, api) = match prepared {
        Ok(p) => p,
        Err(e) => {
            audit.refused(&e).await;
            return Err(e);
        }
    };
    let mut input = input;
    if let Input::RunCommand { req, shell_given: false, .. } = &mut input
        && asset.os_type.as_deref().is_some_and(|p| p == "linux" || p == "darwin")
    {
        // The original always defaulted to powershell; posix agents run bash.
        req.shell = "bash".into();
        audit.record.input = input.audit_summary();
    }
    let agent = AgentRef::of(&agent_id, &asset);
    audit
        .around(async {
            let sent = with_first_client(deps, tenant, &integ, Some(api), |api| {
                let (input, agent) = (input.clone(), agent.clone());
                async move { call(api.as_ref(), agent, input).await }
            })
            .await;
            match sent {
                Ok(r) => Ok(r),
                Err(Failure::Tactical(t)) => Err(map_action_error(t)),
                Err(Failure::Other(e)) => Err(e),
            }
        })
        .await
}

/// The action's result, and what the audit keeps of it.
async fn call(api: &dyn TacticalApi, agent: AgentRef, input: Input) -> Result<(Acted, Value), Failure> {
    match input {
        Input::RunCommand { req, .. } => command::run(api, agent, &req).await.map(|(r, s)| (Acted::Command(r), s)),
        Input::RunScript { req, .. } => scripts::run(api, agent, &req).await.map(|(r, s)| (Acted::Script(r), s)),
        Input::Reboot { at, .. } => reboot::run(api, agent, at).await.map(|(r, s)| (Acted::Reboot(r), s)),
        _ => Err(Failure::Other(ActionError::unexpected(NotAnAgentAction))),
    }
}

/// A non-agent input reached the agent actions: a dispatch bug.
#[derive(Debug, thiserror::Error)]
#[error("not an agent action")]
pub(crate) struct NotAnAgentAction;
