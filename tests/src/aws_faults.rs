//! AWS faults for tests: an HTTP client for the AWS SDK that wraps the real one (LocalStack) and,
//! per operation (`X-Amz-Target`, e.g. DynamoDB `UpdateItem`, Secrets Manager `GetSecretValue`),
//! answers `ThrottlingException` for the next N calls, or runs a hook (a concurrent write) just
//! before one call goes out. Faults sit below the adapters, so the real `DynamoStore`,
//! `SecretsManagerStore` and the SDK's own retries are what the test exercises.

use crate::{Pipeline, own_stack, sdk};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use futures::future::BoxFuture;
use lambda_glue::Deps;
use shared::config::Config;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Hook = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

enum Action {
    Throttle,
    Hook(Option<Hook>),
}

struct Rule {
    op: String,
    body_contains: Vec<String>,
    remaining: u32,
    action: Action,
}

/// The faults armed on a pipeline's AWS clients, and what they saw.
#[derive(Default)]
pub struct AwsFaults {
    rules: Mutex<Vec<Rule>>,
    calls: Mutex<HashMap<String, u64>>,
    throttled: Mutex<HashMap<String, u64>>,
    /// Counted patterns: op, body fragments, calls seen.
    watches: Mutex<Vec<(String, Vec<String>, u64)>>,
    /// Added before every call: a network round trip LocalStack on loopback does not have.
    latency: Mutex<Duration>,
}

impl AwsFaults {
    /// The next `times` calls of `op` whose request body contains every one of `body_contains`
    /// are answered `ThrottlingException` (the SDK retries them itself: 3 attempts per call).
    pub fn throttle(&self, op: &str, body_contains: &[&str], times: u32) {
        self.rules.lock().unwrap().push(Rule {
            op: op.to_owned(),
            body_contains: body_contains.iter().map(|s| (*s).to_owned()).collect(),
            remaining: times,
            action: Action::Throttle,
        });
    }

    /// Runs `hook` (once) right before the next matching call goes out, then sends the call.
    pub fn before_once<F>(&self, op: &str, body_contains: &[&str], hook: F)
    where
        F: FnOnce() -> BoxFuture<'static, ()> + Send + 'static,
    {
        self.rules.lock().unwrap().push(Rule {
            op: op.to_owned(),
            body_contains: body_contains.iter().map(|s| (*s).to_owned()).collect(),
            remaining: 1,
            action: Action::Hook(Some(Box::new(hook))),
        });
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// Calls of `op` sent (throttled ones included).
    pub fn calls(&self, op: &str) -> u64 {
        self.calls.lock().unwrap().get(op).copied().unwrap_or(0)
    }

    /// Starts counting the calls of `op` whose request body contains every one of
    /// `body_contains`; read the count with [`Self::watched`].
    pub fn watch(&self, op: &str, body_contains: &[&str]) -> usize {
        let mut w = self.watches.lock().unwrap();
        w.push((op.to_owned(), body_contains.iter().map(|s| (*s).to_owned()).collect(), 0));
        w.len() - 1
    }

    /// Delays every call by `d` (benchmarks: a real AWS round trip, e.g. 5 ms).
    pub fn set_latency(&self, d: Duration) {
        *self.latency.lock().unwrap() = d;
    }

    pub fn watched(&self, watch: usize) -> u64 {
        self.watches.lock().unwrap()[watch].2
    }

    /// Calls of `op` answered with a throttling error.
    pub fn throttled(&self, op: &str) -> u64 {
        self.throttled.lock().unwrap().get(op).copied().unwrap_or(0)
    }

    /// Whether a hook is still waiting for its call.
    pub fn hooks_pending(&self) -> usize {
        self.rules.lock().unwrap().iter().filter(|r| matches!(r.action, Action::Hook(Some(_)))).count()
    }

    fn take(&self, op: &str, body: &str) -> Option<Action> {
        *self.calls.lock().unwrap().entry(op.to_owned()).or_default() += 1;
        for (wop, parts, n) in self.watches.lock().unwrap().iter_mut() {
            if wop == op && parts.iter().all(|s| body.contains(s.as_str())) {
                *n += 1;
            }
        }
        let mut rules = self.rules.lock().unwrap();
        let i = rules
            .iter()
            .position(|r| r.remaining > 0 && r.op == op && r.body_contains.iter().all(|s| body.contains(s.as_str())))?;
        rules[i].remaining -= 1;
        let action = match &mut rules[i].action {
            Action::Throttle => Action::Throttle,
            Action::Hook(h) => Action::Hook(h.take()),
        };
        if rules[i].remaining == 0 {
            rules.remove(i);
        }
        Some(action)
    }
}

#[derive(Clone)]
struct FaultyClient {
    inner: SharedHttpClient,
    faults: Arc<AwsFaults>,
}

impl std::fmt::Debug for FaultyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultyClient")
    }
}

