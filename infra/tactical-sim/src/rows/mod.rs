//! JSON representations (DRF serializers), in the field order the real server uses.

use std::sync::Arc;

use serde::Serialize;

use crate::model::*;
use crate::state::Data;
use crate::util::{Iso, iso_opt};

mod agents;
mod beta;
mod orgs;

pub use agents::*;
pub use beta::*;
pub use orgs::*;

#[derive(Serialize)]
pub struct AlertRow<'a> {
    id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<&'a str>,
    alert_time: Iso,
    alert_type: &'static str,
    message: &'a str,
    snoozed: bool,
    snooze_until: Option<Iso>,
    resolved: bool,
    resolved_on: Option<Iso>,
    severity: &'static str,
    email_sent: Option<Iso>,
    resolved_email_sent: Option<Iso>,
    sms_sent: Option<Iso>,
    resolved_sms_sent: Option<Iso>,
    hidden: bool,
    action_run: Option<Iso>,
    action_stdout: Option<&'a str>,
    action_stderr: Option<&'a str>,
    action_retcode: Option<i64>,
    action_execution_time: Option<&'a str>,
    resolved_action_run: Option<Iso>,
    resolved_action_stdout: Option<&'a str>,
    resolved_action_stderr: Option<&'a str>,
    resolved_action_retcode: Option<i64>,
    resolved_action_execution_time: Option<&'a str>,
    agent: Option<i64>,
    assigned_check: Option<i64>,
    assigned_task: Option<i64>,
}

pub fn alert_row<'a>(d: &'a Data, al: &'a Alert) -> AlertRow<'a> {
    let agent = al.agent_pk.and_then(|pk| d.agent_by_pk(pk));
    let sc = agent.map(|a| d.site_client(a));
    AlertRow {
        id: al.id,
        hostname: agent.map(|a| a.hostname.as_str()),
        agent_id: agent.map(|a| a.agent_id.as_str()),
        client: sc.map(|(_, c)| c.name.as_str()),
        site: sc.map(|(s, _)| s.name.as_str()),
        alert_time: Iso(al.alert_time),
        alert_type: al.alert_type.as_str(),
        message: &al.message,
        snoozed: al.snoozed,
        snooze_until: iso_opt(al.snooze_until),
        resolved: al.resolved,
        resolved_on: iso_opt(al.resolved_on),
        severity: al.severity.as_str(),
        email_sent: iso_opt(al.email_sent),
        resolved_email_sent: None,
        sms_sent: None,
        resolved_sms_sent: None,
        hidden: al.hidden,
        action_run: iso_opt(al.action_run),
        action_stdout: al.action_stdout.as_deref(),
        action_stderr: al.action_stderr.as_deref(),
        action_retcode: al.action_retcode,
        action_execution_time: al.action_execution_time.as_deref(),
        resolved_action_run: iso_opt(al.resolved_action_run),
        resolved_action_stdout: al.resolved_action_stdout.as_deref(),
        resolved_action_stderr: al.resolved_action_stderr.as_deref(),
        resolved_action_retcode: al.resolved_action_retcode,
        resolved_action_execution_time: al.resolved_action_execution_time.as_deref(),
        agent: agent.map(|a| a.pk),
        assigned_check: al.assigned_check,
        assigned_task: al.assigned_task,
    }
}

#[derive(Serialize)]
pub struct SoftwareRow<'a> {
    id: i64,
    #[serde(serialize_with = "ser_items")]
    software: &'a [Arc<SoftwareItem>],
    agent: i64,
}

fn ser_items<S: serde::Serializer>(v: &&[Arc<SoftwareItem>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|a| &**a))
}

pub fn software_row(a: &Agent) -> Option<SoftwareRow<'_>> {
    a.software.as_ref().map(|s| SoftwareRow { id: a.software_row_id, software: s, agent: a.pk })
}

#[derive(Serialize)]
pub struct ScriptRow<'a> {
    id: i64,
    name: &'a str,
    description: &'a str,
    script_type: &'a str,
    shell: &'a str,
    args: &'a [&'static str],
    category: Option<&'a str>,
    favorite: bool,
    default_timeout: i64,
    syntax: Option<&'a str>,
    filename: Option<&'a str>,
    hidden: bool,
    supported_platforms: &'a [&'static str],
    run_as_user: bool,
    env_vars: &'a [&'static str],
}

pub fn script_row(s: &Script) -> ScriptRow<'_> {
    ScriptRow {
        id: s.id,
        name: s.name,
        description: s.description,
        script_type: s.script_type,
        shell: s.shell,
        args: s.args,
        category: s.category,
        favorite: s.favorite,
        default_timeout: s.default_timeout,
        syntax: s.syntax,
        filename: s.filename,
        hidden: s.hidden,
        supported_platforms: s.supported_platforms,
        run_as_user: s.run_as_user,
        env_vars: s.env_vars,
    }
}
