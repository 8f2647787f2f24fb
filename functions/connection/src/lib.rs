//! `connection`: the settings page of the PSA (function URL, PSA JWT). Reads need
//! `system_settings:read`, changes `system_settings:update`.
//!
//! | method | path | permission | what |
//! |---|---|---|---|
//! | GET | /settings | read | settings with masked credentials, schedules, summary |
//! | PATCH, PUT | /settings | update | partial save (URL, auth mode, credentials, schedules) |
//! | POST | /test | update | test connection (TOTP code for Knox accounts with 2FA) |
//! | POST | /disconnect | update | clear secrets, mark inactive, keep mappings |
//! | GET | /webhook | read | webhook URL, header, URL actions (the secret only with update) |
//! | POST | /webhook/secret | update | create or rotate the webhook secret (old one kept 24 h) |

use lambda_glue::Deps;
use lambda_glue::http::{self, body_bytes, parse_json, route_path};
use lambda_glue::lambda::{Invocation, http_payload};
use lambda_glue::routes::Routes;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::ApiError;
use shared::auth::perms;
use shared::domain::connection::{ConnectionService, SaveSettings, TestRequest};
use shared::domain::summary::summary;
use shared::domain::webhook_settings;
use std::sync::LazyLock;

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Http(req) => Ok(http_payload(handle(deps, *req).await)),
        _ => Err("the connection function only serves its function URL".into()),
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    http::respond(route(deps, &req).await)
}

/// Body of `POST /webhook/secret` (optional).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    /// The old secret stops working at once instead of after the grace period (it leaked).
    #[serde(default)]
    revoke_previous: bool,
}

fn service(deps: &Deps) -> ConnectionService<'_> {
    ConnectionService::new(deps)
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Settings,
    SaveSettings,
    Test,
    Disconnect,
    Webhook,
    RotateSecret,
}

static ROUTES: LazyLock<Routes<Route>> = LazyLock::new(|| {
    Routes::new()
        .route("/settings", &[Method::GET], Route::Settings)
        .route("/settings", &[Method::PATCH, Method::PUT], Route::SaveSettings)
        .route("/test", &[Method::POST], Route::Test)
        .route("/disconnect", &[Method::POST], Route::Disconnect)
        .route("/webhook", &[Method::GET], Route::Webhook)
        .route("/webhook/secret", &[Method::POST], Route::RotateSecret)
});

async fn route(deps: &Deps, req: &Request) -> Result<(u16, Value), ApiError> {
    let caller = http::caller(req, &deps.jwt)?;
    let tenant = &caller.tenant;
    let path = route_path(req);
    let route = ROUTES.find(req.method(), &path)?.route;
    let svc = service(deps);
    match route {
        Route::Settings => {
            caller.require(perms::SETTINGS_READ)?;
            let settings = svc.settings(tenant).await?;
            let summary = summary(deps.store.as_ref(), tenant).await?;
            Ok((200, json_of(&SettingsView { settings: &settings, summary: &summary })?))
        }
        Route::SaveSettings => {
            caller.require(perms::SETTINGS_UPDATE)?;
            let body: SaveSettings = parse_json(body_bytes(req)?)?;
            svc.save(tenant, body).await?;
            let settings = svc.settings(tenant).await?;
            tracing::info!(user = %caller.user_id, "tactical settings saved");
            Ok((200, json_of(&settings)?))
        }
        Route::Test => {
            caller.require(perms::SETTINGS_UPDATE)?;
            let body: TestRequest = parse_json(body_bytes(req)?)?;
            let result = svc.test(tenant, body).await?;
            tracing::info!(user = %caller.user_id, success = result.success, "tactical connection tested");
            Ok((200, json_of(&result)?))
        }
        Route::Disconnect => {
            caller.require(perms::SETTINGS_UPDATE)?;
            svc.disconnect(tenant).await?;
            tracing::info!(user = %caller.user_id, "tactical disconnected");
            Ok((200, json_of(&Disconnected { disconnected: true, mappings_kept: true })?))
        }
        Route::Webhook => {
            caller.require(perms::SETTINGS_READ)?;
            // Reading never creates the secret (a reader must not mint one); only update permission
            // reveals it.
            let secret = deps.secrets.get(tenant, shared::ports::SecretName::WebhookSecret).await?;
            let integ = deps.store.get_integration(tenant).await?;
            if let Some(i) = &integ {
                webhook_settings::backfill_digests(deps.store.as_ref(), deps.secrets.as_ref(), tenant, i).await;
            }
            let reveal = caller.has(perms::SETTINGS_UPDATE);
            let info = webhook_settings::info(
                tenant,
                deps.config.webhook_base_url.as_deref(),
                secret.as_ref(),
                reveal,
                integ.and_then(|i| i.webhook_previous_valid_until),
            );
            Ok((200, json_of(&info)?))
        }
        Route::RotateSecret => {
            caller.require(perms::SETTINGS_UPDATE)?;
            let body: RotateRequest = parse_json(body_bytes(req)?)?;
            let fresh =
                webhook_settings::rotate(deps.store.as_ref(), deps.secrets.as_ref(), tenant, body.revoke_previous)
                    .await?;
            let integ = deps.store.get_integration(tenant).await?;
            tracing::info!(
                user = %caller.user_id,
                revoke_previous = body.revoke_previous,
                "webhook secret created or rotated"
            );
            let info = webhook_settings::info(
                tenant,
                deps.config.webhook_base_url.as_deref(),
                Some(&fresh),
                true,
                integ.and_then(|i| i.webhook_previous_valid_until),
            );
            Ok((200, json_of(&info)?))
        }
    }
}

fn json_of<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    http::to_body(v)
}

/// Answer of `POST /disconnect`.
#[derive(serde::Serialize)]
struct Disconnected {
    disconnected: bool,
    mappings_kept: bool,
}

/// Answer of `GET /settings`: the settings and the tenant's summary.
#[derive(serde::Serialize)]
struct SettingsView<'a, S: serde::Serialize, M: serde::Serialize> {
    #[serde(flatten)]
    settings: &'a S,
    summary: &'a M,
}
