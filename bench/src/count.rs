//! What a benchmark operation bills (docs/cost.md): every AWS call our functions make goes through
//! a counting HTTP client under the SDK, which keeps the raw request and response. When an
//! operation ends, [`Counter::report`] turns them into the units AWS bills, as AWS rounds them:
//!
//! - DynamoDB (on demand): a write unit per started 1 KB of each item written (the larger of the
//!   item before and after for an update; a failed condition still pays for the item it read), a
//!   read unit per started 4 KB of each item read by GetItem/BatchGetItem, per started 4 KB of all
//!   the items a Query or Scan read together, half of it for an eventually consistent read.
//!   A projection does not lower what a read costs: the full item size counts.
//! - SQS: a request per started 64 KB of payload (a batch's bodies together), at least one.
//! - Secrets Manager: one API call each. EventBridge: an event per started 64 KB of each entry.
//!
//! The raw bytes are kept and parsed only in `report`, after the timed work, so counting adds
//! a copy of each body to our side and nothing to the floors (their clients are not counted).

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use integration_tests::Pipeline;
use lambda_glue::Deps;
use lambda_glue::app::Edge;
use serde_json::{Value, json};
use shared::config::Config;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One AWS call as it went over the wire.
struct Call {
    service: String,
    op: String,
    status: u16,
    req: Vec<u8>,
    resp: Vec<u8>,
}

/// (table, pk, sk)
type ItemKey = (String, String, String);

/// The calls made since the last report, and the size of every item seen so far (DynamoDB bills
/// an update or a projected read by the whole item, which the wire does not always show).
#[derive(Default)]
pub struct Counter {
    calls: Mutex<Vec<Call>>,
    sizes: Mutex<HashMap<ItemKey, u64>>,
    /// Queue URL → logical id in template.yaml (`SyncDevicesQueue`, …).
    queues: Mutex<HashMap<String, String>>,
}

#[derive(Clone)]
struct CountingClient {
    inner: SharedHttpClient,
    counter: Arc<Counter>,
}

impl std::fmt::Debug for CountingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CountingClient")
    }
}

#[derive(Clone)]
struct CountingConnector {
    inner: SharedHttpConnector,
    counter: Arc<Counter>,
}

impl std::fmt::Debug for CountingConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CountingConnector")
    }
}

impl HttpClient for CountingClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(CountingConnector {
            inner: self.inner.http_connector(settings, components),
            counter: self.counter.clone(),
        })
    }
}

impl HttpConnector for CountingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request.headers().get("x-amz-target").unwrap_or_default().to_owned();
        let (service, op) = match target.split_once('.') {
            Some((s, o)) => (service_of(s).to_owned(), o.to_owned()),
            None => ("other".to_owned(), target),
        };
        let req = request.body().bytes().map(<[u8]>::to_vec).unwrap_or_default();
        let inner = self.inner.clone();
        let counter = self.counter.clone();
        HttpConnectorFuture::new(async move {
            let mut resp = inner.call(request).await?;
            let body = std::mem::replace(resp.body_mut(), SdkBody::taken());
            let bytes = ByteStream::new(body)
                .collect()
                .await
                .map_err(|e| ConnectorError::io(Box::new(e)))?
                .into_bytes()
                .to_vec();
            *resp.body_mut() = SdkBody::from(bytes.clone());
            let status = resp.status().as_u16();
            if let Ok(mut calls) = counter.calls.lock() {
                calls.push(Call { service, op, status, req, resp: bytes });
            }
            Ok::<HttpResponse, ConnectorError>(resp)
        })
    }
}

fn service_of(target_prefix: &str) -> &'static str {
    if target_prefix.starts_with("DynamoDB") {
        "DynamoDB"
    } else if target_prefix.starts_with("AmazonSQS") {
        "SQS"
    } else if target_prefix.starts_with("secretsmanager") {
        "SecretsManager"
    } else if target_prefix.starts_with("AWSEvents") {
        "EventBridge"
    } else {
        "other"
    }
}

