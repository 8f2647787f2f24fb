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
use serde_json::{Value, json};
use shared::auth::perms;
use shared::domain::mapping::MappingPatch;
use shared::domain::time::now_rfc3339;
use shared::messages::SyncType;
use shared::{ApiError, ErrorCode};
use std::sync::LazyLock;

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Http(req) => Ok(http_payload(handle(deps, *req).await)),
        Invocation::Sqs(ev) => {
            Ok(serde_json::to_value(lambda_glue::worker::consume(deps, ev).await).unwrap_or_default())
        }
        _ => Err("sync-clients serves its function URL and its queue".into()),
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    http::respond(route(deps, &req).await)
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
            let rows: Vec<Value> = mappings
                .iter()
                .map(|m| {
                    json!({
                        "id": m.external_organization_id,
                        "external_organization_id": m.external_organization_id,
                        "external_organization_name": m.external_organization_name,
                        "site_count": m.sites.len(),
                        "agent_count": m.agent_count,
                        "sites": m.sites,
                        "client_id": m.client_id,
                        "auto_sync_assets": m.auto_sync_assets,
                        "default_contact_id": m.default_contact_id,
                        "missing_from_tactical": m.missing_since.is_some(),
                        "missing_since": m.missing_since,
                        "last_synced_at": m.last_synced_at,
                    })
                })
                .collect();
            Ok((200, json!({ "mappings": rows })))
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
                    Ok((200, serde_json::to_value(m).unwrap_or_default()))
                }
                None => Err(ApiError::new(
                    ErrorCode::NotFound,
                    "no organization mapping with this id; run Sync Clients first",
                )),
            }
        }
    }
}
