//! Connection settings: read (secrets masked) and save (validated, credentials checked against the
//! instance before anything is stored).

use super::{
    CREDENTIALS, ConnectionService, CredentialsView, SaveSettings, SettingsView, mask, non_empty, validate_schedule,
};
use crate::domain::integration::{AuthMode, IntegrationPatch, RmmIntegration, ScheduleKind};
use crate::error::{ApiError, ErrorCode};
use crate::ports::SecretName;
use crate::tactical::{InstanceUrl, TacticalError};
use crate::tenant::TenantId;
use secrecy::{ExposeSecret, SecretString};

impl ConnectionService<'_> {
    pub async fn integration(&self, tenant: &TenantId) -> Result<Option<RmmIntegration>, ApiError> {
        Ok(self.store.get_integration(tenant).await?)
    }

    pub async fn settings(&self, tenant: &TenantId) -> Result<SettingsView, ApiError> {
        let integ = self.store.get_integration(tenant).await?;
        // One read of the tenant's secrets serves the view and the digest backfill.
        let secrets = self.secrets.bundle(tenant).await?;
        if let Some(i) = &integ {
            crate::domain::webhook_settings::backfill_digests_from(self.store, &secrets, tenant, i).await;
        }
        let api_key = secrets.get(SecretName::ApiKey);
        let username = secrets.get(SecretName::Username);
        let password = secrets.get(SecretName::Password);
        let knox = secrets.get(SecretName::KnoxToken);
        let schedules = ScheduleKind::ALL
            .iter()
            .map(|k| (*k, integ.as_ref().map(|i| i.schedule(*k)).unwrap_or_else(|| k.default_schedule())))
            .collect();
        Ok(SettingsView {
            provider: crate::domain::integration::PROVIDER,
            instance_url: integ.as_ref().and_then(|i| i.instance_url.as_ref().map(|u| u.to_string())),
            auth_mode: integ.as_ref().and_then(|i| i.auth_mode),
            is_active: integ.as_ref().is_some_and(|i| i.is_active),
            connected_at: integ.as_ref().and_then(|i| i.connected_at.clone()),
            disconnected_at: integ.as_ref().and_then(|i| i.disconnected_at.clone()),
            reauth_required: integ.as_ref().is_some_and(|i| i.reauth_required),
            credentials: CredentialsView {
                has_api_key: api_key.is_some(),
                api_key_masked: api_key.map(mask),
                // The user name identifies the account; it is shown, like the original does.
                username: username.map(|u| u.expose_secret().to_owned()),
                has_password: password.is_some(),
                has_knox_token: knox.is_some(),
                knox_token_masked: knox.map(mask),
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
        // What is stored already, read once and only when the body leaves a credential out.
        let needs_stored = !url_changed
            && match mode {
                Some(AuthMode::ApiKey) => body.api_key.is_none(),
                Some(AuthMode::Knox) => body.username.is_none() || body.password.is_none(),
                None => false,
            };
        let stored = if needs_stored { self.secrets.bundle(tenant).await? } else { Default::default() };
        let missing = |n: SecretName| stored.get(n).is_none();
        match mode {
            Some(AuthMode::ApiKey) if url_changed && body.api_key.is_none() => return Err(again("api_key")),
            Some(AuthMode::ApiKey) if body.api_key.is_none() && missing(SecretName::ApiKey) => {
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
                if body.username.is_none() && missing(SecretName::Username) {
                    return Err(ApiError::validation("username", "username is required for auth_mode knox"));
                }
                if body.password.is_none() && missing(SecretName::Password) {
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

    pub(super) async fn put_credentials(&self, tenant: &TenantId, body: &SaveSettings) -> Result<(), ApiError> {
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
    pub(super) fn check_transport(&self, url: &InstanceUrl) -> Result<(), ApiError> {
        self.addresses.check_scheme(url).map_err(|e| ApiError::validation("instance_url", e.to_string()))
    }
}
