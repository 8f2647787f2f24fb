//! The tenant's Tactical instance URL: normalised once on save, then the only way to build a
//! Tactical URL (pitfall 8: one builder for every call, always with the trailing slash).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceUrlError {
    #[error("instance URL is empty")]
    Empty,
    #[error("instance URL must use http or https, not {0}")]
    Scheme(String),
    #[error("instance URL is not a valid URL: {0}")]
    Malformed(String),
    #[error("instance URL must not contain a user name or password")]
    Credentials,
    #[error("instance URL must not contain a query string or fragment")]
    QueryOrFragment,
    #[error("instance URL must name a host")]
    NoHost,
}

/// A normalised base URL: scheme and host lower-cased, default https, no trailing slash, a bare
/// `/api` path removed, deeper paths (Tactical behind a reverse-proxy prefix) kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceUrl(String);

impl InstanceUrl {
    pub fn parse(raw: &str) -> Result<Self, InstanceUrlError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InstanceUrlError::Empty);
        }
        let with_scheme = if trimmed.contains("://") { trimmed.to_owned() } else { format!("https://{trimmed}") };
        let url = url::Url::parse(&with_scheme).map_err(|e| InstanceUrlError::Malformed(e.to_string()))?;
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(InstanceUrlError::Scheme(other.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InstanceUrlError::Credentials);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(InstanceUrlError::QueryOrFragment);
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or(InstanceUrlError::NoHost)?;
        let mut path = url.path().trim_end_matches('/').to_owned();
        if path.eq_ignore_ascii_case("/api") {
            path.clear();
        }
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        Ok(Self(format!("{}://{}{}{}", url.scheme(), host.to_ascii_lowercase(), port, path)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `https://api.example.com/prefix` + `agents` → `https://api.example.com/prefix/agents/`.
    /// Leading and trailing slashes of `path` do not matter; the result always ends with `/`.
    pub fn endpoint(&self, path: &str) -> String {
        let p = path.trim_matches('/');
        if p.is_empty() { format!("{}/", self.0) } else { format!("{}/{}/", self.0, p) }
    }

    /// The host part (without port), lower-case; IPv6 literals keep their brackets.
    pub fn host(&self) -> String {
        url::Url::parse(&self.0).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
    }
}

impl TryFrom<String> for InstanceUrl {
    type Error = InstanceUrlError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<InstanceUrl> for String {
    fn from(value: InstanceUrl) -> Self {
        value.0
    }
}

impl fmt::Display for InstanceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Addresses a tenant may not make us call (SSRF): loopback, link-local (where cloud metadata
/// services live), unspecified, and the metadata addresses themselves.
pub fn is_blocked_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // Alibaba Cloud's metadata address is not link-local.
                || v4.octets() == [100, 100, 100, 200]
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_blocked_ip(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (seg[0] & 0xffc0) == 0xfe80
                // AWS's IPv6 metadata endpoint fd00:ec2::254.
                || seg == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254]
        }
    }
}

/// Whether `host` is on the local-development allow-list (exact, case-insensitive).
pub fn host_allowed(host: &str, allowlist: &[String]) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    allowlist.iter().any(|a| a.trim_start_matches('[').trim_end_matches(']') == h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_the_forms_admins_paste() {
        let cases = [
            ("api.example.com", "https://api.example.com"),
            ("https://API.Example.com/", "https://api.example.com"),
            ("https://api.example.com/api", "https://api.example.com"),
            ("https://api.example.com/api/", "https://api.example.com"),
            ("https://example.com/tactical/api", "https://example.com/tactical/api"),
            ("https://example.com/rmm//", "https://example.com/rmm"),
            ("http://10.0.0.5:8000", "http://10.0.0.5:8000"),
            ("  https://api.example.com:443/  ", "https://api.example.com"),
        ];
        for (raw, want) in cases {
            assert_eq!(InstanceUrl::parse(raw).unwrap().as_str(), want, "{raw}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_base_url() {
        assert_eq!(InstanceUrl::parse(" "), Err(InstanceUrlError::Empty));
        assert!(matches!(InstanceUrl::parse("ftp://x"), Err(InstanceUrlError::Scheme(_))));
        assert_eq!(InstanceUrl::parse("https://u:p@x.com"), Err(InstanceUrlError::Credentials));
        assert_eq!(InstanceUrl::parse("https://x.com/?a=1"), Err(InstanceUrlError::QueryOrFragment));
        assert!(InstanceUrl::parse("https://").is_err());
    }

    #[test]
    fn endpoints_always_end_with_a_slash_and_keep_the_prefix() {
        let base = InstanceUrl::parse("https://example.com/rmm").unwrap();
        assert_eq!(base.endpoint("agents"), "https://example.com/rmm/agents/");
        assert_eq!(base.endpoint("/beta/v1/agent/"), "https://example.com/rmm/beta/v1/agent/");
        assert_eq!(base.endpoint(""), "https://example.com/rmm/");
    }

    #[test]
    fn blocks_loopback_link_local_and_metadata() {
        for ip in [
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "100.100.100.200",
        ] {
            assert!(is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["203.0.113.5", "10.1.2.3", "2001:db8::1"] {
            assert!(!is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn allowlist_matches_exact_hosts() {
        let list = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        assert!(host_allowed("LOCALHOST", &list));
        assert!(!host_allowed("localhost.evil.com", &list));
    }
}
