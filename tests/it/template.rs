//! template.yaml keeps the promises the architecture makes (queues, DLQs, policies, data safety).

use integration_tests::FUNCTIONS;
use serde_yaml::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(devtools::provision::template_path()).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn resources(t: &Value) -> Vec<(String, Value)> {
    t["Resources"].as_mapping().unwrap().iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone())).collect()
}

fn tagged_str(v: &Value) -> String {
    match v {
        Value::Tagged(t) => t.value.as_str().unwrap_or_default().to_owned(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

#[test]
fn every_sync_queue_has_a_dlq_and_a_visibility_of_six_consumer_timeouts() {
    let t = template();
    let res = resources(&t);
    let mut consumers = 0;
    for (id, r) in &res {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let timeout = r["Properties"]["Timeout"].as_u64().unwrap_or(30);
        let Some(events) = r["Properties"]["Events"].as_mapping() else { continue };
        for (_, ev) in events {
            if ev["Type"] != "SQS" {
                continue;
            }
            consumers += 1;
            let queue_id = tagged_str(&ev["Properties"]["Queue"]).trim_end_matches(".Arn").to_owned();
            let q = &t["Resources"][queue_id.as_str()]["Properties"];
            let vis = q["VisibilityTimeout"].as_u64().unwrap();
            assert!(vis >= 6 * timeout, "{id}: {queue_id} visibility {vis} < 6 x {timeout}");
            assert!(q["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() >= 5, "{queue_id}: maxReceiveCount");
            let fr = ev["Properties"]["FunctionResponseTypes"].as_sequence().unwrap();
            assert!(fr.iter().any(|v| v == "ReportBatchItemFailures"), "{id}: ReportBatchItemFailures");
        }
    }
    assert_eq!(consumers, 4, "one consumer per sync type");
}

#[test]
fn functions_are_arm64_al2023_cargo_lambda_builds() {
    let t = template();
    assert_eq!(t["Globals"]["Function"]["Runtime"], "provided.al2023");
    assert_eq!(t["Globals"]["Function"]["Architectures"][0], "arm64");
    let names: Vec<String> = resources(&t)
        .into_iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(_, r)| {
            assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda");
            r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_owned()
        })
        .collect();
    for f in FUNCTIONS {
        assert!(names.iter().any(|n| n == f), "{f} missing from template.yaml");
        let manifest = format!("{}/../functions/{f}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&manifest).exists(), "{f} has no crate");
    }
}

#[test]
fn data_is_protected_and_secrets_access_is_scoped_to_the_prefix() {
    let t = template();
    let table = &t["Resources"]["BridgeTable"]["Properties"];
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);
    for (id, r) in resources(&t) {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let text = serde_yaml::to_string(&r["Properties"]["Policies"]).unwrap();
        if text.contains("secretsmanager") {
            assert!(text.contains("secret:${SecretPrefix}*"), "{id}: secrets policy not limited to the prefix");
            assert!(!text.contains("Resource: '*'"), "{id}: wildcard resource");
        }
    }
}

/// Every DLQ has a depth alarm and every function an errors and a throttles alarm, all sent to
/// the topic given as `AlarmTopicArn`; the webhook has 4xx and 5xx rate alarms.
#[test]
fn every_dlq_and_function_has_alarms_to_the_alarm_topic() {
    let t = template();
    let res = resources(&t);
    let alarms: Vec<&Value> =
        res.iter().filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm").map(|(_, r)| r).collect();
    let watched = |namespace: &str, metric: &str, dimension_ref: &str| {
        alarms.iter().any(|a| {
            let p = &a["Properties"];
            let to_topic =
                p["AlarmActions"].as_sequence().is_some_and(|s| s.iter().any(|v| tagged_str(v) == "AlarmTopicArn"));
            let dims = p["Dimensions"].as_sequence().cloned().unwrap_or_default();
            to_topic
                && p["Namespace"] == namespace
                && p["MetricName"] == metric
                && dims.iter().any(|d| tagged_str(&d["Value"]).trim_end_matches(".QueueName") == dimension_ref)
        })
    };
    let mut dlqs = 0;
    let mut functions = 0;
    for (id, r) in &res {
        if r["Type"] == "AWS::SQS::Queue" && id.ends_with("DLQ") {
            dlqs += 1;
            assert!(watched("AWS/SQS", "ApproximateNumberOfMessagesVisible", id), "{id} has no depth alarm");
        }
        if r["Type"] == "AWS::Serverless::Function" {
            functions += 1;
            assert!(watched("AWS/Lambda", "Errors", id), "{id} has no errors alarm");
            assert!(watched("AWS/Lambda", "Throttles", id), "{id} has no throttles alarm");
        }
    }
    assert_eq!(dlqs, 4);
    assert_eq!(functions, FUNCTIONS.len());
    let webhook_rates: Vec<&&Value> = alarms
        .iter()
        .filter(|a| {
            a["Properties"]["Metrics"]
                .as_sequence()
                .is_some_and(|m| m.iter().any(|q| q["MetricStat"]["Metric"]["Namespace"] == "AWS/ApiGateway"))
        })
        .collect();
    assert_eq!(webhook_rates.len(), 2, "a 4xx and a 5xx rate alarm on the webhook API");
}
