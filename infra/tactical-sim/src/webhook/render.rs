//! Template rendering: a tiny model of Python attribute lookup and `str()`, `{{...}}`
//! substitution, and the body re-serialised like Python `json.dumps`.

use crate::model::{Agent, Alert, AlertType, Client, Site};
use crate::pyjson::{self};
use crate::state::Data;
use crate::util;
use time::OffsetDateTime;

// Template variables: a tiny model of Python attribute lookup + str()

pub(super) enum PyObj<'a> {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Dt(OffsetDateTime),
    List(Vec<String>),
    Callable,
    Alert(&'a Alert),
    Agent(&'a Agent),
    Client(&'a Client),
    Site(&'a Site),
    Check(&'a Alert),
    Result(&'a Alert),
}

impl PyObj<'_> {
    fn truthy(&self) -> bool {
        match self {
            PyObj::None => false,
            PyObj::Bool(b) => *b,
            PyObj::Int(i) => *i != 0,
            PyObj::Float(f) => *f != 0.0,
            PyObj::Str(s) => !s.is_empty(),
            PyObj::List(l) => !l.is_empty(),
            _ => true,
        }
    }

    pub(super) fn py_str(&self) -> String {
        match self {
            PyObj::None | PyObj::Callable => "None".into(),
            PyObj::Bool(true) => "True".into(),
            PyObj::Bool(false) => "False".into(),
            PyObj::Int(i) => i.to_string(),
            PyObj::Float(f) => pyjson::float_repr(*f),
            PyObj::Str(s) => s.clone(),
            PyObj::Dt(d) => util::py_datetime(*d),
            PyObj::List(l) => format!("[{}]", l.iter().map(|s| py_repr(s)).collect::<Vec<_>>().join(", ")),
            PyObj::Alert(a) => format!("{} - {}", a.alert_type.as_str(), a.message),
            PyObj::Agent(a) => a.hostname.clone(),
            PyObj::Client(c) => c.name.clone(),
            PyObj::Site(s) => s.name.clone(),
            PyObj::Check(a) => a.check_desc.clone().unwrap_or_default(),
            PyObj::Result(a) => format!("CheckResult object ({})", a.assigned_check.or(a.assigned_task).unwrap_or(0)),
        }
    }
}

pub(super) fn py_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::new();
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

pub(super) fn opt_dt<'a>(d: Option<OffsetDateTime>) -> PyObj<'a> {
    d.map(PyObj::Dt).unwrap_or(PyObj::None)
}

pub(super) fn opt_str<'a>(s: &Option<String>) -> PyObj<'a> {
    s.clone().map(PyObj::Str).unwrap_or(PyObj::None)
}

pub(super) struct Resolver<'a> {
    pub(super) d: &'a Data,
    pub(super) alert: &'a Alert,
    pub(super) now: OffsetDateTime,
}

impl<'a> Resolver<'a> {
    fn agent(&self) -> Option<&'a Agent> {
        self.alert.agent_pk.and_then(|pk| self.d.agent_by_pk(pk))
    }

    /// `getattr(obj, name)`; `None` when `hasattr` is false.
    fn getattr(&self, obj: &PyObj<'a>, name: &str) -> Option<PyObj<'a>> {
        let d = self.d;
        Some(match obj {
            PyObj::Alert(al) => match name {
                "id" | "pk" => PyObj::Int(al.id),
                "alert_type" => PyObj::Str(al.alert_type.as_str().into()),
                "message" => PyObj::Str(al.message.clone()),
                "severity" => PyObj::Str(al.severity.as_str().into()),
                "alert_time" => PyObj::Dt(al.alert_time),
                "resolved" => PyObj::Bool(al.resolved),
                "resolved_on" => opt_dt(al.resolved_on),
                "snoozed" => PyObj::Bool(al.snoozed),
                "snooze_until" => opt_dt(al.snooze_until),
                "hidden" => PyObj::Bool(al.hidden),
                "email_sent" => opt_dt(al.email_sent),
                "resolved_email_sent" | "sms_sent" | "resolved_sms_sent" => PyObj::None,
                "action_run" => opt_dt(al.action_run),
                "action_stdout" => opt_str(&al.action_stdout),
                "action_stderr" => opt_str(&al.action_stderr),
                "action_retcode" => al.action_retcode.map(PyObj::Int).unwrap_or(PyObj::None),
                "action_execution_time" => opt_str(&al.action_execution_time),
                "resolved_action_run" => opt_dt(al.resolved_action_run),
                "resolved_action_stdout" => opt_str(&al.resolved_action_stdout),
                "resolved_action_stderr" => opt_str(&al.resolved_action_stderr),
                "resolved_action_retcode" => al.resolved_action_retcode.map(PyObj::Int).unwrap_or(PyObj::None),
                "resolved_action_execution_time" => opt_str(&al.resolved_action_execution_time),
                "agent" => self.agent().map(PyObj::Agent).unwrap_or(PyObj::None),
                // the FK attname: the agent's integer pk
                "agent_id" => al.agent_pk.map(PyObj::Int).unwrap_or(PyObj::None),
                "client" => self.agent().map(|a| PyObj::Client(d.site_client(a).1)).unwrap_or(PyObj::None),
                "site" => self.agent().map(|a| PyObj::Site(d.site_client(a).0)).unwrap_or(PyObj::None),
                "assigned_check" => {
                    if al.alert_type == AlertType::Check {
                        PyObj::Check(al)
                    } else {
                        PyObj::None
                    }
                }
                "assigned_task" => {
                    if al.alert_type == AlertType::Task {
                        PyObj::Check(al)
                    } else {
                        PyObj::None
                    }
                }
                "get_result" => {
                    if matches!(al.alert_type, AlertType::Check | AlertType::Task) {
                        PyObj::Result(al)
                    } else {
                        PyObj::None
                    }
                }
                "resolve"
                | "save"
                | "delete"
                | "handle_alert_failure"
                | "handle_alert_resolve"
                | "parse_script_args" => PyObj::Callable,
                _ => return None,
            },
            PyObj::Agent(a) => match name {
                "id" | "pk" => PyObj::Int(a.pk),
                "agent_id" => PyObj::Str(a.agent_id.clone()),
                "hostname" => PyObj::Str(a.hostname.clone()),
                "version" => PyObj::Str(a.version.into()),
                "operating_system" => PyObj::Str(a.operating_system.clone()),
                "plat" => PyObj::Str(a.plat.as_str().into()),
                "goarch" => PyObj::Str(a.goarch.into()),
                "public_ip" => PyObj::Str(a.public_ip.clone()),
                "description" => PyObj::Str(a.description.clone()),
                "logged_in_username" => PyObj::Str(a.logged_in_username.clone()),
                "last_logged_in_user" => PyObj::Str(a.last_logged_in_user.clone()),
                "monitoring_type" => PyObj::Str(a.monitoring_type.as_str().into()),
                "status" => PyObj::Str(a.status(self.now).as_str().into()),
                "last_seen" => opt_dt(a.last_seen),
                "boot_time" => PyObj::Float(a.boot_time),
                "total_ram" => PyObj::Int(a.total_ram),
                "offline_time" => PyObj::Int(a.offline_time),
                "overdue_time" => PyObj::Int(a.overdue_time),
                "check_interval" => PyObj::Int(a.check_interval),
                "needs_reboot" => PyObj::Bool(a.needs_reboot),
                "maintenance_mode" => PyObj::Bool(a.maintenance_mode),
                "overdue_email_alert" => PyObj::Bool(a.overdue_email_alert),
                "overdue_text_alert" => PyObj::Bool(a.overdue_text_alert),
                "overdue_dashboard_alert" => PyObj::Bool(a.overdue_dashboard_alert),
                "choco_installed" | "block_policy_inheritance" => PyObj::Bool(false),
                "local_ips" => PyObj::Str(a.local_ips_str()),
                "cpu_model" => PyObj::List(a.cpu_model()),
                "graphics" => PyObj::Str(a.graphics()),
                "make_model" => PyObj::Str(a.make_model()),
                "physical_disks" => PyObj::List(a.physical_disks()),
                "serial_number" => PyObj::Str(a.serial_number()),
                "timezone" => PyObj::Str(a.timezone().into()),
                "time_zone" => opt_str(&a.time_zone),
                "mesh_node_id" | "created_by" | "modified_by" | "policy" | "services" => PyObj::None,
                "created_time" => PyObj::Dt(a.created_time),
                "modified_time" => PyObj::Dt(a.modified_time),
                "site" => PyObj::Site(d.site_client(a).0),
                "client" => PyObj::Client(d.site_client(a).1),
                _ => return None,
            },
            PyObj::Client(c) => match name {
                "id" | "pk" => PyObj::Int(c.id),
                "name" => PyObj::Str(c.name.clone()),
                "created_time" => PyObj::Dt(c.created_time),
                "modified_time" => PyObj::Dt(c.modified_time),
                "block_policy_inheritance" => PyObj::Bool(false),
                _ => return None,
            },
            PyObj::Site(s) => match name {
                "id" | "pk" => PyObj::Int(s.id),
                "name" => PyObj::Str(s.name.clone()),
                "client" => d.clients.get(&s.client_id).map(PyObj::Client).unwrap_or(PyObj::None),
                "client_id" => PyObj::Int(s.client_id),
                "created_time" => PyObj::Dt(s.created_time),
                "modified_time" => PyObj::Dt(s.modified_time),
                "block_policy_inheritance" => PyObj::Bool(false),
                _ => return None,
            },
            PyObj::Check(al) => match name {
                "readable_desc" | "name" => opt_str(&al.check_desc),
                "id" | "pk" => al.assigned_check.or(al.assigned_task).map(PyObj::Int).unwrap_or(PyObj::None),
                _ => return None,
            },
            PyObj::Result(al) => match name {
                "status" => PyObj::Str("failing".into()),
                "retcode" => PyObj::Int(1),
                "stdout" => PyObj::Str(String::new()),
                "stderr" => PyObj::Str(String::new()),
                "more_info" => PyObj::Str(al.message.clone()),
                "execution_time" => PyObj::Str("0.1".into()),
                _ => return None,
            },
            _ => return None,
        })
    }

    /// `tacticalrmm/utils.py: get_db_value` with the Alert as instance.
    pub(super) fn get_db_value(&self, expr: &str) -> PyObj<'a> {
        let mut props: Vec<&str> = expr.trim().split('.').collect();
        if props.first() == Some(&"global") && props.len() == 2 {
            return self
                .d
                .globals
                .iter()
                .find(|(k, _)| k == props[1])
                .map(|(_, v)| PyObj::Str(v.clone()))
                .unwrap_or(PyObj::None);
        }
        if props.first() == Some(&"alert") {
            props.remove(0);
        }
        let mut cur = PyObj::Alert(self.alert);
        for prop in props {
            if let Some(v) = self.getattr(&cur, prop) {
                if matches!(v, PyObj::Callable) {
                    return PyObj::None;
                }
                cur = v;
            }
            if !cur.truthy() {
                return PyObj::None;
            }
        }
        cur
    }
}

pub(super) fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Match `\{\{\s*(client|site|agent|global|alert)(\.[\w\-\s\.]+)+\s*\}\}` at byte `i`;
/// returns (end, expression inside the braces).
pub(super) fn match_var(s: &str, i: usize) -> Option<(usize, &str)> {
    let rest = s.get(i..)?;
    if !rest.starts_with("{{") {
        return None;
    }
    let mut j = i + 2;
    while let Some(c) = s[j..].chars().next() {
        if c.is_whitespace() {
            j += c.len_utf8();
        } else {
            break;
        }
    }
    let model = ["client", "site", "agent", "global", "alert"].into_iter().find(|m| s[j..].starts_with(m))?;
    j += model.len();
    if !s[j..].starts_with('.') {
        return None;
    }
    let class_start = j + 1;
    let mut k = class_start;
    while let Some(c) = s[k..].chars().next() {
        if is_word(c) || c == '-' || c == '.' || c.is_whitespace() {
            k += c.len_utf8();
        } else {
            break;
        }
    }
    if k == class_start || !s[k..].starts_with("}}") {
        return None;
    }
    Some((k + 2, &s[i + 2..k]))
}

pub(super) fn render(template: &str, mut f: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut last = 0;
    let mut i = 0;
    while let Some(off) = template[i..].find("{{") {
        let at = i + off;
        if let Some((end, expr)) = match_var(template, at) {
            out.push_str(&template[last..at]);
            out.push_str(&f(expr));
            last = end;
            i = end;
        } else {
            i = at + 1;
        }
    }
    out.push_str(&template[last..]);
    out
}

/// Blank control characters (except tab/newline/CR) and double lone backslashes, as
/// Tactical does before `json.loads(strict=False)`.
pub(super) fn sanitize_for_parse(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (idx, &c) in chars.iter().enumerate() {
        if c == '\\' {
            let prev = idx > 0 && chars[idx - 1] == '\\';
            let next = chars.get(idx + 1) == Some(&'\\');
            if !prev && !next {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        } else if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') {
            // blanked
        } else {
            out.push(c);
        }
    }
    out
}

/// The body Tactical sends for a rendered `rest_body`.
pub(crate) fn body_bytes(rendered: &str) -> String {
    match pyjson::loads(&sanitize_for_parse(rendered)) {
        Ok(v) => pyjson::dumps(&v),
        Err(_) => pyjson::dumps_str(rendered),
    }
}
