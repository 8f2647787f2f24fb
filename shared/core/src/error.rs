//! Errors as the PSA frontend and the workflow engine see them: JSON `{code, message, field?}`.

use serde::Serialize;

/// Codes a frontend can switch on. Stable strings: they are part of the OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    ValidationFailed,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    Conflict,
    IntegrationNotConfigured,
    IntegrationInactive,
    EnterpriseOnly,
    TacticalUnreachable,
    TacticalDashboardHost,
    TacticalAuthFailed,
    TacticalPermissionDenied,
    TacticalBetaApiDisabled,
    TacticalRateLimited,
    TacticalTotpRequired,
    TacticalError,
    AgentUnreachable,
    RmmBrokerDown,
    AgentTimeout,
    BlockedAddress,
    /// The invocation's time ran out before the work finished.
    Timeout,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            Unauthenticated => 401,
            Forbidden | EnterpriseOnly => 403,
            ValidationFailed | BlockedAddress => 400,
            NotFound => 404,
            MethodNotAllowed => 405,
            PayloadTooLarge => 413,
            Conflict | IntegrationNotConfigured | IntegrationInactive => 409,
            TacticalRateLimited => 429,
            TacticalUnreachable
            | TacticalDashboardHost
            | TacticalAuthFailed
            | TacticalPermissionDenied
            | TacticalBetaApiDisabled
            | TacticalTotpRequired
            | TacticalError
            | AgentUnreachable
            | RmmBrokerDown
            | AgentTimeout => 502,
            Timeout => 504,
            Internal => 500,
        }
    }
}

/// An error a caller can act on. `message` is written for a person; it never carries a secret.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None }
    }

    pub fn field(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: Some(field.into()) }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::field(ErrorCode::ValidationFailed, field, message)
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error; see the function logs")
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }
}
