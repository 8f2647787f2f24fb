//! `agents.reboot`: now, or scheduled where Tactical supports it (Windows agents).

use super::acting::AgentRef;
use super::client::Failure;
use super::error::validation;
use crate::tactical::{TacticalApi, TacticalError};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RebootStatus {
    RebootSent,
    Scheduled,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RebootDone {
    #[serde(flatten)]
    pub agent: AgentRef,
    pub status: RebootStatus,
    pub scheduled: bool,
    #[serde(flatten)]
    pub schedule: Option<RebootSchedule>,
}

/// A scheduled reboot as Tactical took it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RebootSchedule {
    /// As asked: `YYYY-MM-DDTHH:MM` in the agent's time zone.
    pub at: String,
    /// Tactical's rendering, e.g. "January 01, 2030 at 10:00 AM".
    pub time: String,
    pub task_name: String,
}

/// The reboot, and what the audit keeps of it.
pub(crate) async fn run(
    api: &dyn TacticalApi,
    agent: AgentRef,
    at: Option<String>,
) -> Result<(RebootDone, Value), Failure> {
    let Some(at) = at else {
        api.reboot(agent.agent_id.as_str()).await.map_err(Failure::Tactical)?;
        let done = RebootDone { agent, status: RebootStatus::RebootSent, scheduled: false, schedule: None };
        return Ok((done, json!({"status": "reboot_sent"})));
    };
    let sr = match api.reboot_at(agent.agent_id.as_str(), &at).await {
        Ok(sr) => sr,
        // "Date cannot be set in the past", "Invalid date", "Not currently implemented for linux".
        Err(TacticalError::Rejected { status: 400, message }) => {
            return Err(Failure::Other(
                validation("at", format!("Tactical refused the reboot time: {message}")).with_vendor(400),
            ));
        }
        Err(e) => return Err(Failure::Tactical(e)),
    };
    let summary = json!({"status": "scheduled", "task_name": sr.task_name});
    let schedule = RebootSchedule { at, time: sr.time, task_name: sr.task_name };
    Ok((RebootDone { agent, status: RebootStatus::Scheduled, scheduled: true, schedule: Some(schedule) }, summary))
}
