//! The agent as Tactical stores it, with its hardware profile, disks and checks.

use super::*;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

// Hardware profiles (what WMI / the posix agent report)

pub(crate) struct WinHw {
    pub cpu: &'static str,
    pub cores: u32,
    pub threads: u32,
    pub sockets: usize,
    pub vendor: &'static str,
    pub model: &'static str,
    pub family: &'static str,
    pub board_mfr: &'static str,
    pub board_product: &'static str,
    pub gpus: &'static [&'static str],
    /// (caption, size bytes, interface)
    pub disks: &'static [(&'static str, u64, &'static str)],
    pub server: bool,
}

pub(crate) struct PosixHw {
    pub cpus: &'static [&'static str],
    pub gpus: &'static [&'static str],
    pub disks: &'static [&'static str],
    pub make_model: &'static str,
    pub plat: Plat,
}

#[derive(Clone, Copy)]
pub(crate) enum Hw {
    Win(&'static WinHw),
    Posix(&'static PosixHw),
}

/// A logical disk (`Agent.disks`), serialised in the key order PostgreSQL jsonb returns.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Disk {
    pub free: String,
    pub used: String,
    pub total: String,
    pub device: String,
    pub fstype: String,
    pub percent: i64,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Checks {
    pub total: i64,
    pub passing: i64,
    pub failing: i64,
    pub warning: i64,
    pub info: i64,
}

impl Checks {
    pub fn json(&self) -> Value {
        json!({
            "total": self.total, "passing": self.passing, "failing": self.failing,
            "warning": self.warning, "info": self.info,
            "has_failing_checks": self.failing > 0 || self.warning > 0,
        })
    }
}

pub(crate) struct Agent {
    pub pk: i64,
    pub agent_id: String,
    pub hostname: String,
    pub site_id: i64,
    pub plat: Plat,
    pub goarch: &'static str,
    pub version: &'static str,
    pub operating_system: String,
    pub monitoring_type: MonitoringType,
    pub description: String,
    pub last_seen: Option<OffsetDateTime>,
    pub boot_time: f64,
    pub public_ip: String,
    pub total_ram: i64,
    pub logged_in_username: String,
    pub last_logged_in_user: String,
    pub offline_time: i64,
    pub overdue_time: i64,
    pub check_interval: i64,
    pub needs_reboot: bool,
    pub maintenance_mode: bool,
    pub overdue_email_alert: bool,
    pub overdue_text_alert: bool,
    pub overdue_dashboard_alert: bool,
    pub hw: Hw,
    /// IPv4 addresses (posix: with CIDR suffix).
    pub local_ips: Vec<String>,
    pub serial: String,
    /// WMI/posix detail missing: computed fields show Tactical's failure strings.
    pub wmi_broken: bool,
    pub disks: Vec<Disk>,
    pub created_time: OffsetDateTime,
    pub modified_time: OffsetDateTime,
    pub software: Option<Vec<Arc<SoftwareItem>>>,
    pub software_row_id: i64,
    pub time_zone: Option<String>,
    pub checks: Checks,
    pub has_patches_pending: bool,
    pub pending_actions_count: i64,
}

pub(crate) const DEFAULT_TZ: &str = "America/Los_Angeles";

pub(super) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Agent {
    /// `Agent.status` evaluated at `now`: online unless `last_seen` is older than `offline_time`
    /// minutes; then overdue if also older than `overdue_time`, else offline; never seen ⇒ offline.
    pub fn status(&self, now: OffsetDateTime) -> AgentStatus {
        let Some(ls) = self.last_seen else {
            return AgentStatus::Offline;
        };
        let offline = now - Duration::minutes(self.offline_time);
        let overdue = now - Duration::minutes(self.overdue_time);
        if ls < offline && ls > overdue {
            AgentStatus::Offline
        } else if ls < offline && ls < overdue {
            AgentStatus::Overdue
        } else {
            AgentStatus::Online
        }
    }

    pub fn timezone(&self) -> &str {
        self.time_zone.as_deref().unwrap_or(DEFAULT_TZ)
    }

    pub fn cpu_model(&self) -> Vec<String> {
        if self.wmi_broken {
            return vec!["unknown cpu model".into()];
        }
        match self.hw {
            Hw::Win(w) => (0..w.sockets).map(|_| format!("{}, {}C/{}T", w.cpu, w.cores, w.threads)).collect(),
            Hw::Posix(p) => p.cpus.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn graphics(&self) -> String {
        if self.wmi_broken {
            return "Graphics info requires agent v1.4.14".into();
        }
        let gpus = match self.hw {
            Hw::Win(w) => w.gpus,
            Hw::Posix(p) => p.gpus,
        };
        if gpus.is_empty() { "No graphics cards".into() } else { gpus.join(", ") }
    }

    pub fn local_ips_str(&self) -> String {
        if self.wmi_broken {
            return "error getting local ips".into();
        }
        self.local_ips.join(", ")
    }

    pub fn make_model(&self) -> String {
        if self.wmi_broken {
            return "unknown make/model".into();
        }
        match self.hw {
            Hw::Win(w) => format!("{} {}", w.vendor, w.model),
            Hw::Posix(p) => p.make_model.to_string(),
        }
    }

    pub fn physical_disks(&self) -> Vec<String> {
        if self.wmi_broken {
            return vec!["unknown disk".into()];
        }
        match self.hw {
            Hw::Win(w) => w
                .disks
                .iter()
                .map(|(cap, size, iface)| {
                    let gb = (*size as f64 / 1_073_741_824.0).round() as u64;
                    format!("{cap} {}GB {iface}", thousands(gb))
                })
                .collect(),
            Hw::Posix(p) => p.disks.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn serial_number(&self) -> String {
        if self.wmi_broken { String::new() } else { self.serial.clone() }
    }

    /// The raw `wmi_detail` JSON (Windows: nested WMI arrays; posix: flat keys).
    pub fn wmi_detail(&self) -> Value {
        if self.wmi_broken {
            return json!({});
        }
        match self.hw {
            Hw::Win(w) => {
                let cpu: Vec<Value> = (0..w.sockets)
                    .map(|_| json!([{"Name": w.cpu}, {"NumberOfCores": w.cores, "NumberOfLogicalProcessors": w.threads}]))
                    .collect();
                let disk: Vec<Value> = w
                    .disks
                    .iter()
                    .map(|(cap, size, iface)| json!([{"InterfaceType": iface}, {"Caption": cap}, {"Size": size.to_string()}]))
                    .collect();
                let graphics: Vec<Value> = w.gpus.iter().map(|g| json!([{"Caption": g}])).collect();
                let mut ips: Vec<Value> = self.local_ips.iter().map(|s| json!(s)).collect();
                ips.push(json!("fe80::1c2d:3e4f:5a6b:7c8d"));
                json!({
                    "cpu": cpu,
                    "bios": [[{"SerialNumber": self.serial}]],
                    "disk": disk,
                    "comp_sys": [[{"Model": w.model}, {"SystemFamily": w.family}]],
                    "graphics": graphics,
                    "base_board": [[{"Manufacturer": w.board_mfr}, {"Product": w.board_product}]],
                    "comp_sys_prod": [[{"Vendor": w.vendor}, {"Version": "1.0"}]],
                    "network_config": [[{"IPAddress": ips}]],
                })
            }
            Hw::Posix(p) => json!({
                "cpus": p.cpus,
                "gpus": p.gpus,
                "disks": p.disks,
                "local_ips": self.local_ips,
                "make_model": p.make_model,
                "serialnumber": self.serial,
            }),
        }
    }

    /// `logged_username` and `italic` of the agent table.
    pub fn logged_username(&self, status: AgentStatus) -> (String, bool) {
        if self.logged_in_username != "None" {
            (self.logged_in_username.clone(), false)
        } else if status == AgentStatus::Online && !self.last_logged_in_user.is_empty() {
            (self.last_logged_in_user.clone(), true)
        } else {
            ("-".into(), false)
        }
    }

    pub fn effective_default_shell(&self) -> &'static str {
        match self.plat {
            Plat::Windows => "cmd",
            _ => "bash",
        }
    }
}
