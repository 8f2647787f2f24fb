//! The tenant's Tactical instance URL: normalised once on save, then the only way to build a
//! Tactical URL: one builder for every call, always with the trailing slash Tactical requires
//! (docs/tactical-behaviour.md#trailing-slashes-and-redirects).

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
    #[error(
        "instance URL must use https: credentials are never sent over plain http (http is only for hosts on the development allow-list TACTICAL_HOST_ALLOWLIST)"
    )]
    InsecureScheme,
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

/// Addresses a tenant may never make us call (SSRF), whatever the on-premises allow-list says:
/// loopback, link-local (where cloud metadata services live), unspecified, broadcast, and the
/// metadata addresses themselves.
pub fn is_blocked_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // Alibaba Cloud's metadata address (inside CGNAT, but never an on-premises host).
                || v4.octets() == [100, 100, 100, 200]
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
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

/// Private ranges: RFC 1918, CGNAT (100.64.0.0/10), ULA (fc00::/7) and NAT64 (64:ff9b::/96,
/// 64:ff9b:1::/48), whose embedded IPv4 may be anything behind the translator. Refused unless
/// the host is on the on-premises allow-list: from a shared Lambda they reach the operator's
/// own network, not the tenant's.
pub fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1) {
                return true;
            }
            if let Some(v4) = embedded_ipv4(v6) {
                return is_private_ip(IpAddr::V4(v4));
            }
            (seg[0] & 0xfe00) == 0xfc00
        }
    }
}

/// The IPv4 address carried by an IPv4-mapped (`::ffff:a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`)
/// address, which reach that IPv4 host.
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let seg = v6.segments();
    (seg[0] == 0x2002).then(|| {
        let [a, b] = seg[1].to_be_bytes();
        let [c, d] = seg[2].to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    })
}

/// Which instance addresses are allowed: `dev_hosts` (local development, e.g. the simulator on
/// loopback) lift every address rule and the https rule; `private_hosts` (an on-premises Tactical
/// reached through a VPC) lift only the private-range rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    pub dev_hosts: Vec<String>,
    pub private_hosts: Vec<String>,
}

impl AddressPolicy {
    /// Whether a connection to `ip` for the URL host `host` is allowed.
    pub fn allows(&self, host: &str, ip: IpAddr) -> bool {
        if host_allowed(host, &self.dev_hosts) {
            return true;
        }
        if is_blocked_ip(ip) {
            return false;
        }
        !is_private_ip(ip) || host_allowed(host, &self.private_hosts)
    }

    /// Credentials travel over https only, except to development hosts.
    pub fn check_scheme(&self, url: &InstanceUrl) -> Result<(), InstanceUrlError> {
        if url.as_str().starts_with("https://") || host_allowed(&url.host(), &self.dev_hosts) {
            Ok(())
        } else {
            Err(InstanceUrlError::InsecureScheme)
        }
    }
}

/// Whether `host` is on an allow-list (exact, case-insensitive).
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
            "2002:7f00:1::",
            "100.100.100.200",
        ] {
            assert!(is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["203.0.113.5", "10.1.2.3", "2001:db8::1"] {
            assert!(!is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn private_ranges_are_refused_unless_on_the_premises_list() {
        let private = [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.10",
            "100.64.0.1",
            "100.127.255.254",
            "fc00::1",
            "fd12:3456::1",
            "64:ff9b::a00:1",
            "64:ff9b::cb00:7105",
            "64:ff9b:1::1",
            "::ffff:10.0.0.1",
            "2002:c0a8:0101::",
        ];
        let policy = AddressPolicy::default();
        for ip in private {
            assert!(is_private_ip(ip.parse().unwrap()), "{ip}");
            assert!(!policy.allows("tactical.corp", ip.parse().unwrap()), "{ip}");
        }
        for ip in ["203.0.113.5", "172.32.0.1", "100.128.0.1", "2001:db8::1", "fe00::1", "8.8.8.8"] {
            assert!(!is_private_ip(ip.parse().unwrap()), "{ip}");
            assert!(policy.allows("tactical.example.com", ip.parse().unwrap()), "{ip}");
        }
        let onprem = AddressPolicy { private_hosts: vec!["tactical.corp".into()], ..Default::default() };
        assert!(onprem.allows("tactical.corp", "10.1.2.3".parse().unwrap()));
        assert!(!onprem.allows("other.corp", "10.1.2.3".parse().unwrap()));
        // The on-premises list never opens loopback or the metadata service.
        assert!(!onprem.allows("tactical.corp", "127.0.0.1".parse().unwrap()));
        assert!(!onprem.allows("tactical.corp", "169.254.169.254".parse().unwrap()));
        let dev = AddressPolicy { dev_hosts: vec!["127.0.0.1".into()], ..Default::default() };
        assert!(dev.allows("127.0.0.1", "127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn http_is_only_for_development_hosts() {
        let dev = AddressPolicy { dev_hosts: vec!["127.0.0.1".into()], private_hosts: vec!["tactical.corp".into()] };
        assert!(dev.check_scheme(&InstanceUrl::parse("https://api.example.com").unwrap()).is_ok());
        assert!(dev.check_scheme(&InstanceUrl::parse("http://127.0.0.1:8000").unwrap()).is_ok());
        for raw in ["http://api.example.com", "http://tactical.corp", "HTTP://127.0.0.2"] {
            assert_eq!(
                dev.check_scheme(&InstanceUrl::parse(raw).unwrap()),
                Err(InstanceUrlError::InsecureScheme),
                "{raw}"
            );
        }
    }

    #[test]
    fn allowlist_matches_exact_hosts() {
        let list = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        assert!(host_allowed("LOCALHOST", &list));
        assert!(!host_allowed("localhost.evil.com", &list));
    }
}
