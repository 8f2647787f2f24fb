//! `agents.find` and `agents.get`: agents from our assets, or live from Tactical within what the
//! tenant's organization mappings and the API key's role allow.

use super::client::{Failure, active_integration, tenant_asset, with_client};
use super::error::{ActionError, agent_gone};
use super::history::normalise_time;
use super::ids::{AgentId, rfc3339};
use super::input::FindInput;
use crate::app::Deps;
use crate::domain::asset::{Asset, asset_id_for};
use crate::domain::mapping::OrgMapping;
use crate::domain::status::{AgentStatus, agent_status};
use crate::domain::time::{now, parse_rfc3339};
use crate::domain::vitals::clean;
use crate::ports::PortError;
use crate::tactical::types::{AgentDetail, BetaAgent, BetaAgentQuery};
use crate::tactical::{TacticalApi, TacticalError};
use crate::tenant::TenantId;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use time::OffsetDateTime;

/// An agent as the original's workflow actions return it, with a few more fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentView {
    pub agent_id: String,
    pub asset_id: Option<String>,
    pub hostname: String,
    /// Tactical client id (the organization mapping's `external_organization_id`).
    pub organization_id: Option<String>,
    pub organization_name: Option<String>,
    pub site_id: Option<i64>,
    pub site_name: Option<String>,
    pub agent_online: bool,
    /// `online`, `offline` or `overdue` (Tactical's rule, computed now).
    pub status: AgentStatus,
    #[serde(serialize_with = "rfc3339")]
    pub last_seen_at: Option<OffsetDateTime>,
    pub os_name: Option<String>,
    /// `windows`, `linux` or `darwin`.
    pub platform: Option<String>,
    pub monitoring_type: Option<String>,
    /// `local` (our asset) or `tacticalrmm` (read live).
    pub source: Source,
}

/// Where a listing's agents come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Our assets.
    Local,
    /// Read live from Tactical.
    Tacticalrmm,
}

/// `agents.find`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentList {
    pub agents: Vec<AgentView>,
    pub count: usize,
    pub total: u64,
    pub has_more: bool,
    /// Live only: agents Tactical listed outside the tenant's organizations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded: Option<usize>,
    pub source: Source,
}

impl AgentList {
    fn live(agents: Vec<AgentView>, total: u64, has_more: bool, excluded: usize) -> Self {
        Self { count: agents.len(), agents, total, has_more, excluded: Some(excluded), source: Source::Tacticalrmm }
    }
}

/// `agents.get`: the agent read live, with what only its detail carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentFound {
    pub agent: AgentDetailView,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentDetailView {
    #[serde(flatten)]
    pub view: AgentView,
    pub logged_in_user: Option<String>,
    pub public_ip: Option<String>,
    pub agent_version: Option<String>,
    pub needs_reboot: Option<bool>,
    pub maintenance_mode: Option<bool>,
    pub timezone: Option<String>,
}

/// Site id → (client id, client name, site name), from the tenant's organization mappings.
struct Orgs(BTreeMap<i64, (String, String, String)>);

impl Orgs {
    fn of(mappings: &[OrgMapping]) -> Self {
        let mut m = BTreeMap::new();
        for org in mappings.iter().filter(|o| o.missing_since.is_none()) {
            for s in &org.sites {
                m.insert(
                    s.id,
                    (org.external_organization_id.clone(), org.external_organization_name.clone(), s.name.clone()),
                );
            }
        }
        Orgs(m)
    }

    fn site(&self, site: Option<i64>) -> Option<&(String, String, String)> {
        self.0.get(&site?)
    }
}

fn view_of_asset(a: &Asset, orgs: &Orgs) -> AgentView {
    // As last observed: never recomputed from an old last_seen.
    let status = a.agent_status;
    let org = orgs.site(a.site_id);
    AgentView {
        agent_id: a.rmm_device_id.clone(),
        asset_id: Some(a.asset_id.clone()),
        hostname: a.name.clone(),
        organization_id: Some(a.rmm_organization_id.clone()),
        organization_name: org.map(|o| o.1.clone()),
        site_id: a.site_id,
        site_name: a.location.clone().or_else(|| org.map(|o| o.2.clone())),
        agent_online: status == AgentStatus::Online,
        status,
        last_seen_at: a.last_seen_at.as_deref().and_then(parse_rfc3339),
        os_name: a.os_version.clone(),
        platform: a.os_type.clone(),
        monitoring_type: Some(a.asset_type.clone()),
        source: Source::Local,
    }
}

