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
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::auth::{Caller, perms};
use shared::domain::audit::{AuditOutcome, AuditPage, AuditQuery, Via, is_audit_id};
use shared::domain::remote::{ActionAnswer, ActionError, ActionRequest, execute, parse_object};
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

/// `{ok: true, result}`.
#[derive(Debug, Serialize)]
pub struct Done {
    pub ok: bool,
    pub result: ActionAnswer,
}

impl Done {
    fn new(result: ActionAnswer) -> Self {
        Self { ok: true, result }
    }
}

/// `{ok: false, code, message, field?, vendor_status?}`: the use case's error, or the door's own
/// (token, route, body), as the caller sees it.
#[derive(Debug, Serialize)]
pub struct Failed {
    pub ok: bool,
    #[serde(flatten)]
    pub error: ApiError,
    /// Tactical's HTTP status, when Tactical answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_status: Option<u16>,
}

impl From<ApiError> for Failed {
    fn from(error: ApiError) -> Self {
        if error.code == ErrorCode::Internal {
            tracing::error!(message = %error.message, "remote actions request failed internally");
        }
        Self { ok: false, error, vendor_status: None }
    }
}

impl From<ActionError> for Failed {
    fn from(e: ActionError) -> Self {
        if e.code() == ErrorCode::Internal {
            tracing::error!(error = %error_chain(&e), "remote action failed internally");
        }
        let error = ApiError { code: e.code(), message: e.to_string(), field: e.field().map(str::to_owned) };
        Self { ok: false, error, vendor_status: e.vendor_status() }
    }
}

impl Failed {
    fn status(&self) -> u16 {
        self.error.status()
    }
}

/// The error with its sources, for the log.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The invocation's answer as JSON. Only a broken `Serialize` can fail; that is logged and
/// answered as an internal error, never as a silent null.
fn to_json<T: Serialize>(body: &T) -> Value {
    serde_json::to_value(body).unwrap_or_else(|e| {
        tracing::error!(error = %e, "remote action answer did not serialise");
        let internal = ApiError::internal();
        serde_json::json!({"ok": false, "code": "internal", "message": internal.message})
    })
}

/// What a function URL request answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Reply {
    Action(Box<Done>),
    Audit(AuditPage),
}

/// Lambda Invoke: always answers a JSON object (a workflow branches on `ok` and `code`; a
/// function error would only give it a string).
pub async fn direct(deps: &Deps, event: Value) -> Value {
    let ev: WorkflowEvent = match parse_object(&event, "event") {
        Ok(ev) => ev,
        Err(e) => return to_json(&Failed::from(e)),
    };
    let tenant = match TenantId::parse(&ev.tenant) {
        Ok(t) => t,
        Err(e) => return to_json(&Failed::from(ApiError::validation("tenant", e.to_string()))),
    };
    let user = ev.actor.user_id.trim();
    if user.is_empty() || user.len() > 256 {
        return to_json(&Failed::from(ApiError::validation(
            "actor.user_id",
            "the actor's user id is required (1–256 characters)",
        )));
    }
    if ev.correlation_id.as_ref().is_some_and(|c| c.len() > 256) {
        return to_json(&Failed::from(ApiError::validation("correlation_id", "at most 256 characters")));
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
        Ok(result) => to_json(&Done::new(result)),
        Err(e) => to_json(&Failed::from(e)),
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    match route(deps, &req).await {
        Ok(reply) => http::json(200, &reply),
        Err(failed) => http::json(failed.status(), &failed),
    }
}

async fn route(deps: &Deps, req: &Request) -> Result<Reply, Failed> {
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
        return Ok(Reply::Action(Box::new(Done::new(execute(deps, req).await?))));
    }
    match (path.as_str(), method) {
        ("/audit", Method::GET) => Ok(Reply::Audit(audit(deps, &caller, req).await?)),
        ("/audit", _) => Err(ApiError::new(ErrorCode::MethodNotAllowed, "use GET to read the audit log").into()),
        _ => Err(http::not_found().into()),
    }
}

async fn audit(deps: &Deps, caller: &Caller, req: &Request) -> Result<AuditPage, ApiError> {
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
        return Err(ApiError::validation("before", "not an audit id (use next_before of the previous page)"));
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
    Ok(deps.store.list_audit(&caller.tenant, &q).await?)
}

/// `a=1&b=x` (values percent-decoded; audit ids and numbers need nothing more).
fn url_pairs(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}
