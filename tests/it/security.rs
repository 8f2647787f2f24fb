//! Credentials stay where they belong: webhook secret rotation (revocation, concurrent rotations)
//! and the webhook's negative cache. See docs/security.md.

use integration_tests::*;
use serde_json::json;
use shared::ports::{PortError, SecretName, SecretStore};
use shared::tenant::TenantId;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tactical_sim::SimConfig;

async fn rotate(p: &Pipeline, tok: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
    p.call(Function::Connection, "POST", "/webhook/secret", tok, body).await
}

async fn delivery(p: &Pipeline, cache: &webhook::SecretCache, t: &TenantId, secret: &str) -> u16 {
    let body = json!({"alert_id": "1", "event": "failure"}).to_string();
    read(webhook::handle_with(&p.deps, cache, raw_webhook(t.as_str(), Some(secret), &body, "")).await).0
}

#[tokio::test]
async fn revoke_previous_stops_a_leaked_secret_at_once_even_in_a_warm_cache() {
    let p = Pipeline::new("revoke").await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("revoke");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let first = rotate(&p, &tok, None).await.1["secret"].as_str().unwrap().to_owned();
    let leaked = rotate(&p, &tok, None).await.1["secret"].as_str().unwrap().to_owned();
    // A warm instance: secrets cached for a minute, the integration re-read at every delivery.
    let cache = webhook::SecretCache::new(Duration::from_secs(60), Duration::ZERO);
    assert_ne!(delivery(&p, &cache, &t, &first).await, 401, "within the grace period");
    assert_ne!(delivery(&p, &cache, &t, &leaked).await, 401);

    let (s, v) = rotate(&p, &tok, Some(json!({"revoke_previous": true}))).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["previous_secret_valid_until"].is_null(), "no grace period: {v}");
    let fresh = v["secret"].as_str().unwrap().to_owned();
    assert_eq!(delivery(&p, &cache, &t, &leaked).await, 401, "the leaked secret stopped at once");
    assert_eq!(delivery(&p, &cache, &t, &first).await, 401, "and the one before it");
    assert_ne!(delivery(&p, &cache, &t, &fresh).await, 401);
    let (s, v) = rotate(&p, &tok, Some(json!({"revoke": true}))).await;
    assert_eq!((s, v["code"].clone()), (400, json!("validation_failed")), "unknown field named: {v}");
}

#[tokio::test]
async fn concurrent_rotations_never_hand_out_a_secret_that_does_not_work() {
    let p = Pipeline::new("rot-race").await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("rot-race");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let cache = webhook::SecretCache::new(Duration::ZERO, Duration::ZERO);
    for round in 0..5 {
        let (a, b) = tokio::join!(rotate(&p, &tok, None), rotate(&p, &tok, None));
        let handed: Vec<String> = [a, b]
            .into_iter()
            .filter_map(|(s, v)| {
                assert!(s == 200 || (s == 409 && v["code"] == "conflict"), "round {round}: {s} {v}");
                v["secret"].as_str().map(str::to_owned)
            })
            .collect();
        assert!(!handed.is_empty(), "round {round}: one rotation at least goes through");
        for s in &handed {
            assert_ne!(delivery(&p, &cache, &t, s).await, 401, "round {round}: a handed-out secret was lost");
        }
    }
}

/// Counts secret reads, to show what a delivery costs.
struct CountingSecrets {
    inner: Arc<dyn SecretStore>,
    gets: AtomicUsize,
}

#[async_trait::async_trait]
impl SecretStore for CountingSecrets {
    async fn get(&self, tenant: &TenantId, name: SecretName) -> Result<Option<secrecy::SecretString>, PortError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(tenant, name).await
    }
    async fn put(&self, tenant: &TenantId, name: SecretName, value: &secrecy::SecretString) -> Result<(), PortError> {
        self.inner.put(tenant, name, value).await
    }
    async fn delete(&self, tenant: &TenantId, name: SecretName) -> Result<(), PortError> {
        self.inner.delete(tenant, name).await
    }
}

