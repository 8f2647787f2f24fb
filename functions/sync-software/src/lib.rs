//! `sync-software`: Tactical's cached software inventory → the tenant's software catalog and
//! per-asset software links with install and uninstall history (docs/software.md).
//!
//! Function URL (PSA JWT): `POST /sync` (update), `GET /runs/latest`, `GET /runs/{id}`,
//! `GET /assets/{asset_id}/software` and `GET /software` (read).
//! SQS (`sync-software` queue): `start_run` and `software_batch` messages.

use lambda_glue::Deps;
use lambda_glue::http::{self, route_path};
use lambda_glue::lambda::{Invocation, http_payload};
use lambda_glue::routes::Routes;
use lambda_glue::runs_api::{self, RunRoute};
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use shared::auth::perms;
use shared::domain::software::{AssetSoftware, normalize};
use shared::messages::SyncType;
use shared::{ApiError, ErrorCode};
use std::sync::LazyLock;

/// Catalog search answers at most this many entries (`?limit=`, default 100).
const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 100;

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Http(req) => Ok(http_payload(handle(deps, *req).await)),
        Invocation::Sqs(ev) => {
            Ok(serde_json::to_value(lambda_glue::worker::consume(deps, ev).await).unwrap_or_default())
        }
        _ => Err("sync-software serves its function URL and its queue".into()),
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    http::respond(route(deps, &req).await)
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Runs(RunRoute),
    Catalog,
    AssetSoftware,
}

static ROUTES: LazyLock<Routes<Route>> = LazyLock::new(|| {
    runs_api::routes(Route::Runs).route("/software", &[Method::GET], Route::Catalog).route(
        "/assets/{asset_id}/software",
        &[Method::GET],
        Route::AssetSoftware,
    )
});

async fn route(deps: &Deps, req: &Request) -> Result<(u16, Value), ApiError> {
    let caller = http::caller(req, &deps.jwt)?;
    let path = route_path(req);
    let found = ROUTES.find(req.method(), &path)?;
    let q = req.query_string_parameters();
    match found.route {
        Route::Runs(r) => runs_api::serve(deps, &caller, SyncType::Software, r, found.param("run_id")).await,
        Route::Catalog => {
            caller.require(perms::SETTINGS_READ)?;
            let name = q.first("name").map(normalize).filter(|s| !s.is_empty());
            let publisher = q.first("publisher").map(normalize).filter(|s| !s.is_empty());
            let limit = match q.first("limit") {
                None => DEFAULT_LIMIT,
                Some(l) => l
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| ApiError::validation("limit", format!("limit must be 1 to {MAX_LIMIT}")))?,
            };
            let mut entries =
                deps.store.search_software_catalog(&caller.tenant, name.as_deref(), publisher.as_deref()).await?;
            // Most installed first: what a person searching the catalog usually wants.
            entries.sort_by(|a, b| {
                b.install_count.cmp(&a.install_count).then_with(|| a.normalized_name.cmp(&b.normalized_name))
            });
            let total = entries.len();
            entries.truncate(limit);
            let rows: Vec<Value> = entries
                .iter()
                .map(|e| {
                    json!({
                        "catalog_key": e.catalog_key,
                        "name": e.name,
                        "publisher": e.publisher,
                        "normalized_name": e.normalized_name,
                        "normalized_publisher": e.normalized_publisher,
                        "install_count": e.install_count,
                        "category": e.category,
                        "software_type": e.software_type,
                        "is_managed": e.is_managed,
                        "is_security_relevant": e.is_security_relevant,
                        "first_seen_at": e.first_seen_at,
                        "updated_at": e.updated_at,
                    })
                })
                .collect();
            Ok((200, json!({ "software": rows, "count": rows.len(), "total": total })))
        }
        Route::AssetSoftware => {
            caller.require(perms::SETTINGS_READ)?;
            let asset_id = found.param("asset_id");
            if !uuid_like(asset_id) {
                return Err(ApiError::validation("asset_id", "not an asset id"));
            }
            let include_uninstalled = match q.first("include_uninstalled") {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => return Err(ApiError::validation("include_uninstalled", "use true or false")),
            };
            let tenant = &caller.tenant;
            let ids = [asset_id.to_owned()];
            let asset = deps.store.get_assets(tenant, &ids).await?.into_iter().next();
            let Some(asset) = asset else {
                return Err(ApiError::new(ErrorCode::NotFound, "no such asset for this tenant"));
            };
            let inventory = deps.store.get_software_inventories(tenant, &ids).await?.into_iter().next();
            let mut links: Vec<AssetSoftware> = deps
                .store
                .list_asset_software(tenant, asset_id)
                .await?
                .into_iter()
                .filter(|l| include_uninstalled || l.is_current)
                .collect();
            // Current first, then by name.
            links.sort_by(|a, b| {
                b.is_current
                    .cmp(&a.is_current)
                    .then_with(|| a.normalized_name.cmp(&b.normalized_name))
                    .then_with(|| a.normalized_publisher.cmp(&b.normalized_publisher))
            });
            let rows: Vec<Value> = links
                .iter()
                .map(|l| {
                    json!({
                        "catalog_key": l.catalog_key,
                        "name": l.name,
                        "publisher": l.publisher,
                        "version": l.version,
                        "install_date": l.install_date,
                        "install_path": l.install_path,
                        "size_bytes": l.size_bytes,
                        "first_seen_at": l.first_seen_at,
                        "last_seen_at": l.last_seen_at,
                        "is_current": l.is_current,
                        "uninstalled_at": l.uninstalled_at,
                    })
                })
                .collect();
            Ok((
                200,
                json!({
                    "asset_id": asset.asset_id,
                    "agent_id": asset.rmm_device_id,
                    "name": asset.name,
                    // False: Tactical never had an inventory for this agent (unknown, not empty).
                    "inventory_known": inventory.is_some(),
                    "inventory_updated_at": inventory.as_ref().map(|i| i.updated_at.clone()),
                    "software": rows,
                    "count": rows.len(),
                }),
            ))
        }
    }
}

/// Asset ids are UUIDs (v5 of tenant + agent id).
fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if [8, 13, 18, 23].contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() })
}
