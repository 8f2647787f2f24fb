//! rmm_audit_log: one record per side-effecting remote action (pitfall 23). Written before the
//! call to Tactical (`pending`) and completed after it, so an action whose outcome could not be
//! recorded still leaves a trace; an action whose first record cannot be written is not sent.

use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Written before the call; a record left `pending` means the outcome was not recorded
    /// (the function died or the update failed): treat it as "may have run".
    Pending,
    Ok,
    Error,
}

/// Who started the action, and through which door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// Lambda Invoke by the workflow engine (IAM); the actor comes from the event.
    Workflow,
    /// The function URL with the PSA's JWT; the actor comes from the token.
    FunctionUrl,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub tenant: TenantId,
    /// Sorts by start time (sort key), then random bits.
    pub audit_id: String,
    /// Canonical action name, e.g. `agents.run_command`.
    pub action: String,
    pub actor_user_id: String,
    pub via: Via,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub asset_id: Option<String>,
    /// The input without secrets: env var values are never kept, long text is cut.
    #[serde(default)]
    pub input: Value,
    pub outcome: AuditOutcome,
    /// Whether a request reached Tactical (false for refusals: permission, tenancy, inactive).
    #[serde(default)]
    pub tactical_called: bool,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    /// What came back, summarised (output size, never the output itself).
    #[serde(default)]
    pub result: Option<Value>,
    pub started_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

/// The second write: how the action ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFinish {
    pub outcome: AuditOutcome,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub result: Option<Value>,
    pub finished_at: String,
    pub duration_ms: u64,
}

impl AuditRecord {
    pub fn apply(&mut self, f: &AuditFinish) {
        self.outcome = f.outcome;
        self.error_code = f.error_code.clone();
        self.error_message = f.error_message.clone();
        self.result = f.result.clone();
        self.finished_at = Some(f.finished_at.clone());
        self.duration_ms = Some(f.duration_ms);
    }
}

/// A page of audit records, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Pass as `before` to read the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

/// `20261129T154342.127Z-1a2b3c4d`: sortable by time to the millisecond, unique by the suffix.
/// What `GET /audit` asks for. Every filter is optional; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub limit: u32,
    /// `next_before` of the previous page.
    pub before: Option<String>,
    /// Records started at or after this time (read as a key range, not a filter).
    pub since: Option<time::OffsetDateTime>,
    pub action: Option<String>,
    pub asset_id: Option<String>,
    pub agent_id: Option<String>,
    pub actor_user_id: Option<String>,
    pub outcome: Option<AuditOutcome>,
}

/// The smallest audit id of records started at or after `t` (ids sort by start time).
pub fn audit_id_floor(t: time::OffsetDateTime) -> String {
    let id = audit_id_at(t);
    id.split_once('-').map(|(at, _)| at.to_owned()).unwrap_or(id)
}

pub fn new_audit_id() -> String {
    audit_id_at(super::time::now())
}

fn audit_id_at(now: time::OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z-{:08x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond(),
        rand::random::<u32>()
    )
}

/// Audit ids accepted from callers (the `before` cursor): our own format's characters only.
pub fn is_audit_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_are_valid_cursors() {
        let a = audit_id_at(time::macros::datetime!(2026-11-29 15:43:42.127 UTC));
        let b = audit_id_at(time::macros::datetime!(2026-11-29 15:43:42.128 UTC));
        assert!(a.starts_with("20261129T154342.127Z-"), "{a}");
        assert!(a < b, "{a} < {b}");
        assert!(is_audit_id(&new_audit_id()));
        assert!(!is_audit_id("x#y"));
        assert!(!is_audit_id(""));
    }
}
