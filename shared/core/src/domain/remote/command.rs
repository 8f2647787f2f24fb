//! `agents.run_command`: a command on the agent, its output waited for.

use super::acting::{AgentRef, RunStatus};
use super::client::Failure;
use crate::tactical::TacticalApi;
use crate::tactical::types::{ActionOutput, RunCommand};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandRun {
    #[serde(flatten)]
    pub agent: AgentRef,
    pub shell: String,
    pub status: RunStatus,
    /// Combined stdout and stderr, bounded (`truncated`, `output_bytes`).
    #[serde(flatten)]
    pub output: ActionOutput,
}

/// The run, and what the audit keeps of it.
pub(crate) async fn run(
    api: &dyn TacticalApi,
    agent: AgentRef,
    req: &RunCommand,
) -> Result<(CommandRun, Value), Failure> {
    let out = api.run_command(agent.agent_id.as_str(), req).await.map_err(Failure::Tactical)?;
    let summary = json!({"output_bytes": out.output_bytes, "truncated": out.truncated});
    Ok((CommandRun { agent, shell: req.shell.clone(), status: RunStatus::Completed, output: out }, summary))
}
