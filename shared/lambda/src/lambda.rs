//! One Lambda entry point for every way a function is invoked: function URL / API Gateway (HTTP
//! API v2 payload), SQS batches (with partial batch failures), EventBridge schedules, and direct
//! Invoke with a JSON event (workflows).

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use tracing::Instrument;

/// SQS events and the `ReportBatchItemFailures` answer (only the failed messages return to the
/// queue), as Lambda defines them.
pub use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

pub enum Invocation {
    Http(Box<Request>),
    Sqs(SqsEvent),
    Schedule(Value),
    Direct(Value),
}

/// Tells the event kinds apart by their shape.
pub fn classify(event: Value) -> Result<Invocation, String> {
    if event.get("Records").is_some_and(Value::is_array) {
        let event: SqsEvent = serde_json::from_value(event).map_err(|e| format!("malformed SQS event: {e}"))?;
        // A record without an id could never be reported as failed: refuse the batch instead.
        if event.records.iter().any(|r| r.message_id.is_none()) {
            return Err("malformed SQS event: a record without messageId".into());
        }
        return Ok(Invocation::Sqs(event));
    }
    if event.get("requestContext").is_some() && (event.get("rawPath").is_some() || event.get("httpMethod").is_some()) {
        let req: lambda_http::request::LambdaRequest =
            serde_json::from_value(event).map_err(|e| format!("malformed HTTP event: {e}"))?;
        return Ok(Invocation::Http(Box::new(req.into())));
    }
    if event.get("source").and_then(Value::as_str) == Some("aws.events")
        || event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
    {
        return Ok(Invocation::Schedule(event));
    }
    Ok(Invocation::Direct(event))
}

/// What an SQS or direct invocation answers, as JSON; a value that cannot be serialised fails the
/// invocation (a batch answered `null` would drop every message).
pub fn output<T: Serialize>(value: &T) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| format!("the answer could not be serialised: {e}"))
}

/// HTTP API v2 / function URL response payload.
pub fn http_payload(resp: Response<Body>) -> Value {
    let (parts, body) = resp.into_parts();
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), Value::String(v.to_str().ok()?.to_owned()))))
        .collect();
    let (body, b64) = match body {
        Body::Empty => (String::new(), false),
        Body::Text(t) => (t, false),
        Body::Binary(b) => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(b), true)
        }
        _ => (String::new(), false),
    };
    // `cookies` must be present: consumers that decode the payload as aws_lambda_events'
    // ApiGatewayV2httpResponse (cargo-lambda among them) require the field.
    serde_json::json!({"statusCode": parts.status.as_u16(), "headers": headers, "body": body, "isBase64Encoded": b64, "cookies": []})
}