fn view_of_beta(a: &BetaAgent, asset_id: Option<String>, orgs: &Orgs) -> AgentView {
    let status = agent_status(a.last_seen.as_deref().and_then(parse_rfc3339), a.offline_time, a.overdue_time, now());
    let org = orgs.site(a.site);
    AgentView {
        agent_id: a.agent_id.clone(),
        asset_id,
        hostname: a.hostname.clone(),
        organization_id: org.map(|o| o.0.clone()),
        organization_name: org.map(|o| o.1.clone()),
        site_id: a.site,
        site_name: org.map(|o| o.2.clone()),
        agent_online: status == AgentStatus::Online,
        status,
        last_seen_at: normalise_time(a.last_seen.as_deref()),
        os_name: clean(a.operating_system.as_deref()),
        platform: a.plat.clone(),
        monitoring_type: a.monitoring_type.clone(),
        source: Source::Tacticalrmm,
    }
}

fn view_of_detail(d: &AgentDetail, asset: Option<&Asset>, orgs: &Orgs) -> AgentView {
    let status = match d.status.as_deref() {
        Some("online") => AgentStatus::Online,
        Some("offline") => AgentStatus::Offline,
        Some("overdue") => AgentStatus::Overdue,
        _ => agent_status(d.last_seen.as_deref().and_then(parse_rfc3339), d.offline_time, d.overdue_time, now()),
    };
    let org = orgs.site(d.site);
    AgentView {
        agent_id: d.agent_id.clone(),
        asset_id: asset.map(|a| a.asset_id.clone()),
        hostname: d.hostname.clone(),
        organization_id: org.map(|o| o.0.clone()).or_else(|| asset.map(|a| a.rmm_organization_id.clone())),
        organization_name: d.client.clone().or_else(|| org.map(|o| o.1.clone())),
        site_id: d.site,
        site_name: d.site_name.clone().or_else(|| org.map(|o| o.2.clone())),
        agent_online: status == AgentStatus::Online,
        status,
        last_seen_at: normalise_time(d.last_seen.as_deref()),
        os_name: clean(d.operating_system.as_deref()),
        platform: d.plat.clone(),
        monitoring_type: d.monitoring_type.clone(),
        source: Source::Tacticalrmm,
    }
}

/// `agents.find`: from our assets, or live from Tactical.
pub(crate) async fn find(deps: &Deps, tenant: &TenantId, f: FindInput) -> Result<AgentList, ActionError> {
    let integ = active_integration(deps, tenant).await?;
    if !f.live {
        return find_local(deps, tenant, f).await;
    }
    with_client(deps, tenant, &integ, |api| {
        let f = f.clone();
        async move { find_live(deps, tenant, api.as_ref(), f).await }
    })
    .await
    .map_err(|f| f.into_error(false))
}

/// `agents.get`: an agent of the tenant, read live.
pub(crate) async fn get(deps: &Deps, tenant: &TenantId, agent_id: &AgentId) -> Result<AgentFound, ActionError> {
    let integ = active_integration(deps, tenant).await?;
    let asset = tenant_asset(deps, tenant, agent_id.as_str()).await?;
    let agent_id = agent_id.as_str();
    let fetched =
        with_client(deps, tenant, &integ, |api| async move { api.agent(agent_id).await.map_err(Failure::Tactical) })
            .await;
    let detail = match fetched {
        Ok(d) => d,
        Err(Failure::Tactical(TacticalError::NotFound { .. })) => return Err(agent_gone()),
        Err(other) => return Err(other.into_error(false)),
    };
    let orgs = Orgs::of(&deps.store.list_org_mappings(tenant).await?);
    Ok(AgentFound {
        agent: AgentDetailView {
            view: view_of_detail(&detail, Some(&asset), &orgs),
            logged_in_user: clean(detail.logged_in_username.as_deref()),
            public_ip: clean(detail.public_ip.as_deref()),
            agent_version: clean(detail.version.as_deref()),
            needs_reboot: detail.needs_reboot,
            maintenance_mode: detail.maintenance_mode,
            timezone: detail.timezone,
        },
    })
}

async fn find_local(deps: &Deps, tenant: &TenantId, f: FindInput) -> Result<AgentList, ActionError> {
    let assets = match (&f.agent_id, &f.asset_id) {
        (Some(agent), _) => deps.store.get_assets(tenant, &[asset_id_for(tenant, agent)]).await?,
        (None, Some(id)) => deps.store.get_assets(tenant, std::slice::from_ref(id)).await?,
        (None, None) => deps.store.list_assets(tenant).await?,
    };
    let q = f.query.as_deref().map(|q| q.trim().to_lowercase());
    let mut hits: Vec<&Asset> = assets
        .iter()
        .filter(|a| f.agent_id.as_deref().is_none_or(|id| a.rmm_device_id == id))
        .filter(|a| f.asset_id.as_deref().is_none_or(|id| a.asset_id == id))
        .filter(|a| f.hostname.as_deref().is_none_or(|h| a.name.eq_ignore_ascii_case(h.trim())))
        .filter(|a| {
            q.as_deref().is_none_or(|q| {
                a.name.to_lowercase().contains(q) || a.rmm_device_id.to_lowercase() == q || a.asset_id == q
            })
        })
        .collect();
    hits.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.rmm_device_id.cmp(&b.rmm_device_id)));
    let total = hits.len();
    let orgs = Orgs::of(&deps.store.list_org_mappings(tenant).await?);
    let agents: Vec<AgentView> =
        hits.iter().take(usize::try_from(f.limit).unwrap_or(0)).map(|a| view_of_asset(a, &orgs)).collect();
    Ok(AgentList {
        count: agents.len(),
        total: u64::try_from(total).unwrap_or(u64::MAX),
        has_more: total > agents.len(),
        agents,
        excluded: None,
        source: Source::Local,
    })
}

