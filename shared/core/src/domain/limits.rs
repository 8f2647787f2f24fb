//! Bounds on the work a Tactical answer can cause. Every Tactical server is untrusted input to
//! workers shared by all tenants: its `count` decides how many page messages a run queues, so the
//! count is turned into a page number with checked arithmetic and capped before anything is
//! allocated or sent.

use crate::config::ConfigError;
use std::collections::BTreeMap;

/// Fan-out caps (`MAX_PAGES_PER_LISTING`, `MAX_WORK_ITEMS_PER_RUN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOutLimits {
    /// Pages one paged listing (one Tactical client's agents, or the whole agent list) may have.
    pub max_pages_per_listing: u32,
    /// Work items (queue messages) one run may queue in total. It also bounds the run record:
    /// each work item leaves its key in the run's `done_items` set (≈ 20 bytes each), and a
    /// DynamoDB item holds at most 400 KB.
    pub max_work_items_per_run: u32,
}

impl Default for FanOutLimits {
    /// Sized for a 50,000-agent tenant with room to spare: 1,000 pages are 1,000,000 agents at
    /// the default page size of 1000 (and still 50,000 at 50 per page); a 50,000-agent device run
    /// is ≈ 50 pages plus one per organization, a software run 500 batches of 100.
    fn default() -> Self {
        Self { max_pages_per_listing: 1_000, max_work_items_per_run: 10_000 }
    }
}

/// Upper bound for either setting (the run record's `done_items` must stay below 400 KB).
const MAX_SETTING: u32 = 15_000;

impl FanOutLimits {
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut l = Self::default();
        let read = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
            match env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_SETTING).contains(n))
                    .ok_or(ConfigError::Invalid { name, reason: format!("must be a number from 1 to {MAX_SETTING}") }),
            }
        };
        l.max_pages_per_listing = read("MAX_PAGES_PER_LISTING", l.max_pages_per_listing)?;
        l.max_work_items_per_run = read("MAX_WORK_ITEMS_PER_RUN", l.max_work_items_per_run)?;
        Ok(l)
    }
}

/// A listing or run that would cause more work than its cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FanOutError {
    #[error(
        "Tactical reports {count} rows for {what}: {pages} pages of {page_size} is over the limit of {max} pages (MAX_PAGES_PER_LISTING)"
    )]
    TooManyPages { what: String, count: u64, page_size: u32, pages: u64, max: u32 },
    #[error("the run would queue {total} work items, over the limit of {max} per run (MAX_WORK_ITEMS_PER_RUN)")]
    TooManyWorkItems { total: i64, max: u32 },
}

/// Pages of `page_size` rows that hold `count` rows (at least 1), or an error above `max`.
/// `what` names the listing in the message.
pub fn page_count(count: u64, page_size: u32, max: u32, what: &str) -> Result<u32, FanOutError> {
    let page_size = page_size.max(1);
    let pages = count.div_ceil(u64::from(page_size)).max(1);
    match u32::try_from(pages) {
        Ok(p) if p <= max => Ok(p),
        _ => Err(FanOutError::TooManyPages { what: what.to_owned(), count, page_size, pages, max }),
    }
}

/// Refuses a run whose queued work items (`work_total` after a fan-out) are above the cap.
pub fn check_run_total(total: i64, limits: &FanOutLimits) -> Result<(), FanOutError> {
    if total > i64::from(limits.max_work_items_per_run) {
        return Err(FanOutError::TooManyWorkItems { total, max: limits.max_work_items_per_run });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_checked_and_capped() {
        let max = FanOutLimits::default().max_pages_per_listing;
        assert_eq!(page_count(0, 1000, max, "x"), Ok(1));
        assert_eq!(page_count(1, 1000, max, "x"), Ok(1));
        assert_eq!(page_count(50_000, 1000, max, "x"), Ok(50));
        assert_eq!(page_count(50_000, 0, 50_000, "x"), Ok(50_000), "a zero page size reads as 1");
        assert_eq!(page_count(1_000_000, 1000, max, "x"), Ok(1000));
        let e = page_count(4_294_967_295_000, 1000, max, "client 7").unwrap_err();
        assert!(e.to_string().contains("client 7") && e.to_string().contains("4294967295000"), "{e}");
        // Beyond u32: refused, never wrapped by a cast.
        assert!(page_count(u64::MAX, 1, u32::MAX, "x").is_err());
        assert_eq!(page_count(u64::from(u32::MAX), 1, u32::MAX, "x"), Ok(u32::MAX));
    }

    #[test]
    fn run_total_is_capped() {
        let l = FanOutLimits { max_pages_per_listing: 10, max_work_items_per_run: 20 };
        assert!(check_run_total(20, &l).is_ok());
        assert!(check_run_total(21, &l).unwrap_err().to_string().contains("MAX_WORK_ITEMS_PER_RUN"));
    }

    #[test]
    fn settings_are_validated() {
        let env = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        assert_eq!(FanOutLimits::from_env(&BTreeMap::new()).unwrap(), FanOutLimits::default());
        assert_eq!(FanOutLimits::from_env(&env("MAX_PAGES_PER_LISTING", "5")).unwrap().max_pages_per_listing, 5);
        for bad in ["0", "-1", "x", "15001"] {
            let e = FanOutLimits::from_env(&env("MAX_WORK_ITEMS_PER_RUN", bad)).unwrap_err();
            assert!(e.to_string().contains("MAX_WORK_ITEMS_PER_RUN"), "{e}");
        }
    }
}
