//! The reqwest adapter of [`TacticalApi`]: timeouts everywhere, no redirects followed, JSON
//! required, bounded retries with backoff and jitter on 429/5xx/timeouts, `Retry-After` honoured
//! (docs/tactical-behaviour.md: API host and dashboard host, trailing slashes and redirects,
//! retries), and an address guard against SSRF.

use crate::json_stream::{ArraySplitter, PageSplitter};
use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use shared::tactical::TacticalError;
use shared::tactical::policy::*;
use shared::tactical::status_list::AgentStatusRow;
use shared::tactical::types::*;
use shared::tactical::url::{AddressPolicy, InstanceUrl, host_allowed};
use shared::tactical::{Credentials, SoftwareRows, TacticalApi};
use std::collections::VecDeque;
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
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
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
enum ResolveError {
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
fn unreachable_error(host: &str) -> TacticalError {
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

async fn check_address(url: &InstanceUrl, policy: &AddressPolicy) -> Result<(), TacticalError> {
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

/// A Tactical client for one tenant's instance and credentials.
#[derive(Clone)]
pub struct TacticalHttp {
    http: reqwest::Client,
    base: InstanceUrl,
    creds: Credentials,
    retry: RetryPolicy,
    request_timeout: Duration,
}

/// The least time worth starting another attempt with.
const MIN_ATTEMPT: Duration = Duration::from_secs(1);
/// Largest body we read into memory (a beta page of 1000 agents with WMI data is a few MB).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Error answers are short pages or JSON details: only their start is read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What one route's answer may weigh, counted while it streams in (a chunked body has no
/// `Content-Length`, and an endless one must not exhaust the worker's memory).
pub fn body_limit(path: &str) -> usize {
    const MB: usize = 1024 * 1024;
    let first = path.split('/').next().unwrap_or("");
    match first {
        // One page of up to 1000 agents (WMI included), or every open alert of a large fleet.
        "beta" | "alerts" => MAX_BODY,
        // One agent's inventory (a row of `GET /software/` is at most 16 MB too).
        "software" => MAX_SOFTWARE_ROW,
        // One agent's detail (WMI, custom fields) or a command's whole output (cut to 64 KB later).
        "agents" | "clients" | "scripts" => 16 * MB,
        // A login answer, the version check.
        _ => 4 * MB,
    }
}
/// `GET /software/` streams for minutes on a large fleet: its own limit, below Lambda's 300 s.
const SOFTWARE_ALL_TIMEOUT: Duration = Duration::from_secs(240);
/// Largest single agent row of `GET /software/` (thousands of programs are a few MB).
const MAX_SOFTWARE_ROW: usize = 16 * 1024 * 1024;

impl TacticalHttp {
    pub fn new(http: reqwest::Client, base: InstanceUrl, creds: Credentials) -> Self {
        Self { http, base, creds, retry: RetryPolicy::default(), request_timeout: Duration::from_secs(30) }
    }

    /// The timeout the shared HTTP client was built with (for messages).
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base(&self) -> &InstanceUrl {
        &self.base
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, TacticalError> {
        let url = self.base.endpoint(path);
        // Never past the invocation's deadline: a hung Tactical costs a clear timeout, not the
        // function killed without an answer.
        let timeout = shared::deadline::clamp(timeout.unwrap_or(self.request_timeout));
        if timeout.is_zero() {
            return Err(TacticalError::Timeout(timeout));
        }
        let mut req = self.http.request(method.clone(), &url).header("Accept", "application/json").timeout(timeout);
        if !query.is_empty() {
            req = req.query(query);
        }
        match &self.creds {
            Credentials::ApiKey(k) => req = req.header("X-API-KEY", k.expose_secret()),
            Credentials::KnoxToken(t) => req = req.header("Authorization", format!("Token {}", t.expose_secret())),
            Credentials::None => {}
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.map_err(|e| self.transport_error(e, timeout))
    }

    async fn once(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<(StatusCode, HeaderMap, bytes::Bytes), TacticalError> {
        let timeout = shared::deadline::clamp(timeout);
        let resp = self.send(method, path, query, body, Some(timeout)).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = if status.is_success() {
            let limit = body_limit(path);
            read_capped(resp, limit, false)
                .await
                .map_err(|e| self.transport_error(e, timeout))?
                .ok_or_else(|| TacticalError::BodyTooLarge { path: path.to_owned(), limit })?
        } else {
            // Only the start of an error page matters; the rest is never read.
            read_capped(resp, MAX_ERROR_BODY, true)
                .await
                .map_err(|e| self.transport_error(e, timeout))?
                .unwrap_or_default()
        };
        Ok((status, headers, bytes))
    }

    /// Tells network failures apart (DNS, refused, TLS, timeout) so the message says what to fix.
    fn transport_error(&self, e: reqwest::Error, timeout: Duration) -> TacticalError {
        let host = self.base.host();
        if e.is_connect() && e.is_timeout() {
            return unreachable_error(&host);
        }
        if e.is_timeout() {
            return TacticalError::Timeout(timeout);
        }
        let mut tls = false;
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = src {
            // Refused, unreachable and blocked read the same, so the test button cannot map which
            // hosts and ports exist behind us.
            if matches!(s.downcast_ref::<ResolveError>(), Some(ResolveError::Blocked)) {
                return unreachable_error(&host);
            }
            if matches!(s.downcast_ref::<ResolveError>(), Some(ResolveError::Dns)) {
                return TacticalError::Connect(format!(
                    "the host name {host} does not resolve (DNS); check the instance URL"
                ));
            }
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => return unreachable_error(&host),
                    std::io::ErrorKind::TimedOut if e.is_connect() => return unreachable_error(&host),
                    std::io::ErrorKind::TimedOut => return TacticalError::Timeout(timeout),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof if !e.is_connect() => {
                        return TacticalError::Interrupted { what: "body" };
                    }
                    _ => {}
                }
            }
            let text = s.to_string().to_ascii_lowercase();
            if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
                tls = true;
            }
            src = s.source();
        }
        if tls {
            TacticalError::Connect(format!(
                "the TLS handshake with {host} failed (certificate not valid for this name, expired, or self-signed); Tactical needs a trusted certificate"
            ))
        } else if e.is_connect() {
            unreachable_error(&host)
        } else if e.is_body() || e.is_decode() {
            TacticalError::Interrupted { what: "body" }
        } else {
            TacticalError::Connect("the request failed before an answer arrived".into())
        }
    }

    /// Turns a non-success answer into a typed error. `path` is the route for messages.
    fn classify(path: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> TacticalError {
        let html = is_html(headers);
        let detail = detail_of(body);
        match status.as_u16() {
            301 | 302 | 303 | 307 | 308 => TacticalError::Redirect {
                location: headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("?")
                    .chars()
                    .take(200)
                    .collect(),
            },
            401 => TacticalError::Unauthorized { detail: detail.unwrap_or_else(|| "401 Unauthorized".into()) },
            403 => TacticalError::Forbidden { path: path.to_owned() },
            404 if html && path.starts_with("beta/") => TacticalError::BetaApiDisabled,
            404 => TacticalError::NotFound { path: path.to_owned(), detail },
            429 => TacticalError::RateLimited { retry_after: retry_after(headers) },
            s @ 500..=599 => TacticalError::Server { status: s },
            s => TacticalError::Rejected { status: s, message: detail.unwrap_or_else(|| format!("HTTP {s}")) },
        }
    }

    /// One call with bounded retries for idempotent requests. Returns the body of a 2xx JSON answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        idempotent: bool,
    ) -> Result<bytes::Bytes, TacticalError> {
        self.call_within(method, path, query, body, idempotent, self.request_timeout).await
    }

    /// [`Self::call`] with a per-request timeout (remote actions wait for the agent).
    async fn call_within(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        idempotent: bool,
        timeout: Duration,
    ) -> Result<bytes::Bytes, TacticalError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self.once(&method, path, query, body, timeout).await {
                Ok((status, _, bytes)) if status == StatusCode::NO_CONTENT => return Ok(bytes),
                Ok((status, headers, bytes)) if status.is_success() => {
                    if is_html(&headers) || !is_json(&headers) {
                        // 200 + HTML: the dashboard host, which answers every path with its page
                        // (docs/tactical-behaviour.md#api-host-and-dashboard-host). Never retried.
                        return Err(TacticalError::DashboardHost);
                    }
                    return Ok(bytes);
                }
                Ok((status, headers, bytes)) => Self::classify(path, status, &headers, &bytes),
                Err(e) => e,
            };
            self.wait_before_retry(path, attempt, idempotent, err).await?;
        }
    }

    /// Sleeps before another attempt, or hands the error back when it is not worth one.
    async fn wait_before_retry(
        &self,
        path: &str,
        attempt: u32,
        idempotent: bool,
        err: TacticalError,
    ) -> Result<(), TacticalError> {
        if !idempotent || !err.is_transient() || attempt >= self.retry.max_attempts {
            tracing::debug!(path, attempt, error = %err, "tactical call failed");
            return Err(err);
        }
        let delay = match &err {
            TacticalError::RateLimited { retry_after: Some(ra) } => {
                if *ra > self.retry.max_retry_after {
                    return Err(err);
                }
                *ra
            }
            _ => backoff(&self.retry, attempt),
        };
        // Another attempt only when it can still finish inside the invocation's budget.
        if shared::deadline::remaining().is_some_and(|r| r < delay + MIN_ATTEMPT) {
            tracing::debug!(path, attempt, error = %err, "no time left for another attempt");
            return Err(err);
        }
        tracing::info!(path, attempt, delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), error = %err, "retrying tactical call");
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// A GET whose body is read as a stream. Retries apply until the headers of a 2xx JSON answer
    /// arrive; a body that breaks later is the caller's to restart.
    async fn open_stream(
        &self,
        path: &str,
        query: &[(&str, String)],
        timeout: Duration,
    ) -> Result<reqwest::Response, TacticalError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.open_stream_once(path, query, timeout).await {
                Ok(resp) => return Ok(resp),
                Err(err) => self.wait_before_retry(path, attempt, true, err).await?,
            }
        }
    }

    /// One attempt of [`Self::open_stream`].
    async fn open_stream_once(
        &self,
        path: &str,
        query: &[(&str, String)],
        timeout: Duration,
    ) -> Result<reqwest::Response, TacticalError> {
        match self.send(&Method::GET, path, query, None, Some(timeout)).await {
            Ok(resp) if resp.status().is_success() => {
                if is_html(resp.headers()) || !is_json(resp.headers()) {
                    return Err(TacticalError::DashboardHost);
                }
                Ok(resp)
            }
            Ok(resp) => {
                let (status, headers) = (resp.status(), resp.headers().clone());
                // Error bodies are small pages or JSON details.
                let bytes = read_capped(resp, MAX_ERROR_BODY, true).await.ok().flatten().unwrap_or_default();
                Err(Self::classify(path, status, &headers, &bytes))
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        what: &'static str,
    ) -> Result<T, TacticalError> {
        let bytes = self.call(Method::GET, path, query, None, true).await?;
        decode(&bytes, what)
    }
}

/// Reads a body chunk by chunk, stopping at `limit` bytes (`Content-Length` is a hint a hostile
/// server may omit or lie about). Over the limit: `None`, or with `truncate` the first `limit`
/// bytes.
async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
    truncate: bool,
) -> Result<Option<bytes::Bytes>, reqwest::Error> {
    let announced = resp.content_length().and_then(|n| usize::try_from(n).ok());
    if announced.is_some_and(|n| n > limit) && !truncate {
        return Ok(None);
    }
    let mut buf = bytes::BytesMut::with_capacity(announced.unwrap_or(0).min(limit));
    while let Some(chunk) = resp.chunk().await? {
        let room = limit.saturating_sub(buf.len());
        if chunk.len() > room {
            if !truncate {
                return Ok(None);
            }
            buf.extend_from_slice(chunk.get(..room).unwrap_or_default());
            return Ok(Some(buf.freeze()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, TacticalError> {
    serde_json::from_slice(bytes).map_err(|e| TacticalError::Decode { what, detail: e.to_string() })
}

/// Tactical's agent actions answer bare JSON strings, and some failures come back as 200
/// (docs/tactical-behaviour.md#remote-actions-and-unreachable-agents): `"natsdown"` (broker down)
/// and, from a waited-for script, `"timeout"`.
fn agent_reply(bytes: &[u8], what: &'static str, timeout_is_failure: bool) -> Result<String, TacticalError> {
    let text: String = decode(bytes, what)?;
    match text.as_str() {
        "natsdown" => Err(TacticalError::BrokerDown),
        "timeout" if timeout_is_failure => Err(TacticalError::AgentTimeout),
        _ => Ok(text),
    }
}

/// Tactical's alert changes answer the JSON string `"ok"`.
fn expect_ok(bytes: &[u8], what: &'static str) -> Result<(), TacticalError> {
    match decode::<String>(bytes, what)?.as_str() {
        "ok" => Ok(()),
        other => Err(TacticalError::Decode {
            what,
            detail: format!("expected \"ok\", got {:?}", truncate_chars(other, 100)),
        }),
    }
}

fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Tactical's `notify_error` answers (400 + JSON string) of agent actions, typed.
fn agent_failure(e: TacticalError) -> TacticalError {
    match e {
        TacticalError::Rejected { status: 400, message } => match message.as_str() {
            "Unable to contact the agent" => TacticalError::AgentUnreachable,
            "natsdown" => TacticalError::BrokerDown,
            "timeout" => TacticalError::AgentTimeout,
            _ => TacticalError::Rejected { status: 400, message },
        },
        other => other,
    }
}

/// Agent ids go into the path: refuse what would change the route (Tactical answers HTML 404 for
/// ids shorter than 21 characters anyway).
fn check_agent_id(agent_id: &str, route: &str) -> Result<(), TacticalError> {
    if agent_id.len() < 21
        || agent_id.chars().any(|c| matches!(c, '/' | '?' | '#' | '%') || c.is_whitespace() || c.is_control())
    {
        return Err(TacticalError::NotFound {
            path: route.into(),
            detail: Some("agent ids have at least 21 characters and no /, ?, # or %".into()),
        });
    }
    Ok(())
}

/// `GET /software/<agent_id>/` answers the agent's row, or `[]` when it has no inventory yet.
fn decode_software_answer(bytes: &[u8]) -> Result<Option<Vec<SoftwareItem>>, TacticalError> {
    const WHAT: &str = "GET /software/<agent_id>/";
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(Some(decode::<SoftwareRow>(bytes, WHAT)?.software)),
        Some(b'[') => Ok(decode::<Vec<SoftwareRow>>(bytes, WHAT)?.into_iter().next().map(|r| r.software)),
        _ => Err(TacticalError::Decode { what: WHAT, detail: "expected an object or []".into() }),
    }
}

/// Largest head of a beta page (`count`, `next`, `previous` come before `results`).
const MAX_PAGE_HEAD: usize = 16 * 1024;
/// Largest beta agent row: a real Windows row is ~150 KB; a row 25 times that is refused.
const MAX_AGENT_ROW: usize = 4 * 1024 * 1024;

/// Tactical serves at most 1000 rows a page.
const MAX_PAGE_ROWS: usize = 1000;

/// The head of a DRF page.
#[derive(serde::Deserialize)]
struct PageHead {
    count: u64,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    previous: Option<String>,
}

/// Decodes a beta agent page row by row as the body arrives: memory is bounded by one row
/// (at most [`MAX_AGENT_ROW`]) and the lean rows kept, whatever the page weighs.
async fn read_beta_page(resp: reqwest::Response, timeout: Duration) -> Result<BetaPage<BetaAgent>, TacticalError> {
    const WHAT: &str = "GET /beta/v1/agent/";
    let undecodable = |e: crate::json_stream::SplitError| TacticalError::Decode { what: WHAT, detail: e.to_string() };
    let mut body = resp.bytes_stream();
    const PATH: &str = "beta/v1/agent/";
    let mut splitter = PageSplitter::new(MAX_PAGE_HEAD, MAX_AGENT_ROW);
    let mut results = Vec::new();
    // Rows are bounded one by one; the page as a whole too, or an endless stream of small rows
    // would grow `results` until the timeout.
    let limit = body_limit(PATH);
    let mut received = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) if e.is_timeout() => return Err(TacticalError::Timeout(timeout)),
            Err(_) => return Err(TacticalError::Interrupted { what: WHAT }),
        };
        received = received.saturating_add(chunk.len());
        if received > limit || results.len() > MAX_PAGE_ROWS {
            return Err(TacticalError::BodyTooLarge { path: PATH.to_owned(), limit });
        }
        for raw in splitter.push(&chunk).map_err(undecodable)? {
            results.push(decode::<BetaAgent>(&raw, WHAT)?);
        }
    }
    let head: PageHead = decode(&splitter.finish().map_err(undecodable)?, WHAT)?;
    Ok(BetaPage { count: head.count, next: head.next, previous: head.previous, results })
}

/// State of the `GET /software/` row stream.
struct RowStream {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    splitter: ArraySplitter,
    ready: VecDeque<Vec<u8>>,
    ended: bool,
}

fn software_rows(resp: reqwest::Response) -> SoftwareRows {
    const WHAT: &str = "GET /software/";
    let st = RowStream {
        body: resp.bytes_stream().boxed(),
        splitter: ArraySplitter::new(MAX_SOFTWARE_ROW),
        ready: VecDeque::new(),
        ended: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(raw) = st.ready.pop_front() {
                return Some((decode::<SoftwareRow>(&raw, WHAT), st));
            }
            if st.ended {
                return None;
            }
            let failure = match st.body.next().await {
                Some(Ok(chunk)) => match st.splitter.push(&chunk) {
                    Ok(elems) => {
                        st.ready.extend(elems);
                        continue;
                    }
                    Err(e) => TacticalError::Decode { what: WHAT, detail: e.to_string() },
                },
                Some(Err(e)) if e.is_timeout() => TacticalError::Timeout(SOFTWARE_ALL_TIMEOUT),
                Some(Err(_)) => TacticalError::Interrupted { what: WHAT },
                None => match st.splitter.finish() {
                    Ok(()) => {
                        st.ended = true;
                        continue;
                    }
                    Err(e) => TacticalError::Decode { what: WHAT, detail: e.to_string() },
                },
            };
            st.ended = true;
            return Some((Err(failure), st));
        }
    })
    .boxed()
}

