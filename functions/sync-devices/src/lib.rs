//! `sync-devices`: Tactical agents → assets with external entity mappings, fanned out one beta
//! page per message.
//!
//! Function URL (PSA JWT): `POST /sync` (update), `GET /runs/latest`, `GET /runs/{id}`,
//! `GET /assets` (read; `?status=online|offline|overdue`, `?organization=<tactical client id>`).
//! SQS (`sync-devices` queue): `start_run` and `device_page` messages.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::app::Deps;
use shared::auth::perms;
use shared::domain::runs_api;
use shared::domain::time::now;
use shared::http::{self, route_path};
use shared::lambda::{Invocation, http_payload};
use shared::messages::SyncType;
use shared::{ApiError, ErrorCode};

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Http(req) => Ok(http_payload(handle(deps, *req).await)),
        Invocation::Sqs(ev) => Ok(serde_json::to_value(shared::worker::consume(deps, ev).await).unwrap_or_default()),
        _ => Err("sync-devices serves its function URL and its queue".into()),
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    http::respond(route(deps, &req).await)
}

async fn route(deps: &Deps, req: &Request) -> Result<(u16, Value), ApiError> {
    let caller = http::caller(req, &deps.jwt)?;
    let path = route_path(req);
    if let Some(r) = runs_api::route(deps, &caller, SyncType::Devices, req.method(), &path).await {
        return r;
    }
    match (req.method(), path.as_str()) {
        (&Method::GET, "/assets") => {
            caller.require(perms::SETTINGS_READ)?;
            let status = http::query_param(req, "status");
            if let Some(s) = &status
                && !["online", "offline", "overdue"].contains(&s.as_str())
            {
                return Err(ApiError::validation("status", "status must be online, offline or overdue"));
            }
            let org = http::query_param(req, "organization");
            let now = now();
            let rows: Vec<Value> = deps
                .store
                .list_assets(&caller.tenant)
                .await?
                .into_iter()
                .filter(|a| org.as_deref().is_none_or(|o| a.rmm_organization_id == o))
                .filter_map(|a| {
                    // Status recomputed now from last_seen and the agent's thresholds.
                    let st = a.status_now(now);
                    if status.as_deref().is_some_and(|s| s != st.as_str()) {
                        return None;
                    }
                    let mut v = serde_json::to_value(&a).ok()?;
                    v["agent_status"] = json!(st.as_str());
                    v["uptime_seconds"] = json!(a.uptime_seconds(now));
                    if let Some(o) = v.as_object_mut() {
                        o.remove("sync_hash");
                        o.remove("last_sync_run");
                    }
                    Some(v)
                })
                .collect();
            Ok((200, json!({ "assets": rows, "count": rows.len() })))
        }
        (_, "/assets") => Err(ApiError::new(ErrorCode::MethodNotAllowed, "use GET")),
        _ => Err(http::not_found()),
    }
}
