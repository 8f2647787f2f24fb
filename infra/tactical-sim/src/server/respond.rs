//! Canned bodies (Django and nginx pages, the SPA) and DRF-style response helpers.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::json;

pub(crate) const HTML_404: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n";
pub(crate) const HTML_500: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";
pub(crate) const SPA_INDEX: &str = "<!DOCTYPE html><html><head><title>Tactical RMM</title><meta charset=utf-8><meta name=description content=\"Tactical RMM\"><meta name=format-detection content=\"telephone=no\"><meta name=msapplication-tap-highlight content=no><meta name=viewport content=\"user-scalable=no,initial-scale=1,maximum-scale=1,minimum-scale=1,width=device-width\"><link rel=icon type=image/png sizes=32x32 href=favicon-32x32.png><script type=module crossorigin src=/assets/index.js></script><link rel=stylesheet crossorigin href=/assets/index.css></head><body><div id=q-app></div></body></html>\n";

pub(super) fn nginx_page(code: u16) -> String {
    let reason = StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

// ------------------------------------------------------------------------------------------
// Response helpers

pub(super) fn with_body(status: StatusCode, ct: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

pub(super) fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    with_body(status, "application/json", bytes)
}

pub(super) fn json_resp<T: Serialize + ?Sized>(status: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => json_bytes(status, b),
        Err(_) => server_error(),
    }
}

pub(super) fn ok<T: Serialize + ?Sized>(v: &T) -> Response {
    json_resp(StatusCode::OK, v)
}

pub(super) fn detail(status: StatusCode, msg: &str) -> Response {
    json_resp(status, &json!({ "detail": msg }))
}

/// `notify_error()`: 400 with a bare JSON string.
pub(super) fn notify_error(msg: &str) -> Response {
    json_resp(StatusCode::BAD_REQUEST, msg)
}

pub(super) fn not_found(model: &str) -> Response {
    detail(StatusCode::NOT_FOUND, &format!("No {model} matches the given query."))
}

pub(super) fn forbidden() -> Response {
    detail(StatusCode::FORBIDDEN, "You do not have permission to perform this action.")
}

pub(super) fn unauthorized(msg: &str) -> Response {
    let mut r = detail(StatusCode::UNAUTHORIZED, msg);
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
    r
}

pub(super) fn server_error() -> Response {
    with_body(StatusCode::INTERNAL_SERVER_ERROR, "text/html; charset=utf-8", HTML_500)
}

pub(super) fn html_404() -> Response {
    with_body(StatusCode::NOT_FOUND, "text/html; charset=utf-8", HTML_404)
}

pub(super) fn spa() -> Response {
    with_body(StatusCode::OK, "text/html", SPA_INDEX)
}

pub(super) fn throttled(wait: u64) -> Response {
    let unit = if wait == 1 { "second" } else { "seconds" };
    let mut r =
        detail(StatusCode::TOO_MANY_REQUESTS, &format!("Request was throttled. Expected available in {wait} {unit}."));
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
    r
}
