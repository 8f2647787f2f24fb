//! Software inventory (admin guide "Ingest software inventory"): Tactical's cached inventory of
//! each asset's agent → a per-tenant software catalog and per-asset software links with install
//! and uninstall history. See docs/software.md.
//!
//! - Catalog identity: the normalised name (trimmed, lower-case, whitespace collapsed) and the
//!   normalised publisher (same rules; empty allowed). The version is not part of identity.
//! - Change detection: a hash of the asset's normalised list; an unchanged list costs no write.
//! - Unknown is not empty: an agent without inventory (`[]`, no row, or an empty list) is left
//!   untouched, never "everything uninstalled".
//! - Install counts: each asset's inventory record keeps the catalog keys counted for it, so a
//!   retried or duplicated work item computes the same deltas and the record's conditional write
//!   lets only one worker apply them (see `ingest_agent`).

use super::asset::asset_id_for;
use super::integration::RmmIntegration;
use super::sync::{TacticalErrorOrApi, client_for, fan_out};

use super::sync_run::SyncCounts;
use super::time::now_rfc3339;
use crate::app::Deps;
use crate::messages::{SyncMessage, SyncType};
use crate::ports::RunProgress;
use crate::tactical::types::SoftwareItem;
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, stream};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// Agents per `software_batch` message: about 100 × (one Tactical call + a few DynamoDB calls),
/// far inside a worker's 300 s, and a small message (ids only).
pub const SOFTWARE_BATCH_SIZE: usize = 100;
/// Tactical calls in flight per worker: hides round trips without hammering the server.
const AGENT_CONCURRENCY: usize = 8;
/// Longest stored name / publisher component of a key (DynamoDB sort keys stop at 1024 bytes).
const MAX_NAME_KEY: usize = 512;
const MAX_PUBLISHER_KEY: usize = 256;
/// Bumped when normalisation changes, so every asset is rewritten once under the new rules.
const HASH_VERSION: &str = "v1";

// ---- normalisation ------------------------------------------------------------------------

