//! The simulator's one clock, and the agents' check-ins that follow it.

use std::sync::atomic::Ordering;

use time::{Duration, OffsetDateTime};

use super::types::*;
use super::*;
use crate::util::now;

/// The last run of Tactical's `unsnooze_alerts` beat task (every hour at minute 10) in
/// `(was, t]`, if any.
pub(super) fn last_unsnooze_run(was: OffsetDateTime, t: OffsetDateTime) -> Option<OffsetDateTime> {
    let hour = t.replace_minute(0).ok()?.replace_second(0).ok()?.replace_nanosecond(0).ok()?;
    let run = hour + Duration::minutes(10);
    let run = if run > t { run - Duration::hours(1) } else { run };
    (run > was).then_some(run)
}

impl SimState {
    /// Every agent currently online that was not told to stop gets `last_seen` ≈ now (what the
    /// agents' check-ins do, each at its own phase within the check-in interval).
    /// Returns how many checked in. The binary calls this every 30 s.
    pub fn checkin_online_agents(&self) -> usize {
        let t = self.now();
        self.checkin_at(t, t)
    }

    /// Agents online at `was` (and not silent) check in by `t`.
    pub(super) fn checkin_at(&self, was: OffsetDateTime, t: OffsetDateTime) -> usize {
        let silent = lock(&self.inner.silent).clone();
        let every_ms = lock(&self.inner.checkin_every).whole_milliseconds().clamp(1, 3_600_000) as u64;
        let mut d = self.write();
        let mut n = 0;
        for a in d.agents.iter_mut() {
            if a.status(was) == AgentStatus::Online && !silent.contains(&a.agent_id) {
                let jitter_ms = (a.pk.unsigned_abs() * 7919 + 13) % every_ms;
                let at = t - Duration::milliseconds(jitter_ms as i64) - Duration::microseconds(a.pk % 997);
                // Never backwards: a check-in only moves last_seen forward.
                if a.last_seen.is_none_or(|l| l < at) {
                    a.last_seen = Some(at);
                }
                n += 1;
            }
        }
        n
    }

    /// The simulator's one clock: the wall clock plus what [`SimState::advance_clock`] added.
    /// Everything Tactical reads from its own clock follows it: agent status, check-ins and
    /// rows, knox token lifetimes, login throttle windows, alert, history and snooze times.
    /// TOTP codes are checked against the wall clock instead, because the client computing them
    /// cannot be moved; remote-action waits, row costs and latency faults are real time, because
    /// they exist for the client's timeouts.
    pub fn now(&self) -> OffsetDateTime {
        now() + Duration::microseconds(self.inner.clock_offset_us.load(Ordering::SeqCst))
    }

    /// Moves simulated time forward by `by` (a negative `by` does nothing): agents that were
    /// online and checking in checked in meanwhile; silent and down agents did not (their status
    /// ages as in Tactical); knox tokens age (a 5 h idle token is dead); throttle windows pass;
    /// Tactical's hourly `unsnooze_alerts` task (at minute 10) ran if one of its runs fell in the
    /// interval. Boot times, IPs and everything else stay as they are. Returns how many agents
    /// checked in.
    pub fn advance_clock(&self, by: Duration) -> usize {
        let was = self.now();
        self.inner
            .clock_offset_us
            .fetch_add(by.whole_microseconds().clamp(0, i64::MAX as i128) as i64, Ordering::SeqCst);
        let t = self.now();
        if let Some(run) = last_unsnooze_run(was, t) {
            let mut d = self.write();
            for al in d.alerts.values_mut().filter(|al| al.snoozed && al.snooze_until.is_some_and(|u| u <= run)) {
                al.snoozed = false;
                al.snooze_until = None;
            }
        }
        self.checkin_at(was, t)
    }

    /// The spacing of check-ins (default 30 s; Tactical agents check in every 30-60 s).
    pub fn set_checkin_interval(&self, every: Duration) {
        *lock(&self.inner.checkin_every) = every;
    }

    /// The agent stops checking in (service stopped, machine off): its status ages.
    pub fn stop_checkins(&self, agent_id: &str) -> Result<(), SimError> {
        self.with_agent(agent_id, |_| ())?;
        lock(&self.inner.silent).insert(agent_id.to_owned());
        Ok(())
    }

    /// The agent checks in again now and keeps doing so.
    pub fn resume_checkins(&self, agent_id: &str) -> Result<(), SimError> {
        lock(&self.inner.silent).remove(agent_id);
        let t = self.now();
        self.with_agent(agent_id, |a| a.last_seen = Some(t))
    }
}
