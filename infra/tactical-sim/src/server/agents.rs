//! Agents (classic API): list, detail, edit, delete.

use std::time::Duration as StdDuration;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::auth::*;
use super::request::*;
use super::respond::*;
use crate::model::*;
use crate::rows;
use crate::state::{Data, SimState};

/// `cost`: the time Tactical spends on the rows served (see `SimConfig::row_cost`).
pub(super) fn agents_list(st: &SimState, ctx: &Ctx, p: &Principal, cost: &mut StdDuration) -> Response {
    let mt = match ctx.q("monitoring_type") {
        Some(v) if !v.is_empty() => match MonitoringType::parse(v) {
            Some(m) => Some(m),
            None => return notify_error("monitoring type does not exist"),
        },
        _ => None,
    };
    let (site, client) = if ctx.has_q("site") {
        match ctx.q("site").unwrap_or("").parse::<i64>() {
            Ok(s) => (Some(s), None),
            Err(_) => return server_error(),
        }
    } else if ctx.has_q("client") {
        match ctx.q("client").unwrap_or("").parse::<i64>() {
            Ok(c) => (None, Some(c)),
            Err(_) => return server_error(),
        }
    } else {
        (None, None)
    };
    let full = ctx.q("detail").is_none_or(|v| v == "true");
    let d = st.read();
    let t = st.now();
    let iter = d.agents.iter().filter(|a| {
        let cid = d.client_of(a);
        in_scope(&p.role, cid)
            && mt.is_none_or(|m| a.monitoring_type == m)
            && site.is_none_or(|s| a.site_id == s)
            && client.is_none_or(|c| cid == c)
    });
    let per_row = st.row_cost();
    if full {
        let out: Vec<_> = iter.map(|a| rows::agent_table(&d, a, t)).collect();
        *cost = per_row * out.len() as u32;
        ok(&out)
    } else {
        let out: Vec<_> = iter.map(|a| rows::agent_slim(&d, a)).collect();
        *cost = per_row / 8 * out.len() as u32;
        ok(&out)
    }
}

/// Resolve an agent for an agent-scoped view: unknown ⇒ 404, out of scope ⇒ 403.
pub(super) fn scoped_agent<'a>(
    d: &'a Data,
    p: &Principal,
    agent_id: &str,
) -> Result<&'a crate::model::Agent, Response> {
    let a = d.agent(agent_id).ok_or_else(|| not_found("Agent"))?;
    if !in_scope(&p.role, d.client_of(a)) {
        return Err(forbidden());
    }
    Ok(a)
}

pub(super) fn agent_detail(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    let d = st.read();
    match scoped_agent(&d, p, agent_id) {
        Ok(a) => ok(&rows::agent_detail(&d, a, st.now())),
        Err(r) => r,
    }
}

pub(super) fn agent_update(st: &SimState, ctx: &Ctx, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let mut d = st.write();
    if let Err(r) = scoped_agent(&d, p, agent_id) {
        return r;
    }
    if let Some(site) = data.get("site") {
        let ok_site = site.as_i64().filter(|s| d.sites.contains_key(s));
        match ok_site {
            Some(_) => {}
            None => {
                return json_resp(
                    StatusCode::BAD_REQUEST,
                    &json!({"site": [format!("Invalid pk \"{}\" - object does not exist.", py_str(site))]}),
                );
            }
        }
    }
    if let Some(mt) = data.get("monitoring_type").and_then(Value::as_str)
        && MonitoringType::parse(mt).is_none()
    {
        return json_resp(
            StatusCode::BAD_REQUEST,
            &json!({"monitoring_type": [format!("\"{mt}\" is not a valid choice.")]}),
        );
    }
    let Some(i) = d.idx_by_agent_id(agent_id) else {
        return not_found("Agent");
    };
    let ip = data.get("site").and_then(Value::as_i64).map(crate::fleet::public_ip_for_site);
    let a = &mut d.agents[i];
    if let Some(s) = data.get("site").and_then(Value::as_i64) {
        a.site_id = s;
        if let Some(ip) = ip {
            a.public_ip = ip;
        }
    }
    if let Some(v) = data.get("maintenance_mode").and_then(Value::as_bool) {
        a.maintenance_mode = v;
    }
    if let Some(v) = data.get("description").and_then(Value::as_str) {
        a.description = v.to_string();
    }
    if let Some(v) = data.get("monitoring_type").and_then(Value::as_str).and_then(MonitoringType::parse) {
        a.monitoring_type = v;
    }
    if let Some(v) = data.get("offline_time").and_then(Value::as_i64) {
        a.offline_time = v;
    }
    if let Some(v) = data.get("overdue_time").and_then(Value::as_i64) {
        a.overdue_time = v;
    }
    if let Some(v) = data.get("check_interval").and_then(Value::as_i64) {
        a.check_interval = v;
    }
    if let Some(v) = data.get("time_zone") {
        a.time_zone = v.as_str().map(str::to_string);
    }
    for (k, field) in [("overdue_email_alert", 0), ("overdue_text_alert", 1), ("overdue_dashboard_alert", 2)] {
        if let Some(v) = data.get(k).and_then(Value::as_bool) {
            match field {
                0 => a.overdue_email_alert = v,
                1 => a.overdue_text_alert = v,
                _ => a.overdue_dashboard_alert = v,
            }
        }
    }
    a.modified_time = st.now();
    ok("The agent was updated successfully")
}

pub(super) fn agent_delete(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let host = {
        let d = st.read();
        match scoped_agent(&d, p, agent_id) {
            Ok(a) => a.hostname.clone(),
            Err(r) => return r,
        }
    };
    let _ = st.remove_agent(agent_id);
    ok(&format!("{host} will now be uninstalled."))
}
