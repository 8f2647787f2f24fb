//! Authentication (knox tokens before `X-API-KEY`), permissions, DRF login throttles and the
//! knox login views.

use std::net::IpAddr;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::request::*;
use super::respond::*;
use crate::state::{SimState, ThrottleScope};
use crate::util::Iso;
use crate::{Role, totp};

pub(super) struct Principal {
    pub(super) role: Role,
    pub(super) username: Option<String>,
    pub(super) token: Option<String>,
}

pub(super) fn authenticate(st: &SimState, headers: &HeaderMap, knox_only: bool) -> Result<Option<Principal>, Response> {
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
pub(super) enum Need {
    List,
    Act,
}

pub(super) fn role_allows(role: &Role, need: Need) -> bool {
    match role {
        Role::Full | Role::Clients(_) => true,
        Role::ReadOnly => need == Need::List,
    }
}

pub(super) fn in_scope(role: &Role, client_id: i64) -> bool {
    match role {
        Role::Clients(ids) => ids.contains(&client_id),
        _ => true,
    }
}

/// DRF `AnonRateThrottle` with per-minute and per-day rates. Returns the wait in seconds when throttled.
pub(super) fn throttle(st: &SimState, scope: ThrottleScope, ip: IpAddr) -> Option<u64> {
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

pub(super) fn checkcreds(st: &SimState, ctx: &Ctx, authenticated: bool) -> Response {
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

pub(super) fn login(st: &SimState, ctx: &Ctx, authenticated: bool) -> Response {
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
