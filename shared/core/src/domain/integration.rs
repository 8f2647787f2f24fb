//! rmm_integrations: one Tactical connection per tenant (provider `tacticalrmm`).

use crate::tactical::InstanceUrl;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

pub const PROVIDER: &str = "tacticalrmm";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    ApiKey,
    Knox,
}

/// A recurring sync. Interval bounds follow the original's settings (alerts 5–60 min, devices
/// 15–1440 min); clients and software use the device bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub enabled: bool,
    pub interval_minutes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    AlertPolling,
    DeviceSync,
    ClientSync,
    SoftwareSync,
    /// Live status (light listings, transitions only); runs on the devices queue without a run.
    StatusRefresh,
}

impl ScheduleKind {
    pub const ALL: [ScheduleKind; 5] = [
        ScheduleKind::AlertPolling,
        ScheduleKind::DeviceSync,
        ScheduleKind::ClientSync,
        ScheduleKind::SoftwareSync,
        ScheduleKind::StatusRefresh,
    ];

    pub fn attribute(self) -> &'static str {
        match self {
            ScheduleKind::AlertPolling => "alert_polling",
            ScheduleKind::DeviceSync => "device_sync",
            ScheduleKind::ClientSync => "client_sync",
            ScheduleKind::SoftwareSync => "software_sync",
            ScheduleKind::StatusRefresh => "status_refresh",
        }
    }

    pub fn bounds(self) -> (u32, u32) {
        match self {
            ScheduleKind::AlertPolling => (5, 60),
            ScheduleKind::StatusRefresh => (1, 60),
            _ => (15, 1440),
        }
    }

    pub fn default_schedule(self) -> Schedule {
        match self {
            ScheduleKind::AlertPolling => Schedule { enabled: true, interval_minutes: 15 },
            ScheduleKind::DeviceSync => Schedule { enabled: true, interval_minutes: 60 },
            ScheduleKind::ClientSync => Schedule { enabled: true, interval_minutes: 1440 },
            ScheduleKind::SoftwareSync => Schedule { enabled: true, interval_minutes: 1440 },
            ScheduleKind::StatusRefresh => Schedule { enabled: true, interval_minutes: 5 },
        }
    }

    pub fn sync_type(self) -> crate::messages::SyncType {
        use crate::messages::SyncType;
        match self {
            ScheduleKind::AlertPolling => SyncType::Alerts,
            ScheduleKind::DeviceSync => SyncType::Devices,
            ScheduleKind::ClientSync => SyncType::Clients,
            ScheduleKind::SoftwareSync => SyncType::Software,
            // Not a run: the scheduler sends it as a `status_refresh` message on this queue.
            ScheduleKind::StatusRefresh => SyncType::Devices,
        }
    }
}

/// The stored connection. Credentials are not here: they live in Secrets Manager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RmmIntegration {
    pub tenant: TenantId,
    #[serde(default = "provider")]
    pub provider: String,
    #[serde(default)]
    pub instance_url: Option<InstanceUrl>,
    #[serde(default)]
    pub auth_mode: Option<AuthMode>,
    #[serde(default)]
    pub is_active: bool,
    #[serde(default)]
    pub connected_at: Option<String>,
    #[serde(default)]
    pub disconnected_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Knox token expired or was refused: a person must test the connection again (with TOTP).
    #[serde(default)]
    pub reauth_required: bool,
    #[serde(default)]
    pub last_sync_at: Option<String>,
    #[serde(default)]
    pub sync_status: Option<String>,
    #[serde(default)]
    pub sync_error: Option<String>,
    #[serde(default)]
    pub alert_polling: Option<Schedule>,
    #[serde(default)]
    pub device_sync: Option<Schedule>,
    #[serde(default)]
    pub client_sync: Option<Schedule>,
    #[serde(default)]
    pub software_sync: Option<Schedule>,
    #[serde(default)]
    pub status_refresh: Option<Schedule>,
    /// The Knox token's expiry as Tactical issued it (Tactical extends it by use: 5 h idle).
    #[serde(default)]
    pub knox_token_expires_at: Option<String>,
    /// Until when the webhook secret before the last rotation is still accepted.
    #[serde(default)]
    pub webhook_previous_valid_until: Option<String>,
    /// Changes on every rotation of the webhook secret.
    #[serde(default)]
    pub webhook_secret_version: Option<String>,
    /// What the webhook verifies deliveries against (it reads no secret). `None` on an item
    /// written before digests existed, until a function that reads the secret records them.
    #[serde(default)]
    pub webhook_digests: Option<WebhookDigests>,
    /// The last device run, when it succeeded: its per-page hashes let the next run skip reading
    /// unchanged assets. Cleared by a run that did not succeed (its pages are not all known).
    #[serde(default)]
    pub last_complete_device_run: Option<String>,
    /// When each sync type last started (for the scheduler).
    #[serde(default)]
    pub last_started_clients: Option<String>,
    #[serde(default)]
    pub last_started_devices: Option<String>,
    #[serde(default)]
    pub last_started_alerts: Option<String>,
    #[serde(default)]
    pub last_started_software: Option<String>,
    /// When the scheduler last queued a status refresh.
    #[serde(default)]
    pub last_started_status: Option<String>,
}

