//! rmm_alerts: Tactical alerts recorded from webhooks and backfill (admin guide "Receive alerts").

use super::time::now_rfc3339;
use super::webhook_payload::WebhookPayload;
use crate::tactical::types::Alert as TacticalAlert;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Tactical's severities onto the PSA's (critical, major, moderate, minor, none). One table for
/// webhook and backfill, so an alert reads the same whichever way it arrived; other words are read
/// as the nearest level.
pub fn map_severity(tactical: Option<&str>) -> &'static str {
    let s = tactical.unwrap_or("").trim().to_ascii_lowercase();
    match s.as_str() {
        "error" | "err" | "critical" | "crit" | "fatal" | "emergency" | "alert" | "high" | "severe" => "critical",
        "major" => "major",
        "warning" | "warn" | "medium" | "moderate" => "moderate",
        "info" | "information" | "informational" | "notice" | "low" | "minor" | "debug" => "minor",
        _ => "none",
    }
}

/// A resolve is any event whose text contains "resolve" (resolved, Resolve, auto_resolved…).
pub fn is_resolve(event: Option<&str>) -> bool {
    event.is_some_and(|e| e.to_ascii_lowercase().contains("resolve"))
}

/// The stable key of an alert: Tactical's id when known, else agent + type (+ check), so a
/// resolve without an id still finds its trigger.
pub fn alert_key(alert_id: Option<i64>, agent_id: &str, alert_type: Option<&str>, check: Option<&str>) -> String {
    match alert_id {
        Some(id) => format!("id#{id}"),
        None => {
            let check = check.map(|c| {
                let d = Sha256::digest(c.trim().to_ascii_lowercase().as_bytes());
                hex::encode(&d[..6])
            });
            format!("agent#{agent_id}#{}#{}", alert_type.unwrap_or("unknown"), check.unwrap_or_default())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RmmAlert {
    pub tenant: TenantId,
    pub alert_key: String,
    #[serde(default)]
    pub external_alert_id: Option<String>,
    pub external_device_id: String,
    #[serde(default)]
    pub asset_id: Option<String>,
    /// `active`, `suppressed` (snoozed in Tactical), `resolved`, `auto_resolved` (reconciliation).
    pub status: String,
    pub severity: String,
    #[serde(default)]
    pub tactical_severity: Option<String>,
    pub source_type: String,
    /// Tactical's `alert_type`: availability, check, task, custom.
    #[serde(default)]
    pub alert_class: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub device_name: Option<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub site_name: Option<String>,
    #[serde(default)]
    pub triggered_at: Option<String>,
    #[serde(default)]
    pub resolved_at: Option<String>,
    /// Who resolved it from the PSA (`alerts.resolve`); `None` when Tactical resolved it. Such a
    /// resolve is final for this Tactical alert id: a stale trigger never re-opens it.
    #[serde(default)]
    pub resolved_by: Option<String>,
    /// While `suppressed`: when the snooze ends (Tactical's `snooze_until`).
    #[serde(default)]
    pub snoozed_until: Option<String>,
    #[serde(default)]
    pub occurrence_count: i64,
    #[serde(default)]
    pub last_occurrence_at: Option<String>,
    /// The last raw payload (bounded), for debugging a template.
    #[serde(default)]
    pub raw: Option<String>,
    /// Tickets are the PSA's; the field is kept for it.
    #[serde(default)]
    pub ticket_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Optimistic concurrency.
    #[serde(default)]
    pub version: i64,
    /// Changes written but not yet published as `RMM Alert Changed` (the outbox), oldest first:
    /// the write that changes the alert records its event, and whoever handles the change next
    /// publishes it and clears the list (alert_flow::publish_pending).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_events: Vec<PendingEvent>,
}

/// One alert change waiting to be published, as it was when written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingEvent {
    /// The alert's version written with this change: with tenant and key, the event id.
    pub version: i64,
    /// `opened`, `severity_updated`, `resolved`, `auto_resolved`, `suppressed`, `unsuppressed`,
    /// `reopened`.
    pub kind: String,
    #[serde(default)]
    pub from: Option<String>,
    pub to: String,
    pub severity: String,
    /// `webhook`, `backfill`, `refetch`, `reconciliation`, `psa`.
    pub source: String,
    pub observed_at: String,
}

impl RmmAlert {
    pub fn is_open(&self) -> bool {
        self.status == "active" || self.status == "suppressed"
    }
}

/// What happened to an alert, from any source.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub resolve: bool,
    pub agent_id: String,
    pub alert_id: Option<i64>,
    pub alert_type: Option<String>,
    pub severity: Option<String>,
    pub message: Option<String>,
    pub hostname: Option<String>,
    pub client: Option<String>,
    pub site: Option<String>,
    pub alert_time: Option<String>,
    pub resolved_on: Option<String>,
    pub check: Option<String>,
    pub snoozed: bool,
    /// Tactical's `snooze_until` (backfill, re-fetch).
    pub snooze_until: Option<String>,
    pub raw: Option<String>,
    pub source: &'static str,
    /// A new occurrence (webhook trigger) rather than a state refresh (backfill, re-fetch).
    pub counts_occurrence: bool,
    /// The agent's asset, when the recorder found it is one (never unlinks).
    pub asset_id: Option<String>,
}

impl AlertEvent {
    pub fn from_webhook(p: &WebhookPayload, query_event: Option<&str>) -> Option<Self> {
        let agent_id = p.agent_id.clone()?;
        Some(Self {
            resolve: match (p.event.as_deref(), query_event) {
                // Admins paste their own templates: without an event, the values say it.
                (None, None) => p.resolved == Some(true) || p.resolved_on.is_some(),
                (body, query) => is_resolve(body) || is_resolve(query),
            },
            agent_id,
            alert_id: p.alert_id,
            alert_type: p.alert_type.clone(),
            severity: p.severity.clone(),
            message: p.message.clone(),
            hostname: p.hostname.clone(),
            client: p.client.clone(),
            site: p.site.clone(),
            alert_time: p.alert_time.clone(),
            resolved_on: p.resolved_on.clone(),
            check: p.check.clone(),
            snoozed: false,
            snooze_until: None,
            raw: Some(p.raw.clone()),
            source: "webhook",
            counts_occurrence: true,
            asset_id: None,
        })
    }

    /// An alert as Tactical's API returns it (backfill, re-fetch). `None` without an agent.
    pub fn from_tactical(a: &TacticalAlert, source: &'static str) -> Option<Self> {
        Some(Self {
            resolve: a.resolved,
            agent_id: a.agent_id.clone()?,
            alert_id: Some(a.id),
            alert_type: a.alert_type.clone(),
            severity: a.severity.clone(),
            message: a.message.clone(),
            hostname: a.hostname.clone(),
            client: a.client.clone(),
            site: a.site.clone(),
            alert_time: a.alert_time.as_deref().and_then(super::webhook_payload::parse_time),
            resolved_on: a.resolved_on.as_deref().and_then(super::webhook_payload::parse_time),
            check: None,
            snoozed: a.snoozed,
            snooze_until: a.snooze_until.as_deref().and_then(super::webhook_payload::parse_time),
            raw: None,
            source,
            counts_occurrence: false,
            asset_id: None,
        })
    }

    pub fn key(&self) -> String {
        alert_key(self.alert_id, &self.agent_id, self.alert_type.as_deref(), self.check.as_deref())
    }

    /// Identifies one delivery: the same body delivered twice has the same fingerprint.
    pub fn fingerprint(&self) -> String {
        let basis = format!(
            "{}|{}|{}|{}",
            if self.resolve { "resolve" } else { "trigger" },
            self.key(),
            self.alert_time.as_deref().unwrap_or(""),
            self.resolved_on.as_deref().unwrap_or(self.raw.as_deref().unwrap_or(""))
        );
        hex::encode(&Sha256::digest(basis.as_bytes())[..12])
    }
}

/// The state transition, pure: an existing alert (or none) plus an event gives the new alert.
/// A resolve before its trigger creates a resolved alert; a later trigger of the same Tactical
/// alert id does not reopen it (Tactical ids are per occurrence).
pub fn apply(tenant: &TenantId, existing: Option<RmmAlert>, ev: &AlertEvent) -> RmmAlert {
    let now = now_rfc3339();
    let mut a = existing.unwrap_or_else(|| RmmAlert {
        tenant: tenant.clone(),
        alert_key: ev.key(),
        external_alert_id: None,
        external_device_id: ev.agent_id.clone(),
        asset_id: None,
        status: "active".into(),
        severity: "none".into(),
        tactical_severity: None,
        source_type: "tacticalrmm".into(),
        alert_class: None,
        message: None,
        device_name: None,
        client_name: None,
        site_name: None,
        triggered_at: None,
        resolved_at: None,
        resolved_by: None,
        snoozed_until: None,
        occurrence_count: 0,
        last_occurrence_at: None,
        raw: None,
        ticket_id: None,
        created_at: Some(now.clone()),
        updated_at: None,
        version: 0,
        pending_events: Vec::new(),
    });
    if let Some(id) = ev.alert_id {
        a.external_alert_id = Some(id.to_string());
    }
    a.external_device_id = ev.agent_id.clone();
    if ev.severity.is_some() {
        a.tactical_severity = ev.severity.clone();
        a.severity = map_severity(ev.severity.as_deref()).into();
    }
    for (field, value) in [
        (&mut a.alert_class, &ev.alert_type),
        (&mut a.message, &ev.message),
        (&mut a.device_name, &ev.hostname),
        (&mut a.client_name, &ev.client),
        (&mut a.site_name, &ev.site),
    ] {
        if value.is_some() {
            *field = value.clone();
        }
    }
    if a.triggered_at.is_none() || (!ev.resolve && ev.alert_time.is_some()) {
        a.triggered_at = ev.alert_time.clone().or(a.triggered_at.take()).or_else(|| (!ev.resolve).then(|| now.clone()));
    }
    if ev.raw.is_some() {
        a.raw = ev.raw.clone();
    }
    if ev.asset_id.is_some() {
        a.asset_id = ev.asset_id.clone();
    }
    let psa_resolved = a.resolved_by.is_some()
        && a.status == "resolved"
        && ev.alert_id.is_some()
        && a.external_alert_id == ev.alert_id.map(|i| i.to_string());
    if psa_resolved {
        // Resolved from the PSA: final for this occurrence whatever arrives later (Tactical
        // gives a new failure a new alert id).
    } else if ev.resolve {
        a.status = "resolved".into();
        a.resolved_at = ev.resolved_on.clone().or(a.resolved_at.take()).or_else(|| Some(now.clone()));
        a.snoozed_until = None;
    } else {
        let already_resolved_same_occurrence = a.resolved_at.is_some()
            && ev.alert_id.is_some()
            && a.external_alert_id == ev.alert_id.map(|i| i.to_string())
            && ev.source == "webhook";
        if !already_resolved_same_occurrence {
            // A webhook says nothing of snoozes: a snooze still running keeps the alert
            // suppressed; one that has ended re-opens it. Tactical's own state (backfill) wins.
            let snooze_running = ev.source == "webhook"
                && a.status == "suppressed"
                && a.snoozed_until.as_deref().is_some_and(|u| u > now.as_str());
            if ev.snoozed || snooze_running {
                a.status = "suppressed".into();
                if ev.snooze_until.is_some() {
                    a.snoozed_until = ev.snooze_until.clone();
                }
            } else {
                a.status = "active".into();
                a.snoozed_until = None;
            }
            a.resolved_at = None;
        }
        if ev.counts_occurrence {
            a.occurrence_count += 1;
            a.last_occurrence_at = Some(now.clone());
        } else if a.occurrence_count == 0 {
            a.occurrence_count = 1;
        }
    }
    a.updated_at = Some(now);
    a
}

/// A change made from the PSA (`alerts.resolve`, `alerts.snooze`, `alerts.unsnooze`) once
/// Tactical has accepted it.
#[derive(Debug, Clone, PartialEq)]
pub enum PsaChange {
    Resolve { by: String },
    Snooze { until: String },
    Unsnooze,
}

/// The state a PSA change leads to, pure. Unsnoozing a resolved alert leaves it resolved.
pub fn apply_psa(existing: &RmmAlert, change: &PsaChange) -> RmmAlert {
    let now = now_rfc3339();
    let mut a = existing.clone();
    match change {
        PsaChange::Resolve { by } => {
            a.status = "resolved".into();
            a.resolved_at = Some(now.clone());
            a.resolved_by = Some(by.clone());
            a.snoozed_until = None;
        }
        PsaChange::Snooze { until } if a.is_open() => {
            a.status = "suppressed".into();
            a.snoozed_until = Some(until.clone());
        }
        PsaChange::Unsnooze if a.is_open() => {
            a.status = "active".into();
            a.snoozed_until = None;
        }
        PsaChange::Snooze { .. } | PsaChange::Unsnooze => {}
    }
    a.updated_at = Some(now);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(resolve: bool, id: Option<i64>) -> AlertEvent {
        AlertEvent {
            resolve,
            agent_id: "A".repeat(40),
            alert_id: id,
            alert_type: Some("check".into()),
            severity: Some("warning".into()),
            message: Some("Disk C: 95%".into()),
            hostname: Some("WIN-1".into()),
            client: None,
            site: None,
            alert_time: Some("2026-11-29T10:00:00Z".into()),
            resolved_on: None,
            check: None,
            snoozed: false,
            snooze_until: None,
            raw: None,
            source: "webhook",
            counts_occurrence: true,
            asset_id: None,
        }
    }

    #[test]
    fn a_template_without_event_resolves_by_its_resolved_values() {
        let parse = |body: &str| super::super::webhook_payload::parse(body.as_bytes());
        let agent = "\"agent_id\": \"abc\"";
        let resolve = |body: String, q: Option<&str>| AlertEvent::from_webhook(&parse(&body), q).unwrap().resolve;
        assert!(resolve(format!("{{{agent}, \"resolved\": \"True\"}}"), None));
        assert!(resolve(format!("{{{agent}, \"resolved_on\": \"2026-11-29 15:56:50.398654+00:00\"}}"), None));
        assert!(!resolve(format!("{{{agent}, \"resolved\": \"None\", \"resolved_on\": \"None\"}}"), None));
        assert!(!resolve(format!("{{{agent}, \"message\": \"Disk full\"}}"), None));
        // An event, in the body or the query, says it first.
        assert!(!resolve(format!("{{{agent}, \"event\": \"failure\", \"resolved\": \"True\"}}"), None));
        assert!(resolve(format!("{{{agent}, \"resolved\": \"None\"}}"), Some("resolved")));
    }

    #[test]
    fn severities_map_one_way_for_every_source() {
        assert_eq!(map_severity(Some("error")), "critical");
        assert_eq!(map_severity(Some("Warning")), "moderate");
        assert_eq!(map_severity(Some("info")), "minor");
        assert_eq!(map_severity(Some("whatever")), "none");
        assert_eq!(map_severity(None), "none");
    }

    #[test]
    fn trigger_then_resolve() {
        let t = TenantId::parse("t").unwrap();
        let a = apply(&t, None, &ev(false, Some(7)));
        assert_eq!((a.status.as_str(), a.occurrence_count, a.severity.as_str()), ("active", 1, "moderate"));
        let r = apply(&t, Some(a), &ev(true, Some(7)));
        assert_eq!(r.status, "resolved");
        assert!(r.resolved_at.is_some());
        assert_eq!(r.message.as_deref(), Some("Disk C: 95%"));
    }

    #[test]
    fn a_resolve_before_its_trigger_stays_resolved() {
        let t = TenantId::parse("t").unwrap();
        let r = apply(&t, None, &ev(true, Some(9)));
        assert_eq!(r.status, "resolved");
        let late = apply(&t, Some(r), &ev(false, Some(9)));
        assert_eq!(late.status, "resolved", "the trigger arriving late does not reopen it");
        assert_eq!(late.triggered_at.as_deref(), Some("2026-11-29T10:00:00Z"));
    }

    #[test]
    fn a_psa_resolve_is_final_for_its_occurrence() {
        let t = TenantId::parse("t").unwrap();
        let a = apply(&t, None, &ev(false, Some(7)));
        let r = apply_psa(&a, &PsaChange::Resolve { by: "u1".into() });
        assert_eq!((r.status.as_str(), r.resolved_by.as_deref()), ("resolved", Some("u1")));
        for source in ["webhook", "backfill"] {
            let stale = AlertEvent { source, counts_occurrence: source == "webhook", ..ev(false, Some(7)) };
            assert_eq!(apply(&t, Some(r.clone()), &stale).status, "resolved", "{source}");
        }
        let tactical_resolved = apply(&t, Some(a), &ev(true, Some(7)));
        let backfill = AlertEvent { source: "backfill", counts_occurrence: false, ..ev(false, Some(7)) };
        assert_eq!(apply(&t, Some(tactical_resolved), &backfill).status, "active", "Tactical's own state still wins");
    }

    #[test]
    fn snoozes_hold_until_they_end() {
        let t = TenantId::parse("t").unwrap();
        let a = apply(&t, None, &ev(false, Some(7)));
        let later = super::super::time::to_rfc3339(super::super::time::now() + time::Duration::days(2));
        let s = apply_psa(&a, &PsaChange::Snooze { until: later });
        assert_eq!(s.status, "suppressed");
        assert_eq!(apply(&t, Some(s.clone()), &ev(false, Some(7))).status, "suppressed", "a repeat while snoozed");
        let ended = RmmAlert { snoozed_until: Some("2020-01-01T00:00:00Z".into()), ..s.clone() };
        assert_eq!(apply(&t, Some(ended), &ev(false, Some(7))).status, "active", "the snooze has ended");
        let u = apply_psa(&s, &PsaChange::Unsnooze);
        assert_eq!((u.status.as_str(), u.snoozed_until.as_deref()), ("active", None));
        let closed = apply(&t, Some(a), &ev(true, Some(7)));
        assert_eq!(apply_psa(&closed, &PsaChange::Unsnooze).status, "resolved");
    }

    #[test]
    fn keys_without_an_id_match_trigger_and_resolve() {
        let trig = ev(false, None);
        let res = AlertEvent { alert_time: None, ..ev(true, None) };
        assert_eq!(trig.key(), res.key());
        assert_ne!(trig.fingerprint(), res.fingerprint());
        assert_eq!(trig.fingerprint(), ev(false, None).fingerprint(), "the same delivery twice");
        assert!(is_resolve(Some("RESOLVED")));
        assert!(!is_resolve(Some("failure")));
    }
}
