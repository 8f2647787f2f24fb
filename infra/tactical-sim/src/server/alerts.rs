//! Alerts: the PATCH listing with its filters, create, detail, resolve/snooze, bulk.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use time::Duration;

use super::auth::*;
use super::request::*;
use super::respond::*;
use crate::Role;
use crate::model::*;
use crate::rows;
use crate::state::{Data, SimState};

pub(super) fn alert_visible(d: &Data, p: &Principal, al: &crate::model::Alert) -> bool {
    match &p.role {
        Role::Clients(ids) => {
            al.agent_pk.and_then(|pk| d.agent_by_pk(pk)).is_some_and(|a| ids.contains(&d.client_of(a)))
        }
        _ => true,
    }
}

pub(super) fn alerts_list(st: &SimState, ctx: &Ctx, p: &Principal) -> Response {
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let d = st.read();
    let visible = || d.alerts.values().filter(|al| alert_visible(&d, p, al));
    if has_key(&data, "top") {
        let top = match req(&data, "top").and_then(py_int) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let mut open: Vec<&crate::model::Alert> = visible().filter(|a| a.is_open()).collect();
        open.sort_by(|a, b| a.alert_time.cmp(&b.alert_time).then(a.id.cmp(&b.id)));
        let count = open.len();
        let take = if top < 0 { count.saturating_sub(top.unsigned_abs() as usize) } else { (top as usize).min(count) };
        let alerts: Vec<_> = open.into_iter().take(take).map(|a| rows::alert_row(&d, a)).collect();
        return ok(&json!({"alerts_count": count, "alerts": alerts}));
    }
    let filter_keys = ["timeFilter", "clientFilter", "severityFilter", "resolvedFilter", "snoozedFilter"];
    if !filter_keys.iter().any(|k| has_key(&data, k)) {
        let all: Vec<_> = visible().map(|a| rows::alert_row(&d, a)).collect();
        return ok(&all);
    }
    let exclude_snoozed = data.get("snoozedFilter").is_some_and(|v| !truthy(v));
    let exclude_resolved = data.get("resolvedFilter").is_some_and(|v| !truthy(v));
    let clients: Option<Vec<i64>> = match data.get("clientFilter") {
        None => None,
        Some(v) => match v.as_array() {
            Some(arr) => Some(
                arr.iter().filter_map(|x| x.as_i64().or_else(|| x.as_str().and_then(|s| s.parse().ok()))).collect(),
            ),
            None => return server_error(),
        },
    };
    let severities: Option<Vec<String>> = match data.get("severityFilter") {
        None => None,
        Some(v) => match v.as_array() {
            Some(arr) => Some(arr.iter().map(py_str).collect()),
            None => return server_error(),
        },
    };
    let since = match data.get("timeFilter") {
        None => None,
        Some(v) => match py_int(v) {
            Ok(days) => Some(st.now() - Duration::days(days)),
            Err(r) => return r,
        },
    };
    let out: Vec<_> = visible()
        .filter(|al| !(exclude_snoozed && al.snoozed))
        .filter(|al| !(exclude_resolved && al.resolved))
        .filter(|al| {
            clients.as_ref().is_none_or(|ids| {
                al.agent_pk.and_then(|pk| d.agent_by_pk(pk)).is_some_and(|a| ids.contains(&d.client_of(a)))
            })
        })
        .filter(|al| severities.as_ref().is_none_or(|s| s.iter().any(|x| x == al.severity.as_str())))
        .filter(|al| since.is_none_or(|t| al.alert_time >= t))
        .map(|a| rows::alert_row(&d, a))
        .collect();
    ok(&out)
}

pub(super) fn alerts_create(st: &SimState, ctx: &Ctx, p: &Principal) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(kind) = data.get("alert_type").and_then(Value::as_str) else {
        return json_resp(StatusCode::BAD_REQUEST, &json!({"alert_type": ["This field is required."]}));
    };
    let Some(kind) = AlertType::parse(kind) else {
        return json_resp(
            StatusCode::BAD_REQUEST,
            &json!({"alert_type": [format!("\"{kind}\" is not a valid choice.")]}),
        );
    };
    let severity = data.get("severity").and_then(Value::as_str).and_then(Severity::parse).unwrap_or(Severity::Info);
    let agent_id = match data.get("agent").and_then(Value::as_i64) {
        Some(pk) => match st.read().agent_by_pk(pk) {
            Some(a) => Some(a.agent_id.clone()),
            None => {
                return json_resp(
                    StatusCode::BAD_REQUEST,
                    &json!({"agent": [format!("Invalid pk \"{pk}\" - object does not exist.")]}),
                );
            }
        },
        None => None,
    };
    let message = data.get("message").and_then(Value::as_str).map(str::to_string);
    let spec = crate::state::NewAlert {
        agent_id,
        alert_type: kind,
        severity,
        message,
        alert_time: None,
        hidden: false,
        id: None,
    };
    match st.raise_alert(spec) {
        Ok(_) => ok("ok"),
        Err(_) => server_error(),
    }
}

