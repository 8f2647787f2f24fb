//! `alerts.resolve`, `alerts.snooze`, `alerts.unsnooze`: Tactical's alerts changed from a
//! workflow, recorded on our alerts (and published) only as far as Tactical took the change.

use super::action::{Action, ActionRequest};
use super::audit::{Audit, Audited};
use super::client::{Failure, active_integration, with_client};
use super::error::{ActionError, validation};
use super::input::{Input, truncate};
use crate::app::Deps;
use crate::domain::alert_flow::{publish_pending, record_psa_change};
use crate::domain::alerts::{PsaChange, RmmAlert};
use crate::domain::time::{now, to_rfc3339};
use crate::ports::PortError;
use crate::tactical::types::AlertChange;
use crate::tactical::{TacticalApi, TacticalError};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertsChanged {
    /// `resolve`, `snooze` or `unsnooze`.
    pub change: &'static str,
    pub alerts: Vec<ChangedAlert>,
    pub count: usize,
    /// Sent as one bulk call.
    pub bulk: bool,
    /// Alerts of a bulk call that Tactical did not change.
    pub not_changed: Vec<NotChanged>,
}

/// An alert as recorded after the change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangedAlert {
    pub alert_key: String,
    pub tactical_alert_id: Option<i64>,
    pub agent_id: String,
    pub asset_id: Option<String>,
    pub status: String,
    pub snoozed_until: Option<String>,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
    pub ticket_id: Option<String>,
}

