//! Dependencies of a function, built once per cold start and shared by every invocation: the
//! core's ports wired to their AWS and HTTP adapters, plus the PSA token verifier of the edge.
//! Each function builds only what it uses: the webhook and the scheduler load no PSA key, hold
//! no HTTP client for Tactical and no secret store (the webhook verifies digests kept in the
//! integration item).

use crate::jwt::JwtVerifier;
use secrecy::ExposeSecret;
use shared::config::{Config, ConfigError};
use shared::ports::{EventPublisher, NoEvents, NoSecrets, SecretStore};
use shared::secret_cache::CachedSecrets;
use shared::tactical::TacticalConnector;
use shared_aws::{DynamoStore, EventBridgePublisher, SecretsManagerStore, SqsQueue, load_sdk_config};
use std::sync::Arc;
use tactical_client::{HttpConnector, NoTactical};

/// How long a worker keeps a tenant's secrets (writes through it and a refused credential drop
/// the copy sooner).
pub const SECRET_CACHE_TTL: std::time::Duration = shared::secret_cache::DEFAULT_TTL;
/// Tenants whose secrets a worker keeps at once.
pub const SECRET_CACHE_TENANTS: usize = shared::secret_cache::DEFAULT_MAX_TENANTS;

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot load the PSA JWT key: {0}")]
    JwtKey(String),
}

/// What a handler needs: the use cases' ports ([`shared::app::Deps`], reached through `Deref`)
/// and the verifier of PSA tokens.
#[derive(Clone)]
pub struct Deps {
    pub core: shared::app::Deps,
    pub jwt: Arc<JwtVerifier>,
}

impl std::ops::Deref for Deps {
    type Target = shared::app::Deps;
    fn deref(&self) -> &Self::Target {
        &self.core
    }
}

/// Tests swap single ports (a counting secret store, a changed configuration).
impl std::ops::DerefMut for Deps {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.core
    }
}

/// What a function serves, which decides what its cold start loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// A function URL for the PSA (JWT key) that calls Tactical; every secret read goes to
    /// Secrets Manager (connection settings must show what is stored now).
    PsaUrl,
    /// [`Edge::PsaUrl`] for queue workers and remote actions: each tenant's secret bundle is kept
    /// [`SECRET_CACHE_TTL`] in the warm process ([`CachedSecrets`]), so a burst of one tenant's
    /// messages costs one Secrets Manager read.
    Worker,
    /// No PSA callers, no Tactical calls and no secrets (webhook, scheduler).
    Internal,
}

impl Deps {
    /// Reads the environment and builds the AWS clients; fails the cold start with a clear message.
    pub async fn from_env() -> Result<Self, BootError> {
        let config = Config::from_env()?;
        let sdk = load_sdk_config().await;
        Self::build(config, &sdk).await
    }

    /// For functions without a URL (webhook, scheduler): the PSA key is never read, so their
    /// role needs no access to it and a token can never be verified there; no Tactical client and
    /// no secret store (their roles have no Secrets Manager permission).
    pub async fn from_env_without_psa_key() -> Result<Self, BootError> {
        let config = Config::from_env()?;
        let sdk = load_sdk_config().await;
        Self::build_for(config, &sdk, Edge::Internal).await
    }

    /// [`Self::from_env`] with the secret cache of [`Edge::Worker`] (sync workers, remote actions).
    pub async fn from_env_for_worker() -> Result<Self, BootError> {
        let config = Config::from_env()?;
        let sdk = load_sdk_config().await;
        Self::build_for(config, &sdk, Edge::Worker).await
    }

    pub async fn build(config: Config, sdk: &aws_config::SdkConfig) -> Result<Self, BootError> {
        Self::build_for(config, sdk, Edge::PsaUrl).await
    }

    pub async fn build_for(config: Config, sdk: &aws_config::SdkConfig, edge: Edge) -> Result<Self, BootError> {
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), config.table_name.clone())
            .with_audit_table(config.audit_table_name.clone());
        // The webhook and the scheduler never move a tenant's assets into their shards: that is
        // the work of the functions with minutes to spend, not of a 10 s delivery.
        let store = if matches!(edge, Edge::Internal) { store.without_moves() } else { store };
        let secrets =
            || SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(sdk), config.secret_prefix.clone());
        let queue = SqsQueue::new(aws_sdk_sqs::Client::new(sdk), config.queues.clone());
        let (jwt, tactical, secrets): (JwtVerifier, Arc<dyn TacticalConnector>, Arc<dyn SecretStore>) = match edge {
            Edge::PsaUrl | Edge::Worker => {
                let secrets = secrets();
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
                let jwt = JwtVerifier::new(&config.jwt, &key, config.local_development).map_err(BootError::JwtKey)?;
                let secrets: Arc<dyn SecretStore> = match edge {
                    Edge::Worker => {
                        Arc::new(CachedSecrets::new(Arc::new(secrets), SECRET_CACHE_TTL, SECRET_CACHE_TENANTS))
                    }
                    _ => Arc::new(secrets),
                };
                (jwt, Arc::new(HttpConnector::from_config(&config)), secrets)
            }
            Edge::Internal => (JwtVerifier::disabled(), Arc::new(NoTactical), Arc::new(NoSecrets)),
        };
        let events: Arc<dyn EventPublisher> = match &config.event_bus_name {
            Some(bus) => Arc::new(EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(sdk), bus.clone())),
            None => Arc::new(NoEvents),
        };
        let core = shared::app::Deps {
            events,
            config: Arc::new(config),
            store: Arc::new(store),
            secrets,
            queue: Arc::new(queue),
            tactical,
        };
        Ok(Self { core, jwt: Arc::new(jwt) })
    }
}
