//! Benchmarks (docs/benchmarks.md). Every time is compared with a floor measured in the same run against the
//! same LocalStack and simulator, because absolute times on a shared machine drift.
//!
//! The binary (`src/main.rs`) runs everything at the target sizes; `tests` below runs the same
//! functions at a tiny size so the benchmark cannot rot.

pub mod cold_start;
pub mod count;
pub mod live;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::{StreamExt, TryStreamExt, stream};
use integration_tests::{
    FUNCTIONS, Function, Pipeline, admin_token, connect, simulator, stabilize, tenant, webhook_request,
};
use serde_json::{Value, json};
use shared::tenant::TenantId;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tactical_sim::{FleetSpec, NewAlert, Severity, SimConfig, Simulator, UrlAction};

type Item = HashMap<String, AttributeValue>;

/// DEVICE_PAGE_SIZE for every benchmark (the production default: a page of real Windows rows
/// weighs ~150 KB a row, docs/sync.md).
pub const PAGE_SIZE: u32 = 100;
/// The floors run at our concurrency. A worker invocation handles 4 messages (pages) at once
/// (`PARALLEL`, `shared/lambda/src/worker.rs`), and the harness runs one invocation at a time: so 4
/// pages are fetched at once.
const FLOOR_FETCH_CONCURRENCY: usize = 4;
/// Each of those 4 pages writes its 100 items per kind as 4 batches of 25 at once (the store
/// allows 8, `shared/aws/src/inventory.rs`; a page has only 4): 16 batch writes in flight.
pub const FLOOR_WRITE_CONCURRENCY: usize = 4 * (PAGE_SIZE as usize).div_ceil(25);
/// The read floor: the store's own batch-read parallelism.
const FLOOR_READ_CONCURRENCY: usize = 8;
/// Deliveries at once in benchmark 4b (the template reserves 20 webhook instances; Tactical
/// sends one request per alert, so a storm of alerts arrives at once).
pub const WEBHOOK_CONCURRENCY: usize = 50;
const WEBHOOK_BASE: &str = "https://hooks.example.test";

#[derive(Debug, Clone)]
pub struct Sizes {
    pub agents: usize,
    pub clients: usize,
    pub webhooks: usize,
    /// Agents written in the original's shape (sequential puts); the total is extrapolated
    /// linearly from this sample (the writes are strictly sequential, so it is linear).
    pub original_sample: usize,
    pub rss_agents: usize,
    pub rss_clients: usize,
    /// Benchmark 5: agents, and average programs per Windows agent.
    pub software_agents: usize,
    pub software_items: usize,
    /// Benchmark 3 again with a network round trip on every AWS call: agents synced.
    pub rtt_agents: usize,
}

impl Sizes {
    /// The target sizes (docs/benchmarks.md).
    pub fn full() -> Self {
        Self {
            agents: 10_000,
            clients: 20,
            webhooks: 1_000,
            original_sample: 1_000,
            rss_agents: 50_000,
            rss_clients: 50,
            software_agents: 2_000,
            software_items: 80,
            rtt_agents: 2_000,
        }
    }
    /// CI size.
    pub fn small() -> Self {
        Self {
            agents: 300,
            clients: 3,
            webhooks: 50,
            original_sample: 300,
            rss_agents: 2_000,
            rss_clients: 2,
            software_agents: 50,
            software_items: 10,
            rtt_agents: 200,
        }
    }
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn ratio(a: Duration, b: Duration) -> f64 {
    let r = a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    (r * 1000.0).round() / 1000.0
}

/// A tenant with its own stack, a simulator, a connection and every organization mapped.
pub struct DeviceEnv {
    pub p: Pipeline,
    pub sim: Simulator,
    pub t: TenantId,
    pub clients: Vec<i64>,
    /// Counts the AWS calls of the functions (docs/cost.md).
    pub counter: std::sync::Arc<count::Counter>,
}

impl DeviceEnv {
    /// A fresh PSA token (a token lives 10 minutes; a large run lasts longer).
    pub fn tok(&self) -> String {
        admin_token(&self.t)
    }

    /// Bills the calls since the last report (see [`count::Counter::report`]).
    pub async fn report(&self, label: &str) -> count::Report {
        let ddb = aws_sdk_dynamodb::Client::new(&integration_tests::sdk().await);
        self.counter.report(label, &ddb).await
    }
}

pub async fn device_env(label: &str, agents: usize, clients: usize) -> DeviceEnv {
    device_env_with(label, agents, clients, 0).await
}

/// The functions' environment of every benchmark pipeline.
fn bench_env(env: &mut std::collections::BTreeMap<String, String>) {
    env.insert("DEVICE_PAGE_SIZE".into(), PAGE_SIZE.to_string());
    env.insert("WEBHOOK_BASE_URL".into(), WEBHOOK_BASE.into());
}

/// [`device_env`] whose Windows agents carry about `software_per_agent` programs each.
pub async fn device_env_with(label: &str, agents: usize, clients: usize, software_per_agent: usize) -> DeviceEnv {
    let (p, counter) = count::counted_pipeline(label, None, bench_env).await;
    device_env_in(p, counter, label, agents, clients, software_per_agent).await
}

/// [`device_env_with`] on a given pipeline.
pub async fn device_env_in(
    p: Pipeline,
    counter: std::sync::Arc<count::Counter>,
    label: &str,
    agents: usize,
    clients: usize,
    software_per_agent: usize,
) -> DeviceEnv {
    let sim = simulator(SimConfig {
        fleet: FleetSpec { clients, sites_per_client: 3, agents, software_per_agent, alerts: 0 },
        ..Default::default()
    })
    .await;
    stabilize(&sim);
    let t = tenant(label);
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (_, run) = run_sync(&p, Function::SyncClients, &t).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let (s, v) = p.call(Function::SyncClients, "GET", "/mappings", &tok, None).await;
    assert_eq!(s, 200, "{v}");
    let mut ids = Vec::new();
    for m in v["mappings"].as_array().unwrap() {
        let id: i64 = m["id"].as_str().unwrap().parse().unwrap();
        let body = json!({"client_id": format!("psa-{id}")});
        let (s, v) = p.call(Function::SyncClients, "PATCH", &format!("/mappings/{id}"), &tok, Some(body)).await;
        assert_eq!(s, 200, "{v}");
        ids.push(id);
    }
    let env = DeviceEnv { p, sim, t, clients: ids, counter };
    // The setup's calls (connection, client sync, mappings) are no benchmark's.
    env.report("setup").await;
    env
}

/// Starts a run through the function URL and delivers the queues until they are empty.
pub async fn run_sync(p: &Pipeline, f: Function, t: &TenantId) -> (Duration, Value) {
    let t0 = Instant::now();
    let (s, v) = p.call(f, "POST", "/sync", &admin_token(t), None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    let took = t0.elapsed();
    let (s, run) = p.call(f, "GET", &format!("/runs/{}", v["run_id"].as_str().unwrap()), &admin_token(t), None).await;
    assert_eq!(s, 200, "{run}");
    (took, run)
}

/// The fetch floor: the same beta pages (`client_id`, `page_size` 1000), read with reqwest,
/// clients in parallel, each client's pages in order. Returns the time and the agent count.
pub async fn fetch_pages(base: &str, clients: &[i64]) -> (Duration, u64) {
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    let counts: Vec<u64> = stream::iter(clients.iter().copied())
        .map(|c| {
            let http = http.clone();
            async move {
                let mut page = 1;
                let mut seen = 0u64;
                loop {
                    let resp = http
                        .get(format!("{base}/beta/v1/agent/?client_id={c}&page={page}&page_size={PAGE_SIZE}"))
                        .header("X-API-KEY", tactical_sim::DEFAULT_API_KEY)
                        .send()
                        .await
                        .expect("beta page");
                    if resp.status() == 404 && page == 1 {
                        return 0;
                    }
                    let bytes = resp.error_for_status().expect("beta page status").bytes().await.expect("body");
                    let v: Value = serde_json::from_slice(&bytes).expect("beta json");
                    let total = v["count"].as_u64().unwrap_or(0);
                    seen += v["results"].as_array().map_or(0, |r| r.len() as u64);
                    if seen >= total || v["next"].is_null() {
                        return seen;
                    }
                    page += 1;
                }
            }
        })
        .buffer_unordered(FLOOR_FETCH_CONCURRENCY)
        .collect()
        .await;
    (t0.elapsed(), counts.iter().sum())
}

fn dynamo_item(client: &aws_sdk_dynamodb::Client, table: &str, pk: String, sk: String) -> impl Future<Output = Item> {
    let req = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.clone()))
        .key("sk", AttributeValue::S(sk.clone()));
    async move { req.send().await.expect("get_item").item.unwrap_or_else(|| panic!("no item {pk} / {sk}")) }
}