/// LocalStack's SDK config (or `base`'s, e.g. the fault layer's) with the counter under it.
pub async fn counted_sdk(counter: Arc<Counter>, base: Option<aws_config::SdkConfig>) -> aws_config::SdkConfig {
    let base = match base {
        Some(b) => b,
        None => integration_tests::sdk().await,
    };
    let inner = base.http_client().unwrap_or_else(|| aws_smithy_http_client::Builder::new().build_http());
    base.to_builder().http_client(CountingClient { inner, counter }).build()
}

/// A pipeline (own stack) whose functions and queue deliveries (the stand-in for Lambda's SQS
/// event source, which polls and deletes in production too) are counted. With `faults`, the
/// fault layer sits under the counter (benchmark 8 watches calls through it).
pub async fn counted_pipeline(
    label: &str,
    faults: Option<Arc<integration_tests::aws_faults::AwsFaults>>,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> (Pipeline, Arc<Counter>) {
    let stack = integration_tests::own_stack(label).await;
    let counter = Arc::new(Counter::default());
    let base = match faults {
        Some(f) => Some(integration_tests::aws_faults::faulty_sdk(f).await),
        None => None,
    };
    let sdk = counted_sdk(counter.clone(), base).await;
    let mut env = stack.env.clone();
    env.insert("TACTICAL_HOST_ALLOWLIST".into(), "127.0.0.1,localhost".into());
    env.insert("LOCAL_DEVELOPMENT".into(), "true".into());
    tweak(&mut env);
    let config = Config::from_map(&env).expect("template environment is a valid config");
    // The workers' edge: their 60 s secret cache is what production's sync and remote-action
    // functions build (one warm process here; production has one cache per warm instance).
    // Connection writes go through the same cache, which drops the tenant's copy.
    let deps = Deps::build_for(config, &sdk, Edge::Worker).await.expect("deps build");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    if let Ok(mut q) = counter.queues.lock() {
        q.extend(stack.queue_urls.iter().map(|(id, url)| (url.clone(), id.clone())));
    }
    (Pipeline { stack, deps, sqs }, counter)
}

/// Lambda settings from template.yaml: (function, memory MB, SQS batch size of its queue).
pub const LAMBDA: &[(&str, u32, Option<u32>, &str)] = &[
    ("webhook", 256, None, ""),
    ("connection", 256, None, ""),
    ("sync-clients", 256, Some(10), "SyncClientsQueue"),
    ("sync-devices", 512, Some(5), "SyncDevicesQueue"),
    ("sync-alerts", 256, Some(10), "SyncAlertsQueue"),
    ("sync-software", 512, Some(5), "SyncSoftwareQueue"),
    ("scheduler", 256, None, ""),
    ("remote-actions", 256, None, ""),
];

pub fn memory_mb(function: &str) -> u32 {
    LAMBDA.iter().find(|l| l.0 == function).map_or(256, |l| l.1)
}

/// Per operation (service + API action) of one benchmark operation.
#[derive(Debug, Default, Clone)]
pub struct OpLine {
    pub requests: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Items written or read (DynamoDB), messages (SQS), entries (EventBridge).
    pub items: u64,
    /// Billed units in `unit`.
    pub units: f64,
    pub unit: &'static str,
}

/// What one benchmark operation bills.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub label: String,
    pub ops: BTreeMap<String, OpLine>,
    /// Messages deleted (= handled) per queue logical id.
    pub messages: BTreeMap<String, u64>,
    /// Lambda: function → (invocations, wall seconds spent in it, GB-s at its MemorySize).
    pub lambda: BTreeMap<String, (u64, f64, f64)>,
    pub api_gateway_requests: u64,
}

impl Report {
    pub fn total(&self, unit: &str) -> f64 {
        self.ops.values().filter(|o| o.unit == unit).map(|o| o.units).sum()
    }

