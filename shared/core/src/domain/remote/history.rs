//! `agents.script_result` and `agents.history`: runs as Tactical's agent history keeps them, and
//! what an agent reported for a run.

use super::acting::{AgentRef, RunStatus};
use super::client::{active_integration, client, tenant_asset};
use super::error::{ActionError, agent_gone, tactical_error};
use super::ids::{AgentId, rfc3339};
use super::input::truncate;
use crate::app::Deps;
use crate::domain::time::parse_rfc3339;
use crate::tactical::policy::{MAX_ACTION_OUTPUT, bound_output};
use crate::tactical::types::HistoryRow;
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

/// The reported result's fields of an answer: all null while the agent has not reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportedResult {
    pub exit_code: Option<i64>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub stdout_bytes: Option<usize>,
    pub stderr_bytes: Option<usize>,
    pub execution_time: Option<f64>,
}

impl ReportedResult {
    pub(crate) fn of(r: Option<&RunResult>) -> Self {
        Self {
            exit_code: r.and_then(|r| r.exit_code),
            stdout: r.map(|r| r.stdout.clone()),
            stderr: r.map(|r| r.stderr.clone()),
            stdout_bytes: r.map(|r| r.stdout_bytes),
            stderr_bytes: r.map(|r| r.stderr_bytes),
            execution_time: r.and_then(|r| r.execution_time),
        }
    }
}

/// `agents.script_result`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptResult {
    #[serde(flatten)]
    pub agent: AgentRef,
    pub history_id: i64,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub script_id: Option<i64>,
    pub script_name: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub time: Option<OffsetDateTime>,
    pub status: RunStatus,
    #[serde(flatten)]
    pub result: ReportedResult,
    pub truncated: bool,
}

/// `agents.history`: a page of runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunHistory {
    #[serde(flatten)]
    pub agent: AgentRef,
    pub runs: Vec<HistoryEntry>,
    pub count: usize,
    pub has_more: bool,
    /// `before_id` of the next page.
    pub next_before_id: Option<i64>,
}

/// One run of `agents.history`: what ran, who ran it, when, and how it ended (no output).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub history_id: i64,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub command: Option<String>,
    pub script_id: Option<i64>,
    pub script_name: Option<String>,
    pub user: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub time: Option<OffsetDateTime>,
    pub status: RunStatus,
    pub exit_code: Option<i64>,
}

impl HistoryEntry {
    pub(crate) fn of(row: &HistoryRow) -> Self {
        let result = run_result(row);
        Self {
            history_id: row.id,
            kind: row.kind.as_deref().map(|k| truncate(k, 50)),
            command: row.command.as_deref().map(|c| truncate(c, 1000)),
            script_id: row.script,
            script_name: row.script_name.as_deref().map(|n| truncate(n, 200)),
            user: row.username.as_deref().map(|u| truncate(u, 255)),
            time: normalise_time(row.time.as_deref()),
            status: if result.is_some() { RunStatus::Completed } else { RunStatus::Pending },
            exit_code: result.and_then(|r| r.exit_code),
        }
    }
}

/// Tactical's time, if it is one.
pub(crate) fn normalise_time(t: Option<&str>) -> Option<OffsetDateTime> {
    t.and_then(parse_rfc3339)
}

pub(crate) async fn script_result(
    deps: &Deps,
    tenant: &TenantId,
    agent_id: &AgentId,
    history_id: i64,
) -> Result<ScriptResult, ActionError> {
    let integ = active_integration(deps, tenant).await?;
    let asset = tenant_asset(deps, tenant, agent_id.as_str()).await?;
    let api = client(deps, tenant, &integ).await?;
    let rows = history_of(deps, tenant, api.as_ref(), agent_id.as_str()).await?;
    let row = rows.into_iter().find(|r| r.id == history_id).ok_or_else(|| {
        ActionError::not_found(
            "history_id",
            "this agent has no run with this history id in Tactical (pruned, or of another agent)",
        )
    })?;
    let result = run_result(&row);
    Ok(ScriptResult {
        agent: AgentRef::of(agent_id, &asset),
        history_id: row.id,
        kind: row.kind,
        script_id: row.script,
        script_name: row.script_name.as_deref().map(|n| truncate(n, 200)),
        time: normalise_time(row.time.as_deref()),
        status: if result.is_some() { RunStatus::Completed } else { RunStatus::Pending },
        truncated: result.as_ref().is_some_and(|r| r.truncated),
        result: ReportedResult::of(result.as_ref()),
    })
}

