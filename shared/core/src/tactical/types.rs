//! Wire types, lenient where Tactical is: unknown fields ignored, most fields optional, nulls
//! accepted. Only what the bridge uses is decoded and stored: raw agent rows carry services and WMI
//! data (docs/sync.md#why-pages-of-100-of-the-beta-list-measured), and a DynamoDB item holds 400 KB.

use serde::{Deserialize, Deserializer, Serialize};

/// Deserialises `null` as the type's default.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `POST /v2/checkcreds/` success body.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckCredsBody {
    pub totp: bool,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub expiry: Option<String>,
}

/// What checkcreds means for the caller.
#[derive(Debug, Clone)]
pub enum CheckCreds {
    /// The account has TOTP: call `login` with the current code.
    TotpRequired,
    /// No TOTP: checkcreds already issued a (short-lived, extended-by-use) Knox token.
    Token { token: secrecy::SecretString, expiry: Option<String> },
}

#[derive(Debug, Clone, Deserialize)]
pub struct KnoxLoginBody {
    pub token: String,
    #[serde(default)]
    pub expiry: Option<String>,
}

#[derive(Debug, Clone)]
pub struct KnoxLogin {
    pub token: secrecy::SecretString,
    pub expiry: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Site {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub agent_count: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Client {
    pub id: i64,
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub sites: Vec<Site>,
    #[serde(default)]
    pub agent_count: Option<i64>,
}

/// DRF page envelope of the beta API.
#[derive(Debug, Clone, Deserialize)]
pub struct BetaPage<T> {
    pub count: u64,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
    pub results: Vec<T>,
}

#[derive(Debug, Clone, Default)]
pub struct BetaAgentQuery {
    pub client_id: Option<i64>,
    pub site: Option<i64>,
    pub hostname: Option<String>,
    /// `search=`: icontains on hostname (and the services JSON).
    pub search: Option<String>,
    pub page: u32,
    pub page_size: u32,
}

/// A beta agent row: every model field, no `status`, no client id (only `site`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct BetaAgent {
    /// Integer pk: what `/software/` rows and beta detail use. Absent (0) when the row comes
    /// from the classic agent detail, which carries every other field under the same name.
    #[serde(default)]
    pub id: i64,
    pub agent_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub hostname: String,
    #[serde(default)]
    pub site: Option<i64>,
    #[serde(default)]
    pub monitoring_type: Option<String>,
    #[serde(default)]
    pub plat: Option<String>,
    #[serde(default)]
    pub goarch: Option<String>,
    #[serde(default)]
    pub operating_system: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub last_seen: Option<String>,
    #[serde(default)]
    pub offline_time: Option<i64>,
    #[serde(default)]
    pub overdue_time: Option<i64>,
    #[serde(default)]
    pub boot_time: Option<f64>,
    #[serde(default)]
    pub logged_in_username: Option<String>,
    #[serde(default)]
    pub last_logged_in_user: Option<String>,
    #[serde(default)]
    pub public_ip: Option<String>,
    #[serde(default)]
    pub total_ram: Option<i64>,
    #[serde(default)]
    pub needs_reboot: Option<bool>,
    #[serde(default)]
    pub maintenance_mode: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
    /// Raw WMI / posix inventory; vitals (LAN IPs, serial, make/model) are derived from it.
    /// Only those sections are kept: the rest (and `services`, never decoded) is skipped while
    /// the row is read, so a real Windows row (~150 KB) leaves a few KB.
    #[serde(default, deserialize_with = "lean_wmi")]
    pub wmi_detail: Option<serde_json::Value>,
}

/// A row of `GET /agents/?detail=false` (`AgentHostnameSerializer`): role-scoped.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct AgentSlim {
    /// Integer pk.
    #[serde(default)]
    pub id: i64,
    pub agent_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub hostname: String,
    /// Client NAME.
    #[serde(default, deserialize_with = "null_default")]
    pub client: String,
    /// Site NAME.
    #[serde(default, deserialize_with = "null_default")]
    pub site: String,
}

