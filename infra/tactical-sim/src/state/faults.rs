//! Injected faults: what they do, which requests they hit, and taking the next one.

use std::time::Duration as StdDuration;

use super::*;
use crate::routes::RouteKind;

/// An injected failure, applied before the route's handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Delay, then answer normally.
    Latency(StdDuration),
    /// Answer this status with an HTML body (Django page for 500, nginx page for 502/503/504).
    Status5xx(u16),
    /// 429 `{"detail":"Request was throttled. Expected available in N seconds."}` + `Retry-After: N`.
    TooManyRequests { retry_after_secs: u64 },
    /// Never answer (until the simulator shuts down). Use client timeouts.
    Hang,
    /// 200 `application/json` whose body is the real body cut in half (invalid JSON).
    MalformedJson,
    /// Send the headers (with the full Content-Length) and half of the body, then drop the connection.
    ResetMidBody,
    /// 200 `text/html` dashboard SPA page.
    DashboardHtml,
    /// A hostile server: the real 2xx JSON answer with these values put at these JSON pointers
    /// (`*` stands for every element of an array, e.g. `/results/*/offline_time`). Serves what a
    /// stock Tactical never would: extreme numbers, year-9999 times, a giant `count`.
    Rewrite(Vec<(String, serde_json::Value)>),
    /// A hostile server: 200 `application/json`, chunked, a JSON array that never ends.
    EndlessBody,
}

/// Which requests a [`Fault`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    Route(RouteKind),
    /// Request path starts with this (e.g. `"/beta/"`).
    PathPrefix(String),
    /// This route when its query string has this exact `key=value` pair (e.g. one client's beta
    /// pages: `RouteWithParam(RouteKind::BetaAgents, "client_id=4".into())`).
    RouteWithParam(RouteKind, String),
    Any,
}

impl From<RouteKind> for FaultTarget {
    fn from(r: RouteKind) -> Self {
        FaultTarget::Route(r)
    }
}
impl From<&str> for FaultTarget {
    fn from(p: &str) -> Self {
        FaultTarget::PathPrefix(p.to_string())
    }
}
impl From<String> for FaultTarget {
    fn from(p: String) -> Self {
        FaultTarget::PathPrefix(p)
    }
}

pub(super) struct FaultRule {
    pub(super) target: FaultTarget,
    pub(super) fault: Fault,
    pub(super) remaining: Option<u32>,
}

impl SimState {
    // Faults

    /// Apply `fault` to every matching request until [`SimState::clear_faults`].
    pub fn set_fault(&self, target: impl Into<FaultTarget>, fault: Fault) {
        lock(&self.inner.faults).push(FaultRule { target: target.into(), fault, remaining: None });
    }

    /// Apply `fault` to the next `times` matching requests only.
    pub fn set_fault_times(&self, target: impl Into<FaultTarget>, fault: Fault, times: u32) {
        lock(&self.inner.faults).push(FaultRule { target: target.into(), fault, remaining: Some(times) });
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    pub(crate) fn take_fault(&self, route: Option<RouteKind>, path: &str, query: Option<&str>) -> Option<Fault> {
        let mut rules = lock(&self.inner.faults);
        let pos = rules.iter().position(|r| {
            r.remaining != Some(0)
                && match &r.target {
                    FaultTarget::Any => true,
                    FaultTarget::Route(k) => Some(*k) == route,
                    FaultTarget::PathPrefix(p) => path.starts_with(p.as_str()),
                    FaultTarget::RouteWithParam(k, pair) => {
                        Some(*k) == route && query.is_some_and(|q| q.split('&').any(|kv| kv == pair))
                    }
                }
        })?;
        let fault = rules[pos].fault.clone();
        if let Some(n) = rules[pos].remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                rules.remove(pos);
            }
        }
        Some(fault)
    }

    // --------------------------------------------------------------------------------------
}
