//! `sync-clients`: Tactical clients → organization mappings, and the mapping API.
//!
//! Function URL (PSA JWT): `POST /sync` (update), `GET /runs/latest`, `GET /runs/{id}`,
//! `GET /mappings` (read), `PATCH /mappings/{tactical_client_id}` (update).
//! SQS (`sync-clients` queue): `start_run` messages from the function URL and the scheduler.

use lambda_glue::Deps;
use lambda_glue::http::{self, body_bytes, parse_json, route_path};
use lambda_glue::lambda::{Invocation, http_payload};
use lambda_glue::routes::Routes;
use lambda_glue::runs_api::{self, RunRoute};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;
use shared::auth::perms;
use shared::domain::mapping::MappingPatch;
use shared::domain::mapping::{MappedSite, OrgMapping};
use shared::domain::time::now_rfc3339;
use shared::messages::SyncType;
use shared::{ApiError, ErrorCode};
use std::sync::LazyLock;

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Http(req) => Ok(http_payload(handle(deps, *req).await)),
        Invocation::Sqs(ev) => lambda_glue::lambda::output(&lambda_glue::worker::consume(deps, ev).await),
        _ => Err("sync-clients serves its function URL and its queue".into()),
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    http::respond(route(deps, &req).await)
}

/// Answer of `GET /mappings`.
#[derive(Serialize)]
struct Mappings<'a> {
    mappings: Vec<MappingRow<'a>>,
}

/// One organization mapping as the frontend sees it.
#[derive(Serialize)]
struct MappingRow<'a> {
    id: &'a str,
    external_organization_id: &'a str,
    external_organization_name: &'a str,
    site_count: usize,
    agent_count: i64,
    sites: &'a [MappedSite],
    client_id: Option<&'a str>,
    auto_sync_assets: bool,
    default_contact_id: Option<&'a str>,
    missing_from_tactical: bool,
    missing_since: Option<&'a str>,
    last_synced_at: Option<&'a str>,
}

impl<'a> MappingRow<'a> {
    fn of(m: &'a OrgMapping) -> Self {
        Self {
            id: &m.external_organization_id,
            external_organization_id: &m.external_organization_id,
            external_organization_name: &m.external_organization_name,
            site_count: m.sites.len(),
            agent_count: m.agent_count,
            sites: &m.sites,
            client_id: m.client_id.as_deref(),
            auto_sync_assets: m.auto_sync_assets,
            default_contact_id: m.default_contact_id.as_deref(),
            missing_from_tactical: m.missing_since.is_some(),
            missing_since: m.missing_since.as_deref(),
            last_synced_at: m.last_synced_at.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Runs(RunRoute),
    Mappings,
    Mapping,
}

static ROUTES: LazyLock<Routes<Route>> = LazyLock::new(|| {
    runs_api::routes(Route::Runs).route("/mappings", &[Method::GET], Route::Mappings).route(
        "/mappings/{*mapping_id}",
        &[Method::PATCH],
        Route::Mapping,
    )
});

async fn route(deps: &Deps, req: &Request) -> Result<(u16, Value), ApiError> {
    let caller = http::caller(req, &deps.jwt)?;
    let path = route_path(req);
    let found = ROUTES.find(req.method(), &path)?;
    match found.route {
        Route::Runs(r) => runs_api::serve(deps, &caller, SyncType::Clients, r, found.param("run_id")).await,
        Route::Mappings => {
            caller.require(perms::SETTINGS_READ)?;
            let mappings = deps.store.list_org_mappings(&caller.tenant).await?;
            let mappings = mappings.iter().map(MappingRow::of).collect();
            Ok((200, http::to_body(&Mappings { mappings })?))
        }
        Route::Mapping => {
            caller.require(perms::SETTINGS_UPDATE)?;
            let id = found.param("mapping_id");
            if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::validation("mapping_id", "mapping ids are Tactical client ids (digits)"));
            }
            let patch: MappingPatch = parse_json(body_bytes(req)?)?;
            patch.validate()?;
            match deps.store.patch_org_mapping(&caller.tenant, id, &patch, &now_rfc3339()).await? {
                Some(m) => {
                    tracing::info!(user = %caller.user_id, mapping = id, "organization mapping updated");
                    Ok((200, http::to_body(&m)?))
                }
                None => Err(ApiError::new(
                    ErrorCode::NotFound,
                    "no organization mapping with this id; run Sync Clients first",
                )),
            }
        }
    }
}
