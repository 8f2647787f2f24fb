//! The weight of a real Windows agent row: its `services` list and the WMI sections a real
//! agent reports beyond the ones the bridge reads (`os`, `mem`, `usb`, `desktop_monitor`,
//! `network_adapter`). Shapes follow Tactical's own test data (`winsvcs.json`: 222 services,
//! about 95 KB; `wmi1.json`: about 58 KB); the content is generated, deterministic, and built
//! once: every Windows row borrows it, so serializing a 1000-row page costs what it costs
//! Tactical in bytes (about 150 MB), not in simulator memory.

use std::sync::OnceLock;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::{Map, Value, json};

/// One entry of an agent's `services` (the agent's `winsvcs` report).
#[derive(Serialize)]
struct Service {
    pid: u32,
    name: String,
    status: &'static str,
    binpath: String,
    username: &'static str,
    autodelay: bool,
    start_type: &'static str,
    description: String,
    display_name: String,
}

const WORDS: &[&str] = &[
    "Update",
    "Network",
    "Storage",
    "Print",
    "Audio",
    "Display",
    "Security",
    "Telemetry",
    "Backup",
    "Sync",
    "Diagnostics",
    "Policy",
    "Remote",
    "Bluetooth",
    "Sensor",
    "Search",
    "Time",
    "Power",
    "Device",
    "Cache",
];

const SERVICE_COUNT: usize = 222;

struct Base {
    services: Vec<Service>,
    /// Lowercased JSON of `services`, what `search=` matches (Postgres `icontains` on the text).
    services_text: String,
    wmi_extra: Map<String, Value>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let services: Vec<Service> = (0..SERVICE_COUNT)
            .map(|i| {
                let a = WORDS[i % WORDS.len()];
                let b = WORDS[(i * 7 + 3) % WORDS.len()];
                let name = format!("{a}{b}Svc{i:03}");
                let running = i % 3 != 0;
                Service {
                    pid: if running { 1000 + (i as u32 * 37) % 30000 } else { 0 },
                    binpath: if i % 2 == 0 {
                        format!("C:\\WINDOWS\\system32\\svchost.exe -k {a}{b}Group -p")
                    } else {
                        format!("\"C:\\Program Files\\{a} {b}\\bin\\{}.exe\" --service --log-level=info", name.to_lowercase())
                    },
                    status: if running { "running" } else { "stopped" },
                    username: ["LocalSystem", "NT AUTHORITY\\LocalService", "NT AUTHORITY\\NetworkService"][i % 3],
                    autodelay: i % 11 == 0,
                    start_type: ["Automatic", "Manual", "Disabled"][i % 3],
                    description: format!(
                        "Provides {a} and {b} support for local and remote clients. If this service is stopped, \
                         the {} features that depend on it will be unavailable and dependent services may fail to start.",
                        a.to_lowercase()
                    ),
                    display_name: format!("{a} {b} Service {i}"),
                    name,
                }
            })
            .collect();
        let services_text = serde_json::to_string(&services).unwrap_or_default().to_lowercase();
        Base { services, services_text, wmi_extra: wmi_extra() }
    })
}

