//! Function-URL plumbing shared by the functions: JSON responses, JSON errors
//! `{code, message, field?}`, body parsing that names the bad field, and the caller's identity.

use crate::auth::{Caller, JwtVerifier};
use crate::error::{ApiError, ErrorCode};
use lambda_http::http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest request body a function URL accepts.
pub const MAX_REQUEST_BODY: usize = 256 * 1024;

pub fn json<T: Serialize>(status: u16, body: &T) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    let mut resp = Response::new(Body::Text(text));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
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

/// Parses a JSON body; a type or missing-field error names the field (`instance_url`,
/// `schedules.alert_polling.interval_minutes`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { bytes };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::validation(
                "body",
                format!("the body is not valid JSON: {}", msg.split(" at line ").next().unwrap_or(&msg)),
            );
        }
        // serde reports a missing field on the parent path; name the field itself.
        let field = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
            .map(|f| if path == "." || path.is_empty() { f.to_owned() } else { format!("{path}.{f}") })
            .unwrap_or_else(|| if path == "." { "body".into() } else { path });
        let clean = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        ApiError::validation(field, clean)
    })
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

pub fn caller(req: &Request, verifier: &JwtVerifier) -> Result<Caller, ApiError> {
    let header = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    verifier.verify_header(header)
}

pub fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        interval_minutes: u32,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        instance_url: String,
        schedule: Option<Inner>,
    }

    #[test]
    fn names_the_missing_field() {
        let e = parse_json::<Outer>(br#"{}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("instance_url"));
    }

    #[test]
    fn names_a_nested_wrong_type() {
        let e = parse_json::<Outer>(br#"{"instance_url":"x","schedule":{"interval_minutes":"ten"}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("schedule.interval_minutes"));
        assert_eq!(e.code, ErrorCode::ValidationFailed);
    }

    #[test]
    fn malformed_json_is_a_body_error() {
        let e = parse_json::<Outer>(b"{not json").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("body"));
    }
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
