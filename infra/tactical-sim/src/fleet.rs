//! Deterministic fleet generation from a seed.

use std::collections::HashSet;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::{Duration, OffsetDateTime};

use crate::FleetSpec;
use crate::model::*;

pub(crate) const CLIENT_NAMES: &[(&str, &str)] = &[
    ("Acme Corp", "ACME"),
    ("Globex", "GLOBEX"),
    ("Initech", "INITECH"),
    ("Umbrella Health", "UMBRELLA"),
    ("Stark Industries", "STARK"),
    ("Wayne Enterprises", "WAYNE"),
    ("Hooli", "HOOLI"),
    ("Vandelay Industries", "VANDELAY"),
    ("Soylent Foods", "SOYLENT"),
    ("Cyberdyne Systems", "CYBERDYNE"),
    ("Tyrell Corp", "TYRELL"),
    ("Wonka Industries", "WONKA"),
    ("Oscorp", "OSCORP"),
    ("Massive Dynamic", "MASSIVE"),
    ("Monarch Solutions", "MONARCH"),
    ("Pied Piper", "PIEDPIPER"),
];

pub(crate) const SITE_NAMES: &[&str] =
    &["HQ", "Branch Office", "Main", "Lab", "Office", "Warehouse", "Remote", "Datacenter", "Retail Store", "Clinic"];

const USERS: &[&str] = &[
    "jdoe",
    "dprince",
    "pparker",
    "bwayne",
    "ckent",
    "tstark",
    "nromanoff",
    "bbanner",
    "scarter",
    "wwhite",
    "it-admin",
];

const WIN_WS_OS: &[&str] = &[
    "Windows 10 Pro, 64 bit v22H2 (build 19045.4170)",
    "Windows 11 Pro, 64 bit v23H2 (build 22631.3296)",
    "Windows 11 Enterprise, 64 bit v23H2 (build 22631.3447)",
    "Windows 10 Enterprise, 64 bit v21H2 (build 19044.4291)",
];
const WIN_SRV_OS: &[&str] = &[
    "Windows Server 2022 Standard, 64 bit v21H2 (build 20348.2340)",
    "Windows Server 2019 Datacenter, 64 bit v1809 (build 17763.5576)",
    "Windows Server 2016 Standard, 64 bit v1607 (build 14393.6796)",
];
const LINUX_OS: &[&str] = &[
    "Debian GNU/Linux 12, 64 bit v6.1.0-18-amd64",
    "Ubuntu 22.04.4 LTS, 64 bit v5.15.0-101-generic",
    "Rocky Linux 9.3, 64 bit v5.14.0-362.18.1.el9_3.x86_64",
];
const DARWIN_OS: &[&str] = &["macOS 14.4.1 (Sonoma), 64 bit v23.4.0", "macOS 13.6.6 (Ventura), 64 bit v22.6.0"];
const VERSIONS: &[&str] = &["2.11.0", "2.11.0", "2.10.0", "2.9.1", "2.8.0"];