/// SHA-256 digests (hex) of the webhook secrets a delivery may present: the current one and the
/// one before the last rotation, the latter accepted only until `webhook_previous_valid_until`.
/// Both `None`: the tenant has no webhook secret (never created, or disconnected).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDigests {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

fn provider() -> String {
    PROVIDER.to_owned()
}

impl RmmIntegration {
    pub fn schedule(&self, kind: ScheduleKind) -> Schedule {
        let s = match kind {
            ScheduleKind::AlertPolling => self.alert_polling,
            ScheduleKind::DeviceSync => self.device_sync,
            ScheduleKind::ClientSync => self.client_sync,
            ScheduleKind::SoftwareSync => self.software_sync,
            ScheduleKind::StatusRefresh => self.status_refresh,
        };
        s.unwrap_or_else(|| kind.default_schedule())
    }

    pub fn last_started(&self, st: crate::messages::SyncType) -> Option<&str> {
        use crate::messages::SyncType;
        match st {
            SyncType::Clients => self.last_started_clients.as_deref(),
            SyncType::Devices => self.last_started_devices.as_deref(),
            SyncType::Alerts => self.last_started_alerts.as_deref(),
            SyncType::Software => self.last_started_software.as_deref(),
        }
    }

    /// Ready to do work: configured and active (a disconnected integration refuses work, with
    /// the reason).
    pub fn ensure_active(&self) -> Result<(), crate::ApiError> {
        use crate::{ApiError, ErrorCode};
        if self.instance_url.is_none() || self.auth_mode.is_none() {
            return Err(ApiError::new(
                ErrorCode::IntegrationNotConfigured,
                "Tactical RMM is not configured for this tenant; save the instance URL and credentials first",
            ));
        }
        if !self.is_active {
            return Err(ApiError::new(
                ErrorCode::IntegrationInactive,
                "the Tactical RMM integration is disconnected or inactive; test the connection to activate it",
            ));
        }
        Ok(())
    }
}

/// A partial update: only `Some` fields are written, so saving credentials never wipes schedules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntegrationPatch {
    pub instance_url: Option<InstanceUrl>,
    pub auth_mode: Option<AuthMode>,
    pub is_active: Option<bool>,
    pub connected_at: Option<Option<String>>,
    pub disconnected_at: Option<Option<String>>,
    pub reauth_required: Option<bool>,
    pub last_sync_at: Option<String>,
    pub sync_status: Option<String>,
    pub sync_error: Option<Option<String>>,
    pub schedules: Vec<(ScheduleKind, Schedule)>,
    pub last_started: Vec<(String, String)>,
    pub webhook_previous_valid_until: Option<Option<String>>,
    pub webhook_secret_version: Option<String>,
    pub webhook_digests: Option<WebhookDigests>,
    /// Write only if the item exists and has no `webhook_digests` yet (a backfill must never
    /// overwrite what a rotation or a disconnect wrote meanwhile); else `ConditionFailed`.
    pub only_without_webhook_digests: bool,
    pub knox_token_expires_at: Option<Option<String>>,
    pub last_complete_device_run: Option<Option<String>>,
}
