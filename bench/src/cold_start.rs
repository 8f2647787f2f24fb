//! Cold start: time from process start to the first handled event, per function binary, with a
//! local stand-in for the Lambda Runtime API. The floor is the smallest possible Rust function
//! (`bench --cold-floor`: `lambda_runtime` echoing its event), built with the same profile and
//! started the same way, so the ratio says what our own initialisation adds.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What the stub saw of one process: when it first asked for work, and when it answered.
#[derive(Debug, Default)]
struct Seen {
    next: Option<oneshot::Sender<Instant>>,
    done: Option<oneshot::Sender<(Instant, bool)>>,
    served: bool,
}

#[derive(Clone)]
struct Stub {
    event: Value,
    seen: Arc<Mutex<Seen>>,
}

async fn next(State(s): State<Stub>) -> (HeaderMap, String) {
    let first = {
        let mut seen = s.seen.lock().unwrap_or_else(|e| e.into_inner());
        let first = !seen.served;
        seen.served = true;
        if let Some(tx) = seen.next.take() {
            let _ = tx.send(Instant::now());
        }
        first
    };
    if !first {
        // One event per process: the next poll waits until the process is killed.
        std::future::pending::<()>().await;
    }
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", HeaderValue::from_static("cold-start-1"));
    let deadline = (time::OffsetDateTime::now_utc().unix_timestamp() + 30) * 1000;
    h.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline));
    h.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:000000000000:function:bench"),
    );
    h.insert("lambda-runtime-trace-id", HeaderValue::from_static("Root=1-00000000-000000000000000000000000"));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    (h, s.event.to_string())
}

async fn answered(State(s): State<Stub>, ok: bool) -> &'static str {
    if let Some(tx) = s.seen.lock().unwrap_or_else(|e| e.into_inner()).done.take() {
        let _ = tx.send((Instant::now(), ok));
    }
    "{}"
}

/// A function URL request without a token: every URL function answers it (401) without I/O.
pub fn url_event(method: &str, path: &str) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"host": "bench.lambda-url.us-east-1.on.aws"},
        "requestContext": {"accountId": "000000000000", "apiId": "bench", "domainName": "bench.lambda-url.us-east-1.on.aws",
            "domainPrefix": "bench", "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": "bench"}, "requestId": "cold-start-1", "routeKey": "$default",
            "stage": "$default", "time": "30/Nov/2026:11:00:00 +0000", "timeEpoch": 0},
        "isBase64Encoded": false
    })
}

/// The first event each function is given: the cheapest one it really handles.
pub fn first_event(function: &str) -> Value {
    match function {
        "webhook" => url_event("POST", "/webhooks/tacticalrmm/cold-start-tenant"),
        "scheduler" => json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
        "connection" => url_event("GET", "/settings"),
        "remote-actions" => url_event("POST", "/actions"),
        _ => url_event("GET", "/runs/latest"),
    }
}

/// One cold start of `exe` (with `args`) handling `event`: (ms to the first poll for work, ms to
/// the answer of the first event, whether the answer was a success).
pub async fn one(
    exe: &std::path::Path,
    args: &[&str],
    env: &BTreeMap<String, String>,
    event: Value,
) -> Result<(f64, f64, bool), String> {
    let (next_tx, next_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let stub =
        Stub { event, seen: Arc::new(Mutex::new(Seen { next: Some(next_tx), done: Some(done_tx), served: false })) };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(|s: State<Stub>, _: Path<String>| answered(s, true)),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(|s: State<Stub>, _: Path<String>| answered(s, false)))
        .route("/2018-06-01/runtime/init/error", post(|s: State<Stub>| answered(s, false)))
        .with_state(stub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let t0 = Instant::now();
    let mut child = tokio::process::Command::new(exe)
        .args(args)
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("RUST_LOG", "error")
        // The local stack signs with the development JWT key, which only local development accepts.
        .env("LOCAL_DEVELOPMENT", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    // The answer first: a function whose initialisation fails reports an init error and never
    // polls for work, so waiting for its poll would only wait for the timeout.
    let result = tokio::time::timeout(Duration::from_secs(30), async {
        let (answered, ok) = done_rx.await.map_err(|_| "no answer".to_owned())?;
        let polled = if ok { next_rx.await.map_err(|_| "no poll".to_owned())? } else { answered };
        Ok::<_, String>((polled, answered, ok))
    })
    .await;
    let _ = child.kill().await;
    server.abort();
    let (polled, answered, ok) = result.map_err(|_| format!("{}: no answer within 30 s", exe.display()))??;
    let ms = |t: Instant| (t - t0).as_secs_f64() * 1000.0;
    Ok((ms(polled), ms(answered), ok))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

/// Median and spread (min-max) of `runs` cold starts of every function and of the floor.
pub async fn measure(
    bin_dir: &std::path::Path,
    functions: &[&str],
    env: &BTreeMap<String, String>,
    floor_exe: &std::path::Path,
    runs: usize,
) -> Value {
    let mut out = serde_json::Map::new();
    let mut floor = Vec::new();
    for _ in 0..runs {
        if let Ok((_, done, _)) = one(floor_exe, &["--cold-floor"], env, json!({"ping": 1})).await {
            floor.push(done);
        }
    }
    let floor_ms = median(&mut floor);
    out.insert(
        "floor".into(),
        json!({"first_event_ms": round(floor_ms), "min": round(floor.first().copied().unwrap_or(f64::NAN)), "max": round(floor.last().copied().unwrap_or(f64::NAN))}),
    );
    for f in functions {
        let exe = bin_dir.join(f);
        let (mut init, mut first, mut errors) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            match one(&exe, &[], env, first_event(f)).await {
                Ok((i, d, ok)) => {
                    init.push(i);
                    first.push(d);
                    if !ok {
                        errors.push("answered with an error");
                    }
                }
                Err(_) => errors.push("no answer"),
            }
        }
        let m = median(&mut first);
        out.insert(
            (*f).to_owned(),
            json!({
                "init_ms": round(median(&mut init)),
                "first_event_ms": round(m),
                "min": round(first.first().copied().unwrap_or(f64::NAN)),
                "max": round(first.last().copied().unwrap_or(f64::NAN)),
                "vs_floor": round(m / floor_ms),
                "runs": first.len(),
                "errors": errors,
            }),
        );
    }
    Value::Object(out)
}

fn round(v: f64) -> Value {
    if v.is_finite() { json!((v * 100.0).round() / 100.0) } else { Value::Null }
}

/// `bench --cold-floor`: the smallest Rust Lambda function, the floor of [`measure`].
pub async fn floor_function() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(|e: lambda_runtime::LambdaEvent<Value>| async move {
        Ok::<Value, lambda_runtime::Error>(e.payload)
    }))
    .await
}
