//! What can go wrong talking to Tactical, in terms a person can act on.

use crate::error::{ApiError, ErrorCode};
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TacticalError {
    #[error(
        "the instance URL answers with the Tactical dashboard (HTML), not the API; use the API host (for example https://api.example.com) instead of the dashboard host"
    )]
    DashboardHost,
    #[error("Tactical answered with a redirect to {location}; check the instance URL (http or https, path prefix)")]
    Redirect { location: String },
    #[error("Tactical refused the credentials: {detail}")]
    Unauthorized { detail: String },
    #[error(
        "the Tactical account behind these credentials lacks a permission for this call ({path}); give its role the needed permission"
    )]
    Forbidden { path: String },
    #[error(
        "Tactical's beta API is switched off; set BETA_API_ENABLED = True in Tactical's local_settings.py and restart it"
    )]
    BetaApiDisabled,
    #[error("Tactical has no such route or object: {path}")]
    NotFound { path: String, detail: Option<String> },
    #[error("Tactical is rate limiting these requests; retry in {} s", retry_after.map(|d| d.as_secs()).unwrap_or(60))]
    RateLimited { retry_after: Option<Duration> },
    #[error("Tactical did not answer in time (timed out after {:.1} s)", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("cannot reach Tactical: {0}")]
    Connect(String),
    #[error("Tactical failed with HTTP {status}")]
    Server { status: u16 },
    #[error("Tactical refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// A body that does not decode or is over a limit: the same request gets the same answer,
    /// so it is never retried.
    #[error("Tactical sent a response that could not be read ({what}): {detail}")]
    Decode { what: &'static str, detail: String },
    /// Never retried: the same server would send the same body again.
    #[error("Tactical's answer to {path} is larger than the {limit} bytes this call reads")]
    BodyTooLarge { path: String, limit: usize },
    /// The connection broke while the body was read (worth another attempt).
    #[error("the connection broke while reading Tactical's response ({what})")]
    Interrupted { what: &'static str },
    #[error("Tactical rejected the user name or password")]
    BadCredentials,
    #[error("this Tactical account uses two-factor authentication: enter the current TOTP code")]
    TotpRequired,
    #[error(
        "the instance URL resolves to an address that is not allowed (loopback, link-local, cloud metadata or a private network; an on-premises Tactical must be on TACTICAL_PRIVATE_HOSTS)"
    )]
    BlockedAddress,
    #[error(
        "the instance URL must use https: credentials are never sent over plain http (http is only for hosts on the development allow-list TACTICAL_HOST_ALLOWLIST)"
    )]
    InsecureScheme,
    #[error("Tactical could not contact the agent (it is offline or unreachable)")]
    AgentUnreachable,
    #[error("Tactical's message broker (NATS) is down, so nothing was sent to the agent")]
    BrokerDown,
    #[error("the agent did not answer before the timeout")]
    AgentTimeout,
}

impl TacticalError {
    /// Worth another attempt with backoff (idempotent calls only).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TacticalError::RateLimited { .. }
                | TacticalError::Timeout(_)
                | TacticalError::Connect(_)
                | TacticalError::Server { status: 500 | 502 | 503 | 504 }
                | TacticalError::Interrupted { .. }
        )
    }

    pub fn code(&self) -> ErrorCode {
        use TacticalError::*;
        match self {
            DashboardHost => ErrorCode::TacticalDashboardHost,
            Unauthorized { .. } | BadCredentials => ErrorCode::TacticalAuthFailed,
            Forbidden { .. } => ErrorCode::TacticalPermissionDenied,
            BetaApiDisabled => ErrorCode::TacticalBetaApiDisabled,
            RateLimited { .. } => ErrorCode::TacticalRateLimited,
            Timeout(_) | Connect(_) => ErrorCode::TacticalUnreachable,
            TotpRequired => ErrorCode::TacticalTotpRequired,
            BlockedAddress => ErrorCode::BlockedAddress,
            InsecureScheme => ErrorCode::ValidationFailed,
            AgentUnreachable => ErrorCode::AgentUnreachable,
            BrokerDown => ErrorCode::RmmBrokerDown,
            AgentTimeout => ErrorCode::AgentTimeout,
            NotFound { .. } => ErrorCode::NotFound,
            Redirect { .. }
            | Server { .. }
            | Rejected { .. }
            | Decode { .. }
            | BodyTooLarge { .. }
            | Interrupted { .. } => ErrorCode::TacticalError,
        }
    }
}

impl From<TacticalError> for ApiError {
    fn from(e: TacticalError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}
