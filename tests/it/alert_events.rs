//! `RMM Alert Changed`: every change of an alert's state reaches the stack's bus once, whatever
//! recorded it (webhook, backfill, reconciliation, the PSA), with an id a redelivery repeats.

use integration_tests::aws_faults::faulty_pipeline;
use integration_tests::cleanup::drop_stack;
use integration_tests::schema::Schema;
use integration_tests::*;
use serde_json::{Value, json};
use shared::auth::perms;
use shared::messages::{QueueKind, SyncMessage};
use std::collections::BTreeSet;
use std::time::Duration;
use tactical_sim::{NewAlert, Severity, SimConfig, UrlAction};

/// The details on the queue, each checked against the schema: long polls until `want` arrived
/// and then until a bounded number of polls found nothing more (delivery is asynchronous).
async fn take(p: &Pipeline, url: &str, want: usize) -> Vec<Value> {
    let schema = Schema::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/events/rmm-alert-changed.json"),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut empty = 0;
    loop {
        let r = p.sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send().await;
        let msgs = r.unwrap().messages.unwrap_or_default();
        if msgs.is_empty() {
            empty += 1;
            if (out.len() >= want && empty >= 2) || empty >= 6 {
                return out;
            }
        }
        for m in msgs {
            let e: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!(
                (e["source"].as_str(), e["detail-type"].as_str()),
                (Some("tactical-bridge"), Some("RMM Alert Changed"))
            );
            schema.assert_valid(&e["detail"]);
            out.push(e["detail"].clone());
            p.sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
}

fn kinds(events: &[Value]) -> Vec<(String, String)> {
    let mut k: Vec<(String, String)> = events
        .iter()
        .map(|d| (d["alert_key"].as_str().unwrap().to_owned(), d["kind"].as_str().unwrap().to_owned()))
        .collect();
    k.sort();
    k
}

fn unique_ids(events: &[Value]) -> usize {
    events.iter().map(|d| d["event_id"].as_str().unwrap().to_owned()).collect::<BTreeSet<_>>().len()
}

#[tokio::test]
async fn webhooks_publish_each_change_once_even_when_redelivered_or_when_eventbridge_fails() {
    let (p, faults) = faulty_pipeline("alert-events", |env| {
        env.insert("WEBHOOK_BASE_URL".into(), "https://hooks.example.test".into());
    })
    .await;
    // Failed follow-ups are retried through SQS: a short redelivery delay on this stack.
    p.redeliver_after(1).await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("alev");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (s, info) = p.call(Function::Connection, "POST", "/webhook/secret", &tok, None).await;
    assert_eq!(s, 200, "{info}");
    let cache = webhook::SecretCache::new(Duration::ZERO, Duration::ZERO);
    let action = |event: &str| {
        let a = &info["url_actions"][event];
        UrlAction::post(
            a["pattern"].as_str().unwrap(),
            a["rest_body"].as_str().unwrap(),
            a["rest_headers"].as_str().unwrap(),
        )
    };
    let fire = |event: &'static str, id: i64| {
        let w = sim.state().prepare_webhook(&action(event), id, event == "resolved").unwrap();
        let (p, cache) = (&p, &cache);
        async move { read(webhook::handle_with(&p.deps, cache, webhook_request(&w)).await) }
    };
    let queue = event_queue(&p, t.as_str(), "RMM Alert Changed", "alerts").await;
    let agent = sim.state().agents()[0].clone();
    let id = sim.state().raise_alert(NewAlert::check(agent.agent_id.clone(), Severity::Error, "CPU 99%")).unwrap();
    let key = format!("id#{id}");

    // Trigger, a duplicate delivery of it, then resolve: one `opened`, one `resolved`. The
    // webhook itself never calls EventBridge: its write carries the pending event.
    const OPS: [&str; 5] = ["GetItem", "PutItem", "UpdateItem", "Query", "PutEvents"];
    let calls = || OPS.map(|op| faults.calls(op));
    for event in ["failure", "failure", "resolved"] {
        let before = calls();
        let (s, v) = fire(event, id).await;
        assert_eq!(s, 202, "{v}");
        let hook = calls();
        assert_eq!(hook[4], before[4], "the webhook called PutEvents");
        p.drain().await;
        let after = calls();
        let diff = |a: [u64; 5], b: [u64; 5]| -> Vec<String> {
            OPS.iter().zip(a.iter().zip(b.iter())).map(|(op, (x, y))| format!("{op} {}", y - x)).collect()
        };
        eprintln!("{event}: webhook {:?}; follow-up {:?}", diff(before, hook), diff(hook, after));
    }
    let events = take(&p, &queue, 2).await;
    assert_eq!(kinds(&events), vec![(key.clone(), "opened".into()), (key.clone(), "resolved".into())], "{events:?}");
    assert_eq!(unique_ids(&events), 2);
    let opened = events.iter().find(|d| d["kind"] == "opened").unwrap();
    assert_eq!((opened["from"].clone(), opened["to"].clone()), (Value::Null, json!("active")));
    assert_eq!((opened["alert_id"].clone(), opened["agent_id"].clone()), (json!(id), json!(agent.agent_id)));
    assert_eq!((opened["severity"].clone(), opened["source"].clone()), (json!("critical"), json!("webhook")));
    let resolved = events.iter().find(|d| d["kind"] == "resolved").unwrap();
    assert_eq!((resolved["from"].clone(), resolved["to"].clone()), (json!("active"), json!("resolved")));
    assert!(p.deps.store.get_alert(&t, &key).await.unwrap().unwrap().pending_events.is_empty(), "outbox cleared");

    // A redelivered follow-up publishes nothing more: the change was published and cleared.
    let again = SyncMessage::AlertFollowUp {
        tenant: t.clone(),
        alert_key: key.clone(),
        alert_id: Some(id),
        agent_id: agent.agent_id.clone(),
        refetch: false,
    };
    p.deps.queue.send(QueueKind::SyncAlerts, &[again]).await.unwrap();
    p.drain().await;
    assert!(take(&p, &queue, 0).await.is_empty(), "a redelivered follow-up published again");

    // EventBridge refuses every attempt of the follow-up's first delivery: the change stays
    // pending on the alert and the item fails; its redelivery publishes it, once.
    let id2 = sim.state().raise_alert(NewAlert::check(agent.agent_id.clone(), Severity::Warning, "Disk 95%")).unwrap();
    let key2 = format!("id#{id2}");
    // Four attempts of the publisher, each retried by the SDK: twelve refusals.
    faults.throttle("PutEvents", &[], 12);
    let (s, v) = fire("failure", id2).await;
    assert_eq!(s, 202, "{v}");
    p.drain_rounds(1).await;
    assert_eq!(faults.throttled("PutEvents"), 12);
    let pending = p.deps.store.get_alert(&t, &key2).await.unwrap().unwrap().pending_events;
    assert_eq!(pending.len(), 1, "kept pending after a failed publish: {pending:?}");
    assert!(take(&p, &queue, 0).await.is_empty());
    p.drain().await;
    let events = take(&p, &queue, 1).await;
    assert_eq!(kinds(&events), vec![(key2.clone(), "opened".to_owned())], "{events:?}");
    assert_eq!(events[0]["severity"], "moderate");
    assert!(p.deps.store.get_alert(&t, &key2).await.unwrap().unwrap().pending_events.is_empty());

    // Published, then clearing the outbox fails: the redelivered follow-up publishes the same
    // change again with the same id (a duplicate a consumer drops), never a second change.
    let (s, v) = fire("resolved", id2).await;
    assert_eq!(s, 202, "{v}");
    faults.throttle("UpdateItem", &["REMOVE pending_events"], 3);
    p.drain().await;
    assert_eq!(faults.throttled("UpdateItem"), 3);
    let events = take(&p, &queue, 2).await;
    assert_eq!(
        kinds(&events),
        vec![(key2.clone(), "resolved".into()), (key2.clone(), "resolved".into())],
        "{events:?}"
    );
    assert_eq!(unique_ids(&events), 1, "one id: {events:?}");
    assert!(p.deps.store.get_alert(&t, &key2).await.unwrap().unwrap().pending_events.is_empty());

    let _ = p.sqs.delete_queue().queue_url(&queue).send().await;
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn backfill_reconciliation_and_psa_actions_publish_their_changes() {
    let p = Pipeline::new_with("alert-events-psa", |env| {
        env.insert("ENTERPRISE_REMOTE_ACTIONS".into(), "true".into());
    })
    .await;
    let sim = simulator(SimConfig::default()).await;
    let st = sim.state();
    let t = tenant("alevpsa");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    // The agents become assets, so the events carry their asset ids.
    let (s, v) = p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    for c in st.clients() {
        let body = json!({"client_id": format!("psa-{}", c.id)});
        let (s, v) = p.call(Function::SyncClients, "PATCH", &format!("/mappings/{}", c.id), &tok, Some(body)).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    let queue = event_queue(&p, t.as_str(), "RMM Alert Changed", "alerts").await;
    // Only the alerts this test raises are open in Tactical.
    for a in st.alerts() {
        if !a.resolved {
            st.resolve_alert(a.id).unwrap();
        }
    }
    let agent = st.agents()[0].clone();
    let ids: Vec<i64> = (0..3)
        .map(|i| {
            st.raise_alert(NewAlert::check(agent.agent_id.clone(), Severity::Warning, format!("Disk {i}"))).unwrap()
        })
        .collect();
    let keys: Vec<String> = ids.iter().map(|i| format!("id#{i}")).collect();
    let sync_alerts = || async {
        let (s, v) = p.call(Function::SyncAlerts, "POST", "/sync", &tok, None).await;
        assert_eq!(s, 202, "{v}");
        p.drain().await;
    };

    sync_alerts().await;
    let events = take(&p, &queue, 3).await;
    let want: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), "opened".to_owned())).collect();
    assert_eq!(kinds(&events), want, "{events:?}");
    for d in &events {
        assert_eq!((d["source"].as_str(), d["to"].as_str()), (Some("backfill"), Some("active")));
        assert_eq!(d["asset_id"], json!(shared::domain::asset::asset_id_for(&t, &agent.agent_id)));
    }

    // The PSA resolves one and snoozes another (Tactical first, then the record, then the event).
    let invoke = |action: &'static str, input: Value| {
        let ev = json!({
            "tenant": t.as_str(),
            "actor": {"user_id": "wf-user-1", "permissions": [perms::RMM_MANAGE_ALERTS]},
            "entitlements": ["rmm_remote_actions"],
            "action": action,
            "input": input,
        });
        let deps = &p.deps;
        async move { remote_actions::invoke(deps, lambda_glue::lambda::classify(ev).unwrap()).await.expect("JSON") }
    };
    let r = invoke("alerts.resolve", json!({"alert_key": keys[0]})).await;
    assert_eq!(r["ok"], true, "{r}");
    let r = invoke("alerts.snooze", json!({"alert_key": keys[1], "snooze_days": 2})).await;
    assert_eq!(r["ok"], true, "{r}");
    let events = take(&p, &queue, 2).await;
    assert_eq!(
        kinds(&events),
        vec![(keys[0].clone(), "resolved".to_owned()), (keys[1].clone(), "suppressed".to_owned())],
        "{events:?}"
    );
    assert!(events.iter().all(|d| d["source"] == "psa"), "{events:?}");

    // Tactical resolves the third without a webhook: the next backfill auto-resolves it; the
    // PSA's changes are already recorded, so they publish nothing more.
    st.resolve_alert(ids[2]).unwrap();
    sync_alerts().await;
    let events = take(&p, &queue, 1).await;
    assert_eq!(kinds(&events), vec![(keys[2].clone(), "auto_resolved".to_owned())], "{events:?}");
    assert_eq!((events[0]["from"].as_str(), events[0]["source"].as_str()), (Some("active"), Some("reconciliation")));
    sync_alerts().await;
    assert!(take(&p, &queue, 0).await.is_empty(), "an unchanged backfill publishes nothing");

    let _ = p.sqs.delete_queue().queue_url(&queue).send().await;
    drop_stack(&p.stack).await;
}

#[test]
fn only_the_functions_that_publish_may_put_events() {
    let text = std::fs::read_to_string(devtools::provision::template_path()).unwrap();
    let t: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut publishers: Vec<String> = t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .filter(|(_, r)| {
            r["Properties"]["Policies"].as_sequence().into_iter().flatten().any(|p| {
                p.get("EventBridgePutEventsPolicy").is_some()
                    || serde_yaml::to_string(p).unwrap().contains("events:PutEvents")
            })
        })
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect();
    publishers.sort();
    // The webhook records the change with its pending event and never calls EventBridge.
    assert_eq!(publishers, ["RemoteActionsFunction", "SyncAlertsFunction", "SyncDevicesFunction"]);
}
