//! The connection summary shown on the settings page.

use crate::error::ApiError;
use crate::messages::SyncType;
use crate::ports::Store;
use crate::tenant::TenantId;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct LastRun {
    pub run_id: String,
    pub status: super::SyncRunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub items_processed: i64,
    pub items_failed: i64,
    pub message: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub is_active: bool,
    pub reauth_required: bool,
    pub last_runs: BTreeMap<&'static str, LastRun>,
}

pub async fn summary(store: &dyn Store, tenant: &TenantId) -> Result<Summary, ApiError> {
    let integ = store.get_integration(tenant).await?;
    let mut last_runs = BTreeMap::new();
    for st in SyncType::ALL {
        if let Some(r) = store.latest_run(tenant, st).await? {
            last_runs.insert(
                st.as_str(),
                LastRun {
                    run_id: r.run_id,
                    status: r.status,
                    started_at: r.started_at,
                    finished_at: r.finished_at,
                    items_processed: r.counts.items_processed,
                    items_failed: r.counts.items_failed,
                    message: r.message,
                },
            );
        }
    }
    Ok(Summary {
        is_active: integ.as_ref().is_some_and(|i| i.is_active),
        reauth_required: integ.as_ref().is_some_and(|i| i.reauth_required),
        last_runs,
    })
}
