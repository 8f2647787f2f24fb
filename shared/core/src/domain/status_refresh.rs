//! Live status: a light listing of each mapped Tactical client's agents (Tactical computes
//! `status` itself), compared with a compact per-client snapshot of the statuses last observed.
//! Only transitions cost anything: each is published as an `Asset Status Changed` event first,
//! then written onto its asset, then the snapshot is replaced. An unchanged fleet costs the
//! listings and one small record of when they were observed.

use super::asset::asset_id_for;
use super::integration::RmmIntegration;
use super::status::AgentStatus;
use super::sync::{TacticalErrorOrApi, active_integration, client_for, with_renewal};
use super::time::{now_rfc3339, parse_rfc3339, to_rfc3339};
use crate::app::Deps;
use crate::ports::BusEvent;
use crate::tactical::status_list::AgentStatusRow;
use crate::tenant::TenantId;
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use std::collections::BTreeMap;

/// EventBridge `source` of every event of the stack.
pub const EVENT_SOURCE: &str = "tactical-bridge";
pub const STATUS_CHANGED: &str = "Asset Status Changed";
/// Agents of one Tactical client a refresh accepts (the listing is bounded by the body cap too).
pub const MAX_AGENTS_PER_CLIENT: usize = 50_000;
/// Longest agent id kept in a snapshot (Tactical's are 40 letters).
const MAX_AGENT_ID: usize = 128;

/// What the snapshot remembers of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub status: AgentStatus,
    /// Whether the agent was an asset when last looked at (a transition of one that was not
    /// looks again: the device sync may have created it since).
    pub asset: bool,
}

/// The statuses of one Tactical client's agents as last observed.
///
/// Stored in two halves: the member list (the sorted agent ids), rewritten only when agents join
/// or leave, and the statuses (half a byte per member, in the member list's order), rewritten
/// on a transition. The statuses name the member list they align with (`members_version`), so a
/// half-written snapshot is detected and read as absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// When it was written: part of every event id derived from it, so a redelivered refresh
    /// re-publishes the same ids.
    pub observed_at: String,
    /// Names the member list: a digest of the ids, kept from the prior snapshot when no agent
    /// joined or left, which tells the store it need not rewrite the list.
    pub members_version: String,
    pub entries: BTreeMap<String, Entry>,
}

/// One agent's entry as a number below 6: its status, and whether it is an asset.
fn code(e: &Entry) -> usize {
    let s = match e.status {
        AgentStatus::Online => 0,
        AgentStatus::Offline => 1,
        AgentStatus::Overdue => 2,
    };
    s * 2 + usize::from(e.asset)
}

fn entry_of(code: usize) -> Option<Entry> {
    let status = match code / 2 {
        0 => AgentStatus::Online,
        1 => AgentStatus::Offline,
        2 => AgentStatus::Overdue,
        _ => return None,
    };
    Some(Entry { status, asset: code % 2 == 1 })
}

/// Two agents a character (6 × 6 = 36 pairs): half a byte an agent keeps the statuses of a
/// 1,700-agent client under one 1 KB write unit.
const PAIRS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

impl Snapshot {
    /// A snapshot of `entries` with the member list's own version.
    pub fn new(observed_at: String, entries: BTreeMap<String, Entry>) -> Self {
        Self { observed_at, members_version: Self::members_version_of(entries.keys()), entries }
    }

