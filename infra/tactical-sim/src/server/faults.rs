//! Faults applied to a finished answer: rewritten, cut, reset or endless bodies.

use std::time::Duration as StdDuration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::respond::*;

pub(super) async fn rewrite(resp: Response, sets: &[(String, Value)]) -> Response {
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
pub(super) fn put_at(v: &mut Value, parts: &[&str], value: &Value) {
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
pub(super) fn endless_body(page: bool) -> Response {
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

pub(super) async fn malformed(resp: Response) -> Response {
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap_or_default();
    let cut = if bytes.len() < 2 { Bytes::from_static(b"{\"detail\": ") } else { bytes.slice(..bytes.len() / 2) };
    json_bytes(StatusCode::OK, cut.to_vec())
}

pub(super) async fn reset_mid_body(resp: Response) -> Response {
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
