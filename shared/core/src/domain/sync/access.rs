//! What every work item needs first: the tenant's active integration and a Tactical client
//! for it, and what to do when Tactical refuses the credentials.

use super::TacticalErrorOrApi;
use crate::app::Deps;
use crate::domain::connection::ConnectionService;
use crate::domain::integration::RmmIntegration;
use crate::ports::SecretName;
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;

pub(super) fn connection(deps: &Deps) -> ConnectionService<'_> {
    ConnectionService::new(deps)
}

/// The integration of a message's tenant, or a reason to drop the message (no integration, or
/// inactive; a queue message can never act for a tenant without one). `Err(None)`:
/// the store could not be read (throttled, unavailable): the message is retried, not dropped.
pub(crate) async fn active_integration(deps: &Deps, tenant: &TenantId) -> Result<RmmIntegration, Option<String>> {
    match deps.store.get_integration(tenant).await {
        Ok(Some(i)) if i.is_active && i.instance_url.is_some() => Ok(i),
        Ok(Some(_)) => Err(Some("the integration is inactive or disconnected".into())),
        Ok(None) => Err(Some("no Tactical integration for this tenant".into())),
        Err(e) => {
            tracing::warn!(tenant = %tenant, error = %e, "reading the integration failed; the message will be retried");
            Err(None)
        }
    }
}

/// Tactical refused the credentials of work that does not run again inline: a Knox account
/// without TOTP gets a new token (true: the work may be retried), otherwise the integration is
/// flagged `reauth_required` for a person ([`ConnectionService::renew_token`]).
pub(crate) async fn note_auth_failure(deps: &Deps, tenant: &TenantId, e: &TacticalError) -> bool {
    if !matches!(e, TacticalError::Unauthorized { .. }) {
        return false;
    }
    // A cached credential another process has replaced since (a renewed Knox token, a new API
    // key): the retry reads the new one, no login needed.
    if let Some(held) = deps.secrets.forget(tenant)
        && let Ok(fresh) = deps.secrets.bundle(tenant).await
        && !(held.same(&fresh, SecretName::ApiKey) && held.same(&fresh, SecretName::KnoxToken))
    {
        return true;
    }
    let seen = deps.store.get_integration(tenant).await.ok().flatten().and_then(|i| i.knox_token_expires_at);
    matches!(
        connection(deps).renew_token(tenant, seen.as_deref()).await,
        Ok(crate::domain::connection::Renewal::Renewed)
    )
}

pub(crate) async fn client_for(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
) -> Result<Box<dyn TacticalApi>, TacticalErrorOrApi> {
    Ok(connection(deps).client(tenant, integ).await?)
}