fn backoff(p: &RetryPolicy, attempt: u32) -> Duration {
    let exp = p.base_delay.saturating_mul(1u32 << (attempt - 1).min(10));
    let capped = exp.min(p.max_delay);
    // Full jitter between half and all of the capped delay.
    let half = capped / 2;
    half + Duration::from_millis(rand::random_range(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1)))
}

fn is_html(h: &HeaderMap) -> bool {
    h.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"))
}

fn is_json(h: &HeaderMap) -> bool {
    h.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

fn retry_after(h: &HeaderMap) -> Option<Duration> {
    h.get(RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Tactical's error bodies: a bare JSON string, `{"detail": ...}`, or a DRF field map.
fn detail_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = match &v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => match m.get("detail") {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => v.to_string(),
        },
        other => other.to_string(),
    };
    Some(text.chars().take(300).collect())
}

#[async_trait]
impl TacticalApi for TacticalHttp {
    async fn agent_statuses(&self, client_id: i64) -> Result<Vec<AgentStatusRow>, TacticalError> {
        self.get_json("agents", &[("client", client_id.to_string())], "GET /agents/?client=").await
    }

    async fn probe(&self) -> Result<(), TacticalError> {
        let bytes = self.call(Method::GET, "", &[], None, true).await?;
        let v: serde_json::Value = decode(&bytes, "GET /")?;
        if v.get("status").and_then(|s| s.as_str()) == Some("ok") {
            Ok(())
        } else {
            Err(TacticalError::Decode { what: "GET /", detail: "expected {\"status\":\"ok\"}".into() })
        }
    }

    async fn check_creds(&self, username: &str, password: &SecretString) -> Result<CheckCreds, TacticalError> {
        let body = serde_json::json!({"username": username, "password": password.expose_secret()});
        match self.call(Method::POST, "v2/checkcreds", &[], Some(&body), false).await {
            Ok(bytes) => {
                let b: CheckCredsBody = decode(&bytes, "POST /v2/checkcreds/")?;
                match (b.totp, b.token) {
                    (true, _) => Ok(CheckCreds::TotpRequired),
                    (false, Some(t)) => Ok(CheckCreds::Token { token: SecretString::from(t), expiry: b.expiry }),
                    (false, None) => Err(TacticalError::Decode {
                        what: "POST /v2/checkcreds/",
                        detail: "no token and no totp".into(),
                    }),
                }
            }
            Err(TacticalError::Rejected { status: 400, .. }) => Err(TacticalError::BadCredentials),
            Err(e) => Err(e),
        }
    }

    async fn login(&self, username: &str, password: &SecretString, totp: &str) -> Result<KnoxLogin, TacticalError> {
        let body = serde_json::json!({"username": username, "password": password.expose_secret(), "twofactor": totp});
        match self.call(Method::POST, "v2/login", &[], Some(&body), false).await {
            Ok(bytes) => {
                let b: KnoxLoginBody = decode(&bytes, "POST /v2/login/")?;
                Ok(KnoxLogin { token: SecretString::from(b.token), expiry: b.expiry })
            }
            Err(TacticalError::Rejected { status: 400, .. }) => Err(TacticalError::BadCredentials),
            Err(e) => Err(e),
        }
    }

    async fn clients(&self) -> Result<Vec<Client>, TacticalError> {
        self.get_json("clients", &[], "GET /clients/").await
    }

    async fn beta_agents_page(&self, q: &BetaAgentQuery) -> Result<BetaPage<BetaAgent>, TacticalError> {
        let mut query =
            vec![("page", q.page.max(1).to_string()), ("page_size", q.page_size.clamp(1, 1000).to_string())];
        if let Some(c) = q.client_id {
            query.push(("client_id", c.to_string()));
        }
        if let Some(s) = q.site {
            query.push(("site", s.to_string()));
        }
        if let Some(h) = &q.hostname {
            query.push(("hostname", h.clone()));
        }
        if let Some(term) = &q.search {
            query.push(("search", term.clone()));
        }
        // Read as it arrives: a page of Windows rows weighs ~150 KB a row (services, WMI), and
        // the heavy fields are dropped row by row (see `BetaAgent`).
        // Attempts count the whole read: a body that breaks is retried like a failed request.
        let (path, timeout) = ("beta/v1/agent", self.request_timeout);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match self.open_stream_once(path, &query, timeout).await {
                Ok(resp) => read_beta_page(resp, timeout).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(page) => return Ok(page),
                Err(e) => self.wait_before_retry(path, attempt, true, e).await?,
            }
        }
    }

    async fn agents_slim(&self, client_id: Option<i64>) -> Result<Vec<AgentSlim>, TacticalError> {
        let mut query = vec![("detail", "false".to_owned())];
        if let Some(c) = client_id {
            query.push(("client", c.to_string()));
        }
        self.get_json("agents", &query, "GET /agents/?detail=false").await
    }

    async fn agent(&self, agent_id: &str) -> Result<AgentDetail, TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>")?;
        self.get_json(&format!("agents/{agent_id}"), &[], "GET /agents/<agent_id>/").await
    }

    async fn agent_row(&self, agent_id: &str) -> Result<BetaAgent, TacticalError> {
        if agent_id.len() < 21 || agent_id.contains('/') {
            return Err(TacticalError::NotFound {
                path: "agents/<agent_id>".into(),
                detail: Some("agent ids have at least 21 characters".into()),
            });
        }
        self.get_json(&format!("agents/{agent_id}"), &[], "GET /agents/<agent_id>/").await
    }

    async fn logout(&self) -> Result<(), TacticalError> {
        self.call(Method::POST, "logout", &[], None, false).await.map(|_| ())
    }

    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, TacticalError> {
        let body = serde_json::to_value(filter).unwrap_or_default();
        // A listing: safe to retry although it is a PATCH.
        let bytes = self.call(Method::PATCH, "alerts", &[], Some(&body), true).await?;
        decode(&bytes, "PATCH /alerts/")
    }

    async fn alert(&self, id: i64) -> Result<Alert, TacticalError> {
        self.get_json(&format!("alerts/{id}"), &[], "GET /alerts/<id>/").await
    }

    async fn change_alert(&self, id: i64, change: AlertChange) -> Result<(), TacticalError> {
        let mut body = serde_json::json!({ "type": change.kind() });
        if let AlertChange::Snooze { days } = change {
            body["snooze_days"] = serde_json::json!(days);
        }
        let bytes = self.call(Method::PUT, &format!("alerts/{id}"), &[], Some(&body), false).await?;
        expect_ok(&bytes, "PUT /alerts/<id>/")
    }

    async fn change_alerts_bulk(&self, ids: &[i64], change: AlertChange) -> Result<(), TacticalError> {
        let mut body = serde_json::json!({ "bulk_action": change.kind(), "alerts": ids });
        match change {
            AlertChange::Snooze { days } => body["snooze_days"] = serde_json::json!(days),
            AlertChange::Unsnooze => {
                return Err(TacticalError::Rejected { status: 400, message: "Tactical has no bulk unsnooze".into() });
            }
            AlertChange::Resolve => {}
        }
        let bytes = self.call(Method::POST, "alerts/bulk", &[], Some(&body), false).await?;
        expect_ok(&bytes, "POST /alerts/bulk/")
    }

    async fn agent_history(&self, agent_id: &str) -> Result<Vec<HistoryRow>, TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>/history")?;
        self.get_json(&format!("agents/{agent_id}/history"), &[], "GET /agents/<agent_id>/history/").await
    }

    async fn software_for(&self, agent_id: &str) -> Result<Option<Vec<SoftwareItem>>, TacticalError> {
        check_agent_id(agent_id, "software/<agent_id>")?;
        let bytes = self.call(Method::GET, &format!("software/{agent_id}"), &[], None, true).await?;
        decode_software_answer(&bytes)
    }

    async fn software_all(&self) -> Result<SoftwareRows, TacticalError> {
        Ok(software_rows(self.open_stream("software", &[], SOFTWARE_ALL_TIMEOUT).await?))
    }

    async fn scripts(&self, include_community: bool) -> Result<Vec<Script>, TacticalError> {
        // Hidden scripts stay hidden, as in Tactical's own script picker.
        let query = [("showCommunityScripts", include_community.to_string())];
        self.get_json("scripts", &query, "GET /scripts/").await
    }

    // Remote actions are not idempotent: never retried (`idempotent: false`).

    async fn run_command(&self, agent_id: &str, req: &RunCommand) -> Result<ActionOutput, TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>")?;
        let body = serde_json::json!({
            "shell": req.shell,
            "cmd": req.cmd,
            "timeout": req.timeout,
            "run_as_user": req.run_as_user,
            "custom_shell": req.custom_shell,
        });
        let path = format!("agents/{agent_id}/cmd");
        let bytes = self
            .call_within(Method::POST, &path, &[], Some(&body), false, action_http_timeout(req.timeout))
            .await
            .map_err(agent_failure)?;
        // A command's own output could be "timeout"; Tactical turns its timeout into a 400.
        let text = agent_reply(&bytes, "POST /agents/<agent_id>/cmd/", false)?;
        Ok(bound_output(text, MAX_ACTION_OUTPUT))
    }

    async fn run_script(&self, agent_id: &str, req: &RunScript) -> Result<ScriptRun, TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>")?;
        let body = serde_json::json!({
            "script": req.script_id,
            "output": if req.wait { "wait" } else { "forget" },
            "args": req.args,
            "env_vars": req.env_vars,
            "timeout": req.timeout,
            "run_as_user": req.run_as_user,
        });
        let path = format!("agents/{agent_id}/runscript");
        let timeout = if req.wait { action_http_timeout(req.timeout) } else { self.request_timeout };
        let bytes =
            self.call_within(Method::POST, &path, &[], Some(&body), false, timeout).await.map_err(agent_failure)?;
        let text = agent_reply(&bytes, "POST /agents/<agent_id>/runscript/", req.wait)?;
        Ok(if req.wait {
            ScriptRun::Completed(bound_output(text, MAX_ACTION_OUTPUT))
        } else {
            ScriptRun::Accepted { message: text.chars().take(300).collect() }
        })
    }

    async fn reboot(&self, agent_id: &str) -> Result<(), TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>")?;
        let path = format!("agents/{agent_id}/reboot");
        let bytes = self.call(Method::POST, &path, &[], None, false).await.map_err(agent_failure)?;
        agent_reply(&bytes, "POST /agents/<agent_id>/reboot/", true)?;
        Ok(())
    }

    async fn reboot_at(&self, agent_id: &str, datetime: &str) -> Result<ScheduledReboot, TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>")?;
        let path = format!("agents/{agent_id}/reboot");
        let body = serde_json::json!({ "datetime": datetime });
        let bytes = self.call(Method::PATCH, &path, &[], Some(&body), false).await.map_err(agent_failure)?;
        decode(&bytes, "PATCH /agents/<agent_id>/reboot/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_on_a_character_boundary() {
        let out = bound_output("ab".into(), 10);
        assert_eq!((out.output.as_str(), out.truncated, out.output_bytes), ("ab", false, 2));
        let out = bound_output("aé".repeat(3), 4);
        assert_eq!((out.output.as_str(), out.truncated, out.output_bytes), ("aéa", true, 9));
    }

    #[test]
    fn tacticals_string_answers_are_typed() {
        let rejected = |m: &str| TacticalError::Rejected { status: 400, message: m.into() };
        assert!(matches!(agent_failure(rejected("Unable to contact the agent")), TacticalError::AgentUnreachable));
        assert!(matches!(agent_failure(rejected("natsdown")), TacticalError::BrokerDown));
        assert!(matches!(agent_failure(rejected("timeout")), TacticalError::AgentTimeout));
        assert!(
            matches!(agent_failure(rejected("Date cannot be set in the past")), TacticalError::Rejected { message, .. } if message == "Date cannot be set in the past")
        );
        assert!(matches!(agent_reply(br#""natsdown""#, "x", false), Err(TacticalError::BrokerDown)));
        assert!(matches!(agent_reply(br#""timeout""#, "x", true), Err(TacticalError::AgentTimeout)));
        assert_eq!(agent_reply(br#""timeout""#, "x", false).unwrap(), "timeout", "a command may print it");
        assert!(matches!(agent_reply(br#"{"a":1}"#, "x", false), Err(TacticalError::Decode { .. })));
    }

    #[test]
    fn waits_fit_below_the_function_timeout() {
        assert_eq!(action_http_timeout(30), Duration::from_secs(45));
        assert_eq!(action_http_timeout(3600), MAX_ACTION_WAIT);
        assert!(MAX_ACTION_WAIT < Duration::from_secs(330), "template.yaml gives remote-actions 330 s");
    }
}
