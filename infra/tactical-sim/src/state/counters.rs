//! Request counters and the request log.

use std::collections::HashMap;

use super::faults::*;
use super::*;
use crate::routes::RouteKind;

/// One served request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub route: Option<RouteKind>,
    /// 0 for a request that hung.
    pub status: u16,
    /// `"knox"`, `"api_key"` or `None` (which credential header was presented).
    pub credential: Option<&'static str>,
    pub fault: Option<Fault>,
}

// ------------------------------------------------------------------------------------------

#[derive(Default)]
pub(super) struct Stats {
    pub(super) counts: HashMap<RouteKind, u64>,
    pub(super) unmatched: u64,
    pub(super) total: u64,
    pub(super) log: Vec<RequestRecord>,
}

pub(super) const LOG_CAP: usize = 100_000;

impl SimState {
    // Counters

    pub(crate) fn count_request(&self, route: Option<RouteKind>) {
        let mut s = lock(&self.inner.stats);
        s.total += 1;
        match route {
            Some(r) => *s.counts.entry(r).or_default() += 1,
            None => s.unmatched += 1,
        }
    }

    pub(crate) fn log_request(&self, rec: RequestRecord) {
        let mut s = lock(&self.inner.stats);
        if s.log.len() >= LOG_CAP {
            s.log.remove(0);
        }
        s.log.push(rec);
    }

    /// Requests received for this route (any method, any outcome, faulted ones included).
    pub fn request_count(&self, route: RouteKind) -> u64 {
        lock(&self.inner.stats).counts.get(&route).copied().unwrap_or(0)
    }

    pub fn request_counts(&self) -> HashMap<RouteKind, u64> {
        lock(&self.inner.stats).counts.clone()
    }

    /// Requests whose path matched no route (HTML 404 or 301 redirects).
    pub fn unmatched_request_count(&self) -> u64 {
        lock(&self.inner.stats).unmatched
    }

    pub fn total_requests(&self) -> u64 {
        lock(&self.inner.stats).total
    }

    /// The last (up to 100 000) requests, oldest first, with their status.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner.stats).log.clone()
    }

    pub fn reset_counters(&self) {
        *lock(&self.inner.stats) = Stats::default();
    }

    // --------------------------------------------------------------------------------------
}
