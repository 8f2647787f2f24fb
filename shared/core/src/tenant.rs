//! Tenant identifiers. Every DynamoDB key and secret name starts with one, so the format is strict.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A validated tenant id: 1–64 characters of `[A-Za-z0-9_-]`, starting with a letter or digit.
/// The `#` and `/` used as key and secret-name separators can never appear inside it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("tenant id must be 1-64 characters of letters, digits, '-' or '_' and start with a letter or digit")]
pub struct InvalidTenantId;

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, InvalidTenantId> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.as_bytes()[0].is_ascii_alphanumeric()
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(Self(raw.to_owned())) } else { Err(InvalidTenantId) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenantId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_and_slugs() {
        assert!(TenantId::parse("3f1c2a9e-7d1b-4c57-9a0e-0b8d6f1e2a11").is_ok());
        assert!(TenantId::parse("acme_msp").is_ok());
    }

    #[test]
    fn refuses_separators_and_empty() {
        for bad in ["", "a#b", "a/b", "-lead", "x".repeat(65).as_str(), "ä"] {
            assert_eq!(TenantId::parse(bad), Err(InvalidTenantId), "{bad:?}");
        }
    }
}
