//! The webhook reads no secret: it verifies the header against SHA-256 digests that the integration
//! item keeps of the current webhook secret and, during a rotation's grace period, of the previous
//! one. Rotation, revocation and disconnect write them; items written before digests existed are
//! refused until a function that reads the tenant's secret records them. See docs/security.md,
//! *Webhook secrets*.

use integration_tests::cleanup::drop_stack;
use integration_tests::*;
use lambda_glue::app::Edge;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::domain::WebhookDigests;
use shared::domain::webhook_settings::{backfill_digests, digest};
use shared::ports::SecretName;
use shared::tenant::TenantId;
use std::time::Duration;
use tactical_sim::SimConfig;

/// The webhook function's dependencies as its cold start builds them (`Edge::Internal`): no PSA
/// key, no Tactical client, and a secret store that fails every call.
async fn webhook_deps(p: &Pipeline) -> lambda_glue::Deps {
    let mut env = p.stack.env.clone();
    env.insert("LOCAL_DEVELOPMENT".into(), "true".into());
    let config = shared::config::Config::from_map(&env).expect("template environment is a valid config");
    lambda_glue::Deps::build_for(config, &sdk().await, Edge::Internal).await.expect("webhook deps")
}

/// A delivery through a cache that re-reads the item every time; status and body.
async fn deliver(deps: &lambda_glue::Deps, t: &TenantId, secret: &str) -> (u16, Value) {
    let cache = webhook::SecretCache::new(Duration::ZERO, Duration::ZERO);
    let body = json!({"agent_id": "A".repeat(40), "alert_id": "41", "event": "failure"}).to_string();
    read(webhook::handle_with(deps, &cache, raw_webhook(t.as_str(), Some(secret), &body, "")).await)
}

async fn status(deps: &lambda_glue::Deps, t: &TenantId, secret: &str) -> u16 {
    deliver(deps, t, secret).await.0
}

async fn rotate(p: &Pipeline, tok: &str, body: Option<Value>) -> String {
    let (s, v) = p.call(Function::Connection, "POST", "/webhook/secret", tok, body).await;
    assert_eq!(s, 200, "{v}");
    v["secret"].as_str().expect("the new secret").to_owned()
}

async fn digests(p: &Pipeline, t: &TenantId) -> Option<WebhookDigests> {
    p.deps.store.get_integration(t).await.unwrap().expect("an integration").webhook_digests
}

fn digest_of(secret: &str) -> Option<String> {
    Some(digest(&SecretString::from(secret.to_owned())))
}

/// Makes the tenant's item look like one written before digests existed.
async fn forget_digests(p: &Pipeline, t: &TenantId) {
    let (pk, sk) = shared_aws::dynamo::keys::integration(t);
    aws_sdk_dynamodb::Client::new(&sdk().await)
        .update_item()
        .table_name(&p.stack.table_name)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
        .update_expression("REMOVE webhook_digests")
        .send()
        .await
        .expect("digests removed");
    assert_eq!(digests(p, t).await, None);
}

