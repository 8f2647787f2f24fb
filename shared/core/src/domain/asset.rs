//! Assets (one per agent per tenant) and their external entity mappings.

use super::status::{AgentStatus, agent_status};
use super::time::{parse_rfc3339, to_rfc3339};
use super::vitals::{Vitals, clean, from_wmi};
use crate::tactical::types::BetaAgent;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub const INTEGRATION_TYPE: &str = "tacticalrmm";

/// Asset ids are derived from (tenant, agent_id): every worker that sees the agent computes the
/// same id, so concurrent or repeated syncs can never create a second asset for it, and an agent
/// moved to another Tactical client keeps its asset.
pub fn asset_id_for(tenant: &TenantId, agent_id: &str) -> String {
    const NS: uuid::Uuid = uuid::Uuid::from_u128(0x6b1f_3c2e_9a47_4d0b_8e55_2f1a_7c3d_9e01);
    uuid::Uuid::new_v5(&NS, format!("{tenant}:{INTEGRATION_TYPE}:{agent_id}").as_bytes()).to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub tenant: TenantId,
    pub asset_id: String,
    pub asset_tag: String,
    pub name: String,
    /// `server` or `workstation`, from `monitoring_type`, re-evaluated every sync.
    pub asset_type: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub os_type: Option<String>,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub agent_version: Option<String>,
    pub rmm_provider: String,
    pub rmm_device_id: String,
    pub rmm_organization_id: String,
    #[serde(default)]
    pub site_id: Option<i64>,
    pub tags: Vec<String>,
    /// The status Tactical last reported (never recomputed from an old `last_seen_at`).
    pub agent_status: AgentStatus,
    #[serde(default)]
    pub last_seen_at: Option<String>,
    /// When `agent_status` was last observed (written with it).
    #[serde(default)]
    pub status_as_of: Option<String>,
    /// When the status last changed, as observed.
    #[serde(default)]
    pub status_changed_at: Option<String>,
    #[serde(default)]
    pub offline_time: Option<i64>,
    #[serde(default)]
    pub overdue_time: Option<i64>,
    #[serde(default)]
    pub vitals: Vitals,
    #[serde(default)]
    pub missing_since: Option<String>,
    #[serde(default)]
    pub last_rmm_sync_at: Option<String>,
    #[serde(default)]
    pub last_sync_run: Option<String>,
    /// Hash of the synced fields: an unchanged agent costs no write.
    #[serde(default)]
    pub sync_hash: String,
    #[serde(default)]
    pub created_at: Option<String>,
}

impl Asset {
    pub fn uptime_seconds(&self, now: OffsetDateTime) -> Option<i64> {
        self.vitals.boot_time.map(|b| now.unix_timestamp().saturating_sub(b).max(0))
    }
}

/// What a sync needs to know of a stored asset (change detection, missing flags): a projection
/// of [`Asset`] without its vitals.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AssetState {
    pub asset_id: String,
    pub rmm_organization_id: String,
    #[serde(default)]
    pub site_id: Option<i64>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub sync_hash: String,
    #[serde(default)]
    pub missing_since: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub last_sync_run: Option<String>,
    #[serde(default)]
    pub agent_status: Option<AgentStatus>,
    #[serde(default)]
    pub status_as_of: Option<String>,
    #[serde(default)]
    pub status_changed_at: Option<String>,
}

impl AssetState {
    /// The stored attributes it is read from.
    pub const ATTRIBUTES: [&str; 11] = [
        "asset_id",
        "rmm_organization_id",
        "site_id",
        "location",
        "sync_hash",
        "missing_since",
        "created_at",
        "last_sync_run",
        "agent_status",
        "status_as_of",
        "status_changed_at",
    ];
}

/// What the organization mapping contributes to an agent's asset.
pub struct OrgContext<'a> {
    pub tactical_client_id: i64,
    pub psa_client_id: Option<&'a str>,
    pub site_name: Option<&'a str>,
}