/// Trimmed, whitespace runs (and control characters) collapsed to one space; case kept. What we
/// show.
pub fn clean_text(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Catalog identity of a name or publisher: [`clean_text`], lower-cased.
pub fn normalize(s: &str) -> String {
    clean_text(s).to_lowercase()
}

/// Escapes the key separator and keeps a component within `max` bytes (a long one is cut and
/// suffixed with a hash of the whole, so distinct values keep distinct keys).
fn key_part(s: &str, max: usize) -> String {
    let esc = s.replace('%', "%25").replace('#', "%23");
    if esc.len() <= max {
        return esc;
    }
    let mut cut = max - 17;
    while !esc.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{}", &esc[..cut], &hex::encode(Sha256::digest(esc.as_bytes()))[..16])
}

/// `{normalized_name}#{normalized_publisher}`: the catalog entry's sort key and the asset
/// link's. `#` and `%` inside the parts are escaped, so the key always splits back uniquely.
pub fn catalog_key(normalized_name: &str, normalized_publisher: &str) -> String {
    format!("{}#{}", key_part(normalized_name, MAX_NAME_KEY), key_part(normalized_publisher, MAX_PUBLISHER_KEY))
}

/// A short, stable tag of a catalog key (the per-asset record of counted keys stays small).
pub fn key_tag(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Sizes as the agent reports them (go-humanize): `"5.2 MB"`, `"865.3 kB"`, `"0 B"`. Decimal
/// units (kB = 1000 B), as go-humanize's `Bytes` writes them; the binary `KiB`/`MiB`/… of
/// `IBytes` are 1024-based. `None` when empty or unreadable.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "pb" => 1e15,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        "pib" => 1024f64.powi(5),
        _ => return None,
    };
    let bytes = (v * mult).round();
    // In range and not negative (checked just before), so the casts neither wrap nor saturate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Go's `time.Time` string (`2023-05-01 00:00:00 +0000 UTC`, optional fraction and monotonic
/// suffix) → RFC 3339 in UTC. Also reads RFC 3339, `YYYY-MM-DD` and the registry's `YYYYMMDD`.
/// Go's zero time (`0001-01-01 …`) means unknown: `None`, as is anything unreadable.
pub fn parse_go_time(s: &str) -> Option<String> {
    let s = s.trim();
    let t = if let Some(t) = super::time::parse_rfc3339(s) {
        t
    } else {
        let mut parts = s.split_whitespace();
        let date = parse_date(parts.next()?)?;
        let (time, offset) = match (parts.next(), parts.next()) {
            (Some(t), Some(o)) => (parse_clock(t)?, parse_offset(o)?),
            (Some(t), None) => (parse_clock(t)?, UtcOffset::UTC),
            _ => (Time::MIDNIGHT, UtcOffset::UTC),
        };
        PrimitiveDateTime::new(date, time).assume_offset(offset)
    };
    if t.year() <= 1 {
        return None;
    }
    // Checked: a time near year 9999 with a negative offset has no UTC date.
    let utc = t.checked_to_offset(UtcOffset::UTC)?;
    Some(super::time::to_rfc3339(utc))
}

fn parse_date(s: &str) -> Option<Date> {
    let (y, m, d) = if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        (&s[..4], &s[4..6], &s[6..])
    } else {
        let mut it = s.split('-');
        let r = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        r
    };
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

fn parse_clock(s: &str) -> Option<Time> {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut it = hms.split(':');
    let (h, m, sec) = (it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?);
    if it.next().is_some() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = if frac.is_empty() { 0 } else { format!("{:0<9}", &frac[..frac.len().min(9)]).parse().ok()? };
    Time::from_hms_nano(h, m, sec, nanos).ok()
}

/// `+0000`, `-0700`, `+05:30`.
fn parse_offset(s: &str) -> Option<UtcOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1i8, &s[1..]),
        b'-' => (-1i8, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i8 = digits[..2].parse().ok()?;
    let m: i8 = digits[2..].parse().ok()?;
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

/// One program of an asset's inventory after normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedItem {
    pub catalog_key: String,
    /// As reported, trimmed and whitespace collapsed.
    pub name: String,
    pub publisher: String,
    pub normalized_name: String,
    pub normalized_publisher: String,
    pub version: Option<String>,
    /// RFC 3339; `None` when unknown.
    pub install_date: Option<String>,
    pub install_path: Option<String>,
    pub size_bytes: Option<u64>,
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(clean_text).filter(|s| !s.is_empty())
}

/// The agent's list → one entry per catalog key, sorted by key. Items without a name are
/// dropped. Items sharing a key (the same product twice, in several versions) merge: versions
/// listed in order (`"1.0, 2.0"`), the earliest install date, the summed size, the first path.
pub fn normalize_inventory(items: &[SoftwareItem]) -> Vec<NormalizedItem> {
    let mut by_key: BTreeMap<String, Vec<NormalizedItem>> = BTreeMap::new();
    for i in items {
        let name = clean_text(&i.name);
        if name.is_empty() {
            continue;
        }
        let publisher = clean_text(i.publisher.as_deref().unwrap_or(""));
        let (nn, np) = (name.to_lowercase(), publisher.to_lowercase());
        let item = NormalizedItem {
            catalog_key: catalog_key(&nn, &np),
            name,
            publisher,
            normalized_name: nn,
            normalized_publisher: np,
            version: non_empty(i.version.as_deref()),
            install_date: i.install_date.as_deref().and_then(parse_go_time),
            install_path: non_empty(i.location.as_deref()),
            size_bytes: i.size.as_deref().and_then(parse_size),
        };
        by_key.entry(item.catalog_key.clone()).or_default().push(item);
    }
    by_key
        .into_values()
        .map(|mut group| {
            // Deterministic whatever order Tactical lists the duplicates in.
            group.sort_by(|a, b| {
                (&a.version, &a.install_date, &a.install_path, &a.name, &a.publisher, a.size_bytes).cmp(&(
                    &b.version,
                    &b.install_date,
                    &b.install_path,
                    &b.name,
                    &b.publisher,
                    b.size_bytes,
                ))
            });
            let mut first = group[0].clone();
            if group.len() > 1 {
                let mut versions: Vec<&str> = group.iter().filter_map(|g| g.version.as_deref()).collect();
                versions.dedup();
                first.version = (!versions.is_empty()).then(|| versions.join(", "));
                first.install_date = group.iter().filter_map(|g| g.install_date.clone()).min();
                first.install_path = group.iter().find_map(|g| g.install_path.clone());
                let sizes: Vec<u64> = group.iter().filter_map(|g| g.size_bytes).collect();
                first.size_bytes = (!sizes.is_empty()).then(|| sizes.iter().fold(0u64, |a, b| a.saturating_add(*b)));
            }
            first
        })
        .collect()
}

