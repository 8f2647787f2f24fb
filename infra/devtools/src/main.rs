//! `devtools`: local development commands.
//!
//! - `devtools provision [--stack NAME] [--env-file PATH]`: create the table and queues of
//!   template.yaml in LocalStack and write the functions' environment file.
//! - `devtools token --tenant T [--perm P]... [--user U] [--ttl SECS]`: print a PSA JWT signed
//!   with the documented local development key.
//! - `devtools bridge --env-file PATH [--invoke URL]`: deliver SQS messages and schedules to the
//!   functions running under `cargo lambda watch` (LocalStack cannot run Lambda without Docker).
//! - `devtools demo`: README command 1 (see docs/local-development.md).

use std::collections::BTreeMap;
use std::process::ExitCode;

mod bridge;
mod demo;

fn arg_values(args: &[String], name: &str) -> Vec<String> {
    args.windows(2).filter(|w| w[0] == name).map(|w| w[1].clone()).collect()
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    arg_values(args, name).into_iter().last()
}

/// The local stack only: `AWS_ENDPOINT_URL` (LocalStack's address by default) with LocalStack's
/// static credentials, never the SDK's default credential chain, so no command reaches a real
/// account or the instance metadata service by accident. A non-local endpoint needs
/// `DEVTOOLS_ALLOW_REMOTE=1`, said explicitly.
pub(crate) async fn sdk_config() -> Result<aws_config::SdkConfig, String> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| LOCALSTACK.into());
    let region = aws_config::Region::new(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()));
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(&endpoint).region(region);
    if devtools::provision::is_local_endpoint(&endpoint) {
        let creds = aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "devtools-local");
        Ok(loader.credentials_provider(creds).load().await)
    } else if std::env::var("DEVTOOLS_ALLOW_REMOTE").as_deref() == Ok("1") {
        Ok(loader.load().await)
    } else {
        Err(format!(
            "AWS_ENDPOINT_URL={endpoint} is not a local endpoint; devtools works against the local stack only (set DEVTOOLS_ALLOW_REMOTE=1 to mean it)"
        ))
    }
}

const LOCALSTACK: &str = "http://127.0.0.1:4566";

/// Local-only settings added to the template's environment.
pub(crate) fn local_env(mut env: BTreeMap<String, String>) -> BTreeMap<String, String> {
    for (k, v) in [
        ("AWS_ENDPOINT_URL", std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| LOCALSTACK.into())),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ] {
        env.entry(k.to_owned()).or_insert(v);
    }
    // Locally the simulator listens on loopback over http, which deployed functions refuse.
    env.insert("TACTICAL_HOST_ALLOWLIST".into(), "127.0.0.1,localhost".into());
    // The development key and tokens are accepted here only.
    env.insert("LOCAL_DEVELOPMENT".into(), "true".into());
    env.insert("LOG_FORMAT".into(), "text".into());
    env
}

pub(crate) async fn provision_stack(
    stack: &str,
) -> Result<devtools::provision::Provisioned, Box<dyn std::error::Error>> {
    use devtools::provision::{Provisioner, TemplateStack, template_path};
    let template = TemplateStack::load(&template_path())?;
    let sdk = sdk_config().await?;
    let p = Provisioner::new(&sdk);
    let prefix = format!("{stack}/");
    let mut overrides = devtools::provision::local_parameters(&prefix);
    let jwt_secret = overrides["PsaJwtKeySecretId"].clone();
    overrides.insert("LogLevel".to_owned(), "info".to_owned());
    let mut out = p.provision(&template, stack, &overrides).await?;
    p.put_jwt_key(&jwt_secret, lambda_glue::jwt::DEV_JWT_KEY).await?;
    out.env = local_env(out.env);
    Ok(out)
}

pub(crate) fn write_env_file(path: &str, env: &BTreeMap<String, String>) -> std::io::Result<()> {
    let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

pub(crate) fn read_env_file(path: &str) -> std::io::Result<BTreeMap<String, String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
        .collect())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result: Result<(), Box<dyn std::error::Error>> = match args.first().map(String::as_str) {
        Some("provision") => {
            async {
                let stack = arg_value(&args, "--stack").unwrap_or_else(|| "tactical-bridge-local".into());
                let out = provision_stack(&stack).await?;
                match arg_value(&args, "--env-file") {
                    Some(path) => {
                        write_env_file(&path, &out.env)?;
                        println!("provisioned stack {stack}; environment written to {path}");
                    }
                    None => out.env.iter().for_each(|(k, v)| println!("{k}={v}")),
                }
                Ok(())
            }
            .await
        }
        Some("token") => {
            let tenant = arg_value(&args, "--tenant").unwrap_or_else(|| "demo-tenant".into());
            let user = arg_value(&args, "--user").unwrap_or_else(|| "dev-admin".into());
            let ttl = arg_value(&args, "--ttl").and_then(|v| v.parse().ok()).unwrap_or(3600);
            let mut perms = arg_values(&args, "--perm");
            if perms.is_empty() {
                perms = vec![shared::auth::perms::SETTINGS_READ.into(), shared::auth::perms::SETTINGS_UPDATE.into()];
            }
            let perms: Vec<&str> = perms.iter().map(String::as_str).collect();
            println!(
                "{}",
                lambda_glue::jwt::sign_hs256(
                    lambda_glue::jwt::DEV_JWT_KEY,
                    &lambda_glue::jwt::claims_for(&tenant, &user, &perms, ttl)
                )
            );
            Ok(())
        }
        Some("bridge") => bridge::main(&args).await,
        Some("demo") => demo::main(&args).await,
        _ => {
            eprintln!("usage: devtools provision|token|bridge|demo [options]  (see infra/devtools/src/main.rs)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