impl ChangedAlert {
    fn of(a: &RmmAlert) -> Self {
        Self {
            alert_key: a.alert_key.clone(),
            tactical_alert_id: a.external_alert_id.as_deref().and_then(|i| i.parse::<i64>().ok()),
            agent_id: a.external_device_id.clone(),
            asset_id: a.asset_id.clone(),
            status: a.status.clone(),
            snoozed_until: a.snoozed_until.clone(),
            resolved_at: a.resolved_at.clone(),
            resolved_by: a.resolved_by.clone(),
            ticket_id: a.ticket_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotChanged {
    pub alert_key: String,
    pub tactical_alert_id: i64,
    pub reason: &'static str,
}

pub(crate) async fn act_on_alerts(
    deps: &Deps,
    req: &ActionRequest<'_>,
    action: Action,
    input: Input,
) -> Result<Audited<AlertsChanged>, ActionError> {
    let tenant = &req.caller.tenant;
    let mut audit = Audit::new(deps.store.as_ref(), req, action, None, input.audit_summary());
    let Input::Alerts { keys, field, change } = input else {
        return Err(ActionError::unexpected(NotAnAlertAction));
    };
    let prepared = async {
        let integ = active_integration(deps, tenant).await?;
        let mut targets: Vec<(RmmAlert, i64)> = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let name = if field == "alert_key" { field.to_owned() } else { format!("alert_keys[{i}]") };
            let alert = deps.store.get_alert(tenant, key).await?.ok_or_else(|| {
                ActionError::not_found(
                    &name,
                    "no alert with this key in your organization's alerts (GET /alerts lists them)",
                )
            })?;
            let id = alert.external_alert_id.as_deref().and_then(|i| i.parse::<i64>().ok()).ok_or_else(|| {
                validation(
                    &name,
                    "Tactical sent this alert without its alert id (check the webhook template's alert_id), so it can only be changed in Tactical",
                )
            })?;
            targets.push((alert, id));
        }
        Ok((targets, integ))
    }
    .await;
    let (targets, integ) = match prepared {
        Ok(p) => p,
        Err(e) => {
            audit.refused(&e).await;
            return Err(e);
        }
    };
    audit
        .around(async {
            // A refused Knox token is renewed and the change sent again at once: Tactical checks
            // the token before acting, so nothing was changed by the refused call.
            let targets = &targets;
            let r = with_client(deps, tenant, &integ, |api| async move {
                change_alerts(deps, req, api.as_ref(), targets, field, change).await
            })
            .await;
            r.map_err(|f| f.into_error(true))
        })
        .await
}

/// A non-alert input reached the alert actions: a dispatch bug.
#[derive(Debug, thiserror::Error)]
#[error("not an alert action")]
struct NotAnAlertAction;

/// Asks Tactical, then records what it accepted. Several alerts go in one bulk call when
/// Tactical has one (resolve, snooze); unsnooze is one call per alert.
async fn change_alerts(
    deps: &Deps,
    req: &ActionRequest<'_>,
    api: &dyn TacticalApi,
    targets: &[(RmmAlert, i64)],
    field: &str,
    change: AlertChange,
) -> Result<(AlertsChanged, Value), Failure> {
    let ids: Vec<i64> = targets.iter().map(|(_, id)| *id).collect();
    let bulk = ids.len() > 1 && change != AlertChange::Unsnooze;
    let mut applied: Vec<(RmmAlert, i64)> = targets.to_vec();
    let mut not_changed = Vec::new();
    if bulk {
        api.change_alerts_bulk(&ids, change).await.map_err(Failure::Tactical)?;
        // Tactical's bulk answer is "ok" even for alerts it skipped (outside the API key's role,
        // or deleted): each alert is read back, and only those it changed are recorded.
        applied.clear();
        for (alert, id) in targets {
            let reason = match api.alert(*id).await {
                Ok(a) if took_effect(&a, change) => None,
                Ok(_) => Some("Tactical did not change this alert (outside the API key's role?)"),
                Err(TacticalError::Forbidden { .. }) => Some("outside the Tactical API key's role"),
                Err(TacticalError::NotFound { .. }) => Some("Tactical no longer has this alert (deleted there)"),
                // Tactical said ok and cannot be asked now: trust its answer.
                Err(e) => {
                    tracing::info!(error = %e, "could not read an alert back after a bulk change");
                    None
                }
            };
            match reason {
                None => applied.push((alert.clone(), *id)),
                Some(reason) => {
                    not_changed.push(NotChanged { alert_key: alert.alert_key.clone(), tactical_alert_id: *id, reason })
                }
            }
        }
    } else {
        for (i, id) in ids.iter().enumerate() {
            match api.change_alert(*id, change).await {
                Ok(()) => {}
                Err(TacticalError::NotFound { .. }) => {
                    let name = if field == "alert_key" { field.to_owned() } else { format!("alert_keys[{i}]") };
                    // Earlier alerts of the list were changed: record them before failing.
                    record_changes(deps, req, &targets[..i], change).await.map_err(|e| Failure::Other(e.into()))?;
                    return Err(Failure::Other(
                        ActionError::not_found(&name, "Tactical no longer has this alert (deleted there)")
                            .with_vendor(404),
                    ));
                }
                Err(e) => {
                    record_changes(deps, req, &targets[..i], change).await.map_err(|e| Failure::Other(e.into()))?;
                    return Err(Failure::Tactical(e));
                }
            }
        }
    }
    let recorded = record_changes(deps, req, &applied, change).await.map_err(|e| Failure::Other(e.into()))?;
    let alerts: Vec<ChangedAlert> = recorded.iter().map(ChangedAlert::of).collect();
    let summary =
        json!({"change": change.kind(), "tactical_alert_ids": ids, "bulk": bulk, "not_changed": not_changed.len()});
    let changed = AlertsChanged { change: change.kind(), count: alerts.len(), alerts, bulk, not_changed };
    Ok((changed, summary))
}

/// Whether Tactical's alert shows the bulk change.
fn took_effect(a: &crate::tactical::types::Alert, change: AlertChange) -> bool {
    match change {
        AlertChange::Resolve => a.resolved,
        AlertChange::Snooze { .. } => a.snoozed || a.resolved,
        AlertChange::Unsnooze => !a.snoozed,
    }
}

async fn record_changes(
    deps: &Deps,
    req: &ActionRequest<'_>,
    targets: &[(RmmAlert, i64)],
    change: AlertChange,
) -> Result<Vec<RmmAlert>, PortError> {
    let psa = match change {
        AlertChange::Resolve => PsaChange::Resolve { by: truncate(&req.caller.user_id, 256) },
        AlertChange::Snooze { days } => {
            PsaChange::Snooze { until: to_rfc3339(now() + time::Duration::days(i64::from(days))) }
        }
        AlertChange::Unsnooze => PsaChange::Unsnooze,
    };
    let mut out = Vec::with_capacity(targets.len());
    for (alert, _) in targets {
        if let Some(a) = record_psa_change(deps.store.as_ref(), &req.caller.tenant, &alert.alert_key, &psa).await? {
            out.push(a);
        }
    }
    // Also what a failed earlier attempt left pending: a retried action finds the alert
    // unchanged and publishes it then.
    publish_pending(deps.store.as_ref(), deps.events.as_ref(), &out).await?;
    Ok(out)
}