    /// Lambda time: `wall` spent in `function` over `url_calls` direct invocations (function
    /// URL, API Gateway, schedule); its queue messages add invocations of its batch size.
    pub fn lambda(&mut self, function: &str, wall: Duration, url_calls: u64) {
        let queue_invocations = LAMBDA
            .iter()
            .find(|l| l.0 == function)
            .and_then(|l| l.2.map(|b| self.messages.get(l.3).copied().unwrap_or(0).div_ceil(u64::from(b))))
            .unwrap_or(0);
        let e = self.lambda.entry(function.to_owned()).or_default();
        e.0 += url_calls + queue_invocations;
        e.1 += wall.as_secs_f64();
        e.2 += wall.as_secs_f64() * f64::from(memory_mb(function)) / 1024.0;
    }

    pub fn json(&self) -> Value {
        self.json_per(1)
    }

    /// The figures divided by `n` (per run, per delivery).
    pub fn json_per(&self, n: u64) -> Value {
        let f = n.max(1) as f64;
        let d = |v: f64| round3(v / f);
        let ops: serde_json::Map<String, Value> = self
            .ops
            .iter()
            .map(|(k, o)| {
                (
                    k.clone(),
                    json!({"requests": d(o.requests as f64), "request_bytes": d(o.request_bytes as f64),
                           "response_bytes": d(o.response_bytes as f64), "items": d(o.items as f64),
                           "units": d(o.units), "unit": o.unit}),
                )
            })
            .collect();
        let lambda: serde_json::Map<String, Value> = self
            .lambda
            .iter()
            .map(|(fun, (inv, s, gbs))| {
                (
                    fun.clone(),
                    json!({"invocations": d(*inv as f64), "wall_s": d(*s), "memory_mb": memory_mb(fun), "gb_s": d(*gbs)}),
                )
            })
            .collect();
        let messages: serde_json::Map<String, Value> =
            self.messages.iter().map(|(q, m)| (q.clone(), json!(d(*m as f64)))).collect();
        json!({
            "ops": ops,
            "totals": {
                "dynamodb_write_units": d(self.total("WRU")),
                "dynamodb_read_units": d(self.total("RRU")),
                "sqs_requests": d(self.total("SQS requests")),
                "secrets_manager_calls": d(self.total("API calls")),
                "eventbridge_events": d(self.total("events")),
                "api_gateway_requests": d(self.api_gateway_requests as f64),
                "lambda_gb_s": d(self.lambda.values().map(|l| l.2).sum()),
                "lambda_invocations": d(self.lambda.values().map(|l| l.0 as f64).sum()),
            },
            "messages": messages,
            "lambda": lambda,
        })
    }

    /// Adds `other`'s counts (several runs of one operation).
    pub fn add(&mut self, other: &Report) {
        for (k, o) in &other.ops {
            let l = self.ops.entry(k.clone()).or_default();
            l.requests += o.requests;
            l.request_bytes += o.request_bytes;
            l.response_bytes += o.response_bytes;
            l.items += o.items;
            l.units += o.units;
            l.unit = o.unit;
        }
        for (q, n) in &other.messages {
            *self.messages.entry(q.clone()).or_default() += n;
        }
        for (f, (n, w, g)) in &other.lambda {
            let e = self.lambda.entry(f.clone()).or_default();
            e.0 += n;
            e.1 += w;
            e.2 += g;
        }
        self.api_gateway_requests += other.api_gateway_requests;
    }

    /// A table for the terminal.
    pub fn table(&self) -> String {
        let mut s = format!("{}\n", self.label);
        s += &format!(
            "  {:<36} {:>8} {:>12} {:>12} {:>8} {:>12}  unit\n",
            "operation", "requests", "req bytes", "resp bytes", "items", "units"
        );
        for (k, o) in &self.ops {
            s += &format!(
                "  {:<36} {:>8} {:>12} {:>12} {:>8} {:>12.1}  {}\n",
                k, o.requests, o.request_bytes, o.response_bytes, o.items, o.units, o.unit
            );
        }
        for (f, (n, w, gbs)) in &self.lambda {
            s += &format!("  {:<36} {:>8} invocations, {w:.2} s, {gbs:.2} GB-s\n", format!("Lambda.{f}"), n);
        }
        if self.api_gateway_requests > 0 {
            s += &format!("  {:<36} {:>8}\n", "ApiGateway.HttpApi", self.api_gateway_requests);
        }
        s
    }
}