/// Hash of a normalised list (sorted by key): equal lists, equal hashes.
pub fn inventory_hash(items: &[NormalizedItem]) -> String {
    let mut h = Sha256::new();
    h.update(HASH_VERSION.as_bytes());
    for i in items {
        for field in [
            Some(i.catalog_key.as_str()),
            Some(i.name.as_str()),
            Some(i.publisher.as_str()),
            i.version.as_deref(),
            i.install_date.as_deref(),
            i.install_path.as_deref(),
        ] {
            h.update([0x1f]);
            if let Some(f) = field {
                h.update([1]);
                h.update(f.as_bytes());
            }
        }
        h.update(i.size_bytes.map(|s| s.to_string()).unwrap_or_default().as_bytes());
        h.update([0x1e]);
    }
    hex::encode(h.finalize())
}

// ---- stored shapes ------------------------------------------------------------------------

/// asset_software: one catalog entry on one asset (admin guide field names). Never deleted: an
/// uninstall sets `is_current = false` and `uninstalled_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetSoftware {
    pub tenant: TenantId,
    pub asset_id: String,
    pub catalog_key: String,
    pub name: String,
    #[serde(default)]
    pub publisher: String,
    pub normalized_name: String,
    #[serde(default)]
    pub normalized_publisher: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub install_date: Option<String>,
    #[serde(default)]
    pub install_path: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    pub first_seen_at: String,
    /// When a run last wrote this link (first seen, changed, reinstalled). A run that finds the
    /// asset's list unchanged writes nothing, so it does not move this.
    pub last_seen_at: String,
    pub is_current: bool,
    #[serde(default)]
    pub uninstalled_at: Option<String>,
}

impl AssetSoftware {
    fn same_details(&self, n: &NormalizedItem) -> bool {
        self.name == n.name
            && self.publisher == n.publisher
            && self.version == n.version
            && self.install_date == n.install_date
            && self.install_path == n.install_path
            && self.size_bytes == n.size_bytes
    }

    fn from_item(tenant: &TenantId, asset_id: &str, n: &NormalizedItem, first_seen_at: &str, now: &str) -> Self {
        AssetSoftware {
            tenant: tenant.clone(),
            asset_id: asset_id.to_owned(),
            catalog_key: n.catalog_key.clone(),
            name: n.name.clone(),
            publisher: n.publisher.clone(),
            normalized_name: n.normalized_name.clone(),
            normalized_publisher: n.normalized_publisher.clone(),
            version: n.version.clone(),
            install_date: n.install_date.clone(),
            install_path: n.install_path.clone(),
            size_bytes: n.size_bytes,
            first_seen_at: first_seen_at.to_owned(),
            last_seen_at: now.to_owned(),
            is_current: true,
            uninstalled_at: None,
        }
    }
}

/// The per-asset record of the last ingested inventory: its hash (change detection) and the
/// catalog keys counted in install counts for this asset (tags, see [`key_tag`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftwareInventory {
    pub tenant: TenantId,
    pub asset_id: String,
    pub agent_id: String,
    pub hash: String,
    #[serde(default)]
    pub counted: Vec<String>,
    #[serde(default)]
    pub item_count: u64,
    pub updated_at: String,
    #[serde(default)]
    pub run_id: Option<String>,
}

/// software_catalog: one entry per tenant and (normalised name, normalised publisher).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub tenant: TenantId,
    pub catalog_key: String,
    /// The spelling first seen.
    pub name: String,
    pub normalized_name: String,
    #[serde(default)]
    pub publisher: String,
    #[serde(default)]
    pub normalized_publisher: String,
    /// Assets on which the entry is currently installed.
    #[serde(default)]
    pub install_count: i64,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub software_type: Option<String>,
    #[serde(default)]
    pub is_managed: bool,
    #[serde(default)]
    pub is_security_relevant: bool,
    #[serde(default)]
    pub first_seen_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A change to one catalog entry's install count; creates the entry if needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogDelta {
    pub catalog_key: String,
    pub name: String,
    pub publisher: String,
    pub normalized_name: String,
    pub normalized_publisher: String,
    pub delta: i64,
}

