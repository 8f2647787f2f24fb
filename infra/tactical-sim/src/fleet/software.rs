//! The software catalog (products, publishers, versions) and per-agent inventories.

use super::*;
use rand::Rng;
use rand::rngs::StdRng;
use std::collections::HashSet;
use std::sync::Arc;

/// (name, publisher, versions, bytes, popularity weight 1..=10)
pub(super) const PRODUCTS: &[(&str, &str, &[&str], u64)] = &[
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
pub(super) fn publisher_variant(p: &str, v: u32) -> String {
    match v {
        1 => format!("{p} "),
        2 => p.to_lowercase(),
        3 => p.replace("Corporation", "Corp.").replace(" Inc.", " Inc").replace(" LLC", ""),
        _ => p.to_string(),
    }
}

pub(super) fn name_variant(n: &str, v: u32) -> String {
    match v {
        1 => format!("{n} "),
        2 => n.to_lowercase(),
        3 => n.replacen(' ', "  ", 1),
        4 => format!(" {n}"),
        5 => n.to_uppercase(),
        _ => n.to_string(),
    }
}

pub(super) fn human_size(bytes: u64) -> String {
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

pub(super) fn guid(rng: &mut StdRng) -> String {
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

pub(super) fn install_date(rng: &mut StdRng) -> String {
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