pub(crate) static WIN_HW: &[WinHw] = &[
    WinHw {
        cpu: "Intel(R) Core(TM) i7-10700 CPU @ 2.90GHz",
        cores: 8,
        threads: 16,
        sockets: 1,
        vendor: "Dell Inc.",
        model: "OptiPlex 7080",
        family: "OptiPlex",
        board_mfr: "Dell Inc.",
        board_product: "0J797F",
        gpus: &["Intel(R) UHD Graphics 630"],
        disks: &[("SAMSUNG MZVLB512HBJQ-000L7", 512_105_932_800, "SCSI")],
        server: false,
    },
    WinHw {
        cpu: "11th Gen Intel(R) Core(TM) i5-1145G7 @ 2.60GHz",
        cores: 4,
        threads: 8,
        sockets: 1,
        vendor: "LENOVO",
        model: "20W0004MUS",
        family: "ThinkPad T14 Gen 2i",
        board_mfr: "LENOVO",
        board_product: "20W0004MUS",
        gpus: &["Intel(R) Iris(R) Xe Graphics"],
        disks: &[("SAMSUNG MZVL2512HCJQ-00BL7", 512_110_190_592, "SCSI")],
        server: false,
    },
    WinHw {
        cpu: "AMD Ryzen 9 3900X 12-Core Processor            ",
        cores: 12,
        threads: 24,
        sockets: 1,
        vendor: "Gigabyte Technology Co., Ltd.",
        model: "X570 AORUS ULTRA",
        family: "X570 MB",
        board_mfr: "Gigabyte Technology Co., Ltd.",
        board_product: "X570 AORUS ULTRA",
        gpus: &["NVIDIA Quadro P520", "Intel(R) UHD Graphics 620"],
        disks: &[
            ("Microsoft Storage Space Device", 2_040_109_465_600, "SCSI"),
            ("WDC WD60EFRX-68MYMN1", 6_001_172_513_280, "IDE"),
            ("Samsung SSD 860 EVO 500GB", 500_105_249_280, "IDE"),
        ],
        server: false,
    },
    WinHw {
        cpu: "Intel(R) Xeon(R) CPU E5-2620 v4 @ 2.10GHz",
        cores: 8,
        threads: 16,
        sockets: 2,
        vendor: "HP",
        model: "ProLiant DL380 Gen9",
        family: "ProLiant",
        board_mfr: "HP",
        board_product: "ProLiant DL380 Gen9",
        gpus: &["Matrox G200eH"],
        disks: &[
            ("Microsoft Storage Space Device", 3_962_039_074_816, "SCSI"),
            ("ATA CT500MX500SSD1 SCSI Disk Device", 500_105_249_280, "SCSI"),
            ("ATA Crucial_CT500MX2 SCSI Disk Device", 500_105_249_280, "SCSI"),
        ],
        server: true,
    },
    WinHw {
        cpu: "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
        cores: 4,
        threads: 4,
        sockets: 1,
        vendor: "VMware, Inc.",
        model: "VMware7,1",
        family: "",
        board_mfr: "Intel Corporation",
        board_product: "440BX Desktop Reference Platform",
        gpus: &["VMware SVGA 3D"],
        disks: &[("VMware Virtual disk SCSI Disk Device", 107_372_805_120, "SCSI")],
        server: true,
    },
    WinHw {
        cpu: "Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz",
        cores: 2,
        threads: 4,
        sockets: 1,
        vendor: "Microsoft Corporation",
        model: "Virtual Machine",
        family: "Virtual Machine",
        board_mfr: "Microsoft Corporation",
        board_product: "Virtual Machine",
        gpus: &["Microsoft Hyper-V Video"],
        disks: &[("Microsoft Virtual Disk", 136_366_917_120, "SCSI")],
        server: true,
    },
];

pub(crate) static POSIX_HW: &[PosixHw] = &[
    PosixHw {
        cpus: &["AMD EPYC 7763 64-Core Processor"],
        gpus: &[],
        disks: &["QEMU HARDDISK 80GB"],
        make_model: "QEMU Standard PC (Q35 + ICH9, 2009)",
        plat: Plat::Linux,
    },
    PosixHw {
        cpus: &["Intel(R) Xeon(R) Silver 4210 CPU @ 2.20GHz", "Intel(R) Xeon(R) Silver 4210 CPU @ 2.20GHz"],
        gpus: &["Matrox Electronics Systems Ltd. Integrated Matrox G200eW3 Graphics Controller"],
        disks: &["DELL PERC H730P Mini 1788GB"],
        make_model: "Dell Inc. PowerEdge R740",
        plat: Plat::Linux,
    },
    PosixHw {
        cpus: &["Cortex-A72"],
        gpus: &[],
        disks: &["SD SC64G 59GB"],
        make_model: "Raspberry Pi 4 Model B Rev 1.4",
        plat: Plat::Linux,
    },
    PosixHw {
        cpus: &["Apple M2 Pro"],
        gpus: &["Apple M2 Pro"],
        disks: &["APPLE SSD AP0512Z 500GB"],
        make_model: "MacBookPro14,9",
        plat: Plat::Darwin,
    },
    PosixHw {
        cpus: &["Apple M1"],
        gpus: &["Apple M1"],
        disks: &["APPLE SSD AP0256Q 251GB"],
        make_model: "Macmini9,1",
        plat: Plat::Darwin,
    },
];