#[tokio::test]
async fn the_webhook_verifies_digests_through_rotation_grace_revocation_and_disconnect_without_secrets() {
    let p = Pipeline::new("wh-digest").await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("wh-digest");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let wd = webhook_deps(&p).await;
    let err = wd.secrets.get(&t, SecretName::WebhookSecret).await.expect_err("the webhook has no secret store");
    assert!(err.to_string().contains("reads no secret"), "{err}");
    assert_eq!(digests(&p, &t).await, Some(WebhookDigests::default()), "connected, no webhook secret yet");
    assert_eq!(status(&wd, &t, &"0".repeat(48)).await, 401);

    let first = rotate(&p, &tok, None).await;
    assert_eq!(digests(&p, &t).await, Some(WebhookDigests { current: digest_of(&first), previous: None }));
    let (s, v) = deliver(&wd, &t, &first).await;
    assert_eq!(s, 202, "the current secret, verified without any secret read: {v}");

    // A rotation: the new digest is current, the old one previous, for the grace period.
    let second = rotate(&p, &tok, None).await;
    assert_eq!(
        digests(&p, &t).await,
        Some(WebhookDigests { current: digest_of(&second), previous: digest_of(&first) }),
        "the rotation wrote both digests"
    );
    assert_eq!(status(&wd, &t, &second).await, 202);
    assert_eq!(status(&wd, &t, &first).await, 202, "the previous secret within the grace period");
    assert_eq!(status(&wd, &t, &"f".repeat(48)).await, 401);
    assert_eq!(status(&wd, &t, digest_of(&second).as_deref().unwrap()).await, 401, "the digest is no secret");

    // The grace period ends: only the current secret works.
    let ended = shared::domain::IntegrationPatch {
        webhook_previous_valid_until: Some(Some("2000-01-01T00:00:00Z".into())),
        ..Default::default()
    };
    p.deps.store.patch_integration(&t, &ended).await.unwrap();
    assert_eq!(status(&wd, &t, &first).await, 401, "the previous secret after its grace period");
    assert_eq!(status(&wd, &t, &second).await, 202);

    // A leak: revoked, neither old secret works, at once.
    let third = rotate(&p, &tok, None).await;
    assert_eq!(status(&wd, &t, &second).await, 202, "in grace again");
    let fourth = rotate(&p, &tok, Some(json!({"revoke_previous": true}))).await;
    assert_eq!(digests(&p, &t).await, Some(WebhookDigests { current: digest_of(&fourth), previous: None }));
    for old in [&first, &second, &third] {
        assert_eq!(status(&wd, &t, old).await, 401, "revoked");
    }
    assert_eq!(status(&wd, &t, &fourth).await, 202);

    // Disconnect deletes the secrets and the digests with them.
    let (s, v) = p.call(Function::Connection, "POST", "/disconnect", &tok, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(digests(&p, &t).await, Some(WebhookDigests::default()));
    assert_eq!(status(&wd, &t, &fourth).await, 401, "no secret after a disconnect");
    drop_stack(&p.stack).await;
}

#[tokio::test]
async fn a_tenant_without_digests_is_refused_clearly_until_a_settings_read_or_a_sync_records_them() {
    let p = Pipeline::new("wh-backfill").await;
    let sim = simulator(SimConfig::default()).await;
    let wd = webhook_deps(&p).await;

    // Settings read: a tenant in a rotation's grace period gets both digests.
    let t = tenant("wh-legacy");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let old = rotate(&p, &tok, None).await;
    let current = rotate(&p, &tok, None).await;
    forget_digests(&p, &t).await;
    let (s, v) = deliver(&wd, &t, &current).await;
    assert_eq!((s, v["code"].clone()), (401, json!("unauthenticated")), "{v}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(message.contains("cannot be verified yet") && message.contains("settings"), "says what to do: {v}");
    let (s, v) = deliver(&wd, &t, &"0".repeat(48)).await;
    assert_eq!(s, 401, "{v}");
    let (s, v) = p.call(Function::Connection, "GET", "/settings", &tok, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(digests(&p, &t).await, Some(WebhookDigests { current: digest_of(&current), previous: digest_of(&old) }));
    assert_eq!(status(&wd, &t, &current).await, 202, "accepted once the settings read recorded the digest");
    assert_eq!(status(&wd, &t, &old).await, 202, "and the previous one, still in its grace period");
    assert_eq!(status(&wd, &t, &"0".repeat(48)).await, 401);

    // A sync run's start records them too (the worker reads the tenant's secret anyway).
    let t2 = tenant("wh-legacy-sync");
    let tok2 = admin_token(&t2);
    connect(&p, &t2, &sim).await;
    let secret2 = rotate(&p, &tok2, None).await;
    forget_digests(&p, &t2).await;
    assert_eq!(status(&wd, &t2, &secret2).await, 401);
    let (s, v) = p.call(Function::SyncAlerts, "POST", "/sync", &tok2, None).await;
    assert_eq!(s, 202, "{v}");
    p.drain().await;
    assert_eq!(digests(&p, &t2).await, Some(WebhookDigests { current: digest_of(&secret2), previous: None }));
    assert_eq!(status(&wd, &t2, &secret2).await, 202, "accepted after the sync run started");

    // A backfill never overwrites digests written since it read the item (a rotation here).
    let t3 = tenant("wh-legacy-race");
    let tok3 = admin_token(&t3);
    connect(&p, &t3, &sim).await;
    rotate(&p, &tok3, None).await;
    forget_digests(&p, &t3).await;
    let stale = p.deps.store.get_integration(&t3).await.unwrap().expect("an integration");
    let rotated = rotate(&p, &tok3, Some(json!({"revoke_previous": true}))).await;
    // The bundle changes again without the item (what a backfill would read is not what the
    // rotation recorded).
    p.deps.secrets.put(&t3, SecretName::WebhookSecret, &SecretString::from("e".repeat(48))).await.unwrap();
    backfill_digests(p.deps.store.as_ref(), p.deps.secrets.as_ref(), &t3, &stale).await;
    assert_eq!(digests(&p, &t3).await, Some(WebhookDigests { current: digest_of(&rotated), previous: None }));
    assert_eq!(status(&wd, &t3, &rotated).await, 202);
    drop_stack(&p.stack).await;
}