fn with_key(template: &Item, pk: &str, sk: String) -> Item {
    let mut it = template.clone();
    it.insert("pk".into(), AttributeValue::S(pk.to_owned()));
    it.insert("sk".into(), AttributeValue::S(sk));
    it.remove("gsi1pk");
    it.remove("gsi1sk");
    it
}

/// The write floor: bare BatchWriteItem of `items` (25 per request, `in_flight` at once,
/// unprocessed items retried), nothing read first.
pub async fn batch_write(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<Item>,
    in_flight: usize,
) -> Duration {
    let t0 = Instant::now();
    let chunks: Vec<Vec<Item>> = items.chunks(25).map(|c| c.to_vec()).collect();
    stream::iter(chunks)
        .map(|chunk| async move {
            let mut pending: Vec<WriteRequest> = chunk
                .into_iter()
                .map(|i| {
                    WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(i)).build().unwrap())
                        .build()
                })
                .collect();
            while !pending.is_empty() {
                let out = client.batch_write_item().request_items(table, pending).send().await?;
                pending = out.unprocessed_items.and_then(|mut m| m.remove(table)).unwrap_or_default();
            }
            Ok::<_, aws_sdk_dynamodb::error::SdkError<_>>(())
        })
        .buffer_unordered(in_flight)
        .try_collect::<Vec<()>>()
        .await
        .expect("batch write");
    t0.elapsed()
}

/// The read floor: bare consistent BatchGetItem of `keys` (100 per request, 8 in parallel), what
/// change detection has to read at least.
pub async fn batch_get(client: &aws_sdk_dynamodb::Client, table: &str, keys: Vec<Item>) -> Duration {
    let t0 = Instant::now();
    let chunks: Vec<Vec<Item>> = keys.chunks(100).map(|c| c.to_vec()).collect();
    stream::iter(chunks)
        .map(|chunk| async move {
            let mut left = chunk;
            while !left.is_empty() {
                let ka = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(left))
                    .consistent_read(true)
                    .build()
                    .expect("keys");
                let out = client.batch_get_item().request_items(table, ka).send().await?;
                left = out.unprocessed_keys.and_then(|mut u| u.remove(table)).map(|k| k.keys).unwrap_or_default();
            }
            Ok::<_, aws_sdk_dynamodb::error::SdkError<_>>(())
        })
        .buffer_unordered(FLOOR_READ_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .expect("batch get");
    t0.elapsed()
}

#[derive(Debug, Clone)]
pub struct DeviceFigures {
    pub agents: u64,
    pub pages: i64,
    pub full_sync: Duration,
    pub fetch_only: Duration,
    pub write_floor: Duration,
    /// Not a target: what reading the agents' assets once costs here (explains the re-sync).
    pub read_floor: Duration,
    pub items_written_full: usize,
    pub resync: Duration,
    pub resync_writes: i64,
    pub resync_unchanged: i64,
    pub original_per_agent: Duration,
    pub original_sample: usize,
}

impl DeviceFigures {
    pub fn floor(&self) -> Duration {
        self.fetch_only + self.write_floor
    }
    /// The original's shape: the same pages, then three sequential puts per agent.
    pub fn original_total(&self) -> Duration {
        self.fetch_only + self.original_per_agent * self.agents as u32
    }
    pub fn json(&self) -> Value {
        json!({
            "agents": self.agents,
            "pages": self.pages,
            "full_sync_s": secs(self.full_sync),
            "floor_s": secs(self.floor()),
            "floor_fetch_s": secs(self.fetch_only),
            "floor_batch_write_s": secs(self.write_floor),
            "floor_items_written": self.items_written_full,
            "full_sync_vs_floor": ratio(self.full_sync, self.floor()),
            "resync_s": secs(self.resync),
            "resync_vs_fetch_only": ratio(self.resync, self.fetch_only),
            "read_floor_batch_get_s": secs(self.read_floor),
            "resync_vs_fetch_plus_read_floor": ratio(self.resync, self.fetch_only + self.read_floor),
            "resync_asset_writes": self.resync_writes,
            "resync_unchanged": self.resync_unchanged,
            "original_sample_agents": self.original_sample,
            "original_per_agent_ms": secs(self.original_per_agent) * 1000.0,
            "original_total_s": secs(self.original_total()),
            "original_vs_ours": ratio(self.original_total(), self.full_sync),
            // What the floor itself gains on the original's shape here: the most any sync can.
            "original_vs_floor": ratio(self.original_total(), self.floor()),
        })
    }
}