/// Live from Tactical. The beta list ignores the API key's role scoping, so
/// rows are kept only when their site belongs to one of the tenant's organization mappings (built
/// from the role-scoped `GET /clients/`); the rest are counted in `excluded`.
async fn find_live(deps: &Deps, tenant: &TenantId, api: &dyn TacticalApi, f: FindInput) -> Result<AgentList, Failure> {
    let store_err = |e: PortError| Failure::Other(e.into());
    let orgs = Orgs::of(&deps.store.list_org_mappings(tenant).await.map_err(store_err)?);
    let agent_id = match (&f.agent_id, &f.asset_id) {
        (Some(a), _) => Some(a.clone()),
        (None, Some(asset)) => {
            let found = deps.store.get_assets(tenant, std::slice::from_ref(asset)).await.map_err(store_err)?;
            match found.into_iter().next() {
                Some(a) => Some(a.rmm_device_id),
                None => return Ok(AgentList::live(Vec::new(), 0, false, 0)),
            }
        }
        (None, None) => None,
    };
    let q = f.query.as_deref().map(|q| q.trim().to_lowercase());
    if let Some(agent_id) = agent_id {
        // Never `?agent_id=` on beta (a 500 in Tactical): the classic detail route.
        let detail = match api.agent(&agent_id).await {
            Ok(d) => Some(d),
            Err(TacticalError::NotFound { .. }) => None,
            Err(e) => return Err(Failure::Tactical(e)),
        };
        let asset = deps
            .store
            .get_assets(tenant, &[asset_id_for(tenant, &agent_id)])
            .await
            .map_err(store_err)?
            .into_iter()
            .next();
        let mut agents = Vec::new();
        let mut excluded = 0;
        if let Some(d) = detail {
            let visible = asset.is_some() || orgs.site(d.site).is_some();
            let matches = f.hostname.as_deref().is_none_or(|h| d.hostname.eq_ignore_ascii_case(h.trim()))
                && q.as_deref().is_none_or(|q| d.hostname.to_lowercase().contains(q) || d.agent_id.to_lowercase() == q);
            if !visible {
                excluded = 1;
            } else if matches {
                agents.push(view_of_detail(&d, asset.as_ref(), &orgs));
            }
        }
        let n = u64::try_from(agents.len()).unwrap_or(u64::MAX);
        return Ok(AgentList::live(agents, n, false, excluded));
    }
    let page = api
        .beta_agents_page(&BetaAgentQuery {
            hostname: f.hostname.as_deref().map(|h| h.trim().to_owned()),
            search: q.clone(),
            page: 1,
            page_size: u32::try_from(f.limit).unwrap_or(1),
            ..Default::default()
        })
        .await
        .map_err(Failure::Tactical)?;
    // The mappings may predate a key narrowed to some clients: the sites the credentials may
    // see now come from the role-scoped `/clients/`.
    let scoped: HashSet<i64> =
        api.clients().await.map_err(Failure::Tactical)?.iter().flat_map(|c| c.sites.iter().map(|s| s.id)).collect();
    let fetched = page.results.len();
    let (visible, hidden): (Vec<&BetaAgent>, Vec<&BetaAgent>) =
        page.results.iter().partition(|a| orgs.site(a.site).is_some() && a.site.is_some_and(|s| scoped.contains(&s)));
    // `search=` also matches each agent's services JSON (a service naming another host, a
    // path): `query` finds host names only.
    let visible: Vec<&BetaAgent> = visible
        .into_iter()
        .filter(|a| {
            q.as_deref().is_none_or(|q| a.hostname.to_lowercase().contains(q) || a.agent_id.to_lowercase() == q)
        })
        .collect();
    let ids: Vec<String> = visible.iter().map(|a| asset_id_for(tenant, &a.agent_id)).collect();
    let existing: HashSet<String> = if ids.is_empty() {
        HashSet::new()
    } else {
        // Existence only: the projection without vitals.
        deps.store.asset_states(tenant, &ids).await.map_err(store_err)?.into_iter().map(|a| a.asset_id).collect()
    };
    let agents: Vec<AgentView> =
        visible.iter().zip(ids).map(|(a, id)| view_of_beta(a, existing.contains(&id).then_some(id), &orgs)).collect();
    let has_more = page.count > u64::try_from(fetched).unwrap_or(u64::MAX);
    Ok(AgentList::live(agents, page.count, has_more, hidden.len()))
}
