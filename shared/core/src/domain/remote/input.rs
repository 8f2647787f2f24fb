//! Inputs of the actions and their validation: every rule is checked before anything is read or
//! sent, and a refusal names the field to fix.

use super::action::Action;
use super::error::{ActionError, validation};
use super::ids::{AgentId, check_agent_id};
use crate::tactical::types::{AlertChange, RunCommand, RunScript};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashSet;

/// Longest agent-side timeout we can wait for: Tactical answers after timeout + 2–3 s, its
/// nginx/uWSGI end requests at 300 s, and the HTTP wait is timeout + 15 s (capped at 300 s).
pub const MAX_WAITED_TIMEOUT_SECS: i64 = 285;
/// Longest command text: far below NATS' 1 MB message and the function URL's 256 KB body.
pub const MAX_COMMAND_BYTES: usize = 128 * 1024;
const MAX_TIMEOUT_SECS: i64 = 3600;

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
    Get {
        agent_id: AgentId,
    },
    Scripts(ScriptsInput),
    RunScript {
        agent_id: AgentId,
        req: RunScript,
    },
    RunCommand {
        agent_id: AgentId,
        req: RunCommand,
        shell_given: bool,
    },
    Reboot {
        agent_id: AgentId,
        at: Option<String>,
    },
    ScriptResult {
        agent_id: AgentId,
        history_id: i64,
    },
    History {
        agent_id: AgentId,
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
        Value::Object(_) => serde_json::to_vec(input).map_err(ActionError::unexpected)?,
        _ => return Err(validation(whole, format!("the {whole} must be a JSON object"))),
    };
    crate::json::parse_json::<T>(&bytes).map_err(|e| {
        // Name an unknown field itself (a typo must not silently do nothing).
        let unknown = e.message.strip_prefix("unknown field `").and_then(|r| r.split('`').next());
        let field = match unknown.or(e.field.as_deref()) {
            Some("body") | None => whole,
            Some(f) => f,
        };
        validation(field, e.message.clone())
    })
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
                Ok(Input::Get { agent_id: AgentId::parse("agent_id", g.agent_id)? })
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
                let agent_id = AgentId::parse("agent_id", r.agent_id)?;
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
                let timeout = check_timeout(r.timeout, r.wait_for_output).map_err(|e| match e {
                    ActionError::Invalid { field, message, vendor_status } if r.wait_for_output => {
                        let message = format!("{message}; use wait_for_output: false for longer scripts");
                        ActionError::Invalid { field, message, vendor_status }
                    }
                    other => other,
                })?;
                Ok(Input::RunScript {
                    agent_id,
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
                let agent_id = AgentId::parse("agent_id", c.agent_id)?;
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
                    agent_id,
                    req: RunCommand { shell, cmd: c.command, timeout, run_as_user: c.run_as_user, custom_shell },
                    shell_given,
                })
            }
            Action::Reboot => {
                let r: RebootInput = from_value(raw)?;
                let agent_id = AgentId::parse("agent_id", r.agent_id)?;
                if let Some(at) = &r.at {
                    check_reboot_time(at)?;
                }
                Ok(Input::Reboot { agent_id, at: r.at })
            }
            Action::ScriptResult => {
                let r: ScriptResultInput = from_value(raw)?;
                let agent_id = AgentId::parse("agent_id", r.agent_id)?;
                let history_id = positive_id("history_id", &r.history_id, "the history_id of agents.run_script")?;
                Ok(Input::ScriptResult { agent_id, history_id })
            }
            Action::History => {
                let h: HistoryInput = from_value(raw)?;
                let agent_id = AgentId::parse("agent_id", h.agent_id)?;
                check_range("limit", h.limit, 1, 100)?;
                let before_id = match &h.before_id {
                    Some(b) => Some(positive_id("before_id", b, "a history id")?),
                    None => None,
                };
                Ok(Input::History { agent_id, limit: usize::try_from(h.limit).unwrap_or(1), before_id })
            }
            Action::AlertsResolve | Action::AlertsSnooze | Action::AlertsUnsnooze => parse_alerts(action, raw),
        }
    }

    pub(crate) fn agent_id(&self) -> Option<&AgentId> {
        match self {
            Input::RunScript { agent_id, .. }
            | Input::RunCommand { agent_id, .. }
            | Input::Reboot { agent_id, .. }
            | Input::Get { agent_id }
            | Input::ScriptResult { agent_id, .. }
            | Input::History { agent_id, .. } => Some(agent_id),
            Input::Find(_) | Input::Scripts(_) | Input::Alerts { .. } => None,
        }
    }
}

pub(crate) fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// The agent id of a refused input, only if it looks like one (nothing unvalidated is stored).
pub(crate) fn agent_id_hint(input: &Value) -> Option<String> {
    let id = input.get("agent_id")?.as_str()?;
    check_agent_id("agent_id", id).ok().map(|_| id.to_owned())
}