/// Benchmarks 1–3: full device sync, unchanged re-sync, and the original's shape.
/// `keep_counts`: whether its billed units go to the results (once per size is enough: they are
/// the same every run).
pub async fn devices(env: &DeviceEnv, original_sample: usize, keep_counts: bool) -> DeviceFigures {
    let ddb = aws_sdk_dynamodb::Client::new(&integration_tests::sdk().await);
    let table = env.p.stack.table_name.clone();
    let base = env.sim.base_url();
    // Warm the simulator's and the client's connections once, outside any timing.
    fetch_pages(&base, &env.clients[..1]).await;

    let (fetch1, fetched) = fetch_pages(&base, &env.clients).await;
    let (full_sync, run) = run_sync(&env.p, Function::SyncDevices, &env.t).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let created = run["items_created"].as_u64().unwrap_or(0);
    assert_eq!(created, fetched, "every agent became an asset: {run}");
    let mut r = env.report(&format!("device sync, first run ({created} agents)")).await;
    r.lambda("sync-devices", full_sync, 1);
    if keep_counts {
        count::keep(r, created, "agent");
    }

    // Copies of every item the sync wrote (mappings, then assets), under a partition of their own.
    let (asset, mapping) = written_items(&ddb, env).await;
    let floor_pk = format!("bench-floor-{}", env.t);
    let mut items: Vec<Item> = Vec::with_capacity(2 * created as usize);
    for floor_part in ["mappings", "assets"] {
        for shard in 0..shared_aws::keys::SHARDS {
            let pk = match floor_part {
                "mappings" => shared_aws::keys::external_mappings_shard(&env.t, shard),
                _ => shared_aws::keys::assets_shard(&env.t, shard),
            };
            for it in query_all(&ddb, &table, &pk).await {
                let sk = it.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                items.push(with_key(&it, &format!("{floor_pk}#{floor_part}"), sk));
            }
        }
    }
    assert_eq!(items.len(), 2 * created as usize, "an asset and a mapping per agent");
    let items_written_full = items.len();
    let write_floor = batch_write(&ddb, &table, items, FLOOR_WRITE_CONCURRENCY).await;
    let keys: Vec<Item> = (0..created)
        .map(|i| {
            HashMap::from([
                ("pk".to_owned(), AttributeValue::S(format!("{floor_pk}#assets"))),
                ("sk".to_owned(), AttributeValue::S(format!("a{i}"))),
            ])
        })
        .collect();
    let read_floor = batch_get(&ddb, &table, keys).await;

    let (fetch2, _) = fetch_pages(&base, &env.clients).await;
    let (resync, rerun) = run_sync(&env.p, Function::SyncDevices, &env.t).await;
    assert_eq!(rerun["status"], "succeeded", "{rerun}");
    let mut r = env.report(&format!("device re-sync, nothing changed ({created} agents)")).await;
    r.lambda("sync-devices", resync, 1);
    if keep_counts {
        count::keep(r, created, "agent");
    }
    let resync_writes = rerun["items_created"].as_i64().unwrap_or(0) + rerun["items_updated"].as_i64().unwrap_or(0);
    let (fetch3, _) = fetch_pages(&base, &env.clients).await;

    let sample = original_sample.clamp(1, created.max(1) as usize);
    let original_per_agent = original_shape(&ddb, &table, &floor_pk, &asset, &mapping, sample).await;

    DeviceFigures {
        agents: created,
        pages: run["work_total"].as_i64().unwrap_or(1) - 1,
        full_sync,
        fetch_only: fetch1.min(fetch2).min(fetch3),
        write_floor,
        read_floor,
        items_written_full,
        resync,
        resync_writes,
        resync_unchanged: rerun["items_unchanged"].as_i64().unwrap_or(0),
        original_per_agent,
        original_sample: sample,
    }
}

/// The original's shape: per agent, the asset, its vitals and its mapping, one PutItem each, in
/// sequence (copies of the items the sync wrote). Returns the time per agent over `sample`.
async fn original_shape(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    floor_pk: &str,
    asset: &Item,
    mapping: &Item,
    sample: usize,
) -> Duration {
    let mut vitals = HashMap::new();
    for k in ["tenant", "asset_id", "vitals", "last_seen_at", "agent_status"] {
        if let Some(v) = asset.get(k) {
            vitals.insert(k.to_owned(), v.clone());
        }
    }
    let t0 = Instant::now();
    for i in 0..sample {
        for (pk, template) in [("orig-assets", asset), ("orig-vitals", &vitals), ("orig-mappings", mapping)] {
            ddb.put_item()
                .table_name(table)
                .set_item(Some(with_key(template, &format!("{floor_pk}#{pk}"), format!("o{i}"))))
                .send()
                .await
                .expect("put_item");
        }
    }
    t0.elapsed() / sample.max(1) as u32
}

/// The asset and external entity mapping items the sync wrote for `env`'s first agent.
async fn written_items(ddb: &aws_sdk_dynamodb::Client, env: &DeviceEnv) -> (Item, Item) {
    let table = &env.p.stack.table_name;
    let agent = env.sim.state().agents()[0].clone();
    let asset_id = shared::domain::asset::asset_id_for(&env.t, &agent.agent_id);
    let asset = dynamo_item(ddb, table, shared_aws::keys::asset_pk(&env.t, &asset_id), asset_id).await;
    let mapping_sk = shared_aws::keys::external_mapping_sk(&agent.agent_id);
    let mapping_pk = shared_aws::keys::external_mapping_pk(&env.t, &agent.agent_id);
    let mapping = dynamo_item(ddb, table, mapping_pk, mapping_sk).await;
    (asset, mapping)
}

/// Benchmark 3 with a network round trip: LocalStack on loopback answers in about a millisecond
/// with no network in between, which flatters sequential writes. Here every AWS call, ours and
/// the original's shape alike, is delayed by `latency` (a Lambda → DynamoDB round trip is a few
/// ms) in the SDK's HTTP layer.
#[derive(Debug, Clone)]
pub struct RoundTripFigures {
    pub latency: Duration,
    pub agents: u64,
    pub full_sync: Duration,
    pub fetch_only: Duration,
    pub original_per_agent: Duration,
    pub original_sample: usize,
}

