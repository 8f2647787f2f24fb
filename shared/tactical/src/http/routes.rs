//! Tactical's routes: the [`TacticalApi`] port over the client.
use super::{
    SOFTWARE_ALL_TIMEOUT, TacticalHttp, agent_failure, agent_reply, check_agent_id, decode, decode_software_answer,
    expect_ok, read_beta_page, software_rows,
};
use async_trait::async_trait;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use shared::tactical::TacticalError;
use shared::tactical::policy::*;
use shared::tactical::status_list::AgentStatusRow;
use shared::tactical::types::*;
use shared::tactical::{SoftwareRows, TacticalApi};

#[async_trait]
impl TacticalApi for TacticalHttp {
    async fn agent_statuses(&self, client_id: i64) -> Result<Vec<AgentStatusRow>, TacticalError> {
        self.get_json("agents", &[("client", client_id.to_string())], "GET /agents/?client=").await
    }

    async fn probe(&self) -> Result<(), TacticalError> {
        let bytes = self.call(Method::GET, "", &[], None, true).await?;
        let v: serde_json::Value = decode(&bytes, "GET /")?;
        if v.get("status").and_then(|s| s.as_str()) == Some("ok") {
            Ok(())
        } else {
            Err(TacticalError::Decode { what: "GET /", detail: "expected {\"status\":\"ok\"}".into() })
        }
    }

    async fn check_creds(&self, username: &str, password: &SecretString) -> Result<CheckCreds, TacticalError> {
        let body = serde_json::json!({"username": username, "password": password.expose_secret()});
        match self.call(Method::POST, "v2/checkcreds", &[], Some(&body), false).await {
            Ok(bytes) => {
                let b: CheckCredsBody = decode(&bytes, "POST /v2/checkcreds/")?;
                match (b.totp, b.token) {
                    (true, _) => Ok(CheckCreds::TotpRequired),
                    (false, Some(t)) => Ok(CheckCreds::Token { token: SecretString::from(t), expiry: b.expiry }),
                    (false, None) => Err(TacticalError::Decode {
                        what: "POST /v2/checkcreds/",
                        detail: "no token and no totp".into(),
                    }),
                }
            }
            Err(TacticalError::Rejected { status: 400, .. }) => Err(TacticalError::BadCredentials),
            Err(e) => Err(e),
        }
    }

    async fn login(&self, username: &str, password: &SecretString, totp: &str) -> Result<KnoxLogin, TacticalError> {
        let body = serde_json::json!({"username": username, "password": password.expose_secret(), "twofactor": totp});
        match self.call(Method::POST, "v2/login", &[], Some(&body), false).await {
            Ok(bytes) => {
                let b: KnoxLoginBody = decode(&bytes, "POST /v2/login/")?;
                Ok(KnoxLogin { token: SecretString::from(b.token), expiry: b.expiry })
            }
            Err(TacticalError::Rejected { status: 400, .. }) => Err(TacticalError::BadCredentials),
            Err(e) => Err(e),
        }
    }

    async fn clients(&self) -> Result<Vec<Client>, TacticalError> {
        self.get_json("clients", &[], "GET /clients/").await
    }

