//! Tactical RMM: the URL builder, wire types as a stock 1.5.x server sends them, the port the
//! domain talks to, and its reqwest adapter.

// Everything here reads untrusted Tactical data in workers shared by all tenants, and release
// builds abort on a panic: no unwrap/expect/panic and no lossy `as` cast outside tests
// (checked conversions instead; a justified exception carries its own `allow` and reason).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss
    )
)]

pub mod error;
pub mod policy;
pub mod status_list;
pub mod types;
pub mod url;

pub use error::TacticalError;
pub use url::InstanceUrl;

use async_trait::async_trait;
use secrecy::SecretString;
use types::*;

/// How a request authenticates. Knox tokens come from [`TacticalApi::check_creds`] / `login`.
#[derive(Clone)]
pub enum Credentials {
    ApiKey(SecretString),
    KnoxToken(SecretString),
    /// Only for the unauthenticated probe and the login calls.
    None,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::ApiKey(_) => "ApiKey(***)",
            Credentials::KnoxToken(_) => "KnoxToken(***)",
            Credentials::None => "None",
        })
    }
}

/// The Tactical API as the domain needs it (a port: tests may substitute it, production uses
/// [`TacticalHttp`]). Methods map one-to-one onto Tactical routes; what they rely on about Tactical
/// is in docs/tactical-behaviour.md.
#[async_trait]
pub trait TacticalApi: Send + Sync {
    /// `GET /` unauthenticated: `{"status":"ok"}` on the API host, HTML on the dashboard host.
    async fn probe(&self) -> Result<(), TacticalError>;
    /// `POST /v2/checkcreds/`.
    async fn check_creds(&self, username: &str, password: &SecretString) -> Result<CheckCreds, TacticalError>;
    /// `POST /v2/login/` with `twofactor` (only for users with TOTP).
    async fn login(&self, username: &str, password: &SecretString, totp: &str) -> Result<KnoxLogin, TacticalError>;
    /// `POST /logout/`: deletes the Knox token (Knox only; 204).
    async fn logout(&self) -> Result<(), TacticalError>;
    /// `GET /clients/`: the client → site tree.
    async fn clients(&self) -> Result<Vec<Client>, TacticalError>;
    /// `GET /beta/v1/agent/?client_id=&page=&page_size=`.
    async fn beta_agents_page(&self, query: &BetaAgentQuery) -> Result<BetaPage<BetaAgent>, TacticalError>;
    /// `GET /agents/?detail=false[&client=]`: id, pk and host name of every agent the
    /// credentials may see (role-scoped, unlike the beta list; ~150 bytes a row).
    async fn agents_slim(&self, client_id: Option<i64>) -> Result<Vec<AgentSlim>, TacticalError>;
    /// `GET /agents/?client=<id>`: every agent of one client with the status Tactical computed
    /// (not paginated; role-scoped).
    async fn agent_statuses(&self, client_id: i64) -> Result<Vec<status_list::AgentStatusRow>, TacticalError>;
    /// `GET /agents/<agent_id>/`.
    async fn agent(&self, agent_id: &str) -> Result<AgentDetail, TacticalError>;
    /// `GET /agents/<agent_id>/` read as an agent row (the same model fields as the beta list,
    /// without the pk): what a single-agent refresh needs.
    async fn agent_row(&self, agent_id: &str) -> Result<BetaAgent, TacticalError>;
    /// `PATCH /alerts/` with a real filter (a GET is a 405; an unknown key returns every alert).
    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, TacticalError>;
    /// `GET /alerts/<id>/`.
    async fn alert(&self, id: i64) -> Result<Alert, TacticalError>;
    /// `PUT /alerts/<id>/` with `{"type": ...}` (and `snooze_days`): `"ok"`.
    async fn change_alert(&self, id: i64, change: AlertChange) -> Result<(), TacticalError>;
    /// `POST /alerts/bulk/` with `bulk_action` resolve or snooze (Tactical has no bulk
    /// unsnooze). Alerts outside the key's role are skipped silently by Tactical.
    async fn change_alerts_bulk(&self, ids: &[i64], change: AlertChange) -> Result<(), TacticalError>;
    /// `GET /agents/<agent_id>/history/`: every history row of the agent, in no stated order.
    async fn agent_history(&self, agent_id: &str) -> Result<Vec<HistoryRow>, TacticalError>;
    /// `GET /software/<agent_id>/`: the agent's cached inventory, `None` when Tactical has none
    /// (it answers `[]`): unknown, which is not the same as empty.
    async fn software_for(&self, agent_id: &str) -> Result<Option<Vec<SoftwareItem>>, TacticalError>;
    /// `GET /software/`: every agent's row, decoded one row at a time as the body arrives (the
    /// body of a large fleet is hundreds of MB). Rows name agents by integer pk.
    async fn software_all(&self) -> Result<SoftwareRows, TacticalError>;
    /// `GET /scripts/` (hidden scripts left out; community scripts when asked).
    async fn scripts(&self, include_community: bool) -> Result<Vec<Script>, TacticalError>;

    // Remote actions (docs/tactical-behaviour.md#remote-actions-and-unreachable-agents). Not
    // idempotent, so never retried. Tactical's string
    // answers are typed: 400 "Unable to contact the agent" → `AgentUnreachable`, "natsdown" →
    // `BrokerDown`, "timeout" → `AgentTimeout`; other 400 strings → `Rejected` with the text.

    /// `POST /agents/<agent_id>/cmd/`: the command's output, bounded to [`policy::MAX_ACTION_OUTPUT`].
    async fn run_command(&self, agent_id: &str, req: &RunCommand) -> Result<ActionOutput, TacticalError>;
    /// `POST /agents/<agent_id>/runscript/` with output `wait` or `forget`.
    async fn run_script(&self, agent_id: &str, req: &RunScript) -> Result<ScriptRun, TacticalError>;
    /// `POST /agents/<agent_id>/reboot/`: reboot now.
    async fn reboot(&self, agent_id: &str) -> Result<(), TacticalError>;
    /// `PATCH /agents/<agent_id>/reboot/` with `%Y-%m-%dT%H:%M` in the agent's time zone
    /// (Windows agents only).
    async fn reboot_at(&self, agent_id: &str, datetime: &str) -> Result<ScheduledReboot, TacticalError>;
}

/// The rows of `GET /software/` as they arrive. A row that does not decode is an `Err` item and
/// the stream goes on; a broken body ends the stream after its `Err`.
pub type SoftwareRows = futures::stream::BoxStream<'static, Result<SoftwareRow, TacticalError>>;

/// Hands out a Tactical client for one tenant's instance (a port: production connects over HTTPS
/// with one shared connection pool, tests substitute a fake), and guards which instances a tenant
/// may point at.
#[async_trait]
pub trait TacticalConnector: Send + Sync {
    /// Refuses an instance a tenant may not reach: plain http, or a host that resolves to a
    /// private, loopback or otherwise reserved address.
    async fn check_address(&self, url: &InstanceUrl) -> Result<(), TacticalError>;
    /// A client of `url` authenticating with `creds`; `retry` and `timeout` default to the
    /// connector's own. Fails only where a function may not call Tactical at all.
    fn connect(
        &self,
        url: InstanceUrl,
        creds: Credentials,
        retry: Option<policy::RetryPolicy>,
        timeout: Option<std::time::Duration>,
    ) -> Result<Box<dyn TacticalApi>, TacticalError>;
    /// The per-request timeout clients get by default (messages and time budgets use it).
    fn request_timeout(&self) -> std::time::Duration;
}
