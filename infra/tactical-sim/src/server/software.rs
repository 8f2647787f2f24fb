//! Software inventories and scripts.

use std::time::Duration as StdDuration;

use axum::response::Response;
use serde_json::json;

use super::actions::*;
use super::agents::*;
use super::auth::*;
use super::request::*;
use super::respond::*;
use crate::rows;
use crate::state::SimState;

pub(super) fn software_list(st: &SimState, p: &Principal) -> Response {
    let d = st.read();
    let out: Vec<_> =
        d.agents.iter().filter(|a| in_scope(&p.role, d.client_of(a))).filter_map(rows::software_row).collect();
    ok(&out)
}

pub(super) fn agent_software(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    let d = st.read();
    let a = match scoped_agent(&d, p, agent_id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match rows::software_row(a) {
        Some(row) => ok(&row),
        None => ok(&json!([])),
    }
}

pub(super) async fn agent_software_refresh(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let host_ok = {
        let d = st.read();
        let a = match scoped_agent(&d, p, agent_id) {
            Ok(a) => a,
            Err(r) => return r,
        };
        if a.plat.is_posix() {
            return notify_error(&format!("Not available for {}", a.plat.as_str()));
        }
        reachable(a, st.now())
    };
    if !st.nats_up() || !host_ok {
        action_wait(st, StdDuration::from_secs(15)).await;
        return notify_error("Unable to contact the agent");
    }
    let mut d = st.write();
    let data = &mut *d;
    if let Some(i) = data.idx_by_agent_id(agent_id)
        && data.agents[i].software.is_none()
    {
        let items = crate::fleet::pick_software(&mut data.rng, &data.catalog, data.software_avg, false);
        data.agents[i].software = Some(items);
    }
    ok("ok")
}

pub(super) fn scripts_list(st: &SimState, ctx: &Ctx) -> Response {
    let community = ctx.q("showCommunityScripts").is_none_or(|v| !v.is_empty() && v != "false");
    let hidden = ctx.q("showHiddenScripts") == Some("true");
    let d = st.read();
    let out: Vec<_> = d
        .scripts
        .iter()
        .filter(|s| community || s.script_type == "userdefined")
        .filter(|s| hidden || !s.hidden)
        .map(rows::script_row)
        .collect();
    ok(&out)
}
