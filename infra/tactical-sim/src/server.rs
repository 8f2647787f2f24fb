//! The HTTP layer: Django middleware + DRF view behaviour.

// Handlers short-circuit with a finished `Response` as the error value (like DRF exceptions).
#![allow(clippy::result_large_err)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::model::*;
use crate::routes::{self, Matched, RouteKind};
use crate::rows;
use crate::state::{ActionWait, Data, Fault, RequestRecord, SimState, ThrottleScope};
use crate::util::{self, Iso};
use crate::{Role, totp};

pub(crate) fn spawn(listener: TcpListener, state: SimState) -> JoinHandle<()> {
    let app = Router::new().fallback(handle).with_state(state.clone());
    tokio::spawn(async move {
        let st = state.clone();
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { st.wait_shutdown().await })
            .await;
    })
}

// ------------------------------------------------------------------------------------------
// Canned bodies

pub(crate) const HTML_404: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n";
pub(crate) const HTML_500: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";
pub(crate) const SPA_INDEX: &str = "<!DOCTYPE html><html><head><title>Tactical RMM</title><meta charset=utf-8><meta name=description content=\"Tactical RMM\"><meta name=format-detection content=\"telephone=no\"><meta name=msapplication-tap-highlight content=no><meta name=viewport content=\"user-scalable=no,initial-scale=1,maximum-scale=1,minimum-scale=1,width=device-width\"><link rel=icon type=image/png sizes=32x32 href=favicon-32x32.png><script type=module crossorigin src=/assets/index.js></script><link rel=stylesheet crossorigin href=/assets/index.css></head><body><div id=q-app></div></body></html>\n";

fn nginx_page(code: u16) -> String {
    let reason = StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

// ------------------------------------------------------------------------------------------
// Response helpers

fn with_body(status: StatusCode, ct: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    with_body(status, "application/json", bytes)
}

fn json_resp<T: Serialize + ?Sized>(status: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => json_bytes(status, b),
        Err(_) => server_error(),
    }
}

fn ok<T: Serialize + ?Sized>(v: &T) -> Response {
    json_resp(StatusCode::OK, v)
}

fn detail(status: StatusCode, msg: &str) -> Response {
    json_resp(status, &json!({ "detail": msg }))
}

/// `notify_error()`: 400 with a bare JSON string.
fn notify_error(msg: &str) -> Response {
    json_resp(StatusCode::BAD_REQUEST, msg)
}

fn not_found(model: &str) -> Response {
    detail(StatusCode::NOT_FOUND, &format!("No {model} matches the given query."))
}

fn forbidden() -> Response {
    detail(StatusCode::FORBIDDEN, "You do not have permission to perform this action.")
}

fn unauthorized(msg: &str) -> Response {
    let mut r = detail(StatusCode::UNAUTHORIZED, msg);
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
    r
}

fn server_error() -> Response {
    with_body(StatusCode::INTERNAL_SERVER_ERROR, "text/html; charset=utf-8", HTML_500)
}

fn html_404() -> Response {
    with_body(StatusCode::NOT_FOUND, "text/html; charset=utf-8", HTML_404)
}

fn spa() -> Response {
    with_body(StatusCode::OK, "text/html", SPA_INDEX)
}

fn throttled(wait: u64) -> Response {
    let unit = if wait == 1 { "second" } else { "seconds" };
    let mut r =
        detail(StatusCode::TOO_MANY_REQUESTS, &format!("Request was throttled. Expected available in {wait} {unit}."));
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
    r
}

// ------------------------------------------------------------------------------------------
// Request context

struct Ctx {
    method: Method,
    path: String,
    raw_query: Option<String>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    remote: IpAddr,
    body: Bytes,
    host: String,
}

impl Ctx {
    /// Django `QueryDict.get` (last value).
    fn q(&self, k: &str) -> Option<&str> {
        self.query.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }
    fn has_q(&self, k: &str) -> bool {
        self.query.iter().any(|(key, _)| key == k)
    }
    /// DRF `request.data`. Errors are complete responses (400 parse error / 415).
    fn data(&self) -> Result<Value, Response> {
        if self.body.is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        let ct =
            self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        if ct.starts_with("application/json") {
            serde_json::from_slice(&self.body)
                .map_err(|e| detail(StatusCode::BAD_REQUEST, &format!("JSON parse error - {e}")))
        } else if ct.starts_with("application/x-www-form-urlencoded") {
            let s = String::from_utf8_lossy(&self.body);
            let mut m = serde_json::Map::new();
            for (k, v) in util::parse_query(&s) {
                m.insert(k, Value::String(v));
            }
            Ok(Value::Object(m))
        } else {
            let shown = self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            Err(detail(StatusCode::UNSUPPORTED_MEDIA_TYPE, &format!("Unsupported media type \"{shown}\" in request.")))
        }
    }
}

/// `request.data[key]` — a missing key (or non-dict body) is a Python KeyError ⇒ HTML 500.
fn req<'a>(data: &'a Value, key: &str) -> Result<&'a Value, Response> {
    data.as_object().and_then(|m| m.get(key)).ok_or_else(server_error)
}

fn has_key(data: &Value, key: &str) -> bool {
    data.as_object().is_some_and(|m| m.contains_key(key))
}

/// Python `str(value)` for a JSON value (strings as-is).
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// Python `int(value)`; failure ⇒ 500.
fn py_int(v: &Value) -> Result<i64, Response> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)).ok_or_else(server_error),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| server_error()),
        Value::Bool(b) => Ok(i64::from(*b)),
        _ => Err(server_error()),
    }
}

/// Python truthiness.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

// ------------------------------------------------------------------------------------------
// Entry point

async fn handle(State(st): State<SimState>, req: Request) -> Response {
    let remote =
        req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    let matched = routes::classify(&path, st.beta_enabled());
    let kind = matched.as_ref().map(|m| m.kind);
    st.count_request(kind);
    let credential = if parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split_whitespace().next().is_some_and(|p| p.eq_ignore_ascii_case("token")))
    {
        Some("knox")
    } else if parts.headers.contains_key("x-api-key") {
        Some("api_key")
    } else {
        None
    };
    let fault = st.take_fault(kind, &path, raw_query.as_deref());
    let mut rec = RequestRecord {
        method: parts.method.to_string(),
        path: path.clone(),
        query: raw_query.clone(),
        route: kind,
        status: 0,
        credential,
        fault: fault.clone(),
    };

    // Faults that replace the handler.
    let early = match &fault {
        Some(Fault::Latency(d)) => {
            tokio::time::sleep(*d).await;
            None
        }
        Some(Fault::Status5xx(code)) => {
            let code = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(if code == StatusCode::INTERNAL_SERVER_ERROR {
                server_error()
            } else {
                with_body(code, "text/html", nginx_page(code.as_u16()))
            })
        }
        Some(Fault::TooManyRequests { retry_after_secs }) => Some(throttled(*retry_after_secs)),
        Some(Fault::DashboardHtml) => Some(spa()),
        Some(Fault::Hang) => {
            st.log_request(rec);
            st.wait_shutdown().await;
            return with_body(StatusCode::SERVICE_UNAVAILABLE, "text/html", nginx_page(503));
        }
        _ => None,
    };
    if let Some(resp) = early {
        rec.status = resp.status().as_u16();
        st.log_request(rec);
        return resp;
    }

    let resp = if st.dashboard_mode() {
        spa()
    } else {
        let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
            Ok(b) => b,
            Err(_) => Bytes::new(),
        };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| "127.0.0.1".to_string());
        let ctx = Ctx {
            method: parts.method.clone(),
            query: raw_query.as_deref().map(util::parse_query).unwrap_or_default(),
            path,
            raw_query,
            headers: parts.headers,
            remote,
            body,
            host,
        };
        dispatch(&st, &ctx, matched).await
    };

    let resp = match fault {
        Some(Fault::MalformedJson) => malformed(resp).await,
        Some(Fault::ResetMidBody) => reset_mid_body(resp).await,
        Some(Fault::Rewrite(sets)) => rewrite(resp, &sets).await,
        Some(Fault::EndlessBody) => endless_body(kind == Some(RouteKind::BetaAgents)),
        _ => resp,
    };
    rec.status = resp.status().as_u16();
    st.log_request(rec);
    resp
}

