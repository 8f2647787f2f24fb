//! The instance-URL normaliser: never panics, and what it accepts is a fixed point that builds
//! well-formed endpoints.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::tactical::InstanceUrl;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    // The first line is the URL, the rest a route path.
    let (url, path) = raw.split_once('\n').unwrap_or((raw, "agents"));
    let Ok(u) = InstanceUrl::parse(url) else { return };
    let s = u.as_str();
    assert!(!s.ends_with('/'), "normalised URL ends without '/': {s:?}");
    assert!(s.starts_with("http://") || s.starts_with("https://"), "{s:?}");
    assert_eq!(InstanceUrl::parse(s).as_ref(), Ok(&u), "parse(normalised) == normalised for {url:?}");
    let e = u.endpoint(path);
    assert!(e.ends_with('/'), "endpoint ends with '/': {e:?}");
    assert!(e.starts_with(s), "endpoint extends the base: {e:?}");
    let _ = u.host();
});