/// The `wmi_detail` sections the vitals come from (Windows WMI and posix flat keys).
const WMI_KEPT: &[&str] =
    &["network_config", "bios", "comp_sys", "comp_sys_prod", "local_ips", "serialnumber", "make_model"];

/// `wmi_detail` with only [`WMI_KEPT`]; anything but an object reads as absent.
fn lean_wmi<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
    struct Lean;
    impl<'de> Visitor<'de> for Lean {
        type Value = Option<serde_json::Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a WMI object")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(Lean)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = serde_json::Map::new();
            while let Some(k) = map.next_key::<String>()? {
                if WMI_KEPT.contains(&k.as_str()) {
                    out.insert(k, map.next_value()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Some(serde_json::Value::Object(out)))
        }
    }
    d.deserialize_option(Lean)
}

/// `GET /agents/<agent_id>/` (the subset we use). `site` is the site id, `client` the client NAME.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct AgentDetail {
    pub agent_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub hostname: String,
    #[serde(default)]
    pub site: Option<i64>,
    #[serde(default)]
    pub site_name: Option<String>,
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub monitoring_type: Option<String>,
    #[serde(default)]
    pub plat: Option<String>,
    #[serde(default)]
    pub operating_system: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub last_seen: Option<String>,
    #[serde(default)]
    pub offline_time: Option<i64>,
    #[serde(default)]
    pub overdue_time: Option<i64>,
    #[serde(default)]
    pub boot_time: Option<f64>,
    #[serde(default)]
    pub logged_in_username: Option<String>,
    #[serde(default)]
    pub public_ip: Option<String>,
    #[serde(default)]
    pub local_ips: Option<String>,
    #[serde(default)]
    pub make_model: Option<String>,
    #[serde(default)]
    pub needs_reboot: Option<bool>,
    #[serde(default)]
    pub maintenance_mode: Option<bool>,
    /// The agent's time zone (scheduled reboot times are in it).
    #[serde(default)]
    pub timezone: Option<String>,
}

/// A script of `GET /scripts/` (the fields the bridge shows; `script_body` is never fetched).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Script {
    pub id: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    #[serde(default)]
    pub script_type: Option<String>,
    #[serde(default)]
    pub shell: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub args: Vec<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub default_timeout: Option<i64>,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub supported_platforms: Vec<String>,
    #[serde(default)]
    pub run_as_user: bool,
    /// `K=V` defaults; values may be secrets, so only the names leave the bridge.
    #[serde(default, deserialize_with = "null_default")]
    pub env_vars: Vec<String>,
}

/// `POST /agents/<agent_id>/cmd/`. Every key is always sent: Tactical indexes `request.data`
/// directly and answers HTML 500 for a missing one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunCommand {
    /// `cmd`, `powershell`, `bash` or `custom`.
    pub shell: String,
    pub cmd: String,
    /// Seconds the agent lets the command run.
    pub timeout: u32,
    pub run_as_user: bool,
    /// Path of the shell when `shell` is `custom` (sent as null otherwise).
    pub custom_shell: Option<String>,
}

/// `POST /agents/<agent_id>/runscript/` with output `wait` or `forget`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunScript {
    pub script_id: i64,
    pub args: Vec<String>,
    /// `K=V` strings.
    pub env_vars: Vec<String>,
    pub timeout: u32,
    pub run_as_user: bool,
    /// `wait` for the output, or `forget` (Tactical answers at once).
    pub wait: bool,
}

/// Output of a command or a waited-for script, bounded in size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionOutput {
    pub output: String,
    /// The output was longer than the bound and was cut.
    pub truncated: bool,
    /// Size of the whole output as Tactical sent it (bytes of UTF-8).
    pub output_bytes: usize,
}

