//! Enterprise remote actions for workflows (admin guide "Remote actions (Enterprise Edition)"):
//! find and inspect agents, list scripts, run a script or a command (with its exit code and
//! history), reboot, and resolve or snooze Tactical alerts. docs/remote-actions.md.
//!
//! Order of checks, each before anything later can happen: the Enterprise flag, the action name,
//! the caller's permission (before any store read or Tactical call, for every action), the input,
//! the integration (active: a disconnected one does nothing), the agent (an asset of the calling
//! tenant), then for
//! side-effecting actions the audit record, and only then Tactical.

use super::alert_flow::{publish_pending, record_psa_change};
use super::alerts::{PsaChange, RmmAlert};
use super::asset::{Asset, asset_id_for};
use super::audit::{AuditFinish, AuditOutcome, AuditRecord, Via, new_audit_id};
use super::connection::ConnectionService;
use super::integration::RmmIntegration;
use super::mapping::OrgMapping;
use super::status::agent_status;
use super::time::{now, now_rfc3339, parse_rfc3339, to_rfc3339};
use super::vitals::clean;
use crate::app::Deps;
use crate::auth::{Caller, perms};
use crate::error::{ApiError, ErrorCode};
use crate::ports::{AuditStore, PortError};
use crate::tactical::policy::{MAX_ACTION_OUTPUT, bound_output};
use crate::tactical::types::{
    AgentDetail, AlertChange, BetaAgent, BetaAgentQuery, HistoryRow, RunCommand, RunScript, ScriptRun,
};
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// Longest agent-side timeout we can wait for: Tactical answers after timeout + 2–3 s, its
/// nginx/uWSGI end requests at 300 s, and the HTTP wait is timeout + 15 s (capped at 300 s).
pub const MAX_WAITED_TIMEOUT_SECS: i64 = 285;
/// Longest command text: far below NATS' 1 MB message and the function URL's 256 KB body.
pub const MAX_COMMAND_BYTES: usize = 128 * 1024;
const MAX_TIMEOUT_SECS: i64 = 3600;
/// Tries to record an action's outcome before leaving its record `pending`.
const FINISH_ATTEMPTS: u32 = 3;

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

/// An error a workflow can branch on: `code` is stable; `vendor_status` is Tactical's HTTP status
/// when Tactical answered. Never carries credentials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_status: Option<u16>,
}

