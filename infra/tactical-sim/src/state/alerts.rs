//! Alerts: raise, resolve, snooze, hide, delete; the Global Key Store.

use time::{Duration, OffsetDateTime};

use super::types::*;
use super::*;
use crate::fleet;

impl SimState {
    // Alerts

    /// Create an alert; returns its id.
    pub fn raise_alert(&self, spec: NewAlert) -> Result<i64, SimError> {
        let mut d = self.write();
        let agent = match &spec.agent_id {
            Some(id) => Some(d.agent(id).ok_or_else(|| SimError::UnknownAgent(id.clone()))?),
            None => None,
        };
        let message = match (&spec.message, agent) {
            (Some(m), _) => m.clone(),
            (None, Some(a)) => {
                let (site, client) = d.site_client(a);
                match spec.alert_type {
                    AlertType::Availability => fleet::availability_message(&a.hostname, &client.name, &site.name),
                    AlertType::Check => format!("{} has a CPU Load Check that failed.", a.hostname),
                    AlertType::Task => format!("{} has task: Nightly backup that failed.", a.hostname),
                    AlertType::Custom => format!("Custom alert on {}", a.hostname),
                }
            }
            (None, None) => "Custom alert".to_string(),
        };
        let agent_pk = agent.map(|a| a.pk);
        let id = spec.id.unwrap_or(d.next_alert);
        d.next_alert = d.next_alert.max(id + 1);
        let at = crate::util::micros(spec.alert_time.unwrap_or_else(|| self.now()));
        let mut al = Alert::new(id, agent_pk, spec.alert_type, spec.severity, message, at);
        al.hidden = spec.hidden;
        match spec.alert_type {
            AlertType::Check => {
                al.assigned_check = Some(100 + id);
                al.check_desc = Some("CPU Load".into());
            }
            AlertType::Task => {
                al.assigned_task = Some(200 + id);
                al.check_desc = Some("Nightly backup".into());
            }
            _ => {}
        }
        d.alerts.insert(id, al);
        Ok(id)
    }

    /// Resolve now (`resolved=true`, `resolved_on=now`, unsnoozed).
    pub fn resolve_alert(&self, id: i64) -> Result<(), SimError> {
        self.resolve_alert_at(id, self.now())
    }

    pub fn resolve_alert_at(&self, id: i64, at: OffsetDateTime) -> Result<(), SimError> {
        let mut d = self.write();
        let al = d.alerts.get_mut(&id).ok_or(SimError::UnknownAlert(id))?;
        al.resolved = true;
        al.resolved_on = Some(crate::util::micros(at));
        al.snoozed = false;
        al.snooze_until = None;
        Ok(())
    }

    pub fn snooze_alert(&self, id: i64, days: i64) -> Result<(), SimError> {
        let mut d = self.write();
        let al = d.alerts.get_mut(&id).ok_or(SimError::UnknownAlert(id))?;
        al.snoozed = true;
        al.snooze_until = Some(self.now() + Duration::days(days));
        Ok(())
    }

    pub fn set_alert_hidden(&self, id: i64, hidden: bool) -> Result<(), SimError> {
        let mut d = self.write();
        let al = d.alerts.get_mut(&id).ok_or(SimError::UnknownAlert(id))?;
        al.hidden = hidden;
        Ok(())
    }

    pub fn delete_alert(&self, id: i64) -> Result<(), SimError> {
        self.write().alerts.remove(&id).map(|_| ()).ok_or(SimError::UnknownAlert(id))
    }

    /// Global Key Store value for `{{global.NAME}}` in webhook templates.
    pub fn set_global_key(&self, name: &str, value: &str) {
        let mut d = self.write();
        d.globals.retain(|(k, _)| k != name);
        d.globals.push((name.to_string(), value.to_string()));
    }

    // --------------------------------------------------------------------------------------
}
