//! The audit of side-effecting actions: a pending record before the call (no record, no call),
//! its outcome after, and refusals as complete records. What is kept of an input never holds a
//! secret.

use super::action::{Action, ActionRequest};
use super::error::ActionError;
use super::input::{Input, MAX_ALERTS_PER_CALL, truncate};
use crate::domain::asset::asset_id_for;
use crate::domain::audit::{AuditFinish, AuditOutcome, AuditRecord, new_audit_id, redact_args, redact_command};
use crate::domain::time::now_rfc3339;
use crate::ports::AuditStore;
use crate::tactical::types::AlertChange;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Instant;

/// Tries to record an action's outcome before leaving its record `pending`.
pub(crate) const FINISH_ATTEMPTS: u32 = 3;

/// A side-effecting action's result with the id of its audit record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Audited<T> {
    #[serde(flatten)]
    pub result: T,
    pub audit_id: String,
    pub duration_ms: Option<u64>,
}

impl Input {
    /// What the audit keeps: never env var values; long text cut (with a hash of the whole
    /// command, so a record can be matched against a known command).
    pub(crate) fn audit_summary(&self) -> Value {
        match self {
            Input::RunCommand { req, .. } => {
                // Redacted before anything is kept, the hash too: a hash of a command with a
                // short password in it would let the password be guessed offline.
                let cmd = redact_command(&req.cmd);
                json!({
                    "shell": req.shell,
                    "custom_shell": req.custom_shell,
                    "command": truncate(&cmd, 1000),
                    "command_bytes": req.cmd.len(),
                    "command_sha256": hex::encode(Sha256::digest(cmd.as_bytes())),
                    "timeout": req.timeout,
                    "run_as_user": req.run_as_user,
                })
            }
            Input::RunScript { req, .. } => json!({
                "script_id": req.script_id,
                "args": redact_args(&req.args.iter().take(21).map(String::as_str).collect::<Vec<_>>())
                    .iter()
                    .take(20)
                    .map(|a| truncate(a, 200))
                    .collect::<Vec<_>>(),
                "env_var_names": req.env_vars.iter().map(|e| e.split('=').next().unwrap_or_default()).collect::<Vec<_>>(),
                "timeout": req.timeout,
                "run_as_user": req.run_as_user,
                "wait_for_output": req.wait,
            }),
            Input::Reboot { at, .. } => json!({ "at": at }),
            Input::Alerts { keys, change, .. } => json!({
                "alert_keys": keys.iter().take(MAX_ALERTS_PER_CALL).map(|k| truncate(k, 300)).collect::<Vec<_>>(),
                "change": change.kind(),
                "snooze_days": match change { AlertChange::Snooze { days } => Some(*days), _ => None },
            }),
            _ => Value::Null,
        }
    }
}

pub(crate) struct Audit<'a> {
    pub(crate) store: &'a dyn AuditStore,
    pub(crate) record: AuditRecord,
    started: Instant,
}

impl<'a> Audit<'a> {
    pub(crate) fn new(
        store: &'a dyn AuditStore,
        req: &ActionRequest<'_>,
        action: Action,
        agent_id: Option<String>,
        input: Value,
    ) -> Self {
        let record = AuditRecord {
            tenant: req.caller.tenant.clone(),
            audit_id: new_audit_id(),
            action: action.name().to_owned(),
            actor_user_id: truncate(&req.caller.user_id, 256),
            via: req.via,
            correlation_id: req.correlation_id.as_deref().map(|c| truncate(c, 256)),
            asset_id: agent_id.as_deref().map(|a| asset_id_for(&req.caller.tenant, a)),
            agent_id,
            input,
            outcome: AuditOutcome::Pending,
            tactical_called: false,
            error_code: None,
            error_message: None,
            result: None,
            started_at: now_rfc3339(),
            finished_at: None,
            duration_ms: None,
        };
        Self { store, record, started: Instant::now() }
    }

    fn finish_of(&self, outcome: Result<Option<Value>, &ActionError>) -> AuditFinish {
        let (outcome, error_code, error_message, result) = match outcome {
            Ok(summary) => (AuditOutcome::Ok, None, None, summary),
            Err(e) => (AuditOutcome::Error, Some(e.code_str()), Some(truncate(&e.to_string(), 500)), None),
        };
        AuditFinish {
            outcome,
            error_code,
            error_message,
            result,
            finished_at: now_rfc3339(),
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A refusal before any call: one complete record. If it cannot be written the refusal still
    /// stands; the record goes to the log instead (nothing was done to the endpoint).
    pub(crate) async fn refused(&mut self, e: &ActionError) {
        let finish = self.finish_of(Err(e));
        self.record.apply(&finish);
        if let Err(err) = self.store.put_audit(&self.record).await {
            tracing::error!(error = %err, audit = %record_text(&self.record), "audit record of a refused action not written");
        }
    }

    /// Runs `action` only once the pending record is written (futures do nothing until polled),
    /// then records how it ended.
    /// `action` answers its result and what the audit keeps of it.
    pub(crate) async fn around<T, F>(&mut self, action: F) -> Result<Audited<T>, ActionError>
    where
        F: std::future::Future<Output = Result<(T, Value), ActionError>>,
    {
        self.begin().await?;
        match action.await {
            Ok((result, summary)) => {
                self.finish(Ok(Some(summary))).await;
                Ok(Audited { result, audit_id: self.record.audit_id.clone(), duration_ms: self.record.duration_ms })
            }
            Err(e) => {
                self.finish(Err(&e)).await;
                Err(e)
            }
        }
    }

    /// The record before the call. No record, no call: an action that cannot be audited is not sent.
    async fn begin(&mut self) -> Result<(), ActionError> {
        self.record.tactical_called = true;
        if let Err(err) = self.store.put_audit(&self.record).await {
            tracing::error!(error = %err, tenant = %self.record.tenant, action = %self.record.action, "audit record not written; action not sent");
            return Err(ActionError::AuditUnavailable(err));
        }
        Ok(())
    }

    /// The outcome after the call, retried; if it still fails the record stays `pending` (read as
    /// "may have run") and the full outcome goes to the log, so it is never silently lost.
    async fn finish(&mut self, outcome: Result<Option<Value>, &ActionError>) {
        let finish = self.finish_of(outcome);
        let mut last_err = None;
        for attempt in 0..FINISH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            match self.store.finish_audit(&self.record.tenant, &self.record.audit_id, &finish).await {
                Ok(()) => {
                    self.record.apply(&finish);
                    return;
                }
                Err(e) => last_err = Some(e),
            }
        }
        self.record.apply(&finish);
        tracing::error!(
            error = %last_err.map(|e| e.to_string()).unwrap_or_default(),
            audit = %record_text(&self.record),
            "audit outcome not recorded; the stored record stays pending"
        );
    }
}

/// The record for the log when the store would not take it.
fn record_text(record: &AuditRecord) -> String {
    serde_json::to_string(record).unwrap_or_else(|e| format!("(the record did not serialise: {e})"))
}
