//! Live status benchmarks: the status refresh of a fleet with 1 % transitions, and the hourly
//! device re-sync of a fleet whose online agents all checked in while 2 % really changed. Each
//! is run three times against a floor measured in the same run; the figures are the median and
//! the spread (min–max) of the three ratios.

use super::*;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use integration_tests::aws_faults::AwsFaults;
use std::sync::Arc;

/// Mappings refreshed at once and transitions written at once, as `status_refresh` does.
const REFRESH_CLIENTS_IN_FLIGHT: usize = 4;
const REFRESH_WRITES_IN_FLIGHT: usize = 8;
/// Runs of each benchmark (median and spread).
pub const RUNS: usize = 3;

/// Median, min and max of `v` (rounded as [`ratio`] is).
pub fn spread(v: &[f64]) -> Value {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let median = if s.is_empty() { f64::NAN } else { s[s.len() / 2] };
    json!({"median": median, "min": s.first(), "max": s.last(), "runs": v})
}

/// A tenant on a pipeline whose AWS calls are counted (no latency, no faults), after its first
/// device sync and its first status refresh (the snapshots are recorded).
pub struct LiveEnv {
    pub env: DeviceEnv,
    pub faults: Arc<AwsFaults>,
    /// A queue receiving the tenant's status events through a rule on the stack's bus.
    pub events_queue: String,
}

pub async fn live_env(agents: usize, clients: usize) -> LiveEnv {
    let faults = Arc::new(AwsFaults::default());
    let (p, counter) = count::counted_pipeline("bench-live", Some(faults.clone()), bench_env).await;
    let env = device_env_in(p, counter, "bench-live", agents, clients, 0).await;
    let (_, run) = run_sync(&env.p, Function::SyncDevices, &env.t).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["items_created"].as_u64(), Some(agents as u64), "{run}");
    let events_queue = integration_tests::event_queue(&env.p, env.t.as_str(), "Asset Status Changed", "bench").await;
    refresh(&env.p, &env.tok()).await;
    env.report("live setup").await;
    LiveEnv { env, faults, events_queue }
}

