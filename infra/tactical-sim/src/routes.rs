//! URL routing (Django `urls.py` equivalents).

/// A route of the simulated API (used for faults and request counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteKind {
    /// `GET /`
    Root,
    /// `POST /v2/checkcreds/`
    CheckCreds,
    /// `POST /v2/login/`
    Login,
    /// `POST /logout/`
    Logout,
    /// `POST /logoutall/`
    LogoutAll,
    /// `GET /core/version/`
    CoreVersion,
    /// `GET /clients/`
    Clients,
    /// `GET /clients/<id>/`
    Client,
    /// `GET /clients/sites/`
    Sites,
    /// `GET /clients/sites/<id>/`
    Site,
    /// `GET /agents/`
    Agents,
    /// `GET|PUT|DELETE /agents/<agent_id>/`
    Agent,
    /// `POST /agents/<agent_id>/cmd/`
    AgentCmd,
    /// `POST /agents/<agent_id>/runscript/`
    AgentRunScript,
    /// `POST|PATCH /agents/<agent_id>/reboot/`
    AgentReboot,
    /// `GET /agents/<agent_id>/ping/`
    AgentPing,
    /// `GET /agents/<agent_id>/history/`
    AgentHistory,
    /// `PATCH|POST /alerts/`
    Alerts,
    /// `GET|PUT|DELETE /alerts/<id>/`
    Alert,
    /// `POST /alerts/bulk/`
    AlertsBulk,
    /// `GET /software/`
    Software,
    /// `GET|PUT /software/<agent_id>/`
    AgentSoftware,
    /// `GET /scripts/`
    Scripts,
    /// `GET /beta/v1/`
    BetaRoot,
    /// `GET /beta/v1/agent/`
    BetaAgents,
    /// `GET|PUT /beta/v1/agent/<pk>/`
    BetaAgent,
    /// `GET /beta/v1/client/`
    BetaClients,
    /// `GET /beta/v1/client/<pk>/`
    BetaClient,
    /// `GET /beta/v1/site/`
    BetaSites,
    /// `GET /beta/v1/site/<pk>/`
    BetaSite,
}

impl RouteKind {
    /// DRF `Allow` header value (methods the view implements, in DRF's order).
    pub(crate) fn allow(self) -> &'static str {
        use RouteKind::*;
        match self {
            Root => "GET, HEAD, OPTIONS",
            CheckCreds | Login | Logout | LogoutAll | AgentCmd | AgentRunScript | AlertsBulk => "POST, OPTIONS",
            CoreVersion | Clients | Client | Sites | Site | Agents | AgentPing | AgentHistory | Software | Scripts
            | BetaRoot | BetaAgents | BetaClients | BetaClient | BetaSites | BetaSite => "GET, HEAD, OPTIONS",
            Agent => "GET, PUT, DELETE, HEAD, OPTIONS",
            AgentReboot => "POST, PATCH, OPTIONS",
            Alerts => "POST, PATCH, OPTIONS",
            Alert => "GET, PUT, DELETE, HEAD, OPTIONS",
            AgentSoftware => "GET, PUT, HEAD, OPTIONS",
            BetaAgent => "GET, PUT, HEAD, OPTIONS",
        }
    }
}

/// A matched route with its path parameter.
#[derive(Clone, Debug)]
pub(crate) struct Matched {
    pub kind: RouteKind,
    /// `<agent_id>` or `<pk>` segment.
    pub param: Option<String>,
}

fn agent_id_ok(s: &str) -> bool {
    // AgentIDConverter: [^/]{20}[^/]+  ⇒ at least 21 characters
    s.chars().count() >= 21
}

fn int_ok(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn lookup_ok(s: &str) -> bool {
    // DRF router default lookup_value_regex: [^/.]+
    !s.is_empty() && !s.contains('.')
}

pub(crate) fn classify(path: &str, beta: bool) -> Option<Matched> {
    use RouteKind::*;
    if path == "/" {
        return Some(Matched { kind: Root, param: None });
    }
    let inner = path.strip_prefix('/')?.strip_suffix('/')?;
    let segs: Vec<&str> = inner.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    let m = |kind| Some(Matched { kind, param: None });
    let p = |kind, v: &str| Some(Matched { kind, param: Some(v.to_string()) });
    match segs.as_slice() {
        ["v2", "checkcreds"] => m(CheckCreds),
        ["v2", "login"] => m(Login),
        ["logout"] => m(Logout),
        ["logoutall"] => m(LogoutAll),
        ["core", "version"] => m(CoreVersion),
        ["clients"] => m(Clients),
        ["clients", "sites"] => m(Sites),
        ["clients", "sites", id] if int_ok(id) => p(Site, id),
        ["clients", id] if int_ok(id) => p(Client, id),
        ["agents"] => m(Agents),
        ["agents", id] if agent_id_ok(id) => p(Agent, id),
        ["agents", id, "cmd"] if agent_id_ok(id) => p(AgentCmd, id),
        ["agents", id, "runscript"] if agent_id_ok(id) => p(AgentRunScript, id),
        ["agents", id, "reboot"] if agent_id_ok(id) => p(AgentReboot, id),
        ["agents", id, "ping"] if agent_id_ok(id) => p(AgentPing, id),
        ["agents", id, "history"] if agent_id_ok(id) => p(AgentHistory, id),
        ["alerts"] => m(Alerts),
        ["alerts", "bulk"] => m(AlertsBulk),
        ["alerts", id] if int_ok(id) => p(Alert, id),
        ["software"] => m(Software),
        ["software", id] if agent_id_ok(id) => p(AgentSoftware, id),
        ["scripts"] => m(Scripts),
        ["beta", "v1"] if beta => m(BetaRoot),
        ["beta", "v1", "agent"] if beta => m(BetaAgents),
        ["beta", "v1", "agent", id] if beta && lookup_ok(id) => p(BetaAgent, id),
        ["beta", "v1", "client"] if beta => m(BetaClients),
        ["beta", "v1", "client", id] if beta && lookup_ok(id) => p(BetaClient, id),
        ["beta", "v1", "site"] if beta => m(BetaSites),
        ["beta", "v1", "site", id] if beta && lookup_ok(id) => p(BetaSite, id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_paths() {
        assert_eq!(classify("/", true).unwrap().kind, RouteKind::Root);
        assert!(classify("/clients", true).is_none());
        assert_eq!(classify("/clients/", true).unwrap().kind, RouteKind::Clients);
        assert_eq!(classify("/clients/sites/", true).unwrap().kind, RouteKind::Sites);
        assert_eq!(classify("/clients/4/", true).unwrap().kind, RouteKind::Client);
        assert!(classify("/agents/short/", true).is_none());
        let id = "a".repeat(21);
        assert_eq!(classify(&format!("/agents/{id}/cmd/"), true).unwrap().kind, RouteKind::AgentCmd);
        assert!(classify("/beta/v1/agent/", false).is_none());
        assert_eq!(classify("/beta/v1/agent/5/", true).unwrap().param.as_deref(), Some("5"));
    }
}
