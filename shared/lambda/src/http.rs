//! Function-URL plumbing shared by the functions: JSON responses, JSON errors
//! `{code, message, field?}`, body parsing that names the bad field, and the caller's identity.

use crate::jwt::JwtVerifier;
use lambda_http::http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::auth::Caller;
use shared::error::{ApiError, ErrorCode};
pub use shared::json::parse_json;

/// Largest request body a function URL accepts.
pub const MAX_REQUEST_BODY: usize = 256 * 1024;

pub fn json<T: Serialize>(status: u16, body: &T) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    let mut resp = Response::new(Body::Text(text));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A typed body as JSON. A value that cannot be serialised is an internal error (500, logged),
/// never a silent `null` on the wire.
pub fn to_body<T: Serialize>(body: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(body).map_err(|e| {
        tracing::error!(error = %e, "a response body could not be serialised");
        ApiError::internal()
    })
}

pub fn error(e: &ApiError) -> Response<Body> {
    json(e.status(), e)
}

/// Handler results map onto responses in one place.
pub fn respond<T: Serialize>(result: Result<(u16, T), ApiError>) -> Response<Body> {
    match result {
        Ok((status, body)) => json(status, &body),
        Err(e) => {
            if e.code == ErrorCode::Internal {
                tracing::error!(message = %e.message, "request failed");
            }
            error(&e)
        }
    }
}

/// The request body as bytes, refusing oversized bodies.
pub fn body_bytes(req: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.len() > MAX_REQUEST_BODY {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {MAX_REQUEST_BODY} bytes"),
        ));
    }
    Ok(bytes)
}

/// The route path without a cargo-lambda `/lambda-url/<fn>` prefix, without trailing slash.
pub fn route_path(req: &Request) -> String {
    let raw = req.uri().path();
    let p = match raw.strip_prefix("/lambda-url/") {
        Some(rest) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => raw,
    };
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() { "/".into() } else { trimmed.to_owned() }
}

/// A query parameter, from the Lambda event's parsed parameters or, failing that, the URI.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    use lambda_http::RequestExt;
    if let Some(v) = req.query_string_parameters_ref().and_then(|q| q.first(name).map(str::to_owned)) {
        return Some(v);
    }
    url::form_urlencoded::parse(req.uri().query()?.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The verified caller; its tenant is recorded on the current span from here on.
pub fn caller(req: &Request, verifier: &JwtVerifier) -> Result<Caller, ApiError> {
    let header = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    let caller = verifier.verify_header(header)?;
    crate::telemetry::record_tenant(&caller.tenant);
    Ok(caller)
}

pub fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

#[cfg(test)]
mod query_tests {
    use super::*;

    #[test]
    fn query_params_come_from_the_uri_when_the_event_has_none() {
        let req = lambda_http::http::Request::builder()
            .uri("https://x.test/assets?limit=400&cursor=ab-12")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(query_param(&req, "limit").as_deref(), Some("400"));
        assert_eq!(query_param(&req, "cursor").as_deref(), Some("ab-12"));
        assert_eq!(query_param(&req, "status"), None);
    }
}