    /// A digest of the member list: the same ids always give the same version, different ones
    /// (two refreshes racing with different members) never share one.
    pub fn members_version_of<'a>(ids: impl Iterator<Item = &'a String>) -> String {
        const NS: uuid::Uuid = uuid::Uuid::from_u128(0x8f41_0b6e_2d7a_4c19_9e35_71a0_c4d2_5b68);
        let mut text = String::new();
        for id in ids {
            text.push_str(id);
            text.push('\n');
        }
        uuid::Uuid::new_v5(&NS, text.as_bytes()).to_string()
    }

    /// One member list part: agent ids, one a line.
    pub fn encode_members<'a>(ids: impl Iterator<Item = &'a String>) -> String {
        let mut out = String::new();
        for id in ids {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(id);
        }
        out
    }

    /// The statuses in the member list's order, two members a character (an odd last member is
    /// paired with 0): ≈ 500 bytes per 1,000 agents.
    pub fn encode_statuses(&self) -> String {
        let mut codes = self.entries.values().map(code);
        let mut out = String::with_capacity(self.entries.len().div_ceil(2));
        while let Some(a) = codes.next() {
            let b = codes.next().unwrap_or(0);
            // Codes are below 6, so the pair is always one of the 36.
            out.push(PAIRS.get(a * 6 + b).map_or('0', |c| char::from(*c)));
        }
        out
    }

    /// The snapshot from its member list parts (in part order) and its statuses; `None` when they
    /// do not line up (ids out of order or repeated, a count or character that does not match):
    /// such a snapshot is not trusted.
    pub fn decode<'a>(
        observed_at: String,
        members_version: String,
        parts: impl Iterator<Item = &'a str>,
        statuses: &str,
    ) -> Option<Self> {
        let pairs: Vec<usize> = statuses.bytes().map(|c| PAIRS.iter().position(|p| *p == c)).collect::<Option<_>>()?;
        let mut entries = BTreeMap::new();
        let mut last: Option<&str> = None;
        for (i, id) in parts.flat_map(|p| p.split('\n')).filter(|l| !l.is_empty()).enumerate() {
            if last.is_some_and(|l| l >= id) {
                return None;
            }
            last = Some(id);
            let pair = pairs.get(i / 2)?;
            entries.insert(id.to_owned(), entry_of(if i % 2 == 0 { pair / 6 } else { pair % 6 })?);
        }
        // As many characters as pairs of members, the padding of an odd count 0.
        let n = entries.len();
        if pairs.len() != n.div_ceil(2) || (n % 2 == 1 && pairs.last().is_some_and(|p| p % 6 != 0)) {
            return None;
        }
        Some(Self { observed_at, members_version, entries })
    }
}

/// A transition written onto an asset.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub asset_id: String,
    pub status: AgentStatus,
    pub last_seen_at: Option<String>,
    pub observed_at: String,
}

/// The `Asset Status Changed` detail (schemas/events/asset-status-changed.json).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusChangedDetail {
    pub event_id: String,
    pub tenant: String,
    pub asset_id: String,
    pub agent_id: String,
    pub hostname: String,
    /// The PSA client of the organization mapping (null when the mapping has none).
    pub client_id: Option<String>,
    pub tactical_client_id: i64,
    pub from: AgentStatus,
    pub to: AgentStatus,
    pub last_seen_at: Option<String>,
    pub observed_at: String,
    pub source: &'static str,
}

/// Deterministic: the same transition from the same snapshot always gets the same id, so a
/// redelivered refresh publishes duplicates a consumer can drop, never a second transition.
pub fn status_event_id(tenant: &TenantId, agent_id: &str, from: AgentStatus, to: AgentStatus, prior: &str) -> String {
    const NS: uuid::Uuid = uuid::Uuid::from_u128(0x2c9e_61d4_7b30_4f8a_a1e2_5d6c_3b9f_0e47);
    let name = format!("{tenant}|status|{agent_id}|{}|{}|{prior}", from.as_str(), to.as_str());
    uuid::Uuid::new_v5(&NS, name.as_bytes()).to_string()
}

/// What one client's refresh did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RefreshCounts {
    pub agents: u64,
    pub transitions: u64,
    pub asset_reads: u64,
    pub asset_writes: u64,
    pub snapshot_writes: u64,
    pub ignored_rows: u64,
}

impl RefreshCounts {
    fn add(&mut self, o: &RefreshCounts) {
        self.agents += o.agents;
        self.transitions += o.transitions;
        self.asset_reads += o.asset_reads;
        self.asset_writes += o.asset_writes;
        self.snapshot_writes += o.snapshot_writes;
        self.ignored_rows += o.ignored_rows;
    }
}

/// A listing row the refresh can use: a sane agent id and one of Tactical's three statuses.
fn usable(r: &AgentStatusRow) -> Option<AgentStatus> {
    let id_ok = !r.agent_id.is_empty()
        && r.agent_id.len() <= MAX_AGENT_ID
        && !r.agent_id.chars().any(|c| c.is_whitespace() || c.is_control());
    if !id_ok {
        return None;
    }
    match r.status.as_deref() {
        Some("online") => Some(AgentStatus::Online),
        Some("offline") => Some(AgentStatus::Offline),
        Some("overdue") => Some(AgentStatus::Overdue),
        _ => None,
    }
}

