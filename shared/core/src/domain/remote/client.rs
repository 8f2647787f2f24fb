//! Tenancy and the Tactical client: the tenant's active integration, the agent's asset in the
//! calling tenant, and calls with a client whose refused Knox token is renewed once.

use super::error::ActionError;
use crate::app::Deps;
use crate::domain::asset::{Asset, asset_id_for};
use crate::domain::connection::ConnectionService;
use crate::domain::integration::RmmIntegration;
use crate::error::{ApiError, ErrorCode};
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;

pub(crate) async fn active_integration(deps: &Deps, tenant: &TenantId) -> Result<RmmIntegration, ActionError> {
    let integ = deps.store.get_integration(tenant).await?.ok_or_else(|| {
        ActionError::Connection(ApiError::new(
            ErrorCode::IntegrationNotConfigured,
            "there is no Tactical RMM integration for this tenant",
        ))
    })?;
    integ.ensure_active().map_err(ActionError::Connection)?;
    Ok(integ)
}

pub(crate) async fn client(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
) -> Result<Box<dyn TacticalApi>, ActionError> {
    ConnectionService::new(deps).client(tenant, integ).await.map_err(ActionError::Connection)
}

/// The agent's asset in the calling tenant. An agent of another tenant, or one never synced, has
/// none: refused the same way, so nothing about other tenants is revealed.
pub(crate) async fn tenant_asset(deps: &Deps, tenant: &TenantId, agent_id: &str) -> Result<Asset, ActionError> {
    let id = asset_id_for(tenant, agent_id);
    deps.store
        .get_assets(tenant, std::slice::from_ref(&id))
        .await?
        .into_iter()
        .find(|a| a.rmm_device_id == agent_id)
        .ok_or_else(|| {
            ActionError::not_found(
                "agent_id",
                "this agent is not an asset of your organization; sync devices first, or check the agent id",
            )
        })
}

/// How a call with a client failed: Tactical's own errors stay apart, since how they read
/// depends on the action (an unanswered action may still be running).
pub(crate) enum Failure {
    Tactical(TacticalError),
    Other(ActionError),
}

impl Failure {
    /// The use case's error; `acting`: the call acted on an agent or on Tactical's data.
    pub(crate) fn into_error(self, acting: bool) -> ActionError {
        match self {
            Failure::Tactical(e) => super::error::tactical_error(e, acting),
            Failure::Other(e) => e,
        }
    }
}

impl From<ActionError> for Failure {
    fn from(e: ActionError) -> Self {
        Failure::Other(e)
    }
}

/// Runs `call` with a client built from the stored credentials. A Knox token Tactical refuses
/// is renewed the way the syncs renew it (a new token, or `reauth_required` for a person) and
/// `call` runs again at once with the new one. Tactical checks the token before acting, so a
/// refused action never ran and may be sent again.
pub(crate) async fn with_client<T, F, Fut>(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    call: F,
) -> Result<T, Failure>
where
    F: Fn(Box<dyn TacticalApi>) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    with_first_client(deps, tenant, integ, None, call).await
}

/// [`with_client`] whose first attempt uses `first`, a client already built (so a missing
/// credential is reported before the action is audited as attempted).
pub(crate) async fn with_first_client<T, F, Fut>(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    first: Option<Box<dyn TacticalApi>>,
    call: F,
) -> Result<T, Failure>
where
    F: Fn(Box<dyn TacticalApi>) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let call = &call;
    let first = &std::sync::Mutex::new(first);
    ConnectionService::new(deps)
        .with_renewal(
            tenant,
            integ.knox_token_expires_at.as_deref(),
            |f| matches!(f, Failure::Tactical(TacticalError::Unauthorized { .. })),
            |reason| {
                Failure::Tactical(TacticalError::Unauthorized {
                    detail: format!("the Knox token is being renewed ({reason}); retry in a moment"),
                })
            },
            move || async move {
                let built = first.lock().ok().and_then(|mut f| f.take());
                let api = match built {
                    Some(api) => api,
                    None => client(deps, tenant, integ).await.map_err(Failure::Other)?,
                };
                call(api).await
            },
        )
        .await
}