/// (name, publisher, versions, bytes, popularity weight 1..=10)
const PRODUCTS: &[(&str, &str, &[&str], u64)] = &[
    ("Google Chrome", "Google LLC", &["124.0.6367.91", "123.0.6312.122", "122.0.6261.129"], 110_000_000),
    ("Mozilla Firefox (x64 en-US)", "Mozilla", &["125.0.3", "124.0.2"], 240_000_000),
    ("Microsoft Edge", "Microsoft Corporation", &["124.0.2478.80", "123.0.2420.97"], 600_000_000),
    ("7-Zip 19.00 (x64)", "Igor Pavlov", &["19.00"], 5_200_000),
    ("7-Zip 23.01 (x64)", "Igor Pavlov", &["23.01"], 5_800_000),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33135",
        "Microsoft Corporation",
        &["14.38.33135.0"],
        20_600_000,
    ),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x86) - 14.38.33135",
        "Microsoft Corporation",
        &["14.38.33135.0"],
        18_200_000,
    ),
    ("Microsoft Visual C++ 2013 x64 Minimum Runtime - 12.0.40664", "Microsoft Corporation", &["12.0.40664"], 2_600_000),
    (
        "Microsoft Visual C++ 2008 Redistributable - x86 9.0.30729.6161",
        "Microsoft Corporation",
        &["9.0.30729.6161"],
        10_700_000,
    ),
    (
        "Microsoft 365 Apps for enterprise - en-us",
        "Microsoft Corporation",
        &["16.0.17425.20176", "16.0.17328.20282"],
        2_900_000_000,
    ),
    ("Microsoft Teams", "Microsoft Corporation", &["1.7.00.6058"], 110_000_000),
    ("Microsoft OneDrive", "Microsoft Corporation", &["24.076.0414.0003"], 290_000_000),
    ("Adobe Acrobat Reader DC", "Adobe Systems Incorporated", &["24.002.20687", "23.008.20470"], 760_000_000),
    ("Zoom", "Zoom Video Communications, Inc.", &["5.17.11 (34827)", "5.16.10 (26186)"], 300_000_000),
    ("Notepad++ (64-bit x64)", "Notepad++ Team", &["8.6.5", "8.6.2"], 15_000_000),
    ("VLC media player", "VideoLAN", &["3.0.20"], 150_000_000),
    ("Java 8 Update 411", "Oracle Corporation", &["8.0.4110.9"], 130_000_000),
    ("Java Auto Updater", "Oracle Corporation", &["2.8.241.7"], 2_000_000),
    ("Python 3.11.9 (64-bit)", "Python Software Foundation", &["3.11.9150.0"], 100_000_000),
    ("Python 3.7.3 pip Bootstrap (64-bit)", "Python Software Foundation", &["3.7.3150.0"], 254_000),
    ("Git", "The Git Development Community", &["2.44.0"], 330_000_000),
    ("PuTTY release 0.80 (64-bit)", "Simon Tatham", &["0.80.0.0"], 3_900_000),
    ("WinRAR 6.24 (64-bit)", "win.rar GmbH", &["6.24.0"], 9_000_000),
    ("TeamViewer", "TeamViewer", &["15.52.3"], 210_000_000),
    ("Tactical RMM Agent", "AmidaWare Inc", &["2.11.0", "2.10.0"], 45_000_000),
    ("Mesh Agent", "MeshCentral", &["2022-10-04 21:21:15.000+00:00"], 4_600_000),
    ("SentinelOne Agent", "SentinelOne", &["23.4.4.223"], 680_000_000),
    ("Sophos Endpoint Agent", "Sophos Limited", &["2023.2.3.2"], 1_100_000_000),
    ("Dell SupportAssist", "Dell Inc.", &["3.14.2.45"], 275_000_000),
    ("HP Support Assistant", "HP Inc.", &["9.28.31.0"], 380_000_000),
    ("64 Bit HP CIO Components Installer", "HP Inc.", &["22.2.1"], 865_300),
    ("Lenovo Vantage Service", "Lenovo Group Ltd.", &["3.13.43.0"], 52_000_000),
    ("Intel(R) Management Engine Components", "Intel Corporation", &["2239.3.38.0"], 62_000_000),
    ("Realtek Audio Driver", "Realtek Semiconductor Corp.", &["6.0.9525.1"], 420_000_000),
    ("NVIDIA Graphics Driver 551.86", "NVIDIA Corporation", &["551.86"], 1_000_000),
    ("Microsoft SQL Server 2019 (64-bit)", "Microsoft Corporation", &["15.0.2000.5"], 0),
    ("SQL Server Management Studio", "Microsoft Corporation", &["15.0.18131.0", "19.3.4.0"], 210_300_000),
    ("Microsoft SQL Server 2016 RsFx Driver", "Microsoft Corporation", &["13.2.5026.0"], 1_400_000),
    ("Veeam Backup & Replication", "Veeam Software Group GmbH", &["12.1.1.56"], 3_200_000_000),
    ("Microsoft .NET Runtime - 8.0.4 (x64)", "Microsoft Corporation", &["64.16.15059"], 75_000_000),
    ("Microsoft Windows Desktop Runtime - 6.0.29 (x64)", "Microsoft Corporation", &["48.116.8838"], 210_000_000),
    ("Windows PC Health Check", "Microsoft Corporation", &["3.7.2204.15001"], 11_900_000),
    ("Visual Studio Community 2022", "Microsoft Corporation", &["17.9.6"], 0),
    ("Microsoft Visual Studio Code", "Microsoft Corporation", &["1.88.1"], 370_000_000),
    ("Slack (Machine - MSI)", "Slack Technologies Inc.", &["4.38.121"], 110_000_000),
    ("QuickBooks", "Intuit Inc.", &["32.0.4001.3206"], 1_900_000_000),
    ("VC12X64Redist", "Intuit Inc.", &["1.00.0000"], 6_600_000),
    ("FileZilla 3.67.0", "Tim Kosse", &["3.67.0"], 42_000_000),
    ("Wireshark 4.2.4 x64", "The Wireshark developer community, https://www.wireshark.org", &["4.2.4"], 230_000_000),
    ("Office 16 Click-to-Run Localization Component", "Microsoft Corporation", &["16.0.10368.20035"], 49_200),
];

