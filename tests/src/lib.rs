//! Test harness: LocalStack stacks provisioned from template.yaml, per-test tenants, PSA tokens,
//! function-URL requests, and the Tactical simulator.
//!
//! Isolation: every test uses its own tenant id; tests that consume queues get their own stack
//! (table + queues) so no test depends on another's messages or on running order.

pub mod aws_faults;
pub mod cleanup;
pub mod schema;

use devtools::provision::{Provisioned, Provisioner, TemplateStack, template_path};
use lambda_glue::Deps;
use lambda_http::{Body, Request};
use shared::config::Config;
use shared::tenant::TenantId;
use std::collections::BTreeMap;
use tokio::sync::OnceCell;

pub const DEV_KEY: &str = lambda_glue::jwt::DEV_JWT_KEY;

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// SDK config pointing at LocalStack (the standard `AWS_ENDPOINT_URL` mechanism).
pub async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

fn random_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// A tenant id nobody else in this run uses.
pub fn tenant(label: &str) -> TenantId {
    TenantId::parse(&format!("{label}-{}", random_suffix())).expect("valid tenant id")
}

/// Provisions a fresh stack named `it-<label>-<random>` from template.yaml.
pub async fn own_stack(label: &str) -> Provisioned {
    init_logs();
    let name = format!("it-{label}-{}", random_suffix());
    provision(&name).await
}

async fn provision(name: &str) -> Provisioned {
    let template = TemplateStack::load(&template_path()).expect("template.yaml parses");
    let sdk = sdk().await;
    let p = Provisioner::new(&sdk);
    let prefix = format!("{name}/");
    let overrides = devtools::provision::local_parameters(&prefix);
    let out = p.provision(&template, name, &overrides).await.unwrap_or_else(|e| {
        panic!(
            "provisioning {name} in LocalStack at {} failed: {e}. Is LocalStack running (infra/localstack.sh start)?",
            endpoint()
        )
    });
    p.put_jwt_key(&format!("{prefix}psa-jwt-key"), DEV_KEY).await.expect("jwt key secret");
    out
}

/// `TEST_LOG=1` shows the functions' logs (text) while debugging a test.
pub fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        // SAFETY: set before any thread of this test reads the environment for logging.
        unsafe { std::env::set_var("LOG_FORMAT", "text") };
        lambda_glue::telemetry::init();
    }
}

static SHARED: OnceCell<Provisioned> = OnceCell::const_new();

/// One stack for the tests that only read and write per-tenant data (names only are shared; each
/// test builds its own clients on its own runtime).
pub async fn shared_stack() -> Provisioned {
    SHARED.get_or_init(|| async { provision(&format!("it-shared-{}", random_suffix())).await }).await.clone()
}

/// The functions' dependencies for a stack, as a cold start would build them.
pub async fn deps(stack: &Provisioned) -> Deps {
    deps_with(stack, |_| {}).await
}

pub async fn deps_with(stack: &Provisioned, tweak: impl FnOnce(&mut BTreeMap<String, String>)) -> Deps {
    let mut env = stack.env.clone();
    env.insert("TACTICAL_HOST_ALLOWLIST".into(), "127.0.0.1,localhost".into());
    env.insert("LOCAL_DEVELOPMENT".into(), "true".into());
    tweak(&mut env);
    let config = Config::from_map(&env).expect("template environment is a valid config");
    Deps::build(config, &sdk().await).await.expect("deps build")
}

/// A PSA token for `tenant` with `perms`.
pub fn token(tenant: &TenantId, perms: &[&str]) -> String {
    lambda_glue::jwt::sign_hs256(DEV_KEY, &lambda_glue::jwt::claims_for(tenant.as_str(), "test-user", perms, 600))
}

/// A PSA token for `tenant` with `perms`, the tenant having the Enterprise remote actions.
pub fn enterprise_token(tenant: &TenantId, perms: &[&str]) -> String {
    let mut claims = lambda_glue::jwt::claims_for(tenant.as_str(), "test-user", perms, 600);
    claims.entitlements = vec![shared::auth::entitlements::REMOTE_ACTIONS.into()];
    lambda_glue::jwt::sign_hs256(DEV_KEY, &claims)
}

