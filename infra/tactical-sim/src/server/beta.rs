//! The beta API (`/beta/v1/`): DRF pagination, django-filter validation, agents, clients, sites.

use std::time::Duration as StdDuration;

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::request::*;
use super::respond::*;
use crate::model::*;
use crate::rows;
use crate::state::SimState;
use crate::util;

#[derive(Serialize)]
pub(super) struct Page<T: Serialize> {
    count: usize,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<T>,
}

/// DRF `replace_query_param` / `remove_query_param` on the absolute request URI.
pub(super) fn page_link(ctx: &Ctx, page: Option<usize>) -> String {
    let mut pairs: Vec<(String, String)> = ctx.query.iter().filter(|(k, _)| k != "page").cloned().collect();
    if let Some(p) = page {
        pairs.push(("page".into(), p.to_string()));
    }
    // parse_qs groups values per key; urlencode(sorted(items)) keeps each key's values in order
    let mut keys: Vec<&String> = Vec::new();
    for (k, _) in &pairs {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort();
    let mut ordered = Vec::new();
    for k in keys {
        for (kk, v) in &pairs {
            if kk == k {
                ordered.push((kk.clone(), v.clone()));
            }
        }
    }
    let base = format!("http://{}{}", ctx.host, ctx.path);
    if ordered.is_empty() { base } else { format!("{base}?{}", util::urlencode(&ordered)) }
}

pub(super) struct Paging {
    pub(super) page: usize,
    pub(super) size: usize,
}

pub(super) fn paging(ctx: &Ctx, count: usize) -> Result<Paging, Response> {
    let size = match ctx.q("page_size").map(|s| s.trim().parse::<i64>()) {
        Some(Ok(n)) if n > 0 => (n as usize).min(1000),
        _ => 100,
    };
    let pages = count.div_ceil(size).max(1);
    let page = match ctx.q("page") {
        None => 1,
        Some("last") => pages,
        Some(p) => match p.trim().parse::<i64>() {
            Ok(n) if n >= 1 && (n as usize) <= pages => n as usize,
            _ => return Err(detail(StatusCode::NOT_FOUND, "Invalid page.")),
        },
    };
    Ok(Paging { page, size })
}

pub(super) fn page_envelope<T: Serialize>(ctx: &Ctx, count: usize, pg: &Paging, results: Vec<T>) -> Response {
    let pages = count.div_ceil(pg.size).max(1);
    let next = (pg.page < pages).then(|| page_link(ctx, Some(pg.page + 1)));
    let previous = (pg.page > 1).then(|| page_link(ctx, if pg.page == 2 { None } else { Some(pg.page - 1) }));
    ok(&Page { count, next, previous, results })
}

pub(super) fn parse_dt_filter(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let s = s.replace('T', " ");
    let (date, rest) = s.split_once(' ').unwrap_or((&s, "00:00:00"));
    let mut dp = date.split('-');
    let y: i32 = dp.next()?.parse().ok()?;
    let m: u8 = dp.next()?.parse().ok()?;
    let d: u8 = dp.next()?.parse().ok()?;
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
    let rest = rest.trim_end_matches('Z');
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, "0"));
    let mut tp = hms.split(':');
    let h: u8 = tp.next()?.parse().ok()?;
    let mi: u8 = tp.next().unwrap_or("0").parse().ok()?;
    let sec: u8 = tp.next().unwrap_or("0").parse().ok()?;
    let micro: u32 = format!("{:0<6}", &frac[..frac.len().min(6)]).parse().ok()?;
    let t = time::Time::from_hms_micro(h, mi, sec, micro).ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_utc())
}

