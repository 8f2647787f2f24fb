//! Ids and times as they cross the use case's boundary: an agent id is checked once, where the
//! input is read, and times are `OffsetDateTime` until they are written as RFC 3339.

use super::error::{ActionError, validation};
use crate::domain::time::to_rfc3339;
use serde::{Serialize, Serializer};
use std::fmt;
use time::OffsetDateTime;

/// A Tactical agent id of a validated input: 40 random letters today; Tactical's URL converter
/// wants at least 21 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AgentId(String);

impl AgentId {
    /// `field` names the input the id came from.
    pub fn parse(field: &str, id: String) -> Result<Self, ActionError> {
        check_agent_id(field, &id)?;
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn check_agent_id(field: &str, id: &str) -> Result<(), ActionError> {
    let ok = (21..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'|' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(validation(field, "not a Tactical agent id (21–128 letters, digits, '.', '_', ':', '|' or '-')"))
    }
}

/// `#[serde(serialize_with)]` for an optional time: RFC 3339 as everywhere in storage, or null.
pub(crate) fn rfc3339<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&to_rfc3339(*t)),
        None => s.serialize_none(),
    }
}