/// The reports of this process's benchmark operations, in order, with the operation's size
/// (`per`: what one unit of it is, e.g. "run", "delivery").
static REPORTS: Mutex<Vec<(Report, u64, String)>> = Mutex::new(Vec::new());

/// Keeps `r` for the results file; `per_n` and `per` say what the figures are divided by there.
pub fn keep(r: Report, per_n: u64, per: &str) {
    eprint!("{}", r.table());
    if let Ok(mut v) = REPORTS.lock() {
        v.push((r, per_n, per.to_owned()));
    }
}

/// Every kept report as the results file shows it: totals for the operation, and per unit.
pub fn take_all() -> Value {
    let v = REPORTS.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
    Value::Array(
        v.into_iter()
            .map(|(r, n, per)| {
                json!({"operation": r.label, "count": n, "per": per, "total": r.json(), "per_unit": r.json_per(n)})
            })
            .collect(),
    )
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// DynamoDB's size of an attribute value (wire JSON): strings and binaries by their bytes,
/// numbers by their digits (about one byte per two digits, plus one), 1 for booleans and null,
/// containers 3 bytes plus 1 per element.
fn value_size(v: &Value) -> u64 {
    let Some((ty, inner)) = v.as_object().and_then(|o| o.iter().next()) else { return 0 };
    match ty.as_str() {
        "S" => inner.as_str().map_or(0, |s| s.len() as u64),
        "N" => inner.as_str().map_or(1, number_size),
        "B" => inner.as_str().map_or(0, |s| (s.len() as u64) * 3 / 4),
        "BOOL" | "NULL" => 1,
        "SS" => inner.as_array().map_or(0, |a| a.iter().filter_map(Value::as_str).map(|s| s.len() as u64).sum()),
        "NS" => inner.as_array().map_or(0, |a| a.iter().filter_map(Value::as_str).map(number_size).sum()),
        "BS" => {
            inner.as_array().map_or(0, |a| a.iter().filter_map(Value::as_str).map(|s| s.len() as u64 * 3 / 4).sum())
        }
        "L" => 3 + inner.as_array().map_or(0, |a| a.iter().map(|e| 1 + value_size(e)).sum()),
        "M" => 3 + inner.as_object().map_or(0, |m| m.iter().map(|(k, e)| 1 + k.len() as u64 + value_size(e)).sum()),
        _ => 0,
    }
}

fn number_size(n: &str) -> u64 {
    let digits = n.chars().filter(char::is_ascii_digit).count() as u64;
    digits.div_ceil(2) + 1
}

/// The size DynamoDB bills an item at: names and values.
pub fn item_size(item: &Value) -> u64 {
    item.as_object().map_or(0, |m| m.iter().map(|(k, v)| k.len() as u64 + value_size(v)).sum())
}

fn key_of(table: &str, item: &Value) -> Option<ItemKey> {
    let s = |k: &str| item.get(k).and_then(|v| v.get("S")).and_then(Value::as_str).map(str::to_owned);
    Some((table.to_owned(), s("pk")?, s("sk")?))
}

/// Where the counter keeps what the sparse index `gsi1` holds (projection ALL): beside the item
/// sizes, under the table name with `#gsi1` appended.
fn index_key(k: &ItemKey) -> ItemKey {
    (format!("{}#gsi1", k.0), k.1.clone(), k.2.clone())
}

/// The index write a successful table write causes: the whole item when it is in the index
/// after the write (a put into it, or an update of an item it holds), 1 unit when it leaves it.
/// `indexed_after`: `Some(true/false)` when the write says, `None` when it leaves the index
/// attributes as they were.
fn bill_index(key: &ItemKey, indexed_after: Option<bool>, size: u64, sizes: &mut HashMap<ItemKey, u64>) -> f64 {
    let ik = index_key(key);
    let was = sizes.contains_key(&ik);
    match indexed_after.unwrap_or(was) {
        true => {
            sizes.insert(ik, size);
            write_units(size)
        }
        false if was => {
            sizes.remove(&ik);
            1.0
        }
        false => 0.0,
    }
}

fn table_of(w: &Value, kind: &str) -> String {
    w[kind]["TableName"].as_str().unwrap_or_default().to_owned()
}

/// Whether an UpdateItem sets (`Some(true)`) or removes (`Some(false)`) the index key.
fn update_touches_index(req: &Value) -> Option<bool> {
    let names = req["ExpressionAttributeNames"].as_object()?;
    let alias = names.iter().find(|(_, v)| v.as_str() == Some("gsi1pk")).map(|(k, _)| k.clone())?;
    let expr = req["UpdateExpression"].as_str().unwrap_or_default();
    let removed = expr.find("REMOVE").is_some_and(|r| expr[r..].contains(alias.as_str()));
    Some(!removed)
}

fn write_units(size: u64) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

fn read_units(size: u64, consistent: bool) -> f64 {
    let u = size.div_ceil(4096).max(1) as f64;
    if consistent { u } else { u / 2.0 }
}

/// A unit whose item size is only known once the operation is over (an update that did not
/// return the new item, a projected read of an item never seen whole).
struct Pending {
    op: String,
    key: ItemKey,
    known: u64,
    kind: PendingKind,
}

enum PendingKind {
    Write,
    /// An item of a Query (summed with the others of its call: rounded here per item, which
    /// overstates by less than one unit per call).
    Read(bool),
}

impl Counter {
    /// Bills the calls made since the last report; `ddb` (not counted) reads the final size of
    /// items the wire did not show whole.
    pub async fn report(&self, label: &str, ddb: &aws_sdk_dynamodb::Client) -> Report {
        let calls = std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()));
        let queues = self.queues.lock().map(|q| q.clone()).unwrap_or_default();
        let mut r = Report { label: label.to_owned(), ..Default::default() };
        let mut pending: Vec<Pending> = Vec::new();
        {
            let mut sizes = self.sizes.lock().unwrap_or_else(|e| e.into_inner());
            for c in &calls {
                let req: Value = serde_json::from_slice(&c.req).unwrap_or(Value::Null);
                let resp: Value = serde_json::from_slice(&c.resp).unwrap_or(Value::Null);
                let mut name = format!("{}.{}", c.service, c.op);
                // An empty receive is the harness polling: Lambda's pollers make those in
                // production whatever the load (a fixed cost per stack, docs/cost.md).
                if c.op == "ReceiveMessage" && resp["Messages"].as_array().is_none_or(Vec::is_empty) {
                    name += " (empty)";
                }
                let line = r.ops.entry(name.clone()).or_default();
                line.requests += 1;
                line.request_bytes += c.req.len() as u64;
                line.response_bytes += c.resp.len() as u64;
                let ok = c.status < 300;
                match c.service.as_str() {
                    "DynamoDB" => bill_dynamo(&c.op, ok, &req, &resp, line, &mut sizes, &mut pending, &name),
                    "SQS" if name.ends_with("(empty)") => line.unit = "harness",
                    "SQS" => {
                        bill_sqs(&c.op, &req, &resp, line);
                        if ok && (c.op == "DeleteMessage" || c.op == "DeleteMessageBatch") {
                            let url = req["QueueUrl"].as_str().unwrap_or_default();
                            let n = req["Entries"].as_array().map_or(1, |a| a.len() as u64);
                            let id = queues.get(url).cloned().unwrap_or_else(|| "other".into());
                            *r.messages.entry(id).or_default() += n;
                        }
                    }
                    "SecretsManager" => {
                        line.unit = "API calls";
                        line.units += 1.0;
                    }
                    "EventBridge" => {
                        line.unit = "events";
                        if let Some(entries) = req["Entries"].as_array() {
                            for e in entries {
                                line.items += 1;
                                line.units += (e.to_string().len() as u64).div_ceil(65_536).max(1) as f64;
                            }
                        }
                    }
                    _ => line.unit = "other",
                }
            }
        }
        // Final sizes of the items the wire did not show whole.
        let mut finals: HashMap<ItemKey, u64> = HashMap::new();
        for p in &pending {
            if finals.contains_key(&p.key) {
                continue;
            }
            let out = ddb
                .get_item()
                .table_name(&p.key.0)
                .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(p.key.1.clone()))
                .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(p.key.2.clone()))
                .send()
                .await;
            let size = out
                .ok()
                .and_then(|o| o.item)
                .map_or(0, |i| i.iter().map(|(k, v)| k.len() as u64 + sdk_value_size(v)).sum::<u64>());
            finals.insert(p.key.clone(), size);
        }
        let mut sizes = self.sizes.lock().unwrap_or_else(|e| e.into_inner());
        for p in pending {
            let size = finals.get(&p.key).copied().unwrap_or(0).max(p.known);
            if size > 0 {
                sizes.insert(p.key.clone(), size);
            }
            if let Some(line) = r.ops.get_mut(&p.op) {
                line.units += match p.kind {
                    PendingKind::Write => write_units(size),
                    PendingKind::Read(consistent) => {
                        let u = size.div_ceil(4096) as f64;
                        if consistent { u } else { u / 2.0 }
                    }
                };
            }
        }
        r
    }
}

