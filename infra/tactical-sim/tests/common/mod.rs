//! Shared helpers for the simulator's integration tests.
#![allow(dead_code)]

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;
use tactical_sim::{DEFAULT_API_KEY, SimConfig, Simulator};

pub const KEY: &str = DEFAULT_API_KEY;

pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/tactical-1.5.1"))
}

pub fn fixture_text(name: &str) -> String {
    let p = fixtures_dir().join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

pub fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).unwrap_or_else(|e| panic!("parse {name}: {e}"))
}

/// A client that never follows redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub async fn start(cfg: SimConfig) -> Simulator {
    Simulator::start(cfg).await.expect("start simulator")
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap_or_default().to_string())
    }
    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default()
    }
}

pub async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    Resp { status, headers, text }
}

/// GET with the default API key.
pub async fn get(sim: &Simulator, path: &str) -> Resp {
    send(client().get(format!("{}{path}", sim.base_url())).header("X-API-KEY", KEY)).await
}

pub async fn req_json(sim: &Simulator, method: reqwest::Method, path: &str, body: &Value) -> Resp {
    send(client().request(method, format!("{}{path}", sim.base_url())).header("X-API-KEY", KEY).json(body)).await
}

/// Recursive shape comparison of a fixture and our response.
///
/// * objects: same key sets (keys in `allow_missing` may be absent from ours), recurse;
/// * arrays: same length ⇒ element-wise; otherwise every element of ours against the
///   fixture's first element; a top-level list must not be empty when the fixture's is not;
/// * `null` on either side is compatible with anything (nullable fields);
/// * numbers: integer vs float must agree;
/// * keys in `opaque` only need to be objects (content varies by platform).
pub fn shape_diff(
    path: &str,
    fx: &Value,
    ours: &Value,
    allow_missing: &[&str],
    opaque: &[&str],
    out: &mut Vec<String>,
) {
    match (fx, ours) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Bool(_), Value::Bool(_)) | (Value::String(_), Value::String(_)) => {}
        (Value::Number(a), Value::Number(b)) => {
            if a.is_f64() != b.is_f64() {
                out.push(format!("{path}: number kind differs (fixture {a}, ours {b})"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.is_empty() {
                return;
            }
            if b.is_empty() {
                // an empty top-level list (or envelope list) would make the test vacuous;
                // nested empty lists are ordinary data
                if path == "$" || (!path.contains('[') && path.matches('.').count() == 1) {
                    out.push(format!("{path}: ours is an empty array, fixture is not"));
                }
                return;
            }
            if a.len() == b.len() {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    shape_diff(&format!("{path}[{i}]"), x, y, allow_missing, opaque, out);
                }
            } else {
                for (i, y) in b.iter().enumerate() {
                    shape_diff(&format!("{path}[{i}]"), &a[0], y, allow_missing, opaque, out);
                }
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for k in a.keys() {
                if !b.contains_key(k) && !allow_missing.contains(&k.as_str()) {
                    out.push(format!("{path}: missing key {k}"));
                }
            }
            for k in b.keys() {
                if !a.contains_key(k) {
                    out.push(format!("{path}: extra key {k}"));
                }
            }
            for (k, x) in a {
                if let Some(y) = b.get(k) {
                    if opaque.contains(&k.as_str()) {
                        if !(y.is_object() || y.is_null()) {
                            out.push(format!("{path}.{k}: expected an object"));
                        }
                    } else {
                        shape_diff(&format!("{path}.{k}"), x, y, allow_missing, opaque, out);
                    }
                }
            }
        }
        _ => out.push(format!("{path}: type differs (fixture {fx}, ours {ours})")),
    }
}

pub fn assert_shape(name: &str, fx: &Value, ours: &Value, allow_missing: &[&str], opaque: &[&str]) {
    let mut out = Vec::new();
    shape_diff("$", fx, ours, allow_missing, opaque, &mut out);
    assert!(out.is_empty(), "{name}: shape differs from the fixture:\n  {}", out.join("\n  "));
}
