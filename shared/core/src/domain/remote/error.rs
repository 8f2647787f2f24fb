//! The one error of the remote actions use case. Each variant says what went wrong in the
//! use case's terms; the edge turns it into the caller's `{code, message, field?, vendor_status?}`
//! and an HTTP status. Messages never carry credentials.

use crate::error::{ApiError, ErrorCode};
use crate::ports::PortError;
use crate::tactical::TacticalError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The deployment or the tenant has no Enterprise Edition.
    #[error("{0}")]
    EnterpriseOnly(String),
    /// The caller lacks the action's permission.
    #[error("this action needs the {0} permission")]
    Forbidden(&'static str),
    /// The input is wrong; `field` names the part to fix. `vendor_status` when Tactical refused it.
    #[error("{message}")]
    Invalid { field: String, message: String, vendor_status: Option<u16> },
    /// What the input names does not exist for this tenant (or no longer in Tactical).
    #[error("{message}")]
    NotFound { field: String, message: String, vendor_status: Option<u16> },
    /// The tenant's integration or credentials are not usable (not configured, inactive, no Knox
    /// token), as the connection service reports it.
    #[error("{}", .0.message)]
    Connection(ApiError),
    /// Tactical failed or refused.
    #[error(transparent)]
    Tactical(TacticalError),
    /// Tactical did not answer an action in time: its outcome is unknown, not "Tactical is down".
    #[error("Tactical did not answer within {} s; the action may still be running on the agent", .0.as_secs())]
    AgentTimeout(Duration),
    /// No audit record, no call: nothing was sent.
    #[error("the audit log could not be written, so nothing was sent to the agent; retry in a moment")]
    AuditUnavailable(#[source] PortError),
    #[error("the data store is busy; retry in a moment")]
    StoreBusy,
    /// A failure the caller cannot act on (a store or serialisation fault); the source is kept
    /// for the log, the caller only learns that it happened.
    #[error("internal error; see the function logs")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ActionError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ActionError::Invalid { field: field.into(), message: message.into(), vendor_status: None }
    }

    pub fn not_found(field: impl Into<String>, message: impl Into<String>) -> Self {
        ActionError::NotFound { field: field.into(), message: message.into(), vendor_status: None }
    }

    pub fn unexpected(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ActionError::Unexpected(Box::new(e))
    }

    /// The stable code a workflow branches on (also kept on the audit record).
    pub fn code(&self) -> ErrorCode {
        match self {
            ActionError::EnterpriseOnly(_) => ErrorCode::EnterpriseOnly,
            ActionError::Forbidden(_) => ErrorCode::Forbidden,
            ActionError::Invalid { .. } => ErrorCode::ValidationFailed,
            ActionError::NotFound { .. } => ErrorCode::NotFound,
            ActionError::Connection(e) => e.code,
            ActionError::Tactical(e) => e.code(),
            ActionError::AgentTimeout(_) => ErrorCode::AgentTimeout,
            ActionError::AuditUnavailable(_) | ActionError::StoreBusy | ActionError::Unexpected(_) => {
                ErrorCode::Internal
            }
        }
    }

    /// The input field the error is about.
    pub fn field(&self) -> Option<&str> {
        match self {
            ActionError::Invalid { field, .. } | ActionError::NotFound { field, .. } => Some(field),
            ActionError::Connection(e) => e.field.as_deref(),
            _ => None,
        }
    }

    /// Tactical's HTTP status, when Tactical answered.
    pub fn vendor_status(&self) -> Option<u16> {
        match self {
            ActionError::Invalid { vendor_status, .. } | ActionError::NotFound { vendor_status, .. } => *vendor_status,
            ActionError::Tactical(e) => match e {
                TacticalError::Rejected { status, .. } | TacticalError::Server { status } => Some(*status),
                TacticalError::NotFound { .. } => Some(404),
                TacticalError::Forbidden { .. } => Some(403),
                TacticalError::Unauthorized { .. } => Some(401),
                TacticalError::RateLimited { .. } => Some(429),
                _ => None,
            },
            _ => None,
        }
    }

    /// The code as the caller reads it (`agent_timeout`).
    pub fn code_str(&self) -> String {
        let code = self.code();
        match serde_json::to_value(code) {
            Ok(serde_json::Value::String(s)) => s,
            // A unit variant always serialises to a string; say so loudly if that ever changes.
            other => {
                tracing::error!(?code, ?other, "error code did not serialise to a string");
                format!("{code:?}")
            }
        }
    }

    pub(crate) fn with_vendor(self, status: u16) -> Self {
        match self {
            ActionError::Invalid { field, message, .. } => {
                ActionError::Invalid { field, message, vendor_status: Some(status) }
            }
            ActionError::NotFound { field, message, .. } => {
                ActionError::NotFound { field, message, vendor_status: Some(status) }
            }
            other => other,
        }
    }
}

impl From<PortError> for ActionError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Throttled => ActionError::StoreBusy,
            other => ActionError::unexpected(other),
        }
    }
}

/// Tactical's failure as the workflow sees it. `acting`: a client-side timeout on an action
/// means the outcome is unknown (the agent may still be running it), not "Tactical is down".
pub(crate) fn tactical_error(e: TacticalError, acting: bool) -> ActionError {
    match e {
        TacticalError::Timeout(d) if acting => ActionError::AgentTimeout(d),
        other => ActionError::Tactical(other),
    }
}

/// Tactical's refusals of an agent action, named by the input they concern.
pub(crate) fn map_action_error(e: TacticalError) -> ActionError {
    match &e {
        TacticalError::NotFound { detail: Some(d), .. } if d.contains("Script") => {
            ActionError::not_found("script_id", "Tactical has no script with this id").with_vendor(404)
        }
        TacticalError::NotFound { .. } => {
            ActionError::not_found("agent_id", "Tactical has no agent with this id").with_vendor(404)
        }
        _ => tactical_error(e, true),
    }
}

/// Tactical no longer knows an agent we have an asset for.
pub(crate) fn agent_gone() -> ActionError {
    ActionError::not_found("agent_id", "Tactical no longer has this agent (removed since the last device sync)")
        .with_vendor(404)
}

pub(crate) fn validation(field: &str, message: impl Into<String>) -> ActionError {
    ActionError::invalid(field, message)
}
