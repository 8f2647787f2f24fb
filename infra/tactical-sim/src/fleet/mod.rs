//! Deterministic fleet generation from a seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::{Duration, OffsetDateTime};

use crate::FleetSpec;
use crate::model::*;

mod alerts;
mod software;
mod tables;

use alerts::*;
pub(crate) use software::*;
pub(crate) use tables::*;

pub(crate) fn random_agent_id(rng: &mut StdRng) -> String {
    const L: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..40).map(|_| L[rng.random_range(0..L.len())] as char).collect()
}

pub(crate) fn public_ip_for_site(site_id: i64) -> String {
    let nets = ["203.0.113", "198.51.100", "192.0.2"];
    let i = site_id.unsigned_abs() as usize;
    format!("{}.{}", nets[i % 3], (i * 7) % 253 + 1)
}

pub(crate) fn disks_for(rng: &mut StdRng, plat: Plat) -> Vec<Disk> {
    let (device, fstype, total) = match plat {
        Plat::Windows => ("C:", "NTFS", [237.8, 476.3, 511.2, 930.9][rng.random_range(0..4)]),
        Plat::Linux => ("/dev/sda1", "ext4", [78.7, 195.8, 459.4][rng.random_range(0..3)]),
        Plat::Darwin => ("/dev/disk3s1s1", "apfs", [228.3, 460.4][rng.random_range(0..2)]),
    };
    let percent: i64 = rng.random_range(8..96);
    let mk = |device: &str, fstype: &str, total: f64, percent: i64| {
        let used = total * percent as f64 / 100.0;
        Disk {
            free: format!("{:.1} GB", total - used),
            used: format!("{used:.1} GB"),
            total: format!("{total:.1} GB"),
            device: device.into(),
            fstype: fstype.into(),
            percent,
        }
    };
    let mut disks = vec![mk(device, fstype, total, percent)];
    if plat == Plat::Windows && rng.random_bool(0.15) {
        disks.push(mk("D:", "NTFS", 1862.9, rng.random_range(5..90)));
    }
    disks
}

/// Fixed epoch for "created" timestamps so that the same seed gives byte-identical models.
pub(crate) fn epoch() -> OffsetDateTime {
    time::macros::datetime!(2026-01-05 09:00:00 UTC)
}

pub(crate) struct Generated {
    pub clients: Vec<Client>,
    pub sites: Vec<Site>,
    pub agents: Vec<Agent>,
    pub alerts: Vec<Alert>,
    pub catalog: Catalog,
    pub rng: StdRng,
}

/// Parameters for a single agent (fleet generation and `SimState::add_agent`).
pub(crate) struct AgentSeed<'a> {
    pub pk: i64,
    pub agent_id: Option<String>,
    pub hostname: Option<String>,
    pub site: &'a Site,
    pub client_code: &'a str,
    pub plat: Option<Plat>,
    pub monitoring_type: Option<MonitoringType>,
    /// None ⇒ pick by the status mix
    pub last_seen: Option<Option<OffsetDateTime>>,
    pub software_avg: usize,
}

