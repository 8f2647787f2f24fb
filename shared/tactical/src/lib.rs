//! The Tactical RMM client: the reqwest adapter of the core's [`TacticalApi`] port (timeouts
//! everywhere, bodies bounded while they stream, no redirects followed), the address guard that
//! keeps a tenant's instance URL off private networks, and the [`TacticalConnector`] that hands
//! out one client per tenant over one connection pool.

// Everything here reads untrusted Tactical data in workers shared by all tenants, and release
// builds abort on a panic: no unwrap/expect/panic and no lossy `as` cast outside tests
// (checked conversions instead; a justified exception carries its own `allow` and reason).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss
    )
)]

pub mod http;
pub mod json_stream;

pub use http::{HttpClientOptions, TacticalHttp, build_http_client, check_instance_address};

use async_trait::async_trait;
use shared::config::Config;
use shared::tactical::policy::RetryPolicy;
use shared::tactical::url::AddressPolicy;
use shared::tactical::{Credentials, InstanceUrl, TacticalApi, TacticalConnector, TacticalError};
use std::time::Duration;

/// Production connector: one reqwest client (pool, TLS, guarded resolver) for every tenant.
pub struct HttpConnector {
    http: reqwest::Client,
    addresses: AddressPolicy,
    retry: RetryPolicy,
    timeout: Duration,
}

impl HttpConnector {
    pub fn new(options: &HttpClientOptions, retry: RetryPolicy) -> Self {
        Self {
            http: build_http_client(options),
            addresses: AddressPolicy {
                dev_hosts: options.allowlist.clone(),
                private_hosts: options.private_hosts.clone(),
            },
            retry,
            timeout: options.request_timeout,
        }
    }

    /// The connector a function builds at cold start.
    pub fn from_config(config: &Config) -> Self {
        let options = HttpClientOptions {
            allowlist: config.tactical_host_allowlist.clone(),
            private_hosts: config.tactical_private_hosts.clone(),
            request_timeout: config.tactical_timeout,
            ..Default::default()
        };
        let retry = RetryPolicy { max_attempts: config.tactical_max_attempts, ..config.tactical_retry.clone() };
        Self::new(&options, retry)
    }
}

#[async_trait]
impl TacticalConnector for HttpConnector {
    async fn check_address(&self, url: &InstanceUrl) -> Result<(), TacticalError> {
        check_instance_address(url, &self.addresses).await
    }

    fn connect(
        &self,
        url: InstanceUrl,
        creds: Credentials,
        retry: Option<RetryPolicy>,
        timeout: Option<Duration>,
    ) -> Result<Box<dyn TacticalApi>, TacticalError> {
        Ok(Box::new(
            TacticalHttp::new(self.http.clone(), url, creds)
                .with_retry(retry.unwrap_or_else(|| self.retry.clone()))
                .with_timeout(timeout.unwrap_or(self.timeout)),
        ))
    }

    fn request_timeout(&self) -> Duration {
        self.timeout
    }
}

/// For functions that never call Tactical (webhook, scheduler): holds no HTTP client, and every
/// address or connection is refused.
pub struct NoTactical;

#[async_trait]
impl TacticalConnector for NoTactical {
    async fn check_address(&self, _url: &InstanceUrl) -> Result<(), TacticalError> {
        Err(TacticalError::Connect("this function does not call Tactical".into()))
    }

    fn connect(
        &self,
        _url: InstanceUrl,
        _creds: Credentials,
        _retry: Option<RetryPolicy>,
        _timeout: Option<Duration>,
    ) -> Result<Box<dyn TacticalApi>, TacticalError> {
        Err(TacticalError::Connect("this function does not call Tactical".into()))
    }

    fn request_timeout(&self) -> Duration {
        Duration::ZERO
    }
}
