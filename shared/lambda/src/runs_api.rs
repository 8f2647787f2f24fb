//! Routes every sync function serves on its function URL: start a run, read runs.

use crate::app::Deps;
use crate::routes::Routes;
use lambda_http::http::Method;
use serde_json::Value;
use shared::auth::{Caller, perms};
use shared::domain::sync::start;
use shared::error::{ApiError, ErrorCode};
use shared::messages::{SyncType, Trigger};

/// `POST /sync` (update), `GET /runs/latest` and `GET /runs/{run_id}` (read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunRoute {
    Start,
    Latest,
    ById,
}

/// A sync function's table, starting with the run routes (`wrap` makes them the function's).
pub fn routes<R: Copy>(wrap: fn(RunRoute) -> R) -> Routes<R> {
    Routes::new()
        .route("/sync", &[Method::POST], wrap(RunRoute::Start))
        .route("/runs/latest", &[Method::GET], wrap(RunRoute::Latest))
        // Any rest of the path is the id, refused below when it is not one.
        .route("/runs/{*run_id}", &[Method::GET], wrap(RunRoute::ById))
}

/// Serves a run route; `run_id` is the path's id for [`RunRoute::ById`].
pub async fn serve(
    deps: &Deps,
    caller: &Caller,
    st: SyncType,
    route: RunRoute,
    run_id: &str,
) -> Result<(u16, Value), ApiError> {
    match route {
        RunRoute::Start => {
            caller.require(perms::SETTINGS_UPDATE)?;
            let started = start(deps, &caller.tenant, st, Trigger::Manual).await?;
            crate::telemetry::record_run_id(&started.run_id);
            tracing::info!(user = %caller.user_id, sync_type = st.as_str(), started = started.started, "sync requested");
            Ok((202, crate::http::to_body(&started)?))
        }
        RunRoute::Latest => {
            caller.require(perms::SETTINGS_READ)?;
            match deps.store.latest_run(&caller.tenant, st).await? {
                Some(run) => Ok((200, crate::http::to_body(&run)?)),
                None => Err(ApiError::new(ErrorCode::NotFound, format!("no {} sync has run yet", st.as_str()))),
            }
        }
        RunRoute::ById => {
            caller.require(perms::SETTINGS_READ)?;
            let id = run_id;
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(ApiError::validation("run_id", "not a run id"));
            }
            match deps.store.get_run(&caller.tenant, st, id).await? {
                Some(run) => Ok((200, crate::http::to_body(&run)?)),
                None => Err(ApiError::new(ErrorCode::NotFound, "no such run for this tenant")),
            }
        }
    }
}
