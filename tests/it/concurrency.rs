//! Two workers on the same device page. SQS may deliver a message twice, at the same
//! time, to two function instances; the page must land once (asset ids are derived from tenant +
//! agent, the run counts each work item once). The other two concurrency promises are covered
//! elsewhere: 100 concurrent duplicate webhooks (alerts.rs,
//! `a_hundred_concurrent_duplicates_leave_one_alert_and_one_follow_up`) and two sync starts at
//! once (sync.rs, `two_sync_starts_at_once_make_one_run_and_unmapped_tenants_are_told_to_map`).

use integration_tests::*;
use serde_json::{Value, json};
use tactical_sim::SimConfig;

/// Receives up to `n` messages from a queue (long enough to see them all), without deleting them.
async fn receive(p: &Pipeline, queue: &str, n: usize) -> Vec<aws_sdk_sqs::types::Message> {
    let url = &p.stack.queue_urls[queue];
    let mut got = Vec::new();
    for _ in 0..20 {
        let out = p
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
            .expect("receive");
        got.extend(out.messages.unwrap_or_default());
        if got.len() >= n {
            break;
        }
    }
    got
}

async fn delete(p: &Pipeline, queue: &str, msgs: &[aws_sdk_sqs::types::Message]) {
    for m in msgs {
        p.sqs
            .delete_message()
            .queue_url(&p.stack.queue_urls[queue])
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .expect("delete");
    }
}

/// An SQS event of `bodies`, each its own record (distinct message ids, as duplicates have).
fn sqs_event(bodies: &[&str]) -> lambda_glue::lambda::Invocation {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| json!({"messageId": format!("dup-{i}-{}", rand::random::<u32>()), "body": b, "attributes": {"ApproximateReceiveCount": "1"}}))
        .collect();
    lambda_glue::lambda::classify(json!({ "Records": records })).expect("sqs event")
}

#[tokio::test]
async fn two_workers_on_the_same_device_page_land_it_once() {
    let p = Pipeline::new("dup-page").await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("dup-page");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (s, _) = p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202);
    p.drain().await;
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", &tok, None).await;
    for m in v["mappings"].as_array().unwrap() {
        let path = format!("/mappings/{}", m["id"].as_str().unwrap());
        assert_eq!(
            p.call(Function::SyncClients, "PATCH", &path, &tok, Some(json!({"client_id": "psa-1"}))).await.0,
            200
        );
    }

    let (s, started) = p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{started}");
    // The start message fans out one page message per organization.
    let start = receive(&p, "SyncDevicesQueue", 1).await;
    assert_eq!(start.len(), 1);
    let r = sync_devices::invoke(&p.deps, sqs_event(&[start[0].body().unwrap()])).await.unwrap();
    assert_eq!(r["batchItemFailures"], json!([]), "{r}");
    delete(&p, "SyncDevicesQueue", &start).await;
    let orgs = sim.state().clients().len();
    let pages = receive(&p, "SyncDevicesQueue", orgs).await;
    assert_eq!(pages.len(), orgs, "one page message per organization");

    // Every page handled four times at once: two function instances, each with the message
    // twice in its batch (the worker handles a batch's records concurrently).
    for page in &pages {
        let body = page.body().unwrap();
        assert!(body.contains("device_page"), "{body}");
        let (a, b) = tokio::join!(
            sync_devices::invoke(&p.deps, sqs_event(&[body, body])),
            sync_devices::invoke(&p.deps, sqs_event(&[body, body]))
        );
        for r in [a.unwrap(), b.unwrap()] {
            assert_eq!(r["batchItemFailures"], json!([]), "{r}");
        }
    }
    delete(&p, "SyncDevicesQueue", &pages).await;
    assert_eq!(p.drain().await, 0, "nothing else was queued (page 1 of each organization is its only page)");

    let run_id = started["run_id"].as_str().unwrap();
    let (_, run) = p.call(Function::SyncDevices, "GET", &format!("/runs/{run_id}"), &tok, None).await;
    let agents = sim.state().agents().len();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["pending"], 0, "{run}");
    assert_eq!(run["items_processed"], json!(agents), "each page counted once: {run}");
    assert_eq!(
        run["items_created"].as_u64().unwrap()
            + run["items_updated"].as_u64().unwrap()
            + run["items_unchanged"].as_u64().unwrap(),
        agents as u64,
        "{run}"
    );
    let assets = p.deps.store.list_assets(&t).await.unwrap();
    assert_eq!(assets.len(), agents, "no duplicate asset");
    let mappings = p.deps.store.list_external_mappings(&t).await.unwrap();
    assert_eq!(mappings.len(), agents, "no duplicate external entity mapping");
    let mut ids: Vec<_> = assets.iter().map(|a| a.rmm_device_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), agents, "one asset per agent");
    assert!(
        mappings
            .iter()
            .all(|m| assets.iter().any(|a| a.asset_id == m.alga_entity_id && a.rmm_device_id == m.external_entity_id)),
        "every mapping points at its asset"
    );
    integration_tests::cleanup::drop_stack(&p.stack).await;
}
