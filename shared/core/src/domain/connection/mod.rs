//! Connect, test, disconnect (admin guide "Connect to Tactical RMM"). Plain logic over the ports.

mod disconnect;
mod knox;
mod settings;
mod test;

use super::integration::{AuthMode, Schedule, ScheduleKind};
use crate::error::{ApiError, ErrorCode};
use crate::ports::{PortError, SecretName, SecretStore, Store};
use crate::tactical::TacticalConnector;
use crate::tactical::policy::RetryPolicy;
use crate::tactical::url::AddressPolicy;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

impl From<PortError> for ApiError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Throttled => ApiError::new(ErrorCode::Internal, "the data store is busy; retry in a moment"),
            other => {
                tracing::error!(error = %other, "port failure");
                ApiError::internal()
            }
        }
    }
}

/// Body of "save settings". Every field is optional: a save changes only what it names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveSettings {
    pub instance_url: Option<String>,
    pub auth_mode: Option<AuthMode>,
    pub api_key: Option<SecretString>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    #[serde(default)]
    pub schedules: SchedulesPatch,
}

/// Schedules named one by one, so a typo in a name is refused with its name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulesPatch {
    pub alert_polling: Option<Schedule>,
    pub device_sync: Option<Schedule>,
    pub client_sync: Option<Schedule>,
    pub software_sync: Option<Schedule>,
    pub status_refresh: Option<Schedule>,
}

impl SchedulesPatch {
    pub fn entries(&self) -> Vec<(ScheduleKind, Schedule)> {
        [
            (ScheduleKind::AlertPolling, self.alert_polling),
            (ScheduleKind::DeviceSync, self.device_sync),
            (ScheduleKind::ClientSync, self.client_sync),
            (ScheduleKind::SoftwareSync, self.software_sync),
            (ScheduleKind::StatusRefresh, self.status_refresh),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The current TOTP code, for Knox accounts with two-factor authentication.
    pub totp_code: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct TestResult {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
    pub totp_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clients: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<u64>,
}

/// What renewing a refused Knox token came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewal {
    /// A new token is stored: run the work again now.
    Renewed,
    /// A person must act (TOTP, password changed, API key refused): `reauth_required` is set.
    NeedsPerson,
    /// Not possible right now (Tactical throttled or unreachable, or another worker's renewal
    /// did not finish in time): try the work again later, nothing flagged.
    NotNow(String),
}

/// The tenant's Knox login lock, held while logging in.
const LOGIN_LOCK: &str = "knox_login";
const LOGIN_LOCK_SECS: i64 = 60;
/// After a login the lock stays this long: at most 10 logins a minute per tenant, within
/// Tactical's checkcreds throttle (10/min per IP).
pub const LOGIN_SPACING_SECS: i64 = 6;
/// How long a lock loser waits for the winner's token (bounded by the invocation's budget).
const RENEWAL_WAIT: std::time::Duration = std::time::Duration::from_secs(20);
const RENEWAL_POLL: std::time::Duration = std::time::Duration::from_millis(250);
/// The most a disconnect waits for Tactical to drop the Knox token.
const LOGOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl PartialEq for ApiError {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.message == other.message && self.field == other.field
    }
}

/// Shows at most the last four characters, and nothing of a short secret.
pub fn mask(secret: &SecretString) -> String {
    let s = secret.expose_secret();
    let n = s.chars().count();
    if n < 12 {
        "••••".into()
    } else {
        let tail: String = s.chars().skip(n - 4).collect();
        format!("••••{tail}")
    }
}

#[derive(Debug, Serialize)]
pub struct CredentialsView {
    pub has_api_key: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_masked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub has_password: bool,
    pub has_knox_token: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub knox_token_masked: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SettingsView {
    pub provider: &'static str,
    pub instance_url: Option<String>,
    pub auth_mode: Option<AuthMode>,
    pub is_active: bool,
    pub connected_at: Option<String>,
    pub disconnected_at: Option<String>,
    pub reauth_required: bool,
    pub credentials: CredentialsView,
    pub schedules: BTreeMap<ScheduleKind, Schedule>,
}

/// The secrets that authenticate to one Tactical host.
const CREDENTIALS: [SecretName; 4] =
    [SecretName::ApiKey, SecretName::Username, SecretName::Password, SecretName::KnoxToken];

/// The connection use cases for one tenant.
pub struct ConnectionService<'a> {
    pub store: &'a dyn Store,
    pub secrets: &'a dyn SecretStore,
    /// Hands out Tactical clients and guards which instances a tenant may reach.
    pub tactical: &'a dyn TacticalConnector,
    /// Which hosts and schemes a tenant may point at.
    pub addresses: AddressPolicy,
    /// Retries of idempotent Tactical calls (attempts and backoff).
    pub retry: RetryPolicy,
    /// The HTTP client's request timeout (for messages).
    pub timeout: std::time::Duration,
}

fn validate_schedule(kind: ScheduleKind, s: &Schedule) -> Result<(), ApiError> {
    let (lo, hi) = kind.bounds();
    if s.interval_minutes < lo || s.interval_minutes > hi {
        return Err(ApiError::validation(
            format!("schedules.{}.interval_minutes", kind.attribute()),
            format!("must be between {lo} and {hi} minutes"),
        ));
    }
    Ok(())
}

fn non_empty(field: &str, v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() {
        Err(ApiError::validation(field, format!("{field} must not be empty")))
    } else if v.len() > 1024 {
        Err(ApiError::validation(field, format!("{field} is longer than 1024 characters")))
    } else {
        Ok(())
    }
}

impl<'a> ConnectionService<'a> {
    /// The service over a function's dependencies.
    pub fn new(deps: &'a crate::app::Deps) -> Self {
        Self {
            store: deps.store.as_ref(),
            secrets: deps.secrets.as_ref(),
            tactical: deps.tactical.as_ref(),
            addresses: AddressPolicy {
                dev_hosts: deps.config.tactical_host_allowlist.clone(),
                private_hosts: deps.config.tactical_private_hosts.clone(),
            },
            retry: RetryPolicy {
                max_attempts: deps.config.tactical_max_attempts,
                ..deps.config.tactical_retry.clone()
            },
            timeout: deps.config.tactical_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_show_at_most_four_characters() {
        assert_eq!(mask(&SecretString::from("ABCDEFGHIJKLMNOPQRSTUVWXYZ123456")), "••••3456");
        assert_eq!(mask(&SecretString::from("short")), "••••");
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let e = crate::json::parse_json::<SaveSettings>(br#"{"instance_url":"x","apikey":"k"}"#).unwrap_err();
        assert!(e.message.contains("apikey"), "{}", e.message);
    }

    #[test]
    fn schedules_are_validated_per_kind() {
        let e = crate::json::parse_json::<SaveSettings>(
            br#"{"schedules":{"alert_polling":{"enabled":true,"interval_minutes":"x"}}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("schedules.alert_polling.interval_minutes"));
        assert!(
            validate_schedule(ScheduleKind::AlertPolling, &Schedule { enabled: true, interval_minutes: 4 }).is_err()
        );
        assert!(validate_schedule(ScheduleKind::DeviceSync, &Schedule { enabled: true, interval_minutes: 60 }).is_ok());
    }
}