pub fn admin_token(tenant: &TenantId) -> String {
    token(tenant, &[shared::auth::perms::SETTINGS_READ, shared::auth::perms::SETTINGS_UPDATE])
}

/// A function-URL request as lambda_http hands it to a handler.
pub fn request(method: &str, path: &str, token: Option<&str>, body: Option<serde_json::Value>) -> Request {
    let mut b = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://fn.lambda-url.us-east-1.on.aws{path}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let req = b.body(body.map(|v| Body::Text(v.to_string())).unwrap_or(Body::Empty)).expect("request");
    // As lambda_http does for a function URL event: the query string becomes the parameters.
    match req.uri().query().map(|q| q.parse::<lambda_http::aws_lambda_events::query_map::QueryMap>()) {
        Some(Ok(q)) => lambda_http::RequestExt::with_query_string_parameters(req, q),
        _ => req,
    }
}

/// Status and JSON body of a handler response.
pub fn read(resp: lambda_http::Response<Body>) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let v = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::String(t.clone())),
        Body::Binary(b) => serde_json::from_slice(b).unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    (status, v)
}

/// The functions a test can call, as the PSA frontend would through their function URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Connection,
    SyncClients,
    SyncDevices,
    SyncAlerts,
    SyncSoftware,
    RemoteActions,
}

/// Sync queues (logical ids of template.yaml) and the functions consuming them.
const ROUTES: [(&str, &str); 4] = [
    ("SyncClientsQueue", "sync-clients"),
    ("SyncDevicesQueue", "sync-devices"),
    ("SyncAlertsQueue", "sync-alerts"),
    ("SyncSoftwareQueue", "sync-software"),
];

/// One isolated pipeline: its own stack (table, queues, DLQs), the functions' deps, and an
/// in-process stand-in for Lambda's SQS event source (real SQS receive/delete against LocalStack).
pub struct Pipeline {
    pub stack: Provisioned,
    pub deps: Deps,
    pub sqs: aws_sdk_sqs::Client,
}

impl Pipeline {
    pub async fn new(label: &str) -> Self {
        Self::new_with(label, |_| {}).await
    }

