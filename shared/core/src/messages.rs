//! Messages on the sync queues. One queue (and DLQ) per sync type; every message names its
//! tenant, and a worker re-checks that the tenant's integration exists and is active.

use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncType {
    Clients,
    Devices,
    Alerts,
    Software,
}

impl SyncType {
    pub const ALL: [SyncType; 4] = [SyncType::Clients, SyncType::Devices, SyncType::Alerts, SyncType::Software];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncType::Clients => "clients",
            SyncType::Devices => "devices",
            SyncType::Alerts => "alerts",
            SyncType::Software => "software",
        }
    }

    pub fn queue(self) -> QueueKind {
        match self {
            SyncType::Clients => QueueKind::SyncClients,
            SyncType::Devices => QueueKind::SyncDevices,
            SyncType::Alerts => QueueKind::SyncAlerts,
            SyncType::Software => QueueKind::SyncSoftware,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKind {
    SyncClients,
    SyncDevices,
    SyncAlerts,
    SyncSoftware,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Manual,
    Schedule,
    Webhook,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncMessage {
    /// Begin a run that was recorded (and locked) by whoever enqueued it.
    StartRun { tenant: TenantId, run_id: String, sync_type: SyncType, trigger: Trigger },
    /// One beta-API page of one Tactical client's agents (devices fan-out).
    DevicePage {
        tenant: TenantId,
        run_id: String,
        client_id: i64,
        page: u32,
        page_size: u32,
        /// The previous run, when it succeeded: its hashes of this page spare unchanged reads.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        baseline: Option<String>,
        /// The tenant had no asset when the run started: nothing to read before writing.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fresh: bool,
        /// The client's agent count page 1 saw (pages 2..): another count means agents were
        /// added or deleted while the run paged, so an agent may have slid to a page read before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
    },
    /// After a webhook: refresh the agent's asset, link the alert to it, and re-fetch the alert
    /// from Tactical when the body could not be read whole (never done on the request path).
    AlertFollowUp {
        tenant: TenantId,
        alert_key: String,
        alert_id: Option<i64>,
        agent_id: String,
        #[serde(default)]
        refetch: bool,
    },
    /// A live-status refresh of the tenant (devices queue): one light listing per mapped client,
    /// only transitions written and published. `refresh_id` names the request in logs.
    StatusRefresh { tenant: TenantId, refresh_id: String },
    /// Software ingest of one batch of agents (agent ids of the tenant's assets), numbered from 1.
    /// `part` > 0: the agents of that batch that failed transiently, retried on their own.
    SoftwareBatch {
        tenant: TenantId,
        run_id: String,
        batch: u32,
        #[serde(default)]
        part: u32,
        agent_ids: Vec<String>,
    },
}

impl SyncMessage {
    pub fn tenant(&self) -> &TenantId {
        match self {
            SyncMessage::StartRun { tenant, .. }
            | SyncMessage::DevicePage { tenant, .. }
            | SyncMessage::AlertFollowUp { tenant, .. }
            | SyncMessage::SoftwareBatch { tenant, .. }
            | SyncMessage::StatusRefresh { tenant, .. } => tenant,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_json() {
        let m = SyncMessage::StartRun {
            tenant: TenantId::parse("t1").unwrap(),
            run_id: "r".into(),
            sync_type: SyncType::Devices,
            trigger: Trigger::Schedule,
        };
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(s, r#"{"type":"start_run","tenant":"t1","run_id":"r","sync_type":"devices","trigger":"schedule"}"#);
        assert_eq!(serde_json::from_str::<SyncMessage>(&s).unwrap(), m);
    }

    #[test]
    fn a_message_with_a_bad_tenant_does_not_decode() {
        let s = r#"{"type":"start_run","tenant":"a#b","run_id":"r","sync_type":"devices","trigger":"manual"}"#;
        assert!(serde_json::from_str::<SyncMessage>(s).is_err());
    }
}
