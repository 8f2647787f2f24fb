//! One trace per request and per queue message: every JSON line a function writes while serving a
//! function-URL request or a queue message carries the Lambda request id, the tenant and the run.

use integration_tests::*;
use lambda_glue::lambda::{Invocation, classify, within_deadline};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tactical_sim::SimConfig;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;

/// JSON lines written into a shared buffer.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Lines {
    type Writer = Lines;
    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

impl Lines {
    fn json(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }
}

/// The functions' JSON format on a buffer; the in-process simulator's own lines are left out.
fn capture() -> (Lines, tracing::subscriber::DefaultGuard) {
    let lines = Lines::default();
    let filter = Targets::new().with_default(LevelFilter::INFO).with_target("tactical_sim", LevelFilter::OFF);
    let guard = tracing::subscriber::set_default(lambda_glue::telemetry::json_subscriber(filter, lines.clone()));
    (lines, guard)
}

fn context(request_id: &str, function: &str) -> lambda_runtime::Context {
    let mut ctx = lambda_glue::lambda::context_with_deadline(std::time::Duration::from_secs(60));
    ctx.request_id = request_id.to_owned();
    ctx.env_config = Arc::new(lambda_runtime::Config { function_name: function.to_owned(), ..Default::default() });
    ctx
}

/// The value of `field` in the spans of a line (outermost first, the innermost wins).
fn span_field<'a>(line: &'a Value, field: &str) -> Option<&'a Value> {
    line["spans"].as_array()?.iter().rev().find_map(|s| s.get(field))
}

// current_thread runtime: the capturing subscriber is the default of this thread only.
#[tokio::test]
async fn every_line_of_a_request_and_of_a_queue_message_carries_request_id_tenant_and_run() {
    let p = Pipeline::new("spans").await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("spans");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;

    // A function-URL request: the tenant is known once the token is verified.
    let (lines, guard) = capture();
    let req = request("POST", "/sync", Some(&tok), None);
    let out = within_deadline(&context("req-http-1", "sync-clients"), Invocation::Http(Box::new(req)), |inv| {
        sync_clients::invoke(&p.deps, inv)
    })
    .await
    .expect("an HTTP answer");
    drop(guard);
    assert_eq!(out["statusCode"], 202, "{out}");
    let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    let run_id = body["run_id"].as_str().expect("run id").to_owned();
    let http_lines = lines.json();
    for l in &http_lines {
        assert_eq!(span_field(l, "request_id"), Some(&Value::from("req-http-1")), "{l}");
        assert_eq!(span_field(l, "function"), Some(&Value::from("sync-clients")), "{l}");
        assert_eq!(span_field(l, "tenant"), Some(&Value::from(t.as_str())), "{l}");
        assert_eq!(span_field(l, "run_id"), Some(&Value::from(run_id.as_str())), "{l}");
    }
    let requested = http_lines.iter().find(|l| l["message"] == "sync requested").unwrap();
    assert!(requested.get("tenant").is_none(), "the tenant is written once, on the span: {requested}");

    // The run's start message, as Lambda's SQS event source hands it over.
    let msgs = p
        .sqs
        .receive_message()
        .queue_url(&p.stack.queue_urls["SyncClientsQueue"])
        .max_number_of_messages(1)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    let m = msgs.first().expect("the start message");
    let event = serde_json::json!({"Records": [{
        "messageId": m.message_id(), "body": m.body(), "attributes": {"ApproximateReceiveCount": "1"}
    }]});
    let (lines, guard) = capture();
    let out = within_deadline(&context("req-sqs-1", "sync-clients"), classify(event).unwrap(), |inv| {
        sync_clients::invoke(&p.deps, inv)
    })
    .await
    .expect("a batch response");
    drop(guard);
    assert_eq!(out["batchItemFailures"], serde_json::json!([]), "{out}");
    let sqs_lines = lines.json();
    assert!(sqs_lines.iter().any(|l| l["message"] == "sync run finished"), "{sqs_lines:?}");
    for l in &sqs_lines {
        assert_eq!(span_field(l, "request_id"), Some(&Value::from("req-sqs-1")), "{l}");
        assert_eq!(span_field(l, "message_id"), Some(&Value::from(m.message_id().unwrap())), "{l}");
        assert_eq!(span_field(l, "tenant"), Some(&Value::from(t.as_str())), "{l}");
        assert_eq!(span_field(l, "run_id"), Some(&Value::from(run_id.as_str())), "{l}");
        assert_eq!(span_field(l, "sync_type"), Some(&Value::from("clients")), "{l}");
    }
}
