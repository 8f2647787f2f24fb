//! Clients and sites (classic API).

use axum::response::Response;

use super::auth::*;
use super::respond::*;
use crate::rows;
use crate::state::{Data, SimState};

pub(super) fn clients_list(st: &SimState, p: &Principal) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    let mut clients: Vec<&crate::model::Client> = d.clients.values().filter(|c| in_scope(&p.role, c.id)).collect();
    clients.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let out: Vec<_> = clients.into_iter().map(|c| rows::client_row(&d, c, &agg)).collect();
    ok(&out)
}

pub(super) fn client_detail(st: &SimState, p: &Principal, param: &str) -> Response {
    let d = st.read();
    let Some(c) = param.parse::<i64>().ok().and_then(|id| d.clients.get(&id)) else {
        return not_found("Client");
    };
    if !in_scope(&p.role, c.id) {
        return forbidden();
    }
    let agg = rows::site_aggregates(&d);
    ok(&rows::client_row(&d, c, &agg))
}

pub(super) fn sorted_sites(d: &Data) -> Vec<&crate::model::Site> {
    let mut sites: Vec<&crate::model::Site> = d.sites.values().collect();
    sites.sort_by(|a, b| {
        let ca = &d.clients[&a.client_id].name;
        let cb = &d.clients[&b.client_id].name;
        ca.cmp(cb).then(a.name.cmp(&b.name)).then(a.id.cmp(&b.id))
    });
    sites
}

pub(super) fn sites_list(st: &SimState, p: &Principal) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    let out: Vec<_> = sorted_sites(&d)
        .into_iter()
        .filter(|s| in_scope(&p.role, s.client_id))
        .map(|s| rows::site_row(&d, s, Some(&agg), false))
        .collect();
    ok(&out)
}

pub(super) fn site_detail(st: &SimState, p: &Principal, param: &str) -> Response {
    let d = st.read();
    let Some(s) = param.parse::<i64>().ok().and_then(|id| d.sites.get(&id)) else {
        return not_found("Site");
    };
    if !in_scope(&p.role, s.client_id) {
        return forbidden();
    }
    let agg = rows::site_aggregates(&d);
    ok(&rows::site_row(&d, s, Some(&agg), false))
}