/// [`value_size`] of an SDK attribute value (the final-size reads).
fn sdk_value_size(v: &aws_sdk_dynamodb::types::AttributeValue) -> u64 {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    match v {
        A::S(s) => s.len() as u64,
        A::N(n) => number_size(n),
        A::B(b) => b.as_ref().len() as u64,
        A::Bool(_) | A::Null(_) => 1,
        A::Ss(a) => a.iter().map(|s| s.len() as u64).sum(),
        A::Ns(a) => a.iter().map(|s| number_size(s)).sum(),
        A::Bs(a) => a.iter().map(|b| b.as_ref().len() as u64).sum(),
        A::L(a) => 3 + a.iter().map(|e| 1 + sdk_value_size(e)).sum::<u64>(),
        A::M(m) => 3 + m.iter().map(|(k, e)| 1 + k.len() as u64 + sdk_value_size(e)).sum::<u64>(),
        _ => 0,
    }
}

#[allow(clippy::too_many_arguments)]
fn bill_dynamo(
    op: &str,
    ok: bool,
    req: &Value,
    resp: &Value,
    line: &mut OpLine,
    sizes: &mut HashMap<ItemKey, u64>,
    pending: &mut Vec<Pending>,
    name: &str,
) {
    let table = req["TableName"].as_str().unwrap_or_default().to_owned();
    let consistent = req["ConsistentRead"].as_bool().unwrap_or(false);
    let projected = req.get("ProjectionExpression").is_some() || req.get("AttributesToGet").is_some();
    match op {
        "PutItem" => {
            line.unit = "WRU";
            line.items += 1;
            let item = &req["Item"];
            let size = item_size(item);
            let key = key_of(&table, item);
            let before = key.as_ref().and_then(|k| sizes.get(k).copied()).unwrap_or(0);
            // A failed condition pays for the item it checked; a put pays for the larger item.
            line.units += if ok { write_units(size.max(before)) } else { write_units(before) };
            if ok && let Some(k) = key {
                line.units += bill_index(&k, Some(item.get("gsi1pk").is_some()), size, sizes);
                sizes.insert(k, size);
            }
        }
        "UpdateItem" | "DeleteItem" => {
            line.unit = "WRU";
            line.items += 1;
            let Some(key) = key_of(&table, &req["Key"]) else { return };
            let before = sizes.get(&key).copied().unwrap_or(0);
            let rv = req["ReturnValues"].as_str().unwrap_or("NONE");
            if !ok || op == "DeleteItem" {
                let old = if rv == "ALL_OLD" { item_size(&resp["Attributes"]) } else { before };
                line.units += write_units(old);
                if ok {
                    line.units += bill_index(&key, Some(false), 0, sizes);
                    sizes.remove(&key);
                }
            } else if rv == "ALL_NEW" {
                let after = item_size(&resp["Attributes"]);
                line.units += write_units(after.max(before));
                line.units += bill_index(&key, update_touches_index(req), after, sizes);
                sizes.insert(key, after);
            } else {
                let known = if rv == "ALL_OLD" { item_size(&resp["Attributes"]) } else { before };
                // The index copy at the size known before (the final size comes later).
                line.units += bill_index(&key, update_touches_index(req), known.max(before), sizes);
                pending.push(Pending { op: name.to_owned(), key, known, kind: PendingKind::Write });
            }
        }
        "BatchWriteItem" => {
            line.unit = "WRU";
            let Some(tables) = req["RequestItems"].as_object() else { return };
            for (t, reqs) in tables {
                for w in reqs.as_array().into_iter().flatten() {
                    line.items += 1;
                    if let Some(item) = w.get("PutRequest").map(|p| &p["Item"]) {
                        let size = item_size(item);
                        let key = key_of(t, item);
                        let before = key.as_ref().and_then(|k| sizes.get(k).copied()).unwrap_or(0);
                        line.units += write_units(size.max(before));
                        if let Some(k) = key {
                            line.units += bill_index(&k, Some(item.get("gsi1pk").is_some()), size, sizes);
                            sizes.insert(k, size);
                        }
                    } else if let Some(k) = w.get("DeleteRequest").and_then(|d| key_of(t, &d["Key"])) {
                        line.units += bill_index(&k, Some(false), 0, sizes);
                        line.units += write_units(sizes.remove(&k).unwrap_or(0));
                    }
                }
            }
        }
        "TransactWriteItems" => {
            // Twice the standard units per item (the run lock and the run record go together).
            // An Update, Delete or ConditionCheck is billed at the size last seen of its item.
            line.unit = "WRU";
            for w in req["TransactItems"].as_array().into_iter().flatten() {
                line.items += 1;
                if let Some(item) = w.get("Put").map(|p| &p["Item"]) {
                    let size = item_size(item);
                    let key = key_of(&table_of(w, "Put"), item);
                    let before = key.as_ref().and_then(|k| sizes.get(k).copied()).unwrap_or(0);
                    line.units += 2.0 * write_units(size.max(before));
                    if ok && let Some(k) = key {
                        sizes.insert(k, size);
                    }
                } else if let Some((kind, body)) =
                    ["Update", "Delete", "ConditionCheck"].iter().find_map(|k| w.get(*k).map(|b| (*k, b)))
                {
                    let key = key_of(&table_of(w, kind), &body["Key"]);
                    let before = key.as_ref().and_then(|k| sizes.get(k).copied()).unwrap_or(0);
                    line.units += 2.0 * write_units(before);
                    if ok
                        && kind == "Delete"
                        && let Some(k) = key
                    {
                        sizes.remove(&k);
                    }
                }
            }
        }
        "GetItem" => {
            line.unit = "RRU";
            line.items += 1;
            let key = key_of(&table, &req["Key"]);
            let seen = item_size(&resp["Item"]);
            let size = if projected {
                key.as_ref().and_then(|k| sizes.get(k).copied()).unwrap_or(seen).max(seen)
            } else {
                seen
            };
            if !projected
                && seen > 0
                && let Some(k) = key
            {
                sizes.insert(k, seen);
            }
            line.units += read_units(size, consistent);
        }
        "BatchGetItem" => {
            line.unit = "RRU";
            let Some(tables) = req["RequestItems"].as_object() else { return };
            for (t, ka) in tables {
                let consistent = ka["ConsistentRead"].as_bool().unwrap_or(false);
                let projected = ka.get("ProjectionExpression").is_some();
                let keys = ka["Keys"].as_array().map_or(0, Vec::len) as u64;
                let mut found = 0u64;
                for item in resp["Responses"][t].as_array().into_iter().flatten() {
                    found += 1;
                    let seen = item_size(item);
                    let key = key_of(t, item);
                    let size = match (&key, projected) {
                        (Some(k), true) => sizes.get(k).copied().unwrap_or(seen).max(seen),
                        _ => seen,
                    };
                    if !projected && let Some(k) = key {
                        sizes.insert(k, seen);
                    }
                    line.units += read_units(size, consistent);
                }
                line.items += keys;
                // A key that found nothing still pays the minimum.
                line.units += keys.saturating_sub(found) as f64 * read_units(0, consistent);
            }
        }
        "Query" | "Scan" => {
            line.unit = "RRU";
            let index = req.get("IndexName").is_some();
            let mut total = 0u64;
            for item in resp["Items"].as_array().into_iter().flatten() {
                line.items += 1;
                let seen = item_size(item);
                let key = key_of(&table, item);
                if index || !projected {
                    if !index && let Some(k) = key {
                        sizes.insert(k, seen);
                    }
                    total += seen;
                } else if let Some(k) = key {
                    match sizes.get(&k) {
                        Some(s) => total += (*s).max(seen),
                        None => pending.push(Pending {
                            op: name.to_owned(),
                            key: k,
                            known: seen,
                            kind: PendingKind::Read(consistent),
                        }),
                    }
                }
            }
            line.units += read_units(total, consistent);
        }
        _ => line.unit = "other",
    }
}