/// The WMI sections beyond those the bridge reads, in the shape of `wmi1.json`.
fn wmi_extra() -> Map<String, Value> {
    let mem: Vec<Value> = (0..8)
        .map(|i| {
            json!([{"SKU": "", "Tag": format!("Physical Memory {i}"), "Name": "Physical Memory", "Model": "", "Speed": 2400,
                "Status": "", "Caption": "Physical Memory", "Version": "", "Capacity": 17179869184u64, "BankLabel": "",
                "DataWidth": 64, "PoweredOn": false, "Removable": false, "Attributes": 1, "FormFactor": 8, "MaxVoltage": 1200,
                "MinVoltage": 1200, "PartNumber": "M393A2K40BB1-CRC    ", "TotalWidth": 72, "TypeDetail": 8320,
                "Description": "Physical Memory", "DeviceLocator": format!("PROC 1 DIMM {i}"), "InstallDate": "0001-01-01T00:00:00Z",
                "Manufacturer": "HP     ", "MemoryType": 0, "SerialNumber": format!("{:08X}", 0x3A5F_0000u32 + i), "ConfiguredClockSpeed": 2133,
                "ConfiguredVoltage": 1200, "CreationClassName": "Win32_PhysicalMemory", "InterleaveDataDepth": 0,
                "InterleavePosition": 0, "PositionInRow": 0, "SMBIOSMemoryType": 26, "HotSwappable": false}])
        })
        .collect();
    let usb: Vec<Value> = (0..8)
        .map(|i| {
            json!([{"Name": format!("Standard Universal PCI to USB Host Controller {i}"), "Status": "OK",
                "Caption": "Standard Universal PCI to USB Host Controller",
                "DeviceID": format!("PCI\\VEN_103C&DEV_3300&SUBSYS_3381103C&REV_03\\4&2383FE5D&0&04E{i}"), "StatusInfo": 0,
                "SystemName": "WIN-HOST", "Description": "Standard Universal PCI to USB Host Controller",
                "InstallDate": "0001-01-01T00:00:00Z", "Manufacturer": "(Standard USB Host Controller)",
                "PNPDeviceID": format!("PCI\\VEN_103C&DEV_3300&SUBSYS_3381103C&REV_03\\4&2383FE5D&0&04E{i}"),
                "ProtocolSupported": 16, "ConfigManagerErrorCode": 0, "ConfigManagerUserConfig": false,
                "CreationClassName": "Win32_USBController", "SystemCreationClassName": "Win32_ComputerSystem"}])
        })
        .collect();
    let adapters: Vec<Value> = (0..50)
        .map(|i| {
            json!([{"GUID": format!("{{C8813F21-FC58-4EF5-B6DE-{:012X}}}", 0xF10D_F9AF_F459u64 + i), "Name": format!("WAN Miniport ({i})"),
                "Index": i, "Speed": 0, "Status": "", "Caption": format!("[{i:08}] WAN Miniport ({i})"), "DeviceID": i.to_string(),
                "MaxSpeed": 0, "AutoSense": false, "MACAddress": "", "NetEnabled": false, "StatusInfo": 0, "SystemName": "WIN-HOST",
                "Description": format!("WAN Miniport ({i})"), "InstallDate": "0001-01-01T00:00:00Z", "Manufacturer": "Microsoft",
                "PNPDeviceID": format!("SWD\\MSRRAS\\MS_NDISWANIP{i}"), "ProductName": format!("WAN Miniport ({i})"),
                "ServiceName": "NdisWan", "AdapterType": "", "NetConnectionID": "", "PhysicalAdapter": false,
                "AdapterTypeID": 0, "TimeOfLastReset": "2026-01-05T09:00:00Z", "NetConnectionStatus": 0,
                "ConfigManagerErrorCode": 0, "ConfigManagerUserConfig": false, "CreationClassName": "Win32_NetworkAdapter",
                "PowerManagementSupported": false, "SystemCreationClassName": "Win32_ComputerSystem"}])
        })
        .collect();
    let mut m = Map::new();
    m.insert(
        "os".into(),
        json!([[{"Name": "Microsoft Windows 11 Pro|C:\\Windows|\\Device\\Harddisk0\\Partition3", "Debug": false,
            "CSName": "WIN-HOST", "Locale": "0409", "OSType": 18, "Status": "OK", "Caption": "Microsoft Windows 11 Pro",
            "CodeSet": "1252", "Primary": true, "Version": "10.0.22631", "BootDevice": "\\Device\\HarddiskVolume1",
            "BuildType": "Multiprocessor Free", "OSLanguage": 1033, "SystemDrive": "C:", "BuildNumber": "22631",
            "CountryCode": "1", "Description": "", "InstallDate": "2025-03-11T14:02:11Z", "Manufacturer": "Microsoft Corporation",
            "Organization": "", "OSProductSuite": 272, "ProductType": 1, "SerialNumber": "00330-80000-00000-AA478",
            "SystemDevice": "\\Device\\HarddiskVolume3", "LastBootUpTime": "2026-01-05T09:00:00Z", "LocalDateTime": "2026-01-05T09:00:00Z",
            "MaxNumberOfProcesses": 4294967295u64, "NumberOfUsers": 2, "RegisteredUser": "user", "ServicePackMajorVersion": 0,
            "TotalVirtualMemorySize": 37605384, "FreePhysicalMemory": 21015232, "TotalVisibleMemorySize": 33411080,
            "WindowsDirectory": "C:\\Windows", "SystemDirectory": "C:\\Windows\\system32", "OSArchitecture": "64-bit"}]]),
    );
    m.insert("mem".into(), Value::Array(mem));
    m.insert("usb".into(), Value::Array(usb));
    m.insert(
        "desktop_monitor".into(),
        json!([[{"Name": "Default Monitor", "Status": "OK", "Caption": "Default Monitor", "DeviceID": "DesktopMonitor1",
            "IsLocked": false, "Bandwidth": 0, "StatusInfo": 0, "SystemName": "WIN-HOST", "Description": "Default Monitor",
            "DisplayType": 0, "InstallDate": "0001-01-01T00:00:00Z", "MonitorType": "Default Monitor", "PNPDeviceID": "",
            "ScreenWidth": 1920, "ScreenHeight": 1080, "Availability": 3, "ErrorCleared": false, "ErrorDescription": "",
            "LastErrorCode": 0, "MonitorManufacturer": "(Standard monitor types)", "PixelsPerXLogicalInch": 96,
            "PixelsPerYLogicalInch": 96, "CreationClassName": "Win32_DesktopMonitor",
            "ConfigManagerErrorCode": 0, "ConfigManagerUserConfig": false, "SystemCreationClassName": "Win32_ComputerSystem"}]]),
    );
    m.insert("network_adapter".into(), Value::Array(adapters));
    m
}