impl RoundTripFigures {
    pub fn original_total(&self) -> Duration {
        self.fetch_only + self.original_per_agent * self.agents as u32
    }
    pub fn json(&self) -> Value {
        json!({
            "latency_ms": secs(self.latency) * 1000.0,
            "agents": self.agents,
            "full_sync_s": secs(self.full_sync),
            "fetch_s": secs(self.fetch_only),
            "original_sample_agents": self.original_sample,
            "original_per_agent_ms": secs(self.original_per_agent) * 1000.0,
            "original_total_s": secs(self.original_total()),
            "original_vs_ours": ratio(self.original_total(), self.full_sync),
        })
    }
}

pub async fn round_trip(agents: usize, clients: usize, latency: Duration, original_sample: usize) -> RoundTripFigures {
    let (p, faults) = integration_tests::aws_faults::faulty_pipeline("bench-rtt", bench_env).await;
    let env = device_env_in(p, Default::default(), "bench-rtt", agents, clients, 0).await;
    let ddb = aws_sdk_dynamodb::Client::new(&integration_tests::aws_faults::faulty_sdk(faults.clone()).await);
    fetch_pages(&env.sim.base_url(), &env.clients[..1]).await;
    faults.set_latency(latency);
    let (fetch_only, fetched) = fetch_pages(&env.sim.base_url(), &env.clients).await;
    let (full_sync, run) = run_sync(&env.p, Function::SyncDevices, &env.t).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_created"].as_u64(), Some(fetched), "every agent became an asset: {run}");
    faults.set_latency(Duration::ZERO);
    let (asset, mapping) = written_items(&ddb, &env).await;
    faults.set_latency(latency);
    let sample = original_sample.clamp(1, fetched.max(1) as usize);
    let floor_pk = format!("bench-rtt-{}", env.t);
    let original_per_agent = original_shape(&ddb, &env.p.stack.table_name, &floor_pk, &asset, &mapping, sample).await;
    faults.set_latency(Duration::ZERO);
    cleanup(&env.p).await;
    RoundTripFigures { latency, agents: fetched, full_sync, fetch_only, original_per_agent, original_sample: sample }
}

#[derive(Debug, Clone)]
pub struct Latencies {
    pub p50: Duration,
    pub p99: Duration,
    pub mean: Duration,
}

