//! `sync-alerts`: backfill and reconciliation of rmm_alerts, webhook follow-ups, and the alerts
//! list API.
//!
//! Function URL (PSA JWT): `POST /sync` (update), `GET /runs/latest`, `GET /runs/{id}`,
//! `GET /alerts?status=&asset_id=&limit=&cursor=` (read).
//! SQS (`sync-alerts` queue): `start_run` and `alert_follow_up` messages.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::app::Deps;
use shared::auth::perms;
use shared::domain::runs_api;
use shared::http::{self, route_path};
use shared::lambda::{Invocation, http_payload};
use shared::messages::SyncType;
use shared::ports::AlertQuery;
use shared::{ApiError, ErrorCode};

const STATUSES: [&str; 4] = ["active", "suppressed", "resolved", "auto_resolved"];

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Http(req) => Ok(http_payload(handle(deps, *req).await)),
        Invocation::Sqs(ev) => Ok(serde_json::to_value(shared::worker::consume(deps, ev).await).unwrap_or_default()),
        _ => Err("sync-alerts serves its function URL and its queue".into()),
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    http::respond(route(deps, &req).await)
}

async fn route(deps: &Deps, req: &Request) -> Result<(u16, Value), ApiError> {
    let caller = http::caller(req, &deps.jwt)?;
    let path = route_path(req);
    if let Some(r) = runs_api::route(deps, &caller, SyncType::Alerts, req.method(), &path).await {
        return r;
    }
    match (req.method(), path.as_str()) {
        (&Method::GET, "/alerts") => {
            caller.require(perms::SETTINGS_READ)?;
            let status = http::query_param(req, "status");
            if let Some(s) = &status
                && !STATUSES.contains(&s.as_str())
            {
                return Err(ApiError::validation("status", format!("status must be one of {}", STATUSES.join(", "))));
            }
            let limit = match http::query_param(req, "limit").as_deref() {
                None => 50,
                Some(l) => l
                    .parse::<i32>()
                    .ok()
                    .filter(|l| (1..=500).contains(l))
                    .ok_or_else(|| ApiError::validation("limit", "limit must be 1-500"))?,
            };
            let query = AlertQuery {
                status,
                asset_id: http::query_param(req, "asset_id"),
                limit,
                cursor: http::query_param(req, "cursor"),
            };
            let page = deps.store.list_alerts(&caller.tenant, &query).await.map_err(|e| match e {
                shared::ports::PortError::Corrupt(_) => ApiError::validation("cursor", "not a cursor of this list"),
                other => other.into(),
            })?;
            let rows: Vec<Value> = page.alerts.iter().map(|a| serde_json::to_value(a).unwrap_or_default()).collect();
            Ok((200, json!({ "alerts": rows, "next_cursor": page.next })))
        }
        (_, "/alerts") => Err(ApiError::new(ErrorCode::MethodNotAllowed, "use GET")),
        _ => Err(http::not_found()),
    }
}