async fn rewrite(resp: Response, sets: &[(String, Value)]) -> Response {
    if !resp.status().is_success() {
        return resp;
    }
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap_or_default();
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
        return json_bytes(status, bytes.to_vec());
    };
    for (pointer, value) in sets {
        let parts: Vec<&str> = pointer.split('/').skip(1).collect();
        put_at(&mut v, &parts, value);
    }
    json_bytes(status, serde_json::to_vec(&v).unwrap_or_default())
}

/// Sets `value` at the pointer `parts` (`*`: every array element); missing object keys are added.
fn put_at(v: &mut Value, parts: &[&str], value: &Value) {
    let Some((first, rest)) = parts.split_first() else {
        *v = value.clone();
        return;
    };
    match v {
        Value::Array(items) if *first == "*" => items.iter_mut().for_each(|i| put_at(i, rest, value)),
        Value::Array(items) => {
            if let Some(i) = first.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                put_at(i, rest, value);
            }
        }
        Value::Object(m) => put_at(m.entry(first.to_string()).or_insert(Value::Null), rest, value),
        _ => {}
    }
}

/// `[{"id":0,...},{"id":1,...},` forever, in 64 KB chunks, without a Content-Length.
/// An answer that never ends: a list of small rows, inside a DRF page head for paged routes (so a
/// client that reads pages row by row meets the endless rows, not a missing head).
fn endless_body(page: bool) -> Response {
    let row = format!("{{\"id\":1,\"agent_id\":\"{}\",\"hostname\":\"x\"}},", "A".repeat(40));
    let chunk = Bytes::from(row.repeat(64 * 1024 / row.len()));
    let head: &'static [u8] = if page { b"{\"count\":1,\"next\":null,\"previous\":null,\"results\":[" } else { b"[" };
    let stream = futures::stream::iter(
        std::iter::once(Bytes::from_static(head)).chain(std::iter::repeat(chunk)).map(Ok::<Bytes, std::io::Error>),
    );
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

async fn malformed(resp: Response) -> Response {
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap_or_default();
    let cut = if bytes.len() < 2 { Bytes::from_static(b"{\"detail\": ") } else { bytes.slice(..bytes.len() / 2) };
    json_bytes(StatusCode::OK, cut.to_vec())
}

async fn reset_mid_body(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let bytes = if bytes.len() < 2 { Bytes::from_static(b"{\"detail\": \"truncated\"}") } else { bytes };
    let total = bytes.len();
    let first = bytes.slice(..total / 2);
    let stream = futures::stream::unfold(0u8, move |step| {
        let first = first.clone();
        async move {
            match step {
                0 => Some((Ok::<Bytes, std::io::Error>(first), 1)),
                1 => {
                    // let hyper flush the first half before failing the body
                    tokio::time::sleep(StdDuration::from_millis(50)).await;
                    Some((Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "simulated reset")), 2))
                }
                _ => None,
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = StatusCode::OK;
    let ct = parts.headers.get(header::CONTENT_TYPE).cloned().unwrap_or(HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CONTENT_TYPE, ct);
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    r
}

async fn dispatch(st: &SimState, ctx: &Ctx, matched: Option<Matched>) -> Response {
    let Some(m) = matched else {
        // Django CommonMiddleware APPEND_SLASH
        if !ctx.path.ends_with('/') && routes::classify(&format!("{}/", ctx.path), st.beta_enabled()).is_some() {
            let loc = match &ctx.raw_query {
                Some(q) => format!("{}/?{}", ctx.path, q),
                None => format!("{}/", ctx.path),
            };
            let mut r = with_body(StatusCode::MOVED_PERMANENTLY, "text/html; charset=utf-8", Body::empty());
            if let Ok(v) = HeaderValue::from_str(&loc) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut().insert(header::VARY, HeaderValue::from_static("origin"));
            return r;
        }
        return html_404();
    };
    if m.kind == RouteKind::Root || m.kind == RouteKind::CoreVersion {
        let mut r = if m.kind == RouteKind::Root { ok(&json!({"status": "ok"})) } else { ok("0.0.203") };
        r.headers_mut().insert(header::VARY, HeaderValue::from_static("origin"));
        return r;
    }
    let mut resp = drf(st, ctx, &m).await;
    if resp.status() != StatusCode::INTERNAL_SERVER_ERROR {
        let h = resp.headers_mut();
        h.insert(header::ALLOW, HeaderValue::from_static(m.kind.allow()));
        h.insert(header::VARY, HeaderValue::from_static("Accept, origin"));
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
        h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
        h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    }
    resp
}

// ------------------------------------------------------------------------------------------
// Authentication and permissions

struct Principal {
    role: Role,
    username: Option<String>,
    token: Option<String>,
}

fn authenticate(st: &SimState, headers: &HeaderMap, knox_only: bool) -> Result<Option<Principal>, Response> {
    if let Some(h) = headers.get(header::AUTHORIZATION) {
        let raw = String::from_utf8_lossy(h.as_bytes()).to_string();
        let parts: Vec<&str> = raw.split_whitespace().collect();
        if parts.first().is_some_and(|p| p.eq_ignore_ascii_case("token")) {
            if parts.len() == 1 {
                return Err(unauthorized("Invalid token header. No credentials provided."));
            }
            if parts.len() > 2 {
                return Err(unauthorized("Invalid token header. Token string should not contain spaces."));
            }
            let token = parts[1];
            let t = st.now();
            let mut a = st.auth();
            let knox = a.knox;
            let user = match a.tokens.get_mut(token) {
                Some(tok) if tok.expiry > t => {
                    // AUTO_REFRESH: a use pushes expiry to now + TOKEN_TTL, saved only when that
                    // moves it by more than MIN_REFRESH_INTERVAL (knox `renew_token`).
                    let renewed = t + knox.token_ttl;
                    if renewed - tok.expiry > knox.min_refresh_interval {
                        tok.expiry = renewed;
                    }
                    Some(tok.username.clone())
                }
                _ => None,
            };
            let Some(username) = user else {
                a.tokens.remove(token);
                return Err(unauthorized("Invalid token."));
            };
            let role = a.users.iter().find(|u| u.username == username).map(|u| u.role.clone());
            return match role {
                Some(role) => Ok(Some(Principal { role, username: Some(username), token: Some(token.to_string()) })),
                None => Err(unauthorized("User inactive or deleted.")),
            };
        }
    }
    if knox_only {
        return Ok(None);
    }
    if let Some(k) = headers.get("x-api-key") {
        let key = String::from_utf8_lossy(k.as_bytes()).to_string();
        if key.is_empty() {
            return Ok(None);
        }
        let a = st.auth();
        return match a.api_keys.iter().find(|x| x.key == key) {
            None => Err(unauthorized("Invalid token.")),
            Some(x) if x.expired => Err(unauthorized("The token has expired.")),
            Some(x) => Ok(Some(Principal { role: x.role.clone(), username: None, token: None })),
        };
    }
    Ok(None)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    List,
    Act,
}

fn role_allows(role: &Role, need: Need) -> bool {
    match role {
        Role::Full | Role::Clients(_) => true,
        Role::ReadOnly => need == Need::List,
    }
}

fn in_scope(role: &Role, client_id: i64) -> bool {
    match role {
        Role::Clients(ids) => ids.contains(&client_id),
        _ => true,
    }
}

/// DRF `AnonRateThrottle` with per-minute and per-day rates. Returns the wait in seconds when throttled.
fn throttle(st: &SimState, scope: ThrottleScope, ip: IpAddr) -> Option<u64> {
    let t = st.now();
    let mut a = st.auth();
    let cfg = a.throttle;
    let mut waits: Vec<f64> = Vec::new();
    for (is_day, rate, dur) in [(false, cfg.per_minute, 60.0), (true, cfg.per_day, 86_400.0)] {
        let h = a.history.entry((scope, ip, is_day)).or_default();
        while h.back().is_some_and(|last| (t - *last).as_seconds_f64() >= dur) {
            h.pop_back();
        }
        if h.len() >= rate as usize {
            let remaining = match h.back() {
                Some(last) => dur - (t - *last).as_seconds_f64(),
                None => dur,
            };
            let available = rate as i64 - h.len() as i64 + 1;
            if available > 0 {
                waits.push(remaining / available as f64);
            }
        } else {
            h.push_front(t);
        }
    }
    waits.into_iter().reduce(f64::max).map(|w| w.ceil().max(0.0) as u64)
}

async fn action_wait(st: &SimState, realistic: StdDuration) {
    match st.action_wait() {
        ActionWait::Instant => {}
        ActionWait::Fixed(d) => tokio::time::sleep(d).await,
        ActionWait::Realistic => tokio::time::sleep(realistic).await,
    }
}

// ------------------------------------------------------------------------------------------
// DRF views

async fn drf(st: &SimState, ctx: &Ctx, m: &Matched) -> Response {
    use RouteKind::*;
    let knox_only = matches!(m.kind, Logout | LogoutAll);
    let principal = match authenticate(st, &ctx.headers, knox_only) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let anonymous_ok = matches!(m.kind, CheckCreds | Login);
    let principal = match (principal, anonymous_ok) {
        (Some(p), _) => Some(p),
        (None, true) => None,
        (None, false) => return unauthorized("Authentication credentials were not provided."),
    };
    let method = if ctx.method == Method::HEAD { Method::GET } else { ctx.method.clone() };
    let allow = m.kind.allow();
    if method == Method::OPTIONS {
        return ok(&json!({
            "name": format!("{:?}", m.kind),
            "description": "",
            "renders": ["application/json"],
            "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]
        }));
    }
    if !allow.split(", ").any(|a| a == method.as_str()) {
        return detail(StatusCode::METHOD_NOT_ALLOWED, &format!("Method \"{}\" not allowed.", ctx.method));
    }
    match (m.kind, principal) {
        (CheckCreds, p) => checkcreds(st, ctx, p.is_some()),
        (Login, p) => login(st, ctx, p.is_some()),
        (_, None) => unauthorized("Authentication credentials were not provided."),
        (kind, Some(p)) => {
            let param = m.param.as_deref().unwrap_or("");
            match (kind, &method) {
                (Logout, _) => {
                    if let Some(t) = &p.token {
                        st.auth().tokens.remove(t);
                    }
                    let mut r = Response::new(Body::empty());
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    r
                }
                (LogoutAll, _) => {
                    if let Some(u) = &p.username {
                        st.auth().tokens.retain(|_, t| &t.username != u);
                    }
                    let mut r = Response::new(Body::empty());
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    r
                }
                (Clients, _) => clients_list(st, &p),
                (Client, _) => client_detail(st, &p, param),
                (Sites, _) => sites_list(st, &p),
                (Site, _) => site_detail(st, &p, param),
                (Agents, _) => {
                    let mut cost = StdDuration::ZERO;
                    let resp = agents_list(st, ctx, &p, &mut cost);
                    tokio::time::sleep(cost).await;
                    resp
                }
                (Agent, &Method::GET) => agent_detail(st, &p, param),
                (Agent, &Method::PUT) => agent_update(st, ctx, &p, param),
                (Agent, _) => agent_delete(st, &p, param),
                (AgentCmd, _) => agent_cmd(st, ctx, &p, param).await,
                (AgentRunScript, _) => agent_runscript(st, ctx, &p, param).await,
                (AgentReboot, &Method::POST) => agent_reboot(st, &p, param).await,
                (AgentReboot, _) => agent_sched_reboot(st, ctx, &p, param).await,
                (AgentPing, _) => agent_ping(st, &p, param),
                (AgentHistory, _) => agent_history(st, &p, param),
                (Alerts, &Method::PATCH) => alerts_list(st, ctx, &p),
                (Alerts, _) => alerts_create(st, ctx, &p),
                (Alert, &Method::GET) => alert_detail(st, &p, param),
                (Alert, &Method::PUT) => alert_update(st, ctx, &p, param),
                (Alert, _) => alert_delete(st, &p, param),
                (AlertsBulk, _) => alerts_bulk(st, ctx, &p),
                (Software, _) => software_list(st, &p),
                (AgentSoftware, &Method::GET) => agent_software(st, &p, param),
                (AgentSoftware, _) => agent_software_refresh(st, &p, param).await,
                (Scripts, _) => scripts_list(st, ctx),
                (BetaRoot, _) => ok(&json!({
                    "agent": format!("http://{}/beta/v1/agent/", ctx.host),
                    "client": format!("http://{}/beta/v1/client/", ctx.host),
                    "site": format!("http://{}/beta/v1/site/", ctx.host),
                })),
                (BetaAgents, _) => {
                    let mut cost = StdDuration::ZERO;
                    let resp = beta_agents(st, ctx, &mut cost);
                    tokio::time::sleep(cost).await;
                    resp
                }
                (BetaAgent, &Method::GET) => beta_agent_detail(st, param),
                (BetaAgent, _) => server_error(),
                (BetaClients, _) => beta_clients(st),
                (BetaClient, _) => beta_client_detail(st, param),
                (BetaSites, _) => beta_sites(st, ctx),
                (BetaSite, _) => beta_site_detail(st, param),
                (Root | CoreVersion | CheckCreds | Login, _) => html_404(),
            }
        }
    }
}

// ---- accounts ------------------------------------------------------------------------

fn checkcreds(st: &SimState, ctx: &Ctx, authenticated: bool) -> Response {
    if !authenticated && let Some(wait) = throttle(st, ThrottleScope::CheckCreds, ctx.remote) {
        return throttled(wait);
    }
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let username = match req(&data, "username") {
        Ok(v) => py_str(v),
        Err(r) => return r,
    };
    let password = data.get("password").map(py_str).unwrap_or_default();
    let user = {
        let a = st.auth();
        a.users.iter().find(|u| u.username == username && u.password == password).cloned()
    };
    let Some(user) = user else {
        return notify_error("Bad credentials");
    };
    if user.totp_secret.as_ref().is_some_and(|s| !s.is_empty()) {
        return ok(&json!({"totp": true}));
    }
    let (token, expiry) = st.new_token(&user.username, st.knox_times().checkcreds_ttl);
    ok(&json!({"expiry": Iso(expiry), "token": token, "totp": false}))
}

fn login(st: &SimState, ctx: &Ctx, authenticated: bool) -> Response {
    if !authenticated && let Some(wait) = throttle(st, ThrottleScope::Login, ctx.remote) {
        return throttled(wait);
    }
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    // AuthTokenSerializer
    let mut errors = serde_json::Map::new();
    for k in ["username", "password"] {
        if !data.get(k).is_some_and(|v| !v.is_null() && !py_str(v).is_empty()) {
            errors.insert(k.to_string(), json!(["This field is required."]));
        }
    }
    if !errors.is_empty() {
        return json_resp(StatusCode::BAD_REQUEST, &Value::Object(errors));
    }
    let username = data.get("username").map(py_str).unwrap_or_default();
    let password = data.get("password").map(py_str).unwrap_or_default();
    let user = {
        let a = st.auth();
        a.users.iter().find(|u| u.username == username && u.password == password).cloned()
    };
    let Some(user) = user else {
        return json_resp(
            StatusCode::BAD_REQUEST,
            &json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
        );
    };
    let code = match req(&data, "twofactor") {
        Ok(v) => py_str(v),
        Err(r) => return r,
    };
    let Some(secret) = user.totp_secret.as_ref().filter(|s| !s.is_empty()) else {
        // pyotp.TOTP(None) blows up
        return server_error();
    };
    // The wall clock, not the simulated one: the code comes from the client's real clock.
    let unix = OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    if !totp::verify(secret, &code, unix, 10) {
        return notify_error("Bad credentials");
    }
    let (token, expiry) = st.new_token(&user.username, st.knox_times().token_ttl);
    ok(&json!({"expiry": Iso(expiry), "token": token, "username": user.username, "name": null}))
}

// ---- clients / sites -------------------------------------------------------------------

fn clients_list(st: &SimState, p: &Principal) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    let mut clients: Vec<&crate::model::Client> = d.clients.values().filter(|c| in_scope(&p.role, c.id)).collect();
    clients.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let out: Vec<_> = clients.into_iter().map(|c| rows::client_row(&d, c, &agg)).collect();
    ok(&out)
}

fn client_detail(st: &SimState, p: &Principal, param: &str) -> Response {
    let d = st.read();
    let Some(c) = param.parse::<i64>().ok().and_then(|id| d.clients.get(&id)) else {
        return not_found("Client");
    };
    if !in_scope(&p.role, c.id) {
        return forbidden();
    }
    let agg = rows::site_aggregates(&d);
    ok(&rows::client_row(&d, c, &agg))
}

fn sorted_sites(d: &Data) -> Vec<&crate::model::Site> {
    let mut sites: Vec<&crate::model::Site> = d.sites.values().collect();
    sites.sort_by(|a, b| {
        let ca = &d.clients[&a.client_id].name;
        let cb = &d.clients[&b.client_id].name;
        ca.cmp(cb).then(a.name.cmp(&b.name)).then(a.id.cmp(&b.id))
    });
    sites
}

fn sites_list(st: &SimState, p: &Principal) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    let out: Vec<_> = sorted_sites(&d)
        .into_iter()
        .filter(|s| in_scope(&p.role, s.client_id))
        .map(|s| rows::site_row(&d, s, Some(&agg), false))
        .collect();
    ok(&out)
}

fn site_detail(st: &SimState, p: &Principal, param: &str) -> Response {
    let d = st.read();
    let Some(s) = param.parse::<i64>().ok().and_then(|id| d.sites.get(&id)) else {
        return not_found("Site");
    };
    if !in_scope(&p.role, s.client_id) {
        return forbidden();
    }
    let agg = rows::site_aggregates(&d);
    ok(&rows::site_row(&d, s, Some(&agg), false))
}

// ---- agents -----------------------------------------------------------------------------

/// `cost`: the time Tactical spends on the rows served (see `SimConfig::row_cost`).
fn agents_list(st: &SimState, ctx: &Ctx, p: &Principal, cost: &mut StdDuration) -> Response {
    let mt = match ctx.q("monitoring_type") {
        Some(v) if !v.is_empty() => match MonitoringType::parse(v) {
            Some(m) => Some(m),
            None => return notify_error("monitoring type does not exist"),
        },
        _ => None,
    };
    let (site, client) = if ctx.has_q("site") {
        match ctx.q("site").unwrap_or("").parse::<i64>() {
            Ok(s) => (Some(s), None),
            Err(_) => return server_error(),
        }
    } else if ctx.has_q("client") {
        match ctx.q("client").unwrap_or("").parse::<i64>() {
            Ok(c) => (None, Some(c)),
            Err(_) => return server_error(),
        }
    } else {
        (None, None)
    };
    let full = ctx.q("detail").is_none_or(|v| v == "true");
    let d = st.read();
    let t = st.now();
    let iter = d.agents.iter().filter(|a| {
        let cid = d.client_of(a);
        in_scope(&p.role, cid)
            && mt.is_none_or(|m| a.monitoring_type == m)
            && site.is_none_or(|s| a.site_id == s)
            && client.is_none_or(|c| cid == c)
    });
    let per_row = st.row_cost();
    if full {
        let out: Vec<_> = iter.map(|a| rows::agent_table(&d, a, t)).collect();
        *cost = per_row * out.len() as u32;
        ok(&out)
    } else {
        let out: Vec<_> = iter.map(|a| rows::agent_slim(&d, a)).collect();
        *cost = per_row / 8 * out.len() as u32;
        ok(&out)
    }
}

/// Resolve an agent for an agent-scoped view: unknown ⇒ 404, out of scope ⇒ 403.
fn scoped_agent<'a>(d: &'a Data, p: &Principal, agent_id: &str) -> Result<&'a crate::model::Agent, Response> {
    let a = d.agent(agent_id).ok_or_else(|| not_found("Agent"))?;
    if !in_scope(&p.role, d.client_of(a)) {
        return Err(forbidden());
    }
    Ok(a)
}