/// What Tactical answered to a script run.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptRun {
    /// `wait`: the script's combined stdout and stderr.
    Completed(ActionOutput),
    /// `forget`: Tactical's "<script> will now be run on <hostname>" message. Tactical answers
    /// the same even when the agent is offline: it does not mean the script ran.
    Accepted { message: String },
}

/// `PATCH /agents/<agent_id>/reboot/` success body.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ScheduledReboot {
    /// Tactical's rendering, e.g. "January 01, 2030 at 10:00 AM" (agent local time).
    #[serde(default, deserialize_with = "null_default")]
    pub time: String,
    #[serde(default, deserialize_with = "null_default")]
    pub agent: String,
    #[serde(default, deserialize_with = "null_default")]
    pub task_name: String,
}

/// One agent's row of `GET /software/` and `GET /software/<agent_id>/`: the items are nested
/// under the agent's integer pk, not its agent_id (docs/tactical-behaviour.md#software-inventory).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct SoftwareRow {
    #[serde(default)]
    pub id: Option<i64>,
    /// The agent's integer pk (what the beta agent list calls `id`).
    #[serde(default)]
    pub agent: Option<i64>,
    #[serde(default, deserialize_with = "lenient_items")]
    pub software: Vec<SoftwareItem>,
}

/// One installed program as the agent reported it (Go `SoftwareList`). All strings on the wire;
/// old agents send only `name` and `version`, so everything but `name` is optional, and a value
/// of another JSON type is read leniently rather than failing the whole row.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct SoftwareItem {
    /// Empty when missing: such an item is skipped by the ingest, not an error.
    #[serde(default, deserialize_with = "lenient_name")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub publisher: Option<String>,
    /// Go time string, `"0001-01-01 00:00:00 +0000 UTC"` when unknown.
    #[serde(default, deserialize_with = "lenient_string")]
    pub install_date: Option<String>,
    /// Human size such as `"5.2 MB"` (go-humanize, decimal units).
    #[serde(default, deserialize_with = "lenient_string")]
    pub size: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub location: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub uninstall: Option<String>,
}

/// Any JSON scalar as text (strings as they are, numbers and booleans printed); `null`, arrays
/// and objects as `None`. Never fails, so one odd field cannot drop an agent's inventory.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

fn lenient_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(lenient_string(d)?.unwrap_or_default())
}

