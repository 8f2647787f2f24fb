//! Tactical's own agent status rule (`Agent.status`, docs/tactical-behaviour.md#agent-status), with
//! each agent's `offline_time` and `overdue_time` (minutes; defaults 4 and 30).

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

pub const DEFAULT_OFFLINE_MINUTES: i64 = 4;
pub const DEFAULT_OVERDUE_MINUTES: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Online,
    Offline,
    Overdue,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Offline => "offline",
            AgentStatus::Overdue => "overdue",
        }
    }
}

/// Exactly Tactical's comparisons, including its boundary behaviour (a `last_seen` equal to the
/// overdue cut-off counts as online, as in Tactical).
pub fn agent_status(
    last_seen: Option<OffsetDateTime>,
    offline_minutes: Option<i64>,
    overdue_minutes: Option<i64>,
    now: OffsetDateTime,
) -> AgentStatus {
    let Some(seen) = last_seen else { return AgentStatus::Offline };
    let offline_cut = cut_off(now, offline_minutes.unwrap_or(DEFAULT_OFFLINE_MINUTES));
    let overdue_cut = cut_off(now, overdue_minutes.unwrap_or(DEFAULT_OVERDUE_MINUTES));
    if seen < offline_cut && seen > overdue_cut {
        AgentStatus::Offline
    } else if seen < offline_cut && seen < overdue_cut {
        AgentStatus::Overdue
    } else {
        AgentStatus::Online
    }
}

/// Longer than any representable span (the `time` crate covers years -9999..=9999).
const MAX_THRESHOLD_MINUTES: i64 = 20_000 * 366 * 24 * 60;

/// `now - minutes`, saturating: the thresholds are Tactical data (any i64), and a cut-off beyond
/// the representable range behaves as "never" (Tactical itself answers 500 there).
fn cut_off(now: OffsetDateTime, minutes: i64) -> OffsetDateTime {
    let m = minutes.clamp(-MAX_THRESHOLD_MINUTES, MAX_THRESHOLD_MINUTES);
    now.checked_sub(Duration::minutes(m)).unwrap_or_else(|| {
        let edge = if m > 0 { Date::MIN.midnight() } else { Date::MAX.midnight() };
        edge.assume_utc()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn follows_tactical_with_per_agent_thresholds() {
        let now = datetime!(2026-11-29 12:00 UTC);
        let ago = |m: i64| Some(now - Duration::minutes(m));
        assert_eq!(agent_status(None, None, None, now), AgentStatus::Offline);
        assert_eq!(agent_status(ago(1), None, None, now), AgentStatus::Online);
        assert_eq!(agent_status(ago(5), None, None, now), AgentStatus::Offline);
        assert_eq!(agent_status(ago(31), None, None, now), AgentStatus::Overdue);
        // Custom thresholds: 10 min offline, 60 min overdue.
        assert_eq!(agent_status(ago(5), Some(10), Some(60), now), AgentStatus::Online);
        assert_eq!(agent_status(ago(31), Some(10), Some(60), now), AgentStatus::Offline);
        assert_eq!(agent_status(ago(61), Some(10), Some(60), now), AgentStatus::Overdue);
        // Tactical's boundary: exactly at the overdue cut-off is neither branch → online.
        assert_eq!(agent_status(ago(30), None, None, now), AgentStatus::Online);
    }

    #[test]
    fn extreme_thresholds_never_panic() {
        let now = datetime!(2026-11-29 12:00 UTC);
        let seen = Some(now - Duration::minutes(5));
        // A threshold beyond the calendar never passes: the agent stays online.
        assert_eq!(agent_status(seen, Some(i64::MAX), Some(i64::MAX), now), AgentStatus::Online);
        // Negative thresholds put the cut-offs in the future: overdue, as Tactical compares.
        assert_eq!(agent_status(seen, Some(i64::MIN), Some(i64::MIN), now), AgentStatus::Overdue);
        assert_eq!(agent_status(seen, Some(1), Some(i64::MAX), now), AgentStatus::Offline);
        let edge = Some(Date::MAX.midnight().assume_utc());
        assert_eq!(agent_status(edge, Some(i64::MIN), Some(0), Date::MAX.midnight().assume_utc()), AgentStatus::Online);
    }
}
