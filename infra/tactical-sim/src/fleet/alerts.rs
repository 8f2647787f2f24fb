//! The generated alerts: availability alerts for overdue agents, check and task alerts.

use super::*;
use rand::Rng;
use rand::rngs::StdRng;
use time::{Duration, OffsetDateTime};

pub(super) const CHECK_DESCS: &[&str] = &[
    "Disk Space Drive C:",
    "CPU Load",
    "Memory",
    "Ping 8.8.8.8",
    "Service Check - Print Spooler",
    "Event Log Check - System errors",
];
pub(super) const TASK_NAMES: &[&str] = &["Nightly backup", "Clear temp files", "Defrag", "Update inventory"];

pub(super) fn generate_alerts(
    rng: &mut StdRng,
    n: usize,
    agents: &[Agent],
    sites: &[Site],
    clients: &[Client],
    now: OffsetDateTime,
) -> Vec<Alert> {
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let overdue: Vec<usize> =
        agents.iter().enumerate().filter(|(_, a)| a.status(now) == AgentStatus::Overdue).map(|(i, _)| i).collect();
    let agentless = if n >= 10 { n / 20 + 1 } else { 0 };
    let with_agent = n - agentless;
    for i in 0..with_agent {
        let id = i as i64 + 1;
        let at = crate::util::micros(now - Duration::seconds(rng.random_range(3 * 3600..14 * 86400)));
        let kind = match i % 20 {
            0..=7 => AlertType::Availability,
            8..=14 => AlertType::Check,
            15..=17 => AlertType::Task,
            _ => AlertType::Custom,
        };
        if agents.is_empty() {
            break;
        }
        let ai = if kind == AlertType::Availability && !overdue.is_empty() {
            overdue[rng.random_range(0..overdue.len())]
        } else {
            rng.random_range(0..agents.len())
        };
        let agent = &agents[ai];
        let severity = match kind {
            AlertType::Availability => Severity::Error,
            _ => [Severity::Error, Severity::Error, Severity::Warning, Severity::Warning, Severity::Info]
                [rng.random_range(0..5)],
        };
        let site = sites.iter().find(|s| s.id == agent.site_id).expect("site");
        let client = clients.iter().find(|c| c.id == site.client_id).expect("client");
        let mut alert = match kind {
            AlertType::Availability => Alert::new(
                id,
                Some(agent.pk),
                kind,
                severity,
                availability_message(&agent.hostname, &client.name, &site.name),
                at,
            ),
            AlertType::Check => {
                let desc = CHECK_DESCS[rng.random_range(0..CHECK_DESCS.len())];
                let mut a = Alert::new(
                    id,
                    Some(agent.pk),
                    kind,
                    severity,
                    format!("{} has a {desc} Check that failed.", agent.hostname),
                    at,
                );
                a.assigned_check = Some(100 + id);
                a.check_desc = Some(desc.to_string());
                a
            }
            AlertType::Task => {
                let t = TASK_NAMES[rng.random_range(0..TASK_NAMES.len())];
                let mut a = Alert::new(
                    id,
                    Some(agent.pk),
                    kind,
                    severity,
                    format!("{} has task: {t} that failed.", agent.hostname),
                    at,
                );
                a.assigned_task = Some(200 + id);
                a.check_desc = Some(t.to_string());
                a
            }
            AlertType::Custom => {
                Alert::new(id, Some(agent.pk), kind, severity, format!("Custom alert on {}", agent.hostname), at)
            }
        };
        decorate(rng, &mut alert, now);
        out.push(alert);
    }
    for j in 0..agentless {
        let id = (with_agent + j) as i64 + 1;
        let at = crate::util::micros(now - Duration::seconds(rng.random_range(60..3 * 3600)));
        let sev = [Severity::Info, Severity::Warning, Severity::Error][j % 3];
        out.push(Alert::new(id, None, AlertType::Custom, sev, format!("Server-side script alert #{}", j + 1), at));
    }
    out
}

pub(super) fn decorate(rng: &mut StdRng, a: &mut Alert, now: OffsetDateTime) {
    let r: f64 = rng.random();
    if r < 0.25 {
        a.resolved = true;
        let after = Duration::seconds(rng.random_range(60..7200));
        a.resolved_on = Some((a.alert_time + after).min(now));
    } else if r < 0.35 {
        a.snoozed = true;
        a.snooze_until = Some(crate::util::micros(now + Duration::days(rng.random_range(1..5))));
    }
    if a.alert_type == AlertType::Availability && rng.random_bool(0.3) {
        a.hidden = true;
    }
    if a.severity != Severity::Info && rng.random_bool(0.2) {
        a.email_sent = Some(a.alert_time + Duration::seconds(5));
    }
}