    /// A pipeline whose functions see `tweak`ed environment variables.
    pub async fn new_with(label: &str, tweak: impl FnOnce(&mut BTreeMap<String, String>)) -> Self {
        let stack = own_stack(label).await;
        let deps = deps_with(&stack, tweak).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk().await);
        Self { stack, deps, sqs }
    }

    pub async fn call(
        &self,
        f: Function,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        read(self.handle(f, request(method, path, Some(token), body)).await)
    }

    /// Hands a function-URL request to the function's handler.
    pub async fn handle(&self, f: Function, req: Request) -> lambda_http::Response<Body> {
        match f {
            Function::Connection => connection::handle(&self.deps, req).await,
            Function::SyncClients => sync_clients::handle(&self.deps, req).await,
            Function::SyncDevices => sync_devices::handle(&self.deps, req).await,
            Function::SyncAlerts => sync_alerts::handle(&self.deps, req).await,
            Function::SyncSoftware => sync_software::handle(&self.deps, req).await,
            Function::RemoteActions => remote_actions::handle(&self.deps, req).await,
        }
    }

    /// Sets how long a failed message stays invisible before SQS redelivers it (the queues'
    /// visibility timeout, 720 s or 1800 s in template.yaml). A test whose work is retried through
    /// SQS sets a short one on its own stack; never zero, so a retry is never instant.
    pub async fn redeliver_after(&self, secs: u32) {
        assert!(secs >= 1, "a redelivery is never instant");
        for (queue, _) in ROUTES {
            self.sqs
                .set_queue_attributes()
                .queue_url(&self.stack.queue_urls[queue])
                .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, secs.to_string())
                .send()
                .await
                .expect("set visibility timeout");
        }
    }

    /// Messages of `queue` received and not yet deleted, and the queue's visibility timeout.
    async fn in_flight(&self, queue: &str) -> (usize, u64) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.stack.queue_urls[queue])
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::VisibilityTimeout)
            .send()
            .await
            .expect("queue attributes");
        let attrs = out.attributes.unwrap_or_default();
        let get = |a: A| attrs.get(&a).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        (get(A::ApproximateNumberOfMessagesNotVisible) as usize, get(A::VisibilityTimeout))
    }

    /// Delivers queue messages to their functions until every queue is empty, waiting for failed
    /// messages to be redelivered after their visibility timeout. Returns the number of messages
    /// delivered. Bounded: panics if the queues never settle.
    pub async fn drain(&self) -> usize {
        self.deliver(None).await
    }

    /// Exactly `rounds` passes over the queues (each pass delivers what is visible then).
    pub async fn drain_rounds(&self, rounds: usize) -> usize {
        self.deliver(Some(rounds)).await
    }

    async fn deliver(&self, rounds: Option<usize>) -> usize {
        let mut delivered = 0;
        let mut empty_rounds = 0;
        let mut waiting = false;
        for pass in 0..2000 {
            if rounds.is_some_and(|r| pass >= r) {
                return delivered;
            }
            let mut round = 0;
            for (queue, function) in ROUTES {
                let url = &self.stack.queue_urls[queue];
                let out = self
                    .sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    // Waiting for a redelivery: long-poll instead of spinning.
                    .wait_time_seconds(if waiting { 1 } else { 0 })
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                    )
                    .send()
                    .await
                    .expect("receive");
                let msgs = out.messages.unwrap_or_default();
                if msgs.is_empty() {
                    continue;
                }
                round += msgs.len();
                let records: Vec<serde_json::Value> = msgs
                    .iter()
                    .map(|m| {
                        let count = m
                            .attributes()
                            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                            .cloned()
                            .unwrap_or_else(|| "1".into());
                        serde_json::json!({"messageId": m.message_id(), "body": m.body(), "attributes": {"ApproximateReceiveCount": count}})
                    })
                    .collect();
                let inv = lambda_glue::lambda::classify(serde_json::json!({ "Records": records })).expect("sqs event");
                let result = match function {
                    "sync-clients" => sync_clients::invoke(&self.deps, inv).await,
                    "sync-devices" => sync_devices::invoke(&self.deps, inv).await,
                    "sync-alerts" => sync_alerts::invoke(&self.deps, inv).await,
                    _ => sync_software::invoke(&self.deps, inv).await,
                };
                let failed: Vec<String> = match &result {
                    Ok(v) => v["batchItemFailures"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned)).collect())
                        .unwrap_or_default(),
                    Err(_) => msgs.iter().filter_map(|m| m.message_id().map(str::to_owned)).collect(),
                };
                for m in &msgs {
                    let rh = m.receipt_handle().unwrap();
                    if failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                        // Left invisible: SQS redelivers it after the visibility timeout.
                    } else {
                        self.sqs.delete_message().queue_url(url).receipt_handle(rh).send().await.expect("delete");
                        delivered += 1;
                    }
                }
            }
            if round == 0 {
                waiting = false;
                for (queue, _) in ROUTES {
                    let (n, timeout) = self.in_flight(queue).await;
                    if n > 0 {
                        assert!(
                            timeout <= 30,
                            "{n} failed message(s) on {queue} wait {timeout} s for redelivery: a test that \
                             retries through SQS sets a short delay with Pipeline::redeliver_after"
                        );
                        waiting = true;
                    }
                }
                if waiting {
                    continue;
                }
                empty_rounds += 1;
                if empty_rounds >= 2 {
                    return delivered;
                }
            } else {
                empty_rounds = 0;
                waiting = false;
            }
        }
        panic!("queues did not settle");
    }

    /// Messages waiting in a DLQ (by main queue logical id).
    pub async fn dlq_depth(&self, queue: &str) -> usize {
        let url = self.stack.dlq_url(queue).expect("dlq").clone();
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("attributes");
        out.attributes
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages).cloned())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// Starts the simulator with `cfg` (an ephemeral loopback port).
pub async fn simulator(cfg: tactical_sim::SimConfig) -> tactical_sim::Simulator {
    tactical_sim::Simulator::start(cfg).await.expect("simulator starts")
}

