//! Small helpers: datetime rendering (DRF ISO-8601 and Python `str()`), query strings, URLs.

use serde::{Serialize, Serializer};
use time::{OffsetDateTime, UtcOffset};

/// `2026-11-29T15:43:42.127811Z` — how DRF renders datetimes.
pub fn iso(dt: OffsetDateTime) -> String {
    let dt = dt.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        dt.year(),
        dt.month() as u8,
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.microsecond()
    )
}

/// `2026-11-21 00:19:35.527811+00:00` — Python `str(datetime)` of an aware UTC datetime
/// (the fraction is omitted when the microsecond is 0, as Python does).
pub fn py_datetime(dt: OffsetDateTime) -> String {
    let dt = dt.to_offset(UtcOffset::UTC);
    let base = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        dt.month() as u8,
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if dt.microsecond() == 0 { format!("{base}+00:00") } else { format!("{base}.{:06}+00:00", dt.microsecond()) }
}

/// Serialises as [`iso`].
#[derive(Clone, Copy, Debug)]
pub struct Iso(pub OffsetDateTime);

impl Serialize for Iso {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&iso(self.0))
    }
}

pub fn iso_opt(dt: Option<OffsetDateTime>) -> Option<Iso> {
    dt.map(Iso)
}

/// Truncate to whole microseconds (what PostgreSQL stores).
pub fn micros(dt: OffsetDateTime) -> OffsetDateTime {
    let ns = dt.nanosecond();
    dt.replace_nanosecond(ns - ns % 1000).unwrap_or(dt)
}

pub fn now() -> OffsetDateTime {
    micros(OffsetDateTime::now_utc())
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding with `+` as space (`application/x-www-form-urlencoded`, Python `unquote_plus`).
pub fn unquote_plus(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Python `parse_qsl(query, keep_blank_values=True)`.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split(['&', ';'])
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (unquote_plus(k), unquote_plus(v)),
            None => (unquote_plus(p), String::new()),
        })
        .collect()
}

/// Python `quote_plus` (safe: alphanumerics and `_.-~`).
pub fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Python `urlencode(pairs, doseq=True)` for already-flattened pairs.
pub fn urlencode(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v))).collect::<Vec<_>>().join("&")
}

/// `requests.utils.requote_uri`: percent-encode everything that is neither unreserved nor in
/// `!#$%&'()*+,/:;=?@[]~` (so spaces become `%20`, existing escapes are kept).
pub fn requote_uri(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!#$%&'()*+,/:;=?@[]".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats() {
        let dt = datetime!(2026-11-21 00:19:35.527811 UTC);
        assert_eq!(iso(dt), "2026-11-21T00:19:35.527811Z");
        assert_eq!(py_datetime(dt), "2026-11-21 00:19:35.527811+00:00");
        assert_eq!(py_datetime(datetime!(2026-11-21 00:19:35 UTC)), "2026-11-21 00:19:35+00:00");
    }

    #[test]
    fn query() {
        let q = parse_query("a=1&b=x+y&c=%2F&d");
        assert_eq!(q[1].1, "x y");
        assert_eq!(q[2].1, "/");
        assert_eq!(q[3], ("d".to_string(), String::new()));
        assert_eq!(quote_plus("a b/c"), "a+b%2Fc");
        assert_eq!(requote_uri("http://h/p?q=a b&x=%20"), "http://h/p?q=a%20b&x=%20");
    }
}
