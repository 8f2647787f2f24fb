//! rmm_organization_mappings: one per Tactical client. Sync writes the Tactical side; a person
//! sets the PSA side (client_id, auto_sync_assets, default_contact_id), which sync never touches.

use crate::error::ApiError;
use crate::tactical::types::Client;
use crate::tenant::TenantId;
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedSite {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub agent_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgMapping {
    pub tenant: TenantId,
    /// Tactical client id (the original keeps it as text).
    pub external_organization_id: String,
    pub external_organization_name: String,
    #[serde(default)]
    pub sites: Vec<MappedSite>,
    #[serde(default)]
    pub agent_count: i64,
    /// PSA client the organization's assets belong to; set by a person.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default = "yes")]
    pub auto_sync_assets: bool,
    #[serde(default)]
    pub default_contact_id: Option<String>,
    /// Set when the client is gone from Tactical; the mapping is flagged, never deleted.
    #[serde(default)]
    pub missing_since: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub last_synced_at: Option<String>,
}

fn yes() -> bool {
    true
}

impl OrgMapping {
    pub fn tactical_client_id(&self) -> Option<i64> {
        self.external_organization_id.parse().ok()
    }

    /// Devices of this organization are synced: a PSA client is assigned, auto-sync is on, and
    /// the client still exists in Tactical.
    pub fn syncs_devices(&self) -> bool {
        self.client_id.is_some() && self.auto_sync_assets && self.missing_since.is_none()
    }

    pub fn site_name(&self, site_id: Option<i64>) -> Option<&str> {
        let id = site_id?;
        self.sites.iter().find(|s| s.id == id).map(|s| s.name.as_str())
    }
}

/// The Tactical-owned part of a mapping, as a sync computes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TacticalOrg {
    pub external_organization_id: String,
    pub external_organization_name: String,
    pub sites: Vec<MappedSite>,
    pub agent_count: i64,
}

impl From<&Client> for TacticalOrg {
    fn from(c: &Client) -> Self {
        let mut sites: Vec<MappedSite> = c
            .sites
            .iter()
            .map(|s| MappedSite { id: s.id, name: s.name.clone(), agent_count: s.agent_count.unwrap_or(0) })
            .collect();
        sites.sort_by_key(|s| s.id);
        Self {
            external_organization_id: c.id.to_string(),
            external_organization_name: c.name.clone(),
            agent_count: c.agent_count.unwrap_or_else(|| sites.iter().map(|s| s.agent_count).sum()),
            sites,
        }
    }
}

impl TacticalOrg {
    pub fn differs_from(&self, m: &OrgMapping) -> bool {
        self.external_organization_name != m.external_organization_name
            || self.sites != m.sites
            || self.agent_count != m.agent_count
            || m.missing_since.is_some()
    }
}

/// Distinguishes an absent field from an explicit `null` (which clears the value).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::<T>::deserialize(d)?))
}

/// A person's edit of one mapping: a validated partial update.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingPatch {
    #[serde(default, deserialize_with = "double_option")]
    pub client_id: Option<Option<String>>,
    pub auto_sync_assets: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    pub default_contact_id: Option<Option<String>>,
}

fn check_id(field: &str, v: &Option<String>) -> Result<(), ApiError> {
    if let Some(s) = v {
        let ok = !s.trim().is_empty() && s.len() <= 128 && s.chars().all(|c| !c.is_control());
        if !ok {
            return Err(ApiError::validation(
                field,
                format!("{field} must be 1-128 printable characters, or null to clear it"),
            ));
        }
    }
    Ok(())
}

impl MappingPatch {
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.client_id.is_none() && self.auto_sync_assets.is_none() && self.default_contact_id.is_none() {
            return Err(ApiError::validation(
                "body",
                "name at least one of client_id, auto_sync_assets, default_contact_id",
            ));
        }
        if let Some(v) = &self.client_id {
            check_id("client_id", v)?;
        }
        if let Some(v) = &self.default_contact_id {
            check_id("default_contact_id", v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_json;

    #[test]
    fn null_clears_and_absent_keeps() {
        let p: MappingPatch = parse_json(br#"{"client_id": null}"#).unwrap();
        assert_eq!(p.client_id, Some(None));
        assert_eq!(p.default_contact_id, None);
        p.validate().unwrap();
    }

    #[test]
    fn bad_fields_are_named() {
        let e = parse_json::<MappingPatch>(br#"{"auto_sync_assets": "yes"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("auto_sync_assets"));
        let p: MappingPatch = parse_json(br#"{"client_id": "  "}"#).unwrap();
        assert_eq!(p.validate().unwrap_err().field.as_deref(), Some("client_id"));
        assert_eq!(parse_json::<MappingPatch>(b"{}").unwrap().validate().unwrap_err().field.as_deref(), Some("body"));
    }
}