fn bill_sqs(op: &str, req: &Value, resp: &Value, line: &mut OpLine) {
    let chunks = |bytes: u64| bytes.div_ceil(65_536).max(1) as f64;
    let body_len = |m: &Value| m["MessageBody"].as_str().map_or(0, |s| s.len() as u64);
    line.unit = "SQS requests";
    match op {
        "SendMessage" => {
            line.items += 1;
            line.units += chunks(body_len(req));
        }
        "SendMessageBatch" => {
            let entries = req["Entries"].as_array().cloned().unwrap_or_default();
            line.items += entries.len() as u64;
            line.units += chunks(entries.iter().map(body_len).sum());
        }
        "ReceiveMessage" => {
            let msgs = resp["Messages"].as_array().cloned().unwrap_or_default();
            line.items += msgs.len() as u64;
            line.units += chunks(msgs.iter().map(|m| m["Body"].as_str().map_or(0, |s| s.len() as u64)).sum());
        }
        "DeleteMessage" | "ChangeMessageVisibility" => {
            line.items += 1;
            line.units += 1.0;
        }
        "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => {
            line.items += req["Entries"].as_array().map_or(0, |a| a.len() as u64);
            line.units += 1.0;
        }
        // The harness's own calls (queue depth, purge): no production counterpart.
        _ => line.unit = "harness",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_sizes_follow_dynamodbs_rules() {
        let item = json!({"pk": {"S": "t#assets"}, "n": {"N": "12345"}, "b": {"BOOL": true},
                          "l": {"L": [{"S": "ab"}, {"N": "1"}]}});
        // pk 2+8, n 1+(3+1), b 1+1, l 1+(3 + (1+2) + (1+2))
        assert_eq!(item_size(&item), 10 + 5 + 2 + 10);
        assert_eq!(write_units(0), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(100, false), 0.5);
    }

    #[test]
    fn sqs_bills_a_request_per_64_kb_chunk() {
        let mut line = OpLine::default();
        let big = "x".repeat(70_000);
        bill_sqs("SendMessage", &json!({"MessageBody": big}), &Value::Null, &mut line);
        assert_eq!(line.units, 2.0);
        let mut line = OpLine::default();
        let entries: Vec<Value> =
            (0..10).map(|i| json!({"Id": i.to_string(), "MessageBody": "y".repeat(1000)})).collect();
        bill_sqs("SendMessageBatch", &json!({"Entries": entries}), &Value::Null, &mut line);
        assert_eq!((line.units, line.items), (1.0, 10));
    }
}
