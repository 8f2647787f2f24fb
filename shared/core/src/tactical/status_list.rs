//! The light listing a status refresh reads: `GET /agents/?client=<id>`, the role-scoped table
//! list for which Tactical computes each agent's `status` itself (≈ 1.3 KB per agent, against
//! the beta list's full model rows). Only the fields the refresh needs are decoded.

use serde::Deserialize;

/// One row of `GET /agents/?client=<id>` (`AgentTableSerializer`), as far as status goes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AgentStatusRow {
    pub agent_id: String,
    #[serde(default)]
    pub hostname: String,
    /// `online`, `offline` or `overdue` as Tactical computed it when it answered.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub last_seen: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_captured_table_rows() {
        // An object where a list belongs is a decode error, never a panic.
        assert!(serde_json::from_str::<Vec<AgentStatusRow>>(r#"{"detail":"x"}"#).is_err());
        let rows: Vec<AgentStatusRow> = serde_json::from_str(
            r#"[{"agent_id":"BnYYURLgfBeKJkwreHBIgJLVHKtPskqoOcDRVAUK","hostname":"WIN-ACME-001","status":"online",
                "last_seen":"2026-11-29T16:11:56.419086Z","checks":{"total":0},"cpu_model":["x"]}]"#,
        )
        .unwrap();
        assert_eq!(rows[0].status.as_deref(), Some("online"));
    }
}