#[tokio::test]
async fn made_up_tenants_and_wrong_secrets_cost_no_secrets_manager_reads() {
    let p0 = Pipeline::new("neg-cache").await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("neg-cache");
    connect(&p0, &t, &sim).await;
    let secret = rotate(&p0, &admin_token(&t), None).await.1["secret"].as_str().unwrap().to_owned();
    let counting = Arc::new(CountingSecrets { inner: p0.deps.secrets.clone(), gets: AtomicUsize::new(0) });
    let mut p = p0;
    p.deps.secrets = counting.clone();
    // As deployed: secrets kept a minute, a wrong secret re-read at most every 2 s.
    let cache = webhook::SecretCache::new(Duration::from_secs(60), Duration::from_secs(2));
    for i in 0..200 {
        let made_up = TenantId::parse(&format!("made-up-{i}")).unwrap();
        assert_eq!(delivery(&p, &cache, &made_up, &secret).await, 401);
    }
    assert_eq!(counting.gets.load(Ordering::SeqCst), 0, "an unknown tenant costs no Secrets Manager read");
    let wrong = "0".repeat(48);
    for _ in 0..50 {
        assert_eq!(delivery(&p, &cache, &t, &wrong).await, 401);
    }
    assert_ne!(delivery(&p, &cache, &t, &secret).await, 401, "the right secret still works");
    // The webhook checks digests kept in the integration item: no delivery reads a secret.
    assert_eq!(counting.gets.load(Ordering::SeqCst), 0, "wrong and right secrets cost no Secrets Manager read");
}

#[tokio::test]
async fn enterprise_is_per_tenant_through_both_doors() {
    let p = Pipeline::new_with("ent", |env| {
        env.insert("ENTERPRISE_REMOTE_ACTIONS".into(), "true".into());
    })
    .await;
    let sim = simulator(SimConfig::default()).await;
    let (paying, other) = (tenant("ent-yes"), tenant("ent-no"));
    connect(&p, &paying, &sim).await;
    connect(&p, &other, &sim).await;
    sim.state().reset_counters();
    let perms = [shared::auth::perms::RMM_READ];
    let url = |tok: String| request("POST", "/actions/agents.find", Some(&tok), Some(json!({})));
    let workflow = |t: &TenantId, entitlements: Value| {
        let ev = json!({"tenant": t.as_str(), "actor": {"user_id": "wf", "permissions": perms}, "action": "agents.find", "input": {}, "entitlements": entitlements});
        lambda_glue::lambda::classify(ev).unwrap()
    };
    use serde_json::Value;

    let (s, v) = read(remote_actions::handle(&p.deps, url(token(&other, &perms))).await);
    assert_eq!((s, v["code"].clone()), (403, json!("enterprise_only")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("rmm_remote_actions"), "{v}");
    let v = remote_actions::invoke(&p.deps, workflow(&other, json!([]))).await.unwrap();
    assert_eq!((v["ok"].clone(), v["code"].clone()), (json!(false), json!("enterprise_only")), "{v}");
    assert_eq!(sim.state().total_requests(), 0, "nothing of the other tenant reached Tactical");

    let (s, v) = read(remote_actions::handle(&p.deps, url(enterprise_token(&paying, &perms))).await);
    assert_eq!(s, 200, "the same deployment serves the Enterprise tenant: {v}");
    let v = remote_actions::invoke(&p.deps, workflow(&paying, json!(["rmm_remote_actions"]))).await.unwrap();
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn audit_records_live_in_their_own_table() {
    let stack = shared_stack().await;
    let deps = deps(&stack).await;
    let t = tenant("audit-table");
    let record = shared::domain::audit::AuditRecord {
        tenant: t.clone(),
        audit_id: shared::domain::audit::new_audit_id(),
        action: "agents.reboot".into(),
        actor_user_id: "u".into(),
        via: shared::domain::audit::Via::Workflow,
        correlation_id: None,
        agent_id: None,
        asset_id: None,
        input: json!({}),
        outcome: shared::domain::audit::AuditOutcome::Pending,
        tactical_called: false,
        error_code: None,
        error_message: None,
        result: None,
        started_at: shared::domain::time::now_rfc3339(),
        finished_at: None,
        duration_ms: None,
    };
    deps.store.put_audit(&record).await.unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&sdk().await);
    let count = |table: String| {
        let ddb = ddb.clone();
        let pk = format!("{t}#rmm_audit_log");
        async move {
            ddb.query()
                .table_name(table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
                .send()
                .await
                .unwrap()
                .count
        }
    };
    let audit_table = stack.env["AUDIT_TABLE_NAME"].clone();
    assert_ne!(audit_table, stack.table_name);
    assert_eq!(count(audit_table).await, 1);
    assert_eq!(count(stack.table_name.clone()).await, 0, "nothing of the audit log in the shared table");
}
