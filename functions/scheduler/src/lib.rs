//! `scheduler`: every minute (EventBridge), starts each active tenant's syncs that are due by
//! their schedule. Starting goes through the same run lock as a manual start, so a schedule never
//! doubles a run in progress.

use futures::{StreamExt, stream};
use lambda_glue::Deps;
use lambda_glue::lambda::Invocation;
use serde::Serialize;
use serde_json::Value;
use shared::domain::integration::ScheduleKind;
use shared::domain::status_refresh;
use shared::domain::sync::start;
use shared::domain::time::{now, parse_rfc3339};
use shared::messages::Trigger;

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Tick {
    pub tenants: usize,
    pub started: Vec<String>,
    pub skipped_running: usize,
    /// Tenants whose Knox token needs a person (TOTP): their scheduled work waits.
    pub skipped_reauth: usize,
    /// Due syncs left for the next tick because this one ran out of time.
    pub deferred: usize,
    pub errors: Vec<String>,
}

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Schedule(_) | Invocation::Direct(_) => lambda_glue::lambda::output(&tick(deps).await?),
        _ => Err("the scheduler is started by its EventBridge schedule".into()),
    }
}

/// Starts in flight at once: a tick with thousands of tenants finishes in minutes, not hours.
const PARALLEL_STARTS: usize = 8;
/// The function has 60 s (template.yaml); what is not started by then waits for the next tick.
pub const TICK_BUDGET: std::time::Duration = std::time::Duration::from_secs(45);

pub async fn tick(deps: &Deps) -> Result<Tick, String> {
    tick_within(deps, TICK_BUDGET).await
}

/// One tick that starts no new run after `budget`. The syncs waiting longest go first, so a
/// tick cut short serves the ones it skipped at the next tick.
pub async fn tick_within(deps: &Deps, budget: std::time::Duration) -> Result<Tick, String> {
    let started_at = std::time::Instant::now();
    // A malformed integration item is skipped (and logged) by the store, never the whole tick.
    let integrations = deps.store.list_active_integrations().await.map_err(|e| e.to_string())?;
    let now = now();
    let mut out = Tick { tenants: integrations.len(), ..Default::default() };
    let mut due = Vec::new();
    for integ in &integrations {
        if integ.reauth_required {
            out.skipped_reauth += 1;
            continue;
        }
        for kind in ScheduleKind::ALL {
            let sched = integ.schedule(kind);
            if !sched.enabled {
                continue;
            }
            let last = if kind == ScheduleKind::StatusRefresh {
                integ.last_started_status.as_deref()
            } else {
                integ.last_started(kind.sync_type())
            }
            .and_then(parse_rfc3339);
            let is_due = match last {
                None => true,
                Some(last) => now - last >= time::Duration::minutes(i64::from(sched.interval_minutes)),
            };
            if is_due {
                due.push((last, integ.tenant.clone(), kind));
            }
        }
    }
    // Never started first, then the oldest start.
    due.sort_by_key(|(last, _, _)| *last);
    let results: Vec<_> = stream::iter(due)
        .map(|(_, tenant, kind)| async move {
            if started_at.elapsed() >= budget {
                return (tenant, kind, None);
            }
            // A status refresh is one message, not a run: nothing to lock or record.
            let r = if kind == ScheduleKind::StatusRefresh {
                status_refresh::request(deps, &tenant).await.map(|_| true)
            } else {
                start(deps, &tenant, kind.sync_type(), Trigger::Schedule).await.map(|s| s.started)
            };
            (tenant, kind, Some(r))
        })
        .buffer_unordered(PARALLEL_STARTS)
        .collect()
        .await;
    for (tenant, kind, r) in results {
        let what = if kind == ScheduleKind::StatusRefresh { "status" } else { kind.sync_type().as_str() };
        match r {
            None => out.deferred += 1,
            Some(Ok(true)) => out.started.push(format!("{tenant}:{what}")),
            Some(Ok(false)) => out.skipped_running += 1,
            Some(Err(e)) => out.errors.push(format!("{tenant}:{what}: {}", e.message)),
        }
    }
    tracing::info!(
        tenants = out.tenants,
        started = out.started.len(),
        skipped = out.skipped_running,
        deferred = out.deferred,
        errors = out.errors.len(),
        "scheduler tick"
    );
    Ok(out)
}
