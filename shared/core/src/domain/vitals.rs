//! Vitals derived from Tactical agent fields: there is no `uptime` or `lan_ip` field
//! (docs/tactical-behaviour.md#agent-fields).

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vitals {
    /// `logged_in_username`; Tactical's text `"None"` means nobody is logged on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_user: Option<String>,
    /// Unix seconds; uptime is computed when read (`now - boot_time`), so it never goes stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lan_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wan_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub make_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ram_gb: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_reboot: Option<bool>,
}

/// Tactical's empty markers: `"None"`, `"-"`, and its failure strings.
pub fn clean(v: Option<&str>) -> Option<String> {
    let s = v?.trim();
    let lower = s.to_ascii_lowercase();
    if s.is_empty() || s == "None" || s == "-" || lower.starts_with("unknown") || lower.starts_with("error getting") {
        None
    } else {
        Some(s.to_owned())
    }
}

/// `192.168.1.5/24` → `192.168.1.5`; drops link-local IPv6 and loopback.
pub fn lan_ip(raw: &str) -> Option<String> {
    let ip = raw.trim().split('/').next()?.trim();
    let parsed: std::net::IpAddr = ip.parse().ok()?;
    match parsed {
        std::net::IpAddr::V4(v4) if v4.is_loopback() || v4.is_link_local() => None,
        std::net::IpAddr::V6(v6) if v6.is_loopback() || (v6.segments()[0] & 0xffc0) == 0xfe80 => None,
        _ => Some(parsed.to_string()),
    }
}

/// The first value of `key` in Windows WMI's nested arrays: `[[{"Key": v}, ...], ...]`.
fn wmi_first<'a>(wmi: &'a Value, section: &str, key: &str) -> Option<&'a Value> {
    wmi.get(section)?.as_array()?.iter().filter_map(Value::as_array).flatten().find_map(|o| o.get(key))
}

/// LAN IPs, serial and make/model from `wmi_detail` (Windows nested WMI, or posix flat keys).
pub fn from_wmi(wmi: Option<&Value>) -> (Vec<String>, Option<String>, Option<String>) {
    let Some(w) = wmi else { return (vec![], None, None) };
    if w.get("local_ips").is_some() || w.get("serialnumber").is_some() || w.get("make_model").is_some() {
        let ips = w
            .get("local_ips")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).filter_map(lan_ip).collect())
            .unwrap_or_default();
        return (
            ips,
            clean(w.get("serialnumber").and_then(Value::as_str)),
            clean(w.get("make_model").and_then(Value::as_str)),
        );
    }
    let mut ips = Vec::new();
    if let Some(sections) = w.get("network_config").and_then(Value::as_array) {
        for obj in sections.iter().filter_map(Value::as_array).flatten() {
            if let Some(list) = obj.get("IPAddress").and_then(Value::as_array) {
                ips.extend(list.iter().filter_map(Value::as_str).filter_map(lan_ip));
            }
        }
    }
    let serial = clean(wmi_first(w, "bios", "SerialNumber").and_then(Value::as_str));
    let vendor = clean(wmi_first(w, "comp_sys_prod", "Vendor").and_then(Value::as_str));
    let model = clean(wmi_first(w, "comp_sys", "Model").and_then(Value::as_str));
    let make_model = match (vendor, model) {
        (Some(v), Some(m)) => Some(format!("{v} {m}")),
        (v, m) => v.or(m),
    };
    (ips, serial, make_model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_windows_wmi() {
        let w: Value = serde_json::from_str(r#"{"bios": [[{"SerialNumber": "SN00003DELL"}]], "comp_sys": [[{"Model": "OptiPlex 7080"}, {"SystemFamily": "OptiPlex"}]], "comp_sys_prod": [[{"Vendor": "Dell Inc."}, {"Version": "1.0"}]], "network_config": [[{"IPAddress": ["10.0.0.13", "fe80::1c2d:3e4f:5a6b:7c8d"]}]]}"#).unwrap();
        let (ips, serial, mm) = from_wmi(Some(&w));
        assert_eq!(ips, vec!["10.0.0.13"]);
        assert_eq!(serial.as_deref(), Some("SN00003DELL"));
        assert_eq!(mm.as_deref(), Some("Dell Inc. OptiPlex 7080"));
    }

    #[test]
    fn reads_posix_flat_keys_with_cidr() {
        let w: Value = serde_json::from_str(r#"{"cpus": ["AMD EPYC"], "local_ips": ["192.168.2.27/24", "127.0.0.1/8"], "make_model": "QEMU Standard PC", "serialnumber": "POSIX00007"}"#).unwrap();
        let (ips, serial, mm) = from_wmi(Some(&w));
        assert_eq!(ips, vec!["192.168.2.27"]);
        assert_eq!(serial.as_deref(), Some("POSIX00007"));
        assert_eq!(mm.as_deref(), Some("QEMU Standard PC"));
    }

    #[test]
    fn none_and_failure_strings_mean_empty() {
        assert_eq!(clean(Some("None")), None);
        assert_eq!(clean(Some("unknown make/model")), None);
        assert_eq!(clean(Some("error getting local ips")), None);
        assert_eq!(clean(Some(" bwayne ")).as_deref(), Some("bwayne"));
    }
}
