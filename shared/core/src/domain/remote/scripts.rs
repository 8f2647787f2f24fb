//! `scripts.list` and `agents.run_script`: Tactical's scripts, and a run with its output (waited
//! for) or its history id (to fetch the result later).

use super::acting::{AgentRef, RunStatus};
use super::client::{Failure, active_integration, with_client};
use super::error::ActionError;
use super::history::{ReportedResult, run_result};
use super::input::ScriptsInput;
use crate::app::Deps;
use crate::tactical::TacticalApi;
use crate::tactical::types::{HistoryRow, RunScript, Script, ScriptRun};
use crate::tenant::TenantId;
use serde::Serialize;
use serde_json::{Value, json};

/// `scripts.list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptList {
    pub scripts: Vec<ScriptEntry>,
    pub count: usize,
    pub total: usize,
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptEntry {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub shell: Option<String>,
    pub category: Option<String>,
    pub script_type: Option<String>,
    pub args: Vec<String>,
    pub default_timeout: Option<i64>,
    pub supported_platforms: Vec<String>,
    pub run_as_user: bool,
    /// Default values may be secrets: names only.
    pub env_var_names: Vec<String>,
}

impl ScriptEntry {
    fn of(sc: &Script) -> Self {
        Self {
            id: sc.id,
            name: sc.name.clone(),
            description: sc.description.clone(),
            shell: sc.shell.clone(),
            category: sc.category.clone(),
            script_type: sc.script_type.clone(),
            args: sc.args.clone(),
            default_timeout: sc.default_timeout,
            supported_platforms: sc.supported_platforms.clone(),
            run_as_user: sc.run_as_user,
            env_var_names: sc.env_vars.iter().map(|e| e.split('=').next().unwrap_or_default().to_owned()).collect(),
        }
    }
}

/// `agents.run_script`: completed (waited for) or accepted (not waited for).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ScriptRunDone {
    Completed(ScriptCompleted),
    Accepted(ScriptAccepted),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptCompleted {
    #[serde(flatten)]
    pub agent: AgentRef,
    pub script_id: i64,
    pub status: RunStatus,
    /// Combined stdout and stderr as Tactical answered, bounded.
    pub output: String,
    /// The output, or a stream of the reported result, was cut.
    pub truncated: bool,
    pub output_bytes: usize,
    /// The run's history row, when it could be found.
    pub history_id: Option<i64>,
    /// The agent's report (exit code, streams); null fields when it is not in yet.
    #[serde(flatten)]
    pub result: ReportedResult,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptAccepted {
    #[serde(flatten)]
    pub agent: AgentRef,
    pub script_id: i64,
    pub status: RunStatus,
    /// Tactical's "<script> will now be run on <hostname>" (said even for an offline agent).
    pub message: String,
    pub history_id: Option<i64>,
}

pub(crate) async fn list(deps: &Deps, tenant: &TenantId, s: ScriptsInput) -> Result<ScriptList, ActionError> {
    let integ = active_integration(deps, tenant).await?;
    let community = s.include_community;
    let scripts =
        with_client(deps, tenant, &integ, |api| async move { api.scripts(community).await.map_err(Failure::Tactical) })
            .await
            .map_err(|f| f.into_error(false))?;
    let q = s.query.as_deref().map(|q| q.trim().to_lowercase());
    let matching: Vec<&Script> = scripts
        .iter()
        .filter(|sc| {
            q.as_deref().is_none_or(|q| {
                sc.name.to_lowercase().contains(q)
                    || sc.description.to_lowercase().contains(q)
                    || sc.category.as_deref().is_some_and(|c| c.to_lowercase().contains(q))
            })
        })
        .collect();
    let total = matching.len();
    let shown: Vec<ScriptEntry> =
        matching.into_iter().take(usize::try_from(s.limit).unwrap_or(0)).map(ScriptEntry::of).collect();
    Ok(ScriptList { count: shown.len(), has_more: total > shown.len(), total, scripts: shown })
}

/// The run, and what the audit keeps of it.
pub(crate) async fn run(
    api: &dyn TacticalApi,
    agent: AgentRef,
    req: &RunScript,
) -> Result<(ScriptRunDone, Value), Failure> {
    let agent_id = agent.agent_id.to_string();
    // The run's history row is the first one of this script newer than what was there
    // before (Tactical creates it before asking the agent; its answer carries no id).
    let before = match api.agent_history(&agent_id).await {
        Ok(rows) => Some(rows.iter().map(|r| r.id).max().unwrap_or(0)),
        Err(e) => {
            tracing::info!(error = %e, "agent history unreadable; running the script without its history id");
            None
        }
    };
    match api.run_script(&agent_id, req).await.map_err(Failure::Tactical)? {
        ScriptRun::Completed(out) => {
            let row = match before {
                Some(b) => find_run(api, &agent_id, req.script_id, b, true).await,
                None => None,
            };
            let history_id = row.as_ref().map(|r| r.id);
            let result = row.as_ref().and_then(run_result);
            let truncated = out.truncated || result.as_ref().is_some_and(|r| r.truncated);
            let done = ScriptCompleted {
                agent,
                script_id: req.script_id,
                status: RunStatus::Completed,
                output: out.output,
                truncated,
                output_bytes: out.output_bytes,
                history_id,
                result: ReportedResult::of(result.as_ref()),
            };
            let summary = json!({
                "status": "completed",
                "output_bytes": done.output_bytes,
                "truncated": truncated,
                "history_id": history_id,
                "exit_code": done.result.exit_code,
            });
            Ok((ScriptRunDone::Completed(done), summary))
        }
        ScriptRun::Accepted { message } => {
            let row = match before {
                Some(b) => find_run(api, &agent_id, req.script_id, b, false).await,
                None => None,
            };
            let history_id = row.as_ref().map(|r| r.id);
            let summary = json!({"status": "accepted", "history_id": history_id});
            let done =
                ScriptAccepted { agent, script_id: req.script_id, status: RunStatus::Accepted, message, history_id };
            Ok((ScriptRunDone::Accepted(done), summary))
        }
    }
}

/// Delays between reads of the history while the agent's report of a waited-for run is on its
/// way (it reports after answering): about 3 s in all.
const REPORT_POLL_MS: [u64; 6] = [50, 100, 200, 400, 800, 1500];

/// The history row of the run just started: the oldest row of this script newer than `before`.
/// `reported`: wait (bounded) until the agent's results are in it.
async fn find_run(
    api: &dyn TacticalApi,
    agent_id: &str,
    script_id: i64,
    before: i64,
    reported: bool,
) -> Option<HistoryRow> {
    let mut found = None;
    for (attempt, delay) in std::iter::once(0).chain(REPORT_POLL_MS).enumerate() {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let rows = match api.agent_history(agent_id).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::info!(error = %e, "agent history unreadable after a script run");
                return found;
            }
        };
        found = rows
            .into_iter()
            .filter(|r| r.id > before && r.kind.as_deref() == Some("script_run") && r.script == Some(script_id))
            .min_by_key(|r| r.id);
        match &found {
            Some(row) if !reported || run_result(row).is_some() => return found,
            // Tactical creates the row before answering: none at all means none is coming.
            None if attempt >= 1 => return None,
            _ => {}
        }
    }
    found
}
