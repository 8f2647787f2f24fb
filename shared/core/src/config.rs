//! Configuration from the environment, read once per cold start. A missing or malformed variable
//! fails the cold start with a message naming it, instead of failing the first request.

use crate::tactical::policy::RetryPolicy;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The queues of the fan-out, one per sync type (each with its own DLQ in template.yaml).
#[derive(Debug, Clone)]
pub struct QueueUrls {
    pub sync_clients: String,
    pub sync_devices: String,
    pub sync_alerts: String,
    pub sync_software: String,
}

/// How function-URL callers are authenticated: a JWT signed by the PSA.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// `HS256` or `RS256`.
    pub algorithm: String,
    /// The key itself (PEM public key for RS256, or HS256 secret) when given inline. For HS256 in
    /// production prefer `key_secret_id`, so the key lives in Secrets Manager.
    pub key_inline: Option<String>,
    /// A Secrets Manager secret id holding the key.
    pub key_secret_id: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Longest accepted token lifetime (`exp` no further than this from now).
    pub max_lifetime_secs: i64,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    /// The audit log's table (`AUDIT_TABLE_NAME`); the main table when unset (older local
    /// environment files).
    pub audit_table_name: String,
    /// Prefix of every secret name, e.g. `tactical-bridge/`. IAM is scoped to it.
    pub secret_prefix: String,
    pub queues: QueueUrls,
    pub jwt: JwtConfig,
    /// Hosts (or IPs) a tenant may point at even though they resolve to loopback or private
    /// addresses, and over plain http. Empty in production; set for local development with the
    /// simulator.
    pub tactical_host_allowlist: Vec<String>,
    /// Hosts allowed to resolve to private ranges (RFC 1918, CGNAT, ULA, NAT64): an on-premises
    /// Tactical reached through the VPC (`TACTICAL_PRIVATE_HOSTS`). https is still required.
    pub tactical_private_hosts: Vec<String>,
    /// `LOCAL_DEVELOPMENT=true`: set only by `devtools provision` and the tests' harness. Lifts
    /// the deployed-stack rules (issuer and audience required, a strong non-development key).
    pub local_development: bool,
    /// Public base URL of the webhook route (API Gateway), used to show admins their webhook URL.
    pub webhook_base_url: Option<String>,
    /// `EVENT_BUS_NAME`: the EventBridge bus events go to (none: events are not published).
    pub event_bus_name: Option<String>,
    /// Enterprise Edition switch for remote actions.
    pub enterprise_remote_actions: bool,
    /// Timeout of one Tactical request (`TACTICAL_TIMEOUT_SECS`, fractions allowed).
    pub tactical_timeout: std::time::Duration,
    /// Attempts per idempotent Tactical call (1 = no retry).
    pub tactical_max_attempts: u32,
    /// Beta API page size of device sync (Tactical allows up to 1000; one page per queue message).
    pub device_page_size: u32,
    /// Retries of the sync workers' Tactical calls. `TACTICAL_RETRY_BASE_MS` (default 250) sets the
    /// backoff base (the cap is 32× the base, at most 8 s); tests shorten it, deployments keep it.
    pub tactical_retry: RetryPolicy,
    /// Caps on what a Tactical `count` can make a run queue (`MAX_PAGES_PER_LISTING`,
    /// `MAX_WORK_ITEMS_PER_RUN`).
    pub fan_out: crate::domain::limits::FanOutLimits,
}

fn get(env: &BTreeMap<String, String>, name: &'static str) -> Option<String> {
    env.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn host_list(env: &BTreeMap<String, String>, name: &'static str) -> Vec<String> {
    get(env, name)
        .map(|v| v.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect())
        .unwrap_or_default()
}

fn flag(env: &BTreeMap<String, String>, name: &'static str) -> Result<bool, ConfigError> {
    match get(env, name).as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ConfigError::Invalid { name, reason: format!("expected true or false, got {other:?}") }),
    }
}

/// Longest PSA token lifetime accepted unless `PSA_JWT_MAX_LIFETIME_SECS` says otherwise.
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECS: i64 = 12 * 3600;