/// Variants of a publisher as different agents/installers report it.
fn publisher_variant(p: &str, v: u32) -> String {
    match v {
        1 => format!("{p} "),
        2 => p.to_lowercase(),
        3 => p.replace("Corporation", "Corp.").replace(" Inc.", " Inc").replace(" LLC", ""),
        _ => p.to_string(),
    }
}

fn name_variant(n: &str, v: u32) -> String {
    match v {
        1 => format!("{n} "),
        2 => n.to_lowercase(),
        3 => n.replacen(' ', "  ", 1),
        4 => format!(" {n}"),
        5 => n.to_uppercase(),
        _ => n.to_string(),
    }
}

fn human_size(bytes: u64) -> String {
    // Go's humanize-ish output as seen in Tactical: "5.2 MB", "865.3 kB", "0 B"
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let units = ["kB", "MB", "GB", "TB"];
    let mut v = bytes as f64 / 1000.0;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", units[u])
}

fn guid(rng: &mut StdRng) -> String {
    const H: &[u8] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(38);
    s.push('{');
    for (i, len) in [8, 4, 4, 4, 12].iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        for _ in 0..*len {
            s.push(H[rng.random_range(0..16)] as char);
        }
    }
    s.push('}');
    s
}

fn install_date(rng: &mut StdRng) -> String {
    if rng.random_bool(0.2) {
        "0001-01-01 00:00:00 +0000 UTC".into()
    } else {
        format!(
            "{:04}-{:02}-{:02} 00:00:00 +0000 UTC",
            rng.random_range(2018..=2025),
            rng.random_range(1..=12),
            rng.random_range(1..=28)
        )
    }
}

/// Catalog entries grouped by product; each product has several spellings.
pub(crate) struct Catalog {
    /// products[i] = variants (index 0 canonical)
    pub products: Vec<Vec<Arc<SoftwareItem>>>,
}