async fn refresh(p: &Pipeline, tok: &str) -> Duration {
    let t0 = Instant::now();
    let (s, v) = p.call(Function::SyncDevices, "POST", "/status/refresh", tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    t0.elapsed()
}

/// Counts (and deletes) the events on the queue: polls until `want` arrived and one more poll
/// found nothing, or three polls in a row found nothing (delivery is asynchronous).
async fn take_events(p: &Pipeline, url: &str, want: usize) -> usize {
    let (mut n, mut empty) = (0, 0);
    loop {
        let r = p.sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send().await;
        let msgs = r.expect("receive events").messages.unwrap_or_default();
        if msgs.is_empty() {
            empty += 1;
            if n >= want || empty >= 3 {
                return n;
            }
            continue;
        }
        empty = 0;
        for m in msgs {
            n += 1;
            let rh = m.receipt_handle().unwrap_or_default();
            p.sqs.delete_message().queue_url(url).receipt_handle(rh).send().await.expect("delete event");
        }
    }
}

/// The refresh's fetch floor: `GET /agents/?client=<id>` for every client, 4 at a time, each
/// body read and parsed. Returns the time and the rows listed.
pub async fn fetch_listings(base: &str, clients: &[i64]) -> (Duration, usize) {
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    let counts: Vec<usize> = stream::iter(clients.iter().copied())
        .map(|c| {
            let http = http.clone();
            async move {
                let resp = http
                    .get(format!("{base}/agents/?client={c}"))
                    .header("X-API-KEY", tactical_sim::DEFAULT_API_KEY)
                    .send()
                    .await
                    .expect("agents listing");
                let bytes = resp.error_for_status().expect("listing status").bytes().await.expect("body");
                let v: Value = serde_json::from_slice(&bytes).expect("listing json");
                v.as_array().map_or(0, Vec::len)
            }
        })
        .buffer_unordered(REFRESH_CLIENTS_IN_FLIGHT)
        .collect()
        .await;
    (t0.elapsed(), counts.iter().sum())
}

#[derive(Debug, Clone)]
pub struct RefreshRun {
    pub refresh: Duration,
    pub fetch: Duration,
    /// UpdateItem of copies of the changed assets + PutEvents of as many events.
    pub write_floor: Duration,
    pub transitions: usize,
    /// UpdateItem calls on the tenant's assets during the refresh.
    pub asset_writes: u64,
    pub events: usize,
}

impl RefreshRun {
    pub fn floor(&self) -> Duration {
        self.fetch + self.write_floor
    }
    pub fn json(&self) -> Value {
        json!({
            "refresh_s": secs(self.refresh),
            "floor_s": secs(self.floor()),
            "floor_fetch_s": secs(self.fetch),
            "floor_writes_s": secs(self.write_floor),
            "vs_floor": ratio(self.refresh, self.floor()),
            "transitions": self.transitions,
            "asset_writes": self.asset_writes,
            "events": self.events,
        })
    }
}

#[derive(Debug, Clone)]
pub struct RefreshFigures {
    pub agents: usize,
    pub clients: usize,
    pub runs: Vec<RefreshRun>,
}

impl RefreshFigures {
    pub fn ratios(&self) -> Vec<f64> {
        self.runs.iter().map(|r| ratio(r.refresh, r.floor())).collect()
    }
    /// Every run wrote exactly its transitions and published one event for each.
    pub fn writes_exact(&self) -> bool {
        self.runs.iter().all(|r| r.asset_writes == r.transitions as u64 && r.events == r.transitions)
    }
    pub fn json(&self) -> Value {
        json!({
            "agents": self.agents,
            "clients": self.clients,
            "vs_floor": spread(&self.ratios()),
            "runs": self.runs.iter().map(RefreshRun::json).collect::<Vec<_>>(),
        })
    }
}

/// The status refresh, [`RUNS`] times: each run takes 1 % of the agents (at least one, a
/// different slice each run) from online to offline in Tactical, then times `POST /status/refresh`
/// until its queue is drained, against the listing fetch plus the transitions' writes alone.
pub async fn status_refresh(live: &LiveEnv) -> RefreshFigures {
    let env = &live.env;
    let st = env.sim.state();
    let ddb = aws_sdk_dynamodb::Client::new(&integration_tests::sdk().await);
    let events = aws_sdk_eventbridge::Client::new(&integration_tests::sdk().await);
    let bus = env.p.stack.env["EVENT_BUS_NAME"].clone();
    let table = env.p.stack.table_name.clone();
    let base = env.sim.base_url();
    let agents = st.agents();
    let online: Vec<String> =
        agents.iter().filter(|a| a.status == tactical_sim::AgentStatus::Online).map(|a| a.agent_id.clone()).collect();
    let k = (agents.len() / 100).max(1);
    assert!(online.len() >= RUNS * k, "enough online agents for {RUNS} runs of {k}");
    let asset_writes = live.faults.watch("UpdateItem", &[&format!("{}#assets", env.t)]);
    fetch_listings(&base, &env.clients[..1]).await;
    let mut runs = Vec::with_capacity(RUNS);
    let mut counted = count::Report::default();
    for run in 0..RUNS {
        let changed = &online[run * k..(run + 1) * k];
        for a in changed {
            st.make_offline(a).expect("make offline");
        }
        // The floor's items: copies of the assets this run changes (read and written untimed).
        let floor_pk = format!("bench-floor-{}#status{run}", env.t);
        let mut copies = Vec::with_capacity(k);
        for (i, a) in changed.iter().enumerate() {
            let id = shared::domain::asset::asset_id_for(&env.t, a);
            let item = dynamo_item(&ddb, &table, shared_aws::keys::asset_pk(&env.t, &id), id).await;
            copies.push(with_key(&item, &floor_pk, format!("s{i}")));
        }
        batch_write(&ddb, &table, copies, REFRESH_WRITES_IN_FLIGHT).await;

        let (fetch1, listed) = fetch_listings(&base, &env.clients).await;
        assert_eq!(listed, agents.len());
        let before = live.faults.watched(asset_writes);
        let refresh_took = refresh(&env.p, &env.tok()).await;
        let writes = live.faults.watched(asset_writes) - before;
        let mut r = env.report("").await;
        r.lambda("sync-devices", refresh_took, 1);
        counted.add(&r);
        let events_seen = take_events(&env.p, &live.events_queue, k).await;
        // The harness's reads of the events queue are no cost of ours.
        env.report("").await;
        let (fetch2, _) = fetch_listings(&base, &env.clients).await;

        let observed = now_rfc3339();
        let t0 = Instant::now();
        stream::iter(0..k)
            .map(|i| {
                let (ddb, table, floor_pk, observed) = (&ddb, &table, &floor_pk, &observed);
                async move {
                    ddb.update_item()
                        .table_name(table)
                        .key("pk", AttributeValue::S(floor_pk.clone()))
                        .key("sk", AttributeValue::S(format!("s{i}")))
                        .condition_expression("attribute_exists(pk)")
                        .update_expression("SET #st = :st, #ch = :o, #as = :o, #ls = :ls")
                        .expression_attribute_names("#st", "agent_status")
                        .expression_attribute_names("#ch", "status_changed_at")
                        .expression_attribute_names("#as", "status_as_of")
                        .expression_attribute_names("#ls", "last_seen_at")
                        .expression_attribute_values(":st", AttributeValue::S("offline".into()))
                        .expression_attribute_values(":o", AttributeValue::S(observed.clone()))
                        .expression_attribute_values(":ls", AttributeValue::S(observed.clone()))
                        .send()
                        .await
                        .expect("floor update_item");
                }
            })
            .buffer_unordered(REFRESH_WRITES_IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
        // Events of the same shape and size; a tenant no rule matches.
        let entries: Vec<PutEventsRequestEntry> = changed
            .iter()
            .map(|a| {
                let detail = json!({
                    "event_id": uuid_like(a), "tenant": format!("bench-floor-{}", env.t),
                    "asset_id": shared::domain::asset::asset_id_for(&env.t, a), "agent_id": a,
                    "hostname": "WIN-BENCH-000000", "client_id": "psa-1", "tactical_client_id": 1,
                    "from": "online", "to": "offline", "last_seen_at": observed, "observed_at": observed,
                    "source": "status_refresh",
                });
                PutEventsRequestEntry::builder()
                    .event_bus_name(&bus)
                    .source(shared::domain::status_refresh::EVENT_SOURCE)
                    .detail_type(shared::domain::status_refresh::STATUS_CHANGED)
                    .detail(detail.to_string())
                    .build()
            })
            .collect();
        let batches: Vec<Vec<PutEventsRequestEntry>> = entries.chunks(10).map(<[_]>::to_vec).collect();
        stream::iter(batches)
            .map(|b| {
                let events = &events;
                async move {
                    let out = events.put_events().set_entries(Some(b)).send().await.expect("floor put_events");
                    assert_eq!(out.failed_entry_count, 0);
                }
            })
            .buffer_unordered(REFRESH_CLIENTS_IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
        let write_floor = t0.elapsed();

        runs.push(RefreshRun {
            refresh: refresh_took,
            fetch: fetch1.min(fetch2),
            write_floor,
            transitions: k,
            asset_writes: writes,
            events: events_seen,
        });
    }
    counted.label = format!("status refresh, {} agents, {k} transitions per run ({RUNS} runs)", agents.len());
    count::keep(counted, RUNS as u64, "run");
    RefreshFigures { agents: agents.len(), clients: env.clients.len(), runs }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// A 36-character id, the size of the real events' UUIDs.
fn uuid_like(agent: &str) -> String {
    format!("{:0>36}", agent.chars().take(36).collect::<String>())
}

#[derive(Debug, Clone)]
pub struct HourlyRun {
    pub resync: Duration,
    pub fetch: Duration,
    pub checked_in: usize,
    pub changed: usize,
    pub writes: i64,
    pub unchanged: i64,
}

impl HourlyRun {
    pub fn json(&self) -> Value {
        json!({
            "resync_s": secs(self.resync),
            "floor_fetch_s": secs(self.fetch),
            "vs_fetch_only": ratio(self.resync, self.fetch),
            "agents_checked_in": self.checked_in,
            "changed": self.changed,
            "asset_writes": self.writes,
            "unchanged": self.unchanged,
        })
    }
}

#[derive(Debug, Clone)]
pub struct HourlyFigures {
    pub agents: usize,
    pub runs: Vec<HourlyRun>,
}

impl HourlyFigures {
    pub fn ratios(&self) -> Vec<f64> {
        self.runs.iter().map(|r| ratio(r.resync, r.fetch)).collect()
    }
    /// Every run wrote exactly the agents that changed.
    pub fn writes_exact(&self) -> bool {
        self.runs.iter().all(|r| r.writes == r.changed as i64)
    }
    pub fn json(&self) -> Value {
        json!({
            "agents": self.agents,
            "vs_fetch_only": spread(&self.ratios()),
            "runs": self.runs.iter().map(HourlyRun::json).collect::<Vec<_>>(),
        })
    }
}

/// The hourly device re-sync, [`RUNS`] times: the simulator's clock moves an hour (every online
/// agent checks in: its `last_seen` moves), 2 % of the agents (a different slice each run) get
/// a new amount of memory, then a device sync is timed against the fetch of the same pages.
pub async fn hourly_resync(live: &LiveEnv) -> HourlyFigures {
    let env = &live.env;
    let st = env.sim.state();
    let base = env.sim.base_url();
    let agents: Vec<String> = st.agents().into_iter().map(|a| a.agent_id).collect();
    let k = (agents.len() * 2 / 100).max(1);
    assert!(agents.len() >= RUNS * k);
    fetch_pages(&base, &env.clients[..1]).await;
    let mut runs = Vec::with_capacity(RUNS);
    let mut counted = count::Report::default();
    for run in 0..RUNS {
        let checked_in = st.advance_clock(time::Duration::hours(1));
        // The tail of the fleet, away from the refresh's slices at its head.
        let changed = &agents[agents.len() - (run + 1) * k..agents.len() - run * k];
        for a in changed {
            // Outside the generated sizes (4–128 GB): always a real change.
            st.set_total_ram(a, 256 + run as i64).expect("set ram");
        }
        let (fetch1, _) = fetch_pages(&base, &env.clients).await;
        let (resync, r) = run_sync(&env.p, Function::SyncDevices, &env.t).await;
        assert_eq!(r["status"], "succeeded", "{r}");
        let mut c = env.report("").await;
        c.lambda("sync-devices", resync, 1);
        counted.add(&c);
        let (fetch2, _) = fetch_pages(&base, &env.clients).await;
        runs.push(HourlyRun {
            resync,
            fetch: fetch1.min(fetch2),
            checked_in,
            changed: k,
            writes: r["items_created"].as_i64().unwrap_or(0) + r["items_updated"].as_i64().unwrap_or(0),
            unchanged: r["items_unchanged"].as_i64().unwrap_or(0),
        });
    }
    counted.label = format!("hourly device re-sync, {} agents, {k} changed per run ({RUNS} runs)", agents.len());
    count::keep(counted, RUNS as u64, "run");
    HourlyFigures { agents: agents.len(), runs }
}

/// Ratio ceilings. The full size holds the targets of docs/benchmarks.md; the CI size (300 agents, a debug
/// build, a shared machine) keeps the exact counts but looser ratios: at that size a run's fixed
/// costs (queue messages, run records, a few ms each) weigh against a floor of a few ms, so the
/// ratios are larger and noisier there without anything being wrong.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub full_sync_vs_floor: f64,
    pub resync_vs_fetch_only: f64,
    pub webhook_p50_vs_floor: f64,
    pub refresh_vs_floor: f64,
    pub hourly_vs_fetch_only: f64,
}

impl Thresholds {
    pub fn full() -> Self {
        Self {
            full_sync_vs_floor: 1.3,
            resync_vs_fetch_only: 1.1,
            webhook_p50_vs_floor: 1.5,
            refresh_vs_floor: 2.0,
            hourly_vs_fetch_only: 10.0,
        }
    }
    pub fn ci() -> Self {
        Self {
            full_sync_vs_floor: 3.0,
            resync_vs_fetch_only: 60.0,
            webhook_p50_vs_floor: 4.0,
            refresh_vs_floor: 10.0,
            hourly_vs_fetch_only: 60.0,
        }
    }
}

/// The live-status targets: the median ratio under its ceiling and the write counts exact.
pub fn live_targets(th: &Thresholds, r: &RefreshFigures, h: &HourlyFigures) -> Value {
    let rs = spread(&r.ratios());
    let hs = spread(&h.ratios());
    json!({
        "status_refresh_vs_floor": {
            "target": format!("median <= {} and writes = events = transitions", th.refresh_vs_floor),
            "value": rs["median"], "spread": [rs["min"], rs["max"]],
            "writes": r.runs.iter().map(|x| x.asset_writes).collect::<Vec<_>>(),
            "events": r.runs.iter().map(|x| x.events).collect::<Vec<_>>(),
            "transitions": r.runs.iter().map(|x| x.transitions).collect::<Vec<_>>(),
            "met": rs["median"].as_f64().is_some_and(|m| m <= th.refresh_vs_floor) && r.writes_exact(),
        },
        "hourly_resync_vs_fetch_only": {
            "target": format!("median <= {} and writes = changed agents", th.hourly_vs_fetch_only),
            "value": hs["median"], "spread": [hs["min"], hs["max"]],
            "writes": h.runs.iter().map(|x| x.writes).collect::<Vec<_>>(),
            "changed": h.runs.iter().map(|x| x.changed).collect::<Vec<_>>(),
            "met": hs["median"].as_f64().is_some_and(|m| m <= th.hourly_vs_fetch_only) && h.writes_exact(),
        },
    })
}

/// The device sync's and the webhook's ratio targets, from their figures' JSON.
pub fn device_targets(th: &Thresholds, dj: &Value, wj: &Value) -> Value {
    json!({
        "full_sync_vs_floor": {"target": format!("<= {}", th.full_sync_vs_floor), "value": dj["full_sync_vs_floor"],
            "met": dj["full_sync_vs_floor"].as_f64().is_some_and(|r| r <= th.full_sync_vs_floor)},
        "resync_vs_fetch_only": {"target": format!("<= {} with 0 writes", th.resync_vs_fetch_only),
            "value": dj["resync_vs_fetch_only"], "writes": dj["resync_asset_writes"],
            "met": dj["resync_vs_fetch_only"].as_f64().is_some_and(|r| r <= th.resync_vs_fetch_only)
                && dj["resync_asset_writes"] == 0},
        "webhook_p50_vs_floor": {"target": format!("<= {}", th.webhook_p50_vs_floor), "value": wj["p50_vs_floor"],
            "met": wj["p50_vs_floor"].as_f64().is_some_and(|r| r <= th.webhook_p50_vs_floor)},
    })
}

/// Names of the targets missed (`met` false; `null` = not measured in this run).
pub fn missed(targets: &Value) -> Vec<String> {
    targets
        .as_object()
        .map(|m| m.iter().filter(|(_, t)| t["met"] == false).map(|(k, _)| k.clone()).collect())
        .unwrap_or_default()
}

/// The targets as a table: name, target, value, met.
pub fn table(targets: &Value) -> String {
    let mut out = format!("{:<30} {:<52} {:<16} {}\n", "target", "ceiling", "value", "met");
    if let Some(m) = targets.as_object() {
        for (k, t) in m {
            let target = t["target"].as_str().unwrap_or_default();
            let value = match &t["value"] {
                Value::Null => "-".to_owned(),
                v => v.to_string(),
            };
            let met = match &t["met"] {
                Value::Bool(true) => "yes",
                Value::Bool(false) => "NO",
                _ => "not measured",
            };
            out.push_str(&format!("{k:<30} {target:<52} {value:<16} {met}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_check_read_the_targets() {
        let s = spread(&[1.4, 1.1, 1.2]);
        assert_eq!((s["median"].as_f64(), s["min"].as_f64(), s["max"].as_f64()), (Some(1.2), Some(1.1), Some(1.4)));
        let t = json!({"a": {"target": "<= 1", "value": 2.0, "met": false}, "b": {"met": true}, "c": {"met": null}});
        assert_eq!(missed(&t), vec!["a".to_owned()]);
        let tab = table(&t);
        assert!(tab.contains("NO") && tab.contains("not measured") && tab.contains("yes"), "{tab}");
    }

    /// The live-status benchmarks at the CI size, checked as `bench --small --check` checks them:
    /// each refresh writes and publishes exactly its transitions, each hourly re-sync writes
    /// exactly the changed agents, and the median ratios stay under the CI ceilings.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_live_benchmarks_meet_their_ci_targets() {
        let lenv = live_env(300, 3).await;
        let r = status_refresh(&lenv).await;
        let h = hourly_resync(&lenv).await;
        cleanup(&lenv.env.p).await;
        let targets = live_targets(&Thresholds::ci(), &r, &h);
        eprintln!("{}\n{}\n{}", r.json(), h.json(), table(&targets));
        assert_eq!(r.runs.len(), RUNS);
        assert!(r.runs.iter().all(|x| x.transitions == 3), "1 % of 300: {r:?}");
        assert!(h.runs.iter().all(|x| x.changed == 6 && x.checked_in > 0), "2 % of 300: {h:?}");
        assert!(missed(&targets).is_empty(), "{}", table(&targets));
    }
}
