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

/// The secret statements of a function: (actions, resources) as written in template.yaml.
fn secret_statements(r: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in r["Properties"]["Policies"].as_sequence().into_iter().flatten() {
        for st in p["Statement"].as_sequence().into_iter().flatten() {
            let actions = serde_yaml::to_string(&st["Action"]).unwrap();
            if actions.contains("secretsmanager") {
                out.push((actions, serde_yaml::to_string(&st["Resource"]).unwrap()));
            }
        }
    }
    out
}

#[test]
fn each_function_reaches_only_the_secrets_it_needs() {
    let t = template();
    let fns: Vec<(String, Value)> =
        resources(&t).into_iter().filter(|(_, r)| r["Type"] == "AWS::Serverless::Function").collect();
    for (id, r) in &fns {
        let st = secret_statements(r);
        let all = st.iter().map(|(a, r)| format!("{a}{r}")).collect::<String>();
        let has_url = r["Properties"]["FunctionUrlConfig"].is_mapping();
        assert!(!all.contains("${SecretPrefix}*\""), "{id}: a statement over every secret of the prefix");
        assert_eq!(all.contains("${PsaJwtKeySecretId}"), has_url, "{id}: the PSA key is for functions with a URL only");
        for (actions, resources) in &st {
            // One secret per tenant (`{prefix}{tenant}/tacticalrmm`): only the connection function
            // deletes it; the others delete only old per-name secrets (after moving them into it).
            if actions.contains("DeleteSecret") && id != "ConnectionFunction" {
                assert!(
                    resources.lines().all(|l| l.contains("/tacticalrmm_")),
                    "{id}: deletes more than the old per-name secrets: {resources}"
                );
            }
            // A write without the compare-and-swap move could lose a concurrent write.
            if actions.contains("PutSecretValue") {
                assert!(actions.contains("UpdateSecretVersionStage"), "{id}: writes without compare-and-swap");
                assert!(resources.lines().all(|l| l.contains("/tacticalrmm-??????")), "{id}: {resources}");
            }
        }
        let bundle_readers =
            st.iter().filter(|(a, r)| a.contains("GetSecretValue") && r.contains("/tacticalrmm-??????"));
        match id.as_str() {
            // The webhook is public: it checks digests kept in the integration item, since a
            // read of the tenant's one secret would reach the Tactical credentials too.
            "SchedulerFunction" | "WebhookFunction" => assert!(st.is_empty(), "{id} reads no secret: {st:?}"),
            "RemoteActionsFunction" => {
                assert!(!all.contains("PutSecretValue") && !all.contains("DeleteSecret"), "{id}: reads only: {st:?}");
                assert_eq!(bundle_readers.count(), 1, "{id}: reads the bundle");
            }
            _ => assert_eq!(bundle_readers.count(), 1, "{id}: reads the bundle"),
        }
    }
    // Secret names in the template are the names the code uses (old per-name secrets, migrated).
    let text = std::fs::read_to_string(devtools::provision::template_path()).unwrap();
    for name in shared::ports::SecretName::ALL {
        let base = name.as_str().trim_end_matches("_previous");
        assert!(text.contains(&format!("/{base}*")), "{base} missing from the template's secret statements");
    }
    assert!(text.contains(&format!("/{}-??????", shared_aws::secrets::BUNDLE_NAME)), "the bundle's name");
}

#[test]
fn every_function_has_log_retention_and_the_workflow_door_names_the_engine_role() {
    let t = template();
    let res = resources(&t);
    for (id, r) in &res {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let group = res
            .iter()
            .find(|(_, g)| {
                g["Type"] == "AWS::Logs::LogGroup"
                    && tagged_str(&g["Properties"]["LogGroupName"]).contains(&format!("${{{id}}}"))
            })
            .unwrap_or_else(|| panic!("{id}: no log group with retention"));
        assert!(!group.1["Properties"]["RetentionInDays"].is_null(), "{id}: retention");
    }
    let door = &t["Resources"]["RemoteActionsWorkflowInvokePermission"]["Properties"];
    assert_eq!(door["Action"], "lambda:InvokeFunction");
    assert_eq!(tagged_str(&door["Principal"]), "WorkflowEngineRoleArn");
    let throttle = &t["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"];
    assert!(!throttle["ThrottlingRateLimit"].is_null() && !throttle["ThrottlingBurstLimit"].is_null());
}

/// template.yaml after the SAM transform, with the translator cfn-lint ships (`.local/tools-venv`).
fn transformed(params: &[&str]) -> serde_json::Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".local/tools-venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run infra/setup.sh (it installs cfn-lint and the SAM translator)",
        python.display()
    );
    let out = std::process::Command::new(python)
        .arg(root.join("tests/tools/sam_translate.py"))
        .arg(devtools::provision::template_path())
        .args(params)
        .output()
        .expect("run the SAM translator");
    assert!(out.status.success(), "SAM transform failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("transformed template is JSON")
}

#[test]
fn every_public_permission_is_limited_to_the_function_url() {
    let t = transformed(&[
        "PsaJwtIssuer=https://psa.example.com",
        "PsaJwtAudience=tactical-bridge",
        "WorkflowEngineRoleArn=arn:aws:iam::123456789012:role/engine",
    ]);
    let res = t["Resources"].as_object().unwrap();
    let mut public = 0;
    for (id, r) in res {
        if r["Type"] != "AWS::Lambda::Permission" {
            continue;
        }
        let p = &r["Properties"];
        if p["Principal"] == "*" {
            public += 1;
            let url_only = (p["Action"] == "lambda:InvokeFunctionUrl" && p["FunctionUrlAuthType"] == "NONE")
                || (p["Action"] == "lambda:InvokeFunction" && p["InvokedViaFunctionUrl"] == true);
            assert!(url_only, "{id}: a public permission not limited to the function URL: {p}");
        }
    }
    let urls = res.values().filter(|r| r["Type"] == "AWS::Lambda::Url").count();
    assert_eq!(urls, 6, "functions with a URL");
    assert_eq!(public, 2 * urls, "InvokeFunctionUrl and InvokeFunction (InvokedViaFunctionUrl) per URL");
    let door = &res["RemoteActionsWorkflowInvokePermission"]["Properties"];
    assert_eq!(door["Principal"]["Ref"], "WorkflowEngineRoleArn", "{door}");
}

#[test]
fn only_remote_actions_can_write_the_audit_log_and_nothing_deletes_it() {
    let t = template();
    for (id, r) in resources(&t) {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let policies = serde_yaml::to_string(&r["Properties"]["Policies"]).unwrap();
        let reaches_audit = policies.contains("AuditTable");
        assert_eq!(reaches_audit, id == "RemoteActionsFunction", "{id}: access to the audit table");
        if reaches_audit {
            assert!(
                !policies.contains("DeleteItem") && !policies.contains("BatchWriteItem"),
                "{id}: deletes audit records"
            );
            assert!(!policies.contains("TableName: !Ref AuditTable"), "{id}: CRUD on the audit table");
        }
    }
    let audit = &t["Resources"]["AuditTable"]["Properties"];
    assert_eq!(audit["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert!(audit["TimeToLiveSpecification"].is_null(), "no TTL: retention is the operator's decision");
}
