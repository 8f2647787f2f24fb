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
pub struct AssetsByStatus {
    pub online: i64,
    pub offline: i64,
    pub overdue: i64,
    /// As counted by this device run (status changes with time; the assets API recomputes it).
    pub as_of_run: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub is_active: bool,
    pub reauth_required: bool,
    pub knox_token_expires_at: Option<String>,
    /// Organization mappings, and how many have a PSA client assigned.
    pub organizations: usize,
    pub mapped_organizations: usize,
    pub assets_by_status: AssetsByStatus,
    pub active_alerts: usize,
    pub last_runs: BTreeMap<&'static str, LastRun>,
}

pub async fn summary(store: &dyn Store, tenant: &TenantId) -> Result<Summary, ApiError> {
    let integ = store.get_integration(tenant).await?;
    let mut last_runs = BTreeMap::new();
    let mut by_status = AssetsByStatus { online: 0, offline: 0, overdue: 0, as_of_run: None };
    for st in SyncType::ALL {
        if let Some(r) = store.latest_run(tenant, st).await? {
            if st == SyncType::Devices && r.status.is_finished() && r.counts.items_processed > 0 {
                by_status = AssetsByStatus {
                    online: r.counts.status_online,
                    offline: r.counts.status_offline,
                    overdue: r.counts.status_overdue,
                    as_of_run: Some(r.run_id.clone()),
                };
            }
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
    let mappings = store.list_org_mappings(tenant).await?;
    Ok(Summary {
        is_active: integ.as_ref().is_some_and(|i| i.is_active),
        reauth_required: integ.as_ref().is_some_and(|i| i.reauth_required),
        knox_token_expires_at: integ.as_ref().and_then(|i| i.knox_token_expires_at.clone()),
        organizations: mappings.len(),
        mapped_organizations: mappings.iter().filter(|m| m.client_id.is_some()).count(),
        assets_by_status: by_status,
        active_alerts: store.open_alerts(tenant).await?.len(),
        last_runs,
    })
}