// ---- per-asset diff ------------------------------------------------------------------------

/// What one changed list does to an asset.
#[derive(Debug, Default, PartialEq)]
pub struct AssetDiff {
    /// Links to (re)write.
    pub writes: Vec<AssetSoftware>,
    /// New or reinstalled links.
    pub installs: i64,
    pub uninstalls: i64,
    /// Links still installed whose version or details changed.
    pub changed: i64,
    /// Install count changes, from the keys counted before (not from the links, which a failed
    /// attempt may have half written).
    pub deltas: Vec<CatalogDelta>,
    /// Tags of the keys counted after this diff.
    pub counted: Vec<String>,
}

/// Compares the new list with the asset's links and its counted keys.
pub fn diff_asset(
    tenant: &TenantId,
    asset_id: &str,
    new: &[NormalizedItem],
    links: &[AssetSoftware],
    counted_before: &[String],
    now: &str,
) -> AssetDiff {
    let by_key: HashMap<&str, &AssetSoftware> = links.iter().map(|l| (l.catalog_key.as_str(), l)).collect();
    let counted: HashSet<&str> = counted_before.iter().map(String::as_str).collect();
    let mut d = AssetDiff::default();
    let mut new_keys = HashSet::new();
    for n in new {
        new_keys.insert(n.catalog_key.as_str());
        match by_key.get(n.catalog_key.as_str()) {
            None => {
                d.installs += 1;
                d.writes.push(AssetSoftware::from_item(tenant, asset_id, n, now, now));
            }
            Some(l) if !l.is_current => {
                d.installs += 1;
                d.writes.push(AssetSoftware::from_item(tenant, asset_id, n, &l.first_seen_at, now));
            }
            Some(l) if !l.same_details(n) => {
                d.changed += 1;
                d.writes.push(AssetSoftware::from_item(tenant, asset_id, n, &l.first_seen_at, now));
            }
            Some(_) => {}
        }
        let tag = key_tag(&n.catalog_key);
        if !counted.contains(tag.as_str()) {
            d.deltas.push(CatalogDelta {
                catalog_key: n.catalog_key.clone(),
                name: n.name.clone(),
                publisher: n.publisher.clone(),
                normalized_name: n.normalized_name.clone(),
                normalized_publisher: n.normalized_publisher.clone(),
                delta: 1,
            });
        }
        d.counted.push(tag);
    }
    let new_tags: HashSet<&str> = d.counted.iter().map(String::as_str).collect();
    for l in links {
        if new_keys.contains(l.catalog_key.as_str()) {
            continue;
        }
        if l.is_current {
            d.uninstalls += 1;
            d.writes.push(AssetSoftware { is_current: false, uninstalled_at: Some(now.to_owned()), ..(*l).clone() });
        }
        let tag = key_tag(&l.catalog_key);
        if counted.contains(tag.as_str()) && !new_tags.contains(tag.as_str()) {
            d.deltas.push(CatalogDelta {
                catalog_key: l.catalog_key.clone(),
                name: l.name.clone(),
                publisher: l.publisher.clone(),
                normalized_name: l.normalized_name.clone(),
                normalized_publisher: l.normalized_publisher.clone(),
                delta: -1,
            });
        }
    }
    d
}

// ---- runs ----------------------------------------------------------------------------------

/// Software run, step 1: the Tactical agents that are assets of the tenant (agent ids from the
/// beta agent list, which also maps Tactical's integer pks), queued in batches.
pub(super) async fn fan_out_software(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    run_id: &str,
) -> Result<RunProgress, TacticalErrorOrApi> {
    let api = client_for(deps, tenant, integ).await?;
    let agents = asset_agents(deps, tenant, api.as_ref()).await?;
    let msgs: Vec<SyncMessage> = agents
        .chunks(SOFTWARE_BATCH_SIZE)
        .zip(1u32..)
        .map(|(ids, batch)| SyncMessage::SoftwareBatch {
            tenant: tenant.clone(),
            run_id: run_id.to_owned(),
            batch,
            part: 0,
            agent_ids: ids.to_vec(),
        })
        .collect();
    fan_out(deps, tenant, SyncType::Software, run_id, "fanout", msgs).await?;
    Ok(RunProgress { pending_delta: -1, ..Default::default() })
}

