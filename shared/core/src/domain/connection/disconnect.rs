//! Disconnect: credentials removed, the integration inactive.

use super::{ConnectionService, LOGOUT_TIMEOUT};
use crate::domain::integration::{IntegrationPatch, RmmIntegration};
use crate::domain::time::now_rfc3339;
use crate::error::{ApiError, ErrorCode};
use crate::ports::SecretName;
use crate::tactical::Credentials;
use crate::tactical::policy::RetryPolicy;
use crate::tenant::TenantId;

impl ConnectionService<'_> {
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
                    webhook_digests: Some(crate::domain::integration::WebhookDigests::default()),
                    ..Default::default()
                },
            )
            .await?)
    }
}