fn require(env: &BTreeMap<String, String>, name: &'static str) -> Result<String, ConfigError> {
    get(env, name).ok_or(ConfigError::Missing(name))
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(&std::env::vars().collect())
    }

    pub fn from_map(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let algorithm = get(env, "PSA_JWT_ALGORITHM").unwrap_or_else(|| "HS256".into());
        if algorithm != "HS256" && algorithm != "RS256" {
            return Err(ConfigError::Invalid { name: "PSA_JWT_ALGORITHM", reason: "must be HS256 or RS256".into() });
        }
        let local_development = flag(env, "LOCAL_DEVELOPMENT")?;
        let max_lifetime_secs = match get(env, "PSA_JWT_MAX_LIFETIME_SECS") {
            None => DEFAULT_MAX_TOKEN_LIFETIME_SECS,
            Some(v) => v.parse::<i64>().ok().filter(|n| (60..=7 * 86400).contains(n)).ok_or(ConfigError::Invalid {
                name: "PSA_JWT_MAX_LIFETIME_SECS",
                reason: "must be a number of seconds from 60 to 604800".into(),
            })?,
        };
        let jwt = JwtConfig {
            algorithm,
            key_inline: get(env, "PSA_JWT_KEY"),
            key_secret_id: get(env, "PSA_JWT_KEY_SECRET_ID"),
            issuer: get(env, "PSA_JWT_ISSUER"),
            audience: get(env, "PSA_JWT_AUDIENCE"),
            max_lifetime_secs,
        };
        if jwt.key_inline.is_none() && jwt.key_secret_id.is_none() {
            return Err(ConfigError::Missing("PSA_JWT_KEY or PSA_JWT_KEY_SECRET_ID"));
        }
        // A token minted for another service of the PSA must not open this one.
        if !local_development {
            if jwt.issuer.is_none() {
                return Err(ConfigError::Missing("PSA_JWT_ISSUER"));
            }
            if jwt.audience.is_none() {
                return Err(ConfigError::Missing("PSA_JWT_AUDIENCE"));
            }
        }
        let enterprise = flag(env, "ENTERPRISE_REMOTE_ACTIONS")?;
        let mut tactical_retry = RetryPolicy::default();
        if let Some(v) = get(env, "TACTICAL_RETRY_BASE_MS") {
            let ms: u64 = v.parse().map_err(|_| ConfigError::Invalid {
                name: "TACTICAL_RETRY_BASE_MS",
                reason: format!("expected milliseconds, got {v:?}"),
            })?;
            tactical_retry.base_delay = Duration::from_millis(ms);
            tactical_retry.max_delay = tactical_retry.max_delay.min(Duration::from_millis(ms.saturating_mul(32)));
        }
        let secret_prefix = get(env, "SECRET_PREFIX").unwrap_or_else(|| "tactical-bridge/".into());
        if !secret_prefix.ends_with('/') {
            return Err(ConfigError::Invalid { name: "SECRET_PREFIX", reason: "must end with '/'".into() });
        }
        let device_page_size = match get(env, "DEVICE_PAGE_SIZE") {
            // A page of real Windows rows weighs ~150 KB a row on the wire (docs/sync.md).
            None => 100,
            Some(v) => v.parse::<u32>().ok().filter(|n| (1..=1000).contains(n)).ok_or(ConfigError::Invalid {
                name: "DEVICE_PAGE_SIZE",
                reason: "must be a number from 1 to 1000 (Tactical's beta API maximum)".into(),
            })?,
        };
        let tactical_timeout = match get(env, "TACTICAL_TIMEOUT_SECS") {
            None => std::time::Duration::from_secs(30),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|n| (0.1..=300.0).contains(n))
                .map(std::time::Duration::from_secs_f64)
                .ok_or(ConfigError::Invalid {
                    name: "TACTICAL_TIMEOUT_SECS",
                    reason: "must be a number of seconds from 0.1 to 300".into(),
                })?,
        };
        let tactical_max_attempts = match get(env, "TACTICAL_MAX_ATTEMPTS") {
            None => 4,
            Some(v) => v.parse::<u32>().ok().filter(|n| (1..=10).contains(n)).ok_or(ConfigError::Invalid {
                name: "TACTICAL_MAX_ATTEMPTS",
                reason: "must be a number from 1 to 10".into(),
            })?,
        };
        let table_name = require(env, "TABLE_NAME")?;
        Ok(Self {
            audit_table_name: get(env, "AUDIT_TABLE_NAME").unwrap_or_else(|| table_name.clone()),
            table_name,
            secret_prefix,
            queues: QueueUrls {
                sync_clients: require(env, "SYNC_CLIENTS_QUEUE_URL")?,
                sync_devices: require(env, "SYNC_DEVICES_QUEUE_URL")?,
                sync_alerts: require(env, "SYNC_ALERTS_QUEUE_URL")?,
                sync_software: require(env, "SYNC_SOFTWARE_QUEUE_URL")?,
            },
            jwt,
            tactical_host_allowlist: host_list(env, "TACTICAL_HOST_ALLOWLIST"),
            tactical_private_hosts: host_list(env, "TACTICAL_PRIVATE_HOSTS"),
            local_development,
            webhook_base_url: get(env, "WEBHOOK_BASE_URL"),
            event_bus_name: get(env, "EVENT_BUS_NAME"),
            enterprise_remote_actions: enterprise,
            device_page_size,
            tactical_max_attempts,
            tactical_timeout,
            tactical_retry,
            fan_out: crate::domain::limits::FanOutLimits::from_env(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> BTreeMap<String, String> {
        [
            ("TABLE_NAME", "t"),
            ("SYNC_CLIENTS_QUEUE_URL", "q1"),
            ("SYNC_DEVICES_QUEUE_URL", "q2"),
            ("SYNC_ALERTS_QUEUE_URL", "q3"),
            ("SYNC_SOFTWARE_QUEUE_URL", "q4"),
            ("PSA_JWT_KEY", "k"),
            ("PSA_JWT_ISSUER", "https://psa.example.com"),
            ("PSA_JWT_AUDIENCE", "tactical-bridge"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn missing_variable_is_named() {
        let mut env = base();
        env.remove("TABLE_NAME");
        let err = Config::from_map(&env).unwrap_err().to_string();
        assert!(err.contains("TABLE_NAME"), "{err}");
    }

    #[test]
    fn allowlist_is_parsed_lowercase() {
        let mut env = base();
        env.insert("TACTICAL_HOST_ALLOWLIST".into(), " 127.0.0.1, LocalHost ".into());
        let cfg = Config::from_map(&env).unwrap();
        assert_eq!(cfg.tactical_host_allowlist, vec!["127.0.0.1", "localhost"]);
        assert_eq!(cfg.secret_prefix, "tactical-bridge/");
        assert!(!cfg.enterprise_remote_actions);
    }

    #[test]
    fn retry_base_is_configurable_and_validated() {
        let mut env = base();
        assert_eq!(Config::from_map(&env).unwrap().tactical_retry.base_delay, Duration::from_millis(250));
        env.insert("TACTICAL_RETRY_BASE_MS".into(), "2".into());
        let r = Config::from_map(&env).unwrap().tactical_retry;
        assert_eq!(
            (r.base_delay, r.max_delay, r.max_attempts),
            (Duration::from_millis(2), Duration::from_millis(64), 4)
        );
        env.insert("TACTICAL_RETRY_BASE_MS".into(), "soon".into());
        assert!(Config::from_map(&env).unwrap_err().to_string().contains("TACTICAL_RETRY_BASE_MS"));
    }

    #[test]
    fn request_timeout_takes_fractions_and_refuses_nonsense() {
        let mut env = base();
        assert_eq!(Config::from_map(&env).unwrap().tactical_timeout, Duration::from_secs(30));
        env.insert("TACTICAL_TIMEOUT_SECS".into(), "0.5".into());
        assert_eq!(Config::from_map(&env).unwrap().tactical_timeout, Duration::from_millis(500));
        for bad in ["0", "301", "NaN", "soon"] {
            env.insert("TACTICAL_TIMEOUT_SECS".into(), bad.into());
            assert!(Config::from_map(&env).unwrap_err().to_string().contains("TACTICAL_TIMEOUT_SECS"), "{bad}");
        }
    }

    #[test]
    fn a_deployed_stack_needs_issuer_and_audience() {
        for name in ["PSA_JWT_ISSUER", "PSA_JWT_AUDIENCE"] {
            let mut env = base();
            env.insert(name.into(), "  ".into());
            assert!(Config::from_map(&env).unwrap_err().to_string().contains(name), "{name}");
            env.insert("LOCAL_DEVELOPMENT".into(), "true".into());
            assert!(Config::from_map(&env).unwrap().local_development, "{name}");
        }
        let mut env = base();
        assert_eq!(Config::from_map(&env).unwrap().jwt.max_lifetime_secs, DEFAULT_MAX_TOKEN_LIFETIME_SECS);
        env.insert("PSA_JWT_MAX_LIFETIME_SECS".into(), "0".into());
        assert!(Config::from_map(&env).unwrap_err().to_string().contains("PSA_JWT_MAX_LIFETIME_SECS"));
    }

    #[test]
    fn bad_flag_fails_cold_start() {
        let mut env = base();
        env.insert("ENTERPRISE_REMOTE_ACTIONS".into(), "yes".into());
        assert!(Config::from_map(&env).is_err());
    }
}