/// Every agent in Tactical whose asset exists for the tenant, in pk order. Read from the
/// role-scoped `GET /agents/?detail=false` (~150 bytes an agent, one request): the beta list
/// ignores the credentials' role and carries each agent's services and WMI (~150 KB a row).
async fn asset_agents(
    deps: &Deps,
    tenant: &TenantId,
    api: &dyn TacticalApi,
) -> Result<Vec<String>, TacticalErrorOrApi> {
    let mut listed = api.agents_slim(None).await?;
    listed.sort_by_key(|a| a.id);
    let mut out = Vec::new();
    for chunk in listed.chunks(AGENT_LOOKUP_CHUNK) {
        let asset_ids: Vec<String> = chunk.iter().map(|a| asset_id_for(tenant, &a.agent_id)).collect();
        let known: HashSet<String> =
            deps.store.get_assets(tenant, &asset_ids).await?.into_iter().map(|a| a.rmm_device_id).collect();
        out.extend(chunk.iter().filter(|a| known.contains(&a.agent_id)).map(|a| a.agent_id.clone()));
    }
    let mut seen = HashSet::new();
    out.retain(|a| seen.insert(a.clone()));
    Ok(out)
}

/// Agents whose assets are looked up at once.
const AGENT_LOOKUP_CHUNK: usize = 1000;

/// What ingesting one agent did.
enum AgentOutcome {
    /// No inventory in Tactical (or the agent is gone): left untouched.
    NoInventory,
    Unchanged {
        items: i64,
    },
    Changed {
        items: i64,
        diff: AssetDiff,
    },
}

/// The run's work item name of a batch (or of a retried part of one).
pub(super) fn batch_item(batch: u32, part: u32) -> String {
    if part == 0 { format!("batch#{batch}") } else { format!("batch#{batch}.{part}") }
}

