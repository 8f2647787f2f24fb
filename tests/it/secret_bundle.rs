//! One Secrets Manager secret per tenant (`{prefix}{tenant}/tacticalrmm`, a JSON object keyed by the
//! admin guide's names): concurrent writers never lose each other's change (compare-and-swap on
//! `AWSCURRENT`), tenants connected before the bundle are moved into it without loss, a bundle
//! holds one tenant's values only, and no write leaves a pending version behind. See
//! docs/security.md, *Tenant secrets*.

use integration_tests::aws_faults::faulty_pipeline;
use integration_tests::*;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use shared::domain::connection::{ConnectionService, Renewal};
use shared::ports::SecretName;
use shared::tenant::TenantId;
use shared_aws::secrets::{BUNDLE_NAME, PENDING_STAGE};
use tactical_sim::{SimConfig, User};

const USER: &str = "svc";
const PASSWORD: &str = "pw-no-totp";

async fn sm() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk().await)
}

fn prefix(p: &Pipeline) -> String {
    p.stack.env["SECRET_PREFIX"].clone()
}

fn bundle_id(p: &Pipeline, t: &TenantId) -> String {
    format!("{}{}/{}", prefix(p), t, BUNDLE_NAME)
}

/// The tenant's bundle as stored, or `None`.
async fn raw_bundle(p: &Pipeline, t: &TenantId) -> Option<serde_json::Map<String, Value>> {
    match sm().await.get_secret_value().secret_id(bundle_id(p, t)).send().await {
        Ok(out) => match serde_json::from_str(out.secret_string().unwrap()).unwrap() {
            Value::Object(m) => Some(m),
            other => panic!("bundle is not an object: {}", other.is_object()),
        },
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => None,
        Err(e) => panic!("{e:?}"),
    }
}

async fn secret_exists(id: &str) -> bool {
    match sm().await.describe_secret().secret_id(id).send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => false,
        Err(e) => panic!("{e:?}"),
    }
}

/// Labels of every version of the tenant's bundle.
async fn stages(p: &Pipeline, t: &TenantId) -> Vec<Vec<String>> {
    let d = sm().await.describe_secret().secret_id(bundle_id(p, t)).send().await.unwrap();
    d.version_ids_to_stages().map(|m| m.values().cloned().collect()).unwrap_or_default()
}

async fn get(p: &Pipeline, t: &TenantId, name: SecretName) -> Option<String> {
    p.deps.secrets.get(t, name).await.unwrap().map(|s| s.expose_secret().to_owned())
}

async fn knox_tenant(p: &Pipeline, sim: &tactical_sim::Simulator, label: &str) -> (TenantId, String) {
    let t = tenant(label);
    let tok = admin_token(&t);
    let body = json!({"instance_url": sim.base_url(), "auth_mode": "knox", "username": USER, "password": PASSWORD});
    let (s, v) = p.call(Function::Connection, "PATCH", "/settings", &tok, Some(body)).await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = p.call(Function::Connection, "POST", "/test", &tok, None).await;
    assert_eq!(v["success"], true, "{v}");
    (t, tok)
}