pub(crate) fn build_catalog(rng: &mut StdRng, extra_tail: usize) -> Catalog {
    let mut products = Vec::new();
    for (name, publisher, versions, bytes) in PRODUCTS {
        for version in versions.iter() {
            let g = guid(rng);
            let date = install_date(rng);
            let msi = rng.random_bool(0.7);
            let mut variants = Vec::new();
            for v in 0..4u32 {
                let (nv, pv) = match v {
                    0 => (0, 0),
                    1 => (rng.random_range(1..=5), 0),
                    2 => (0, rng.random_range(1..=3)),
                    _ => (rng.random_range(1..=5), rng.random_range(1..=3)),
                };
                let item = SoftwareItem {
                    name: name_variant(name, nv),
                    size: Some(human_size(*bytes)),
                    source: Some(if msi {
                        format!("C:\\ProgramData\\Package Cache\\{g}v{version}\\")
                    } else {
                        String::new()
                    }),
                    version: version.to_string(),
                    location: Some(if msi { String::new() } else { format!("C:\\Program Files\\{name}\\") }),
                    publisher: Some(publisher_variant(publisher, pv)),
                    uninstall: Some(if msi {
                        format!("MsiExec.exe /X{g}")
                    } else {
                        format!("\"C:\\Program Files\\{name}\\uninstall.exe\"")
                    }),
                    install_date: Some(date.clone()),
                };
                variants.push(Arc::new(item));
            }
            products.push(variants);
        }
    }
    for i in 0..extra_tail {
        let vendor = ["Contoso Ltd.", "Fabrikam, Inc.", "Northwind Traders", "Litware, Inc.", "Tailspin Toys"][i % 5];
        let name =
            format!("{} Line-of-Business App {:04}", vendor.split([' ', ',']).next().unwrap_or("Contoso"), i + 1);
        let version = format!("{}.{}.{}", rng.random_range(1..10), rng.random_range(0..20), rng.random_range(0..500));
        let g = guid(rng);
        let item = SoftwareItem {
            name: name.clone(),
            size: Some(human_size(rng.random_range(0..500_000_000))),
            source: Some(String::new()),
            version,
            location: Some(format!("C:\\Program Files\\{name}\\")),
            publisher: Some(vendor.to_string()),
            uninstall: Some(format!("MsiExec.exe /I{g}")),
            install_date: Some(install_date(rng)),
        };
        let lower = SoftwareItem { name: name.to_lowercase(), publisher: Some(vendor.to_uppercase()), ..item.clone() };
        products.push(vec![Arc::new(item), Arc::new(lower)]);
    }
    Catalog { products }
}

pub(crate) fn pick_software(rng: &mut StdRng, catalog: &Catalog, avg: usize, minimal: bool) -> Vec<Arc<SoftwareItem>> {
    if avg == 0 || catalog.products.is_empty() {
        return Vec::new();
    }
    let lo = (avg / 2).max(1);
    let hi = (avg + avg / 2).max(lo);
    let k = rng.random_range(lo..=hi).min(catalog.products.len());
    let n = catalog.products.len();
    let mut chosen = HashSet::with_capacity(k);
    let mut out = Vec::with_capacity(k);
    let mut attempts = 0;
    while out.len() < k && attempts < k * 20 {
        attempts += 1;
        // skewed towards popular (low-index) products
        let u: f64 = rng.random();
        let idx = ((u * u) * n as f64) as usize % n;
        if !chosen.insert(idx) {
            continue;
        }
        let variants = &catalog.products[idx];
        let v = if rng.random_bool(0.8) { 0 } else { rng.random_range(0..variants.len()) };
        let item = &variants[v];
        if minimal {
            out.push(Arc::new(SoftwareItem::minimal(item.name.clone(), item.version.clone())));
        } else {
            out.push(item.clone());
        }
    }
    out
}

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

const CHECK_DESCS: &[&str] = &[
    "Disk Space Drive C:",
    "CPU Load",
    "Memory",
    "Ping 8.8.8.8",
    "Service Check - Print Spooler",
    "Event Log Check - System errors",
];
const TASK_NAMES: &[&str] = &["Nightly backup", "Clear temp files", "Defrag", "Update inventory"];

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