/// The plan for one client: what the listing says against what was known.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub next: BTreeMap<String, Entry>,
    /// (row index, from) of agents that are assets and changed.
    pub transitions: Vec<(usize, AgentStatus)>,
    /// Whether the snapshot must be rewritten (transitions, agents added or gone).
    pub changed: bool,
    /// Whether agents joined or left (or there was no snapshot): the member list is rewritten.
    pub members_changed: bool,
    pub ignored: u64,
}

/// Compares a listing with what was known. `known_assets` holds the stored status of agents the
/// snapshot does not know as assets, read from the assets.
pub fn plan(
    rows: &[AgentStatusRow],
    prior: Option<&BTreeMap<String, Entry>>,
    known_assets: &BTreeMap<String, AgentStatus>,
) -> Plan {
    let mut p = Plan::default();
    for (i, r) in rows.iter().enumerate() {
        let Some(now) = usable(r) else {
            p.ignored += 1;
            continue;
        };
        let before = prior.and_then(|m| m.get(&r.agent_id)).copied();
        let stored = known_assets.get(&r.agent_id).copied();
        let (from, asset) = match (before, stored) {
            // The asset's own status is the better prior for one the snapshot did not know as one.
            (Some(Entry { asset: false, .. }) | None, Some(s)) => (Some(s), true),
            (Some(e), _) => (Some(e.status), e.asset),
            (None, None) => (None, false),
        };
        if asset && from.is_some_and(|f| f != now) {
            p.transitions.push((i, from.unwrap_or(now)));
        }
        if before != Some(Entry { status: now, asset }) {
            p.changed = true;
        }
        p.next.insert(r.agent_id.clone(), Entry { status: now, asset });
    }
    p.members_changed = match prior {
        None => true,
        Some(m) => m.len() != p.next.len() || m.keys().any(|k| !p.next.contains_key(k)),
    };
    // Without a prior, `changed` already says whether there is anything to record.
    if prior.is_some() && p.members_changed {
        p.changed = true;
    }
    p
}

/// Agents whose stored asset status must be read before planning.
pub fn to_read(rows: &[AgentStatusRow], prior: Option<&BTreeMap<String, Entry>>) -> Vec<String> {
    rows.iter()
        .filter_map(|r| {
            usable(r)?;
            // Agents not known as assets are looked at again: the device sync may have created
            // them since, with the status it saw (rare: only agents newer than the last sync).
            match prior.and_then(|m| m.get(&r.agent_id)) {
                Some(e) if e.asset => None,
                _ => Some(r.agent_id.clone()),
            }
        })
        .collect()
}