pub(crate) fn make_agent(rng: &mut StdRng, s: AgentSeed<'_>, catalog: &Catalog, now: OffsetDateTime) -> Agent {
    let plat = s.plat.unwrap_or_else(|| {
        let r: f64 = rng.random();
        if r < 0.7 {
            Plat::Windows
        } else if r < 0.9 {
            Plat::Linux
        } else {
            Plat::Darwin
        }
    });
    let hw = match plat {
        Plat::Windows => Hw::Win(&WIN_HW[rng.random_range(0..WIN_HW.len())]),
        p => {
            let opts: Vec<&'static PosixHw> = POSIX_HW.iter().filter(|h| h.plat == p).collect();
            Hw::Posix(opts[rng.random_range(0..opts.len())])
        }
    };
    let monitoring_type = s.monitoring_type.unwrap_or(match (plat, hw) {
        (Plat::Windows, Hw::Win(w)) if w.server => MonitoringType::Server,
        (Plat::Windows, _) => MonitoringType::Workstation,
        (Plat::Linux, _) => {
            if rng.random_bool(0.85) {
                MonitoringType::Server
            } else {
                MonitoringType::Workstation
            }
        }
        (Plat::Darwin, _) => MonitoringType::Workstation,
    });
    let operating_system = match (plat, monitoring_type) {
        (Plat::Windows, MonitoringType::Server) => WIN_SRV_OS[rng.random_range(0..WIN_SRV_OS.len())],
        (Plat::Windows, _) => WIN_WS_OS[rng.random_range(0..WIN_WS_OS.len())],
        (Plat::Linux, _) => LINUX_OS[rng.random_range(0..LINUX_OS.len())],
        (Plat::Darwin, _) => DARWIN_OS[rng.random_range(0..DARWIN_OS.len())],
    }
    .to_string();
    let goarch = match (plat, hw) {
        (Plat::Linux, Hw::Posix(p)) if p.cpus[0].starts_with("Cortex") => "arm64",
        (Plat::Darwin, Hw::Posix(p)) if p.cpus[0].starts_with("Apple") => "arm64",
        (Plat::Windows, _) if rng.random_bool(0.02) => "386",
        _ => "amd64",
    };
    // thresholds: mostly the defaults 4/30
    let (offline_time, overdue_time) = match rng.random_range(0..10) {
        0 => (10, 60),
        1 => (5, 120),
        _ => (4, 30),
    };
    let last_seen = match s.last_seen {
        Some(ls) => ls,
        None => {
            let r: f64 = rng.random();
            let secs = if r < 0.7 {
                rng.random_range(2..100)
            } else if r < 0.9 {
                // offline: between offline_time and overdue_time (one minute of margin each side)
                rng.random_range((offline_time + 1) * 60..(overdue_time - 1) * 60)
            } else {
                rng.random_range((overdue_time + 5) * 60..14 * 24 * 3600)
            };
            let micros: i64 = rng.random_range(0..1_000_000);
            Some(crate::util::micros(now - Duration::seconds(secs) - Duration::microseconds(micros)))
        }
    };
    let uptime_secs: f64 = rng.random_range(600.0..(60.0 * 86400.0));
    let boot_time = ((now.unix_timestamp_nanos() as f64 / 1e9 - uptime_secs) * 1e6).round() / 1e6;
    let user = USERS[rng.random_range(0..USERS.len())];
    let last_user = USERS[rng.random_range(0..USERS.len())];
    let logged_in = if rng.random_bool(0.2) { "None".to_string() } else { user.to_string() };
    let prefix = match plat {
        Plat::Windows => "WIN",
        Plat::Linux => "LNX",
        Plat::Darwin => "MAC",
    };
    let hostname = s.hostname.unwrap_or_else(|| format!("{prefix}-{}-{:03}", s.client_code, s.pk));
    let host_octet = (s.pk % 250 + 2) as u8;
    let subnet = format!("10.{}.{}", s.site.client_id % 256, s.site.id % 256);
    let local_ips = match plat {
        Plat::Windows => {
            let mut v = vec![format!("{subnet}.{host_octet}")];
            if rng.random_bool(0.2) {
                v.push(format!("172.17.{}.{}", s.site.id % 256, rng.random_range(2..254)));
            }
            v
        }
        _ => {
            let mut v = vec![format!("{subnet}.{host_octet}/24")];
            if rng.random_bool(0.3) {
                v.push("172.17.0.1/16".to_string());
            }
            v
        }
    };
    let serial = match (plat, hw) {
        (Plat::Windows, Hw::Win(w)) if w.vendor.starts_with("VMware") => {
            format!(
                "VMware-56 4d {:02x} {:02x} 1c 2d 3e 4f-5a 6b 7c 8d 9e af b0 c1",
                rng.random::<u8>(),
                rng.random::<u8>()
            )
        }
        (Plat::Windows, Hw::Win(w)) if w.vendor.starts_with("Microsoft") => String::new(),
        (Plat::Windows, _) => format!("SN{:05}{}", s.pk, ["DELL", "HPE", "LNV", "GBT"][rng.random_range(0..4)]),
        (Plat::Darwin, _) => format!("C02{:08X}", rng.random::<u32>()),
        _ => format!("POSIX{:05}", s.pk),
    };
    let wmi_broken = rng.random_bool(0.02);
    let disks = disks_for(rng, plat);
    let total_ram = [4, 8, 16, 32, 64, 128][rng.random_range(0..6)];
    let created = epoch() + Duration::seconds(s.pk * 37);
    let checks_total: i64 = rng.random_range(0..6);
    let failing = if checks_total > 0 && rng.random_bool(0.15) { 1 } else { 0 };
    let warning = if checks_total > failing && rng.random_bool(0.1) { 1 } else { 0 };
    let checks = Checks { total: checks_total, passing: checks_total - failing - warning, failing, warning, info: 0 };
    let software = if plat == Plat::Windows && rng.random_bool(0.9) {
        let minimal = rng.random_bool(0.03);
        Some(pick_software(rng, catalog, s.software_avg, minimal))
    } else {
        None
    };
    Agent {
        pk: s.pk,
        agent_id: s.agent_id.unwrap_or_else(|| random_agent_id(rng)),
        hostname,
        site_id: s.site.id,
        plat,
        goarch,
        version: VERSIONS[rng.random_range(0..VERSIONS.len())],
        operating_system,
        monitoring_type,
        description: if rng.random_bool(0.1) { "Front desk".into() } else { String::new() },
        last_seen,
        boot_time,
        public_ip: public_ip_for_site(s.site.id),
        total_ram,
        logged_in_username: logged_in,
        last_logged_in_user: last_user.to_string(),
        offline_time,
        overdue_time,
        check_interval: 120,
        needs_reboot: rng.random_bool(0.1),
        maintenance_mode: rng.random_bool(0.03),
        overdue_email_alert: false,
        overdue_text_alert: false,
        overdue_dashboard_alert: rng.random_bool(0.3),
        hw,
        local_ips,
        serial,
        wmi_broken,
        disks,
        created_time: created,
        modified_time: created + Duration::microseconds(15_000 + s.pk % 1000),
        software,
        software_row_id: s.pk,
        time_zone: if rng.random_bool(0.1) { Some("America/New_York".into()) } else { None },
        checks,
        has_patches_pending: plat == Plat::Windows && rng.random_bool(0.25),
        pending_actions_count: if rng.random_bool(0.05) { 1 } else { 0 },
    }
}