fn agent_detail(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    let d = st.read();
    match scoped_agent(&d, p, agent_id) {
        Ok(a) => ok(&rows::agent_detail(&d, a, st.now())),
        Err(r) => r,
    }
}

fn agent_update(st: &SimState, ctx: &Ctx, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let mut d = st.write();
    if let Err(r) = scoped_agent(&d, p, agent_id) {
        return r;
    }
    if let Some(site) = data.get("site") {
        let ok_site = site.as_i64().filter(|s| d.sites.contains_key(s));
        match ok_site {
            Some(_) => {}
            None => {
                return json_resp(
                    StatusCode::BAD_REQUEST,
                    &json!({"site": [format!("Invalid pk \"{}\" - object does not exist.", py_str(site))]}),
                );
            }
        }
    }
    if let Some(mt) = data.get("monitoring_type").and_then(Value::as_str)
        && MonitoringType::parse(mt).is_none()
    {
        return json_resp(
            StatusCode::BAD_REQUEST,
            &json!({"monitoring_type": [format!("\"{mt}\" is not a valid choice.")]}),
        );
    }
    let Some(i) = d.idx_by_agent_id(agent_id) else {
        return not_found("Agent");
    };
    let ip = data.get("site").and_then(Value::as_i64).map(crate::fleet::public_ip_for_site);
    let a = &mut d.agents[i];
    if let Some(s) = data.get("site").and_then(Value::as_i64) {
        a.site_id = s;
        if let Some(ip) = ip {
            a.public_ip = ip;
        }
    }
    if let Some(v) = data.get("maintenance_mode").and_then(Value::as_bool) {
        a.maintenance_mode = v;
    }
    if let Some(v) = data.get("description").and_then(Value::as_str) {
        a.description = v.to_string();
    }
    if let Some(v) = data.get("monitoring_type").and_then(Value::as_str).and_then(MonitoringType::parse) {
        a.monitoring_type = v;
    }
    if let Some(v) = data.get("offline_time").and_then(Value::as_i64) {
        a.offline_time = v;
    }
    if let Some(v) = data.get("overdue_time").and_then(Value::as_i64) {
        a.overdue_time = v;
    }
    if let Some(v) = data.get("check_interval").and_then(Value::as_i64) {
        a.check_interval = v;
    }
    if let Some(v) = data.get("time_zone") {
        a.time_zone = v.as_str().map(str::to_string);
    }
    for (k, field) in [("overdue_email_alert", 0), ("overdue_text_alert", 1), ("overdue_dashboard_alert", 2)] {
        if let Some(v) = data.get(k).and_then(Value::as_bool) {
            match field {
                0 => a.overdue_email_alert = v,
                1 => a.overdue_text_alert = v,
                _ => a.overdue_dashboard_alert = v,
            }
        }
    }
    a.modified_time = st.now();
    ok("The agent was updated successfully")
}