pub(crate) async fn history(
    deps: &Deps,
    tenant: &TenantId,
    agent_id: &AgentId,
    limit: usize,
    before_id: Option<i64>,
) -> Result<RunHistory, ActionError> {
    let integ = active_integration(deps, tenant).await?;
    let asset = tenant_asset(deps, tenant, agent_id.as_str()).await?;
    let api = client(deps, tenant, &integ).await?;
    let mut rows = history_of(deps, tenant, api.as_ref(), agent_id.as_str()).await?;
    // Tactical states no order: newest first by id.
    rows.retain(|r| before_id.is_none_or(|b| r.id < b));
    rows.sort_by_key(|r| std::cmp::Reverse(r.id));
    let total = rows.len();
    let runs: Vec<HistoryEntry> = rows.iter().take(limit).map(HistoryEntry::of).collect();
    let has_more = total > runs.len();
    let next_before_id = if has_more { limit.checked_sub(1).and_then(|i| rows.get(i)).map(|r| r.id) } else { None };
    Ok(RunHistory { agent: AgentRef::of(agent_id, &asset), count: runs.len(), runs, has_more, next_before_id })
}

async fn history_of(
    deps: &Deps,
    tenant: &TenantId,
    api: &dyn TacticalApi,
    agent_id: &str,
) -> Result<Vec<HistoryRow>, ActionError> {
    let rows = api.agent_history(agent_id).await;
    if let Err(e) = &rows {
        crate::domain::sync::note_auth_failure(deps, tenant, e).await;
    }
    rows.map_err(|e| match e {
        TacticalError::NotFound { .. } => agent_gone(),
        other => tactical_error(other, false),
    })
}

/// What an agent reported for a run, each stream bounded.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub exit_code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: usize,
    pub stderr_bytes: usize,
    pub execution_time: Option<f64>,
    pub truncated: bool,
}

/// The reported result of a history row; `None` while the agent has not reported. Script and
/// task runs carry `script_results`; command runs their combined output in `results`.
pub fn run_result(row: &HistoryRow) -> Option<RunResult> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    match &row.script_results {
        Some(Value::Object(m)) if m.contains_key("retcode") || m.contains_key("stdout") || m.contains_key("stderr") => {
            let out = bound_output(text(m.get("stdout")), MAX_ACTION_OUTPUT);
            let err = bound_output(text(m.get("stderr")), MAX_ACTION_OUTPUT);
            let exit_code = m.get("retcode").and_then(|c| c.as_i64().or_else(|| c.as_str()?.trim().parse().ok()));
            // A float from the agent, a "%.4f" string from a server-side run.
            let execution_time = m
                .get("execution_time")
                .and_then(|t| t.as_f64().or_else(|| t.as_str()?.trim().parse().ok()))
                .filter(|t: &f64| t.is_finite() && *t >= 0.0);
            Some(RunResult {
                exit_code,
                truncated: out.truncated || err.truncated,
                stdout_bytes: out.output_bytes,
                stderr_bytes: err.output_bytes,
                stdout: out.output,
                stderr: err.output,
                execution_time,
            })
        }
        _ if row.kind.as_deref() == Some("cmd_run") => row.results.as_ref().map(|r| {
            let out = bound_output(r.clone(), MAX_ACTION_OUTPUT);
            RunResult {
                exit_code: None,
                truncated: out.truncated,
                stdout_bytes: out.output_bytes,
                stdout: out.output,
                stderr: String::new(),
                stderr_bytes: 0,
                execution_time: None,
            }
        }),
        _ => None,
    }
}
