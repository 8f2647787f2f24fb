//! Tactical clients for a tenant, and the connection test.

use super::{ConnectionService, TestRequest, TestResult};
use crate::domain::integration::{AuthMode, IntegrationPatch, RmmIntegration};
use crate::domain::time::now_rfc3339;
use crate::error::{ApiError, ErrorCode};
use crate::ports::SecretName;
use crate::tactical::types::{BetaAgentQuery, CheckCreds};
use crate::tactical::{Credentials, InstanceUrl, TacticalApi, TacticalError};
use crate::tenant::TenantId;
use secrecy::ExposeSecret;

impl ConnectionService<'_> {
    /// Builds a Tactical client for the tenant's stored credentials (API key or Knox token).
    pub async fn client(&self, tenant: &TenantId, integ: &RmmIntegration) -> Result<Box<dyn TacticalApi>, ApiError> {
        let url = integ.instance_url.clone().ok_or_else(|| {
            ApiError::new(ErrorCode::IntegrationNotConfigured, "no instance URL saved for Tactical RMM")
        })?;
        self.check_transport(&url)?;
        // Read for this URL: a worker's cached copy read for another host is not used.
        let stored = self.secrets.bundle_for(tenant, url.as_str()).await?;
        let creds = match integ.auth_mode {
            Some(AuthMode::ApiKey) => Credentials::ApiKey(stored.value(SecretName::ApiKey).ok_or_else(|| {
                ApiError::new(ErrorCode::IntegrationNotConfigured, "no API key saved for Tactical RMM")
            })?),
            Some(AuthMode::Knox) => Credentials::KnoxToken(stored.value(SecretName::KnoxToken).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::TacticalTotpRequired,
                    "no Knox token yet: test the connection (with the TOTP code if the account has one)",
                )
            })?),
            None => {
                return Err(ApiError::new(ErrorCode::IntegrationNotConfigured, "no auth mode saved for Tactical RMM"));
            }
        };
        self.tactical(url, creds).map_err(ApiError::from)
    }

    pub(super) fn tactical(&self, url: InstanceUrl, creds: Credentials) -> Result<Box<dyn TacticalApi>, TacticalError> {
        self.tactical_within(url, creds, self.timeout)
    }

    pub(super) fn tactical_within(
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
                let stored = self.secrets.bundle(tenant).await?;
                let (Some(user), Some(pass)) = (stored.value(SecretName::Username), stored.value(SecretName::Password))
                else {
                    return Err(ApiError::validation("username", "no username and password saved"));
                };
                // checkcreds first: it hands out the token itself for accounts without TOTP.
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
}