fn agent_delete(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let host = {
        let d = st.read();
        match scoped_agent(&d, p, agent_id) {
            Ok(a) => a.hostname.clone(),
            Err(r) => return r,
        }
    };
    let _ = st.remove_agent(agent_id);
    ok(&format!("{host} will now be uninstalled."))
}

/// Whether the agent answers NATS requests at `t` (an online agent is connected).
fn reachable(a: &crate::model::Agent, t: OffsetDateTime) -> bool {
    a.status(t) == AgentStatus::Online
}

fn fake_cmd_output(a: &crate::model::Agent, shell: &str, cmd: &str) -> String {
    let nl = if a.plat == Plat::Windows { "\r\n" } else { "\n" };
    let c = cmd.trim();
    let lower = c.to_ascii_lowercase();
    if let Some(rest) = c.strip_prefix("echo ").or_else(|| c.strip_prefix("Write-Output ")) {
        return format!("{}{nl}", rest.trim().trim_matches('"').trim_matches('\''));
    }
    match lower.as_str() {
        "hostname" => format!("{}{nl}", a.hostname),
        "whoami" => {
            let u = if a.logged_in_username == "None" { "nt authority\\system" } else { &a.logged_in_username };
            format!("{u}{nl}")
        }
        _ => format!("[{}] {shell}: {c}{nl}exit status 0{nl}", a.hostname),
    }
}

