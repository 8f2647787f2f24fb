//! The dev bridge: what AWS does for the deployed functions and LocalStack cannot without Docker.
//! It long-polls each sync queue and invokes the consuming function under `cargo lambda watch`
//! with an SQS event, deleting only the messages the function did not report as failed (failed
//! ones are left alone: SQS redelivers them after the queue's visibility timeout, as in AWS), and
//! it stands in for the EventBridge schedule by invoking the scheduler.

use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Queue env var of template.yaml → consuming function.
pub const ROUTES: [(&str, &str); 4] = [
    ("SYNC_CLIENTS_QUEUE_URL", "sync-clients"),
    ("SYNC_DEVICES_QUEUE_URL", "sync-devices"),
    ("SYNC_ALERTS_QUEUE_URL", "sync-alerts"),
    ("SYNC_SOFTWARE_QUEUE_URL", "sync-software"),
];

pub struct Bridge {
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    invoke_base: String,
    routes: Vec<(String, String)>,
}

impl Bridge {
    pub fn new(sdk: &aws_config::SdkConfig, env: &BTreeMap<String, String>, invoke_base: &str) -> Result<Self, String> {
        let routes = ROUTES
            .iter()
            .map(|(var, f)| {
                env.get(*var)
                    .map(|u| (u.clone(), (*f).to_owned()))
                    .ok_or_else(|| format!("{var} missing from the environment file"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            sqs: aws_sdk_sqs::Client::new(sdk),
            http: reqwest::Client::builder().timeout(Duration::from_secs(900)).build().map_err(|e| e.to_string())?,
            invoke_base: invoke_base.trim_end_matches('/').to_owned(),
            routes,
        })
    }

    pub async fn invoke(&self, function: &str, event: &Value) -> Result<Value, String> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.invoke_base);
        let resp = self.http.post(&url).json(event).send().await.map_err(|e| format!("invoke {function}: {e}"))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() || body.get("errorType").is_some() || body.get("errorMessage").is_some() {
            return Err(format!("{function} failed ({status}): {body}"));
        }
        Ok(body)
    }

    /// One pass over every queue: delivers what is there now. Returns how many messages were seen.
    pub async fn pump_once(&self, wait_secs: i32) -> Result<usize, String> {
        let mut seen = 0;
        for (url, function) in &self.routes {
            let out = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait_secs)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(|e| format!("receive from {function} queue: {e:?}"))?;
            let msgs = out.messages.unwrap_or_default();
            if msgs.is_empty() {
                continue;
            }
            seen += msgs.len();
            let records: Vec<Value> = msgs
                .iter()
                .map(|m| {
                    let count = m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .cloned()
                        .unwrap_or_else(|| "1".into());
                    json!({
                        "messageId": m.message_id().unwrap_or_default(),
                        "receiptHandle": m.receipt_handle().unwrap_or_default(),
                        "body": m.body().unwrap_or_default(),
                        "attributes": {"ApproximateReceiveCount": count},
                        "messageAttributes": {},
                        "eventSource": "aws:sqs",
                        "awsRegion": "us-east-1"
                    })
                })
                .collect();
            let failed: HashSet<String> = match self.invoke(function, &json!({ "Records": records })).await {
                Ok(v) => v["batchItemFailures"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                Err(e) => {
                    eprintln!("bridge: {e}");
                    msgs.iter().filter_map(|m| m.message_id().map(str::to_owned)).collect()
                }
            };
            for m in &msgs {
                let (Some(id), Some(rh)) = (m.message_id(), m.receipt_handle()) else { continue };
                // A failed message is left invisible: redelivered after the visibility timeout.
                let r = if failed.contains(id) {
                    Ok(())
                } else {
                    self.sqs
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(rh)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("{e:?}"))
                };
                if let Err(e) = r {
                    eprintln!("bridge: settling a message on the {function} queue: {e}");
                }
            }
        }
        Ok(seen)
    }

    /// The EventBridge stand-in.
    pub async fn tick_scheduler(&self) -> Result<Value, String> {
        self.invoke("scheduler", &json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})).await
    }

    /// Delivers until every queue stayed empty for `quiet` (bounded by `limit`).
    pub async fn drain(&self, quiet: Duration, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        let mut idle_since = Instant::now();
        loop {
            if self.pump_once(1).await? > 0 {
                idle_since = Instant::now();
            } else if idle_since.elapsed() >= quiet {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!("queues still busy after {limit:?}"));
            }
        }
    }
}

pub async fn main(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let env_file = crate::arg_value(args, "--env-file").unwrap_or_else(|| ".local/functions.env".into());
    let invoke = crate::arg_value(args, "--invoke").unwrap_or_else(|| "http://127.0.0.1:9000".into());
    let tick = Duration::from_secs(crate::arg_value(args, "--tick").and_then(|v| v.parse().ok()).unwrap_or(300));
    let env = crate::read_env_file(&env_file)?;
    let bridge = Bridge::new(&crate::sdk_config().await?, &env, &invoke)?;
    println!("dev bridge: queues → {invoke}, scheduler every {}s (ctrl-c to stop)", tick.as_secs());
    let mut last_tick = Instant::now() - tick;
    loop {
        if last_tick.elapsed() >= tick {
            match bridge.tick_scheduler().await {
                Ok(v) => println!("scheduler: {v}"),
                Err(e) => eprintln!("bridge: {e}"),
            }
            last_tick = Instant::now();
        }
        tokio::select! {
            r = bridge.pump_once(5) => { if let Err(e) = r { eprintln!("bridge: {e}"); tokio::time::sleep(Duration::from_secs(2)).await; } }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
