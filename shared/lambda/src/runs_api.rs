//! Routes every sync function serves on its function URL: start a run, read runs.

use crate::app::Deps;
use lambda_http::http::Method;
use serde_json::Value;
use shared::auth::{Caller, perms};
use shared::domain::sync::start;
use shared::error::{ApiError, ErrorCode};
use shared::messages::{SyncType, Trigger};

/// `POST /sync` (update), `GET /runs/latest` and `GET /runs/{run_id}` (read). `None` when the
/// path is not one of these.
pub async fn route(
    deps: &Deps,
    caller: &Caller,
    st: SyncType,
    method: &Method,
    path: &str,
) -> Option<Result<(u16, Value), ApiError>> {
    let r = match (method, path) {
        (&Method::POST, "/sync") => async {
            caller.require(perms::SETTINGS_UPDATE)?;
            let started = start(deps, &caller.tenant, st, Trigger::Manual).await?;
            crate::telemetry::record_run_id(&started.run_id);
            tracing::info!(user = %caller.user_id, sync_type = st.as_str(), started = started.started, "sync requested");
            Ok((202, serde_json::to_value(started).unwrap_or_default()))
        }
        .await,
        (&Method::GET, "/runs/latest") => async {
            caller.require(perms::SETTINGS_READ)?;
            match deps.store.latest_run(&caller.tenant, st).await? {
                Some(run) => Ok((200, serde_json::to_value(run).unwrap_or_default())),
                None => Err(ApiError::new(ErrorCode::NotFound, format!("no {} sync has run yet", st.as_str()))),
            }
        }
        .await,
        (&Method::GET, p) if p.starts_with("/runs/") => async {
            caller.require(perms::SETTINGS_READ)?;
            let id = &p["/runs/".len()..];
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(ApiError::validation("run_id", "not a run id"));
            }
            match deps.store.get_run(&caller.tenant, st, id).await? {
                Some(run) => Ok((200, serde_json::to_value(run).unwrap_or_default())),
                None => Err(ApiError::new(ErrorCode::NotFound, "no such run for this tenant")),
            }
        }
        .await,
        (_, "/sync") => Err(ApiError::new(ErrorCode::MethodNotAllowed, "use POST to start a sync")),
        _ => return None,
    };
    Some(r)
}