fn generate_alerts(
    rng: &mut StdRng,
    n: usize,
    agents: &[Agent],
    sites: &[Site],
    clients: &[Client],
    now: OffsetDateTime,
) -> Vec<Alert> {
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let overdue: Vec<usize> =
        agents.iter().enumerate().filter(|(_, a)| a.status(now) == AgentStatus::Overdue).map(|(i, _)| i).collect();
    let agentless = if n >= 10 { n / 20 + 1 } else { 0 };
    let with_agent = n - agentless;
    for i in 0..with_agent {
        let id = i as i64 + 1;
        let at = crate::util::micros(now - Duration::seconds(rng.random_range(3 * 3600..14 * 86400)));
        let kind = match i % 20 {
            0..=7 => AlertType::Availability,
            8..=14 => AlertType::Check,
            15..=17 => AlertType::Task,
            _ => AlertType::Custom,
        };
        if agents.is_empty() {
            break;
        }
        let ai = if kind == AlertType::Availability && !overdue.is_empty() {
            overdue[rng.random_range(0..overdue.len())]
        } else {
            rng.random_range(0..agents.len())
        };
        let agent = &agents[ai];
        let severity = match kind {
            AlertType::Availability => Severity::Error,
            _ => [Severity::Error, Severity::Error, Severity::Warning, Severity::Warning, Severity::Info]
                [rng.random_range(0..5)],
        };
        let site = sites.iter().find(|s| s.id == agent.site_id).expect("site");
        let client = clients.iter().find(|c| c.id == site.client_id).expect("client");
        let mut alert = match kind {
            AlertType::Availability => Alert::new(
                id,
                Some(agent.pk),
                kind,
                severity,
                availability_message(&agent.hostname, &client.name, &site.name),
                at,
            ),
            AlertType::Check => {
                let desc = CHECK_DESCS[rng.random_range(0..CHECK_DESCS.len())];
                let mut a = Alert::new(
                    id,
                    Some(agent.pk),
                    kind,
                    severity,
                    format!("{} has a {desc} Check that failed.", agent.hostname),
                    at,
                );
                a.assigned_check = Some(100 + id);
                a.check_desc = Some(desc.to_string());
                a
            }
            AlertType::Task => {
                let t = TASK_NAMES[rng.random_range(0..TASK_NAMES.len())];
                let mut a = Alert::new(
                    id,
                    Some(agent.pk),
                    kind,
                    severity,
                    format!("{} has task: {t} that failed.", agent.hostname),
                    at,
                );
                a.assigned_task = Some(200 + id);
                a.check_desc = Some(t.to_string());
                a
            }
            AlertType::Custom => {
                Alert::new(id, Some(agent.pk), kind, severity, format!("Custom alert on {}", agent.hostname), at)
            }
        };
        decorate(rng, &mut alert, now);
        out.push(alert);
    }
    for j in 0..agentless {
        let id = (with_agent + j) as i64 + 1;
        let at = crate::util::micros(now - Duration::seconds(rng.random_range(60..3 * 3600)));
        let sev = [Severity::Info, Severity::Warning, Severity::Error][j % 3];
        out.push(Alert::new(id, None, AlertType::Custom, sev, format!("Server-side script alert #{}", j + 1), at));
    }
    out
}

fn decorate(rng: &mut StdRng, a: &mut Alert, now: OffsetDateTime) {
    let r: f64 = rng.random();
    if r < 0.25 {
        a.resolved = true;
        let after = Duration::seconds(rng.random_range(60..7200));
        a.resolved_on = Some((a.alert_time + after).min(now));
    } else if r < 0.35 {
        a.snoozed = true;
        a.snooze_until = Some(crate::util::micros(now + Duration::days(rng.random_range(1..5))));
    }
    if a.alert_type == AlertType::Availability && rng.random_bool(0.3) {
        a.hidden = true;
    }
    if a.severity != Severity::Info && rng.random_bool(0.2) {
        a.email_sent = Some(a.alert_time + Duration::seconds(5));
    }
}