impl ActionError {
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn code_str(&self) -> String {
        serde_json::to_value(self.code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }

    fn with_vendor(mut self, status: Option<u16>) -> Self {
        self.vendor_status = status;
        self
    }
}

impl From<ApiError> for ActionError {
    fn from(e: ApiError) -> Self {
        Self { code: e.code, message: e.message, field: e.field, vendor_status: None }
    }
}

impl From<PortError> for ActionError {
    fn from(e: PortError) -> Self {
        ApiError::from(e).into()
    }
}

fn validation(field: &str, message: impl Into<String>) -> ActionError {
    ApiError::validation(field, message).into()
}

/// Tactical's failure as the workflow sees it. `acting`: a client-side timeout on an action
/// means the outcome is unknown (the agent may still be running it), not "Tactical is down".
fn tactical_error(e: TacticalError, acting: bool) -> ActionError {
    let vendor = match &e {
        TacticalError::Rejected { status, .. } | TacticalError::Server { status } => Some(*status),
        TacticalError::NotFound { .. } => Some(404),
        TacticalError::Forbidden { .. } => Some(403),
        TacticalError::Unauthorized { .. } => Some(401),
        TacticalError::RateLimited { .. } => Some(429),
        _ => None,
    };
    match e {
        TacticalError::Timeout(d) if acting => ActionError {
            code: ErrorCode::AgentTimeout,
            message: format!(
                "Tactical did not answer within {} s; the action may still be running on the agent",
                d.as_secs()
            ),
            field: None,
            vendor_status: None,
        },
        other => ActionError::from(ApiError::from(other)).with_vendor(vendor),
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

/// Runs one action; `Ok` is the action's result object.
pub async fn execute(deps: &Deps, req: ActionRequest<'_>) -> Result<Value, ActionError> {
    if !deps.config.enterprise_remote_actions {
        return Err(ApiError::new(
            ErrorCode::EnterpriseOnly,
            "remote actions are part of the Enterprise Edition and are switched off in this deployment (ENTERPRISE_REMOTE_ACTIONS)",
        )
        .into());
    }
    // Per tenant: the deployment switch only says the feature exists here.
    if !req.caller.entitled(crate::auth::entitlements::REMOTE_ACTIONS) {
        return Err(ApiError::new(
            ErrorCode::EnterpriseOnly,
            format!(
                "remote actions are part of the Enterprise Edition, which this tenant does not have (no {} entitlement)",
                crate::auth::entitlements::REMOTE_ACTIONS
            ),
        )
        .into());
    }
    let action = Action::parse(req.action).ok_or_else(|| {
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        ActionError::from(ApiError::field(
            ErrorCode::NotFound,
            "action",
            format!("unknown action {:?}; one of {}", truncate(req.action, 60), names.join(", ")),
        ))
    })?;
    let caller = req.caller;
    if let Err(e) = caller.require(action.permission()) {
        let e = ActionError::from(e);
        if action.side_effecting() {
            let mut audit = Audit::new(deps.store.as_ref(), &req, action, agent_id_hint(&req.input), Value::Null);
            audit.refused(&e).await;
        }
        tracing::info!(tenant = %caller.tenant, user = %caller.user_id, action = action.name(), "remote action refused: permission");
        return Err(e);
    }
    let input = Input::parse(action, &req.input)?;
    let result = if action.on_alerts() {
        act_on_alerts(deps, &req, action, input).await
    } else if action.side_effecting() {
        act(deps, &req, action, input).await
    } else {
        read(deps, caller, input).await
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

// ------------------------------------------------------------------------------------------
// Inputs

fn d_find_limit() -> i64 {
    50
}
fn d_scripts_limit() -> i64 {
    100
}
fn d_script_timeout() -> i64 {
    90
}
fn d_command_timeout() -> i64 {
    30
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindInput {
    pub agent_id: Option<String>,
    pub asset_id: Option<String>,
    pub hostname: Option<String>,
    pub query: Option<String>,
    #[serde(default)]
    pub live: bool,
    #[serde(default = "d_find_limit")]
    pub limit: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetInput {
    pub agent_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptsInput {
    pub query: Option<String>,
    #[serde(default = "d_scripts_limit")]
    pub limit: i64,
    #[serde(default = "yes")]
    pub include_community: bool,
}

/// Script ids come as numbers, or as digit strings from engines that template everything.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum IdValue {
    Int(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunScriptInput {
    pub agent_id: String,
    pub script_id: IdValue,
    #[serde(default)]
    pub args: Vec<String>,
    /// `NAME=value`; the values are where secrets belong (never audited).
    #[serde(default)]
    pub env_vars: Vec<String>,
    #[serde(default = "d_script_timeout")]
    pub timeout: i64,
    #[serde(default)]
    pub run_as_user: bool,
    #[serde(default = "yes")]
    pub wait_for_output: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunCommandInput {
    pub agent_id: String,
    pub command: String,
    pub shell: Option<String>,
    pub custom_shell: Option<String>,
    #[serde(default = "d_command_timeout")]
    pub timeout: i64,
    #[serde(default)]
    pub run_as_user: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebootInput {
    pub agent_id: String,
    /// `YYYY-MM-DDTHH:MM` in the agent's own time zone (Tactical's format and semantics).
    pub at: Option<String>,
}

fn d_history_limit() -> i64 {
    20
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptResultInput {
    pub agent_id: String,
    pub history_id: IdValue,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryInput {
    pub agent_id: String,
    #[serde(default = "d_history_limit")]
    pub limit: i64,
    /// Runs older than this history id (the previous page's `next_before_id`).
    pub before_id: Option<IdValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsInput {
    pub alert_key: Option<String>,
    pub alert_keys: Option<Vec<String>>,
    pub snooze_days: Option<i64>,
}

/// Most alerts one call can name.
pub const MAX_ALERTS_PER_CALL: usize = 100;
/// Longest snooze: Tactical takes any number of days; a year is plenty for a workflow.
pub const MAX_SNOOZE_DAYS: i64 = 365;

/// A validated input.
#[derive(Debug, Clone)]
pub enum Input {
    Find(FindInput),
    Get(GetInput),
    Scripts(ScriptsInput),
    RunScript {
        agent_id: String,
        req: RunScript,
    },
    RunCommand {
        agent_id: String,
        req: RunCommand,
        shell_given: bool,
    },
    Reboot {
        agent_id: String,
        at: Option<String>,
    },
    ScriptResult {
        agent_id: String,
        history_id: i64,
    },
    History {
        agent_id: String,
        limit: usize,
        before_id: Option<i64>,
    },
    /// `field` names the input the keys came from (`alert_key` or `alert_keys`).
    Alerts {
        keys: Vec<String>,
        field: &'static str,
        change: AlertChange,
    },
}

/// A positive integer id, as a number or a digit string.
fn positive_id(field: &str, v: &IdValue, what: &str) -> Result<i64, ActionError> {
    match v {
        IdValue::Int(i) => Some(*i),
        IdValue::Text(t) if !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()) => t.parse().ok(),
        IdValue::Text(_) => None,
    }
    .filter(|i| *i >= 1)
    .ok_or_else(|| validation(field, format!("{field} must be a positive integer ({what})")))
}

fn check_alert_key(field: &str, k: &str) -> Result<(), ActionError> {
    if k.is_empty() || k.len() > 300 || k.chars().any(char::is_control) {
        Err(validation(field, "an alert key is 1–300 characters (the alert_key of GET /alerts)"))
    } else {
        Ok(())
    }
}

fn parse_alerts(action: Action, raw: &Value) -> Result<Input, ActionError> {
    let a: AlertsInput = from_value(raw)?;
    let (keys, field) = match (a.alert_key, a.alert_keys) {
        (Some(k), None) => {
            check_alert_key("alert_key", &k)?;
            (vec![k], "alert_key")
        }
        (None, Some(keys)) => {
            if keys.is_empty() || keys.len() > MAX_ALERTS_PER_CALL {
                return Err(validation("alert_keys", format!("alert_keys holds 1 to {MAX_ALERTS_PER_CALL} keys")));
            }
            let mut seen = HashSet::new();
            let mut unique = Vec::new();
            for (i, k) in keys.into_iter().enumerate() {
                check_alert_key(&format!("alert_keys[{i}]"), &k)?;
                if seen.insert(k.clone()) {
                    unique.push(k);
                }
            }
            (unique, "alert_keys")
        }
        (Some(_), Some(_)) => return Err(validation("alert_keys", "give alert_key or alert_keys, not both")),
        (None, None) => {
            return Err(validation("alert_key", "alert_key (one alert) or alert_keys (a list) is required"));
        }
    };
    let change = match (action, a.snooze_days) {
        (Action::AlertsSnooze, Some(d)) => {
            check_range("snooze_days", d, 1, MAX_SNOOZE_DAYS)?;
            // In range (checked above), so the conversion cannot fail.
            AlertChange::Snooze { days: u32::try_from(d).unwrap_or(1) }
        }
        (Action::AlertsSnooze, None) => return Err(validation("snooze_days", "snooze_days is required (1 to 365)")),
        (_, Some(_)) => return Err(validation("snooze_days", "only alerts.snooze takes snooze_days")),
        (Action::AlertsResolve, None) => AlertChange::Resolve,
        _ => AlertChange::Unsnooze,
    };
    Ok(Input::Alerts { keys, field, change })
}

fn from_value<T: DeserializeOwned>(input: &Value) -> Result<T, ActionError> {
    parse_object(input, "input")
}

/// Decodes a JSON object (`null` reads as `{}`); an error names the field, or `whole` when it is
/// about the object itself.
pub fn parse_object<T: DeserializeOwned>(input: &Value, whole: &str) -> Result<T, ActionError> {
    let bytes = match input {
        Value::Null => b"{}".to_vec(),
        Value::Object(_) => serde_json::to_vec(input).unwrap_or_default(),
        _ => return Err(validation(whole, format!("the {whole} must be a JSON object"))),
    };
    crate::json::parse_json::<T>(&bytes).map_err(|mut e| {
        // Name an unknown field itself (a typo must not silently do nothing).
        if let Some(name) = e.message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
            e.field = Some(name.to_owned());
        }
        if e.field.as_deref() == Some("body") {
            e.field = Some(whole.to_owned());
        }
        e.into()
    })
}

/// Tactical agent ids: 40 random letters today; its URL converter wants at least 21 characters.
fn check_agent_id(field: &str, id: &str) -> Result<(), ActionError> {
    let ok = (21..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'|' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(validation(field, "not a Tactical agent id (21–128 letters, digits, '.', '_', ':', '|' or '-')"))
    }
}

fn check_range(field: &str, v: i64, lo: i64, hi: i64) -> Result<(), ActionError> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(validation(field, format!("{field} must be between {lo} and {hi}")))
    }
}

fn check_text(field: &str, v: &str, max: usize) -> Result<(), ActionError> {
    if v.trim().is_empty() {
        Err(validation(field, format!("{field} must not be empty")))
    } else if v.len() > max {
        Err(validation(field, format!("{field} is longer than {max} bytes")))
    } else {
        Ok(())
    }
}

/// `waits`: the output is waited for, so the agent-side timeout must fit Tactical's 300 s.
fn check_timeout(v: i64, waits: bool) -> Result<u32, ActionError> {
    let (max, why) = if waits {
        (MAX_WAITED_TIMEOUT_SECS, " (the output is waited for, and Tactical ends requests after 300 s)")
    } else {
        (MAX_TIMEOUT_SECS, "")
    };
    match u32::try_from(v) {
        Ok(n) if (1..=max).contains(&v) => Ok(n),
        _ => Err(validation("timeout", format!("timeout must be between 1 and {max} seconds{why}"))),
    }
}

/// `YYYY-MM-DDTHH:MM`, Tactical's `%Y-%m-%dT%H:%M`.
fn check_reboot_time(at: &str) -> Result<(), ActionError> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::PrimitiveDateTime::parse(at, &format).map(|_| ()).map_err(|_| {
        validation("at", "at must be a local time YYYY-MM-DDTHH:MM (the agent's time zone), e.g. 2030-01-01T10:00")
    })
}

fn is_env_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl Input {
    pub fn parse(action: Action, raw: &Value) -> Result<Input, ActionError> {
        match action {
            Action::AgentsFind => {
                let f: FindInput = from_value(raw)?;
                check_range("limit", f.limit, 1, 200)?;
                if let Some(a) = &f.agent_id {
                    check_agent_id("agent_id", a)?;
                }
                if let Some(a) = &f.asset_id {
                    check_text("asset_id", a, 64)?;
                }
                if let Some(h) = &f.hostname {
                    check_text("hostname", h, 255)?;
                }
                if let Some(q) = &f.query {
                    check_text("query", q, 200)?;
                }
                Ok(Input::Find(f))
            }
            Action::AgentsGet => {
                let g: GetInput = from_value(raw)?;
                check_agent_id("agent_id", &g.agent_id)?;
                Ok(Input::Get(g))
            }
            Action::ScriptsList => {
                let s: ScriptsInput = from_value(raw)?;
                check_range("limit", s.limit, 1, 500)?;
                if let Some(q) = &s.query {
                    check_text("query", q, 200)?;
                }
                Ok(Input::Scripts(s))
            }
            Action::RunScript => {
                let r: RunScriptInput = from_value(raw)?;
                check_agent_id("agent_id", &r.agent_id)?;
                let script_id = match &r.script_id {
                    IdValue::Int(i) => Some(*i),
                    IdValue::Text(t) if !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()) => {
                        t.parse().ok()
                    }
                    IdValue::Text(_) => None,
                }
                .filter(|i| *i >= 1)
                .ok_or_else(|| {
                    validation("script_id", "script_id must be a positive integer (a Tactical script id)")
                })?;
                if r.args.len() > 100 {
                    return Err(validation("args", "at most 100 args"));
                }
                for (i, a) in r.args.iter().enumerate() {
                    if a.len() > 4096 {
                        return Err(validation(&format!("args[{i}]"), "an arg is at most 4096 bytes"));
                    }
                }
                if r.env_vars.len() > 100 {
                    return Err(validation("env_vars", "at most 100 env_vars"));
                }
                for (i, e) in r.env_vars.iter().enumerate() {
                    let ok = e.len() <= 8192 && e.split_once('=').is_some_and(|(k, _)| is_env_name(k));
                    if !ok {
                        return Err(validation(
                            &format!("env_vars[{i}]"),
                            "env vars are NAME=value with NAME made of letters, digits and _ (not starting with a digit)",
                        ));
                    }
                }
                let timeout = check_timeout(r.timeout, r.wait_for_output).map_err(|mut e| {
                    if r.wait_for_output {
                        e.message.push_str("; use wait_for_output: false for longer scripts");
                    }
                    e
                })?;
                Ok(Input::RunScript {
                    agent_id: r.agent_id,
                    req: RunScript {
                        script_id,
                        args: r.args,
                        env_vars: r.env_vars,
                        timeout,
                        run_as_user: r.run_as_user,
                        wait: r.wait_for_output,
                    },
                })
            }
            Action::RunCommand => {
                let c: RunCommandInput = from_value(raw)?;
                check_agent_id("agent_id", &c.agent_id)?;
                check_text("command", &c.command, MAX_COMMAND_BYTES)?;
                let shell_given = c.shell.is_some();
                let shell = c.shell.unwrap_or_else(|| "powershell".into());
                if !matches!(shell.as_str(), "cmd" | "powershell" | "bash" | "custom") {
                    return Err(validation("shell", "shell must be cmd, powershell, bash or custom"));
                }
                let custom_shell = match (shell.as_str(), c.custom_shell) {
                    ("custom", Some(path)) => {
                        check_text("custom_shell", &path, 260)?;
                        if path.chars().any(char::is_control) {
                            return Err(validation("custom_shell", "custom_shell must be a path to the shell"));
                        }
                        Some(path.trim().to_owned())
                    }
                    ("custom", None) => {
                        return Err(validation(
                            "custom_shell",
                            "shell custom needs custom_shell, the path of the shell on the agent",
                        ));
                    }
                    (_, Some(_)) => {
                        return Err(validation("custom_shell", "custom_shell is only used with shell custom"));
                    }
                    (_, None) => None,
                };
                // A command's output is always waited for.
                let timeout = check_timeout(c.timeout, true)?;
                Ok(Input::RunCommand {
                    agent_id: c.agent_id,
                    req: RunCommand { shell, cmd: c.command, timeout, run_as_user: c.run_as_user, custom_shell },
                    shell_given,
                })
            }
            Action::Reboot => {
                let r: RebootInput = from_value(raw)?;
                check_agent_id("agent_id", &r.agent_id)?;
                if let Some(at) = &r.at {
                    check_reboot_time(at)?;
                }
                Ok(Input::Reboot { agent_id: r.agent_id, at: r.at })
            }
            Action::ScriptResult => {
                let r: ScriptResultInput = from_value(raw)?;
                check_agent_id("agent_id", &r.agent_id)?;
                let history_id = positive_id("history_id", &r.history_id, "the history_id of agents.run_script")?;
                Ok(Input::ScriptResult { agent_id: r.agent_id, history_id })
            }
            Action::History => {
                let h: HistoryInput = from_value(raw)?;
                check_agent_id("agent_id", &h.agent_id)?;
                check_range("limit", h.limit, 1, 100)?;
                let before_id = match &h.before_id {
                    Some(b) => Some(positive_id("before_id", b, "a history id")?),
                    None => None,
                };
                Ok(Input::History { agent_id: h.agent_id, limit: usize::try_from(h.limit).unwrap_or(1), before_id })
            }
            Action::AlertsResolve | Action::AlertsSnooze | Action::AlertsUnsnooze => parse_alerts(action, raw),
        }
    }

    fn agent_id(&self) -> Option<&str> {
        match self {
            Input::RunScript { agent_id, .. } | Input::RunCommand { agent_id, .. } | Input::Reboot { agent_id, .. } => {
                Some(agent_id)
            }
            Input::Get(g) => Some(&g.agent_id),
            Input::ScriptResult { agent_id, .. } | Input::History { agent_id, .. } => Some(agent_id),
            Input::Find(_) | Input::Scripts(_) | Input::Alerts { .. } => None,
        }
    }

    /// What the audit keeps: never env var values; long text cut (with a hash of the whole
    /// command, so a record can be matched against a known command).
    fn audit_summary(&self) -> Value {
        match self {
            Input::RunCommand { req, .. } => {
                // Redacted before anything is kept, the hash too: a hash of a command with a
                // short password in it would let the password be guessed offline.
                let cmd = super::audit::redact_command(&req.cmd);
                json!({
                "shell": req.shell,
                "custom_shell": req.custom_shell,
                "command": truncate(&cmd, 1000),
                "command_bytes": req.cmd.len(),
                "command_sha256": hex::encode(Sha256::digest(cmd.as_bytes())),
                "timeout": req.timeout,
                "run_as_user": req.run_as_user,
                })
            }
            Input::RunScript { req, .. } => json!({
                "script_id": req.script_id,
                "args": super::audit::redact_args(&req.args.iter().take(21).map(String::as_str).collect::<Vec<_>>())
                    .iter()
                    .take(20)
                    .map(|a| truncate(a, 200))
                    .collect::<Vec<_>>(),
                "env_var_names": req.env_vars.iter().map(|e| e.split('=').next().unwrap_or_default()).collect::<Vec<_>>(),
                "timeout": req.timeout,
                "run_as_user": req.run_as_user,
                "wait_for_output": req.wait,
            }),
            Input::Reboot { at, .. } => json!({ "at": at }),
            Input::Alerts { keys, change, .. } => json!({
                "alert_keys": keys.iter().take(MAX_ALERTS_PER_CALL).map(|k| truncate(k, 300)).collect::<Vec<_>>(),
                "change": change.kind(),
                "snooze_days": match change { AlertChange::Snooze { days } => Some(*days), _ => None },
            }),
            _ => Value::Null,
        }
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// The agent id of a refused input, only if it looks like one (nothing unvalidated is stored).
fn agent_id_hint(input: &Value) -> Option<String> {
    let id = input.get("agent_id")?.as_str()?;
    check_agent_id("agent_id", id).ok().map(|_| id.to_owned())
}

// ------------------------------------------------------------------------------------------
// Tenancy: the integration and the agent

async fn active_integration(deps: &Deps, tenant: &TenantId) -> Result<RmmIntegration, ActionError> {
    let integ = deps.store.get_integration(tenant).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::IntegrationNotConfigured, "there is no Tactical RMM integration for this tenant")
    })?;
    integ.ensure_active()?;
    Ok(integ)
}

async fn client(deps: &Deps, tenant: &TenantId, integ: &RmmIntegration) -> Result<Box<dyn TacticalApi>, ActionError> {
    Ok(ConnectionService::new(deps).client(tenant, integ).await?)
}

/// The agent's asset in the calling tenant. An agent of another tenant, or one never synced, has
/// none: refused the same way, so nothing about other tenants is revealed.
async fn tenant_asset(deps: &Deps, tenant: &TenantId, agent_id: &str) -> Result<Asset, ActionError> {
    let id = asset_id_for(tenant, agent_id);
    deps.store
        .get_assets(tenant, std::slice::from_ref(&id))
        .await?
        .into_iter()
        .find(|a| a.rmm_device_id == agent_id)
        .ok_or_else(|| {
            ApiError::field(
                ErrorCode::NotFound,
                "agent_id",
                "this agent is not an asset of your organization; sync devices first, or check the agent id",
            )
            .into()
        })
}

/// Runs `call` with a client built from the stored credentials. A Knox token Tactical refuses
/// is renewed the way the syncs renew it (a new token, or `reauth_required` for a person) and
/// `call` runs again at once with the new one. Tactical checks the token before acting, so a
/// refused action never ran and may be sent again.
async fn with_client<T, F, Fut>(deps: &Deps, tenant: &TenantId, integ: &RmmIntegration, call: F) -> Result<T, Failure>
where
    F: Fn(Box<dyn TacticalApi>) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    with_first_client(deps, tenant, integ, None, call).await
}

/// [`with_client`] whose first attempt uses `first`, a client already built (so a missing
/// credential is reported before the action is audited as attempted).
async fn with_first_client<T, F, Fut>(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    first: Option<Box<dyn TacticalApi>>,
    call: F,
) -> Result<T, Failure>
where
    F: Fn(Box<dyn TacticalApi>) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let call = &call;
    let first = &std::sync::Mutex::new(first);
    ConnectionService::new(deps)
        .with_renewal(
            tenant,
            integ.knox_token_expires_at.as_deref(),
            |f| matches!(f, Failure::Tactical(TacticalError::Unauthorized { .. })),
            |reason| {
                Failure::Tactical(TacticalError::Unauthorized {
                    detail: format!("the Knox token is being renewed ({reason}); retry in a moment"),
                })
            },
            move || async move {
                let built = first.lock().ok().and_then(|mut f| f.take());
                let api = match built {
                    Some(api) => api,
                    None => client(deps, tenant, integ).await.map_err(Failure::Other)?,
                };
                call(api).await
            },
        )
        .await
}

// ------------------------------------------------------------------------------------------
// Audit

struct Audit<'a> {
    store: &'a dyn AuditStore,
    record: AuditRecord,
    started: Instant,
}

impl<'a> Audit<'a> {
    fn new(
        store: &'a dyn AuditStore,
        req: &ActionRequest<'_>,
        action: Action,
        agent_id: Option<String>,
        input: Value,
    ) -> Self {
        let record = AuditRecord {
            tenant: req.caller.tenant.clone(),
            audit_id: new_audit_id(),
            action: action.name().to_owned(),
            actor_user_id: truncate(&req.caller.user_id, 256),
            via: req.via,
            correlation_id: req.correlation_id.as_deref().map(|c| truncate(c, 256)),
            asset_id: agent_id.as_deref().map(|a| asset_id_for(&req.caller.tenant, a)),
            agent_id,
            input,
            outcome: AuditOutcome::Pending,
            tactical_called: false,
            error_code: None,
            error_message: None,
            result: None,
            started_at: now_rfc3339(),
            finished_at: None,
            duration_ms: None,
        };
        Self { store, record, started: Instant::now() }
    }

    fn finish_of(&self, outcome: Result<Option<Value>, &ActionError>) -> AuditFinish {
        let (outcome, error_code, error_message, result) = match outcome {
            Ok(summary) => (AuditOutcome::Ok, None, None, summary),
            Err(e) => (AuditOutcome::Error, Some(e.code_str()), Some(truncate(&e.message, 500)), None),
        };
        AuditFinish {
            outcome,
            error_code,
            error_message,
            result,
            finished_at: now_rfc3339(),
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A refusal before any call: one complete record. If it cannot be written the refusal still
    /// stands; the record goes to the log instead (nothing was done to the endpoint).
    async fn refused(&mut self, e: &ActionError) {
        let finish = self.finish_of(Err(e));
        self.record.apply(&finish);
        if let Err(err) = self.store.put_audit(&self.record).await {
            tracing::error!(error = %err, audit = %serde_json::to_string(&self.record).unwrap_or_default(), "audit record of a refused action not written");
        }
    }

    /// Runs `action` only once the pending record is written (futures do nothing until polled),
    /// then records how it ended.
    async fn around<F>(&mut self, action: F) -> Result<Value, ActionError>
    where
        F: std::future::Future<Output = Result<(Value, Value), ActionError>>,
    {
        self.begin().await?;
        let r = action.await;
        match &r {
            Ok((_, summary)) => self.finish(Ok(Some(summary.clone()))).await,
            Err(e) => self.finish(Err(e)).await,
        }
        r.map(|(v, _)| v)
    }

    /// The record before the call. No record, no call: an action that cannot be audited is not sent.
    async fn begin(&mut self) -> Result<(), ActionError> {
        self.record.tactical_called = true;
        if let Err(err) = self.store.put_audit(&self.record).await {
            tracing::error!(error = %err, tenant = %self.record.tenant, action = %self.record.action, "audit record not written; action not sent");
            return Err(ApiError::new(
                ErrorCode::Internal,
                "the audit log could not be written, so nothing was sent to the agent; retry in a moment",
            )
            .into());
        }
        Ok(())
    }

    /// The outcome after the call, retried; if it still fails the record stays `pending` (read as
    /// "may have run") and the full outcome goes to the log, so it is never silently lost.
    async fn finish(&mut self, outcome: Result<Option<Value>, &ActionError>) {
        let finish = self.finish_of(outcome);
        let mut last_err = None;
        for attempt in 0..FINISH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            match self.store.finish_audit(&self.record.tenant, &self.record.audit_id, &finish).await {
                Ok(()) => {
                    self.record.apply(&finish);
                    return;
                }
                Err(e) => last_err = Some(e),
            }
        }
        self.record.apply(&finish);
        tracing::error!(
            error = %last_err.map(|e| e.to_string()).unwrap_or_default(),
            audit = %serde_json::to_string(&self.record).unwrap_or_default(),
            "audit outcome not recorded; the stored record stays pending"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Side-effecting actions

async fn act(deps: &Deps, req: &ActionRequest<'_>, action: Action, input: Input) -> Result<Value, ActionError> {
    let tenant = &req.caller.tenant;
    let agent_id = input.agent_id().unwrap_or_default().to_owned();
    let mut audit = Audit::new(deps.store.as_ref(), req, action, Some(agent_id.clone()), input.audit_summary());

    // Refusals before any call are audited too: who tried what on which agent.
    let prepared = async {
        let integ = active_integration(deps, tenant).await?;
        let asset = tenant_asset(deps, tenant, &agent_id).await?;
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
    let outcome = audit
        .around(async {
            let sent = with_first_client(deps, tenant, &integ, Some(api), |api| {
                let input = input.clone();
                let (agent_id, asset) = (&agent_id, &asset);
                async move { call_action(api.as_ref(), agent_id, asset, input).await }
            })
            .await;
            match sent {
                Ok(r) => Ok(r),
                Err(Failure::Tactical(t)) => Err(map_action_error(t)),
                Err(Failure::Other(e)) => Err(e),
            }
        })
        .await;
    outcome.map(|mut v| {
        v["audit_id"] = json!(audit.record.audit_id);
        v["duration_ms"] = json!(audit.record.duration_ms);
        v
    })
}

enum Failure {
    Tactical(TacticalError),
    Other(ActionError),
}

/// Tactical's refusals named by the input they concern.
fn map_action_error(e: TacticalError) -> ActionError {
    match &e {
        TacticalError::NotFound { detail: Some(d), .. } if d.contains("Script") => {
            ActionError::from(ApiError::field(ErrorCode::NotFound, "script_id", "Tactical has no script with this id"))
                .with_vendor(Some(404))
        }
        TacticalError::NotFound { .. } => {
            ActionError::from(ApiError::field(ErrorCode::NotFound, "agent_id", "Tactical has no agent with this id"))
                .with_vendor(Some(404))
        }
        _ => tactical_error(e, true),
    }
}

fn agent_base(agent_id: &str, asset: &Asset) -> Value {
    json!({"agent_id": agent_id, "asset_id": asset.asset_id, "hostname": asset.name})
}

/// The action's result, and what the audit keeps of it.
async fn call_action(
    api: &dyn TacticalApi,
    agent_id: &str,
    asset: &Asset,
    input: Input,
) -> Result<(Value, Value), Failure> {
    let mut v = agent_base(agent_id, asset);
    match input {
        Input::RunCommand { req, .. } => {
            let out = api.run_command(agent_id, &req).await.map_err(Failure::Tactical)?;
            v["shell"] = json!(req.shell);
            v["status"] = json!("completed");
            v["output"] = json!(out.output);
            v["truncated"] = json!(out.truncated);
            v["output_bytes"] = json!(out.output_bytes);
            Ok((v, json!({"output_bytes": out.output_bytes, "truncated": out.truncated})))
        }
        Input::RunScript { req, .. } => {
            v["script_id"] = json!(req.script_id);
            // The run's history row is the first one of this script newer than what was there
            // before (Tactical creates it before asking the agent; its answer carries no id).
            let before = match api.agent_history(agent_id).await {
                Ok(rows) => Some(rows.iter().map(|r| r.id).max().unwrap_or(0)),
                Err(e) => {
                    tracing::info!(error = %e, "agent history unreadable; running the script without its history id");
                    None
                }
            };
            match api.run_script(agent_id, &req).await.map_err(Failure::Tactical)? {
                ScriptRun::Completed(out) => {
                    v["status"] = json!("completed");
                    v["output"] = json!(out.output);
                    v["truncated"] = json!(out.truncated);
                    v["output_bytes"] = json!(out.output_bytes);
                    let row = match before {
                        Some(b) => find_run(api, agent_id, req.script_id, b, true).await,
                        None => None,
                    };
                    v["history_id"] = json!(row.as_ref().map(|r| r.id));
                    let result = row.as_ref().and_then(run_result);
                    put_result(&mut v, result.as_ref());
                    if let Some(r) = &result {
                        v["truncated"] = json!(out.truncated || r.truncated);
                    }
                    let summary = json!({
                        "status": "completed",
                        "output_bytes": out.output_bytes,
                        "truncated": v["truncated"],
                        "history_id": v["history_id"],
                        "exit_code": v["exit_code"],
                    });
                    Ok((v, summary))
                }
                ScriptRun::Accepted { message } => {
                    v["status"] = json!("accepted");
                    v["message"] = json!(message);
                    let row = match before {
                        Some(b) => find_run(api, agent_id, req.script_id, b, false).await,
                        None => None,
                    };
                    v["history_id"] = json!(row.as_ref().map(|r| r.id));
                    let summary = json!({"status": "accepted", "history_id": v["history_id"]});
                    Ok((v, summary))
                }
            }
        }
        Input::Reboot { at: None, .. } => {
            api.reboot(agent_id).await.map_err(Failure::Tactical)?;
            v["status"] = json!("reboot_sent");
            v["scheduled"] = json!(false);
            Ok((v, json!({"status": "reboot_sent"})))
        }
        Input::Reboot { at: Some(at), .. } => {
            let sr = match api.reboot_at(agent_id, &at).await {
                Ok(sr) => sr,
                // "Date cannot be set in the past", "Invalid date", "Not currently implemented for linux".
                Err(TacticalError::Rejected { status: 400, message }) => {
                    return Err(Failure::Other(
                        validation("at", format!("Tactical refused the reboot time: {message}")).with_vendor(Some(400)),
                    ));
                }
                Err(e) => return Err(Failure::Tactical(e)),
            };
            v["status"] = json!("scheduled");
            v["scheduled"] = json!(true);
            v["at"] = json!(at);
            v["time"] = json!(sr.time);
            v["task_name"] = json!(sr.task_name);
            Ok((v, json!({"status": "scheduled", "task_name": sr.task_name})))
        }
        _ => Err(Failure::Other(ApiError::new(ErrorCode::Internal, "not an agent action").into())),
    }
}

// ------------------------------------------------------------------------------------------
// Read actions

/// An agent as the original's workflow actions return it, with a few more fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentView {
    pub agent_id: String,
    pub asset_id: Option<String>,
    pub hostname: String,
    /// Tactical client id (the organization mapping's `external_organization_id`).
    pub organization_id: Option<String>,
    pub organization_name: Option<String>,
    pub site_id: Option<i64>,
    pub site_name: Option<String>,
    pub agent_online: bool,
    /// `online`, `offline` or `overdue` (Tactical's rule, computed now).
    pub status: String,
    pub last_seen_at: Option<String>,
    pub os_name: Option<String>,
    /// `windows`, `linux` or `darwin`.
    pub platform: Option<String>,
    pub monitoring_type: Option<String>,
    /// `local` (our asset) or `tacticalrmm` (read live).
    pub source: &'static str,
}

/// Site id → (client id, client name, site name), from the tenant's organization mappings.
struct Orgs(BTreeMap<i64, (String, String, String)>);

impl Orgs {
    fn of(mappings: &[OrgMapping]) -> Self {
        let mut m = BTreeMap::new();
        for org in mappings.iter().filter(|o| o.missing_since.is_none()) {
            for s in &org.sites {
                m.insert(
                    s.id,
                    (org.external_organization_id.clone(), org.external_organization_name.clone(), s.name.clone()),
                );
            }
        }
        Orgs(m)
    }

    fn site(&self, site: Option<i64>) -> Option<&(String, String, String)> {
        self.0.get(&site?)
    }
}

fn normalise_time(t: Option<&str>) -> Option<String> {
    t.and_then(parse_rfc3339).map(to_rfc3339)
}

fn view_of_asset(a: &Asset, orgs: &Orgs) -> AgentView {
    // As last observed: never recomputed from an old last_seen.
    let status = a.agent_status;
    let org = orgs.site(a.site_id);
    AgentView {
        agent_id: a.rmm_device_id.clone(),
        asset_id: Some(a.asset_id.clone()),
        hostname: a.name.clone(),
        organization_id: Some(a.rmm_organization_id.clone()),
        organization_name: org.map(|o| o.1.clone()),
        site_id: a.site_id,
        site_name: a.location.clone().or_else(|| org.map(|o| o.2.clone())),
        agent_online: status == super::status::AgentStatus::Online,
        status: status.as_str().to_owned(),
        last_seen_at: a.last_seen_at.clone(),
        os_name: a.os_version.clone(),
        platform: a.os_type.clone(),
        monitoring_type: Some(a.asset_type.clone()),
        source: "local",
    }
}

fn view_of_beta(a: &BetaAgent, asset_id: Option<String>, orgs: &Orgs) -> AgentView {
    let status = agent_status(a.last_seen.as_deref().and_then(parse_rfc3339), a.offline_time, a.overdue_time, now());
    let org = orgs.site(a.site);
    AgentView {
        agent_id: a.agent_id.clone(),
        asset_id,
        hostname: a.hostname.clone(),
        organization_id: org.map(|o| o.0.clone()),
        organization_name: org.map(|o| o.1.clone()),
        site_id: a.site,
        site_name: org.map(|o| o.2.clone()),
        agent_online: status == super::status::AgentStatus::Online,
        status: status.as_str().to_owned(),
        last_seen_at: normalise_time(a.last_seen.as_deref()),
        os_name: clean(a.operating_system.as_deref()),
        platform: a.plat.clone(),
        monitoring_type: a.monitoring_type.clone(),
        source: "tacticalrmm",
    }
}

fn view_of_detail(d: &AgentDetail, asset: Option<&Asset>, orgs: &Orgs) -> AgentView {
    let status = match d.status.as_deref() {
        Some(s @ ("online" | "offline" | "overdue")) => s.to_owned(),
        _ => agent_status(d.last_seen.as_deref().and_then(parse_rfc3339), d.offline_time, d.overdue_time, now())
            .as_str()
            .to_owned(),
    };
    let org = orgs.site(d.site);
    AgentView {
        agent_id: d.agent_id.clone(),
        asset_id: asset.map(|a| a.asset_id.clone()),
        hostname: d.hostname.clone(),
        organization_id: org.map(|o| o.0.clone()).or_else(|| asset.map(|a| a.rmm_organization_id.clone())),
        organization_name: d.client.clone().or_else(|| org.map(|o| o.1.clone())),
        site_id: d.site,
        site_name: d.site_name.clone().or_else(|| org.map(|o| o.2.clone())),
        agent_online: status == "online",
        status,
        last_seen_at: normalise_time(d.last_seen.as_deref()),
        os_name: clean(d.operating_system.as_deref()),
        platform: d.plat.clone(),
        monitoring_type: d.monitoring_type.clone(),
        source: "tacticalrmm",
    }
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

async fn read(deps: &Deps, caller: &Caller, input: Input) -> Result<Value, ActionError> {
    let tenant = &caller.tenant;
    let integ = active_integration(deps, tenant).await?;
    match input {
        Input::Find(f) if !f.live => find_local(deps, tenant, f).await,
        Input::Find(f) => {
            let r = with_client(deps, tenant, &integ, |api| {
                let f = f.clone();
                async move { find_live(deps, tenant, api.as_ref(), f).await }
            })
            .await;
            r.map_err(|f| match f {
                Failure::Tactical(e) => tactical_error(e, false),
                Failure::Other(e) => e,
            })
        }
        Input::Get(g) => {
            let asset = tenant_asset(deps, tenant, &g.agent_id).await?;
            let agent_id = &g.agent_id;
            let fetched =
                with_client(
                    deps,
                    tenant,
                    &integ,
                    |api| async move { api.agent(agent_id).await.map_err(Failure::Tactical) },
                )
                .await;
            let detail = match fetched {
                Ok(d) => d,
                Err(Failure::Other(e)) => return Err(e),
                Err(Failure::Tactical(e)) => {
                    return Err(match e {
                        TacticalError::NotFound { .. } => ActionError::from(ApiError::field(
                            ErrorCode::NotFound,
                            "agent_id",
                            "Tactical no longer has this agent (removed since the last device sync)",
                        ))
                        .with_vendor(Some(404)),
                        other => tactical_error(other, false),
                    });
                }
            };
            let orgs = Orgs::of(&deps.store.list_org_mappings(tenant).await?);
            let mut v = to_json(&view_of_detail(&detail, Some(&asset), &orgs));
            v["logged_in_user"] = json!(clean(detail.logged_in_username.as_deref()));
            v["public_ip"] = json!(clean(detail.public_ip.as_deref()));
            v["agent_version"] = json!(clean(detail.version.as_deref()));
            v["needs_reboot"] = json!(detail.needs_reboot);
            v["maintenance_mode"] = json!(detail.maintenance_mode);
            v["timezone"] = json!(detail.timezone);
            Ok(json!({ "agent": v }))
        }
        Input::Scripts(s) => {
            let community = s.include_community;
            let fetched = with_client(deps, tenant, &integ, |api| async move {
                api.scripts(community).await.map_err(Failure::Tactical)
            })
            .await;
            let scripts = match fetched {
                Ok(v) => v,
                Err(Failure::Other(e)) => return Err(e),
                Err(Failure::Tactical(e)) => return Err(tactical_error(e, false)),
            };
            let q = s.query.as_deref().map(|q| q.trim().to_lowercase());
            let matching: Vec<Value> = scripts
                .iter()
                .filter(|sc| {
                    q.as_deref().is_none_or(|q| {
                        sc.name.to_lowercase().contains(q)
                            || sc.description.to_lowercase().contains(q)
                            || sc.category.as_deref().is_some_and(|c| c.to_lowercase().contains(q))
                    })
                })
                .map(|sc| {
                    json!({
                        "id": sc.id,
                        "name": sc.name,
                        "description": sc.description,
                        "shell": sc.shell,
                        "category": sc.category,
                        "script_type": sc.script_type,
                        "args": sc.args,
                        "default_timeout": sc.default_timeout,
                        "supported_platforms": sc.supported_platforms,
                        "run_as_user": sc.run_as_user,
                        // Default values may be secrets: names only.
                        "env_var_names": sc.env_vars.iter().map(|e| e.split('=').next().unwrap_or_default()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let total = matching.len();
            let shown: Vec<Value> = matching.into_iter().take(usize::try_from(s.limit).unwrap_or(0)).collect();
            Ok(json!({"scripts": shown, "count": shown.len(), "total": total, "has_more": total > shown.len()}))
        }
        Input::ScriptResult { agent_id, history_id } => {
            let asset = tenant_asset(deps, tenant, &agent_id).await?;
            let api = client(deps, tenant, &integ).await?;
            let rows = history_of(deps, tenant, api.as_ref(), &agent_id).await?;
            let row = rows.into_iter().find(|r| r.id == history_id).ok_or_else(|| {
                ActionError::from(ApiError::field(
                    ErrorCode::NotFound,
                    "history_id",
                    "this agent has no run with this history id in Tactical (pruned, or of another agent)",
                ))
            })?;
            let mut v = agent_base(&agent_id, &asset);
            v["history_id"] = json!(row.id);
            v["type"] = json!(row.kind);
            v["script_id"] = json!(row.script);
            v["script_name"] = json!(row.script_name.as_deref().map(|n| truncate(n, 200)));
            v["time"] = json!(normalise_time(row.time.as_deref()));
            let result = run_result(&row);
            v["status"] = json!(if result.is_some() { "completed" } else { "pending" });
            put_result(&mut v, result.as_ref());
            v["truncated"] = json!(result.as_ref().is_some_and(|r| r.truncated));
            Ok(v)
        }
        Input::History { agent_id, limit, before_id } => {
            let asset = tenant_asset(deps, tenant, &agent_id).await?;
            let api = client(deps, tenant, &integ).await?;
            let mut rows = history_of(deps, tenant, api.as_ref(), &agent_id).await?;
            // Tactical states no order: newest first by id.
            rows.retain(|r| before_id.is_none_or(|b| r.id < b));
            rows.sort_by_key(|r| std::cmp::Reverse(r.id));
            let total = rows.len();
            let page: Vec<Value> = rows.iter().take(limit).map(history_entry).collect();
            let has_more = total > page.len();
            let mut v = agent_base(&agent_id, &asset);
            v["runs"] = json!(page);
            v["count"] = json!(page.len());
            v["has_more"] = json!(has_more);
            v["next_before_id"] = json!(if has_more { rows.get(limit - 1).map(|r| r.id) } else { None });
            Ok(v)
        }
        _ => Err(ApiError::new(ErrorCode::Internal, "not a read action").into()),
    }
}

async fn history_of(
    deps: &Deps,
    tenant: &TenantId,
    api: &dyn TacticalApi,
    agent_id: &str,
) -> Result<Vec<HistoryRow>, ActionError> {
    let rows = api.agent_history(agent_id).await;
    if let Err(e) = &rows {
        super::sync::note_auth_failure(deps, tenant, e).await;
    }
    rows.map_err(|e| match e {
        TacticalError::NotFound { .. } => ActionError::from(ApiError::field(
            ErrorCode::NotFound,
            "agent_id",
            "Tactical no longer has this agent (removed since the last device sync)",
        ))
        .with_vendor(Some(404)),
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

fn put_result(v: &mut Value, r: Option<&RunResult>) {
    v["exit_code"] = json!(r.and_then(|r| r.exit_code));
    v["stdout"] = json!(r.map(|r| r.stdout.as_str()));
    v["stderr"] = json!(r.map(|r| r.stderr.as_str()));
    v["stdout_bytes"] = json!(r.map(|r| r.stdout_bytes));
    v["stderr_bytes"] = json!(r.map(|r| r.stderr_bytes));
    v["execution_time"] = json!(r.and_then(|r| r.execution_time));
}

/// One run of `agents.history`: what ran, who ran it, when, and how it ended (no output).
fn history_entry(row: &HistoryRow) -> Value {
    let result = run_result(row);
    json!({
        "history_id": row.id,
        "type": row.kind.as_deref().map(|k| truncate(k, 50)),
        "command": row.command.as_deref().map(|c| truncate(c, 1000)),
        "script_id": row.script,
        "script_name": row.script_name.as_deref().map(|n| truncate(n, 200)),
        "user": row.username.as_deref().map(|u| truncate(u, 255)),
        "time": normalise_time(row.time.as_deref()),
        "status": if result.is_some() { "completed" } else { "pending" },
        "exit_code": result.and_then(|r| r.exit_code),
    })
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

// ------------------------------------------------------------------------------------------
// Alert actions

async fn act_on_alerts(
    deps: &Deps,
    req: &ActionRequest<'_>,
    action: Action,
    input: Input,
) -> Result<Value, ActionError> {
    let tenant = &req.caller.tenant;
    let mut audit = Audit::new(deps.store.as_ref(), req, action, None, input.audit_summary());
    let Input::Alerts { keys, field, change } = input else {
        return Err(ApiError::new(ErrorCode::Internal, "not an alert action").into());
    };
    let prepared = async {
        let integ = active_integration(deps, tenant).await?;
        let mut targets: Vec<(RmmAlert, i64)> = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let name = if field == "alert_key" { field.to_owned() } else { format!("alert_keys[{i}]") };
            let alert = deps.store.get_alert(tenant, key).await?.ok_or_else(|| {
                ActionError::from(ApiError::field(
                    ErrorCode::NotFound,
                    &name,
                    "no alert with this key in your organization's alerts (GET /alerts lists them)",
                ))
            })?;
            let id = alert.external_alert_id.as_deref().and_then(|i| i.parse::<i64>().ok()).ok_or_else(|| {
                validation(
                    &name,
                    "Tactical sent this alert without its alert id (check the webhook template's alert_id), so it can only be changed in Tactical",
                )
            })?;
            targets.push((alert, id));
        }
        Ok((targets, integ))
    }
    .await;
    let (targets, integ) = match prepared {
        Ok(p) => p,
        Err(e) => {
            audit.refused(&e).await;
            return Err(e);
        }
    };
    let outcome = audit
        .around(async {
            // A refused Knox token is renewed and the change sent again at once: Tactical checks
            // the token before acting, so nothing was changed by the refused call.
            let targets = &targets;
            let r = with_client(deps, tenant, &integ, |api| async move {
                change_alerts(deps, req, api.as_ref(), targets, field, change).await
            })
            .await;
            r.map_err(|f| match f {
                Failure::Tactical(e) => tactical_error(e, true),
                Failure::Other(e) => e,
            })
        })
        .await;
    outcome.map(|mut v| {
        v["audit_id"] = json!(audit.record.audit_id);
        v["duration_ms"] = json!(audit.record.duration_ms);
        v
    })
}

/// Asks Tactical, then records what it accepted. Several alerts go in one bulk call when
/// Tactical has one (resolve, snooze); unsnooze is one call per alert.
async fn change_alerts(
    deps: &Deps,
    req: &ActionRequest<'_>,
    api: &dyn TacticalApi,
    targets: &[(RmmAlert, i64)],
    field: &str,
    change: AlertChange,
) -> Result<(Value, Value), Failure> {
    let ids: Vec<i64> = targets.iter().map(|(_, id)| *id).collect();
    let bulk = ids.len() > 1 && change != AlertChange::Unsnooze;
    let mut applied: Vec<(RmmAlert, i64)> = targets.to_vec();
    let mut not_changed = Vec::new();
    if bulk {
        api.change_alerts_bulk(&ids, change).await.map_err(Failure::Tactical)?;
        // Tactical's bulk answer is "ok" even for alerts it skipped (outside the API key's role,
        // or deleted): each alert is read back, and only those it changed are recorded.
        applied.clear();
        for (alert, id) in targets {
            let reason = match api.alert(*id).await {
                Ok(a) if took_effect(&a, change) => None,
                Ok(_) => Some("Tactical did not change this alert (outside the API key's role?)"),
                Err(TacticalError::Forbidden { .. }) => Some("outside the Tactical API key's role"),
                Err(TacticalError::NotFound { .. }) => Some("Tactical no longer has this alert (deleted there)"),
                // Tactical said ok and cannot be asked now: trust its answer.
                Err(e) => {
                    tracing::info!(error = %e, "could not read an alert back after a bulk change");
                    None
                }
            };
            match reason {
                None => applied.push((alert.clone(), *id)),
                Some(r) => {
                    not_changed.push(json!({"alert_key": alert.alert_key, "tactical_alert_id": id, "reason": r}))
                }
            }
        }
    } else {
        for (i, id) in ids.iter().enumerate() {
            match api.change_alert(*id, change).await {
                Ok(()) => {}
                Err(TacticalError::NotFound { .. }) => {
                    let name = if field == "alert_key" { field.to_owned() } else { format!("alert_keys[{i}]") };
                    // Earlier alerts of the list were changed: record them before failing.
                    record_changes(deps, req, &targets[..i], change).await.map_err(|e| Failure::Other(e.into()))?;
                    return Err(Failure::Other(
                        ActionError::from(ApiError::field(
                            ErrorCode::NotFound,
                            &name,
                            "Tactical no longer has this alert (deleted there)",
                        ))
                        .with_vendor(Some(404)),
                    ));
                }
                Err(e) => {
                    record_changes(deps, req, &targets[..i], change).await.map_err(|e| Failure::Other(e.into()))?;
                    return Err(Failure::Tactical(e));
                }
            }
        }
    }
    let recorded = record_changes(deps, req, &applied, change).await.map_err(|e| Failure::Other(e.into()))?;
    let alerts: Vec<Value> = recorded
        .iter()
        .map(|a| {
            json!({
                "alert_key": a.alert_key,
                "tactical_alert_id": a.external_alert_id.as_deref().and_then(|i| i.parse::<i64>().ok()),
                "agent_id": a.external_device_id,
                "asset_id": a.asset_id,
                "status": a.status,
                "snoozed_until": a.snoozed_until,
                "resolved_at": a.resolved_at,
                "resolved_by": a.resolved_by,
                "ticket_id": a.ticket_id,
            })
        })
        .collect();
    let v = json!({
        "change": change.kind(),
        "alerts": alerts,
        "count": alerts.len(),
        "bulk": bulk,
        "not_changed": not_changed,
    });
    let summary =
        json!({"change": change.kind(), "tactical_alert_ids": ids, "bulk": bulk, "not_changed": not_changed.len()});
    Ok((v, summary))
}

/// Whether Tactical's alert shows the bulk change.
fn took_effect(a: &crate::tactical::types::Alert, change: AlertChange) -> bool {
    match change {
        AlertChange::Resolve => a.resolved,
        AlertChange::Snooze { .. } => a.snoozed || a.resolved,
        AlertChange::Unsnooze => !a.snoozed,
    }
}

async fn record_changes(
    deps: &Deps,
    req: &ActionRequest<'_>,
    targets: &[(RmmAlert, i64)],
    change: AlertChange,
) -> Result<Vec<RmmAlert>, PortError> {
    let psa = match change {
        AlertChange::Resolve => PsaChange::Resolve { by: truncate(&req.caller.user_id, 256) },
        AlertChange::Snooze { days } => {
            PsaChange::Snooze { until: to_rfc3339(now() + time::Duration::days(i64::from(days))) }
        }
        AlertChange::Unsnooze => PsaChange::Unsnooze,
    };
    let mut out = Vec::with_capacity(targets.len());
    for (alert, _) in targets {
        if let Some(a) = record_psa_change(deps.store.as_ref(), &req.caller.tenant, &alert.alert_key, &psa).await? {
            out.push(a);
        }
    }
    // Also what a failed earlier attempt left pending: a retried action finds the alert
    // unchanged and publishes it then.
    publish_pending(deps.store.as_ref(), deps.events.as_ref(), &out).await?;
    Ok(out)
}

async fn find_local(deps: &Deps, tenant: &TenantId, f: FindInput) -> Result<Value, ActionError> {
    let assets = match (&f.agent_id, &f.asset_id) {
        (Some(agent), _) => deps.store.get_assets(tenant, &[asset_id_for(tenant, agent)]).await?,
        (None, Some(id)) => deps.store.get_assets(tenant, std::slice::from_ref(id)).await?,
        (None, None) => deps.store.list_assets(tenant).await?,
    };
    let q = f.query.as_deref().map(|q| q.trim().to_lowercase());
    let mut hits: Vec<&Asset> = assets
        .iter()
        .filter(|a| f.agent_id.as_deref().is_none_or(|id| a.rmm_device_id == id))
        .filter(|a| f.asset_id.as_deref().is_none_or(|id| a.asset_id == id))
        .filter(|a| f.hostname.as_deref().is_none_or(|h| a.name.eq_ignore_ascii_case(h.trim())))
        .filter(|a| {
            q.as_deref().is_none_or(|q| {
                a.name.to_lowercase().contains(q) || a.rmm_device_id.to_lowercase() == q || a.asset_id == q
            })
        })
        .collect();
    hits.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.rmm_device_id.cmp(&b.rmm_device_id)));
    let total = hits.len();
    let orgs = Orgs::of(&deps.store.list_org_mappings(tenant).await?);
    let agents: Vec<Value> =
        hits.iter().take(usize::try_from(f.limit).unwrap_or(0)).map(|a| to_json(&view_of_asset(a, &orgs))).collect();
    Ok(
        json!({"agents": agents, "count": agents.len(), "total": total, "has_more": total > agents.len(), "source": "local"}),
    )
}

/// Live from Tactical. The beta list ignores the API key's role scoping
/// (docs/tactical-behaviour.md#role-scoping), so
/// rows are kept only when their site belongs to one of the tenant's organization mappings (built
/// from the role-scoped `GET /clients/`); the rest are counted in `excluded`.
async fn find_live(deps: &Deps, tenant: &TenantId, api: &dyn TacticalApi, f: FindInput) -> Result<Value, Failure> {
    let store_err = |e: PortError| Failure::Other(e.into());
    let orgs = Orgs::of(&deps.store.list_org_mappings(tenant).await.map_err(store_err)?);
    let agent_id = match (&f.agent_id, &f.asset_id) {
        (Some(a), _) => Some(a.clone()),
        (None, Some(asset)) => {
            let found = deps.store.get_assets(tenant, std::slice::from_ref(asset)).await.map_err(store_err)?;
            match found.into_iter().next() {
                Some(a) => Some(a.rmm_device_id),
                None => {
                    return Ok(
                        json!({"agents": [], "count": 0, "total": 0, "has_more": false, "excluded": 0, "source": "tacticalrmm"}),
                    );
                }
            }
        }
        (None, None) => None,
    };
    let q = f.query.as_deref().map(|q| q.trim().to_lowercase());
    if let Some(agent_id) = agent_id {
        // Never `?agent_id=` on beta (a 500 in Tactical, docs/tactical-behaviour.md#beta-api): the
        // classic detail route.
        let detail = match api.agent(&agent_id).await {
            Ok(d) => Some(d),
            Err(TacticalError::NotFound { .. }) => None,
            Err(e) => return Err(Failure::Tactical(e)),
        };
        let asset = deps
            .store
            .get_assets(tenant, &[asset_id_for(tenant, &agent_id)])
            .await
            .map_err(store_err)?
            .into_iter()
            .next();
        let mut agents = Vec::new();
        let mut excluded = 0;
        if let Some(d) = detail {
            let visible = asset.is_some() || orgs.site(d.site).is_some();
            let matches = f.hostname.as_deref().is_none_or(|h| d.hostname.eq_ignore_ascii_case(h.trim()))
                && q.as_deref().is_none_or(|q| d.hostname.to_lowercase().contains(q) || d.agent_id.to_lowercase() == q);
            if !visible {
                excluded = 1;
            } else if matches {
                agents.push(to_json(&view_of_detail(&d, asset.as_ref(), &orgs)));
            }
        }
        let n = agents.len();
        return Ok(
            json!({"agents": agents, "count": n, "total": n, "has_more": false, "excluded": excluded, "source": "tacticalrmm"}),
        );
    }
    let page = api
        .beta_agents_page(&BetaAgentQuery {
            hostname: f.hostname.as_deref().map(|h| h.trim().to_owned()),
            search: q.clone(),
            page: 1,
            page_size: u32::try_from(f.limit).unwrap_or(1),
            ..Default::default()
        })
        .await
        .map_err(Failure::Tactical)?;
    // The mappings may predate a key narrowed to some clients: the sites the credentials may
    // see now come from the role-scoped `/clients/`.
    let scoped: HashSet<i64> =
        api.clients().await.map_err(Failure::Tactical)?.iter().flat_map(|c| c.sites.iter().map(|s| s.id)).collect();
    let fetched = page.results.len();
    let (visible, hidden): (Vec<&BetaAgent>, Vec<&BetaAgent>) =
        page.results.iter().partition(|a| orgs.site(a.site).is_some() && a.site.is_some_and(|s| scoped.contains(&s)));
    // `search=` also matches each agent's services JSON (a service naming another host, a
    // path): `query` finds host names only.
    let visible: Vec<&BetaAgent> = visible
        .into_iter()
        .filter(|a| {
            q.as_deref().is_none_or(|q| a.hostname.to_lowercase().contains(q) || a.agent_id.to_lowercase() == q)
        })
        .collect();
    let ids: Vec<String> = visible.iter().map(|a| asset_id_for(tenant, &a.agent_id)).collect();
    let existing: HashSet<String> = if ids.is_empty() {
        HashSet::new()
    } else {
        // Existence only: the projection without vitals.
        deps.store.asset_states(tenant, &ids).await.map_err(store_err)?.into_iter().map(|a| a.asset_id).collect()
    };
    let agents: Vec<Value> = visible
        .iter()
        .zip(ids)
        .map(|(a, id)| to_json(&view_of_beta(a, existing.contains(&id).then_some(id), &orgs)))
        .collect();
    let n = agents.len();
    Ok(json!({
        "agents": agents,
        "count": n,
        "total": page.count,
        "has_more": page.count > fetched as u64,
        "excluded": hidden.len(),
        "source": "tacticalrmm",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENT: &str = "gdINOUXzJUGNddnBSRPsWGqLrrlIIrEJEkXGBvcL";

    fn err(action: Action, v: Value) -> ActionError {
        Input::parse(action, &v).unwrap_err()
    }

    #[test]
    fn names_with_and_without_the_original_prefix() {
        assert_eq!(Action::parse("tacticalrmm.agents.run_command"), Some(Action::RunCommand));
        assert_eq!(Action::parse("agents.reboot"), Some(Action::Reboot));
        assert_eq!(Action::parse("agents.shutdown"), None);
        assert!(Action::ALL.iter().filter(|a| a.side_effecting()).all(|a| a.permission() != perms::RMM_READ));
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "timeout": 0}), "timeout"),
            (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "timeout": 3601}), "timeout"),
            (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "timeout": 600}), "timeout"),
            (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "shell": "zsh"}), "shell"),
            (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "shell": "custom"}), "custom_shell"),
            (
                Action::RunCommand,
                json!({"agent_id": AGENT, "command": "x", "custom_shell": "/bin/zsh"}),
                "custom_shell",
            ),
            (Action::RunCommand, json!({"agent_id": AGENT, "command": "  "}), "command"),
            (Action::RunCommand, json!({"agent_id": "short", "command": "x"}), "agent_id"),
            (Action::RunCommand, json!({"agent_id": AGENT}), "command"),
            (Action::RunCommand, json!({"agent_id": AGENT, "command": "x", "timout": 5}), "timout"),
            (Action::RunScript, json!({"agent_id": AGENT, "script_id": "abc"}), "script_id"),
            (Action::RunScript, json!({"agent_id": AGENT, "script_id": 1, "env_vars": ["1X=y"]}), "env_vars[0]"),
            (Action::RunScript, json!({"agent_id": AGENT, "script_id": 1, "timeout": 3600}), "timeout"),
            (Action::RunScript, json!({"agent_id": AGENT, "script_id": 1, "args": "x"}), "args"),
            (Action::Reboot, json!({"agent_id": AGENT, "at": "2030-01-01 10:00"}), "at"),
            (Action::AgentsFind, json!({"limit": 201}), "limit"),
            (Action::ScriptsList, json!({"limit": 0}), "limit"),
            (Action::AgentsGet, json!([]), "input"),
        ];
        for (action, input, field) in cases {
            let e = err(action, input.clone());
            assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ValidationFailed, Some(field)), "{input}: {e:?}");
        }
    }

    #[test]
    fn accepted_inputs_get_the_original_defaults() {
        match Input::parse(Action::RunScript, &json!({"agent_id": AGENT, "script_id": "12"})).unwrap() {
            Input::RunScript { req, .. } => {
                assert_eq!((req.script_id, req.timeout, req.wait, req.run_as_user), (12, 90, true, false));
            }
            other => panic!("{other:?}"),
        }
        let long = Input::parse(
            Action::RunScript,
            &json!({"agent_id": AGENT, "script_id": 3, "timeout": 3600, "wait_for_output": false}),
        );
        assert!(long.is_ok(), "long scripts are fine when nobody waits");
        match Input::parse(Action::RunCommand, &json!({"agent_id": AGENT, "command": "hostname"})).unwrap() {
            Input::RunCommand { req, shell_given, .. } => {
                assert_eq!((req.shell.as_str(), req.timeout, shell_given), ("powershell", 30, false));
            }
            other => panic!("{other:?}"),
        }
        assert!(Input::parse(Action::Reboot, &json!({"agent_id": AGENT, "at": "2030-01-01T10:00"})).is_ok());
        assert!(Input::parse(Action::AgentsFind, &Value::Null).is_ok());
    }

    #[test]
    fn audit_summaries_keep_no_env_values() {
        let input = Input::parse(
            Action::RunScript,
            &json!({"agent_id": AGENT, "script_id": 1, "env_vars": ["API_TOKEN=s3cr3t-value"], "args": ["-Name", "x"]}),
        )
        .unwrap();
        let s = input.audit_summary().to_string();
        assert!(!s.contains("s3cr3t"), "{s}");
        assert!(s.contains("API_TOKEN"), "{s}");
        let script = Input::parse(
            Action::RunScript,
            &json!({"agent_id": AGENT, "script_id": 1, "args": ["-User", "bob", "-Password", "Hunter2"]}),
        )
        .unwrap();
        let s = script.audit_summary().to_string();
        assert!(!s.contains("Hunter2") && s.contains("bob"), "{s}");
        let cmd = Input::parse(
            Action::RunCommand,
            &json!({"agent_id": AGENT, "command": "net user bob Hunter2 --token=tok123"}),
        )
        .unwrap();
        let s = cmd.audit_summary().to_string();
        assert!(!s.contains("tok123"), "{s}");
        assert!(!s.contains(&hex::encode(Sha256::digest(b"net user bob Hunter2 --token=tok123"))), "{s}");
        let cmd = Input::parse(Action::RunCommand, &json!({"agent_id": AGENT, "command": "x".repeat(5000)})).unwrap();
        let v = cmd.audit_summary();
        assert_eq!(v["command"].as_str().unwrap().len(), 1000);
        assert_eq!(v["command_bytes"], 5000);
    }

    #[test]
    fn tactical_failures_keep_their_kind_and_vendor_status() {
        assert_eq!(tactical_error(TacticalError::AgentUnreachable, true).code, ErrorCode::AgentUnreachable);
        assert_eq!(tactical_error(TacticalError::BrokerDown, true).code, ErrorCode::RmmBrokerDown);
        let t = tactical_error(TacticalError::Timeout(std::time::Duration::from_secs(45)), true);
        assert_eq!(t.code, ErrorCode::AgentTimeout);
        assert_eq!(
            tactical_error(TacticalError::Timeout(std::time::Duration::from_secs(5)), false).code,
            ErrorCode::TacticalUnreachable
        );
        let r = tactical_error(TacticalError::Rejected { status: 400, message: "nope".into() }, true);
        assert_eq!((r.code, r.vendor_status), (ErrorCode::TacticalError, Some(400)));
        let nf = map_action_error(TacticalError::NotFound {
            path: "x".into(),
            detail: Some("No Script matches the given query.".into()),
        });
        assert_eq!(nf.field.as_deref(), Some("script_id"));
    }

    fn row(v: Value) -> HistoryRow {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn run_results_are_read_from_any_shape_tactical_stores() {
        let agent = row(json!({"id": 7, "type": "script_run", "script": 9,
            "script_results": {"id": 7, "stdout": "ok\n", "stderr": "bad\n", "retcode": 3, "execution_time": 0.25}}));
        let r = run_result(&agent).unwrap();
        assert_eq!(
            (r.exit_code, r.stdout.as_str(), r.stderr.as_str(), r.execution_time),
            (Some(3), "ok\n", "bad\n", Some(0.25))
        );
        // A server-side run stores its time as a "%.4f" string.
        let server = row(
            json!({"id": 8, "type": "script_run", "script_results": {"stdout": "", "stderr": "", "retcode": "0", "execution_time": "1.5000"}}),
        );
        assert_eq!(run_result(&server).map(|r| (r.exit_code, r.execution_time)), Some((Some(0), Some(1.5))));
        assert_eq!(run_result(&row(json!({"id": 9, "type": "script_run", "script_results": null}))), None, "pending");
        assert_eq!(run_result(&row(json!({"id": 9, "type": "script_run", "script_results": {}}))), None);
        let cmd = row(json!({"id": 10, "type": "cmd_run", "command": "hostname", "results": "WIN-1\r\n"}));
        assert_eq!(run_result(&cmd).map(|r| (r.exit_code, r.stdout)), Some((None, "WIN-1\r\n".to_owned())));
        let big = row(
            json!({"id": 11, "type": "script_run", "script_results": {"stdout": "x".repeat(70_000), "retcode": 0}}),
        );
        let r = run_result(&big).unwrap();
        assert!(r.truncated && r.stdout.len() == MAX_ACTION_OUTPUT && r.stdout_bytes == 70_000);
        let odd = row(
            json!({"id": 12, "type": "task_run", "script_results": {"stdout": 5, "retcode": [], "execution_time": -1}}),
        );
        assert_eq!(
            run_result(&odd).map(|r| (r.exit_code, r.stdout, r.execution_time)),
            Some((None, String::new(), None))
        );
    }

    #[test]
    fn alert_inputs_name_their_field() {
        let cases = [
            (Action::AlertsSnooze, json!({"alert_key": "id#1"}), "snooze_days"),
            (Action::AlertsSnooze, json!({"alert_key": "id#1", "snooze_days": 366}), "snooze_days"),
            (Action::AlertsResolve, json!({"alert_key": "id#1", "snooze_days": 1}), "snooze_days"),
            (Action::AlertsResolve, json!({"alert_key": "id#1", "alert_keys": ["id#2"]}), "alert_keys"),
            (Action::AlertsUnsnooze, json!({"alert_keys": ["id#1", ""]}), "alert_keys[1]"),
            (Action::AlertsUnsnooze, json!({"alert_keys": vec!["k"; 101]}), "alert_keys"),
            (Action::AlertsResolve, json!({"alert_id": 5}), "alert_id"),
            (Action::ScriptResult, json!({"agent_id": AGENT, "history_id": "x"}), "history_id"),
            (Action::History, json!({"agent_id": AGENT, "limit": 0}), "limit"),
            (Action::History, json!({"agent_id": AGENT, "before_id": -1}), "before_id"),
        ];
        for (action, input, field) in cases {
            let e = err(action, input.clone());
            assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ValidationFailed, Some(field)), "{input}: {e:?}");
        }
        match Input::parse(Action::AlertsSnooze, &json!({"alert_keys": ["a", "b", "a"], "snooze_days": 2})).unwrap() {
            Input::Alerts { keys, change, .. } => {
                assert_eq!((keys, change), (vec!["a".to_owned(), "b".to_owned()], AlertChange::Snooze { days: 2 }));
            }
            other => panic!("{other:?}"),
        }
    }

    /// An audit store whose writes can be made to fail.
    #[derive(Default)]
    struct FlakyAudit {
        fail_put: bool,
        fail_finish: bool,
        puts: std::sync::Mutex<Vec<AuditRecord>>,
        finishes: std::sync::atomic::AtomicU32,
    }

    #[async_trait::async_trait]
    impl AuditStore for FlakyAudit {
        async fn put_audit(&self, record: &AuditRecord) -> Result<(), PortError> {
            if self.fail_put {
                return Err(PortError::Throttled);
            }
            self.puts.lock().unwrap().push(record.clone());
            Ok(())
        }
        async fn finish_audit(&self, _: &TenantId, _: &str, _: &AuditFinish) -> Result<(), PortError> {
            self.finishes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.fail_finish { Err(PortError::Other("down".into())) } else { Ok(()) }
        }
        async fn get_audit(&self, _: &TenantId, _: &str) -> Result<Option<AuditRecord>, PortError> {
            Ok(None)
        }
        async fn list_audit(
            &self,
            _: &TenantId,
            _: &super::super::audit::AuditQuery,
        ) -> Result<super::super::audit::AuditPage, PortError> {
            Ok(super::super::audit::AuditPage { records: vec![], next_before: None })
        }
    }

    fn caller() -> Caller {
        Caller {
            tenant: TenantId::parse("t1").unwrap(),
            user_id: "u1".into(),
            permissions: vec![],
            entitlements: vec![crate::auth::entitlements::REMOTE_ACTIONS.into()],
        }
    }

    fn reboot_request(c: &Caller) -> ActionRequest<'_> {
        ActionRequest { caller: c, via: Via::Workflow, correlation_id: None, action: "agents.reboot", input: json!({}) }
    }

    #[tokio::test]
    async fn no_audit_record_no_call() {
        let store = FlakyAudit { fail_put: true, ..Default::default() };
        let c = caller();
        let req = reboot_request(&c);
        let mut audit = Audit::new(&store, &req, Action::Reboot, Some(AGENT.into()), json!({}));
        let ran = std::sync::atomic::AtomicBool::new(false);
        let r = audit
            .around(async {
                ran.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok((json!({}), json!({})))
            })
            .await;
        assert_eq!(r.unwrap_err().code, ErrorCode::Internal);
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "the action never ran");
        assert_eq!(store.finishes.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_lost_outcome_is_retried_and_the_result_still_returned() {
        let store = FlakyAudit { fail_finish: true, ..Default::default() };
        let c = caller();
        let req = reboot_request(&c);
        let mut audit = Audit::new(&store, &req, Action::Reboot, Some(AGENT.into()), json!({}));
        let r = audit.around(async { Ok((json!({"status": "reboot_sent"}), json!({}))) }).await;
        assert_eq!(r.unwrap()["status"], "reboot_sent", "the reboot happened: say so");
        assert_eq!(store.finishes.load(std::sync::atomic::Ordering::SeqCst), FINISH_ATTEMPTS);
        let puts = store.puts.lock().unwrap();
        assert_eq!((puts.len(), puts[0].outcome, puts[0].tactical_called), (1, AuditOutcome::Pending, true));
    }
}
