//! Keeping a Knox login alive: a refused token is renewed once per tenant (a short lock), or the
//! integration is flagged for a person.

use super::{ConnectionService, LOGIN_LOCK, LOGIN_LOCK_SECS, LOGIN_SPACING_SECS, RENEWAL_POLL, RENEWAL_WAIT, Renewal};
use crate::domain::integration::{AuthMode, IntegrationPatch};
use crate::domain::time::now_rfc3339;
use crate::error::ApiError;
use crate::ports::SecretName;
use crate::tactical::types::CheckCreds;
use crate::tactical::{Credentials, InstanceUrl, TacticalError};
use crate::tenant::TenantId;
use secrecy::ExposeSecret;

impl ConnectionService<'_> {
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
                // Renewed since the work read its token (by another worker, or a connection test):
                // a cached copy of the old one must not be used again.
                self.secrets.forget(tenant);
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

    pub(super) async fn flag_reauth(&self, tenant: &TenantId) -> Result<(), ApiError> {
        let patch = IntegrationPatch { reauth_required: Some(true), ..Default::default() };
        self.store.patch_integration(tenant, &patch).await?;
        Ok(())
    }

    pub(super) async fn relogin_locked(&self, tenant: &TenantId, url: InstanceUrl) -> Result<Renewal, ApiError> {
        // Fresh, whatever a cache in front of the store holds: the login must use what a person
        // saved last.
        self.secrets.forget(tenant);
        let stored = self.secrets.bundle(tenant).await?;
        let (Some(user), Some(pass)) = (stored.value(SecretName::Username), stored.value(SecretName::Password)) else {
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
        let first = if self.secrets.caches() {
            // The credential came from a copy another process may have replaced since (a Knox
            // token it renewed, a new API key): once more with a fresh read before renewing, or
            // that worker's token would look refused and cost a login of its own.
            self.secrets.forget(tenant);
            let again = call().await;
            if !matches!(&again, Err(e) if is_unauthorized(e)) {
                return again;
            }
            again
        } else {
            first
        };
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
}
