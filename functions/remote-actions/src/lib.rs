//! `remote-actions`: Enterprise remote actions for workflows (docs/remote-actions.md).
//!
//! Two doors, the same actions and rules:
//! - Lambda Invoke by the workflow engine with a JSON event
//!   `{tenant, actor: {user_id, permissions}, action, input, correlation_id?}`. Only the engine's
//!   IAM role may invoke the function, so the event is trusted to name the actor; the tenant id is
//!   still validated (every key leads with it).
//! - The function URL with the PSA's JWT (tenant and permissions from the token only):
//!
//! | method | path | permission | what |
//! |---|---|---|---|
//! | POST | /actions/{action} | the action's (`rmm:*`) | run one action; the body is its input |
//! | GET | /audit?limit=&before=&since=&action=&asset_id=&agent_id=&actor=&outcome= | rmm:audit_read | the tenant's audit records, newest first |
//!
//! Both answer `{ok: true, result}` or `{ok: false, code, message, field?, vendor_status?}`.

use lambda_glue::Deps;
use lambda_glue::http::{self, body_bytes, route_path};
use lambda_glue::lambda::{Invocation, http_payload};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::auth::{Caller, perms};
use shared::domain::audit::{AuditOutcome, AuditQuery, Via, is_audit_id};
use shared::domain::remote::{ActionError, ActionRequest, execute, parse_object};
use shared::{ApiError, ErrorCode, TenantId};

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Http(req) => Ok(http_payload(handle(deps, *req).await)),
        Invocation::Direct(event) => Ok(direct(deps, event).await),
        _ => Err("the remote-actions function serves Lambda Invoke events and its function URL".into()),
    }
}

/// The workflow engine's event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowEvent {
    pub tenant: String,
    pub actor: Actor,
    pub action: String,
    #[serde(default)]
    pub input: Value,
    /// The engine's run or step id, kept on the audit record.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// The tenant's entitlements, as the engine (trusted by IAM, like for the actor) knows them
    /// from the PSA; `rmm_remote_actions` is needed.
    #[serde(default)]
    pub entitlements: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub user_id: String,
    #[serde(default)]
    pub permissions: Vec<String>,
}

fn ok(result: Value) -> Value {
    json!({"ok": true, "result": result})
}

fn failed(e: &ActionError) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    v["ok"] = json!(false);
    v
}

/// Lambda Invoke: always answers a JSON object (a workflow branches on `ok` and `code`; a
/// function error would only give it a string).
pub async fn direct(deps: &Deps, event: Value) -> Value {
    let ev: WorkflowEvent = match parse_object(&event, "event") {
        Ok(ev) => ev,
        Err(e) => return failed(&e),
    };
    let tenant = match TenantId::parse(&ev.tenant) {
        Ok(t) => t,
        Err(e) => return failed(&ApiError::validation("tenant", e.to_string()).into()),
    };
    let user = ev.actor.user_id.trim();
    if user.is_empty() || user.len() > 256 {
        return failed(
            &ApiError::validation("actor.user_id", "the actor's user id is required (1–256 characters)").into(),
        );
    }
    if ev.correlation_id.as_ref().is_some_and(|c| c.len() > 256) {
        return failed(&ApiError::validation("correlation_id", "at most 256 characters").into());
    }
    let caller =
        Caller { tenant, user_id: user.to_owned(), permissions: ev.actor.permissions, entitlements: ev.entitlements };
    let req = ActionRequest {
        caller: &caller,
        via: Via::Workflow,
        correlation_id: ev.correlation_id,
        action: &ev.action,
        input: ev.input,
    };
    match execute(deps, req).await {
        Ok(result) => ok(result),
        Err(e) => {
            log_internal(&e);
            failed(&e)
        }
    }
}

fn log_internal(e: &ActionError) {
    if e.code == ErrorCode::Internal {
        tracing::error!(message = %e.message, "remote action failed internally");
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let (status, body) = match route(deps, &req).await {
        Ok(v) => (200, v),
        Err(e) => {
            log_internal(&e);
            (e.status(), failed(&e))
        }
    };
    http::json(status, &body)
}

async fn route(deps: &Deps, req: &Request) -> Result<Value, ActionError> {
    let caller = http::caller(req, &deps.jwt)?;
    let path = route_path(req);
    let method = req.method().clone();
    if let Some(action) = path.strip_prefix("/actions/") {
        if method != Method::POST {
            return Err(ApiError::new(ErrorCode::MethodNotAllowed, "use POST to run an action").into());
        }
        let bytes = body_bytes(req)?;
        let input: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(bytes).map_err(|_| {
                ApiError::validation("body", "the body is not valid JSON; send the action's input object")
            })?
        };
        let req = ActionRequest { caller: &caller, via: Via::FunctionUrl, correlation_id: None, action, input };
        return execute(deps, req).await.map(ok);
    }
    match (path.as_str(), method) {
        ("/audit", Method::GET) => audit(deps, &caller, req).await,
        ("/audit", _) => Err(ApiError::new(ErrorCode::MethodNotAllowed, "use GET to read the audit log").into()),
        _ => Err(http::not_found().into()),
    }
}

async fn audit(deps: &Deps, caller: &Caller, req: &Request) -> Result<Value, ActionError> {
    caller.require(perms::RMM_AUDIT_READ)?;
    let query: Vec<(String, String)> = req.uri().query().map(url_pairs).unwrap_or_default();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let limit = match get("limit") {
        None => 50,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=200).contains(l))
            .ok_or_else(|| ApiError::validation("limit", "limit must be between 1 and 200"))?,
    };
    let before = get("before");
    if before.is_some_and(|b| !is_audit_id(b)) {
        return Err(ApiError::validation("before", "not an audit id (use next_before of the previous page)").into());
    }
    let since = match get("since") {
        None => None,
        Some(t) => Some(
            shared::domain::time::parse_rfc3339(t)
                .ok_or_else(|| ApiError::validation("since", "not an RFC 3339 time, e.g. 2026-11-29T15:00:00Z"))?,
        ),
    };
    let text = |name: &'static str| -> Result<Option<String>, ApiError> {
        match get(name) {
            Some(v) if v.is_empty() || v.len() > 200 => Err(ApiError::validation(name, "must be 1 to 200 characters")),
            v => Ok(v.map(str::to_owned)),
        }
    };
    let outcome = match get("outcome") {
        None => None,
        Some(o) => Some(
            serde_json::from_value::<AuditOutcome>(Value::String(o.to_owned()))
                .map_err(|_| ApiError::validation("outcome", "must be pending, ok or error"))?,
        ),
    };
    let q = AuditQuery {
        limit,
        before: before.map(str::to_owned),
        since,
        action: text("action")?,
        asset_id: text("asset_id")?,
        agent_id: text("agent_id")?,
        actor_user_id: text("actor")?,
        outcome,
    };
    let page = deps.store.list_audit(&caller.tenant, &q).await?;
    Ok(serde_json::to_value(page).unwrap_or_default())
}

/// `a=1&b=x` (values percent-decoded; audit ids and numbers need nothing more).
fn url_pairs(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}
