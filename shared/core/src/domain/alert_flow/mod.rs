//! Recording alerts (webhook, backfill, re-fetch) and reconciling them with Tactical.

mod backfill;
mod events;
mod record;
mod tickets;

pub use backfill::{BackfillCounts, backfill, link_assets, link_open_alerts};
pub use events::{AlertChangedDetail, alert_event_id, pending_bus_events, publish_alert, publish_pending};
pub use record::{PointerUpdate, Recorded, apply_pointer, change_kind, record, record_delivery};
use record::{changed, record_known, same_state};
pub use tickets::{alerts_of_ticket, record_psa_change, set_ticket};

/// Optimistic-lock attempts before giving up (concurrent deliveries of different events).
const MAX_ATTEMPTS: u32 = 12;

/// Days of open alerts backfill asks Tactical for; older open alerts are not reconciled.
pub const BACKFILL_DAYS: u32 = 90;

pub const ALERT_CHANGED: &str = "RMM Alert Changed";

/// Unpublished changes an alert item keeps at most: the next handler publishes them within
/// seconds (the follow-up) or minutes (backfill), so this is reached only while EventBridge is
/// down for long; the oldest are then dropped, logged, rather than growing the item.
const MAX_PENDING: usize = 50;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alerts::RmmAlert;
    use crate::tenant::TenantId;

    fn alert(status: &str, severity: &str, version: i64) -> RmmAlert {
        serde_json::from_value(serde_json::json!({
            "tenant": "t1", "alert_key": "id#7", "external_alert_id": "7", "external_device_id": "agent-1",
            "status": status, "severity": severity, "source_type": "tacticalrmm", "version": version,
        }))
        .unwrap()
    }

    #[test]
    fn every_change_of_state_has_its_kind_and_nothing_else_has_one() {
        let kind = |b: Option<(&str, &str)>, a: (&str, &str)| {
            change_kind(b.map(|(s, v)| alert(s, v, 1)).as_ref(), &alert(a.0, a.1, 2))
        };
        assert_eq!(kind(None, ("active", "minor")), Some("opened"));
        assert_eq!(kind(None, ("suppressed", "minor")), Some("opened"));
        assert_eq!(kind(None, ("resolved", "minor")), Some("resolved"));
        assert_eq!(kind(Some(("active", "minor")), ("active", "critical")), Some("severity_updated"));
        assert_eq!(kind(Some(("active", "minor")), ("active", "minor")), None);
        assert_eq!(kind(Some(("resolved", "minor")), ("resolved", "critical")), None);
        assert_eq!(kind(Some(("active", "minor")), ("resolved", "minor")), Some("resolved"));
        assert_eq!(kind(Some(("suppressed", "minor")), ("auto_resolved", "minor")), Some("auto_resolved"));
        assert_eq!(kind(Some(("active", "minor")), ("suppressed", "minor")), Some("suppressed"));
        assert_eq!(kind(Some(("suppressed", "minor")), ("active", "minor")), Some("unsuppressed"));
        assert_eq!(kind(Some(("auto_resolved", "minor")), ("active", "minor")), Some("reopened"));
    }

    #[test]
    fn a_change_is_kept_pending_with_its_version_and_gets_a_stable_id() {
        let before = alert("active", "minor", 3);
        let mut after = alert("resolved", "minor", 4);
        changed(Some(&before), &mut after, "psa");
        changed(Some(&after.clone()), &mut alert("resolved", "minor", 5), "psa");
        assert_eq!(after.pending_events.len(), 1);
        let events = pending_bus_events(&after);
        let d = &events[0].detail;
        assert_eq!(
            (d["kind"].as_str(), d["from"].as_str(), d["to"].as_str()),
            (Some("resolved"), Some("active"), Some("resolved"))
        );
        assert_eq!((d["alert_id"].as_i64(), d["source"].as_str()), (Some(7), Some("psa")));
        let t = TenantId::parse("t1").unwrap();
        assert_eq!(d["event_id"], alert_event_id(&t, "id#7", 4));
        assert_eq!(alert_event_id(&t, "id#7", 4), alert_event_id(&t, "id#7", 4));
        assert_ne!(alert_event_id(&t, "id#7", 4), alert_event_id(&t, "id#7", 5));
        assert_ne!(alert_event_id(&t, "id#7", 4), alert_event_id(&TenantId::parse("t2").unwrap(), "id#7", 4));
    }

    #[test]
    fn the_outbox_stays_bounded() {
        let mut a = alert("active", "minor", 0);
        for v in 1..=(MAX_PENDING as i64 + 5) {
            let before = a.clone();
            a.version = v;
            a.severity = if v % 2 == 0 { "minor".into() } else { "critical".into() };
            changed(Some(&before), &mut a, "webhook");
        }
        assert_eq!(a.pending_events.len(), MAX_PENDING);
        assert_eq!(a.pending_events.last().map(|p| p.version), Some(MAX_PENDING as i64 + 5));
    }
}
