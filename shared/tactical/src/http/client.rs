//! The client of one Tactical instance: requests with timeouts, retries of idempotent calls within
//! the time left, and Tactical's errors classified.
use super::{ResolveError, decode, read_capped, unreachable_error};
use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use shared::tactical::Credentials;
use shared::tactical::TacticalError;
use shared::tactical::policy::*;
use shared::tactical::url::InstanceUrl;
use std::time::Duration;

/// A Tactical client for one tenant's instance and credentials.
#[derive(Clone)]
pub struct TacticalHttp {
    pub(super) http: reqwest::Client,
    pub(super) base: InstanceUrl,
    pub(super) creds: Credentials,
    pub(super) retry: RetryPolicy,
    pub(super) request_timeout: Duration,
}

/// The least time worth starting another attempt with.
pub(super) const MIN_ATTEMPT: Duration = Duration::from_secs(1);
/// Largest body we read into memory (a beta page of 1000 agents with WMI data is a few MB).
pub(super) const MAX_BODY: usize = 64 * 1024 * 1024;
/// Error answers are short pages or JSON details: only their start is read.
pub(super) const MAX_ERROR_BODY: usize = 64 * 1024;

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
pub(super) const SOFTWARE_ALL_TIMEOUT: Duration = Duration::from_secs(240);
/// Largest single agent row of `GET /software/` (thousands of programs are a few MB).
pub(super) const MAX_SOFTWARE_ROW: usize = 16 * 1024 * 1024;

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

    pub(super) async fn send(
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

    pub(super) async fn once(
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
    pub(super) fn transport_error(&self, e: reqwest::Error, timeout: Duration) -> TacticalError {
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
    pub(super) fn classify(path: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> TacticalError {
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
    pub(super) async fn call(
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
    pub(super) async fn call_within(
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
                        // 200 + HTML: the dashboard host, not the API. Never retried.
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
    pub(super) async fn wait_before_retry(
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
    pub(super) async fn open_stream(
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
    pub(super) async fn open_stream_once(
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

pub(super) fn backoff(p: &RetryPolicy, attempt: u32) -> Duration {
    let exp = p.base_delay.saturating_mul(1u32 << (attempt - 1).min(10));
    let capped = exp.min(p.max_delay);
    // Full jitter between half and all of the capped delay.
    let half = capped / 2;
    half + Duration::from_millis(rand::random_range(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1)))
}

pub(super) fn is_html(h: &HeaderMap) -> bool {
    h.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"))
}

pub(super) fn is_json(h: &HeaderMap) -> bool {
    h.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

pub(super) fn retry_after(h: &HeaderMap) -> Option<Duration> {
    h.get(RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Tactical's error bodies: a bare JSON string, `{"detail": ...}`, or a DRF field map.
pub(super) fn detail_of(body: &[u8]) -> Option<String> {
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
