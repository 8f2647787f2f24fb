//! The address guard: a resolver that refuses private addresses for tenant instances, and the
//! reqwest client built over it.
use shared::tactical::TacticalError;
use shared::tactical::url::{AddressPolicy, InstanceUrl, host_allowed};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Options of the shared HTTP client (one per cold start, reused by every tenant).
#[derive(Debug, Clone)]
pub struct HttpClientOptions {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Hosts allowed even though they resolve to blocked addresses (local development).
    pub allowlist: Vec<String>,
    /// Hosts allowed to resolve to private ranges (an on-premises Tactical).
    pub private_hosts: Vec<String>,
}

impl Default for HttpClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            allowlist: Vec::new(),
            private_hosts: Vec::new(),
        }
    }
}

/// Resolves names, then drops the addresses the policy refuses, so a DNS answer cannot steer us
/// to loopback, the metadata service or a private network (checked on every connection).
pub(super) struct GuardedResolver {
    pub(super) policy: Arc<AddressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let policy = self.policy.clone();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Box::new(ResolveError::Dns) as Box<dyn std::error::Error + Send + Sync>)?
                .filter(|a| policy.allows(&host, a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(ResolveError::Blocked) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why the guarded resolver gave no address (found again in reqwest's error chain).
#[derive(Debug, thiserror::Error)]
pub(super) enum ResolveError {
    #[error("name resolution failed")]
    Dns,
    #[error("blocked address")]
    Blocked,
}

// Built once per cold start from static options: a failure is a build bug, not data.
#[allow(clippy::expect_used)]
pub fn build_http_client(opts: &HttpClientOptions) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.request_timeout)
        .user_agent(concat!("tactical-bridge/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver {
            policy: Arc::new(AddressPolicy {
                dev_hosts: opts.allowlist.clone(),
                private_hosts: opts.private_hosts.clone(),
            }),
        }))
        .build()
        .expect("reqwest client options are static and valid")
}

/// One message for every way a connection can fail to open (refused, unreachable, blocked).
pub(super) fn unreachable_error(host: &str) -> TacticalError {
    TacticalError::Connect(format!(
        "could not connect to {host}; check the host, the port and that Tactical's API (nginx) is running and reachable from the internet"
    ))
}

/// Refuses an instance URL that would send credentials over plain http, whose host is an IP
/// literal the policy refuses (the resolver never sees IP literals), or a name that resolves only
/// to refused addresses.
pub async fn check_instance_address(url: &InstanceUrl, policy: &AddressPolicy) -> Result<(), TacticalError> {
    check_address(url, policy).await?;
    policy.check_scheme(url).map_err(|_| TacticalError::InsecureScheme)
}

pub(super) async fn check_address(url: &InstanceUrl, policy: &AddressPolicy) -> Result<(), TacticalError> {
    let host = url.host();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return if policy.allows(&host, ip) { Ok(()) } else { Err(TacticalError::BlockedAddress) };
    }
    if host_allowed(&host, &policy.dev_hosts) {
        return Ok(());
    }
    if bare.eq_ignore_ascii_case("localhost") || bare.to_ascii_lowercase().ends_with(".localhost") {
        return Err(TacticalError::BlockedAddress);
    }
    let lookup =
        tokio::time::timeout(shared::deadline::clamp(Duration::from_secs(5)), tokio::net::lookup_host((bare, 0)));
    match lookup.await.unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut))) {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            if !addrs.is_empty() && addrs.iter().all(|a| !policy.allows(&host, a.ip())) {
                Err(TacticalError::BlockedAddress)
            } else {
                Ok(())
            }
        }
        // Unresolvable now: the connection test will say so with a clearer message.
        Err(_) => Ok(()),
    }
}
