//! `scheduler`: every minute (EventBridge), starts each active tenant's syncs that are due by
//! their schedule. Starting goes through the same run lock as a manual start, so a schedule never
//! doubles a run in progress.

use serde::Serialize;
use serde_json::Value;
use shared::app::Deps;
use shared::domain::integration::ScheduleKind;
use shared::domain::status_refresh;
use shared::domain::sync::start;
use shared::domain::time::{now, parse_rfc3339};
use shared::lambda::Invocation;
use shared::messages::Trigger;

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Tick {
    pub tenants: usize,
    pub started: Vec<String>,
    pub skipped_running: usize,
    /// Tenants whose Knox token needs a person (TOTP): their scheduled work waits.
    pub skipped_reauth: usize,
    pub errors: Vec<String>,
}

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Schedule(_) | Invocation::Direct(_) => {
            Ok(serde_json::to_value(tick(deps).await?).unwrap_or_default())
        }
        _ => Err("the scheduler is started by its EventBridge schedule".into()),
    }
}

pub async fn tick(deps: &Deps) -> Result<Tick, String> {
    let integrations = deps.store.list_active_integrations().await.map_err(|e| e.to_string())?;
    let now = now();
    let mut out = Tick { tenants: integrations.len(), ..Default::default() };
    for integ in integrations {
        if integ.reauth_required {
            out.skipped_reauth += 1;
            continue;
        }
        for kind in ScheduleKind::ALL {
            let sched = integ.schedule(kind);
            if !sched.enabled {
                continue;
            }
            let st = kind.sync_type();
            let last = if kind == ScheduleKind::StatusRefresh {
                integ.last_started_status.as_deref()
            } else {
                integ.last_started(st)
            };
            let due = match last.and_then(parse_rfc3339) {
                None => true,
                Some(last) => now - last >= time::Duration::minutes(i64::from(sched.interval_minutes)),
            };
            if !due {
                continue;
            }
            if kind == ScheduleKind::StatusRefresh {
                match status_refresh::request(deps, &integ.tenant).await {
                    Ok(_) => out.started.push(format!("{}:status", integ.tenant)),
                    Err(e) => out.errors.push(format!("{}:status: {}", integ.tenant, e.message)),
                }
                continue;
            }
            match start(deps, &integ.tenant, st, Trigger::Schedule).await {
                Ok(s) if s.started => out.started.push(format!("{}:{}", integ.tenant, st.as_str())),
                Ok(_) => out.skipped_running += 1,
                Err(e) => out.errors.push(format!("{}:{}: {}", integ.tenant, st.as_str(), e.message)),
            }
        }
    }
    tracing::info!(
        tenants = out.tenants,
        started = out.started.len(),
        skipped = out.skipped_running,
        errors = out.errors.len(),
        "scheduler tick"
    );
    Ok(out)
}