/// The beta list ignores the key's role (every agent, like Tactical). `cost`: as `agents_list`.
pub(super) fn beta_agents(st: &SimState, ctx: &Ctx, cost: &mut StdDuration) -> Response {
    if ctx.has_q("agent_id") {
        // the view copies ?agent_id= into kwargs then reads kwargs["pk"]: KeyError
        return server_error();
    }
    let mut errors = serde_json::Map::new();
    let nonempty = |k: &str| ctx.q(k).filter(|v| !v.is_empty());
    let num = |k: &str, errors: &mut serde_json::Map<String, Value>| -> Option<i64> {
        let v = nonempty(k)?;
        match v.trim().parse::<f64>() {
            Ok(f) => Some(f as i64),
            Err(_) => {
                errors.insert(k.to_string(), json!(["Enter a number."]));
                None
            }
        }
    };
    let id = num("id", &mut errors);
    let client_id = num("client_id", &mut errors);
    let ram_min = num("total_ram_range_min", &mut errors);
    let ram_max = num("total_ram_range_max", &mut errors);
    let choice_err = |v: &str| json!([format!("Select a valid choice. {v} is not one of the available choices.")]);
    let plat = nonempty("plat").and_then(|v| {
        let p = Plat::parse(v);
        if p.is_none() {
            errors.insert("plat".into(), choice_err(v));
        }
        p
    });
    let mt = nonempty("monitoring_type").and_then(|v| {
        let m = MonitoringType::parse(v);
        if m.is_none() {
            errors.insert("monitoring_type".into(), choice_err(v));
        }
        m
    });
    let d = st.read();
    let model_choice = "Select a valid choice. That choice is not one of the available choices.";
    let site = nonempty("site").and_then(|v| match v.parse::<i64>() {
        Ok(s) if d.sites.contains_key(&s) => Some(s),
        _ => {
            errors.insert("site".into(), json!([model_choice]));
            None
        }
    });
    let template = nonempty("alert_template").and_then(|v| match v.parse::<i64>() {
        Ok(t) if d.templates.iter().any(|x| x.id == t) => Some(t),
        _ => {
            errors.insert("alert_template".into(), json!([model_choice]));
            None
        }
    });
    if nonempty("policy").is_some() {
        errors.insert("policy".into(), json!([model_choice]));
    }
    let dt = |k: &str, errors: &mut serde_json::Map<String, Value>| -> Option<OffsetDateTime> {
        let v = nonempty(k)?;
        let parsed = parse_dt_filter(v);
        if parsed.is_none() {
            errors.insert(
                k.trim_end_matches("_after").trim_end_matches("_before").to_string(),
                json!(["Enter a valid date/time."]),
            );
        }
        parsed
    };
    let seen_after = dt("last_seen_range_after", &mut errors);
    let seen_before = dt("last_seen_range_before", &mut errors);
    let boolean = |k: &str| match nonempty(k) {
        Some("true" | "True") => Some(true),
        Some("false" | "False") => Some(false),
        _ => None,
    };
    let needs_reboot = boolean("needs_reboot");
    if !errors.is_empty() {
        return json_resp(StatusCode::BAD_REQUEST, &Value::Object(errors));
    }
    let hostname = nonempty("hostname");
    let os = nonempty("operating_system");
    let logged = nonempty("logged_in_username");
    let last_logged = nonempty("last_logged_in_user");
    let search = nonempty("search").map(str::to_lowercase);
    let descending = ctx
        .q("ordering")
        .and_then(|o| o.split(',').map(str::trim).find(|f| *f == "id" || *f == "-id"))
        .is_some_and(|f| f == "-id");

    let unfiltered = id.is_none()
        && client_id.is_none()
        && ram_min.is_none()
        && ram_max.is_none()
        && plat.is_none()
        && mt.is_none()
        && site.is_none()
        && template.is_none()
        && seen_after.is_none()
        && seen_before.is_none()
        && needs_reboot.is_none()
        && hostname.is_none()
        && os.is_none()
        && logged.is_none()
        && last_logged.is_none()
        && search.is_none();

    let selected: Vec<usize>;
    let count = if unfiltered {
        selected = Vec::new();
        d.agents.len()
    } else {
        selected = d
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                id.is_none_or(|x| a.pk == x)
                    && client_id.is_none_or(|c| d.client_of(a) == c)
                    && ram_min.is_none_or(|m| a.total_ram >= m)
                    && ram_max.is_none_or(|m| a.total_ram <= m)
                    && plat.is_none_or(|p| a.plat == p)
                    && mt.is_none_or(|m| a.monitoring_type == m)
                    && site.is_none_or(|s| a.site_id == s)
                    && template.is_none_or(|t| d.agent_template(a) == Some(t))
                    && seen_after.is_none_or(|t| a.last_seen.is_some_and(|ls| ls >= t))
                    && seen_before.is_none_or(|t| a.last_seen.is_some_and(|ls| ls <= t))
                    && needs_reboot.is_none_or(|n| a.needs_reboot == n)
                    && hostname.is_none_or(|h| a.hostname == h)
                    && os.is_none_or(|o| a.operating_system == o)
                    && logged.is_none_or(|l| a.logged_in_username == l)
                    && last_logged.is_none_or(|l| a.last_logged_in_user == l)
                    && search.as_ref().is_none_or(|s| {
                        // `search_fields = ["hostname", "services"]`: the services JSON matches too
                        a.hostname.to_lowercase().contains(s.as_str())
                            || (d.heavy_rows
                                && a.plat == Plat::Windows
                                && crate::heavy::Services { partner: rows::partner(&d, a) }.matches(s))
                    })
            })
            .map(|(i, _)| i)
            .collect();
        selected.len()
    };
    let pg = match paging(ctx, count) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let start = (pg.page - 1) * pg.size;
    let end = (start + pg.size).min(count);
    let pos = |k: usize| if descending { count - 1 - k } else { k };
    let per_row = st.row_cost();
    let results: Vec<_> = (start..end)
        .map(|k| {
            let i = if unfiltered { pos(k) } else { selected[pos(k)] };
            let a = &d.agents[i];
            *cost += if d.heavy_rows && a.plat == Plat::Windows { per_row * 8 } else { per_row };
            rows::beta_agent(&d, a, true)
        })
        .collect();
    page_envelope(ctx, count, &pg, results)
}