async fn agent_cmd(st: &SimState, ctx: &Ctx, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let (host_ok, output, timeout, agent_pk, cmd) = {
        let d = st.read();
        let a = match scoped_agent(&d, p, agent_id) {
            Ok(a) => a,
            Err(r) => return r,
        };
        let data = match ctx.data() {
            Ok(d) => d,
            Err(r) => return r,
        };
        let shell = match req(&data, "shell") {
            Ok(v) => py_str(v),
            Err(r) => return r,
        };
        let shell = if shell == "custom" {
            match req(&data, "custom_shell") {
                Ok(v) => py_str(v),
                Err(r) => return r,
            }
        } else {
            shell
        };
        let cmd = match req(&data, "cmd") {
            Ok(v) => py_str(v),
            Err(r) => return r,
        };
        let timeout = match req(&data, "timeout").and_then(py_int) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if let Err(r) = req(&data, "run_as_user") {
            return r;
        }
        (reachable(a, st.now()), fake_cmd_output(a, &shell, &cmd), timeout, a.pk, cmd)
    };
    let ran = st.nats_up() && host_ok;
    let user = p.username.clone().unwrap_or_else(|| "api".into());
    add_history(st, agent_pk, "cmd_run", Some(cmd), None, &user, ran.then(|| (output.clone(), String::new(), 0, 0.1)));
    if !st.nats_up() {
        action_wait(st, StdDuration::from_secs(4)).await;
        return ok("natsdown");
    }
    if !host_ok {
        action_wait(st, StdDuration::from_secs(timeout.max(0) as u64 + 2)).await;
        return notify_error("Unable to contact the agent");
    }
    ok(&output)
}

async fn agent_runscript(st: &SimState, ctx: &Ctx, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let (host_ok, agent_pk, script_ref, outcome, forget_msg, mode, timeout) = {
        let d = st.read();
        let a = match scoped_agent(&d, p, agent_id) {
            Ok(a) => a,
            Err(r) => return r,
        };
        let data = match ctx.data() {
            Ok(d) => d,
            Err(r) => return r,
        };
        let script_id = match req(&data, "script") {
            Ok(v) => v,
            Err(r) => return r,
        };
        let script = match script_id.as_i64().or_else(|| script_id.as_str().and_then(|s| s.parse().ok())) {
            Some(id) => d.scripts.iter().find(|s| s.id == id),
            None => return server_error(),
        };
        let Some(script) = script else {
            return not_found("Script");
        };
        let mut vals = Vec::new();
        for k in ["output", "args", "run_as_user", "env_vars", "timeout"] {
            match req(&data, k) {
                Ok(v) => vals.push(v.clone()),
                Err(r) => return r,
            }
        }
        let output_mode = py_str(&vals[0]);
        let timeout = match py_int(&vals[4]) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let args: Vec<String> = vals[1].as_array().map(|v| v.iter().map(py_str).collect()).unwrap_or_default();
        let nl = if a.plat == Plat::Windows { "\r\n" } else { "\n" };
        // Script 9 fails: exit code 3 with a line on stderr.
        let outcome = if script.id == 9 {
            (format!("Checking disk space on {}{nl}", a.hostname), format!("C: is 97% full{nl}"), 3, 0.2481)
        } else {
            (
                format!("{} ran on {} with args [{}]{nl}exit status 0{nl}", script.name, a.hostname, args.join(", ")),
                String::new(),
                0,
                0.5123,
            )
        };
        (
            reachable(a, st.now()),
            a.pk,
            (script.id, script.name),
            outcome,
            format!("{} will now be run on {}", script.name, a.hostname),
            output_mode,
            timeout,
        )
    };
    // The view reads the mode's own keys after creating the history row (a KeyError is a 500).
    let ran = st.nats_up() && host_ok;
    let output = format!("{}{}", outcome.0, outcome.1);
    let user = p.username.clone().unwrap_or_else(|| "api".into());
    add_history(st, agent_pk, "script_run", None, Some(script_ref), &user, ran.then_some(outcome));
    {
        let data = match ctx.data() {
            Ok(d) => d,
            Err(r) => return r,
        };
        match mode.as_str() {
            "email" => match req(&data, "emailMode") {
                Ok(m) if py_str(m) != "default" => {
                    if let Err(r) = req(&data, "emails") {
                        return r;
                    }
                }
                Ok(_) => {}
                Err(r) => return r,
            },
            "collector" => {
                for k in ["custom_field", "save_all_output"] {
                    if let Err(r) = req(&data, k) {
                        return r;
                    }
                }
            }
            _ => {}
        }
    }
    match mode.as_str() {
        "wait" | "collector" | "note" => {
            if !st.nats_up() {
                action_wait(st, StdDuration::from_secs(4)).await;
                return ok("natsdown");
            }
            if !host_ok {
                action_wait(st, StdDuration::from_secs(timeout.max(0) as u64 + 3)).await;
                return ok("timeout");
            }
            ok(&output)
        }
        _ => ok(&forget_msg),
    }
}

async fn agent_reboot(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let host_ok = {
        let d = st.read();
        match scoped_agent(&d, p, agent_id) {
            Ok(a) => reachable(a, st.now()),
            Err(r) => return r,
        }
    };
    if !st.nats_up() || !host_ok {
        let wait = if st.nats_up() { 10 } else { 4 };
        action_wait(st, StdDuration::from_secs(wait)).await;
        return notify_error("Unable to contact the agent");
    }
    ok("ok")
}