impl Latencies {
    pub fn of(mut v: Vec<Duration>) -> Self {
        assert!(!v.is_empty());
        v.sort();
        let n = v.len();
        let at = |q: f64| v[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        Self { p50: at(0.50), p99: at(0.99), mean: v.iter().sum::<Duration>() / n as u32 }
    }
    fn json(&self) -> Value {
        json!({"p50_ms": secs(self.p50) * 1000.0, "p99_ms": secs(self.p99) * 1000.0, "mean_ms": secs(self.mean) * 1000.0})
    }
}

#[derive(Debug, Clone)]
pub struct WebhookFigures {
    pub deliveries: usize,
    pub handler: Latencies,
    pub floor: Latencies,
}

impl WebhookFigures {
    pub fn json(&self) -> Value {
        json!({
            "deliveries": self.deliveries,
            "handler": self.handler.json(),
            "floor_putitem_sendmessage": self.floor.json(),
            "p50_vs_floor": ratio(self.handler.p50, self.floor.p50),
            "p99_vs_floor": ratio(self.handler.p99, self.floor.p99),
        })
    }
}

/// A new webhook secret, `n + 1` distinct new alerts raised in the simulator (on agent
/// `agent_of(i)`, modulo the fleet) with their deliveries rendered from our URL action, and the
/// first one delivered uncounted: the cold secret read, which production's warm cache does not pay.
/// Returns the warm cache and the `n` deliveries left.
async fn warm_deliveries(
    env: &DeviceEnv,
    n: usize,
    agent_of: impl Fn(usize) -> usize,
    severity: Severity,
    text: impl Fn(usize) -> String,
) -> (webhook::SecretCache, Vec<lambda_http::Request>) {
    let (s, info) = env.p.call(Function::Connection, "POST", "/webhook/secret", &env.tok(), None).await;
    assert_eq!(s, 200, "{info}");
    let a = &info["url_actions"]["failure"];
    let action = UrlAction::post(
        a["pattern"].as_str().unwrap(),
        a["rest_body"].as_str().unwrap(),
        a["rest_headers"].as_str().unwrap(),
    );
    let st = env.sim.state();
    let agents = st.agents();
    let mut requests = Vec::with_capacity(n + 1);
    for i in 0..=n {
        let agent = &agents[agent_of(i) % agents.len()];
        let id = st.raise_alert(NewAlert::check(agent.agent_id.clone(), severity, text(i))).unwrap();
        requests.push(webhook_request(&st.prepare_webhook(&action, id, false).unwrap()));
    }
    let cache = webhook::SecretCache::new(Duration::from_secs(60), Duration::from_secs(2));
    let mut requests = requests.into_iter();
    let (s, v) = integration_tests::read(webhook::handle_with(&env.p.deps, &cache, requests.next().unwrap()).await);
    assert_eq!(s, 202, "{v}");
    (cache, requests.collect())
}

/// Benchmark 4: `n` deliveries (distinct alerts, bodies rendered by the simulator from our URL
/// action) through `webhook::handle_with` with the production secret cache, each followed by one
/// PutItem + one SendMessage of the same size (the floor), interleaved so both see the same load.
pub async fn webhooks(env: &DeviceEnv, n: usize) -> WebhookFigures {
    let (cache, requests) =
        warm_deliveries(env, n, |i| i, Severity::Warning, |i| format!("Disk Space Drive C: {i}% used")).await;
    let ddb = aws_sdk_dynamodb::Client::new(&integration_tests::sdk().await);
    let table = env.p.stack.table_name.clone();
    let alerts = ddb
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", AttributeValue::S(format!("{}#rmm_alerts", env.t)))
        .limit(1)
        .send()
        .await
        .expect("query alerts");
    let alert_item = alerts.items.unwrap_or_default().into_iter().next().expect("the warm-up alert was recorded");
    let queue = env.p.stack.queue_urls["SyncAlertsQueue"].clone();
    // The floor's own SQS client: the pipeline's is counted as ours.
    let floor_sqs = aws_sdk_sqs::Client::new(&integration_tests::sdk().await);
    let body = json!({"type": "alert_follow_up", "tenant": env.t.as_str(), "alert_key": "id#123456", "alert_id": 123456, "agent_id": env.sim.state().agents()[0].agent_id, "refetch": false}).to_string();
    let floor_pk = format!("bench-floor-{}#alerts", env.t);

    env.report("webhook setup").await;
    let (mut handler, mut floor) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (i, req) in requests.into_iter().enumerate() {
        let t0 = Instant::now();
        let resp = webhook::handle_with(&env.p.deps, &cache, req).await;
        handler.push(t0.elapsed());
        let (s, v) = integration_tests::read(resp);
        assert_eq!(s, 202, "{v}");

        let t0 = Instant::now();
        ddb.put_item()
            .table_name(&table)
            .set_item(Some(with_key(&alert_item, &floor_pk, format!("w{i}"))))
            .send()
            .await
            .expect("put_item");
        floor_sqs.send_message().queue_url(&queue).message_body(&body).send().await.expect("send_message");
        floor.push(t0.elapsed());
    }
    let mut r = env.report(&format!("webhook, {n} deliveries of new alerts")).await;
    r.lambda("webhook", handler.iter().sum(), n as u64);
    r.api_gateway_requests = n as u64;
    count::keep(r, n as u64, "delivery");
    // Untimed, counted: the follow-up each delivery queued (asset refresh, ticket link), then
    // one alert sync run (backfill and reconciliation) over the alerts now open.
    let t0 = Instant::now();
    env.p.drain().await;
    let mut r = env.report(&format!("webhook follow-ups, {n} alerts")).await;
    r.lambda("sync-alerts", t0.elapsed(), 0);
    count::keep(r, n as u64, "alert");
    // The tenant's first run also indexes its open set (once per tenant); the runs every 15
    // minutes after it are the second kind, which the cost model bills.
    let (took, run) = run_sync(&env.p, Function::SyncAlerts, &env.t).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let mut r = env.report(&format!("first alert sync run (indexes the open set once), {} alerts open", n + 1)).await;
    r.lambda("sync-alerts", took, 1);
    count::keep(r, 1, "run");
    let (took, run) = run_sync(&env.p, Function::SyncAlerts, &env.t).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let mut r = env.report(&format!("alert sync run, {} alerts open", n + 1)).await;
    r.lambda("sync-alerts", took, 1);
    count::keep(r, 1, "run");
    WebhookFigures { deliveries: n, handler: Latencies::of(handler), floor: Latencies::of(floor) }
}

/// The webhook under load: `n` deliveries (distinct new alerts), `concurrency` at once as
/// API Gateway would hand them to concurrent webhook instances, against the floor (PutItem of a
/// copy of a recorded alert + SendMessage) at the same concurrency. Alternating blocks of ours
/// and the floor share the machine's drift.
#[derive(Debug, Clone)]
pub struct ConcurrentWebhookFigures {
    pub deliveries: usize,
    pub concurrency: usize,
    pub handler: Latencies,
    pub floor: Latencies,
    pub handler_wall: Duration,
    pub floor_wall: Duration,
}

impl ConcurrentWebhookFigures {
    pub fn json(&self) -> Value {
        json!({
            "deliveries": self.deliveries,
            "concurrency": self.concurrency,
            "handler": self.handler.json(),
            "floor_putitem_sendmessage": self.floor.json(),
            "handler_wall_s": secs(self.handler_wall),
            "floor_wall_s": secs(self.floor_wall),
            "p50_vs_floor": ratio(self.handler.p50, self.floor.p50),
            "p99_vs_floor": ratio(self.handler.p99, self.floor.p99),
            "wall_vs_floor": ratio(self.handler_wall, self.floor_wall),
        })
    }
}

pub async fn webhooks_concurrent(env: &DeviceEnv, n: usize, concurrency: usize) -> ConcurrentWebhookFigures {
    let (cache, requests) =
        warm_deliveries(env, n, |i| i * 7 + 3, Severity::Error, |i| format!("CPU load {i}% (concurrent)")).await;

    let ddb = aws_sdk_dynamodb::Client::new(&integration_tests::sdk().await);
    let floor_sqs = aws_sdk_sqs::Client::new(&integration_tests::sdk().await);
    let table = env.p.stack.table_name.clone();
    let alert_item = query_all(&ddb, &table, &format!("{}#rmm_alerts", env.t))
        .await
        .into_iter()
        .find(|i| i.get("sk").and_then(|v| v.as_s().ok()).is_some_and(|sk| sk.starts_with("tacticalrmm#alert#")))
        .expect("a recorded alert");
    let queue = env.p.stack.queue_urls["SyncAlertsQueue"].clone();
    let body = json!({"type": "alert_follow_up", "tenant": env.t.as_str(), "alert_key": "id#123456", "alert_id": 123456, "agent_id": env.sim.state().agents()[0].agent_id, "refetch": false}).to_string();
    let floor_pk = format!("bench-floor-{}#alerts-concurrent", env.t);

    const BLOCKS: usize = 5;
    let block = n.div_ceil(BLOCKS).max(1);
    let (mut handler, mut floor) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut handler_wall, mut floor_wall) = (Duration::ZERO, Duration::ZERO);
    let mut next_floor = 0usize;
    let mut requests = requests.into_iter();
    loop {
        let chunk: Vec<_> = requests.by_ref().take(block).collect();
        if chunk.is_empty() {
            break;
        }
        let size = chunk.len();
        let t0 = Instant::now();
        let lat: Vec<Duration> = stream::iter(chunk)
            .map(|req| {
                let cache = &cache;
                async move {
                    let t = Instant::now();
                    let (s, v) = integration_tests::read(webhook::handle_with(&env.p.deps, cache, req).await);
                    assert_eq!(s, 202, "{v}");
                    t.elapsed()
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        handler_wall += t0.elapsed();
        handler.extend(lat);

        let t0 = Instant::now();
        let lat: Vec<Duration> = stream::iter(next_floor..next_floor + size)
            .map(|i| {
                let (ddb, sqs, table, floor_pk, alert_item, queue, body) =
                    (&ddb, &floor_sqs, &table, &floor_pk, &alert_item, &queue, &body);
                async move {
                    let t = Instant::now();
                    ddb.put_item()
                        .table_name(table)
                        .set_item(Some(with_key(alert_item, floor_pk, format!("w{i}"))))
                        .send()
                        .await
                        .expect("put_item");
                    sqs.send_message().queue_url(queue).message_body(body).send().await.expect("send_message");
                    t.elapsed()
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        floor_wall += t0.elapsed();
        floor.extend(lat);
        next_floor += size;
    }
    // Counted already by the sequential benchmark: not billed twice.
    env.report("").await;
    ConcurrentWebhookFigures {
        deliveries: n,
        concurrency,
        handler: Latencies::of(handler),
        floor: Latencies::of(floor),
        handler_wall,
        floor_wall,
    }
}

/// Tactical calls the software worker has in flight: 8 agents per batch message
/// (`AGENT_CONCURRENCY`, `shared/core/src/domain/software.rs`) × 4 messages at once per invocation
/// (`PARALLEL`, `shared/lambda/src/worker.rs`), as `Pipeline::drain` delivers them (up to 10 a receive).
pub const SOFTWARE_FETCH_IN_FLIGHT: usize = 8 * 4;
/// Beta pages the software run reads at once while listing the fleet (`PAGE_CONCURRENCY`).
const SOFTWARE_LIST_PAGES_IN_FLIGHT: usize = 3;

/// One read of the fleet's software as the software run reads it.
#[derive(Debug, Clone)]
pub struct SoftwareFetch {
    /// The beta agent list (no client filter, `page_size` 1000, 3 pages at once).
    pub list: Duration,
    /// `GET /software/<agent_id>/` for every agent of the list.
    pub software: Duration,
    pub agents: u64,
    /// Agents whose answer was a row with items (not `[]`, not an empty list).
    pub with_inventory: u64,
    /// Items as Tactical lists them (before duplicates merge).
    pub items: u64,
}

impl SoftwareFetch {
    pub fn total(&self) -> Duration {
        self.list + self.software
    }
}

async fn beta_page(http: &reqwest::Client, base: &str, page: u32) -> Value {
    let resp = http
        .get(format!("{base}/beta/v1/agent/?page={page}&page_size={PAGE_SIZE}"))
        .header("X-API-KEY", tactical_sim::DEFAULT_API_KEY)
        .send()
        .await
        .expect("beta page");
    // No agent (or the fleet shrank): Tactical answers "Invalid page." (404).
    if resp.status() == 404 {
        return json!({"count": 0, "results": []});
    }
    let bytes = resp.error_for_status().expect("beta page status").bytes().await.expect("body");
    serde_json::from_slice(&bytes).expect("beta json")
}

/// The software fetch floor: the beta agent list, then one `GET /software/<agent_id>/` per agent,
/// [`SOFTWARE_FETCH_IN_FLIGHT`] at once, each body decoded into the client's types, read with
/// reqwest (no retries, no store lookups).
pub async fn fetch_software(base: &str) -> SoftwareFetch {
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    let first = beta_page(&http, base, 1).await;
    let pages = first["count"].as_u64().unwrap_or(0).div_ceil(u64::from(PAGE_SIZE)).max(1) as u32;
    let rest: Vec<Value> = stream::iter(2..=pages)
        .map(|n| {
            let http = http.clone();
            async move { beta_page(&http, base, n).await }
        })
        .buffered(SOFTWARE_LIST_PAGES_IN_FLIGHT)
        .collect()
        .await;
    let ids: Vec<String> = std::iter::once(&first)
        .chain(&rest)
        .flat_map(|p| p["results"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["agent_id"].as_str().map(str::to_owned))
        .collect();
    let list = t0.elapsed();

    let t0 = Instant::now();
    let per: Vec<Option<u64>> = stream::iter(ids.iter())
        .map(|id| {
            let http = http.clone();
            async move {
                let bytes = http
                    .get(format!("{base}/software/{id}/"))
                    .header("X-API-KEY", tactical_sim::DEFAULT_API_KEY)
                    .send()
                    .await
                    .expect("software")
                    .error_for_status()
                    .expect("software status")
                    .bytes()
                    .await
                    .expect("body");
                match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                    Some(b'{') => {
                        let row: shared::tactical::types::SoftwareRow =
                            serde_json::from_slice(&bytes).expect("software row");
                        Some(row.software.len() as u64)
                    }
                    // `[]`: no inventory.
                    _ => None,
                }
            }
        })
        .buffer_unordered(SOFTWARE_FETCH_IN_FLIGHT)
        .collect()
        .await;
    SoftwareFetch {
        list,
        software: t0.elapsed(),
        agents: ids.len() as u64,
        with_inventory: per.iter().flatten().filter(|n| **n > 0).count() as u64,
        items: per.iter().flatten().sum(),
    }
}

/// Every item under `pk` (paginated).
pub async fn query_all(client: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let page = client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(pk.to_owned()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("query");
        out.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return out,
        }
    }
}

fn count(run: &Value, field: &str) -> i64 {
    run[field].as_i64().unwrap_or_else(|| panic!("{field} in {run}"))
}

#[derive(Debug, Clone)]
pub struct SoftwareFigures {
    /// Agents the first run checked (every agent is an asset).
    pub agents: i64,
    /// Agents with an inventory (the others are left untouched: Linux, no inventory).
    pub agents_with_inventory: i64,
    /// The simulator's average programs per Windows agent.
    pub items_per_agent: usize,
    /// Programs on the agents checked, after duplicates merge (the first run's count).
    pub software_items: i64,
    pub first_run: Duration,
    /// Links the first run wrote (installs).
    pub first_created: i64,
    pub catalog_entries: usize,
    /// The fetch floor (list + per agent, the fastest of three reads) and its list part.
    pub fetch_only: Duration,
    pub fetch_list: Duration,
    pub write_floor: Duration,
    /// Links + inventory records + catalog entries: the least the first run has to write.
    pub items_written_floor: usize,
    /// Not a target: reading every agent's asset and inventory record once (what the unchanged
    /// run has to read at least besides Tactical).
    pub read_floor: Duration,
    pub unchanged_run: Duration,
    pub unchanged_processed: i64,
    pub unchanged_agents: i64,
    /// Items created + updated + deleted by the unchanged run (goal 0).
    pub unchanged_writes: i64,
}

impl SoftwareFigures {
    pub fn floor(&self) -> Duration {
        self.fetch_only + self.write_floor
    }
    pub fn json(&self) -> Value {
        json!({
            "agents": self.agents,
            "agents_with_inventory": self.agents_with_inventory,
            "items_per_agent": self.items_per_agent,
            "software_items": self.software_items,
            "first_run_s": secs(self.first_run),
            "first_run_links_created": self.first_created,
            "catalog_entries": self.catalog_entries,
            "floor_s": secs(self.floor()),
            "floor_fetch_s": secs(self.fetch_only),
            "floor_fetch_agent_list_s": secs(self.fetch_list),
            "floor_fetch_in_flight": SOFTWARE_FETCH_IN_FLIGHT,
            "floor_batch_write_s": secs(self.write_floor),
            "floor_items_written": self.items_written_floor,
            "first_vs_floor": ratio(self.first_run, self.floor()),
            "unchanged_run_s": secs(self.unchanged_run),
            "unchanged_vs_fetch_only": ratio(self.unchanged_run, self.fetch_only),
            "read_floor_batch_get_s": secs(self.read_floor),
            "unchanged_vs_fetch_plus_read_floor": ratio(self.unchanged_run, self.fetch_only + self.read_floor),
            "unchanged_items_processed": self.unchanged_processed,
            "unchanged_agents": self.unchanged_agents,
            "unchanged_writes": self.unchanged_writes,
        })
    }
}

/// Benchmark 5: software ingest of `agents` agents with about `items` programs per Windows agent,
/// first run and unchanged run, on a tenant and stack of its own (deleted at the end). Devices
/// are synced first so every agent is an asset.
pub async fn software(agents: usize, items: usize) -> SoftwareFigures {
    let clients = (agents / 100).clamp(1, 20);
    let env = device_env_with("bench-sw", agents, clients, items).await;
    let figures = software_on(&env, items).await;
    cleanup(&env.p).await;
    figures
}

async fn software_on(env: &DeviceEnv, items: usize) -> SoftwareFigures {
    let ddb = aws_sdk_dynamodb::Client::new(&integration_tests::sdk().await);
    let table = env.p.stack.table_name.clone();
    let base = env.sim.base_url();
    let (_, dev) = run_sync(&env.p, Function::SyncDevices, &env.t).await;
    assert_eq!(dev["status"], "succeeded", "{dev}");
    env.report("software: device sync first").await;
    let agents = env.sim.state().agents();
    assert_eq!(count(&dev, "items_created"), agents.len() as i64, "every agent became an asset: {dev}");

    let fetch1 = fetch_software(&base).await;
    let (first_run, run) = run_sync(&env.p, Function::SyncSoftware, &env.t).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(count(&run, "items_failed"), 0, "{run}");
    assert_eq!(count(&run, "items_processed"), fetch1.agents as i64, "every agent was checked: {run}");
    assert_eq!(count(&run, "items_updated"), fetch1.with_inventory as i64, "{run}");
    let first_created = count(&run, "items_created");
    let agents_with_inventory = count(&run, "items_updated");
    let n = count(&run, "items_processed").max(0) as u64;
    let mut r = env.report(&format!("software ingest, first run ({n} agents, {first_created} links)")).await;
    r.lambda("sync-software", first_run, 1);
    count::keep(r, n, "agent");

    // Copies of every item the run wrote (each asset's links and inventory record, the catalog),
    // each under a floor partition of its own kind, keys kept.
    let inv_sk = shared_aws::software::keys::INVENTORY_SK;
    let catalog_pk = shared_aws::software::keys::software_catalog(&env.t);
    let floor_pk = format!("bench-floor-{}", env.t);
    let mut floor_items: Vec<Item> = Vec::new();
    for (i, a) in agents.iter().enumerate() {
        let id = shared::domain::asset::asset_id_for(&env.t, &a.agent_id);
        for it in query_all(&ddb, &table, &shared_aws::software::keys::asset_software(&env.t, &id)).await {
            let sk = it.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            floor_items.push(with_key(&it, &format!("{floor_pk}#sw{i}"), sk));
        }
    }
    let catalog = query_all(&ddb, &table, &catalog_pk).await;
    let catalog_entries = catalog.len();
    for it in catalog {
        let sk = it.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        floor_items.push(with_key(&it, &format!("{floor_pk}#catalog"), sk));
    }
    assert_eq!(
        floor_items.len(),
        (first_created + agents_with_inventory) as usize + catalog_entries,
        "links, inventories, catalog"
    );
    let items_written_floor = floor_items.len();
    let write_floor = batch_write(&ddb, &table, floor_items, SOFTWARE_FETCH_IN_FLIGHT).await;

    // What the unchanged run reads at least: each agent's asset and its inventory record.
    let key = |pk: String, sk: String| {
        HashMap::from([("pk".to_owned(), AttributeValue::S(pk)), ("sk".to_owned(), AttributeValue::S(sk))])
    };
    let mut keys: Vec<Item> = Vec::with_capacity(2 * agents.len());
    for a in &agents {
        let id = shared::domain::asset::asset_id_for(&env.t, &a.agent_id);
        keys.push(key(shared_aws::software::keys::asset_software(&env.t, &id), inv_sk.to_owned()));
        keys.push(key(shared_aws::keys::asset_pk(&env.t, &id), id));
    }
    let read_floor = batch_get(&ddb, &table, keys).await;

    let fetch2 = fetch_software(&base).await;
    let (unchanged_run, rerun) = run_sync(&env.p, Function::SyncSoftware, &env.t).await;
    assert_eq!(rerun["status"], "succeeded", "{rerun}");
    let unchanged_writes =
        count(&rerun, "items_created") + count(&rerun, "items_updated") + count(&rerun, "items_deleted");
    let mut r = env.report(&format!("software ingest, nothing changed ({n} agents)")).await;
    r.lambda("sync-software", unchanged_run, 1);
    count::keep(r, n, "agent");
    let fetch3 = fetch_software(&base).await;
    let fastest = [fetch1, fetch2, fetch3].into_iter().min_by_key(SoftwareFetch::total).unwrap();

    SoftwareFigures {
        agents: count(&run, "items_processed"),
        agents_with_inventory,
        items_per_agent: items,
        software_items: count(&run, "software_items"),
        first_run,
        first_created,
        catalog_entries,
        fetch_only: fastest.total(),
        fetch_list: fastest.list,
        write_floor,
        items_written_floor,
        read_floor,
        unchanged_run,
        unchanged_processed: count(&rerun, "items_processed"),
        unchanged_agents: count(&rerun, "items_unchanged"),
        unchanged_writes,
    }
}

/// Peak resident memory of this process (VmHWM), in bytes.
pub fn vm_hwm() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// What the RSS child needs to act as the device worker for a run already started.
pub fn rss_job(env: &DeviceEnv, run_id: &str) -> Value {
    json!({
        "stack": {"env": env.p.stack.env, "queue_urls": env.p.stack.queue_urls, "table_name": env.p.stack.table_name},
        "tenant": env.t.as_str(),
        "run_id": run_id,
    })
}

/// The device worker for a started run: delivers the queue to `sync_devices` (as the Lambda
/// event source would) until the run is done. Returns the run as the API shows it.
pub async fn rss_worker(job: &Value) -> Value {
    let map = |v: &Value| -> std::collections::BTreeMap<String, String> {
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect()
    };
    let stack = devtools::provision::Provisioned {
        env: map(&job["stack"]["env"]),
        queue_urls: map(&job["stack"]["queue_urls"]),
        table_name: job["stack"]["table_name"].as_str().unwrap().to_owned(),
    };
    let deps = integration_tests::deps_with(&stack, |env| {
        env.insert("DEVICE_PAGE_SIZE".into(), PAGE_SIZE.to_string());
    })
    .await;
    let sqs = aws_sdk_sqs::Client::new(&integration_tests::sdk().await);
    let p = Pipeline { stack, deps, sqs };
    p.drain().await;
    let t = TenantId::parse(job["tenant"].as_str().unwrap()).unwrap();
    let (s, run) = p
        .call(
            Function::SyncDevices,
            "GET",
            &format!("/runs/{}", job["run_id"].as_str().unwrap()),
            &admin_token(&t),
            None,
        )
        .await;
    assert_eq!(s, 200, "{run}");
    run
}

/// Sets up a tenant of `agents` agents and starts its device run; the caller runs the worker
/// (in a child process, so the simulator's memory is not counted).
pub async fn rss_setup(agents: usize, clients: usize) -> (DeviceEnv, String) {
    let env = device_env("bench-rss", agents, clients).await;
    let (s, v) = env.p.call(Function::SyncDevices, "POST", "/sync", &env.tok(), None).await;
    assert_eq!(s, 202, "{v}");
    let run_id = v["run_id"].as_str().unwrap().to_owned();
    (env, run_id)
}

/// Release binary sizes of the functions in `dir` (`None` when not built).
pub fn binary_sizes(dir: &std::path::Path) -> Vec<(&'static str, Option<u64>)> {
    FUNCTIONS.iter().map(|f| (*f, std::fs::metadata(dir.join(f)).ok().map(|m| m.len()))).collect()
}

/// Deletes a stack's table and queues (the shared LocalStack keeps everything in memory).
pub async fn cleanup(p: &Pipeline) {
    let ddb = aws_sdk_dynamodb::Client::new(&integration_tests::sdk().await);
    let _ = ddb.delete_table().table_name(&p.stack.table_name).send().await;
    if let Some(audit) = p.stack.env.get("AUDIT_TABLE_NAME") {
        let _ = ddb.delete_table().table_name(audit).send().await;
    }
    for url in p.stack.queue_urls.values() {
        let _ = p.sqs.delete_queue().queue_url(url).send().await;
    }
}

/// nproc, memory, CPU model and load, for the results file.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_mb": mem_kb.map(|k| k / 1024),
        "cpu_model": model,
        "loadavg_at_start": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The benchmark at a tiny size: it runs and its figures are sane.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_benchmark_runs_at_a_small_size() {
        let env = device_env("bench-ci", 300, 3).await;
        let d = devices(&env, 50, true).await;
        assert_eq!(d.agents, 300);
        assert!(d.pages >= 3, "{d:?}");
        assert!(d.full_sync > Duration::ZERO && d.fetch_only > Duration::ZERO && d.write_floor > Duration::ZERO);
        assert_eq!(d.items_written_full, 600);
        assert_eq!(d.resync_writes, 0, "an unchanged re-sync writes no asset: {d:?}");
        assert_eq!(d.resync_unchanged, 300);
        assert!(d.original_per_agent > Duration::ZERO && d.read_floor > Duration::ZERO);
        let j = d.json();
        assert!(j["full_sync_vs_floor"].as_f64().unwrap() > 0.0, "{j}");

        let wc = webhooks_concurrent(&env, 20, 5).await;
        assert!(wc.handler.p50 > Duration::ZERO && wc.floor.p50 > Duration::ZERO, "{wc:?}");
        assert!(wc.json()["wall_vs_floor"].as_f64().unwrap() > 0.0);
        let w = webhooks(&env, 20).await;
        assert!(w.handler.p50 > Duration::ZERO && w.handler.p99 >= w.handler.p50, "{w:?}");
        assert!(w.floor.p50 > Duration::ZERO, "{w:?}");
        assert!(w.json()["p50_vs_floor"].as_f64().unwrap() > 0.0);
        // What `bench --small --check` checks of these, with the CI size's ceilings.
        let targets = live::device_targets(&live::Thresholds::ci(), &j, &w.json());
        eprintln!("{j}\n{}\n{}", w.json(), live::table(&targets));
        assert!(live::missed(&targets).is_empty(), "{}", live::table(&targets));

        // The RSS worker, in process (the binary runs it in a child process). The webhooks'
        // follow-ups are not part of it.
        let alerts_queue = &env.p.stack.queue_urls["SyncAlertsQueue"];
        env.p.sqs.purge_queue().queue_url(alerts_queue).send().await.expect("purge");
        let (s, v) = env.p.call(Function::SyncDevices, "POST", "/sync", &env.tok(), None).await;
        assert_eq!(s, 202, "{v}");
        let run = rss_worker(&rss_job(&env, v["run_id"].as_str().unwrap())).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert!(vm_hwm() > 0);
        assert_eq!(binary_sizes(std::path::Path::new("/nonexistent")).len(), FUNCTIONS.len());
        assert!(machine()["nproc"].as_u64().unwrap() > 0);
        cleanup(&env.p).await;
    }

    /// Benchmark 5 at a tiny size: every agent is checked, the unchanged run writes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_software_benchmark_runs_at_a_small_size() {
        let s = software(20, 5).await;
        assert_eq!(s.agents, 20, "{s:?}");
        assert!(s.agents_with_inventory > 0 && s.agents_with_inventory <= 20, "{s:?}");
        assert!(s.first_created >= s.agents_with_inventory && s.software_items >= s.first_created, "{s:?}");
        assert!(s.catalog_entries > 0, "{s:?}");
        assert_eq!(
            s.items_written_floor,
            (s.first_created + s.agents_with_inventory) as usize + s.catalog_entries,
            "{s:?}"
        );
        assert!(s.first_run > Duration::ZERO && s.fetch_only > Duration::ZERO && s.write_floor > Duration::ZERO);
        assert!(s.unchanged_run > Duration::ZERO && s.read_floor > Duration::ZERO && s.fetch_list > Duration::ZERO);
        assert_eq!(s.unchanged_processed, 20, "{s:?}");
        assert_eq!(s.unchanged_agents, s.agents_with_inventory, "{s:?}");
        assert_eq!(s.unchanged_writes, 0, "an unchanged run writes nothing: {s:?}");
        let j = s.json();
        eprintln!("software at a small size: {j}");
        assert!(j["first_vs_floor"].as_f64().unwrap() > 0.0, "{j}");
        assert!(j["unchanged_vs_fetch_only"].as_f64().unwrap() > 0.0, "{j}");
        assert_eq!(j["unchanged_writes"], 0, "{j}");
    }
}