/// Keeps each agent's status for hours (per-agent thresholds, as Tactical allows), so a test or a
/// benchmark that runs slowly on a busy machine does not see online agents decay between two
/// syncs (which would be real changes, and real writes).
pub fn stabilize(sim: &tactical_sim::Simulator) {
    let st = sim.state();
    for a in st.agents() {
        match a.status {
            tactical_sim::AgentStatus::Online => {
                st.set_agent_thresholds(&a.agent_id, 120, 240).unwrap();
                st.make_online(&a.agent_id).unwrap();
            }
            tactical_sim::AgentStatus::Offline => {
                st.set_agent_thresholds(&a.agent_id, 4, 10_000).unwrap();
                st.set_agent_last_seen(&a.agent_id, time::OffsetDateTime::now_utc() - time::Duration::minutes(60))
                    .unwrap();
            }
            tactical_sim::AgentStatus::Overdue => {}
        }
    }
}

/// Every Lambda function of the bundle (crate, binary and template name).
pub const FUNCTIONS: [&str; 8] = [
    "webhook",
    "connection",
    "sync-clients",
    "sync-devices",
    "sync-alerts",
    "sync-software",
    "scheduler",
    "remote-actions",
];

/// Saves the simulator as the tenant's Tactical (API key) and tests the connection.
pub async fn connect(p: &Pipeline, tenant: &TenantId, sim: &tactical_sim::Simulator) {
    let t = admin_token(tenant);
    let (s, v) = p
        .call(
            Function::Connection,
            "PATCH",
            "/settings",
            &t,
            Some(serde_json::json!({"instance_url": sim.base_url(), "auth_mode": "api_key", "api_key": tactical_sim::DEFAULT_API_KEY})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = p.call(Function::Connection, "POST", "/test", &t, Some(serde_json::json!({}))).await;
    assert_eq!((s, &v["success"]), (200, &serde_json::json!(true)), "{v}");
}

/// The API Gateway request Tactical's delivery becomes: method, path with query, headers and the
/// exact body bytes of a webhook the simulator rendered.
pub fn webhook_request(w: &tactical_sim::PreparedWebhook) -> Request {
    let uri: lambda_http::http::Uri = w.url.parse().expect("webhook url");
    let path_and_query = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let mut b = lambda_http::http::Request::builder()
        .method(w.method.as_str())
        .uri(format!("https://api.example.test{path_and_query}"));
    for (k, v) in &w.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(w.body.clone().map(Body::Text).unwrap_or(Body::Empty)).expect("request")
}

/// A raw webhook request (for bodies the simulator would never send).
pub fn raw_webhook(tenant: &str, secret: Option<&str>, body: &str, query: &str) -> Request {
    let mut b = lambda_http::http::Request::builder()
        .method("POST")
        .uri(format!("https://api.example.test/webhooks/tacticalrmm/{tenant}{query}"));
    if let Some(s) = secret {
        b = b.header("X-Alga-Webhook-Secret", s);
    }
    b.body(Body::Text(body.to_owned())).expect("request")
}

/// A queue of its own that receives one tenant's events of one `detail_type` through a rule on the
/// stack's bus (`label` keeps the queue and rule names apart between callers).
pub async fn event_queue(p: &Pipeline, tenant: &str, detail_type: &str, label: &str) -> String {
    let events = aws_sdk_eventbridge::Client::new(&sdk().await);
    let bus = p.stack.env["EVENT_BUS_NAME"].clone();
    let name = format!("{bus}-{label}-{tenant}");
    let url = p.sqs.create_queue().queue_name(&name).send().await.expect("queue").queue_url.expect("queue url");
    let attrs = p
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue arn");
    let arn = attrs.attributes.expect("attributes")[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    let pattern = serde_json::json!({"source": ["tactical-bridge"], "detail-type": [detail_type], "detail": {"tenant": [tenant]}});
    events.put_rule().name(&name).event_bus_name(&bus).event_pattern(pattern.to_string()).send().await.expect("rule");
    let target = aws_sdk_eventbridge::types::Target::builder().id(label).arn(arn).build().expect("target");
    events.put_targets().rule(&name).event_bus_name(&bus).targets(target).send().await.expect("targets");
    url
}
