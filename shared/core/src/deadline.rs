//! The invocation's time budget. Lambda kills a function at its deadline without an answer, so
//! the deadline (from `lambda_runtime::Context`) is kept for the whole invocation: Tactical calls
//! shorten their timeouts and skip retries to end before it, workers stop taking records near it.
//!
//! Kept in a task-local, so code deep in the call tree reads it without threading it through
//! every signature; work spawned onto other tasks does not see it (none is).

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The budget of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// When the invocation started (as this process saw it).
    pub started: Instant,
    /// When work must be over: the Lambda deadline less a reserve for writing the answer.
    pub deadline: Instant,
    /// The Lambda deadline itself.
    pub hard: Instant,
}

impl Budget {
    /// A budget ending `total` from now, keeping a reserve for the answer (5 % of the total,
    /// between 200 ms and 5 s).
    pub fn from_now(total: Duration) -> Self {
        let reserve = (total / 20).clamp(Duration::from_millis(200), Duration::from_secs(5)).min(total / 2);
        let started = Instant::now();
        Self { started, deadline: started + total.saturating_sub(reserve), hard: started + total }
    }

    /// The budget of a Lambda invocation whose deadline is `deadline_ms` (epoch milliseconds,
    /// `Context.deadline`). `None` when the context carries no usable deadline: none at all, or
    /// one already past when the invocation starts, which Lambda never sends but local emulators
    /// do (`cargo lambda watch` sends a fixed 600000, in 1970).
    pub fn from_epoch_millis(deadline_ms: u64) -> Option<Self> {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        (deadline_ms > now_ms).then(|| Self::from_now(Duration::from_millis(deadline_ms - now_ms)))
    }

    /// Time left before the deadline (zero once it passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Half-way through the reserve: the last moment to give up on work and still answer.
    pub fn last_call(&self) -> Instant {
        self.deadline + self.hard.saturating_duration_since(self.deadline) / 2
    }

    /// The whole budget, from start to deadline.
    pub fn total(&self) -> Duration {
        self.deadline.saturating_duration_since(self.started)
    }
}

tokio::task_local! {
    static BUDGET: Budget;
}

/// Runs `f` under `budget`.
pub async fn scope<F: Future>(budget: Budget, f: F) -> F::Output {
    BUDGET.scope(budget, f).await
}

/// The current invocation's budget (`None` outside one, e.g. a test without a context).
pub fn current() -> Option<Budget> {
    BUDGET.try_with(|b| *b).ok()
}

/// Time left in the current budget (`None`: unbounded).
pub fn remaining() -> Option<Duration> {
    current().map(|b| b.remaining())
}

/// `timeout` shortened to what the budget has left.
pub fn clamp(timeout: Duration) -> Duration {
    remaining().map_or(timeout, |r| timeout.min(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_budget_is_seen_inside_its_scope_only() {
        assert!(current().is_none());
        assert_eq!(clamp(Duration::from_secs(30)), Duration::from_secs(30));
        let b = Budget::from_now(Duration::from_secs(10));
        assert!(b.total() <= Duration::from_millis(9_500) && b.total() >= Duration::from_millis(9_400));
        scope(b, async {
            assert!(clamp(Duration::from_secs(30)) <= Duration::from_millis(9_500));
            assert_eq!(clamp(Duration::from_secs(1)), Duration::from_secs(1));
        })
        .await;
        assert!(Budget::from_epoch_millis(0).is_none());
        assert!(Budget::from_epoch_millis(600_000).is_none(), "cargo lambda watch's fixed deadline");
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let b = Budget::from_epoch_millis(now_ms + 30_000).unwrap();
        assert!(b.total() > Duration::from_secs(28) && b.total() <= Duration::from_millis(28_500), "{:?}", b.total());
    }
}