/// One Tactical client: list, compare, publish, write the transitions, replace the snapshot.
async fn refresh_client(
    deps: &Deps,
    tenant: &TenantId,
    api: &dyn crate::tactical::TacticalApi,
    client_id: i64,
    psa_client: Option<&str>,
) -> Result<RefreshCounts, TacticalErrorOrApi> {
    let (rows, prior) = tokio::join!(api.agent_statuses(client_id), deps.store.status_snapshot(tenant, client_id));
    let (rows, prior) = (rows?, prior?);
    if rows.len() > MAX_AGENTS_PER_CLIENT {
        return Err(crate::ApiError::new(
            crate::ErrorCode::TacticalError,
            format!(
                "Tactical listed {} agents for client {client_id}; at most {MAX_AGENTS_PER_CLIENT} are refreshed",
                rows.len()
            ),
        )
        .into());
    }
    let observed_at = now_rfc3339();
    let mut counts = RefreshCounts { agents: rows.len() as u64, ..Default::default() };
    let prior_entries = prior.as_ref().map(|s| &s.entries);
    let reads = to_read(&rows, prior_entries);
    let mut known = BTreeMap::new();
    if !reads.is_empty() {
        counts.asset_reads = reads.len() as u64;
        let by_asset: BTreeMap<String, String> = reads.iter().map(|a| (asset_id_for(tenant, a), a.clone())).collect();
        let ids: Vec<String> = by_asset.keys().cloned().collect();
        for (asset_id, status) in deps.store.asset_statuses(tenant, &ids).await? {
            if let Some(agent) = by_asset.get(&asset_id) {
                known.insert(agent.clone(), status);
            }
        }
    }
    let plan = plan(&rows, prior_entries, &known);
    counts.ignored_rows = plan.ignored;
    if !plan.changed {
        return Ok(counts);
    }
    let prior_version = prior.as_ref().map(|s| s.observed_at.as_str()).unwrap_or("assets");
    let mut events = Vec::with_capacity(plan.transitions.len());
    let mut changes = Vec::with_capacity(plan.transitions.len());
    for (i, from) in &plan.transitions {
        let r = &rows[*i];
        let to = plan.next[&r.agent_id].status;
        let last_seen_at = r.last_seen.as_deref().and_then(parse_rfc3339).map(to_rfc3339);
        let asset_id = asset_id_for(tenant, &r.agent_id);
        let detail = StatusChangedDetail {
            event_id: status_event_id(tenant, &r.agent_id, *from, to, prior_version),
            tenant: tenant.to_string(),
            asset_id: asset_id.clone(),
            agent_id: r.agent_id.clone(),
            hostname: r.hostname.chars().take(255).collect(),
            client_id: psa_client.map(str::to_owned),
            tactical_client_id: client_id,
            from: *from,
            to,
            last_seen_at: last_seen_at.clone(),
            observed_at: observed_at.clone(),
            source: "status_refresh",
        };
        events
            .push(BusEvent { detail_type: STATUS_CHANGED, detail: serde_json::to_value(&detail).unwrap_or_default() });
        changes.push(StatusChange { asset_id, status: to, last_seen_at, observed_at: observed_at.clone() });
    }
    // Published before anything is recorded: a failure leaves the snapshot as it was, and the
    // retried work item publishes the same ids again.
    deps.events.publish(&events).await?;
    counts.transitions = changes.len() as u64;
    // Owned items: a stream over borrowed ones makes the future not provably Send.
    let applied: Vec<bool> = stream::iter(changes)
        .map(|c| async move { deps.store.apply_status(tenant, &c).await })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    counts.asset_writes = applied.iter().filter(|a| **a).count() as u64;
    // The same members keep their version: the store then writes the statuses alone.
    let snapshot = match &prior {
        Some(p) if !plan.members_changed => {
            Snapshot { observed_at, members_version: p.members_version.clone(), entries: plan.next }
        }
        _ => Snapshot::new(observed_at, plan.next),
    };
    deps.store.put_status_snapshot(tenant, client_id, &snapshot, prior.as_ref()).await?;
    counts.snapshot_writes = 1;
    Ok(counts)
}