/// Software run, step 2: one batch of agents → links, inventory records, catalog counts.
///
/// Agents that fail transiently go to a follow-up message of their own (the next `part`) while
/// the rest of the batch is counted, so a retry re-reads only them and no count is lost or
/// doubled. The chain ends: a part where no agent succeeds is retried by SQS as a whole.
pub(super) async fn software_batch(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
    run_id: &str,
    batch: u32,
    part: u32,
    agent_ids: &[String],
) -> Result<RunProgress, TacticalErrorOrApi> {
    let api = client_for(deps, tenant, integ).await?;
    let asset_ids: Vec<String> = agent_ids.iter().map(|a| asset_id_for(tenant, a)).collect();
    let before: HashMap<String, SoftwareInventory> = deps
        .store
        .get_software_inventories(tenant, &asset_ids)
        .await?
        .into_iter()
        .map(|i| (i.asset_id.clone(), i))
        .collect();
    let now = now_rfc3339();
    let work: Vec<BoxFuture<'_, (String, Result<AgentOutcome, TacticalErrorOrApi>)>> = agent_ids
        .iter()
        .map(|agent_id| {
            let prev = before.get(&asset_id_for(tenant, agent_id));
            let (api, now) = (api.as_ref(), now.as_str());
            async move { (agent_id.clone(), ingest_agent(deps, api, tenant, run_id, agent_id, prev, now).await) }
                .boxed()
        })
        .collect();
    let results: Vec<(String, Result<AgentOutcome, TacticalErrorOrApi>)> =
        stream::iter(work).buffer_unordered(AGENT_CONCURRENCY).collect().await;

    let mut counts = SyncCounts::default();
    let mut deltas: BTreeMap<String, CatalogDelta> = BTreeMap::new();
    let mut refused: Vec<String> = Vec::new();
    let mut fatal: Option<TacticalErrorOrApi> = None;
    let mut transient: Option<TacticalErrorOrApi> = None;
    let mut again: Vec<String> = Vec::new();
    let mut succeeded = 0usize;
    for (agent_id, r) in results {
        if r.is_ok() {
            succeeded += 1;
        }
        match r {
            Ok(AgentOutcome::NoInventory) => {
                counts.items_processed += 1;
                counts.agents_no_inventory += 1;
            }
            Ok(AgentOutcome::Unchanged { items }) => {
                counts.items_processed += 1;
                counts.items_unchanged += 1;
                counts.software_items += items;
            }
            Ok(AgentOutcome::Changed { items, diff }) => {
                counts.items_processed += 1;
                counts.items_updated += 1;
                counts.software_items += items;
                counts.items_created += diff.installs;
                counts.items_deleted += diff.uninstalls;
                counts.software_changed += diff.changed;
                for d in diff.deltas {
                    deltas.entry(d.catalog_key.clone()).and_modify(|e| e.delta += d.delta).or_insert(d);
                }
            }
            // One agent Tactical will not show us (role scope): the others still count.
            Err(TacticalErrorOrApi::Tactical(
                e @ (TacticalError::Forbidden { .. } | TacticalError::Rejected { .. }),
            )) => {
                counts.items_failed += 1;
                refused.push(format!("agent {agent_id}: {e}"));
            }
            Err(e) if e.transient() => {
                again.push(agent_id);
                transient.get_or_insert(e);
            }
            // Refused credentials, the dashboard host, …: the same for every agent.
            Err(e) => {
                fatal.get_or_insert(e);
            }
        }
    }
    // Install counts of assets whose new inventory is recorded are added whatever happens next:
    // those records no longer differ, so no retry would add them.
    let deltas: Vec<CatalogDelta> = deltas.into_values().filter(|d| d.delta != 0).collect();
    deps.store.add_to_software_catalog(tenant, &deltas, &now).await?;
    if let Some(e) = fatal {
        return Err(e);
    }
    if let Some(e) = transient {
        if succeeded == 0 {
            return Err(e);
        }
        again.sort();
        let msg = SyncMessage::SoftwareBatch {
            tenant: tenant.clone(),
            run_id: run_id.to_owned(),
            batch,
            part: part + 1,
            agent_ids: again,
        };
        let key = format!("retry#{}", batch_item(batch, part));
        fan_out(deps, tenant, SyncType::Software, run_id, &key, vec![msg]).await?;
        tracing::warn!(tenant = %tenant, run_id, batch, part, error = %e.message(), "some agents failed; retrying them apart");
    }
    // One error per batch: the run record must stay small however many agents are refused.
    let errors = match refused.len() {
        0 => vec![],
        1 => refused,
        n => vec![format!("{} (and {} more agents of this batch)", refused[0], n - 1)],
    };
    Ok(RunProgress { counts, pending_delta: -1, errors, ..Default::default() })
}