    async fn beta_agents_page(&self, q: &BetaAgentQuery) -> Result<BetaPage<BetaAgent>, TacticalError> {
        let mut query =
            vec![("page", q.page.max(1).to_string()), ("page_size", q.page_size.clamp(1, 1000).to_string())];
        if let Some(c) = q.client_id {
            query.push(("client_id", c.to_string()));
        }
        if let Some(s) = q.site {
            query.push(("site", s.to_string()));
        }
        if let Some(h) = &q.hostname {
            query.push(("hostname", h.clone()));
        }
        if let Some(term) = &q.search {
            query.push(("search", term.clone()));
        }
        // Read as it arrives: a page of Windows rows weighs ~150 KB a row (services, WMI), and
        // the heavy fields are dropped row by row (see `BetaAgent`).
        // Attempts count the whole read: a body that breaks is retried like a failed request.
        let (path, timeout) = ("beta/v1/agent", self.request_timeout);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match self.open_stream_once(path, &query, timeout).await {
                Ok(resp) => read_beta_page(resp, timeout).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(page) => return Ok(page),
                Err(e) => self.wait_before_retry(path, attempt, true, e).await?,
            }
        }
    }

    async fn agents_slim(&self, client_id: Option<i64>) -> Result<Vec<AgentSlim>, TacticalError> {
        let mut query = vec![("detail", "false".to_owned())];
        if let Some(c) = client_id {
            query.push(("client", c.to_string()));
        }
        self.get_json("agents", &query, "GET /agents/?detail=false").await
    }

    async fn agent(&self, agent_id: &str) -> Result<AgentDetail, TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>")?;
        self.get_json(&format!("agents/{agent_id}"), &[], "GET /agents/<agent_id>/").await
    }

    async fn agent_row(&self, agent_id: &str) -> Result<BetaAgent, TacticalError> {
        if agent_id.len() < 21 || agent_id.contains('/') {
            return Err(TacticalError::NotFound {
                path: "agents/<agent_id>".into(),
                detail: Some("agent ids have at least 21 characters".into()),
            });
        }
        self.get_json(&format!("agents/{agent_id}"), &[], "GET /agents/<agent_id>/").await
    }

    async fn logout(&self) -> Result<(), TacticalError> {
        self.call(Method::POST, "logout", &[], None, false).await.map(|_| ())
    }

    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, TacticalError> {
        let body = serde_json::to_value(filter).unwrap_or_default();
        // A listing: safe to retry although it is a PATCH.
        let bytes = self.call(Method::PATCH, "alerts", &[], Some(&body), true).await?;
        decode(&bytes, "PATCH /alerts/")
    }

    async fn alert(&self, id: i64) -> Result<Alert, TacticalError> {
        self.get_json(&format!("alerts/{id}"), &[], "GET /alerts/<id>/").await
    }

    async fn change_alert(&self, id: i64, change: AlertChange) -> Result<(), TacticalError> {
        let mut body = serde_json::json!({ "type": change.kind() });
        if let AlertChange::Snooze { days } = change {
            body["snooze_days"] = serde_json::json!(days);
        }
        let bytes = self.call(Method::PUT, &format!("alerts/{id}"), &[], Some(&body), false).await?;
        expect_ok(&bytes, "PUT /alerts/<id>/")
    }

    async fn change_alerts_bulk(&self, ids: &[i64], change: AlertChange) -> Result<(), TacticalError> {
        let mut body = serde_json::json!({ "bulk_action": change.kind(), "alerts": ids });
        match change {
            AlertChange::Snooze { days } => body["snooze_days"] = serde_json::json!(days),
            AlertChange::Unsnooze => {
                return Err(TacticalError::Rejected { status: 400, message: "Tactical has no bulk unsnooze".into() });
            }
            AlertChange::Resolve => {}
        }
        let bytes = self.call(Method::POST, "alerts/bulk", &[], Some(&body), false).await?;
        expect_ok(&bytes, "POST /alerts/bulk/")
    }

    async fn agent_history(&self, agent_id: &str) -> Result<Vec<HistoryRow>, TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>/history")?;
        self.get_json(&format!("agents/{agent_id}/history"), &[], "GET /agents/<agent_id>/history/").await
    }

    async fn software_for(&self, agent_id: &str) -> Result<Option<Vec<SoftwareItem>>, TacticalError> {
        check_agent_id(agent_id, "software/<agent_id>")?;
        let bytes = self.call(Method::GET, &format!("software/{agent_id}"), &[], None, true).await?;
        decode_software_answer(&bytes)
    }

    async fn software_all(&self) -> Result<SoftwareRows, TacticalError> {
        Ok(software_rows(self.open_stream("software", &[], SOFTWARE_ALL_TIMEOUT).await?))
    }

    async fn scripts(&self, include_community: bool) -> Result<Vec<Script>, TacticalError> {
        // Hidden scripts stay hidden, as in Tactical's own script picker.
        let query = [("showCommunityScripts", include_community.to_string())];
        self.get_json("scripts", &query, "GET /scripts/").await
    }

    // Remote actions are not idempotent: never retried (`idempotent: false`).

    async fn run_command(&self, agent_id: &str, req: &RunCommand) -> Result<ActionOutput, TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>")?;
        let body = serde_json::json!({
            "shell": req.shell,
            "cmd": req.cmd,
            "timeout": req.timeout,
            "run_as_user": req.run_as_user,
            "custom_shell": req.custom_shell,
        });
        let path = format!("agents/{agent_id}/cmd");
        let bytes = self
            .call_within(Method::POST, &path, &[], Some(&body), false, action_http_timeout(req.timeout))
            .await
            .map_err(agent_failure)?;
        // A command's own output could be "timeout"; Tactical turns its timeout into a 400.
        let text = agent_reply(&bytes, "POST /agents/<agent_id>/cmd/", false)?;
        Ok(bound_output(text, MAX_ACTION_OUTPUT))
    }

    async fn run_script(&self, agent_id: &str, req: &RunScript) -> Result<ScriptRun, TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>")?;
        let body = serde_json::json!({
            "script": req.script_id,
            "output": if req.wait { "wait" } else { "forget" },
            "args": req.args,
            "env_vars": req.env_vars,
            "timeout": req.timeout,
            "run_as_user": req.run_as_user,
        });
        let path = format!("agents/{agent_id}/runscript");
        let timeout = if req.wait { action_http_timeout(req.timeout) } else { self.request_timeout };
        let bytes =
            self.call_within(Method::POST, &path, &[], Some(&body), false, timeout).await.map_err(agent_failure)?;
        let text = agent_reply(&bytes, "POST /agents/<agent_id>/runscript/", req.wait)?;
        Ok(if req.wait {
            ScriptRun::Completed(bound_output(text, MAX_ACTION_OUTPUT))
        } else {
            ScriptRun::Accepted { message: text.chars().take(300).collect() }
        })
    }

    async fn reboot(&self, agent_id: &str) -> Result<(), TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>")?;
        let path = format!("agents/{agent_id}/reboot");
        let bytes = self.call(Method::POST, &path, &[], None, false).await.map_err(agent_failure)?;
        agent_reply(&bytes, "POST /agents/<agent_id>/reboot/", true)?;
        Ok(())
    }

    async fn reboot_at(&self, agent_id: &str, datetime: &str) -> Result<ScheduledReboot, TacticalError> {
        check_agent_id(agent_id, "agents/<agent_id>")?;
        let path = format!("agents/{agent_id}/reboot");
        let body = serde_json::json!({ "datetime": datetime });
        let bytes = self.call(Method::PATCH, &path, &[], Some(&body), false).await.map_err(agent_failure)?;
        decode(&bytes, "PATCH /agents/<agent_id>/reboot/")
    }
}
