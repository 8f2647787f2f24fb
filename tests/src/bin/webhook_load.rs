//! Webhook under load (docs/reliability.md): a bounded local load test, not part of the test command.
//!
//! ```text
//! . infra/lib.sh && tb_aws_env     # LocalStack running (infra/localstack.sh start)
//! cargo run -p integration-tests --features load --bin webhook_load -- --requests 5000 --concurrency 50
//! ```
//!
//! Provisions its own stack in LocalStack, connects a tenant to an in-process Tactical simulator,
//! creates the webhook secret, serves the `webhook` function's handler over HTTP on 127.0.0.1
//! (an ephemeral port; the handler is what `cargo lambda watch` would run, with its production
//! secret cache), then sends `--requests` deliveries (distinct alert ids) with `--concurrency`
//! in flight. It checks that every answer was 202, that every alert is in DynamoDB and every
//! follow-up message in the alerts queue, and prints the latency percentiles. Only loopback is
//! contacted; the run stops by itself after `--max-secs` (default 900) whatever happens.

use axum::body::Body as AxumBody;
use futures::StreamExt;
use integration_tests::{Function, Pipeline, admin_token, connect, simulator, tenant};
use lambda_http::Body;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One delivery: its alert id, and the status with the latency, or the transport error.
type Outcome = (u64, Result<(u16, Duration), String>);

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok()).unwrap_or(default)
}

/// The function URL / API Gateway request the handler receives, from the HTTP request served.
async fn serve(deps: Arc<lambda_glue::Deps>, req: axum::extract::Request) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, 1 << 20).await {
        Ok(b) => b,
        Err(_) => return axum::response::Response::builder().status(413).body(AxumBody::empty()).unwrap(),
    };
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(t) => Body::Text(t),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    let resp = webhook::handle(&deps, lambda_http::http::Request::from_parts(parts, body)).await;
    let (parts, body) = resp.into_parts();
    let body = match body {
        Body::Text(t) => AxumBody::from(t),
        Body::Binary(b) => AxumBody::from(b),
        _ => AxumBody::empty(),
    };
    axum::response::Response::from_parts(parts, body)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let requests = arg(&args, "--requests", 5000).clamp(1, 100_000);
    let concurrency = arg(&args, "--concurrency", 50).clamp(1, 500) as usize;
    let max_secs = arg(&args, "--max-secs", 900).clamp(10, 3600);
    let deadline = Instant::now() + Duration::from_secs(max_secs);

    let p = Pipeline::new_with("load", |env| {
        env.insert("WEBHOOK_BASE_URL".into(), "http://127.0.0.1".into());
    })
    .await;
    let sim = simulator(tactical_sim::SimConfig::default()).await;
    let t = tenant("load");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (s, info) = p.call(Function::Connection, "POST", "/webhook/secret", &tok, None).await;
    assert_eq!(s, 200, "{info}");
    let secret = info["secret"].as_str().ok_or("no secret")?.to_owned();
    let agents: Vec<String> = sim.state().agents().into_iter().map(|a| a.agent_id).collect();

    let deps = Arc::new(p.deps.clone());
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| serve(deps.clone(), req));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/webhooks/tacticalrmm/{t}?event=failure");
    println!(
        "webhook served on {addr} (stack {}, tenant {t}); {requests} requests, concurrency {concurrency}",
        p.stack.table_name
    );

    let client =
        reqwest::Client::builder().timeout(Duration::from_secs(60)).pool_max_idle_per_host(concurrency).build()?;
    let started = Instant::now();
    let results: Vec<Outcome> = futures::stream::iter(1..=requests)
        .map(|i| {
            let (client, url, secret) = (client.clone(), url.clone(), secret.clone());
            let agent = agents[(i as usize) % agents.len()].clone();
            async move {
                if Instant::now() > deadline {
                    return (i, Err("deadline passed before sending".into()));
                }
                // The ready-to-paste template as Tactical fills it (every value a string).
                let body = json!({
                    "event": "failure", "alert_id": i.to_string(), "alert_type": "check", "severity": "warning",
                    "message": format!("load test alert {i}"), "alert_time": "2026-11-29 10:00:00.000000+00:00",
                    "agent_id": agent, "hostname": "LOAD-HOST", "client": "Load Corp", "site": "HQ",
                })
                .to_string();
                let t0 = Instant::now();
                let r = client.post(&url).header("X-Alga-Webhook-Secret", &secret).body(body).send().await;
                match r {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let _ = resp.bytes().await;
                        (i, Ok((status, t0.elapsed())))
                    }
                    Err(e) => (i, Err(e.to_string())),
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();

    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for (i, r) in &results {
        match r {
            Ok((202, d)) => latencies.push(*d),
            Ok((s, _)) => errors.push(format!("alert {i}: HTTP {s}")),
            Err(e) => errors.push(format!("alert {i}: {e}")),
        }
    }
    latencies.sort();

    // Nothing lost: every alert in DynamoDB (read back through the store), every follow-up queued.
    let mut found = HashSet::new();
    let mut cursor = None;
    loop {
        let page = p
            .deps
            .store
            .list_alerts(&t, &shared::ports::AlertQuery { limit: 500, cursor, ..Default::default() })
            .await?;
        found.extend(page.alerts.into_iter().filter_map(|a| a.external_alert_id));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let missing: Vec<u64> = (1..=requests).filter(|i| !found.contains(&i.to_string())).collect();
    let queued = p
        .sqs
        .get_queue_attributes()
        .queue_url(&p.stack.queue_urls["SyncAlertsQueue"])
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await?
        .attributes
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages).cloned())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);

    println!(
        "{} requests in {:.1} s ({:.0}/s) at concurrency {concurrency}: {} errors",
        results.len(),
        elapsed.as_secs_f64(),
        results.len() as f64 / elapsed.as_secs_f64(),
        errors.len()
    );
    println!(
        "latency of accepted deliveries: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    println!("alerts in DynamoDB: {} of {requests}; follow-up messages queued: {queued}", found.len());
    for e in errors.iter().take(10) {
        println!("  error: {e}");
    }
    sim.shutdown().await;
    if !errors.is_empty() || !missing.is_empty() || queued != requests {
        return Err(format!(
            "FAILED: {} errors, {} alerts missing (first: {:?}), {queued} follow-ups queued",
            errors.len(),
            missing.len(),
            missing.first()
        )
        .into());
    }
    println!("OK: 0 errors, nothing lost");
    Ok(())
}
