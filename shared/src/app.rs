//! Dependencies of a function, built once per cold start and shared by every invocation.

use crate::auth::JwtVerifier;
use crate::aws::{DynamoStore, EventBridgePublisher, NoEvents, SecretsManagerStore, SqsQueue, load_sdk_config};
use crate::config::{Config, ConfigError};
use crate::ports::{EventPublisher, MessageQueue, SecretStore, Store};
use crate::tactical::{HttpClientOptions, build_http_client};
use secrecy::ExposeSecret;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot load the PSA JWT key: {0}")]
    JwtKey(String),
}

/// Everything a handler needs. Cheap to clone (all `Arc`s / SDK clients).
#[derive(Clone)]
pub struct Deps {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretStore>,
    pub queue: Arc<dyn MessageQueue>,
    /// The stack's EventBridge bus (status transitions, alert changes).
    pub events: Arc<dyn EventPublisher>,
    /// One HTTP client (connection pool, TLS config) for every tenant's Tactical.
    pub http: reqwest::Client,
    pub jwt: Arc<JwtVerifier>,
}

impl Deps {
    /// Reads the environment and builds the AWS clients; fails the cold start with a clear message.
    pub async fn from_env() -> Result<Self, BootError> {
        let config = Config::from_env()?;
        let sdk = load_sdk_config().await;
        Self::build(config, &sdk).await
    }

    /// For functions without a URL (webhook, scheduler): the PSA key is never read, so their
    /// role needs no access to it and a token can never be verified there.
    pub async fn from_env_without_psa_key() -> Result<Self, BootError> {
        let config = Config::from_env()?;
        let sdk = load_sdk_config().await;
        Self::build_with(config, &sdk, false).await
    }

    pub async fn build(config: Config, sdk: &aws_config::SdkConfig) -> Result<Self, BootError> {
        Self::build_with(config, sdk, true).await
    }

    pub async fn build_with(config: Config, sdk: &aws_config::SdkConfig, psa_key: bool) -> Result<Self, BootError> {
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), config.table_name.clone())
            .with_audit_table(config.audit_table_name.clone());
        let secrets = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(sdk), config.secret_prefix.clone());
        let queue = SqsQueue::new(aws_sdk_sqs::Client::new(sdk), config.queues.clone());
        let jwt = if psa_key {
            let key = match (&config.jwt.key_inline, &config.jwt.key_secret_id) {
                (Some(k), _) => k.clone(),
                (None, Some(id)) => secrets
                    .get_raw(id)
                    .await
                    .map_err(|e| BootError::JwtKey(e.to_string()))?
                    .ok_or_else(|| BootError::JwtKey(format!("secret {id} does not exist")))?
                    .expose_secret()
                    .to_owned(),
                (None, None) => return Err(BootError::JwtKey("no key configured".into())),
            };
            JwtVerifier::new(&config.jwt, &key, config.local_development).map_err(BootError::JwtKey)?
        } else {
            JwtVerifier::disabled()
        };
        let http = build_http_client(&HttpClientOptions {
            allowlist: config.tactical_host_allowlist.clone(),
            private_hosts: config.tactical_private_hosts.clone(),
            request_timeout: config.tactical_timeout,
            ..Default::default()
        });
        let events: Arc<dyn EventPublisher> = match &config.event_bus_name {
            Some(bus) => Arc::new(EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(sdk), bus.clone())),
            None => Arc::new(NoEvents),
        };
        Ok(Self {
            events,
            config: Arc::new(config),
            store: Arc::new(store),
            secrets: Arc::new(secrets),
            queue: Arc::new(queue),
            http,
            jwt: Arc::new(jwt),
        })
    }
}
