//! The HTTP layer: Django middleware + DRF view behaviour.

// Handlers short-circuit with a finished `Response` as the error value (like DRF exceptions).
#![allow(clippy::result_large_err)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::routes::{self, Matched, RouteKind};
use crate::state::{Fault, RequestRecord, SimState};
use crate::util;

mod actions;
mod agents;
mod alerts;
mod auth;
mod beta;
mod clients;
mod faults;
mod history;
mod request;
mod respond;
mod software;

use actions::*;
use agents::*;
use alerts::*;
use auth::*;
use beta::*;
use clients::*;
use faults::*;
use history::*;
use request::*;
use respond::*;
use software::*;

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