/// `strptime(s, "%Y-%m-%dT%H:%M")`.
fn parse_reboot_dt(s: &str) -> Option<time::PrimitiveDateTime> {
    let (date, tm) = s.split_once('T')?;
    let mut dp = date.split('-');
    let y: i32 = dp.next()?.parse().ok()?;
    let mo: u8 = dp.next()?.parse().ok()?;
    let da: u8 = dp.next()?.parse().ok()?;
    if dp.next().is_some() {
        return None;
    }
    let (h, mi) = tm.split_once(':')?;
    if h.is_empty()
        || mi.is_empty()
        || h.len() > 2
        || mi.len() > 2
        || !h.bytes().chain(mi.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let date = time::Date::from_calendar_date(y, time::Month::try_from(mo).ok()?, da).ok()?;
    let t = time::Time::from_hms(h.parse().ok()?, mi.parse().ok()?, 0).ok()?;
    Some(time::PrimitiveDateTime::new(date, t))
}

/// Rough UTC offset (hours) of an agent time zone; DST ignored.
fn tz_offset_hours(tz: &str) -> i64 {
    match tz {
        "America/Los_Angeles" => -8,
        "America/Denver" | "America/Phoenix" => -7,
        "America/Chicago" => -6,
        "America/New_York" | "America/Toronto" => -5,
        "America/Sao_Paulo" => -3,
        "Europe/London" | "UTC" | "Africa/Abidjan" => 0,
        "Europe/Berlin" | "Europe/Paris" | "Europe/Amsterdam" => 1,
        "Africa/Cairo" | "Africa/Johannesburg" => 2,
        "Asia/Dubai" => 4,
        "Asia/Kolkata" => 5,
        "Asia/Shanghai" | "Asia/Singapore" => 8,
        "Asia/Tokyo" => 9,
        "Australia/Sydney" => 10,
        "Pacific/Auckland" => 12,
        _ => 0,
    }
}

async fn agent_sched_reboot(st: &SimState, ctx: &Ctx, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let (host_ok, hostname, when) = {
        let d = st.read();
        let a = match scoped_agent(&d, p, agent_id) {
            Ok(a) => a,
            Err(r) => return r,
        };
        if a.plat.is_posix() {
            return notify_error(&format!("Not currently implemented for {}", a.plat.as_str()));
        }
        let data = match ctx.data() {
            Ok(d) => d,
            Err(r) => return r,
        };
        let Some(when) = data.get("datetime").and_then(Value::as_str).and_then(parse_reboot_dt) else {
            return notify_error("Invalid date");
        };
        let utc = when.assume_utc() - Duration::hours(tz_offset_hours(a.timezone()));
        if utc < st.now() {
            return notify_error("Date cannot be set in the past");
        }
        (reachable(a, st.now()), a.hostname.clone(), when)
    };
    if !st.nats_up() {
        action_wait(st, StdDuration::from_secs(4)).await;
        return notify_error("natsdown");
    }
    if !host_ok {
        action_wait(st, StdDuration::from_secs(10)).await;
        return notify_error("timeout");
    }
    let suffix: String = {
        let mut d = st.write();
        const L: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        (0..10).map(|_| L[d.rng.random_range(0..L.len())] as char).collect()
    };
    let months = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (h12, ampm) = match when.hour() {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    let nice = format!(
        "{} {:02}, {} at {:02}:{:02} {}",
        months[when.month() as usize - 1],
        when.day(),
        when.year(),
        h12,
        when.minute(),
        ampm
    );
    ok(&json!({"time": nice, "agent": hostname, "task_name": format!("TacticalRMM_SchedReboot_{suffix}")}))
}

fn agent_ping(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    let d = st.read();
    let a = match scoped_agent(&d, p, agent_id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let status = if st.nats_up() && reachable(a, st.now()) { "online" } else { "offline" };
    ok(&json!({"name": a.hostname, "status": status}))
}

// ---- alerts -----------------------------------------------------------------------------

fn alert_visible(d: &Data, p: &Principal, al: &crate::model::Alert) -> bool {
    match &p.role {
        Role::Clients(ids) => {
            al.agent_pk.and_then(|pk| d.agent_by_pk(pk)).is_some_and(|a| ids.contains(&d.client_of(a)))
        }
        _ => true,
    }
}

fn alerts_list(st: &SimState, ctx: &Ctx, p: &Principal) -> Response {
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let d = st.read();
    let visible = || d.alerts.values().filter(|al| alert_visible(&d, p, al));
    if has_key(&data, "top") {
        let top = match req(&data, "top").and_then(py_int) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let mut open: Vec<&crate::model::Alert> = visible().filter(|a| a.is_open()).collect();
        open.sort_by(|a, b| a.alert_time.cmp(&b.alert_time).then(a.id.cmp(&b.id)));
        let count = open.len();
        let take = if top < 0 { count.saturating_sub(top.unsigned_abs() as usize) } else { (top as usize).min(count) };
        let alerts: Vec<_> = open.into_iter().take(take).map(|a| rows::alert_row(&d, a)).collect();
        return ok(&json!({"alerts_count": count, "alerts": alerts}));
    }
    let filter_keys = ["timeFilter", "clientFilter", "severityFilter", "resolvedFilter", "snoozedFilter"];
    if !filter_keys.iter().any(|k| has_key(&data, k)) {
        let all: Vec<_> = visible().map(|a| rows::alert_row(&d, a)).collect();
        return ok(&all);
    }
    let exclude_snoozed = data.get("snoozedFilter").is_some_and(|v| !truthy(v));
    let exclude_resolved = data.get("resolvedFilter").is_some_and(|v| !truthy(v));
    let clients: Option<Vec<i64>> = match data.get("clientFilter") {
        None => None,
        Some(v) => match v.as_array() {
            Some(arr) => Some(
                arr.iter().filter_map(|x| x.as_i64().or_else(|| x.as_str().and_then(|s| s.parse().ok()))).collect(),
            ),
            None => return server_error(),
        },
    };
    let severities: Option<Vec<String>> = match data.get("severityFilter") {
        None => None,
        Some(v) => match v.as_array() {
            Some(arr) => Some(arr.iter().map(py_str).collect()),
            None => return server_error(),
        },
    };
    let since = match data.get("timeFilter") {
        None => None,
        Some(v) => match py_int(v) {
            Ok(days) => Some(st.now() - Duration::days(days)),
            Err(r) => return r,
        },
    };
    let out: Vec<_> = visible()
        .filter(|al| !(exclude_snoozed && al.snoozed))
        .filter(|al| !(exclude_resolved && al.resolved))
        .filter(|al| {
            clients.as_ref().is_none_or(|ids| {
                al.agent_pk.and_then(|pk| d.agent_by_pk(pk)).is_some_and(|a| ids.contains(&d.client_of(a)))
            })
        })
        .filter(|al| severities.as_ref().is_none_or(|s| s.iter().any(|x| x == al.severity.as_str())))
        .filter(|al| since.is_none_or(|t| al.alert_time >= t))
        .map(|a| rows::alert_row(&d, a))
        .collect();
    ok(&out)
}

fn alerts_create(st: &SimState, ctx: &Ctx, p: &Principal) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(kind) = data.get("alert_type").and_then(Value::as_str) else {
        return json_resp(StatusCode::BAD_REQUEST, &json!({"alert_type": ["This field is required."]}));
    };
    let Some(kind) = AlertType::parse(kind) else {
        return json_resp(
            StatusCode::BAD_REQUEST,
            &json!({"alert_type": [format!("\"{kind}\" is not a valid choice.")]}),
        );
    };
    let severity = data.get("severity").and_then(Value::as_str).and_then(Severity::parse).unwrap_or(Severity::Info);
    let agent_id = match data.get("agent").and_then(Value::as_i64) {
        Some(pk) => match st.read().agent_by_pk(pk) {
            Some(a) => Some(a.agent_id.clone()),
            None => {
                return json_resp(
                    StatusCode::BAD_REQUEST,
                    &json!({"agent": [format!("Invalid pk \"{pk}\" - object does not exist.")]}),
                );
            }
        },
        None => None,
    };
    let message = data.get("message").and_then(Value::as_str).map(str::to_string);
    let spec = crate::state::NewAlert {
        agent_id,
        alert_type: kind,
        severity,
        message,
        alert_time: None,
        hidden: false,
        id: None,
    };
    match st.raise_alert(spec) {
        Ok(_) => ok("ok"),
        Err(_) => server_error(),
    }
}

fn alert_detail(st: &SimState, p: &Principal, param: &str) -> Response {
    let d = st.read();
    let Some(al) = param.parse::<i64>().ok().and_then(|id| d.alerts.get(&id)) else {
        return not_found("Alert");
    };
    if !alert_visible(&d, p, al) {
        return forbidden();
    }
    ok(&rows::alert_row(&d, al))
}

fn alert_update(st: &SimState, ctx: &Ctx, p: &Principal, param: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let mut d = st.write();
    let Some(id) = param.parse::<i64>().ok().filter(|id| d.alerts.contains_key(id)) else {
        return not_found("Alert");
    };
    if !alert_visible(&d, p, &d.alerts[&id]) {
        return forbidden();
    }
    let kind = match req(&data, "type") {
        Ok(v) => py_str(v),
        Err(r) => return r,
    };
    let t = st.now();
    let snooze_days = data.get("snooze_days").cloned();
    let Some(al) = d.alerts.get_mut(&id) else {
        return not_found("Alert");
    };
    match kind.as_str() {
        "resolve" => {
            al.resolved = true;
            al.resolved_on = Some(t);
            al.snoozed = false;
            al.snooze_until = None;
        }
        "snooze" => {
            let Some(days) = snooze_days else {
                return notify_error("Missing 'snoozed_days' when trying to snooze alert");
            };
            let days = match py_int(&days) {
                Ok(n) => n,
                Err(r) => return r,
            };
            al.snoozed = true;
            al.snooze_until = Some(t + Duration::days(days));
        }
        "unsnooze" => {
            al.snoozed = false;
            al.snooze_until = None;
        }
        _ => return notify_error("There was an error in the request data"),
    }
    ok("ok")
}

fn alert_delete(st: &SimState, p: &Principal, param: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let mut d = st.write();
    let Some(id) = param.parse::<i64>().ok().filter(|id| d.alerts.contains_key(id)) else {
        return not_found("Alert");
    };
    if !alert_visible(&d, p, &d.alerts[&id]) {
        return forbidden();
    }
    d.alerts.remove(&id);
    ok("ok")
}

fn alerts_bulk(st: &SimState, ctx: &Ctx, p: &Principal) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let action = match req(&data, "bulk_action") {
        Ok(v) => py_str(v),
        Err(r) => return r,
    };
    // Only resolve, and snooze with its days: anything else is "The request was invalid".
    let days = match action.as_str() {
        "resolve" => None,
        "snooze" if data.get("snooze_days").is_some() => Some(data["snooze_days"].clone()),
        _ => return notify_error("The request was invalid"),
    };
    // `id__in=request.data["alerts"]`: a missing key or a non-integer id is a 500.
    let ids: Vec<i64> = match req(&data, "alerts") {
        Ok(Value::Array(a)) => {
            let mut ids = Vec::with_capacity(a.len());
            for v in a {
                match py_int(v) {
                    Ok(id) if !matches!(v, Value::Bool(_)) => ids.push(id),
                    _ => return server_error(),
                }
            }
            ids
        }
        Ok(_) => return server_error(),
        Err(r) => return r,
    };
    let days = match days.as_ref().map(py_int).transpose() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let t = st.now();
    let mut d = st.write();
    let visible: Vec<i64> =
        ids.into_iter().filter(|id| d.alerts.get(id).is_some_and(|al| alert_visible(&d, p, al))).collect();
    for id in visible {
        let Some(al) = d.alerts.get_mut(&id) else { continue };
        match days {
            None => {
                al.resolved = true;
                al.resolved_on = Some(t);
                al.snoozed = false;
                al.snooze_until = None;
            }
            Some(days) => {
                al.snoozed = true;
                al.snooze_until = Some(t + Duration::days(days));
            }
        }
    }
    ok("ok")
}

// ---- agent history -----------------------------------------------------------------------

/// `AgentHistoryView.get`: every row of the agent, unordered (no `ordering` on the model or the
/// view); shown here newest-first by kind, so a client must not rely on any order.
fn agent_history(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    let d = st.read();
    let a = match scoped_agent(&d, p, agent_id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let t = st.now();
    let mut rows: Vec<&crate::model::HistEntry> = d.history.iter().filter(|h| h.agent_pk == a.pk).collect();
    rows.sort_by(|x, y| x.kind.cmp(y.kind).then(y.id.cmp(&x.id)));
    let out: Vec<Value> = rows
        .into_iter()
        .map(|h| {
            let reported = h.outcome.as_ref().filter(|_| h.ready_at <= t);
            let (results, script_results) = match (h.kind, reported) {
                ("cmd_run", Some((out, err, _, _))) => (json!(format!("{out}{err}")), Value::Null),
                ("script_run", Some((out, err, code, secs))) => (
                    Value::Null,
                    json!({"id": h.id, "stdout": out, "stderr": err, "retcode": code, "execution_time": secs}),
                ),
                _ => (Value::Null, Value::Null),
            };
            json!({
                "id": h.id,
                "script_name": h.script_name,
                "time": crate::util::iso(h.time),
                "type": h.kind,
                "command": h.command,
                "username": h.username,
                "results": results,
                "script_results": script_results,
                "collector_all_output": false,
                "save_to_agent_note": false,
                "agent": h.agent_pk,
                "script": h.script,
                "custom_field": null,
            })
        })
        .collect();
    ok(&out)
}

/// `AgentHistory.objects.create(...)` of the cmd and runscript views: before the agent is asked.
fn add_history(
    st: &SimState,
    agent_pk: i64,
    kind: &'static str,
    command: Option<String>,
    script: Option<(i64, &'static str)>,
    username: &str,
    outcome: Option<(String, String, i64, f64)>,
) -> i64 {
    let t = st.now();
    let mut d = st.write();
    let id = d.next_history;
    d.next_history += 1;
    let ready_at = t + d.report_delay;
    d.history.push(crate::model::HistEntry {
        id,
        agent_pk,
        time: t,
        kind,
        command,
        username: username.chars().take(50).collect(),
        script: script.map(|s| s.0),
        script_name: script.map(|s| s.1),
        outcome,
        ready_at,
    });
    id
}

// ---- software / scripts ------------------------------------------------------------------

fn software_list(st: &SimState, p: &Principal) -> Response {
    let d = st.read();
    let out: Vec<_> =
        d.agents.iter().filter(|a| in_scope(&p.role, d.client_of(a))).filter_map(rows::software_row).collect();
    ok(&out)
}

fn agent_software(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    let d = st.read();
    let a = match scoped_agent(&d, p, agent_id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match rows::software_row(a) {
        Some(row) => ok(&row),
        None => ok(&json!([])),
    }
}

async fn agent_software_refresh(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let host_ok = {
        let d = st.read();
        let a = match scoped_agent(&d, p, agent_id) {
            Ok(a) => a,
            Err(r) => return r,
        };
        if a.plat.is_posix() {
            return notify_error(&format!("Not available for {}", a.plat.as_str()));
        }
        reachable(a, st.now())
    };
    if !st.nats_up() || !host_ok {
        action_wait(st, StdDuration::from_secs(15)).await;
        return notify_error("Unable to contact the agent");
    }
    let mut d = st.write();
    let data = &mut *d;
    if let Some(i) = data.idx_by_agent_id(agent_id)
        && data.agents[i].software.is_none()
    {
        let items = crate::fleet::pick_software(&mut data.rng, &data.catalog, data.software_avg, false);
        data.agents[i].software = Some(items);
    }
    ok("ok")
}

fn scripts_list(st: &SimState, ctx: &Ctx) -> Response {
    let community = ctx.q("showCommunityScripts").is_none_or(|v| !v.is_empty() && v != "false");
    let hidden = ctx.q("showHiddenScripts") == Some("true");
    let d = st.read();
    let out: Vec<_> = d
        .scripts
        .iter()
        .filter(|s| community || s.script_type == "userdefined")
        .filter(|s| hidden || !s.hidden)
        .map(rows::script_row)
        .collect();
    ok(&out)
}

// ---- beta -------------------------------------------------------------------------------

#[derive(Serialize)]
struct Page<T: Serialize> {
    count: usize,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<T>,
}

/// DRF `replace_query_param` / `remove_query_param` on the absolute request URI.
fn page_link(ctx: &Ctx, page: Option<usize>) -> String {
    let mut pairs: Vec<(String, String)> = ctx.query.iter().filter(|(k, _)| k != "page").cloned().collect();
    if let Some(p) = page {
        pairs.push(("page".into(), p.to_string()));
    }
    // parse_qs groups values per key; urlencode(sorted(items)) keeps each key's values in order
    let mut keys: Vec<&String> = Vec::new();
    for (k, _) in &pairs {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort();
    let mut ordered = Vec::new();
    for k in keys {
        for (kk, v) in &pairs {
            if kk == k {
                ordered.push((kk.clone(), v.clone()));
            }
        }
    }
    let base = format!("http://{}{}", ctx.host, ctx.path);
    if ordered.is_empty() { base } else { format!("{base}?{}", util::urlencode(&ordered)) }
}

struct Paging {
    page: usize,
    size: usize,
}

fn paging(ctx: &Ctx, count: usize) -> Result<Paging, Response> {
    let size = match ctx.q("page_size").map(|s| s.trim().parse::<i64>()) {
        Some(Ok(n)) if n > 0 => (n as usize).min(1000),
        _ => 100,
    };
    let pages = count.div_ceil(size).max(1);
    let page = match ctx.q("page") {
        None => 1,
        Some("last") => pages,
        Some(p) => match p.trim().parse::<i64>() {
            Ok(n) if n >= 1 && (n as usize) <= pages => n as usize,
            _ => return Err(detail(StatusCode::NOT_FOUND, "Invalid page.")),
        },
    };
    Ok(Paging { page, size })
}

fn page_envelope<T: Serialize>(ctx: &Ctx, count: usize, pg: &Paging, results: Vec<T>) -> Response {
    let pages = count.div_ceil(pg.size).max(1);
    let next = (pg.page < pages).then(|| page_link(ctx, Some(pg.page + 1)));
    let previous = (pg.page > 1).then(|| page_link(ctx, if pg.page == 2 { None } else { Some(pg.page - 1) }));
    ok(&Page { count, next, previous, results })
}

fn parse_dt_filter(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let s = s.replace('T', " ");
    let (date, rest) = s.split_once(' ').unwrap_or((&s, "00:00:00"));
    let mut dp = date.split('-');
    let y: i32 = dp.next()?.parse().ok()?;
    let m: u8 = dp.next()?.parse().ok()?;
    let d: u8 = dp.next()?.parse().ok()?;
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
    let rest = rest.trim_end_matches('Z');
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, "0"));
    let mut tp = hms.split(':');
    let h: u8 = tp.next()?.parse().ok()?;
    let mi: u8 = tp.next().unwrap_or("0").parse().ok()?;
    let sec: u8 = tp.next().unwrap_or("0").parse().ok()?;
    let micro: u32 = format!("{:0<6}", &frac[..frac.len().min(6)]).parse().ok()?;
    let t = time::Time::from_hms_micro(h, mi, sec, micro).ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_utc())
}

/// The beta list ignores the key's role (every agent, like Tactical). `cost`: as `agents_list`.
fn beta_agents(st: &SimState, ctx: &Ctx, cost: &mut StdDuration) -> Response {
    if ctx.has_q("agent_id") {
        // the view copies ?agent_id= into kwargs then reads kwargs["pk"]: KeyError
        return server_error();
    }
    let mut errors = serde_json::Map::new();
    let nonempty = |k: &str| ctx.q(k).filter(|v| !v.is_empty());
    let num = |k: &str, errors: &mut serde_json::Map<String, Value>| -> Option<i64> {
        let v = nonempty(k)?;
        match v.trim().parse::<f64>() {
            Ok(f) => Some(f as i64),
            Err(_) => {
                errors.insert(k.to_string(), json!(["Enter a number."]));
                None
            }
        }
    };
    let id = num("id", &mut errors);
    let client_id = num("client_id", &mut errors);
    let ram_min = num("total_ram_range_min", &mut errors);
    let ram_max = num("total_ram_range_max", &mut errors);
    let choice_err = |v: &str| json!([format!("Select a valid choice. {v} is not one of the available choices.")]);
    let plat = nonempty("plat").and_then(|v| {
        let p = Plat::parse(v);
        if p.is_none() {
            errors.insert("plat".into(), choice_err(v));
        }
        p
    });
    let mt = nonempty("monitoring_type").and_then(|v| {
        let m = MonitoringType::parse(v);
        if m.is_none() {
            errors.insert("monitoring_type".into(), choice_err(v));
        }
        m
    });
    let d = st.read();
    let model_choice = "Select a valid choice. That choice is not one of the available choices.";
    let site = nonempty("site").and_then(|v| match v.parse::<i64>() {
        Ok(s) if d.sites.contains_key(&s) => Some(s),
        _ => {
            errors.insert("site".into(), json!([model_choice]));
            None
        }
    });
    let template = nonempty("alert_template").and_then(|v| match v.parse::<i64>() {
        Ok(t) if d.templates.iter().any(|x| x.id == t) => Some(t),
        _ => {
            errors.insert("alert_template".into(), json!([model_choice]));
            None
        }
    });
    if nonempty("policy").is_some() {
        errors.insert("policy".into(), json!([model_choice]));
    }
    let dt = |k: &str, errors: &mut serde_json::Map<String, Value>| -> Option<OffsetDateTime> {
        let v = nonempty(k)?;
        let parsed = parse_dt_filter(v);
        if parsed.is_none() {
            errors.insert(
                k.trim_end_matches("_after").trim_end_matches("_before").to_string(),
                json!(["Enter a valid date/time."]),
            );
        }
        parsed
    };
    let seen_after = dt("last_seen_range_after", &mut errors);
    let seen_before = dt("last_seen_range_before", &mut errors);
    let boolean = |k: &str| match nonempty(k) {
        Some("true" | "True") => Some(true),
        Some("false" | "False") => Some(false),
        _ => None,
    };
    let needs_reboot = boolean("needs_reboot");
    if !errors.is_empty() {
        return json_resp(StatusCode::BAD_REQUEST, &Value::Object(errors));
    }
    let hostname = nonempty("hostname");
    let os = nonempty("operating_system");
    let logged = nonempty("logged_in_username");
    let last_logged = nonempty("last_logged_in_user");
    let search = nonempty("search").map(str::to_lowercase);
    let descending = ctx
        .q("ordering")
        .and_then(|o| o.split(',').map(str::trim).find(|f| *f == "id" || *f == "-id"))
        .is_some_and(|f| f == "-id");

    let unfiltered = id.is_none()
        && client_id.is_none()
        && ram_min.is_none()
        && ram_max.is_none()
        && plat.is_none()
        && mt.is_none()
        && site.is_none()
        && template.is_none()
        && seen_after.is_none()
        && seen_before.is_none()
        && needs_reboot.is_none()
        && hostname.is_none()
        && os.is_none()
        && logged.is_none()
        && last_logged.is_none()
        && search.is_none();

    let selected: Vec<usize>;
    let count = if unfiltered {
        selected = Vec::new();
        d.agents.len()
    } else {
        selected = d
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                id.is_none_or(|x| a.pk == x)
                    && client_id.is_none_or(|c| d.client_of(a) == c)
                    && ram_min.is_none_or(|m| a.total_ram >= m)
                    && ram_max.is_none_or(|m| a.total_ram <= m)
                    && plat.is_none_or(|p| a.plat == p)
                    && mt.is_none_or(|m| a.monitoring_type == m)
                    && site.is_none_or(|s| a.site_id == s)
                    && template.is_none_or(|t| d.agent_template(a) == Some(t))
                    && seen_after.is_none_or(|t| a.last_seen.is_some_and(|ls| ls >= t))
                    && seen_before.is_none_or(|t| a.last_seen.is_some_and(|ls| ls <= t))
                    && needs_reboot.is_none_or(|n| a.needs_reboot == n)
                    && hostname.is_none_or(|h| a.hostname == h)
                    && os.is_none_or(|o| a.operating_system == o)
                    && logged.is_none_or(|l| a.logged_in_username == l)
                    && last_logged.is_none_or(|l| a.last_logged_in_user == l)
                    && search.as_ref().is_none_or(|s| {
                        // `search_fields = ["hostname", "services"]`: the services JSON matches too
                        a.hostname.to_lowercase().contains(s.as_str())
                            || (d.heavy_rows
                                && a.plat == Plat::Windows
                                && crate::heavy::Services { partner: rows::partner(&d, a) }.matches(s))
                    })
            })
            .map(|(i, _)| i)
            .collect();
        selected.len()
    };
    let pg = match paging(ctx, count) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let start = (pg.page - 1) * pg.size;
    let end = (start + pg.size).min(count);
    let pos = |k: usize| if descending { count - 1 - k } else { k };
    let per_row = st.row_cost();
    let results: Vec<_> = (start..end)
        .map(|k| {
            let i = if unfiltered { pos(k) } else { selected[pos(k)] };
            let a = &d.agents[i];
            *cost += if d.heavy_rows && a.plat == Plat::Windows { per_row * 8 } else { per_row };
            rows::beta_agent(&d, a, true)
        })
        .collect();
    page_envelope(ctx, count, &pg, results)
}

