//! `sync-devices`: Tactical agents → assets with external entity mappings, fanned out one beta
//! page per message; the assets API.
//!
//! Function URL (PSA JWT): `POST /sync` (update), `GET /runs/latest`, `GET /runs/{id}`,
//! `GET /assets` (read; filters `client_id`, `organization`, `status`, `name`; `limit`, `cursor`),
//! `GET /assets/{asset_id}` (read; vitals and external entity mapping), `POST /status/refresh`
//! (update; queues a live-status refresh).
//! SQS (`sync-devices` queue): `start_run`, `device_page` and `status_refresh` messages.

use lambda_glue::Deps;
use lambda_glue::http::{self, query_param, route_path};
use lambda_glue::lambda::{Invocation, http_payload};
use lambda_glue::routes::Routes;
use lambda_glue::runs_api::{self, RunRoute};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::auth::perms;
use shared::domain::asset::Asset;
use shared::domain::status_refresh;
use shared::domain::time::{now, parse_rfc3339, to_rfc3339};
use shared::messages::SyncType;
use shared::{ApiError, ErrorCode};
use std::collections::BTreeMap;
use std::sync::LazyLock;
use time::OffsetDateTime;

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Http(req) => Ok(http_payload(handle(deps, *req).await)),
        Invocation::Sqs(ev) => lambda_glue::lambda::output(&lambda_glue::worker::consume(deps, ev).await),
        _ => Err("sync-devices serves its function URL and its queue".into()),
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    http::respond(route(deps, &req).await)
}

/// An asset as the frontend sees it: the status Tactical last reported, `status_as_of` when it
/// was last observed (the later of the asset's own observation and its client's last status
/// refresh), and uptime at the time of the answer.
fn view(a: &Asset, now: OffsetDateTime, observed: &BTreeMap<String, String>) -> Result<Value, ApiError> {
    let mut v = http::to_body(a)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("status_as_of".into(), http::to_body(&status_as_of(a, observed))?);
        o.insert("uptime_seconds".into(), http::to_body(&a.uptime_seconds(now))?);
        // Bookkeeping of the sync, not the frontend's.
        o.remove("sync_hash");
        o.remove("last_sync_run");
    }
    Ok(v)
}

/// Answer of `GET /assets`.
#[derive(serde::Serialize)]
struct AssetsPage {
    assets: Vec<Value>,
    count: usize,
    next_cursor: Option<String>,
}

/// Answer of `POST /status/refresh`.
#[derive(serde::Serialize)]
struct RefreshQueued {
    refresh_id: String,
}

fn status_as_of(a: &Asset, observed: &BTreeMap<String, String>) -> Option<String> {
    let own = a.status_as_of.as_deref().and_then(parse_rfc3339);
    let client = observed.get(&a.rmm_organization_id).and_then(|t| parse_rfc3339(t));
    own.max(client).map(to_rfc3339)
}

struct Filters {
    client_id: Option<String>,
    organization: Option<String>,
    status: Option<String>,
    name: Option<String>,
}

impl Filters {
    fn matches(&self, a: &Asset) -> bool {
        self.client_id.as_deref().is_none_or(|c| a.client_id.as_deref() == Some(c))
            && self.organization.as_deref().is_none_or(|o| a.rmm_organization_id == o)
            && self.status.as_deref().is_none_or(|s| a.agent_status.as_str() == s)
            && self.name.as_deref().is_none_or(|n| a.name.to_lowercase().contains(n))
    }
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Runs(RunRoute),
    Assets,
    Asset,
    StatusRefresh,
}

static ROUTES: LazyLock<Routes<Route>> = LazyLock::new(|| {
    runs_api::routes(Route::Runs)
        .route("/assets", &[Method::GET], Route::Assets)
        .route("/assets/{*asset_id}", &[Method::GET], Route::Asset)
        .route("/status/refresh", &[Method::POST], Route::StatusRefresh)
});

async fn route(deps: &Deps, req: &Request) -> Result<(u16, Value), ApiError> {
    let caller = http::caller(req, &deps.jwt)?;
    let path = route_path(req);
    let found = ROUTES.find(req.method(), &path)?;
    match found.route {
        Route::Runs(r) => runs_api::serve(deps, &caller, SyncType::Devices, r, found.param("run_id")).await,
        Route::Assets => {
            caller.require(perms::SETTINGS_READ)?;
            let status = query_param(req, "status");
            if let Some(s) = &status
                && !["online", "offline", "overdue"].contains(&s.as_str())
            {
                return Err(ApiError::validation("status", "status must be online, offline or overdue"));
            }
            let limit: usize = match query_param(req, "limit") {
                None => 100,
                Some(l) => l
                    .parse()
                    .ok()
                    .filter(|l| (1..=1000).contains(l))
                    .ok_or_else(|| ApiError::validation("limit", "limit must be 1-1000"))?,
            };
            let filters = Filters {
                client_id: query_param(req, "client_id"),
                organization: query_param(req, "organization"),
                status,
                name: query_param(req, "name").map(|n| n.to_lowercase()),
            };
            let mut cursor = query_param(req, "cursor");
            if cursor.as_deref().is_some_and(|c| c.len() > 64 || !c.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
            {
                return Err(ApiError::validation("cursor", "not a cursor of this list"));
            }
            // Read in chunks until the page is full: filters apply here.
            let now = now();
            let observed = deps.store.status_observed(&caller.tenant).await?;
            let mut rows = Vec::new();
            let next = loop {
                let (chunk, after) = deps.store.assets_page(&caller.tenant, cursor.as_deref(), 500).await?;
                let mut last_taken = None;
                for a in &chunk {
                    if rows.len() == limit {
                        break;
                    }
                    last_taken = Some(a.asset_id.clone());
                    if filters.matches(a) {
                        rows.push(view(a, now, &observed)?);
                    }
                }
                if rows.len() == limit {
                    // More may follow the last asset examined.
                    break last_taken.filter(|l| Some(l) != chunk.last().map(|a| &a.asset_id)).or(after);
                }
                match after {
                    Some(a) => cursor = Some(a),
                    None => break None,
                }
            };
            Ok((200, http::to_body(&AssetsPage { count: rows.len(), assets: rows, next_cursor: next })?))
        }
        Route::Asset => {
            caller.require(perms::SETTINGS_READ)?;
            let id = found.param("asset_id");
            if id.len() != 36 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                return Err(ApiError::validation("asset_id", "asset ids are UUIDs"));
            }
            let asset = deps.store.get_assets(&caller.tenant, &[id.to_owned()]).await?.into_iter().next();
            let Some(asset) = asset else {
                return Err(ApiError::new(ErrorCode::NotFound, "no asset with this id for this tenant"));
            };
            let mapping = deps.store.get_external_mapping(&caller.tenant, &asset.rmm_device_id).await?;
            let observed = deps.store.status_observed(&caller.tenant).await?;
            let mut v = view(&asset, now(), &observed)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("external_entity_mapping".into(), http::to_body(&mapping)?);
            }
            Ok((200, v))
        }
        Route::StatusRefresh => {
            caller.require(perms::SETTINGS_UPDATE)?;
            let refresh_id = status_refresh::request(deps, &caller.tenant).await?;
            Ok((202, http::to_body(&RefreshQueued { refresh_id })?))
        }
    }
}