#[derive(Clone)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Arc<AwsFaults>,
}

impl std::fmt::Debug for FaultyConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultyConnector")
    }
}

impl HttpClient for FaultyClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

fn throttling(target: &str) -> HttpResponse {
    // awsJson 1.0 (DynamoDB) and 1.1 (Secrets Manager, SQS) both read the code from `__type`.
    let (ty, content_type) = if target.starts_with("DynamoDB") {
        ("com.amazonaws.dynamodb.v20120810#ThrottlingException", "application/x-amz-json-1.0")
    } else {
        ("ThrottlingException", "application/x-amz-json-1.1")
    };
    let body = serde_json::json!({"__type": ty, "message": "Rate exceeded (injected by the test)"}).to_string();
    let mut resp = HttpResponse::new(400u16.try_into().expect("status"), SdkBody::from(body));
    resp.headers_mut().insert("content-type", content_type);
    resp
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request.headers().get("x-amz-target").unwrap_or_default().to_owned();
        let op = target.rsplit('.').next().unwrap_or_default().to_owned();
        let body = request.body().bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        match self.faults.take(&op, &body) {
            Some(Action::Throttle) => {
                *self.faults.throttled.lock().unwrap().entry(op).or_default() += 1;
                HttpConnectorFuture::ready(Ok(throttling(&target)))
            }
            Some(Action::Hook(Some(hook))) => {
                let inner = self.inner.clone();
                HttpConnectorFuture::new(async move {
                    hook().await;
                    inner.call(request).await
                })
            }
            _ => {
                let latency = *self.faults.latency.lock().unwrap();
                if latency.is_zero() {
                    return self.inner.call(request);
                }
                let inner = self.inner.clone();
                HttpConnectorFuture::new(async move {
                    tokio::time::sleep(latency).await;
                    inner.call(request).await
                })
            }
        }
    }
}

/// LocalStack's SDK config with the fault layer in front of its HTTP client. The SDK keeps its
/// standard retry mode (3 attempts); only the backoff base is shortened so tests do not sleep.
pub async fn faulty_sdk(faults: Arc<AwsFaults>) -> aws_config::SdkConfig {
    let base = sdk().await;
    // LocalStack is plain HTTP on loopback: the SDK's own hyper client, without TLS.
    let inner = base.http_client().unwrap_or_else(|| aws_smithy_http_client::Builder::new().build_http());
    base.to_builder()
        .http_client(FaultyClient { inner, faults })
        .retry_config(aws_config::retry::RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
        .build()
}

/// A pipeline (own stack) whose functions reach DynamoDB, Secrets Manager and SQS through the
/// fault layer. `tweak` adjusts the functions' environment as in [`Pipeline::new_with`].
pub async fn faulty_pipeline(
    label: &str,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> (Pipeline, Arc<AwsFaults>) {
    let stack = own_stack(label).await;
    let faults = Arc::new(AwsFaults::default());
    let mut env = stack.env.clone();
    env.insert("TACTICAL_HOST_ALLOWLIST".into(), "127.0.0.1,localhost".into());
    env.insert("LOCAL_DEVELOPMENT".into(), "true".into());
    tweak(&mut env);
    let config = Config::from_map(&env).expect("template environment is a valid config");
    let deps = Deps::build(config, &faulty_sdk(faults.clone()).await).await.expect("deps build");
    let sqs = aws_sdk_sqs::Client::new(&sdk().await);
    (Pipeline { stack, deps, sqs }, faults)
}
