//! Connect, test, disconnect (admin guide "Connect to Tactical RMM"). Plain logic over the ports.

use super::integration::{AuthMode, IntegrationPatch, RmmIntegration, Schedule, ScheduleKind};
use super::time::now_rfc3339;
use crate::error::{ApiError, ErrorCode};
use crate::ports::{PortError, SecretName, SecretStore, Store};
use crate::tactical::policy::RetryPolicy;
use crate::tactical::types::{BetaAgentQuery, CheckCreds};
use crate::tactical::url::AddressPolicy;
use crate::tactical::{Credentials, InstanceUrl, TacticalApi, TacticalConnector, TacticalError};
use crate::tenant::TenantId;
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

impl ConnectionService<'_> {
    pub async fn integration(&self, tenant: &TenantId) -> Result<Option<RmmIntegration>, ApiError> {
        Ok(self.store.get_integration(tenant).await?)
    }

    pub async fn settings(&self, tenant: &TenantId) -> Result<SettingsView, ApiError> {
        let integ = self.store.get_integration(tenant).await?;
        if let Some(i) = &integ {
            super::webhook_settings::backfill_digests(self.store, self.secrets, tenant, i).await;
        }
        let api_key = self.secrets.get(tenant, SecretName::ApiKey).await?;
        let username = self.secrets.get(tenant, SecretName::Username).await?;
        let password = self.secrets.get(tenant, SecretName::Password).await?;
        let knox = self.secrets.get(tenant, SecretName::KnoxToken).await?;
        let schedules = ScheduleKind::ALL
            .iter()
            .map(|k| (*k, integ.as_ref().map(|i| i.schedule(*k)).unwrap_or_else(|| k.default_schedule())))
            .collect();
        Ok(SettingsView {
            provider: super::integration::PROVIDER,
            instance_url: integ.as_ref().and_then(|i| i.instance_url.as_ref().map(|u| u.to_string())),
            auth_mode: integ.as_ref().and_then(|i| i.auth_mode),
            is_active: integ.as_ref().is_some_and(|i| i.is_active),
            connected_at: integ.as_ref().and_then(|i| i.connected_at.clone()),
            disconnected_at: integ.as_ref().and_then(|i| i.disconnected_at.clone()),
            reauth_required: integ.as_ref().is_some_and(|i| i.reauth_required),
            credentials: CredentialsView {
                has_api_key: api_key.is_some(),
                api_key_masked: api_key.as_ref().map(mask),
                // The user name identifies the account; it is shown, like the original does.
                username: username.map(|u| u.expose_secret().to_owned()),
                has_password: password.is_some(),
                has_knox_token: knox.is_some(),
                knox_token_masked: knox.as_ref().map(mask),
            },
            schedules,
        })
    }

    /// Saves what the body names. URL or credential changes deactivate the connection until the
    /// next successful test; schedules alone do not.
    pub async fn save(&self, tenant: &TenantId, body: SaveSettings) -> Result<RmmIntegration, ApiError> {
        let current = self.store.get_integration(tenant).await?;
        let mut patch = IntegrationPatch::default();

        if let Some(raw) = &body.instance_url {
            let url = InstanceUrl::parse(raw).map_err(|e| ApiError::validation("instance_url", e.to_string()))?;
            self.tactical.check_address(&url).await.map_err(|e| {
                let code = if matches!(e, TacticalError::InsecureScheme) {
                    ErrorCode::ValidationFailed
                } else {
                    ErrorCode::BlockedAddress
                };
                ApiError::field(code, "instance_url", e.to_string())
            })?;
            patch.instance_url = Some(url);
        }
        if let Some(k) = &body.api_key {
            non_empty("api_key", k.expose_secret())?;
        }
        if let Some(u) = &body.username {
            non_empty("username", u)?;
        }
        if let Some(p) = &body.password {
            non_empty("password", p.expose_secret())?;
        }
        for (kind, s) in body.schedules.entries() {
            validate_schedule(kind, &s)?;
            patch.schedules.push((kind, s));
        }

        let mode = body.auth_mode.or(current.as_ref().and_then(|c| c.auth_mode)).or_else(|| {
            // A first save that only carries credentials implies the mode.
            if body.api_key.is_some() {
                Some(AuthMode::ApiKey)
            } else if body.username.is_some() || body.password.is_some() {
                Some(AuthMode::Knox)
            } else {
                None
            }
        });
        if mode == Some(AuthMode::ApiKey) && (body.username.is_some() || body.password.is_some()) {
            return Err(ApiError::validation(
                "auth_mode",
                "username and password are for auth_mode knox; this connection uses api_key",
            ));
        }
        if mode == Some(AuthMode::Knox) && body.api_key.is_some() {
            return Err(ApiError::validation(
                "auth_mode",
                "api_key is for auth_mode api_key; this connection uses knox",
            ));
        }
        // Credentials are bound to the host they were saved for: a new URL (scheme, host, port or
        // path) drops them, so a settings-only user cannot send the stored key to their own server.
        let url_changed = patch.instance_url.is_some()
            && patch.instance_url.as_ref() != current.as_ref().and_then(|c| c.instance_url.as_ref());
        let again = |field: &str| {
            ApiError::validation(
                field,
                format!(
                    "{field} is required again when the instance URL changes: stored credentials are never sent to a new host"
                ),
            )
        };
        match mode {
            Some(AuthMode::ApiKey) if url_changed && body.api_key.is_none() => return Err(again("api_key")),
            Some(AuthMode::ApiKey)
                if body.api_key.is_none() && self.secrets.get(tenant, SecretName::ApiKey).await?.is_none() =>
            {
                return Err(ApiError::validation("api_key", "api_key is required for auth_mode api_key"));
            }
            Some(AuthMode::Knox) if url_changed => {
                if body.username.is_none() {
                    return Err(again("username"));
                }
                if body.password.is_none() {
                    return Err(again("password"));
                }
            }
            Some(AuthMode::Knox) => {
                if body.username.is_none() && self.secrets.get(tenant, SecretName::Username).await?.is_none() {
                    return Err(ApiError::validation("username", "username is required for auth_mode knox"));
                }
                if body.password.is_none() && self.secrets.get(tenant, SecretName::Password).await?.is_none() {
                    return Err(ApiError::validation("password", "password is required for auth_mode knox"));
                }
            }
            _ => {}
        }
        if mode.is_some() && mode != current.as_ref().and_then(|c| c.auth_mode) {
            patch.auth_mode = mode;
        }
        let creds_changed = body.api_key.is_some() || body.username.is_some() || body.password.is_some();
        if url_changed || creds_changed || patch.auth_mode.is_some() {
            patch.is_active = Some(false);
        }

        if url_changed {
            // Old credentials go first and the new URL is saved before the new credentials: if a
            // write fails half-way, no stored credential is ever paired with a host it was not
            // given for.
            for n in CREDENTIALS {
                self.secrets.delete(tenant, n).await?;
            }
            let saved = self.store.patch_integration(tenant, &patch).await?;
            self.put_credentials(tenant, &body).await?;
            return Ok(saved);
        }

        // Secrets first: if a later write fails, the old settings still point at valid secrets.
        self.put_credentials(tenant, &body).await?;
        if body.username.is_some() || body.password.is_some() {
            // A token of the old account must not outlive the change.
            self.secrets.delete(tenant, SecretName::KnoxToken).await?;
        }
        // Switching modes removes the other mode's secrets.
        match patch.auth_mode {
            Some(AuthMode::ApiKey) => {
                for n in [SecretName::Username, SecretName::Password, SecretName::KnoxToken] {
                    self.secrets.delete(tenant, n).await?;
                }
            }
            Some(AuthMode::Knox) => self.secrets.delete(tenant, SecretName::ApiKey).await?,
            None => {}
        }
        Ok(self.store.patch_integration(tenant, &patch).await?)
    }

    async fn put_credentials(&self, tenant: &TenantId, body: &SaveSettings) -> Result<(), ApiError> {
        if let Some(k) = &body.api_key {
            self.secrets
                .put(tenant, SecretName::ApiKey, &SecretString::from(k.expose_secret().trim().to_owned()))
                .await?;
        }
        if let Some(u) = &body.username {
            self.secrets.put(tenant, SecretName::Username, &SecretString::from(u.trim().to_owned())).await?;
        }
        if let Some(p) = &body.password {
            self.secrets.put(tenant, SecretName::Password, p).await?;
        }
        Ok(())
    }

    /// Refuses to send credentials anywhere the address policy forbids (https, blocked ranges),
    /// whatever was stored before the policy changed.
    fn check_transport(&self, url: &InstanceUrl) -> Result<(), ApiError> {
        self.addresses.check_scheme(url).map_err(|e| ApiError::validation("instance_url", e.to_string()))
    }

    /// Builds a Tactical client for the tenant's stored credentials (API key or Knox token).
    pub async fn client(&self, tenant: &TenantId, integ: &RmmIntegration) -> Result<Box<dyn TacticalApi>, ApiError> {
        let url = integ.instance_url.clone().ok_or_else(|| {
            ApiError::new(ErrorCode::IntegrationNotConfigured, "no instance URL saved for Tactical RMM")
        })?;
        self.check_transport(&url)?;
        let creds = match integ.auth_mode {
            Some(AuthMode::ApiKey) => {
                Credentials::ApiKey(self.secrets.get(tenant, SecretName::ApiKey).await?.ok_or_else(|| {
                    ApiError::new(ErrorCode::IntegrationNotConfigured, "no API key saved for Tactical RMM")
                })?)
            }
            Some(AuthMode::Knox) => {
                Credentials::KnoxToken(self.secrets.get(tenant, SecretName::KnoxToken).await?.ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::TacticalTotpRequired,
                        "no Knox token yet: test the connection (with the TOTP code if the account has one)",
                    )
                })?)
            }
            None => {
                return Err(ApiError::new(ErrorCode::IntegrationNotConfigured, "no auth mode saved for Tactical RMM"));
            }
        };
        self.tactical(url, creds).map_err(ApiError::from)
    }

    fn tactical(&self, url: InstanceUrl, creds: Credentials) -> Result<Box<dyn TacticalApi>, TacticalError> {
        self.tactical_within(url, creds, self.timeout)
    }

    fn tactical_within(
        &self,
        url: InstanceUrl,
        creds: Credentials,
        timeout: std::time::Duration,
    ) -> Result<Box<dyn TacticalApi>, TacticalError> {
        self.tactical.connect(url, creds, Some(self.retry.clone()), Some(timeout))
    }

    /// Test connection: API host (not dashboard), credentials (Knox with TOTP), beta API. On
    /// success the integration becomes active.
    pub async fn test(&self, tenant: &TenantId, req: TestRequest) -> Result<TestResult, ApiError> {
        let integ = self.store.get_integration(tenant).await?.ok_or_else(|| {
            ApiError::new(ErrorCode::IntegrationNotConfigured, "save the instance URL and credentials before testing")
        })?;
        let url =
            integ.instance_url.clone().ok_or_else(|| ApiError::validation("instance_url", "no instance URL saved"))?;
        let mode = integ.auth_mode.ok_or_else(|| ApiError::validation("auth_mode", "no auth mode saved"))?;
        if let Some(code) = &req.totp_code
            && (code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ApiError::validation("totp_code", "the TOTP code is six digits"));
        }
        let fail = |e: TacticalError| TestResult {
            success: false,
            totp_required: matches!(e, TacticalError::TotpRequired),
            error: Some(e.into()),
            clients: None,
            agents: None,
        };
        if let Err(e) = self.tactical.check_address(&url).await {
            return Ok(fail(e));
        }
        // Room for retries inside the function's budget: an attempt gets at most a third of it.
        let per_call = crate::deadline::current().map_or(self.timeout, |b| self.timeout.min(b.total() / 3));
        let anon = match self.tactical_within(url.clone(), Credentials::None, per_call) {
            Ok(a) => a,
            Err(e) => return Ok(fail(e)),
        };
        if let Err(e) = anon.probe().await {
            return Ok(fail(e));
        }
        let mut knox_expiry = None;
        let creds = match mode {
            AuthMode::ApiKey => match self.secrets.get(tenant, SecretName::ApiKey).await? {
                Some(k) => Credentials::ApiKey(k),
                None => return Err(ApiError::validation("api_key", "no API key saved")),
            },
            AuthMode::Knox => {
                let user = self.secrets.get(tenant, SecretName::Username).await?;
                let pass = self.secrets.get(tenant, SecretName::Password).await?;
                let (Some(user), Some(pass)) = (user, pass) else {
                    return Err(ApiError::validation("username", "no username and password saved"));
                };
                // checkcreds first: it hands out the token itself for accounts without TOTP, for which
                // /v2/login/ is a 500 (docs/tactical-behaviour.md#knox-login-and-totp).
                let (token, expiry) = match anon.check_creds(user.expose_secret(), &pass).await {
                    Ok(CheckCreds::Token { token, expiry }) => (token, expiry),
                    Ok(CheckCreds::TotpRequired) => match &req.totp_code {
                        None => return Ok(fail(TacticalError::TotpRequired)),
                        Some(code) => match anon.login(user.expose_secret(), &pass, code).await {
                            Ok(l) => (l.token, l.expiry),
                            Err(TacticalError::BadCredentials) => {
                                return Ok(TestResult {
                                    success: false,
                                    totp_required: true,
                                    error: Some(ApiError::field(
                                        ErrorCode::TacticalAuthFailed,
                                        "totp_code",
                                        "Tactical rejected the TOTP code (or the password); enter the current code",
                                    )),
                                    clients: None,
                                    agents: None,
                                });
                            }
                            Err(e) => return Ok(fail(e)),
                        },
                    },
                    Err(e) => return Ok(fail(e)),
                };
                self.secrets.put(tenant, SecretName::KnoxToken, &token).await?;
                knox_expiry = expiry;
                Credentials::KnoxToken(token)
            }
        };
        let api = match self.tactical_within(url, creds, per_call) {
            Ok(a) => a,
            Err(e) => return Ok(fail(e)),
        };
        let clients = match api.clients().await {
            Ok(c) => c,
            Err(e) => return Ok(fail(e)),
        };
        // The device sync reads the beta list: a beta API that is off answers HTML 404, named
        // here (admin guide). Its count is not the answer: the beta list ignores the role.
        match api.beta_agents_page(&BetaAgentQuery { page: 1, page_size: 1, ..Default::default() }).await {
            // No agent at all: page 1 is "Invalid page." (404).
            Ok(_) | Err(TacticalError::NotFound { .. }) => {}
            Err(e) => return Ok(fail(e)),
        }
        // What the credentials may see: `/clients/` honours the role, with each client's agents.
        let agents: u64 = clients
            .iter()
            .filter_map(|c| c.agent_count)
            .fold(0u64, |sum, n| sum.saturating_add(u64::try_from(n).unwrap_or(0)));
        let now = now_rfc3339();
        self.store
            .patch_integration(
                tenant,
                &IntegrationPatch {
                    is_active: Some(true),
                    connected_at: Some(Some(now)),
                    disconnected_at: Some(None),
                    reauth_required: Some(false),
                    knox_token_expires_at: Some(knox_expiry),
                    ..Default::default()
                },
            )
            .await?;
        Ok(TestResult {
            success: true,
            error: None,
            totp_required: false,
            clients: Some(clients.len()),
            agents: Some(agents),
        })
    }

    /// Tactical refused the credentials of work that read the integration when its Knox token
    /// expiry was `seen_expiry`. An account without TOTP gets a new token through checkcreds: by
    /// this worker when it takes the tenant's login lock, else by the worker holding it, whose
    /// token this one waits for (a lock loser never flags the integration). At most one login
    /// per tenant every [`LOGIN_SPACING_SECS`], below Tactical's login throttle (10/min per IP).
    /// An account with TOTP, refused credentials or an API key need a person: the integration is
    /// flagged `reauth_required` and scheduled work waits.
    pub async fn renew_token(&self, tenant: &TenantId, seen_expiry: Option<&str>) -> Result<Renewal, ApiError> {
        let Some(integ) = self.store.get_integration(tenant).await? else {
            return Ok(Renewal::NeedsPerson);
        };
        let (Some(AuthMode::Knox), Some(url)) = (integ.auth_mode, integ.instance_url.clone()) else {
            self.flag_reauth(tenant).await?;
            return Ok(Renewal::NeedsPerson);
        };
        // Credentials only travel over https (or to a development host).
        self.check_transport(&url)?;
        let until = tokio::time::Instant::now() + crate::deadline::clamp(RENEWAL_WAIT);
        let mut integ = integ;
        loop {
            if integ.knox_token_expires_at.as_deref() != seen_expiry {
                // Renewed since the work read its token (by another worker, or a connection test).
                return Ok(Renewal::Renewed);
            }
            if integ.reauth_required {
                return Ok(Renewal::NeedsPerson);
            }
            if self.store.try_lock(tenant, LOGIN_LOCK, LOGIN_LOCK_SECS).await? {
                // The holder before us may have just finished: its token is as good as ours.
                let fresh = self.store.get_integration(tenant).await?;
                if let Some(i) =
                    fresh.filter(|i| i.knox_token_expires_at.as_deref() != seen_expiry || i.reauth_required)
                {
                    // Its spacing still holds.
                    let _ = self.store.unlock(tenant, LOGIN_LOCK).await;
                    let _ = self.store.try_lock(tenant, LOGIN_LOCK, LOGIN_SPACING_SECS).await;
                    integ = i;
                    continue;
                }
                let result = self.relogin_locked(tenant, url).await;
                // Kept a few seconds more: a burst of refusals cannot become a burst of logins.
                let _ = self.store.unlock(tenant, LOGIN_LOCK).await;
                let _ = self.store.try_lock(tenant, LOGIN_LOCK, LOGIN_SPACING_SECS).await;
                return result;
            }
            // Another worker is logging in: wait for its token rather than flag anything.
            if tokio::time::Instant::now() + RENEWAL_POLL >= until {
                return Ok(Renewal::NotNow("another worker is renewing the Knox token".into()));
            }
            tokio::time::sleep(RENEWAL_POLL).await;
            integ = match self.store.get_integration(tenant).await? {
                Some(i) => i,
                None => return Ok(Renewal::NeedsPerson),
            };
        }
    }

    async fn flag_reauth(&self, tenant: &TenantId) -> Result<(), ApiError> {
        let patch = IntegrationPatch { reauth_required: Some(true), ..Default::default() };
        self.store.patch_integration(tenant, &patch).await?;
        Ok(())
    }

    async fn relogin_locked(&self, tenant: &TenantId, url: InstanceUrl) -> Result<Renewal, ApiError> {
        let (Some(user), Some(pass)) = (
            self.secrets.get(tenant, SecretName::Username).await?,
            self.secrets.get(tenant, SecretName::Password).await?,
        ) else {
            self.flag_reauth(tenant).await?;
            return Ok(Renewal::NeedsPerson);
        };
        let anon = self.tactical(url, Credentials::None).map_err(ApiError::from)?;
        match anon.check_creds(user.expose_secret(), &pass).await {
            Ok(CheckCreds::Token { token, expiry }) => {
                // The secret first: a worker that sees the new expiry must find the new token.
                self.secrets.put(tenant, SecretName::KnoxToken, &token).await?;
                let patch = IntegrationPatch {
                    knox_token_expires_at: Some(Some(expiry.unwrap_or_else(now_rfc3339))),
                    reauth_required: Some(false),
                    ..Default::default()
                };
                self.store.patch_integration(tenant, &patch).await?;
                tracing::info!(tenant = %tenant, "knox token renewed");
                Ok(Renewal::Renewed)
            }
            Ok(CheckCreds::TotpRequired) | Err(TacticalError::BadCredentials) => {
                self.flag_reauth(tenant).await?;
                Ok(Renewal::NeedsPerson)
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant, error = %e, "knox re-login failed");
                Ok(Renewal::NotNow(format!("the Knox re-login failed: {e}")))
            }
        }
    }

    /// Runs `call`, which builds its Tactical client from the stored credentials. When Tactical
    /// refuses them ([`Self::renew_token`]) and a new token is stored, `call` runs again at once
    /// with it: the work never waits for a queue redelivery. `not_now` turns "renew later" into
    /// the caller's error.
    pub async fn with_renewal<T, E, F, Fut>(
        &self,
        tenant: &TenantId,
        seen_expiry: Option<&str>,
        is_unauthorized: impl Fn(&E) -> bool,
        not_now: impl FnOnce(String) -> E,
        call: F,
    ) -> Result<T, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let first = call().await;
        if !matches!(&first, Err(e) if is_unauthorized(e)) {
            return first;
        }
        match self.renew_token(tenant, seen_expiry).await {
            Ok(Renewal::Renewed) => {
                let again = call().await;
                if matches!(&again, Err(e) if is_unauthorized(e)) {
                    // A token just issued is refused: nothing automatic will fix that.
                    let _ = self.flag_reauth(tenant).await;
                }
                again
            }
            Ok(Renewal::NeedsPerson) => first,
            Ok(Renewal::NotNow(reason)) => Err(not_now(reason)),
            Err(e) => Err(not_now(format!("renewing the Knox token: {}", e.message))),
        }
    }

    /// Clears every stored secret and marks the integration inactive. Mappings, assets and
    /// alerts stay, so reconnecting does not start over.
    pub async fn disconnect(&self, tenant: &TenantId) -> Result<RmmIntegration, ApiError> {
        let Some(integ) = self.store.get_integration(tenant).await? else {
            return Err(ApiError::new(
                ErrorCode::IntegrationNotConfigured,
                "there is no Tactical RMM connection to disconnect",
            ));
        };
        // Best effort: tell Tactical to drop the Knox token before we forget it.
        if let (Some(url), Some(token)) =
            (integ.instance_url.clone(), self.secrets.get(tenant, SecretName::KnoxToken).await?)
            && self.check_transport(&url).is_ok()
        {
            let once = RetryPolicy { max_attempts: 1, ..Default::default() };
            // Best effort: never more than half of what the invocation has left, so a hung
            // Tactical cannot keep the secrets from being deleted.
            let wait = crate::deadline::remaining().map_or(LOGOUT_TIMEOUT, |r| LOGOUT_TIMEOUT.min(r / 2));
            let logout = match self.tactical.connect(url, Credentials::KnoxToken(token), Some(once), Some(wait)) {
                Ok(api) => api.logout().await,
                Err(e) => Err(e),
            };
            if let Err(e) = logout {
                tracing::info!(tenant = %tenant, error = %e, "knox logout on disconnect failed (ignored)");
            }
        }
        self.secrets.delete_all(tenant).await?;
        Ok(self
            .store
            .patch_integration(
                tenant,
                &IntegrationPatch {
                    is_active: Some(false),
                    disconnected_at: Some(Some(now_rfc3339())),
                    knox_token_expires_at: Some(None),
                    // No secret left, so no digest: the webhook refuses every delivery.
                    webhook_digests: Some(super::integration::WebhookDigests::default()),
                    ..Default::default()
                },
            )
            .await?)
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