#[tokio::test]
async fn knox_refresh_and_webhook_rotation_racing_on_one_tenant_lose_nothing() {
    let (p, faults) = faulty_pipeline("bundle-race", |_| {}).await;
    let sim = simulator(SimConfig { users: vec![User::new(USER, PASSWORD, None)], ..Default::default() }).await;
    // Tactical allows 10 logins a minute; the rounds below log in once each.
    sim.state().set_throttle(tactical_sim::ThrottleConfig { per_minute: 1000, per_day: 10_000 });
    let (t, tok) = knox_tenant(&p, &sim, "bundle-race").await;
    let svc = ConnectionService::new(&p.deps);
    let mut current = p.call(Function::Connection, "POST", "/webhook/secret", &tok, None).await.1["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    const ROUNDS: usize = 25;
    let moves = faults.watch("UpdateSecretVersionStage", &[&bundle_id(&p, &t), "AWSCURRENT"]);
    for round in 0..ROUNDS {
        let token_before = get(&p, &t, SecretName::KnoxToken).await.expect("a knox token");
        // Each round is a fresh renewal (no login spacing from the previous one).
        p.deps.store.unlock(&t, "knox_login").await.unwrap();
        let seen = p.deps.store.get_integration(&t).await.unwrap().unwrap().knox_token_expires_at;
        let (renewal, (s, rotated)) = tokio::join!(
            svc.renew_token(&t, seen.as_deref()),
            p.call(Function::Connection, "POST", "/webhook/secret", &tok, None)
        );
        assert_eq!(renewal.unwrap(), Renewal::Renewed, "round {round}");
        assert_eq!(s, 200, "round {round}: {rotated}");
        let fresh = rotated["secret"].as_str().unwrap().to_owned();
        let token = get(&p, &t, SecretName::KnoxToken).await.expect("the knox token survives");
        assert_ne!(token, token_before, "round {round}: the renewed token was lost");
        assert_eq!(get(&p, &t, SecretName::WebhookSecret).await.as_deref(), Some(fresh.as_str()), "round {round}");
        assert_eq!(
            get(&p, &t, SecretName::WebhookSecretPrevious).await.as_deref(),
            Some(current.as_str()),
            "round {round}: the previous webhook secret was lost"
        );
        assert_eq!(get(&p, &t, SecretName::Username).await.as_deref(), Some(USER), "round {round}");
        assert_eq!(get(&p, &t, SecretName::Password).await.as_deref(), Some(PASSWORD), "round {round}");
        current = fresh;
    }
    // Three writes land per round (the token; the previous and the current webhook secret); every
    // further move was refused because the other writer had moved AWSCURRENT, and retried.
    let lost = faults.watched(moves) - 3 * ROUNDS as u64;
    eprintln!("{ROUNDS} rounds: {lost} swaps lost to the concurrent writer and retried");
    // The stored token is the one Tactical knows: a connection test with it passes.
    let (_, v) = p.call(Function::Connection, "POST", "/test", &tok, None).await;
    assert_eq!(v["success"], true, "{v}");
    // Every write took its pending label off again: only AWSCURRENT and AWSPREVIOUS remain.
    let labels = stages(&p, &t).await;
    assert!(labels.iter().flatten().all(|l| l != PENDING_STAGE), "{labels:?}");
    assert!(labels.len() <= 2, "old versions are unlabelled and age out: {labels:?}");
    // One secret holds them all: no per-name secret was created.
    for name in SecretName::ALL {
        assert!(!secret_exists(&format!("{}{}/{}", prefix(&p), t, name.as_str())).await, "{name:?}");
    }
}

#[tokio::test]
async fn a_write_that_loses_the_swap_reads_again_and_keeps_the_winners_change() {
    let (p, faults) = faulty_pipeline("bundle-cas", |_| {}).await;
    let t = tenant("bundle-cas");
    p.deps.secrets.put(&t, SecretName::ApiKey, &SecretString::from("KEY-CAS-0000000000")).await.unwrap();
    // Right before the Knox write moves AWSCURRENT, a webhook rotation's write lands.
    let (deps, t2) = (p.deps.clone(), t.clone());
    let id = bundle_id(&p, &t);
    faults.before_once("UpdateSecretVersionStage", &[&id, "AWSCURRENT"], move || {
        Box::pin(async move {
            deps.secrets.put(&t2, SecretName::WebhookSecret, &SecretString::from("w".repeat(48))).await.unwrap();
        })
    });
    let moves = faults.watch("UpdateSecretVersionStage", &[&id, "AWSCURRENT"]);
    p.deps.secrets.put(&t, SecretName::KnoxToken, &SecretString::from("knox-after-the-race")).await.unwrap();
    assert_eq!(faults.hooks_pending(), 0, "the concurrent write happened");
    assert_eq!(faults.watched(moves), 3, "the loser's refused move, the winner's, the loser's retry");
    let bundle = raw_bundle(&p, &t).await.unwrap();
    assert_eq!(bundle["tacticalrmm_api_key"], "KEY-CAS-0000000000");
    assert_eq!(bundle["tacticalrmm_webhook_secret"], "w".repeat(48), "the winner's change is kept");
    assert_eq!(bundle["tacticalrmm_knox_token"], "knox-after-the-race", "the loser's change is applied on top");
    let labels = stages(&p, &t).await;
    assert!(labels.iter().flatten().all(|l| l != PENDING_STAGE), "{labels:?}");
}

#[tokio::test]
async fn tenants_connected_before_the_bundle_are_moved_into_it_without_loss() {
    let p = Pipeline::new("bundle-mig").await;
    let client = sm().await;
    let old = |t: &TenantId, name: SecretName| format!("{}{}/{}", prefix(&p), t, name.as_str());
    let legacy = [
        (SecretName::Username, "svc-old"),
        (SecretName::Password, "pw-old"),
        (SecretName::KnoxToken, "knox-old"),
        (SecretName::WebhookSecret, "a".repeat(48).leak() as &str),
        (SecretName::WebhookSecretPrevious, "b".repeat(48).leak() as &str),
    ];
    // A read migrates.
    let reader = tenant("bundle-mig-r");
    // A write (a Knox renewal) migrates, keeping every other value.
    let writer = tenant("bundle-mig-w");
    // A read of the whole bundle (settings, a worker) answers every old value and migrates.
    let whole = tenant("bundle-mig-b");
    for t in [&reader, &writer, &whole] {
        for (name, value) in &legacy {
            client.create_secret().name(old(t, *name)).secret_string(*value).send().await.unwrap();
        }
    }
    assert_eq!(get(&p, &reader, SecretName::WebhookSecret).await.as_deref(), Some(legacy[3].1));
    p.deps.secrets.put(&writer, SecretName::KnoxToken, &SecretString::from("knox-new")).await.unwrap();
    let read = p.deps.secrets.bundle(&whole).await.unwrap();
    for (name, value) in &legacy {
        assert_eq!(read.get(*name).map(|s| s.expose_secret()), Some(*value), "{name:?} from the old secrets");
    }
    assert_eq!(read.get(SecretName::ApiKey).map(|s| s.expose_secret()), None);
    for t in [&reader, &writer, &whole] {
        let bundle = raw_bundle(&p, t).await.expect("the bundle was created");
        for (name, value) in &legacy {
            let want = if *t == writer && *name == SecretName::KnoxToken { "knox-new" } else { value };
            assert_eq!(bundle[name.as_str()], want, "{t}: {name:?}");
            assert_eq!(get(&p, t, *name).await.as_deref(), Some(want), "{t}: {name:?} through the port");
            assert!(!secret_exists(&old(t, *name)).await, "{t}: the old {name:?} secret is deleted");
        }
        assert_eq!(bundle.len(), legacy.len(), "{t}: nothing else: {:?}", bundle.keys().collect::<Vec<_>>());
    }
    // A tenant without any secret: nothing is created by a read.
    let none = tenant("bundle-mig-none");
    assert_eq!(get(&p, &none, SecretName::ApiKey).await, None);
    assert!(p.deps.secrets.bundle(&none).await.unwrap().is_empty());
    assert!(raw_bundle(&p, &none).await.is_none());
}

#[tokio::test]
async fn a_bundle_holds_one_tenants_values_and_disconnect_deletes_it() {
    let p = Pipeline::new("bundle-iso").await;
    let sim = simulator(SimConfig::default()).await;
    let (a, b) = (tenant("bundle-iso-a"), tenant("bundle-iso-b"));
    connect(&p, &a, &sim).await;
    connect(&p, &b, &sim).await;
    for t in [&a, &b] {
        let (s, v) = p.call(Function::Connection, "POST", "/webhook/secret", &admin_token(t), None).await;
        assert_eq!(s, 200, "{v}");
    }
    let (ba, bb) = (raw_bundle(&p, &a).await.unwrap(), raw_bundle(&p, &b).await.unwrap());
    // Both connect to one simulator (one API key); their webhook secrets are their own.
    let hook = SecretName::WebhookSecret.as_str();
    assert_ne!(ba[hook], bb[hook]);
    assert_eq!(get(&p, &a, SecretName::WebhookSecret).await.as_deref(), ba[hook].as_str());
    assert_eq!(get(&p, &b, SecretName::WebhookSecret).await.as_deref(), bb[hook].as_str());
    for (t, other) in [(&a, &bb), (&b, &ba)] {
        let mine = raw_bundle(&p, t).await.unwrap();
        assert!(!mine.values().any(|v| *v == other[hook]), "{t}: holds the other tenant's webhook secret");
        let tags = sm().await.describe_secret().secret_id(bundle_id(&p, t)).send().await.unwrap();
        let tenant_tag = tags.tags().iter().find(|g| g.key() == Some("tenant")).and_then(|g| g.value());
        assert_eq!(tenant_tag, Some(t.as_str()), "tagged with its tenant");
    }
    // A tenant id that is also the name of another secret of the prefix (the PSA key is
    // `{prefix}psa-jwt-key`) writes its own bundle, never that secret.
    let psa_key_id = p.stack.env["PSA_JWT_KEY_SECRET_ID"].clone();
    let before = sm().await.get_secret_value().secret_id(&psa_key_id).send().await.unwrap();
    let name = psa_key_id.strip_prefix(&prefix(&p)).unwrap();
    let lookalike = TenantId::parse(name).unwrap();
    p.deps.secrets.put(&lookalike, SecretName::ApiKey, &SecretString::from("KEY-LOOKALIKE-0000")).await.unwrap();
    let after = sm().await.get_secret_value().secret_id(&psa_key_id).send().await.unwrap();
    assert_eq!(before.version_id(), after.version_id(), "the PSA key is untouched");
    p.deps.secrets.delete_all(&lookalike).await.unwrap();
    assert!(secret_exists(&psa_key_id).await, "the PSA key is not deleted");

    let (s, v) = p.call(Function::Connection, "POST", "/disconnect", &admin_token(&a), None).await;
    assert_eq!(s, 200, "{v}");
    assert!(!secret_exists(&bundle_id(&p, &a)).await, "disconnect deletes the bundle");
    assert_eq!(raw_bundle(&p, &b).await.unwrap(), bb, "the other tenant's bundle is unchanged");
}