pub(super) fn beta_agent_detail(st: &SimState, param: &str) -> Response {
    let d = st.read();
    match param.parse::<i64>().ok().and_then(|pk| d.agent_by_pk(pk)) {
        Some(a) => ok(&rows::beta_agent_detail(&d, a, st.now())),
        None => not_found("Agent"),
    }
}

pub(super) fn beta_clients(st: &SimState) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    let out: Vec<_> = d.clients.values().map(|c| rows::beta_client(c, &agg, &d)).collect();
    ok(&out)
}

pub(super) fn beta_client_detail(st: &SimState, param: &str) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    match param.parse::<i64>().ok().and_then(|id| d.clients.get(&id)) {
        Some(c) => ok(&rows::beta_client(c, &agg, &d)),
        None => not_found("Client"),
    }
}

pub(super) fn beta_sites(st: &SimState, ctx: &Ctx) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    let search = ctx.q("search").filter(|s| !s.is_empty()).map(str::to_lowercase);
    let descending = ctx
        .q("ordering")
        .is_some_and(|o| o.split(',').map(str::trim).find(|f| *f == "id" || *f == "-id") == Some("-id"));
    let mut sites: Vec<&crate::model::Site> = d
        .sites
        .values()
        .filter(|s| search.as_ref().is_none_or(|q| s.name.to_lowercase().contains(q.as_str())))
        .collect();
    if descending {
        sites.reverse();
    }
    let count = sites.len();
    let pg = match paging(ctx, count) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let start = (pg.page - 1) * pg.size;
    let results: Vec<_> = sites.into_iter().skip(start).take(pg.size).map(|s| rows::beta_site(s, &agg)).collect();
    page_envelope(ctx, count, &pg, results)
}

pub(super) fn beta_site_detail(st: &SimState, param: &str) -> Response {
    let d = st.read();
    let agg = rows::site_aggregates(&d);
    match param.parse::<i64>().ok().and_then(|id| d.sites.get(&id)) {
        Some(s) => ok(&rows::beta_site(s, &agg)),
        None => not_found("Site"),
    }
}