/// A Windows agent's `services`: the shared base list plus one service of its own that names
/// another agent (a backup partner), so `search=<that agent's hostname>` also matches this one,
/// as `search=` on the real beta list matches the services JSON.
pub(crate) struct Services<'a> {
    pub partner: &'a str,
}

impl Services<'_> {
    fn own(&self) -> Service {
        Service {
            pid: 4242,
            name: "BackupReplication".into(),
            status: "running",
            binpath: "\"C:\\Program Files\\Backup\\replica.exe\" --service".into(),
            username: "LocalSystem",
            autodelay: true,
            start_type: "Automatic",
            description: format!("Replicates this computer's backups to its partner {}", self.partner),
            display_name: "Backup Replication Agent".into(),
        }
    }

    /// `search=` (case-insensitive substring of the services JSON).
    pub fn matches(&self, term_lower: &str) -> bool {
        base().services_text.contains(term_lower) || self.partner.to_lowercase().contains(term_lower)
    }
}

impl Serialize for Services<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let base = &base().services;
        let mut seq = s.serialize_seq(Some(base.len() + 1))?;
        for svc in base {
            seq.serialize_element(svc)?;
        }
        seq.serialize_element(&self.own())?;
        seq.end()
    }
}

/// `wmi_detail`: the agent's own sections, then (Windows) the shared heavy ones.
pub(crate) struct Wmi {
    pub own: Value,
    pub heavy: bool,
}

impl Serialize for Wmi {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Value::Object(own) = &self.own else { return self.own.serialize(s) };
        let extra = if self.heavy && !own.is_empty() { Some(&base().wmi_extra) } else { None };
        let mut map = s.serialize_map(Some(own.len() + extra.map_or(0, Map::len)))?;
        for (k, v) in own {
            map.serialize_entry(k, v)?;
        }
        for (k, v) in extra.into_iter().flatten() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_windows_row_weighs_what_tactical_test_data_weighs() {
        let services = serde_json::to_vec(&Services { partner: "DESKTOP-X" }).unwrap();
        assert!((85_000..110_000).contains(&services.len()), "services {} bytes", services.len());
        let wmi = serde_json::to_vec(&Wmi { own: json!({"bios": []}), heavy: true }).unwrap();
        assert!((45_000..70_000).contains(&wmi.len()), "wmi extra {} bytes", wmi.len());
    }
}
