//! Tactical's free-form install sizes and dates (Go time strings) → typed values.

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// Sizes as the agent reports them (go-humanize): `"5.2 MB"`, `"865.3 kB"`, `"0 B"`. Decimal
/// units (kB = 1000 B), as go-humanize's `Bytes` writes them; the binary `KiB`/`MiB`/… of
/// `IBytes` are 1024-based. `None` when empty or unreadable.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "pb" => 1e15,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        "pib" => 1024f64.powi(5),
        _ => return None,
    };
    let bytes = (v * mult).round();
    // In range and not negative (checked just before), so the casts neither wrap nor saturate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Go's `time.Time` string (`2023-05-01 00:00:00 +0000 UTC`, optional fraction and monotonic
/// suffix) → RFC 3339 in UTC. Also reads RFC 3339, `YYYY-MM-DD` and the registry's `YYYYMMDD`.
/// Go's zero time (`0001-01-01 …`) means unknown: `None`, as is anything unreadable.
pub fn parse_go_time(s: &str) -> Option<String> {
    let s = s.trim();
    let t = if let Some(t) = crate::domain::time::parse_rfc3339(s) {
        t
    } else {
        let mut parts = s.split_whitespace();
        let date = parse_date(parts.next()?)?;
        let (time, offset) = match (parts.next(), parts.next()) {
            (Some(t), Some(o)) => (parse_clock(t)?, parse_offset(o)?),
            (Some(t), None) => (parse_clock(t)?, UtcOffset::UTC),
            _ => (Time::MIDNIGHT, UtcOffset::UTC),
        };
        PrimitiveDateTime::new(date, time).assume_offset(offset)
    };
    if t.year() <= 1 {
        return None;
    }
    // Checked: a time near year 9999 with a negative offset has no UTC date.
    let utc = t.checked_to_offset(UtcOffset::UTC)?;
    Some(crate::domain::time::to_rfc3339(utc))
}

pub(super) fn parse_date(s: &str) -> Option<Date> {
    let (y, m, d) = if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        (&s[..4], &s[4..6], &s[6..])
    } else {
        let mut it = s.split('-');
        let r = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        r
    };
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

pub(super) fn parse_clock(s: &str) -> Option<Time> {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut it = hms.split(':');
    let (h, m, sec) = (it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?);
    if it.next().is_some() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = if frac.is_empty() { 0 } else { format!("{:0<9}", &frac[..frac.len().min(9)]).parse().ok()? };
    Time::from_hms_nano(h, m, sec, nanos).ok()
}

/// `+0000`, `-0700`, `+05:30`.
pub(super) fn parse_offset(s: &str) -> Option<UtcOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1i8, &s[1..]),
        b'-' => (-1i8, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i8 = digits[..2].parse().ok()?;
    let m: i8 = digits[2..].parse().ok()?;
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}
