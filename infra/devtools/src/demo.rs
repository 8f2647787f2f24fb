//! README command 1: the main job end to end on this machine. LocalStack (started by
//! infra/demo.sh) holds the data; the functions run under `cargo lambda watch`; the dev bridge
//! delivers their queue messages; the Tactical side is the simulator, or a real Tactical when
//! `TACTICAL_URL` and `TACTICAL_API_KEY` are set. The demo then acts as the PSA frontend would:
//! save settings, test, sync clients, map them, sync devices, backfill alerts, deliver one alert
//! webhook as Tactical would (header secret), ingest software, and print what landed.

use crate::bridge::Bridge;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

const INVOKE: &str = "http://127.0.0.1:9000";
const TENANT: &str = "demo-tenant";

struct Frontend {
    http: reqwest::Client,
    token: String,
}

impl Frontend {
    async fn call(
        &self,
        function: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let url = format!("{INVOKE}/lambda-url/{function}{path}");
        let mut req = self.http.request(method.parse().map_err(|_| "method")?, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| format!("{method} {function}{path}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    async fn expect(&self, function: &str, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let (status, v) = self.call(function, method, path, body).await?;
        if status >= 300 {
            return Err(format!("{method} {function}{path} answered {status}: {v}"));
        }
        Ok(v)
    }
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

async fn wait_for_functions(fe: &Frontend, child: &mut tokio::process::Child) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("cargo lambda watch exited ({status}); see .local/cargo-lambda.log"));
        }
        // The first call compiles and starts the function; our own JSON answer means it serves.
        if let Ok((status, v)) = fe.call("connection", "GET", "/settings", None).await
            && status < 500
            && v.is_object()
        {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(900) {
            return Err("functions did not come up within 15 minutes; see .local/cargo-lambda.log".into());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

pub async fn main(_args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize()?;
    let local = root.join(".local");
    std::fs::create_dir_all(&local)?;

    // The Tactical side: a real one when given, else the simulator.
    let real = match (std::env::var("TACTICAL_URL"), std::env::var("TACTICAL_API_KEY")) {
        (Ok(u), Ok(k)) if !u.trim().is_empty() && !k.trim().is_empty() => Some((u, k)),
        _ => None,
    };
    let mut _sim = None;
    let (tactical_url, api_key) = match real {
        Some((u, k)) => {
            println!("Tactical: {u} (real server, API key from TACTICAL_API_KEY)");
            (u, k)
        }
        None => {
            let cfg = tactical_sim::SimConfig {
                fleet: tactical_sim::FleetSpec {
                    clients: 4,
                    sites_per_client: 2,
                    agents: 240,
                    software_per_agent: 20,
                    alerts: 20,
                },
                ..Default::default()
            };
            let key = cfg.api_keys.first().map(|k| k.key.clone()).ok_or("simulator has no API key")?;
            let sim = tactical_sim::Simulator::start(cfg).await?;
            let url = sim.base_url();
            println!("Tactical: simulator at {url} (4 clients, 240 agents)");
            _sim = Some(sim);
            (url, key)
        }
    };

    let stack = std::env::var("TB_DEMO_STACK").unwrap_or_else(|_| "tactical-bridge-demo".into());
    let prov = crate::provision_stack(&stack).await?;
    let env_file = local.join("functions.env");
    crate::write_env_file(env_file.to_str().ok_or("path")?, &prov.env)?;
    println!("LocalStack: stack {stack} provisioned from template.yaml (table {}, 4 queues + DLQs)", prov.table_name);

    let log = std::fs::File::create(local.join("cargo-lambda.log"))?;
    let mut child = tokio::process::Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            "9000",
            "--ignore-changes",
            "--env-file",
        ])
        .arg(&env_file)
        .current_dir(&root)
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `cargo lambda watch` (run infra/setup.sh, then . infra/lib.sh): {e}"))?;

    let live = _sim.as_ref().map(|s| (s.state(), prov.queue_urls.get("AgentDownQueue").cloned().unwrap_or_default()));
    let result = run(&prov.env, &tactical_url, &api_key, &mut child, live).await;
    let _ = child.kill().await;
    result.map_err(Into::into)
}

async fn run(
    env: &BTreeMap<String, String>,
    tactical_url: &str,
    api_key: &str,
    child: &mut tokio::process::Child,
    live: Option<(tactical_sim::SimState, String)>,
) -> Result<(), String> {
    let perms = [shared::auth::perms::SETTINGS_READ, shared::auth::perms::SETTINGS_UPDATE];
    let fe = Frontend {
        http: reqwest::Client::builder().timeout(Duration::from_secs(900)).build().map_err(|e| e.to_string())?,
        token: lambda_glue::jwt::sign_hs256(
            lambda_glue::jwt::DEV_JWT_KEY,
            &lambda_glue::jwt::claims_for(TENANT, "demo-admin", &perms, 3600),
        ),
    };
    println!("Functions: starting `cargo lambda watch` on {INVOKE} (the first call compiles them)...");
    wait_for_functions(&fe, child).await?;
    let bridge = Bridge::new(&crate::sdk_config().await?, env, INVOKE)?;
    let drain = || bridge.drain(Duration::from_secs(3), Duration::from_secs(900));

    println!("\n1. Save settings and test the connection (tenant {TENANT})");
    fe.expect(
        "connection",
        "PATCH",
        "/settings",
        Some(json!({"instance_url": tactical_url, "auth_mode": "api_key", "api_key": api_key})),
    )
    .await?;
    let test = fe.expect("connection", "POST", "/test", Some(json!({}))).await?;
    if test["success"] != json!(true) {
        return Err(format!("connection test failed: {}", test["error"]));
    }
    println!("   connected: {} clients, {} agents visible", test["clients"], test["agents"]);

    println!("2. Sync clients");
    fe.expect("sync-clients", "POST", "/sync", None).await?;
    drain().await?;
    let run = fe.expect("sync-clients", "GET", "/runs/latest", None).await?;
    println!(
        "   run {}: {} (created {}, updated {}, unchanged {})",
        run["run_id"], run["status"], run["items_created"], run["items_updated"], run["items_unchanged"]
    );

    println!("3. Map each Tactical client to a PSA client (auto-sync on)");
    let mappings = fe.expect("sync-clients", "GET", "/mappings", None).await?;
    let rows = mappings["mappings"].as_array().cloned().unwrap_or_default();
    for m in &rows {
        let name = m["external_organization_name"].as_str().unwrap_or_default();
        let psa = format!("psa-{}", slug(name));
        fe.expect(
            "sync-clients",
            "PATCH",
            &format!("/mappings/{}", m["id"].as_str().unwrap_or_default()),
            Some(json!({"client_id": psa, "auto_sync_assets": true})),
        )
        .await?;
        println!("   {name} → {psa}");
    }

    println!("4. Sync devices");
    fe.expect("sync-devices", "POST", "/sync", None).await?;
    drain().await?;
    let run = fe.expect("sync-devices", "GET", "/runs/latest", None).await?;
    println!(
        "   run {}: {} (processed {}, created {}, updated {}, unchanged {}) {}",
        run["run_id"],
        run["status"],
        run["items_processed"],
        run["items_created"],
        run["items_updated"],
        run["items_unchanged"],
        run["message"].as_str().unwrap_or("")
    );

    println!("\nAssets by client and status (read back from DynamoDB through the sync-devices function):\n");
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = fe.expect("sync-devices", "GET", &format!("/assets?limit=1000{cursor}"), None).await?;
        all.extend(page["assets"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let mut table: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    for a in all {
        let client = a["client_id"].as_str().unwrap_or("(unmapped)").to_owned();
        let i = match a["agent_status"].as_str() {
            Some("online") => 0,
            Some("offline") => 1,
            _ => 2,
        };
        table.entry(client).or_default()[i] += 1;
    }
    println!("{:<32} {:>7} {:>8} {:>8} {:>6}", "PSA client", "online", "offline", "overdue", "total");
    let mut tot = [0usize; 3];
    for (client, c) in &table {
        println!("{:<32} {:>7} {:>8} {:>8} {:>6}", client, c[0], c[1], c[2], c.iter().sum::<usize>());
        for i in 0..3 {
            tot[i] += c[i];
        }
    }
    println!("{:<32} {:>7} {:>8} {:>8} {:>6}", "all", tot[0], tot[1], tot[2], tot.iter().sum::<usize>());
    if tot.iter().sum::<usize>() == 0 {
        return Err("no assets landed".into());
    }

    if let Some((st, down_queue)) = live {
        println!("\n4b. Live status: one agent stops checking in, 10 simulated minutes pass, status refresh");
        fe.expect("sync-devices", "POST", "/status/refresh", None).await?;
        drain().await?;
        let agent = st
            .agents()
            .into_iter()
            .find(|a| a.status == tactical_sim::AgentStatus::Online)
            .ok_or("no online agent in the simulator")?;
        st.stop_checkins(&agent.agent_id).map_err(|e| e.to_string())?;
        st.advance_clock(time::Duration::minutes(10));
        let r = fe.expect("sync-devices", "POST", "/status/refresh", None).await?;
        drain().await?;
        println!("   {} ({}) stopped; refresh {}", agent.hostname, agent.agent_id, r["refresh_id"]);
        let sqs = aws_sdk_sqs::Client::new(&crate::sdk_config().await?);
        println!("   events on the example rule's queue (offline or overdue → AgentDownQueue):");
        let mut seen = 0;
        for _ in 0..5 {
            let out = sqs
                .receive_message()
                .queue_url(&down_queue)
                .max_number_of_messages(10)
                .wait_time_seconds(2)
                .send()
                .await
                .map_err(|e| format!("receive events: {e:?}"))?;
            for m in out.messages.unwrap_or_default() {
                let v: Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
                let d = &v["detail"];
                println!(
                    "   {} {}: {} {} → {} (last seen {}, event_id {})",
                    v["detail-type"].as_str().unwrap_or(""),
                    d["hostname"].as_str().unwrap_or(""),
                    d["client_id"].as_str().unwrap_or(""),
                    d["from"].as_str().unwrap_or(""),
                    d["to"].as_str().unwrap_or(""),
                    d["last_seen_at"].as_str().unwrap_or(""),
                    d["event_id"].as_str().unwrap_or("")
                );
                if let Some(h) = m.receipt_handle() {
                    let _ = sqs.delete_message().queue_url(&down_queue).receipt_handle(h).send().await;
                }
                seen += 1;
            }
            if seen > 0 {
                break;
            }
        }
        if seen == 0 {
            return Err("no status event arrived on the AgentDownQueue".into());
        }
    }

    println!("\n5. Sync alerts (backfill of the open alerts)");
    fe.expect("sync-alerts", "POST", "/sync", None).await?;
    drain().await?;
    let run = fe.expect("sync-alerts", "GET", "/runs/latest", None).await?;
    println!(
        "   run {}: {} (open in Tactical {}, created {}, updated {}, auto-resolved {})",
        run["run_id"],
        run["status"],
        run["items_processed"],
        run["items_created"],
        run["items_updated"],
        run["items_deleted"]
    );

    println!("6. An alert webhook, as Tactical's URL action sends it (secret in the header)");
    let hook = fe.expect("connection", "POST", "/webhook/secret", None).await?;
    let secret = hook["secret"].as_str().ok_or("no webhook secret in the answer")?;
    let agent = first_agent(&fe).await?;
    let body = json!({"agent_id": agent, "alert_id": "990001", "event": "failure", "severity": "warning",
        "message": "Demo: disk space below 10%", "alert_type": "check"});
    let resp = fe
        .http
        .post(format!("{INVOKE}/lambda-url/webhook/webhooks/tacticalrmm/{TENANT}"))
        .header(shared::domain::webhook_settings::HEADER_NAME, secret)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("webhook: {e}"))?;
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    if status != 202 {
        return Err(format!("webhook answered {status}: {answer}"));
    }
    drain().await?;
    let alerts = fe.expect("sync-alerts", "GET", "/alerts?status=active&limit=500", None).await?;
    let rows = alerts["alerts"].as_array().cloned().unwrap_or_default();
    let demo = rows.iter().find(|a| a["alert_key"] == answer["alert_key"]);
    println!(
        "   202 {}: recorded as {} ({} active alerts in rmm_alerts), linked to asset {}",
        answer["alert_key"],
        answer["status"],
        rows.len(),
        demo.and_then(|a| a["asset_id"].as_str()).unwrap_or("(not yet)")
    );

    println!("7. Ingest software (Tactical's cached inventory of the mapped agents)");
    fe.expect("sync-software", "POST", "/sync", None).await?;
    drain().await?;
    let run = fe.expect("sync-software", "GET", "/runs/latest", None).await?;
    println!(
        "   run {}: {} (agents {}, programs {}, links created {}, changed {}, agents without inventory {})",
        run["run_id"],
        run["status"],
        run["items_processed"],
        run["software_items"],
        run["items_created"],
        run["software_changed"],
        run["agents_no_inventory"]
    );
    Ok(())
}

/// The agent id of one asset (the webhook step needs an agent Tactical knows).
async fn first_agent(fe: &Frontend) -> Result<String, String> {
    let page = fe.expect("sync-devices", "GET", "/assets?limit=1", None).await?;
    page["assets"][0]["rmm_device_id"].as_str().map(str::to_owned).ok_or_else(|| "no asset to alert on".into())
}