/// The `software` list: `null` as empty, elements that are not objects skipped.
fn lenient_items<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SoftwareItem>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Elem {
        Item(SoftwareItem),
        Other(serde::de::IgnoredAny),
    }
    let elems: Option<Vec<Elem>> = Option::deserialize(d)?;
    Ok(elems
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e {
            Elem::Item(i) => Some(i),
            Elem::Other(_) => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/../../../shared/fixtures/tactical-1.5.1/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn decodes_real_clients() {
        let clients: Vec<Client> = serde_json::from_str(&fixture("GET_clients.json")).unwrap();
        assert!(!clients.is_empty());
        let acme = clients.iter().find(|c| c.name == "Acme Corp").unwrap();
        assert_eq!(acme.id, 4);
        assert_eq!(acme.sites.len(), 2);
        assert_eq!(acme.sites[0].agent_count, Some(10));
    }

    #[test]
    fn decodes_a_real_beta_agent_page() {
        let page: BetaPage<BetaAgent> =
            serde_json::from_str(&fixture("GET_beta_v1_agent_page_size3_page2.json")).unwrap();
        assert_eq!(page.count, 50);
        assert_eq!(page.results.len(), 3);
        let a = &page.results[0];
        assert_eq!(a.id, 54);
        assert_eq!(a.agent_id.len(), 40);
        assert_eq!(a.site, Some(9));
        assert_eq!(a.offline_time, Some(4));
        assert!(a.boot_time.unwrap() > 1.0e9);
        assert!(a.wmi_detail.is_some());
    }

    #[test]
    fn decodes_real_scripts() {
        let scripts: Vec<Script> = serde_json::from_str(&fixture("GET_scripts.json")).unwrap();
        let s = scripts.iter().find(|s| s.name == "Disk usage").unwrap();
        assert_eq!(s.args, vec!["-h"]);
        assert_eq!(s.shell.as_deref(), Some("shell"));
        assert!(scripts.iter().all(|s| s.id > 0));
    }

    #[test]
    fn decodes_real_agent_detail() {
        let d: AgentDetail = serde_json::from_str(&fixture("GET_agents_AGENTID_linux.json")).unwrap();
        assert_eq!(d.plat.as_deref(), Some("linux"));
        assert!(d.local_ips.unwrap().contains('/'));
    }

    #[test]
    fn decodes_real_software_rows() {
        let rows: Vec<SoftwareRow> = serde_json::from_str(&fixture("GET_software.json")).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].agent, Some(51));
        assert_eq!(rows[0].software.len(), 6);
        let i = &rows[0].software[1];
        assert_eq!(i.name, "vs_FileTracker_Singleton");
        assert_eq!(i.size.as_deref(), Some("1.0 MB"));
        assert_eq!(i.install_date.as_deref(), Some("2019-06-08 00:00:00 +0000 UTC"));
    }

    #[test]
    fn software_items_are_lenient() {
        let row: SoftwareRow = serde_json::from_str(
            r#"{"id":1,"agent":2,"software":[{"name":"Old","version":"1.0"},{"name":null,"version":3},
            "junk",{"name":"Odd","size":12,"publisher":["x"],"install_date":null,"extra":true}]}"#,
        )
        .unwrap();
        assert_eq!(row.software.len(), 3);
        assert_eq!(row.software[0].publisher, None);
        assert_eq!(row.software[1].name, "");
        assert_eq!(row.software[1].version.as_deref(), Some("3"));
        assert_eq!(row.software[2].size.as_deref(), Some("12"));
        assert_eq!(row.software[2].publisher, None);
        let row: SoftwareRow = serde_json::from_str(r#"{"id":1,"agent":2,"software":null}"#).unwrap();
        assert!(row.software.is_empty());
    }
}

/// An alert of `PATCH /alerts/` or `GET /alerts/<id>/` (the subset we use). The four agent keys
/// are absent for an alert without agent.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Alert {
    pub id: i64,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default)]
    pub alert_time: Option<String>,
    #[serde(default)]
    pub alert_type: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub snoozed: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub resolved: bool,
    #[serde(default)]
    pub resolved_on: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub hidden: bool,
    /// Set while snoozed (Tactical unsnoozes it when the time has passed).
    #[serde(default)]
    pub snooze_until: Option<String>,
}

/// What `PUT /alerts/<id>/` (`type`) or `POST /alerts/bulk/` (`bulk_action`) does to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertChange {
    Resolve,
    Snooze { days: u32 },
    Unsnooze,
}

impl AlertChange {
    pub fn kind(self) -> &'static str {
        match self {
            AlertChange::Resolve => "resolve",
            AlertChange::Snooze { .. } => "snooze",
            AlertChange::Unsnooze => "unsnooze",
        }
    }
}

/// One row of `GET /agents/<agent_id>/history/` (`AgentHistorySerializer`, all model fields).
/// Every field but the id is optional: rows of other kinds (task runs) carry other shapes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HistoryRow {
    pub id: i64,
    #[serde(default)]
    pub time: Option<String>,
    /// `cmd_run`, `script_run` or `task_run`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// A command's combined output.
    #[serde(default)]
    pub results: Option<String>,
    /// The script's pk (null once the script was deleted).
    #[serde(default)]
    pub script: Option<i64>,
    #[serde(default)]
    pub script_name: Option<String>,
    /// `{id, stdout, stderr, retcode, execution_time}` once the agent has reported; any JSON.
    #[serde(default)]
    pub script_results: Option<serde_json::Value>,
}

/// The open-alerts filter the dashboard itself sends, with our window.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertFilter {
    pub time_filter: u32,
    pub resolved_filter: bool,
    pub snoozed_filter: bool,
}