/// Builds the asset for a beta agent row (hash included; run bookkeeping left to the caller).
pub fn asset_from_agent(tenant: &TenantId, a: &BetaAgent, org: &OrgContext<'_>, now: OffsetDateTime) -> Asset {
    let last_seen = a.last_seen.as_deref().and_then(parse_rfc3339);
    let (lan_ips, serial, make_model) = from_wmi(a.wmi_detail.as_ref());
    let vitals = Vitals {
        current_user: clean(a.logged_in_username.as_deref()),
        // `as` saturates a float beyond i64: a hostile boot time cannot wrap.
        #[allow(clippy::cast_possible_truncation)]
        boot_time: a.boot_time.filter(|b| b.is_finite() && *b > 0.0).map(|b| b as i64),
        lan_ips,
        wan_ip: clean(a.public_ip.as_deref()),
        serial_number: serial,
        make_model,
        total_ram_gb: a.total_ram,
        needs_reboot: a.needs_reboot,
    };
    let asset_type = match a.monitoring_type.as_deref() {
        Some("server") => "server",
        _ => "workstation",
    }
    .to_owned();
    let org_id = org.tactical_client_id.to_string();
    let mut asset = Asset {
        tenant: tenant.clone(),
        asset_id: asset_id_for(tenant, &a.agent_id),
        asset_tag: format!("tactical:{}", a.agent_id),
        name: if a.hostname.trim().is_empty() { a.agent_id.clone() } else { a.hostname.trim().to_owned() },
        asset_type,
        client_id: org.psa_client_id.map(str::to_owned),
        location: org.site_name.map(str::to_owned),
        os_type: a.plat.clone(),
        os_version: clean(a.operating_system.as_deref()),
        platform: a.goarch.clone(),
        agent_version: clean(a.version.as_deref()),
        rmm_provider: INTEGRATION_TYPE.into(),
        rmm_device_id: a.agent_id.clone(),
        rmm_organization_id: org_id.clone(),
        site_id: a.site,
        tags: vec![
            format!("rmm_provider={INTEGRATION_TYPE}"),
            format!("tactical_agent_id={}", a.agent_id),
            format!("tactical_organization_id={org_id}"),
        ],
        // The beta rows carry no status: Tactical's own rule at the time of the answer.
        agent_status: agent_status(last_seen, a.offline_time, a.overdue_time, now),
        last_seen_at: last_seen.map(to_rfc3339),
        status_as_of: Some(to_rfc3339(now)),
        status_changed_at: None,
        offline_time: a.offline_time,
        overdue_time: a.overdue_time,
        vitals,
        missing_since: None,
        last_rmm_sync_at: None,
        last_sync_run: None,
        sync_hash: String::new(),
        created_at: None,
    };
    asset.sync_hash = sync_hash(&asset);
    asset
}

/// Hash of everything a sync writes except its own bookkeeping and what moves on every
/// check-in (`last_seen_at`, the observation times): an online agent that keeps checking in
/// hashes the same, so an hourly sync writes only agents whose inventory or status changed.
pub fn sync_hash(a: &Asset) -> String {
    hash_of(a, true)
}

/// [`sync_hash`] without the status: what the device sync compares while the status refresh owns
/// the status, so a status change alone costs the device sync no write.
pub fn inventory_hash(a: &Asset) -> String {
    hash_of(a, false)
}

fn hash_of(a: &Asset, with_status: bool) -> String {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        if !with_status {
            o.remove("agent_status");
        }
        for k in [
            "sync_hash",
            "last_rmm_sync_at",
            "last_sync_run",
            "created_at",
            "missing_since",
            "last_seen_at",
            "status_as_of",
            "status_changed_at",
        ] {
            o.remove(k);
        }
    }
    let digest = Sha256::digest(v.to_string().as_bytes());
    hex::encode(&digest[..12])
}

/// tenant_external_entity_mappings: the agent ↔ asset link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalEntityMapping {
    pub tenant: TenantId,
    pub integration_type: String,
    pub alga_entity_type: String,
    pub alga_entity_id: String,
    pub external_entity_id: String,
    /// Tactical client id.
    pub external_realm_id: String,
    pub sync_status: String,
    pub last_synced_at: String,
    #[serde(default)]
    pub metadata: serde_json::Value,
}

