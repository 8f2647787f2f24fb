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
use serde::Serialize;
use serde_json::Value;
use shared::auth::perms;
use shared::domain::software::{AssetSoftware, CatalogEntry, normalize};
use shared::messages::SyncType;
use shared::{ApiError, ErrorCode};
use std::sync::LazyLock;

/// Catalog search answers at most this many entries (`?limit=`, default 100).
const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 100;

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Http(req) => Ok(http_payload(handle(deps, *req).await)),
        Invocation::Sqs(ev) => lambda_glue::lambda::output(&lambda_glue::worker::consume(deps, ev).await),
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
            let software: Vec<CatalogRow> = entries.iter().map(CatalogRow::of).collect();
            Ok((200, http::to_body(&Catalog { count: software.len(), software, total })?))
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
            let software: Vec<SoftwareRow> = links.iter().map(SoftwareRow::of).collect();
            let answer = AssetSoftwareAnswer {
                asset_id: &asset.asset_id,
                agent_id: &asset.rmm_device_id,
                name: &asset.name,
                inventory_known: inventory.is_some(),
                inventory_updated_at: inventory.as_ref().map(|i| i.updated_at.as_str()),
                count: software.len(),
                software,
            };
            Ok((200, http::to_body(&answer)?))
        }
    }
}

/// Answer of `GET /software`: the most installed first, `total` before the limit.
#[derive(Serialize)]
struct Catalog<'a> {
    software: Vec<CatalogRow<'a>>,
    count: usize,
    total: usize,
}

#[derive(Serialize)]
struct CatalogRow<'a> {
    catalog_key: &'a str,
    name: &'a str,
    publisher: &'a str,
    normalized_name: &'a str,
    normalized_publisher: &'a str,
    install_count: i64,
    category: Option<&'a str>,
    software_type: Option<&'a str>,
    is_managed: bool,
    is_security_relevant: bool,
    first_seen_at: Option<&'a str>,
    updated_at: Option<&'a str>,
}

impl<'a> CatalogRow<'a> {
    fn of(e: &'a CatalogEntry) -> Self {
        Self {
            catalog_key: &e.catalog_key,
            name: &e.name,
            publisher: &e.publisher,
            normalized_name: &e.normalized_name,
            normalized_publisher: &e.normalized_publisher,
            install_count: e.install_count,
            category: e.category.as_deref(),
            software_type: e.software_type.as_deref(),
            is_managed: e.is_managed,
            is_security_relevant: e.is_security_relevant,
            first_seen_at: e.first_seen_at.as_deref(),
            updated_at: e.updated_at.as_deref(),
        }
    }
}

/// Answer of `GET /assets/{asset_id}/software`.
#[derive(Serialize)]
struct AssetSoftwareAnswer<'a> {
    asset_id: &'a str,
    agent_id: &'a str,
    name: &'a str,
    /// False: Tactical never had an inventory for this agent (unknown, not empty).
    inventory_known: bool,
    inventory_updated_at: Option<&'a str>,
    software: Vec<SoftwareRow<'a>>,
    count: usize,
}

#[derive(Serialize)]
struct SoftwareRow<'a> {
    catalog_key: &'a str,
    name: &'a str,
    publisher: &'a str,
    version: Option<&'a str>,
    install_date: Option<&'a str>,
    install_path: Option<&'a str>,
    size_bytes: Option<u64>,
    first_seen_at: &'a str,
    last_seen_at: &'a str,
    is_current: bool,
    uninstalled_at: Option<&'a str>,
}

impl<'a> SoftwareRow<'a> {
    fn of(l: &'a AssetSoftware) -> Self {
        Self {
            catalog_key: &l.catalog_key,
            name: &l.name,
            publisher: &l.publisher,
            version: l.version.as_deref(),
            install_date: l.install_date.as_deref(),
            install_path: l.install_path.as_deref(),
            size_bytes: l.size_bytes,
            first_seen_at: &l.first_seen_at,
            last_seen_at: &l.last_seen_at,
            is_current: l.is_current,
            uninstalled_at: l.uninstalled_at.as_deref(),
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
