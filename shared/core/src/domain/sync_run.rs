//! Sync runs: one record per run with counts, whatever number of queue messages it takes.

use crate::messages::{SyncType, Trigger};
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRunStatus {
    Queued,
    Running,
    Succeeded,
    Partial,
    Failed,
}

impl SyncRunStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, SyncRunStatus::Succeeded | SyncRunStatus::Partial | SyncRunStatus::Failed)
    }
}

/// The original's result shape, kept on the run record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCounts {
    #[serde(default)]
    pub items_processed: i64,
    #[serde(default)]
    pub items_created: i64,
    #[serde(default)]
    pub items_updated: i64,
    #[serde(default)]
    pub items_unchanged: i64,
    #[serde(default)]
    pub items_deleted: i64,
    #[serde(default)]
    pub items_failed: i64,
    /// Assets by agent status seen by a device run (for the settings summary).
    #[serde(default)]
    pub status_online: i64,
    #[serde(default)]
    pub status_offline: i64,
    #[serde(default)]
    pub status_overdue: i64,
    /// Assets flagged `missing_since` by a complete device run.
    #[serde(default)]
    pub items_missing: i64,
    /// Progress: work items (queue messages: the start, and each page or batch) done of total.
    #[serde(default)]
    pub work_done: i64,
    #[serde(default)]
    pub work_total: i64,
    /// Software runs (docs/software.md): items on the agents checked, items whose version or
    /// details changed, agents without an inventory (left untouched).
    #[serde(default)]
    pub software_items: i64,
    #[serde(default)]
    pub software_changed: i64,
    #[serde(default)]
    pub agents_no_inventory: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    pub tenant: TenantId,
    pub run_id: String,
    pub sync_type: SyncType,
    pub trigger: Trigger,
    pub status: SyncRunStatus,
    pub started_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(flatten)]
    pub counts: SyncCounts,
    /// Work items (queue messages) not yet done; the run finishes when it reaches 0.
    #[serde(default)]
    pub pending: i64,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Run ids sort by start time (so the latest run is the first in a descending query) and carry
/// random bits so two starts at the same instant differ. Microseconds, so a run started in the
/// same second as the previous one still sorts after it.
pub fn new_run_id() -> String {
    run_id_at(crate::domain::time::now(), rand::random::<u32>())
}

fn run_id_at(now: time::OffsetDateTime, salt: u32) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}{:06}Z-{:08x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond(),
        salt
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_started_later_in_the_same_second_sorts_after() {
        let t = time::macros::datetime!(2026-11-29 19:16:07.048 UTC);
        let first = run_id_at(t, u32::MAX);
        let second = run_id_at(t + time::Duration::milliseconds(1), 0);
        assert!(second > first, "{second} > {first}");
        assert_eq!(first, "20261129T191607048000Z-ffffffff");
        assert!(first.len() <= 64 && first.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }
}
