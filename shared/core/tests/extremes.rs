//! Extreme values from a hostile Tactical: every time and number reader must answer (a value or
//! `None`), never panic. Release builds abort on a panic, and one worker handles up to 10
//! messages of any tenants at once, so a panic here would fail other tenants' work too.

use proptest::prelude::*;
use serde_json::{Value, json};
use shared::domain::asset::{OrgContext, asset_from_agent};
use shared::domain::limits::{FanOutLimits, check_run_total, page_count};
use shared::domain::software::{parse_go_time, parse_size};
use shared::domain::status::agent_status;
use shared::domain::time::parse_rfc3339;
use shared::domain::webhook_payload::{parse, parse_time};
use shared::tactical::types::{BetaAgent, BetaPage};
use shared::tenant::TenantId;
use time::{Date, OffsetDateTime};

/// Any representable instant (years -9999..=9999 without the `large-dates` feature).
fn any_time() -> impl Strategy<Value = OffsetDateTime> {
    let min = Date::MIN.midnight().assume_utc().unix_timestamp();
    let max = Date::MAX.midnight().assume_utc().unix_timestamp() + 86_399;
    (min..=max).prop_map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// Numbers at and around every edge a reader might cast or multiply.
fn edge_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MAX),
        Just(i64::MIN),
        Just(0),
        Just(-1),
        Just(i64::from(i32::MAX)),
        Just(i64::from(u32::MAX)),
        Just(153_722_867_280_912_930), // i64::MAX / 60: minutes → seconds overflow edge
        any::<i64>(),
    ]
}

/// Times as Tactical (or a server pretending to be it) writes them, near both ends of the
/// calendar, with any offset.
fn edge_time_text() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(1i32), Just(2), Just(1970), Just(9998), Just(9999), Just(10000), 0i32..=10_001],
        1u8..=12,
        1u8..=31,
        0u8..=23,
        0u8..=59,
        prop_oneof![Just(-23i8), Just(-1), Just(0), Just(1), Just(23), -25i8..=25],
        0u8..=59,
        0usize..4,
        any::<bool>(),
    )
        .prop_map(|(y, mo, d, h, mi, oh, om, style, last_hour)| {
            // Half the cases in the last hour of a year, where an offset crosses the calendar's end.
            let (y, mo, d, h) = if last_hour { (y, 12, 31, 23) } else { (y, mo, d, h) };
            let sign = if oh < 0 { '-' } else { '+' };
            let oh = oh.unsigned_abs();
            match style {
                0 => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:59{sign}{oh:02}:{om:02}"),
                1 => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:59.999999{sign}{oh:02}:{om:02}"),
                2 => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:59 {sign}{oh:02}{om:02} UTC"),
                _ => format!("{y:04}-{mo:02}-{d:02}T23:59:59.999999999Z"),
            }
        })
}

fn tenant() -> TenantId {
    TenantId::parse("extremes").expect("a valid tenant id")
}

/// One beta agent row with the hostile values put in.
fn agent(offline: i64, overdue: i64, last_seen: &str, boot_time: f64, total_ram: i64) -> Option<BetaAgent> {
    let row = json!({
        "id": i64::MAX, "agent_id": "A".repeat(40), "hostname": "h", "site": i64::MIN,
        "last_seen": last_seen, "offline_time": offline, "overdue_time": overdue,
        "boot_time": boot_time, "total_ram": total_ram, "monitoring_type": "server",
        "wmi_detail": {"network_config": [[{"IPAddress": ["10.0.0.1"]}]]},
    });
    serde_json::from_value(row).ok()
}

