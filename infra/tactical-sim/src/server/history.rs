//! Agent history: the rows the cmd and runscript views create, and their listing.

use axum::response::Response;
use serde_json::{Value, json};

use super::agents::*;
use super::auth::*;
use super::respond::*;
use crate::state::SimState;

/// `AgentHistoryView.get`: every row of the agent, unordered (no `ordering` on the model or the
/// view); shown here newest-first by kind, so a client must not rely on any order.
pub(super) fn agent_history(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    let d = st.read();
    let a = match scoped_agent(&d, p, agent_id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let t = st.now();
    let mut rows: Vec<&crate::model::HistEntry> = d.history.iter().filter(|h| h.agent_pk == a.pk).collect();
    rows.sort_by(|x, y| x.kind.cmp(y.kind).then(y.id.cmp(&x.id)));
    let out: Vec<Value> = rows
        .into_iter()
        .map(|h| {
            let reported = h.outcome.as_ref().filter(|_| h.ready_at <= t);
            let (results, script_results) = match (h.kind, reported) {
                ("cmd_run", Some((out, err, _, _))) => (json!(format!("{out}{err}")), Value::Null),
                ("script_run", Some((out, err, code, secs))) => (
                    Value::Null,
                    json!({"id": h.id, "stdout": out, "stderr": err, "retcode": code, "execution_time": secs}),
                ),
                _ => (Value::Null, Value::Null),
            };
            json!({
                "id": h.id,
                "script_name": h.script_name,
                "time": crate::util::iso(h.time),
                "type": h.kind,
                "command": h.command,
                "username": h.username,
                "results": results,
                "script_results": script_results,
                "collector_all_output": false,
                "save_to_agent_note": false,
                "agent": h.agent_pk,
                "script": h.script,
                "custom_field": null,
            })
        })
        .collect();
    ok(&out)
}

/// `AgentHistory.objects.create(...)` of the cmd and runscript views: before the agent is asked.
pub(super) fn add_history(
    st: &SimState,
    agent_pk: i64,
    kind: &'static str,
    command: Option<String>,
    script: Option<(i64, &'static str)>,
    username: &str,
    outcome: Option<(String, String, i64, f64)>,
) -> i64 {
    let t = st.now();
    let mut d = st.write();
    let id = d.next_history;
    d.next_history += 1;
    let ready_at = t + d.report_delay;
    d.history.push(crate::model::HistEntry {
        id,
        agent_pk,
        time: t,
        kind,
        command,
        username: username.chars().take(50).collect(),
        script: script.map(|s| s.0),
        script_name: script.map(|s| s.1),
        outcome,
        ready_at,
    });
    id
}
