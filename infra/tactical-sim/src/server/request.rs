//! The request as a DRF view sees it, and Python-flavoured value helpers.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::respond::*;
use crate::util;

pub(super) struct Ctx {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) raw_query: Option<String>,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: HeaderMap,
    pub(super) remote: IpAddr,
    pub(super) body: Bytes,
    pub(super) host: String,
}

impl Ctx {
    /// Django `QueryDict.get` (last value).
    pub(super) fn q(&self, k: &str) -> Option<&str> {
        self.query.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }
    pub(super) fn has_q(&self, k: &str) -> bool {
        self.query.iter().any(|(key, _)| key == k)
    }
    /// DRF `request.data`. Errors are complete responses (400 parse error / 415).
    pub(super) fn data(&self) -> Result<Value, Response> {
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
pub(super) fn req<'a>(data: &'a Value, key: &str) -> Result<&'a Value, Response> {
    data.as_object().and_then(|m| m.get(key)).ok_or_else(server_error)
}

pub(super) fn has_key(data: &Value, key: &str) -> bool {
    data.as_object().is_some_and(|m| m.contains_key(key))
}

/// Python `str(value)` for a JSON value (strings as-is).
pub(super) fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// Python `int(value)`; failure ⇒ 500.
pub(super) fn py_int(v: &Value) -> Result<i64, Response> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)).ok_or_else(server_error),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| server_error()),
        Value::Bool(b) => Ok(i64::from(*b)),
        _ => Err(server_error()),
    }
}

/// Python truthiness.
pub(super) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}