/// Runs the Lambda runtime loop with `handler`, which receives every invocation classified.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Invocation) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Value, String>> + Send,
{
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            let inv = classify(event.payload).map_err(lambda_runtime::Error::from)?;
            within_deadline(&event.context, inv, handler).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

/// Serves one invocation inside the time its context allows: the budget is visible to the work
/// ([`shared::deadline`]), and an HTTP request whose work is still running at the deadline is
/// answered `504 timeout` rather than killed without an answer. Everything it logs is inside the
/// invocation's span ([`crate::telemetry::invocation_span`]).
pub async fn within_deadline<F, Fut>(
    ctx: &lambda_runtime::Context,
    inv: Invocation,
    handler: F,
) -> Result<Value, String>
where
    F: FnOnce(Invocation) -> Fut,
    Fut: Future<Output = Result<Value, String>>,
{
    let span = crate::telemetry::invocation_span(ctx);
    bounded(ctx, inv, handler).instrument(span).await
}

async fn bounded<F, Fut>(ctx: &lambda_runtime::Context, inv: Invocation, handler: F) -> Result<Value, String>
where
    F: FnOnce(Invocation) -> Fut,
    Fut: Future<Output = Result<Value, String>>,
{
    let Some(budget) = shared::deadline::Budget::from_epoch_millis(ctx.deadline) else {
        return handler(inv).await;
    };
    let http = matches!(inv, Invocation::Http(_));
    let work = shared::deadline::scope(budget, handler(inv));
    if !http {
        return work.await;
    }
    match tokio::time::timeout_at(budget.last_call().into(), work).await {
        Ok(out) => out,
        Err(_) => {
            tracing::error!(
                budget_ms = budget.total().as_millis() as u64,
                "request did not finish within its time budget"
            );
            let e = shared::ApiError::new(
                shared::ErrorCode::Timeout,
                "the request did not finish in time (timed out); retry in a moment",
            );
            Ok(http_payload(crate::http::error(&e)))
        }
    }
}

/// A Lambda context whose deadline is `d` from now (tests, local tools).
pub fn context_with_deadline(d: std::time::Duration) -> lambda_runtime::Context {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut ctx = lambda_runtime::Context::default();
    ctx.deadline = (now + d).as_millis() as u64;
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_a_function_url_event() {
        let ev = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/settings", "rawQueryString": "",
            "headers": {"authorization": "Bearer x"},
            "requestContext": {"accountId": "123", "apiId": "a", "domainName": "x.lambda-url.us-east-1.on.aws",
                "domainPrefix": "x", "http": {"method": "GET", "path": "/settings", "protocol": "HTTP/1.1",
                "sourceIp": "1.2.3.4", "userAgent": "t"}, "requestId": "r", "routeKey": "$default", "stage": "$default",
                "time": "29/Nov/2026:17:00:00 +0000", "timeEpoch": 0},
            "isBase64Encoded": false
        });
        match classify(ev).unwrap() {
            Invocation::Http(r) => assert_eq!(r.uri().path(), "/settings"),
            _ => panic!("not http"),
        }
    }

    #[test]
    fn http_payload_is_a_valid_http_api_v2_response() {
        let resp = crate::http::json(201, &serde_json::json!({"ok": true}));
        let payload = http_payload(resp);
        let parsed: lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse =
            serde_json::from_value(payload).expect("decodes as ApiGatewayV2httpResponse");
        assert_eq!(parsed.status_code, 201);
        assert_eq!(parsed.headers.get("content-type").unwrap(), "application/json");
    }

    #[tokio::test]
    async fn an_http_request_past_its_deadline_is_answered_504_and_the_budget_is_visible() {
        let req = lambda_http::http::Request::builder().uri("https://x/settings").body(Body::Empty).unwrap();
        let ctx = context_with_deadline(std::time::Duration::from_millis(400));
        let started = std::time::Instant::now();
        let out = within_deadline(&ctx, Invocation::Http(Box::new(req)), |_| async {
            assert!(shared::deadline::remaining().is_some_and(|r| r <= std::time::Duration::from_millis(400)));
            std::future::pending::<Result<Value, String>>().await
        })
        .await
        .unwrap();
        assert!(started.elapsed() < std::time::Duration::from_millis(400), "{:?}", started.elapsed());
        assert_eq!(out["statusCode"], 504);
        let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["code"], "timeout");
        assert!(body["message"].as_str().unwrap().contains("timed out"));
        // Without a deadline in the context, nothing is bounded.
        let out = within_deadline(&lambda_runtime::Context::default(), Invocation::Direct(Value::Null), |_| async {
            assert!(shared::deadline::current().is_none());
            Ok(Value::Bool(true))
        })
        .await;
        assert_eq!(out, Ok(Value::Bool(true)));
    }

    #[test]
    fn classifies_sqs_and_schedule() {
        let sqs = serde_json::json!({"Records": [{"messageId": "m1", "body": "{}", "attributes": {"ApproximateReceiveCount": "2"}}]});
        assert!(
            matches!(classify(sqs).unwrap(), Invocation::Sqs(e) if e.records[0].message_id.as_deref() == Some("m1"))
        );
        let sched = serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        assert!(matches!(classify(sched).unwrap(), Invocation::Schedule(_)));
        assert!(matches!(classify(serde_json::json!({"action": "agents.get"})).unwrap(), Invocation::Direct(_)));
        assert!(classify(serde_json::json!({"Records": [{"body": "{}"}]})).is_err());
    }
}
