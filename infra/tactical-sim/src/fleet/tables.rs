//! Names, operating systems and hardware profiles the fleet is drawn from.

use super::*;

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

pub(super) const USERS: &[&str] = &[
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

pub(super) const WIN_WS_OS: &[&str] = &[
    "Windows 10 Pro, 64 bit v22H2 (build 19045.4170)",
    "Windows 11 Pro, 64 bit v23H2 (build 22631.3296)",
    "Windows 11 Enterprise, 64 bit v23H2 (build 22631.3447)",
    "Windows 10 Enterprise, 64 bit v21H2 (build 19044.4291)",
];
pub(super) const WIN_SRV_OS: &[&str] = &[
    "Windows Server 2022 Standard, 64 bit v21H2 (build 20348.2340)",
    "Windows Server 2019 Datacenter, 64 bit v1809 (build 17763.5576)",
    "Windows Server 2016 Standard, 64 bit v1607 (build 14393.6796)",
];
pub(super) const LINUX_OS: &[&str] = &[
    "Debian GNU/Linux 12, 64 bit v6.1.0-18-amd64",
    "Ubuntu 22.04.4 LTS, 64 bit v5.15.0-101-generic",
    "Rocky Linux 9.3, 64 bit v5.14.0-362.18.1.el9_3.x86_64",
];
pub(super) const DARWIN_OS: &[&str] =
    &["macOS 14.4.1 (Sonoma), 64 bit v23.4.0", "macOS 13.6.6 (Ventura), 64 bit v22.6.0"];
pub(super) const VERSIONS: &[&str] = &["2.11.0", "2.11.0", "2.10.0", "2.9.1", "2.8.0"];

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