fn beta_agent_detail(st: &SimState, param: &str) -> Response {
    let d = st.read();
    match param.parse::<i64>().ok().and_then(|pk| d.agent_by_pk(pk)) {
        Some(a) => ok(&rows::beta_agent_detail(&d, a, st.now())),
        None => not_found("Agent"),
    }
}

fn beta_clients(st: &SimState) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    let out: Vec<_> = d.clients.values().map(|c| rows::beta_client(c, &agg, &d)).collect();
    ok(&out)
}

fn beta_client_detail(st: &SimState, param: &str) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    match param.parse::<i64>().ok().and_then(|id| d.clients.get(&id)) {
        Some(c) => ok(&rows::beta_client(c, &agg, &d)),
        None => not_found("Client"),
    }
}

fn beta_sites(st: &SimState, ctx: &Ctx) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    let search = ctx.q("search").filter(|s| !s.is_empty()).map(str::to_lowercase);
    let descending = ctx
        .q("ordering")
        .is_some_and(|o| o.split(',').map(str::trim).find(|f| *f == "id" || *f == "-id") == Some("-id"));
    let mut sites: Vec<&crate::model::Site> = d
        .sites
        .values()
        .filter(|s| search.as_ref().is_none_or(|q| s.name.to_lowercase().contains(q.as_str())))
        .collect();
    if descending {
        sites.reverse();
    }
    let count = sites.len();
    let pg = match paging(ctx, count) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let start = (pg.page - 1) * pg.size;
    let results: Vec<_> = sites.into_iter().skip(start).take(pg.size).map(|s| rows::beta_site(s, &agg)).collect();
    page_envelope(ctx, count, &pg, results)
}

fn beta_site_detail(st: &SimState, param: &str) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    match param.parse::<i64>().ok().and_then(|id| d.sites.get(&id)) {
        Some(s) => ok(&rows::beta_site(s, &agg)),
        None => not_found("Site"),
    }
}