/// One agent: read its inventory; if the list changed, write the links, then record the new
/// inventory with a conditional write. Only the worker whose record write wins returns the
/// catalog deltas, so a duplicated message cannot count an install twice.
async fn ingest_agent(
    deps: &Deps,
    api: &dyn TacticalApi,
    tenant: &TenantId,
    run_id: &str,
    agent_id: &str,
    prev: Option<&SoftwareInventory>,
    now: &str,
) -> Result<AgentOutcome, TacticalErrorOrApi> {
    let items = match api.software_for(agent_id).await {
        Ok(Some(items)) => items,
        Ok(None) | Err(TacticalError::NotFound { .. }) => return Ok(AgentOutcome::NoInventory),
        Err(e) => return Err(e.into()),
    };
    let list = normalize_inventory(&items);
    // An empty list is a failed collection (a Windows machine always has programs): unknown,
    // not "everything uninstalled".
    if list.is_empty() {
        return Ok(AgentOutcome::NoInventory);
    }
    let n = i64::try_from(list.len()).unwrap_or(i64::MAX);
    let hash = inventory_hash(&list);
    if prev.is_some_and(|p| p.hash == hash) {
        return Ok(AgentOutcome::Unchanged { items: n });
    }
    let asset_id = asset_id_for(tenant, agent_id);
    let links = deps.store.list_asset_software(tenant, &asset_id).await?;
    let counted_before = prev.map(|p| p.counted.as_slice()).unwrap_or_default();
    let mut diff = diff_asset(tenant, &asset_id, &list, &links, counted_before, now);
    deps.store.write_asset_software(tenant, &diff.writes).await?;
    let record = SoftwareInventory {
        tenant: tenant.clone(),
        asset_id,
        agent_id: agent_id.to_owned(),
        hash,
        counted: std::mem::take(&mut diff.counted),
        item_count: n.unsigned_abs(),
        updated_at: now.to_owned(),
        run_id: Some(run_id.to_owned()),
    };
    if !deps.store.record_software_inventory(tenant, &record, prev.map(|p| p.hash.as_str())).await? {
        // Another worker recorded this asset's inventory first (a duplicated message); it counts.
        return Ok(AgentOutcome::Unchanged { items: n });
    }
    Ok(AgentOutcome::Changed { items: n, diff })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, version: &str, publisher: &str) -> SoftwareItem {
        SoftwareItem {
            name: name.into(),
            version: Some(version.into()),
            publisher: Some(publisher.into()),
            ..Default::default()
        }
    }

    #[test]
    fn names_and_publishers_normalise() {
        assert_eq!(normalize("  Microsoft\tEdge \n  WebView2 "), "microsoft edge webview2");
        assert_eq!(clean_text(" Microsoft  Edge\u{0}"), "Microsoft Edge");
        assert_eq!(normalize("ÄPFEL Corp"), "äpfel corp");
        assert_eq!(normalize("   "), "");
        assert_eq!(
            catalog_key(&normalize("7-Zip 23.01 (x64)"), &normalize("Igor Pavlov ")),
            "7-zip 23.01 (x64)#igor pavlov"
        );
        assert_eq!(catalog_key("", ""), "#");
    }

    #[test]
    fn keys_never_collide_on_separators_and_stay_short() {
        assert_ne!(catalog_key("a#b", "c"), catalog_key("a", "b#c"));
        assert_eq!(catalog_key("c# dev kit", "50% off"), "c%23 dev kit#50%25 off");
        let long = "x".repeat(5000);
        let k = catalog_key(&long, &long);
        assert!(k.len() <= MAX_NAME_KEY + 1 + MAX_PUBLISHER_KEY, "{}", k.len());
        assert_ne!(k, catalog_key(&format!("{long}y"), &long));
        let wide = "é".repeat(400);
        assert!(catalog_key(&wide, "").len() <= MAX_NAME_KEY + 1);
    }

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(parse_size("5.2 MB"), Some(5_200_000));
        assert_eq!(parse_size("865.3 kB"), Some(865_300));
        assert_eq!(parse_size("0 B"), Some(0));
        assert_eq!(parse_size("1.5 GB"), Some(1_500_000_000));
        assert_eq!(parse_size("2 TB"), Some(2_000_000_000_000));
        assert_eq!(parse_size("1 KiB"), Some(1024));
        assert_eq!(parse_size("1.5 MiB"), Some(1_572_864));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size(" 7KB "), Some(7000));
        for bad in ["", "MB", "abc", "1.2.3 MB", "5 parsecs", "-1 MB", "1e400 B"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn go_times_become_rfc3339_and_the_zero_time_is_unknown() {
        assert_eq!(parse_go_time("2023-05-01 00:00:00 +0000 UTC").as_deref(), Some("2023-05-01T00:00:00Z"));
        assert_eq!(parse_go_time("2023-05-01 10:30:00 -0700 MST").as_deref(), Some("2023-05-01T17:30:00Z"));
        assert_eq!(
            parse_go_time("2023-05-01 10:30:00.123456789 +0200 CEST m=+0.001").as_deref(),
            Some("2023-05-01T08:30:00.123456789Z")
        );
        assert_eq!(parse_go_time("0001-01-01 00:00:00 +0000 UTC"), None);
        assert_eq!(parse_go_time("2019-06-08").as_deref(), Some("2019-06-08T00:00:00Z"));
        assert_eq!(parse_go_time("20190608").as_deref(), Some("2019-06-08T00:00:00Z"));
        assert_eq!(parse_go_time("2019-06-08T01:02:03+01:00").as_deref(), Some("2019-06-08T00:02:03Z"));
        for bad in ["", "yesterday", "2019-13-01 00:00:00 +0000 UTC", "2019-06-08 25:00:00 +0000", "2019-06-08 x"] {
            assert_eq!(parse_go_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn inventories_merge_spellings_and_hash_stably() {
        let a = vec![
            item("Google Chrome", "120.0", "Google LLC"),
            item("  google   CHROME ", "121.0", "google llc"),
            item("7-Zip", "23.01", ""),
            SoftwareItem { name: " ".into(), ..Default::default() },
        ];
        let n = normalize_inventory(&a);
        assert_eq!(n.len(), 2);
        let chrome = n.iter().find(|i| i.normalized_name == "google chrome").unwrap();
        assert_eq!(chrome.version.as_deref(), Some("120.0, 121.0"));
        assert_eq!(chrome.catalog_key, "google chrome#google llc");
        let mut b = a.clone();
        b.reverse();
        assert_eq!(inventory_hash(&n), inventory_hash(&normalize_inventory(&b)), "order does not matter");
        let mut c = a.clone();
        c[2].version = Some("24.00".into());
        assert_ne!(inventory_hash(&n), inventory_hash(&normalize_inventory(&c)), "a version change is a change");
    }

    #[test]
    fn minimal_items_of_old_agents_are_kept() {
        let n = normalize_inventory(&[SoftwareItem {
            name: "Old".into(),
            version: Some("1".into()),
            ..Default::default()
        }]);
        assert_eq!(n[0].catalog_key, "old#");
        assert_eq!((n[0].install_date.clone(), n[0].size_bytes), (None, None));
    }

    #[test]
    fn diffs_install_change_uninstall_and_reinstall() {
        let t = TenantId::parse("t1").unwrap();
        let first = normalize_inventory(&[item("A", "1", "P"), item("B", "1", "P")]);
        let d = diff_asset(&t, "asset", &first, &[], &[], "t0");
        assert_eq!((d.installs, d.uninstalls, d.changed, d.deltas.len()), (2, 0, 0, 2));
        let links = d.writes.clone();
        let counted = d.counted.clone();

        // B removed, A upgraded.
        let second = normalize_inventory(&[item("A", "2", "P")]);
        let d = diff_asset(&t, "asset", &second, &links, &counted, "t1");
        assert_eq!((d.installs, d.uninstalls, d.changed), (0, 1, 1));
        assert_eq!(d.deltas.iter().map(|d| (d.normalized_name.as_str(), d.delta)).collect::<Vec<_>>(), vec![("b", -1)]);
        let b = d.writes.iter().find(|w| w.normalized_name == "b").unwrap();
        assert_eq!((b.is_current, b.uninstalled_at.as_deref(), b.first_seen_at.as_str()), (false, Some("t1"), "t0"));
        let a = d.writes.iter().find(|w| w.normalized_name == "a").unwrap();
        assert_eq!((a.version.as_deref(), a.first_seen_at.as_str(), a.last_seen_at.as_str()), (Some("2"), "t0", "t1"));

        // B comes back: current again, first seen kept.
        let links: Vec<AssetSoftware> = d.writes.clone();
        let d2 = diff_asset(
            &t,
            "asset",
            &normalize_inventory(&[item("A", "2", "P"), item("b", "1", "p")]),
            &links,
            &d.counted,
            "t2",
        );
        assert_eq!((d2.installs, d2.uninstalls), (1, 0));
        let b = d2.writes.iter().find(|w| w.normalized_name == "b").unwrap();
        assert_eq!((b.is_current, b.uninstalled_at.clone(), b.first_seen_at.as_str()), (true, None, "t0"));
    }

    #[test]
    fn a_half_written_attempt_still_counts_once() {
        let t = TenantId::parse("t1").unwrap();
        let list = normalize_inventory(&[item("A", "1", "P"), item("B", "1", "P")]);
        // The links were written but the inventory record (and its counted keys) was not.
        let links = diff_asset(&t, "asset", &list, &[], &[], "t0").writes;
        let d = diff_asset(&t, "asset", &list, &links, &[], "t1");
        assert!(d.writes.is_empty());
        assert_eq!(d.deltas.iter().map(|d| d.delta).sum::<i64>(), 2, "the counts the first attempt never added");
    }
}