pub(super) fn alert_detail(st: &SimState, p: &Principal, param: &str) -> Response {
    let d = st.read();
    let Some(al) = param.parse::<i64>().ok().and_then(|id| d.alerts.get(&id)) else {
        return not_found("Alert");
    };
    if !alert_visible(&d, p, al) {
        return forbidden();
    }
    ok(&rows::alert_row(&d, al))
}

pub(super) fn alert_update(st: &SimState, ctx: &Ctx, p: &Principal, param: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let mut d = st.write();
    let Some(id) = param.parse::<i64>().ok().filter(|id| d.alerts.contains_key(id)) else {
        return not_found("Alert");
    };
    if !alert_visible(&d, p, &d.alerts[&id]) {
        return forbidden();
    }
    let kind = match req(&data, "type") {
        Ok(v) => py_str(v),
        Err(r) => return r,
    };
    let t = st.now();
    let snooze_days = data.get("snooze_days").cloned();
    let Some(al) = d.alerts.get_mut(&id) else {
        return not_found("Alert");
    };
    match kind.as_str() {
        "resolve" => {
            al.resolved = true;
            al.resolved_on = Some(t);
            al.snoozed = false;
            al.snooze_until = None;
        }
        "snooze" => {
            let Some(days) = snooze_days else {
                return notify_error("Missing 'snoozed_days' when trying to snooze alert");
            };
            let days = match py_int(&days) {
                Ok(n) => n,
                Err(r) => return r,
            };
            al.snoozed = true;
            al.snooze_until = Some(t + Duration::days(days));
        }
        "unsnooze" => {
            al.snoozed = false;
            al.snooze_until = None;
        }
        _ => return notify_error("There was an error in the request data"),
    }
    ok("ok")
}

pub(super) fn alert_delete(st: &SimState, p: &Principal, param: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let mut d = st.write();
    let Some(id) = param.parse::<i64>().ok().filter(|id| d.alerts.contains_key(id)) else {
        return not_found("Alert");
    };
    if !alert_visible(&d, p, &d.alerts[&id]) {
        return forbidden();
    }
    d.alerts.remove(&id);
    ok("ok")
}

pub(super) fn alerts_bulk(st: &SimState, ctx: &Ctx, p: &Principal) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let data = match ctx.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let action = match req(&data, "bulk_action") {
        Ok(v) => py_str(v),
        Err(r) => return r,
    };
    // Only resolve, and snooze with its days: anything else is "The request was invalid".
    let days = match action.as_str() {
        "resolve" => None,
        "snooze" if data.get("snooze_days").is_some() => Some(data["snooze_days"].clone()),
        _ => return notify_error("The request was invalid"),
    };
    // `id__in=request.data["alerts"]`: a missing key or a non-integer id is a 500.
    let ids: Vec<i64> = match req(&data, "alerts") {
        Ok(Value::Array(a)) => {
            let mut ids = Vec::with_capacity(a.len());
            for v in a {
                match py_int(v) {
                    Ok(id) if !matches!(v, Value::Bool(_)) => ids.push(id),
                    _ => return server_error(),
                }
            }
            ids
        }
        Ok(_) => return server_error(),
        Err(r) => return r,
    };
    let days = match days.as_ref().map(py_int).transpose() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let t = st.now();
    let mut d = st.write();
    let visible: Vec<i64> =
        ids.into_iter().filter(|id| d.alerts.get(id).is_some_and(|al| alert_visible(&d, p, al))).collect();
    for id in visible {
        let Some(al) = d.alerts.get_mut(&id) else { continue };
        match days {
            None => {
                al.resolved = true;
                al.resolved_on = Some(t);
                al.snoozed = false;
                al.snooze_until = None;
            }
            Some(days) => {
                al.snoozed = true;
                al.snooze_until = Some(t + Duration::days(days));
            }
        }
    }
    ok("ok")
}
