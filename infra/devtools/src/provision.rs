//! Creates the data plane (DynamoDB table, SQS queues with DLQs, the EventBridge bus with its
//! archive and rules) in LocalStack from
//! `template.yaml` itself, and computes the functions' environment from the template's
//! `Globals.Function.Environment`, so the local stack and the deployed one cannot drift.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug)]
pub struct ProvisionError(pub String);

impl std::fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ProvisionError {}

fn err(m: impl Into<String>) -> ProvisionError {
    ProvisionError(m.into())
}

/// The template's data-plane resources.
#[derive(Debug, Clone)]
pub struct TemplateStack {
    pub resources: BTreeMap<String, Value>,
    pub parameters: BTreeMap<String, String>,
    pub function_env: BTreeMap<String, Value>,
}

pub fn template_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

impl TemplateStack {
    pub fn load(path: &Path) -> Result<Self, ProvisionError> {
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, ProvisionError> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| err(format!("template.yaml: {e}")))?;
        let map = |v: Option<&Value>| -> BTreeMap<String, Value> {
            v.and_then(Value::as_mapping)
                .map(|m| m.iter().filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone()))).collect())
                .unwrap_or_default()
        };
        let resources = map(doc.get("Resources"));
        let parameters = map(doc.get("Parameters"))
            .into_iter()
            .map(|(k, v)| {
                let d = match v.get("Default") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::Bool(b)) => b.to_string(),
                    _ => String::new(),
                };
                (k, d)
            })
            .collect();
        let function_env = map(doc
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment"))
            .and_then(|e| e.get("Variables")));
        Ok(Self { resources, parameters, function_env })
    }

    pub fn of_type(&self, ty: &str) -> Vec<(&String, &Value)> {
        self.resources.iter().filter(|(_, v)| v.get("Type").and_then(Value::as_str) == Some(ty)).collect()
    }
}

/// `!Sub` with `${AWS::StackName}` (and other `${Param}`) only: enough for resource names.
fn sub(v: &Value, stack: &str, params: &BTreeMap<String, String>) -> Result<String, ProvisionError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Tagged(t) if t.tag == "!Sub" => {
            let mut s = t.value.as_str().ok_or_else(|| err("!Sub needs a string"))?.replace("${AWS::StackName}", stack);
            for (k, v) in params {
                s = s.replace(&format!("${{{k}}}"), v);
            }
            Ok(s)
        }
        other => Err(err(format!("unsupported name expression {other:?}"))),
    }
}

/// Template parameters of a local stack whose secrets live under `prefix`: the PSA key secret
/// under the prefix, and the issuer and audience of local development tokens.
pub fn local_parameters(prefix: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("SecretPrefix".to_owned(), prefix.to_owned()),
        ("PsaJwtKeySecretId".to_owned(), format!("{prefix}psa-jwt-key")),
        ("PsaJwtIssuer".to_owned(), lambda_glue::jwt::DEV_JWT_ISSUER.to_owned()),
        ("PsaJwtAudience".to_owned(), lambda_glue::jwt::DEV_JWT_AUDIENCE.to_owned()),
    ])
}