pub(crate) fn client_code(index: usize) -> String {
    CLIENT_NAMES.get(index).map(|c| c.1.to_string()).unwrap_or_else(|| format!("C{:04}", index + 1))
}

pub(crate) fn availability_message(hostname: &str, client: &str, site: &str) -> String {
    format!("{hostname} in {client}, {site} is overdue.")
}

pub(crate) fn generate(seed: u64, spec: &FleetSpec, now: OffsetDateTime) -> Generated {
    let mut rng = StdRng::seed_from_u64(seed);
    let catalog = build_catalog(&mut rng, (spec.software_per_agent * 6).max(60));
    let mut clients = Vec::with_capacity(spec.clients);
    let mut sites = Vec::new();
    let mut codes = Vec::new();
    let mut next_site = 1i64;
    for ci in 0..spec.clients {
        let id = ci as i64 + 1;
        let name = CLIENT_NAMES.get(ci).map(|c| c.0.to_string()).unwrap_or_else(|| format!("Client {:04}", ci + 1));
        codes.push(client_code(ci));
        let created = epoch() + Duration::milliseconds(id * 5);
        clients.push(Client {
            id,
            name,
            created_time: created,
            modified_time: created + Duration::microseconds(17),
            alert_template: if ci == 0 { Some(1) } else { None },
        });
        for si in 0..spec.sites_per_client {
            let name = SITE_NAMES.get((si + ci * 2) % SITE_NAMES.len()).map(|s| s.to_string()).unwrap_or_default();
            let name = if si >= SITE_NAMES.len() { format!("Site {:03}", si + 1) } else { name };
            let created = epoch() + Duration::milliseconds(next_site * 7 + 3);
            sites.push(Site {
                id: next_site,
                client_id: id,
                name,
                created_time: created,
                modified_time: created + Duration::microseconds(19),
            });
            next_site += 1;
        }
    }
    let mut agents = Vec::with_capacity(spec.agents);
    if !sites.is_empty() {
        for i in 0..spec.agents {
            let pk = i as i64 + 1;
            // distribute: first pass guarantees every site gets an agent, then random
            let site_idx = if i < sites.len() { i } else { rng.random_range(0..sites.len()) };
            let site = &sites[site_idx];
            let code = &codes[(site.client_id - 1) as usize];
            let agent = make_agent(
                &mut rng,
                AgentSeed {
                    pk,
                    agent_id: None,
                    hostname: None,
                    site,
                    client_code: code,
                    plat: None,
                    monitoring_type: None,
                    last_seen: None,
                    software_avg: spec.software_per_agent,
                },
                &catalog,
                now,
            );
            agents.push(agent);
        }
    }
    let alerts = generate_alerts(&mut rng, spec.alerts, &agents, &sites, &clients, now);
    Generated { clients, sites, agents, alerts, catalog, rng }
}
