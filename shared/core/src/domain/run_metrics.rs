//! Metrics of a finished sync run in CloudWatch Embedded Metric Format: one JSON log line that
//! CloudWatch turns into metrics, so publishing them costs no API call. The only dimension is the
//! sync type (a tenant dimension would bill one metric per tenant); tenant and run id ride along
//! as properties, so Logs Insights can still break a figure down.

use super::sync_run::{SyncRun, SyncRunStatus};
use serde_json::json;
use time::OffsetDateTime;

pub const NAMESPACE: &str = "TacticalBridge";

/// The EMF line for `run`, finished with `status` at `finished`.
pub fn emf_line(run: &SyncRun, status: SyncRunStatus, finished: OffsetDateTime) -> String {
    let started = super::time::parse_rfc3339(&run.started_at);
    // Clock skew between workers can put the start after the finish: never a negative duration.
    let duration_ms =
        started.map_or(0, |s| i64::try_from((finished - s).whole_milliseconds().max(0)).unwrap_or(i64::MAX));
    let c = &run.counts;
    let writes = c.items_created.saturating_add(c.items_updated).saturating_add(c.items_deleted);
    let failed = i64::from(status == SyncRunStatus::Failed);
    json!({
        "_aws": {
            "Timestamp": i64::try_from(finished.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["SyncType"]],
                "Metrics": [
                    {"Name": "RunDuration", "Unit": "Milliseconds"},
                    {"Name": "ItemsProcessed", "Unit": "Count"},
                    {"Name": "ItemsWritten", "Unit": "Count"},
                    {"Name": "ItemsFailed", "Unit": "Count"},
                    {"Name": "RunsFailed", "Unit": "Count"}
                ]
            }]
        },
        "SyncType": run.sync_type.as_str(),
        "RunDuration": duration_ms,
        "ItemsProcessed": c.items_processed,
        "ItemsWritten": writes,
        "ItemsFailed": c.items_failed,
        "RunsFailed": failed,
        "tenant": run.tenant.as_str(),
        "run_id": run.run_id,
        "status": status,
    })
    .to_string()
}

/// Writes one CloudWatch Embedded Metric Format line to stdout, where Lambda's log capture sees it
/// as it is (the tracing JSON layer would wrap it, and CloudWatch would not extract the metrics).
/// Outside Lambda (tests, the dev bridge) the line goes to the debug log instead.
pub fn emit(line: &str) {
    use std::io::Write;
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_none() {
        tracing::debug!(metrics = line, "run metrics");
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SyncCounts;
    use crate::messages::{SyncType, Trigger};
    use crate::tenant::TenantId;
    use time::macros::datetime;

    #[test]
    fn a_finished_run_becomes_one_emf_line_with_sync_type_as_its_only_dimension() {
        let run = SyncRun {
            tenant: TenantId::parse("acme").unwrap(),
            run_id: "r1".into(),
            sync_type: SyncType::Devices,
            trigger: Trigger::Schedule,
            status: SyncRunStatus::Running,
            started_at: "2026-11-30T10:00:00Z".into(),
            finished_at: None,
            counts: SyncCounts {
                items_processed: 120,
                items_created: 3,
                items_updated: 2,
                items_failed: 1,
                ..Default::default()
            },
            pending: 0,
            errors: vec![],
            message: None,
        };
        let line = emf_line(&run, SyncRunStatus::Partial, datetime!(2026-11-30 10:00:42.5 UTC));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], NAMESPACE);
        assert_eq!(m["Dimensions"], json!([["SyncType"]]));
        // Every declared metric has its value at the top level, as EMF requires.
        for name in m["Metrics"].as_array().unwrap() {
            assert!(v[name["Name"].as_str().unwrap()].is_number(), "{name}");
        }
        assert_eq!(v["RunDuration"], 42_500);
        assert_eq!(v["ItemsWritten"], 5);
        assert_eq!(v["ItemsFailed"], 1);
        assert_eq!(v["RunsFailed"], 0);
        assert_eq!(v["SyncType"], "devices");
        assert_eq!(v["tenant"], "acme");
        assert_eq!(v["_aws"]["Timestamp"], 1_796_032_842_500_i64);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_start_after_the_finish_gives_zero_not_a_negative_duration() {
        let mut run = SyncRun {
            tenant: TenantId::parse("acme").unwrap(),
            run_id: "r1".into(),
            sync_type: SyncType::Alerts,
            trigger: Trigger::Manual,
            status: SyncRunStatus::Running,
            started_at: "2026-11-30T10:00:10Z".into(),
            finished_at: None,
            counts: SyncCounts::default(),
            pending: 0,
            errors: vec![],
            message: None,
        };
        let v: serde_json::Value =
            serde_json::from_str(&emf_line(&run, SyncRunStatus::Failed, datetime!(2026-11-30 10:00:00 UTC))).unwrap();
        assert_eq!(v["RunDuration"], 0);
        assert_eq!(v["RunsFailed"], 1);
        run.started_at = "garbage".into();
        let v: serde_json::Value =
            serde_json::from_str(&emf_line(&run, SyncRunStatus::Failed, datetime!(2026-11-30 10:00:00 UTC))).unwrap();
        assert_eq!(v["RunDuration"], 0);
    }
}
