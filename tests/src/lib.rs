//! Test harness: LocalStack stacks provisioned from template.yaml, per-test tenants, PSA tokens,
//! function-URL requests, and the Tactical simulator.
//!
//! Isolation: every test uses its own tenant id; tests that consume queues get their own stack
//! (table + queues) so no test depends on another's messages or on running order.

use devtools::provision::{Provisioned, Provisioner, TemplateStack, template_path};
use lambda_http::{Body, Request};
use shared::app::Deps;
use shared::config::Config;
use shared::tenant::TenantId;
use std::collections::BTreeMap;
use tokio::sync::OnceCell;

pub const DEV_KEY: &str = shared::auth::DEV_JWT_KEY;

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// SDK config pointing at LocalStack (the standard `AWS_ENDPOINT_URL` mechanism).
pub async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

fn random_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// A tenant id nobody else in this run uses.
pub fn tenant(label: &str) -> TenantId {
    TenantId::parse(&format!("{label}-{}", random_suffix())).expect("valid tenant id")
}

/// Provisions a fresh stack named `it-<label>-<random>` from template.yaml.
pub async fn own_stack(label: &str) -> Provisioned {
    let name = format!("it-{label}-{}", random_suffix());
    provision(&name).await
}

async fn provision(name: &str) -> Provisioned {
    let template = TemplateStack::load(&template_path()).expect("template.yaml parses");
    let sdk = sdk().await;
    let p = Provisioner::new(&sdk);
    let prefix = format!("{name}/");
    let overrides = BTreeMap::from([
        ("SecretPrefix".to_owned(), prefix.clone()),
        ("PsaJwtKeySecretId".to_owned(), format!("{prefix}psa-jwt-key")),
    ]);
    let out = p.provision(&template, name, &overrides).await.unwrap_or_else(|e| {
        panic!("provisioning {name} in LocalStack at {} failed: {e}. Is LocalStack running (infra/localstack.sh start)?", endpoint())
    });
    p.put_jwt_key(&format!("{prefix}psa-jwt-key"), DEV_KEY).await.expect("jwt key secret");
    out
}

static SHARED: OnceCell<Provisioned> = OnceCell::const_new();

/// One stack for the tests that only read and write per-tenant data (names only are shared; each
/// test builds its own clients on its own runtime).
pub async fn shared_stack() -> Provisioned {
    SHARED
        .get_or_init(|| async { provision(&format!("it-shared-{}", random_suffix())).await })
        .await
        .clone()
}

/// The functions' dependencies for a stack, as a cold start would build them.
pub async fn deps(stack: &Provisioned) -> Deps {
    deps_with(stack, |_| {}).await
}

pub async fn deps_with(stack: &Provisioned, tweak: impl FnOnce(&mut BTreeMap<String, String>)) -> Deps {
    let mut env = stack.env.clone();
    env.insert("TACTICAL_HOST_ALLOWLIST".into(), "127.0.0.1,localhost".into());
    tweak(&mut env);
    let config = Config::from_map(&env).expect("template environment is a valid config");
    Deps::build(config, &sdk().await).await.expect("deps build")
}

/// A PSA token for `tenant` with `perms`.
pub fn token(tenant: &TenantId, perms: &[&str]) -> String {
    shared::auth::sign_hs256(DEV_KEY, &shared::auth::claims_for(tenant.as_str(), "test-user", perms, 600))
}

pub fn admin_token(tenant: &TenantId) -> String {
    token(tenant, &[shared::auth::perms::SETTINGS_READ, shared::auth::perms::SETTINGS_UPDATE])
}

/// A function-URL request as lambda_http hands it to a handler.
pub fn request(method: &str, path: &str, token: Option<&str>, body: Option<serde_json::Value>) -> Request {
    let mut b = lambda_http::http::Request::builder().method(method).uri(format!("https://fn.lambda-url.us-east-1.on.aws{path}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    b.body(body.map(|v| Body::Text(v.to_string())).unwrap_or(Body::Empty)).expect("request")
}

/// Status and JSON body of a handler response.
pub fn read(resp: lambda_http::Response<Body>) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let v = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::String(t.clone())),
        Body::Binary(b) => serde_json::from_slice(b).unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    (status, v)
}