impl ExternalEntityMapping {
    pub fn for_asset(a: &Asset, now: &str) -> Self {
        Self {
            tenant: a.tenant.clone(),
            integration_type: INTEGRATION_TYPE.into(),
            alga_entity_type: "asset".into(),
            alga_entity_id: a.asset_id.clone(),
            external_entity_id: a.rmm_device_id.clone(),
            external_realm_id: a.rmm_organization_id.clone(),
            sync_status: "synced".into(),
            last_synced_at: now.to_owned(),
            metadata: serde_json::json!({"site_id": a.site_id, "site_name": a.location}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn agent() -> BetaAgent {
        serde_json::from_value(serde_json::json!({
            "id": 54, "agent_id": "gdINOUXzJUGNddnBSRPsWGqLrrlIIrEJEkXGBvcL", "hostname": "WIN-GLOBEX-004",
            "site": 9, "monitoring_type": "server", "plat": "windows", "goarch": "amd64",
            "operating_system": "Windows 11 Pro", "version": "2.10.0",
            "last_seen": "2026-11-29T11:50:00.000000Z", "offline_time": 4, "overdue_time": 30,
            "boot_time": 1795263075.098179, "logged_in_username": "None", "public_ip": "203.0.113.13",
            "total_ram": 64, "wmi_detail": {"network_config": [[{"IPAddress": ["10.0.0.13"]}]]}
        }))
        .unwrap()
    }

    #[test]
    fn maps_an_agent_onto_an_asset() {
        let t = TenantId::parse("t1").unwrap();
        let now = datetime!(2026-11-29 12:00 UTC);
        let a = asset_from_agent(
            &t,
            &agent(),
            &OrgContext { tactical_client_id: 5, psa_client_id: Some("psa-1"), site_name: Some("HQ") },
            now,
        );
        assert_eq!(a.asset_type, "server");
        assert_eq!(a.agent_status, AgentStatus::Offline);
        assert_eq!(a.vitals.current_user, None, "\"None\" means nobody");
        assert_eq!(a.vitals.lan_ips, vec!["10.0.0.13"]);
        assert_eq!(a.uptime_seconds(now), Some(now.unix_timestamp() - 1795263075));
        assert_eq!(a.asset_id, asset_id_for(&t, "gdINOUXzJUGNddnBSRPsWGqLrrlIIrEJEkXGBvcL"));
        assert!(a.tags.contains(&"rmm_provider=tacticalrmm".to_owned()));
        assert_eq!(a.location.as_deref(), Some("HQ"));
    }

    #[test]
    fn the_hash_ignores_bookkeeping_but_sees_real_changes() {
        let t = TenantId::parse("t1").unwrap();
        let now = datetime!(2026-11-29 12:00 UTC);
        let org = OrgContext { tactical_client_id: 5, psa_client_id: None, site_name: None };
        let mut a = asset_from_agent(&t, &agent(), &org, now);
        let h = a.sync_hash.clone();
        a.last_rmm_sync_at = Some("x".into());
        assert_eq!(sync_hash(&a), h);
        let mut checked_in = agent();
        checked_in.last_seen = Some("2026-11-29T11:50:30.000000Z".into());
        let later = asset_from_agent(&t, &checked_in, &org, now + time::Duration::seconds(30));
        assert_eq!(
            (later.sync_hash.as_str(), later.agent_status),
            (h.as_str(), a.agent_status),
            "a check-in is no change"
        );
        let mut down = agent();
        down.last_seen = Some("2026-11-29T10:00:00.000000Z".into());
        let down = asset_from_agent(&t, &down, &org, now);
        assert_ne!(down.sync_hash, h, "a status change is one");
        assert_eq!(inventory_hash(&down), inventory_hash(&a), "but not to the inventory");
        let moved = asset_from_agent(&t, &agent(), &OrgContext { tactical_client_id: 6, ..org }, now);
        assert_ne!(moved.sync_hash, h);
        assert_eq!(moved.asset_id, a.asset_id, "a move keeps the asset");
    }

    #[test]
    fn ids_differ_per_tenant() {
        let a = asset_id_for(&TenantId::parse("a").unwrap(), "x".repeat(40).as_str());
        let b = asset_id_for(&TenantId::parse("b").unwrap(), "x".repeat(40).as_str());
        assert_ne!(a, b);
    }
}
