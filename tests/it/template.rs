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