/// Whether an AWS endpoint is a local one (LocalStack on loopback).
pub fn is_local_endpoint(endpoint: &str) -> bool {
    url::Url::parse(endpoint).ok().and_then(|u| u.host_str().map(str::to_owned)).is_some_and(|h| {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}

/// What provisioning produced: the environment the functions get, as in AWS.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub env: BTreeMap<String, String>,
    pub queue_urls: BTreeMap<String, String>,
    pub table_name: String,
}

impl Provisioned {
    /// The DLQ URL of a main queue's logical id (e.g. `SyncDevicesQueue` → `SyncDevicesDLQ`).
    pub fn dlq_url(&self, queue_logical_id: &str) -> Option<&String> {
        self.queue_urls.get(&queue_logical_id.replace("Queue", "DLQ"))
    }
}

pub struct Provisioner {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The AWS endpoint the clients talk to (None: the SDK's default, a real account).
    pub endpoint: Option<String>,
    pub events: aws_sdk_eventbridge::Client,
}

impl Provisioner {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            endpoint: sdk.endpoint_url().map(str::to_owned),
            events: aws_sdk_eventbridge::Client::new(sdk),
        }
    }

    /// Creates (idempotently) the table and queues of `template` under `stack`, with parameter
    /// `overrides`, and returns the functions' environment.
    pub async fn provision(
        &self,
        template: &TemplateStack,
        stack: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Provisioned, ProvisionError> {
        let mut params = template.parameters.clone();
        params.extend(overrides.clone());
        let mut refs: BTreeMap<String, String> = BTreeMap::new();
        let mut queue_urls = BTreeMap::new();
        let mut table_name = String::new();

        // Queues without a redrive policy (the DLQs) first: the others point at their ARNs.
        let mut queues = template.of_type("AWS::SQS::Queue");
        queues.sort_by_key(|(_, v)| v.get("Properties").and_then(|p| p.get("RedrivePolicy")).is_some());
        let mut arns: BTreeMap<String, String> = BTreeMap::new();
        for (id, res) in queues {
            let props = res.get("Properties").ok_or_else(|| err(format!("{id}: no Properties")))?;
            let name = sub(props.get("QueueName").ok_or_else(|| err(format!("{id}: no QueueName")))?, stack, &params)?;
            let mut req = self.sqs.create_queue().queue_name(&name);
            for (prop, attr) in [
                ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
                ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
            ] {
                if let Some(v) = props.get(prop) {
                    req = req.attributes(attr, yaml_scalar(v));
                }
            }
            if let Some(rp) = props.get("RedrivePolicy") {
                let target = match rp.get("deadLetterTargetArn") {
                    Some(Value::Tagged(t)) if t.tag == "!GetAtt" => {
                        let r = t.value.as_str().unwrap_or_default();
                        let logical =
                            r.strip_suffix(".Arn").ok_or_else(|| err(format!("{id}: unsupported GetAtt {r}")))?;
                        arns.get(logical).cloned().ok_or_else(|| err(format!("{id}: DLQ {logical} not created")))?
                    }
                    other => return Err(err(format!("{id}: unsupported deadLetterTargetArn {other:?}"))),
                };
                let max = rp.get("maxReceiveCount").map(yaml_scalar).unwrap_or_else(|| "5".into());
                let policy = serde_json::json!({"deadLetterTargetArn": target, "maxReceiveCount": max}).to_string();
                req = req.attributes(QueueAttributeName::RedrivePolicy, policy);
            }
            let url =
                req.send().await.map_err(|e| err(format!("create queue {name}: {e:?}")))?.queue_url.unwrap_or_default();
            let arn = self
                .sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| err(format!("queue arn {name}: {e:?}")))?
                .attributes
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                .unwrap_or_default();
            arns.insert(id.clone(), arn);
            refs.insert(id.clone(), url.clone());
            queue_urls.insert(id.clone(), url);
        }

        for (id, res) in template.of_type("AWS::DynamoDB::Table") {
            let props = res.get("Properties").ok_or_else(|| err(format!("{id}: no Properties")))?;
            let name = sub(props.get("TableName").ok_or_else(|| err(format!("{id}: no TableName")))?, stack, &params)?;
            self.create_table(&name, props).await?;
            refs.insert(id.clone(), name.clone());
            if id == "BridgeTable" {
                table_name = name;
            }
        }

        self.provision_events(template, stack, &params, &mut refs, &arns).await?;

        let mut env = BTreeMap::new();
        for (k, v) in &template.function_env {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Tagged(t) if t.tag == "!Ref" => {
                    let r = t.value.as_str().unwrap_or_default();
                    refs.get(r)
                        .or_else(|| params.get(r))
                        .cloned()
                        .ok_or_else(|| err(format!("env {k}: unknown !Ref {r}")))?
                }
                other => yaml_scalar(other),
            };
            env.insert(k.clone(), value);
        }
        Ok(Provisioned { env, queue_urls, table_name })
    }

    /// The event bus, its archive and its rules (targets: queues of the template). Queue policies
    /// are left out: LocalStack does not enforce them.
    async fn provision_events(
        &self,
        template: &TemplateStack,
        stack: &str,
        params: &BTreeMap<String, String>,
        refs: &mut BTreeMap<String, String>,
        queue_arns: &BTreeMap<String, String>,
    ) -> Result<(), ProvisionError> {
        let exists = |e: &dyn std::fmt::Debug| format!("{e:?}").contains("ResourceAlreadyExists");
        let mut bus_arns = BTreeMap::new();
        for (id, res) in template.of_type("AWS::Events::EventBus") {
            let props = res.get("Properties").ok_or_else(|| err(format!("{id}: no Properties")))?;
            let name = sub(props.get("Name").ok_or_else(|| err(format!("{id}: no Name")))?, stack, params)?;
            if let Err(e) = self.events.create_event_bus().name(&name).send().await
                && !exists(&e)
            {
                return Err(err(format!("create event bus {name}: {e:?}")));
            }
            let arn = self
                .events
                .describe_event_bus()
                .name(&name)
                .send()
                .await
                .map_err(|e| err(format!("event bus {name}: {e:?}")))?
                .arn
                .unwrap_or_default();
            bus_arns.insert(id.clone(), arn);
            refs.insert(id.clone(), name);
        }
        let pattern = |id: &str, props: &Value| -> Result<String, ProvisionError> {
            let p = props.get("EventPattern").ok_or_else(|| err(format!("{id}: no EventPattern")))?;
            serde_json::to_string(p).map_err(|e| err(format!("{id}: EventPattern: {e}")))
        };
        let ref_of = |v: Option<&Value>, tag: &str| -> Option<String> {
            match v {
                Some(Value::Tagged(t)) if t.tag == tag => t.value.as_str().map(str::to_owned),
                _ => None,
            }
        };
        for (id, res) in template.of_type("AWS::Events::Archive") {
            let props = res.get("Properties").ok_or_else(|| err(format!("{id}: no Properties")))?;
            let name =
                sub(props.get("ArchiveName").ok_or_else(|| err(format!("{id}: no ArchiveName")))?, stack, params)?;
            let source = ref_of(props.get("SourceArn"), "!GetAtt")
                .and_then(|r| r.strip_suffix(".Arn").and_then(|l| bus_arns.get(l)).cloned())
                .ok_or_else(|| err(format!("{id}: SourceArn must be !GetAtt <bus>.Arn")))?;
            let mut req = self.events.create_archive().archive_name(&name).event_source_arn(source);
            req = req.event_pattern(pattern(id, props)?);
            if let Some(days) = props.get("RetentionDays").and_then(Value::as_i64) {
                req = req.retention_days(days as i32);
            }
            if let Err(e) = req.send().await
                && !exists(&e)
            {
                return Err(err(format!("create archive {name}: {e:?}")));
            }
        }
        for (id, res) in template.of_type("AWS::Events::Rule") {
            let props = res.get("Properties").ok_or_else(|| err(format!("{id}: no Properties")))?;
            let name = sub(props.get("Name").ok_or_else(|| err(format!("{id}: no Name")))?, stack, params)?;
            let bus = ref_of(props.get("EventBusName"), "!Ref")
                .and_then(|b| refs.get(&b).cloned())
                .ok_or_else(|| err(format!("{id}: EventBusName must be !Ref <bus>")))?;
            self.events
                .put_rule()
                .name(&name)
                .event_bus_name(&bus)
                .event_pattern(pattern(id, props)?)
                .send()
                .await
                .map_err(|e| err(format!("put rule {name}: {e:?}")))?;
            let targets = props.get("Targets").and_then(Value::as_sequence).cloned().unwrap_or_default();
            for t in targets {
                let tid = t.get("Id").and_then(Value::as_str).unwrap_or("target");
                let arn = ref_of(t.get("Arn"), "!GetAtt")
                    .and_then(|r| r.strip_suffix(".Arn").and_then(|l| queue_arns.get(l)).cloned())
                    .ok_or_else(|| err(format!("{id}: target {tid} must be !GetAtt <queue>.Arn")))?;
                let target = aws_sdk_eventbridge::types::Target::builder()
                    .id(tid)
                    .arn(arn)
                    .build()
                    .map_err(|e| err(e.to_string()))?;
                self.events
                    .put_targets()
                    .rule(&name)
                    .event_bus_name(&bus)
                    .targets(target)
                    .send()
                    .await
                    .map_err(|e| err(format!("put targets {name}: {e:?}")))?;
            }
        }
        Ok(())
    }

    async fn create_table(&self, name: &str, props: &Value) -> Result<(), ProvisionError> {
        let seq = |k: &str| props.get(k).and_then(Value::as_sequence).cloned().unwrap_or_default();
        let key_schema = |v: &[Value]| -> Vec<KeySchemaElement> {
            v.iter()
                .filter_map(|e| {
                    KeySchemaElement::builder()
                        .attribute_name(e.get("AttributeName")?.as_str()?)
                        .key_type(if e.get("KeyType")?.as_str()? == "HASH" { KeyType::Hash } else { KeyType::Range })
                        .build()
                        .ok()
                })
                .collect()
        };
        let mut req = self.dynamodb.create_table().table_name(name).billing_mode(BillingMode::PayPerRequest);
        for a in seq("AttributeDefinitions") {
            let t = match a.get("AttributeType").and_then(Value::as_str) {
                Some("N") => ScalarAttributeType::N,
                Some("B") => ScalarAttributeType::B,
                _ => ScalarAttributeType::S,
            };
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(a.get("AttributeName").and_then(Value::as_str).unwrap_or_default())
                    .attribute_type(t)
                    .build()
                    .map_err(|e| err(e.to_string()))?,
            );
        }
        req = req.set_key_schema(Some(key_schema(&seq("KeySchema"))));
        for g in seq("GlobalSecondaryIndexes") {
            let ks = key_schema(g.get("KeySchema").and_then(Value::as_sequence).map(|s| s.as_slice()).unwrap_or(&[]));
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(g.get("IndexName").and_then(Value::as_str).unwrap_or_default())
                    .set_key_schema(Some(ks))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(|e| err(e.to_string()))?,
            );
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if format!("{e:?}").contains("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(err(format!("create table {name}: {e:?}"))),
        }
        if let Some(ttl) =
            props.get("TimeToLiveSpecification").and_then(|t| t.get("AttributeName")).and_then(Value::as_str)
        {
            self.dynamodb
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(ttl)
                        .enabled(true)
                        .build()
                        .map_err(|e| err(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|e| err(format!("ttl {name}: {e:?}")))?;
        }
        Ok(())
    }

    /// Stores the PSA JWT key where the functions read it (Secrets Manager), as in AWS. Only
    /// against a local endpoint: a real account's key is never overwritten with a test key.
    pub async fn put_jwt_key(&self, secret_id: &str, key: &str) -> Result<(), ProvisionError> {
        let endpoint = self.endpoint.clone().unwrap_or_default();
        if !is_local_endpoint(&endpoint) {
            return Err(err(format!(
                "refusing to write the PSA JWT key secret {secret_id} through {}: not a local endpoint",
                if endpoint.is_empty() { "the default AWS endpoint" } else { endpoint.as_str() }
            )));
        }
        match self.secrets.create_secret().name(secret_id).secret_string(key).send().await {
            Ok(_) => Ok(()),
            Err(e) if format!("{e:?}").contains("ResourceExists") => self
                .secrets
                .put_secret_value()
                .secret_id(secret_id)
                .secret_string(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err(format!("jwt key secret: {e:?}"))),
            Err(e) => Err(err(format!("jwt key secret: {e:?}"))),
        }
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_endpoints_are_local() {
        for e in ["http://127.0.0.1:4566", "http://localhost:4566", "http://[::1]:4566"] {
            assert!(is_local_endpoint(e), "{e}");
        }
        for e in [
            "",
            "https://secretsmanager.us-east-1.amazonaws.com",
            "http://169.254.169.254",
            "http://localhost.evil.com",
        ] {
            assert!(!is_local_endpoint(e), "{e}");
        }
    }

    #[test]
    fn the_template_declares_what_the_functions_read() {
        let t = TemplateStack::load(&template_path()).unwrap();
        for var in [
            "TABLE_NAME",
            "SECRET_PREFIX",
            "SYNC_CLIENTS_QUEUE_URL",
            "SYNC_DEVICES_QUEUE_URL",
            "SYNC_ALERTS_QUEUE_URL",
            "SYNC_SOFTWARE_QUEUE_URL",
            "PSA_JWT_ALGORITHM",
            "PSA_JWT_KEY_SECRET_ID",
        ] {
            assert!(t.function_env.contains_key(var), "{var} missing from Globals");
        }
        assert!(t.function_env.contains_key("PSA_JWT_ISSUER") && t.function_env.contains_key("PSA_JWT_AUDIENCE"));
        assert_eq!(t.of_type("AWS::DynamoDB::Table").len(), 2, "the bridge table and the audit log's");
        assert!(t.function_env.contains_key("AUDIT_TABLE_NAME"));
        assert_eq!(t.of_type("AWS::SQS::Queue").len(), 9);
        assert!(t.function_env.contains_key("EVENT_BUS_NAME"));
        assert_eq!(t.of_type("AWS::Events::EventBus").len(), 1);
    }
}