#[test]
fn the_reported_panics_are_gone() {
    let now = OffsetDateTime::now_utc();
    // `offline_time` 9223372036854775807 made the device worker panic (overflow constructing a
    // Duration): now the threshold is never reached and the agent keeps its reported state.
    let a = agent(i64::MAX, i64::MAX, "2026-11-29T12:00:00Z", 1.0e300, i64::MAX).expect("decodes");
    let org = OrgContext { tactical_client_id: i64::MAX, psa_client_id: None, site_name: None };
    let asset = asset_from_agent(&tenant(), &a, &org, now);
    assert_eq!(asset.agent_status.as_str(), "online");
    assert_eq!(asset.vitals.boot_time, Some(i64::MAX), "a float beyond i64 saturates");
    // Year 9999 with a negative offset has no UTC date: unknown, not a panic.
    assert_eq!(parse_go_time("9999-12-31 23:30:00 -0700 MST"), None);
    assert_eq!(parse_time("9999-12-31T23:30:00-07:00"), None);
    assert_eq!(parse_time("9999-12-31 23:30:00.1-07:00"), None);
    let p = parse(br#"{"alert_time": "9999-12-31 23:59:59-05:00", "agent_id": "x"}"#);
    assert_eq!(p.alert_time, None);
    // The same times with a positive offset are real instants.
    assert_eq!(parse_time("9999-12-31T23:30:00+07:00").as_deref(), Some("9999-12-31T16:30:00Z"));
    // Tactical's count of 4294967295000 agents is refused before any page message exists.
    let max = FanOutLimits::default().max_pages_per_listing;
    assert!(page_count(4_294_967_295_000, 1000, max, "client 1").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agent_status_never_panics(
        seen in proptest::option::of(any_time()),
        offline in proptest::option::of(edge_i64()),
        overdue in proptest::option::of(edge_i64()),
        now in any_time(),
    ) {
        let _ = agent_status(seen, offline, overdue, now);
    }

    #[test]
    fn default_thresholds_match_tactical(mins_ago in 0i64..100_000) {
        // Only the extremes changed: ordinary thresholds keep Tactical's rule.
        let now = time::macros::datetime!(2026-11-29 12:00 UTC);
        let seen = now - time::Duration::minutes(mins_ago);
        // Tactical's own boundary: a `last_seen` exactly at the overdue cut-off matches neither of
        // its strict comparisons, so it reads online.
        let want = if mins_ago > 30 {
            "overdue"
        } else if mins_ago == 30 {
            "online"
        } else if mins_ago > 4 {
            "offline"
        } else {
            "online"
        };
        prop_assert_eq!(agent_status(Some(seen), None, None, now).as_str(), want);
    }

    #[test]
    fn beta_agents_with_extreme_values_become_assets(
        offline in edge_i64(),
        overdue in edge_i64(),
        seen in edge_time_text(),
        boot in prop_oneof![Just(f64::MAX), Just(f64::MIN), Just(f64::NAN), Just(f64::INFINITY), Just(-0.0), any::<f64>()],
        ram in edge_i64(),
        now in any_time(),
    ) {
        if let Some(a) = agent(offline, overdue, &seen, boot, ram) {
            let org = OrgContext { tactical_client_id: 1, psa_client_id: Some("p"), site_name: None };
            let asset = asset_from_agent(&tenant(), &a, &org, now);
            let _ = asset.uptime_seconds(now);
            if let Some(t) = &asset.last_seen_at {
                prop_assert!(parse_rfc3339(t).is_some(), "{t}");
            }
        }
    }

    #[test]
    fn time_readers_never_panic_and_answer_utc(s in edge_time_text()) {
        for t in [parse_go_time(&s), parse_time(&s)].into_iter().flatten() {
            prop_assert!(t.ends_with('Z'), "{t}");
            prop_assert!(parse_rfc3339(&t).is_some(), "{t}");
        }
        let body = format!(r#"{{"alert_time": "{s}", "resolved_on": "{s}", "agent_id": "x"}}"#);
        let _ = parse(body.as_bytes());
    }

    #[test]
    fn time_readers_never_panic_on_any_text(s in "\\PC{0,48}") {
        let _ = parse_go_time(&s);
        let _ = parse_time(&s);
        let _ = parse_rfc3339(&s);
    }

    #[test]
    fn sizes_never_panic(n in any::<f64>(), unit in prop_oneof![Just(""), Just(" B"), Just(" kB"), Just(" MB"), Just(" GiB"), Just(" TB"), Just(" PB"), Just(" EB")]) {
        let _ = parse_size(&format!("{n}{unit}"));
        let _ = parse_size(&format!("{}{unit}", n.abs()));
        let _ = parse_size(&format!("{}{unit}", "9".repeat(400)));
    }

    #[test]
    fn pages_are_bounded(count in prop_oneof![Just(u64::MAX), Just(4_294_967_295_000u64), any::<u64>(), 0u64..100_000], size in any::<u32>(), max in 1u32..20_000) {
        match page_count(count, size, max, "x") {
            Ok(p) => {
                prop_assert!((1..=max).contains(&p));
                prop_assert!(u64::from(p) * u64::from(size.max(1)) >= count, "every row is on a page");
            }
            Err(e) => prop_assert!(e.to_string().contains("MAX_PAGES_PER_LISTING")),
        }
    }

    #[test]
    fn run_totals_are_bounded(total in any::<i64>()) {
        let l = FanOutLimits::default();
        prop_assert_eq!(check_run_total(total, &l).is_ok(), total <= i64::from(l.max_work_items_per_run));
    }

    #[test]
    fn beta_pages_with_hostile_counts_decode(count in any::<u64>(), id in any::<i64>()) {
        let body = json!({"count": count, "next": null, "previous": null, "results": [{"id": id, "agent_id": "a", "hostname": "h"}]});
        let page: Result<BetaPage<BetaAgent>, _> = serde_json::from_value::<BetaPage<BetaAgent>>(body);
        if let Ok(p) = page {
            prop_assert_eq!(p.count, count);
        }
        // Beyond u64 or negative: a decode error, not a wrapped number.
        let neg: Value = json!({"count": -1, "results": []});
        prop_assert!(serde_json::from_value::<BetaPage<BetaAgent>>(neg).is_err());
    }
}