/// A tenant's status refresh: every mapped client that syncs devices.
pub async fn refresh_tenant(
    deps: &Deps,
    tenant: &TenantId,
    integ: &RmmIntegration,
) -> Result<RefreshCounts, TacticalErrorOrApi> {
    let api = client_for(deps, tenant, integ).await?;
    let clients: Vec<(i64, Option<String>)> = deps
        .store
        .list_org_mappings(tenant)
        .await?
        .into_iter()
        .filter(|m| m.syncs_devices())
        .filter_map(|m| m.tactical_client_id().map(|c| (c, m.client_id.clone())))
        .collect();
    let mut observed = deps.store.status_observed(tenant).await?;
    let mut total = RefreshCounts::default();
    let mut first_error = None;
    let api = api.as_ref();
    let results: Vec<(i64, Result<RefreshCounts, TacticalErrorOrApi>, String)> = stream::iter(clients.clone())
        .map(|(c, psa)| async move {
            let started = now_rfc3339();
            (c, refresh_client(deps, tenant, api, c, psa.as_deref()).await, started)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for (client, result, started) in results {
        match result {
            Ok(c) => {
                total.add(&c);
                observed.insert(client.to_string(), started);
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant, client, error = %e.message(), "status refresh of a client failed");
                first_error.get_or_insert(e);
            }
        }
    }
    observed.retain(|k, _| clients.iter().any(|(c, _)| c.to_string() == *k));
    deps.store.record_status_observed(tenant, &observed).await?;
    if let Some(e) = first_error {
        return Err(e);
    }
    tracing::info!(tenant = %tenant, agents = total.agents, transitions = total.transitions, "status refresh");
    Ok(total)
}

/// Queues a status refresh of the tenant (`POST /status/refresh`, the scheduler). Several queued
/// at once are harmless: the second finds the snapshots already current and writes nothing.
pub async fn request(deps: &Deps, tenant: &TenantId) -> Result<String, crate::ApiError> {
    let integ = deps.store.get_integration(tenant).await?.ok_or_else(|| {
        crate::ApiError::new(
            crate::ErrorCode::IntegrationNotConfigured,
            "Tactical RMM is not configured for this tenant",
        )
    })?;
    integ.ensure_active()?;
    let refresh_id = super::sync_run::new_run_id();
    let msg = crate::messages::SyncMessage::StatusRefresh { tenant: tenant.clone(), refresh_id: refresh_id.clone() };
    deps.queue.send(crate::messages::QueueKind::SyncDevices, &[msg]).await?;
    let patch = super::IntegrationPatch { last_started: vec![("status".into(), now_rfc3339())], ..Default::default() };
    deps.store.patch_integration(tenant, &patch).await?;
    Ok(refresh_id)
}

/// The `status_refresh` work item.
pub async fn handle(deps: &Deps, tenant: &TenantId, last_attempt: bool) -> super::sync::Outcome {
    use super::sync::Outcome;
    let integ = match active_integration(deps, tenant).await {
        Ok(i) => i,
        Err(None) => return Outcome::Retry("reading the integration failed".into()),
        Err(Some(reason)) => {
            tracing::warn!(tenant = %tenant, reason, "dropping status refresh");
            return Outcome::Done;
        }
    };
    // Like every sync work item: a refused credential is re-read fresh (a worker's cached copy
    // may be stale) and, if still refused, renewed, then the refresh runs again at once.
    match with_renewal(deps, tenant, &integ, || refresh_tenant(deps, tenant, &integ)).await {
        Ok(_) => Outcome::Done,
        Err(e) => {
            if e.transient() && !last_attempt {
                return Outcome::Retry(e.message());
            }
            // The next scheduled refresh starts from the same snapshot: nothing is lost.
            tracing::error!(tenant = %tenant, error = %e.message(), "status refresh failed");
            Outcome::Done
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: &str) -> AgentStatusRow {
        AgentStatusRow {
            agent_id: id.into(),
            hostname: format!("h-{id}"),
            status: Some(status.into()),
            last_seen: None,
        }
    }

    fn snap(entries: &[(&str, AgentStatus, bool)]) -> BTreeMap<String, Entry> {
        entries.iter().map(|(id, s, a)| ((*id).to_owned(), Entry { status: *s, asset: *a })).collect()
    }

    #[test]
    fn an_unchanged_listing_changes_nothing_and_reads_nothing() {
        let prior = snap(&[("a", AgentStatus::Online, true), ("b", AgentStatus::Overdue, true)]);
        let rows = [row("a", "online"), row("b", "overdue")];
        assert!(to_read(&rows, Some(&prior)).is_empty());
        let p = plan(&rows, Some(&prior), &BTreeMap::new());
        assert!(!p.changed && p.transitions.is_empty(), "{p:?}");
    }

    #[test]
    fn transitions_of_assets_only_and_gone_agents_rewrite_the_snapshot() {
        let prior = snap(&[
            ("a", AgentStatus::Online, true),
            ("b", AgentStatus::Online, false),
            ("gone", AgentStatus::Online, true),
        ]);
        let rows = [row("a", "offline"), row("b", "offline"), row("new", "online"), row("bad id", "online")];
        // b was not an asset: look again; "new" is unknown.
        assert_eq!(to_read(&rows, Some(&prior)), vec!["b".to_owned(), "new".to_owned()]);
        let known = BTreeMap::from([("new".to_owned(), AgentStatus::Overdue)]);
        let p = plan(&rows, Some(&prior), &known);
        assert_eq!(p.transitions, vec![(0, AgentStatus::Online), (2, AgentStatus::Overdue)]);
        assert!(p.changed);
        assert_eq!(p.ignored, 1);
        assert_eq!(p.next["b"], Entry { status: AgentStatus::Offline, asset: false });
        assert!(!p.next.contains_key("gone"));
    }

    #[test]
    fn without_a_snapshot_the_assets_are_the_prior() {
        let rows = [row("a", "online"), row("b", "overdue"), row("c", "weird")];
        assert_eq!(to_read(&rows, None), vec!["a".to_owned(), "b".to_owned()]);
        let known = BTreeMap::from([("a".to_owned(), AgentStatus::Online), ("b".to_owned(), AgentStatus::Online)]);
        let p = plan(&rows, None, &known);
        assert_eq!(p.transitions, vec![(1, AgentStatus::Online)]);
    }

    #[test]
    fn snapshots_round_trip_and_refuse_what_does_not_line_up() {
        let entries = snap(&[
            ("a", AgentStatus::Online, true),
            ("b", AgentStatus::Overdue, false),
            ("c", AgentStatus::Offline, true),
        ]);
        let s = Snapshot::new("t".into(), entries.clone());
        let statuses = s.encode_statuses();
        assert_eq!(statuses.len(), 2, "two agents a character");
        let (p1, p2) =
            (Snapshot::encode_members(entries.keys().take(2)), Snapshot::encode_members(entries.keys().skip(2)));
        let back =
            Snapshot::decode("t".into(), s.members_version.clone(), [p1.as_str(), p2.as_str()].into_iter(), &statuses);
        assert_eq!(back.as_ref(), Some(&s));
        let decode = |parts: &[&str], st: &str| Snapshot::decode("t".into(), "v".into(), parts.iter().copied(), st);
        assert!(decode(&[&p1], &statuses).is_none(), "a part missing");
        assert_eq!(decode(&[&p1, &p2], &statuses).map(|s| s.entries), Some(entries.clone()));
        assert!(decode(&[&p1, &p2], &statuses[..1]).is_none(), "fewer statuses than members");
        assert!(decode(&[&p1, &p2], &format!("{statuses}0")).is_none(), "more statuses than members");
        assert!(
            decode(&[&p1, &p2], &format!("{}z", &statuses[..1])).is_none(),
            "an odd count padded with other than 0"
        );
        assert!(decode(&[&p1, &p2], &format!("{}Z", &statuses[..1])).is_none(), "an unknown character");
        assert!(decode(&[&p1], &statuses[..1]).is_some(), "an even count needs no padding");
        assert!(decode(&[&p2, &p1], &statuses).is_none(), "parts out of order");
        assert_eq!(decode(&[""], "").map(|s| s.entries.len()), Some(0), "an empty client");
    }

    #[test]
    fn the_members_version_follows_the_ids_only() {
        let a = snap(&[("a", AgentStatus::Online, true), ("b", AgentStatus::Online, true)]);
        let b = snap(&[("a", AgentStatus::Offline, false), ("b", AgentStatus::Overdue, true)]);
        let c = snap(&[("a", AgentStatus::Online, true), ("c", AgentStatus::Online, true)]);
        assert_eq!(Snapshot::new("1".into(), a.clone()).members_version, Snapshot::new("2".into(), b).members_version);
        assert_ne!(Snapshot::new("1".into(), a).members_version, Snapshot::new("1".into(), c).members_version);
    }

    #[test]
    fn only_joins_and_leaves_change_the_members() {
        let prior = snap(&[("a", AgentStatus::Online, true), ("b", AgentStatus::Online, false)]);
        let known = BTreeMap::from([("b".to_owned(), AgentStatus::Online)]);
        let p = plan(&[row("a", "offline"), row("b", "online")], Some(&prior), &known);
        assert!(p.changed && !p.members_changed, "a transition and an asset flag: statuses only: {p:?}");
        let p = plan(&[row("a", "online")], Some(&prior), &BTreeMap::new());
        assert!(p.changed && p.members_changed, "b left");
        let p = plan(&[row("a", "online"), row("b", "online"), row("c", "online")], Some(&prior), &BTreeMap::new());
        assert!(p.changed && p.members_changed, "c joined");
        let p = plan(&[row("a", "online"), row("c", "online")], Some(&prior), &BTreeMap::new());
        assert!(p.members_changed, "as many agents, not the same ones");
        let p = plan(&[row("a", "online")], None, &BTreeMap::new());
        assert!(p.changed && p.members_changed, "no snapshot yet");
    }

    #[test]
    fn event_ids_are_stable_per_transition_and_prior() {
        let t = TenantId::parse("t1").unwrap();
        let a = status_event_id(&t, "x", AgentStatus::Online, AgentStatus::Offline, "2026-11-30T10:00:00Z");
        assert_eq!(a, status_event_id(&t, "x", AgentStatus::Online, AgentStatus::Offline, "2026-11-30T10:00:00Z"));
        assert_ne!(a, status_event_id(&t, "x", AgentStatus::Online, AgentStatus::Offline, "2026-11-30T10:05:00Z"));
        assert_ne!(a, status_event_id(&t, "x", AgentStatus::Online, AgentStatus::Overdue, "2026-11-30T10:00:00Z"));
    }
}
