//! `sync-alerts`: backfill and reconciliation of rmm_alerts, webhook follow-ups, and the alerts
//! list API.
//!
//! Function URL (PSA JWT): `POST /sync` (update), `GET /runs/latest`, `GET /runs/{id}`,
//! `GET /alerts?status=&asset_id=&ticket_id=&limit=&cursor=` (read), `PATCH /alerts/{key}`
//! `{"ticket_id": "..." | null}` (update): links an alert to a PSA ticket.
//! SQS (`sync-alerts` queue): `start_run` and `alert_follow_up` messages.

use lambda_glue::Deps;
use lambda_glue::http::{self, route_path};
use lambda_glue::lambda::{Invocation, http_payload};
use lambda_glue::routes::Routes;
use lambda_glue::runs_api::{self, RunRoute};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::auth::perms;
use shared::domain::alert_flow;
use shared::messages::SyncType;
use shared::ports::AlertQuery;
use shared::{ApiError, ErrorCode};
use std::sync::LazyLock;

const STATUSES: [&str; 4] = ["active", "suppressed", "resolved", "auto_resolved"];

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Http(req) => Ok(http_payload(handle(deps, *req).await)),
        Invocation::Sqs(ev) => lambda_glue::lambda::output(&lambda_glue::worker::consume(deps, ev).await),
        _ => Err("sync-alerts serves its function URL and its queue".into()),
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    http::respond(route(deps, &req).await)
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Runs(RunRoute),
    Alerts,
    Alert,
}

static ROUTES: LazyLock<Routes<Route>> = LazyLock::new(|| {
    runs_api::routes(Route::Runs).route("/alerts", &[Method::GET], Route::Alerts).route(
        "/alerts/{*alert_key}",
        &[Method::PATCH],
        Route::Alert,
    )
});

async fn route(deps: &Deps, req: &Request) -> Result<(u16, Value), ApiError> {
    let caller = http::caller(req, &deps.jwt)?;
    let path = route_path(req);
    let found = ROUTES.find(req.method(), &path)?;
    match found.route {
        Route::Runs(r) => runs_api::serve(deps, &caller, SyncType::Alerts, r, found.param("run_id")).await,
        Route::Alerts => {
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
            if let Some(ticket) = http::query_param(req, "ticket_id") {
                check_ticket_id(&ticket)?;
                if http::query_param(req, "cursor").is_some() {
                    return Err(ApiError::validation("cursor", "a ticket's alerts come in one page"));
                }
                let asset = http::query_param(req, "asset_id");
                let alerts = alert_flow::alerts_of_ticket(deps.store.as_ref(), &caller.tenant, &ticket, limit).await?;
                let alerts: Vec<_> = alerts
                    .iter()
                    .filter(|a| status.as_deref().is_none_or(|s| a.status == s))
                    .filter(|a| asset.is_none() || a.asset_id == asset)
                    .collect();
                return Ok((200, http::to_body(&AlertsPage { alerts, next_cursor: None })?));
            }
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
            let alerts: Vec<_> = page.alerts.iter().collect();
            Ok((200, http::to_body(&AlertsPage { alerts, next_cursor: page.next })?))
        }
        Route::Alert => {
            caller.require(perms::SETTINGS_UPDATE)?;
            let key = percent_decode(found.param("alert_key"))
                .filter(|k| !k.is_empty() && k.len() <= 300 && !k.chars().any(char::is_control))
                .ok_or_else(|| ApiError::validation("alert_key", "not an alert key (URL-encode it: id%2325)"))?;
            let body: Value = http::parse_json(http::body_bytes(req)?)?;
            let Some(obj) = body.as_object() else {
                return Err(ApiError::validation("body", "send {\"ticket_id\": \"...\"} or {\"ticket_id\": null}"));
            };
            if let Some(other) = obj.keys().find(|k| *k != "ticket_id") {
                return Err(ApiError::validation(other, format!("unknown field {other:?}; only ticket_id can be set")));
            }
            let ticket = match obj.get("ticket_id") {
                None => return Err(ApiError::validation("ticket_id", "ticket_id is required (null unlinks)")),
                Some(Value::Null) => None,
                Some(Value::String(t)) => {
                    check_ticket_id(t)?;
                    Some(t.as_str())
                }
                Some(_) => return Err(ApiError::validation("ticket_id", "ticket_id is a string or null")),
            };
            let alert = alert_flow::set_ticket(deps.store.as_ref(), &caller.tenant, &key, ticket)
                .await?
                .ok_or_else(|| ApiError::field(ErrorCode::NotFound, "alert_key", "no alert with this key"))?;
            Ok((200, http::to_body(&alert)?))
        }
    }
}

/// Answer of `GET /alerts`.
#[derive(serde::Serialize)]
struct AlertsPage<'a, A: serde::Serialize> {
    alerts: Vec<&'a A>,
    next_cursor: Option<String>,
}

/// PSA ticket ids: 1–128 characters, no `#` (the index key separator) and no control characters.
fn check_ticket_id(t: &str) -> Result<(), ApiError> {
    if t.is_empty() || t.len() > 128 || t.contains('#') || t.chars().any(char::is_control) {
        Err(ApiError::validation("ticket_id", "a ticket id is 1–128 characters without '#'"))
    } else {
        Ok(())
    }
}

/// `%XX` escapes of a path segment; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_keys_come_percent_encoded() {
        assert_eq!(percent_decode("id%2325").as_deref(), Some("id#25"));
        assert_eq!(percent_decode("id%2").as_deref(), None);
        assert_eq!(percent_decode("id%zz").as_deref(), None);
        assert!(check_ticket_id("T-1").is_ok());
        assert_eq!(check_ticket_id("a#b").unwrap_err().field.as_deref(), Some("ticket_id"));
    }
}
