//! Server modes (NATS, beta API, dashboard host), remote-action timing and run reports.

use std::sync::atomic::Ordering;
use std::time::Duration as StdDuration;

use super::*;

/// How long remote actions take before answering `"natsdown"` / `"timeout"` /
/// `"Unable to contact the agent"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ActionWait {
    /// Answer at once (tests that are not about timing).
    Instant,
    /// Wait this long for every failure answer.
    Fixed(StdDuration),
    /// Like the real server (default): NATS down ≈ 4 s, cmd timeout + 2 s, runscript timeout + 3 s, reboot 10 s.
    #[default]
    Realistic,
}

impl SimState {
    // Modes

    pub fn set_nats_up(&self, up: bool) {
        self.inner.nats.store(up, Ordering::SeqCst);
    }
    pub fn nats_up(&self) -> bool {
        self.inner.nats.load(Ordering::SeqCst)
    }
    pub fn set_beta_enabled(&self, on: bool) {
        self.inner.beta.store(on, Ordering::SeqCst);
    }
    pub fn beta_enabled(&self) -> bool {
        self.inner.beta.load(Ordering::SeqCst)
    }
    pub fn set_dashboard_mode(&self, on: bool) {
        self.inner.dashboard.store(on, Ordering::SeqCst);
    }
    pub fn dashboard_mode(&self) -> bool {
        self.inner.dashboard.load(Ordering::SeqCst)
    }
    /// How long after a command or script run its results appear in the agent's history
    /// (default 150 ms; the agent reports after answering).
    pub fn set_report_delay(&self, d: StdDuration) {
        self.write().report_delay = d;
    }

    /// Every run the agent has executed reports its results now.
    pub fn report_runs_now(&self) -> usize {
        let t = self.now();
        let mut d = self.write();
        let mut n = 0;
        for h in d.history.iter_mut().filter(|h| h.outcome.is_some() && h.ready_at > t) {
            h.ready_at = t;
            n += 1;
        }
        n
    }

    /// History rows of an agent: (id, kind, reported).
    pub fn history_of(&self, agent_id: &str) -> Vec<(i64, String, bool)> {
        let d = self.read();
        let Some(pk) = d.agent(agent_id).map(|a| a.pk) else { return Vec::new() };
        let t = self.now();
        d.history
            .iter()
            .filter(|h| h.agent_pk == pk)
            .map(|h| (h.id, h.kind.to_owned(), h.outcome.is_some() && h.ready_at <= t))
            .collect()
    }

    pub fn set_action_wait(&self, w: ActionWait) {
        *lock(&self.inner.action_wait) = w;
    }
    pub(crate) fn action_wait(&self) -> ActionWait {
        *lock(&self.inner.action_wait)
    }
    /// See [`crate::SimConfig::row_cost`].
    pub fn set_row_cost(&self, cost: StdDuration) {
        *lock(&self.inner.row_cost) = cost;
    }
    pub(crate) fn row_cost(&self) -> StdDuration {
        *lock(&self.inner.row_cost)
    }

    // --------------------------------------------------------------------------------------
}
