//! Tactical's alert-template webhooks ("URL actions", `core/utils.py: _run_url_rest_action`).

use std::time::{Duration as StdDuration, Instant};

use crate::pyjson::{self, PyVal};
use crate::state::SimState;
use crate::util;

mod render;

pub(crate) use render::*;

/// The `User-Agent` Tactical's Python `requests` sends (as captured in
/// `shared/fixtures/tactical-1.5.1/webhook_deliveries_as_received.json`).
pub const WEBHOOK_USER_AGENT: &str = "python-requests/2.34.0";

/// A `URLAction` with `action_type = "rest"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlAction {
    /// `get | post | put | delete | patch` (any case).
    pub method: String,
    /// `pattern`: the URL, templated.
    pub url_pattern: String,
    /// `rest_body`: templated, meant to be JSON.
    pub rest_body: String,
    /// `rest_headers`: templated, must be a JSON object of strings.
    pub rest_headers: String,
}

impl UrlAction {
    pub fn post(url_pattern: impl Into<String>, rest_body: impl Into<String>, rest_headers: impl Into<String>) -> Self {
        UrlAction {
            method: "post".into(),
            url_pattern: url_pattern.into(),
            rest_body: rest_body.into(),
            rest_headers: rest_headers.into(),
        }
    }
}

/// The HTTP request Tactical would send, fully rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedWebhook {
    /// Upper case (`POST`).
    pub method: String,
    /// Rendered and `requote_uri`'d.
    pub url: String,
    /// In sending order: `User-Agent`, `Accept-Encoding`, `Accept`, `Connection`, then the
    /// template's headers (overriding case-insensitively).
    pub headers: Vec<(String, String)>,
    /// Exact body bytes (as UTF-8; always ASCII); `None` for get/delete.
    pub body: Option<String>,
}

/// Outcome of [`SimState::fire_webhook`].
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    pub request: PreparedWebhook,
    pub status: u16,
    pub response_body: String,
    pub elapsed: StdDuration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookError {
    UnknownAlert(i64),
    /// `rest_headers` did not render to a JSON object of strings (Tactical records retcode 500).
    InvalidHeaders(String),
    InvalidMethod(String),
    /// Connection error or timeout (8 s for post/put/patch). Never retried.
    Transport(String),
}

impl std::fmt::Display for WebhookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookError::UnknownAlert(id) => write!(f, "unknown alert {id}"),
            WebhookError::InvalidHeaders(e) => write!(f, "invalid rest_headers: {e}"),
            WebhookError::InvalidMethod(m) => write!(f, "invalid rest_method: {m}"),
            WebhookError::Transport(e) => write!(f, "transport error: {e}"),
        }
    }
}

impl std::error::Error for WebhookError {}

// ------------------------------------------------------------------------------------------

impl SimState {
    /// Render the request Tactical would send for `action` and alert `alert_id`, without
    /// sending it. With `resolved = true` an unresolved alert is resolved first (now), as the
    /// resolved action only fires for resolved alerts.
    pub fn prepare_webhook(
        &self,
        action: &UrlAction,
        alert_id: i64,
        resolved: bool,
    ) -> Result<PreparedWebhook, WebhookError> {
        if resolved {
            let already = self.alert(alert_id).ok_or(WebhookError::UnknownAlert(alert_id))?.resolved;
            if !already {
                self.resolve_alert(alert_id).map_err(|_| WebhookError::UnknownAlert(alert_id))?;
            }
        }
        let method = action.method.to_ascii_lowercase();
        if !matches!(method.as_str(), "get" | "post" | "put" | "delete" | "patch") {
            return Err(WebhookError::InvalidMethod(action.method.clone()));
        }
        let d = self.read();
        let alert = d.alerts.get(&alert_id).ok_or(WebhookError::UnknownAlert(alert_id))?;
        let r = Resolver { d: &d, alert, now: self.now() };
        let sub = |expr: &str| r.get_db_value(expr).py_str();
        let url = util::requote_uri(&render(&action.url_pattern, sub));
        let rendered_headers = render(&action.rest_headers, sub);
        let rendered_body = render(&action.rest_body, sub);
        drop(d);

        let parsed = pyjson::loads(&rendered_headers).map_err(|e| WebhookError::InvalidHeaders(e.to_string()))?;
        let PyVal::Dict(items) = parsed else {
            return Err(WebhookError::InvalidHeaders("rest_headers is not a JSON object".into()));
        };
        let mut headers: Vec<(String, String)> = vec![
            ("User-Agent".into(), WEBHOOK_USER_AGENT.into()),
            ("Accept-Encoding".into(), "gzip, deflate, br".into()),
            ("Accept".into(), "*/*".into()),
            ("Connection".into(), "keep-alive".into()),
        ];
        for (k, v) in items {
            let PyVal::Str(v) = v else {
                return Err(WebhookError::InvalidHeaders(format!("header {k} must be a string")));
            };
            match headers.iter_mut().find(|(hk, _)| hk.eq_ignore_ascii_case(&k)) {
                Some(slot) => *slot = (k, v),
                None => headers.push((k, v)),
            }
        }
        let body = matches!(method.as_str(), "post" | "put" | "patch").then(|| body_bytes(&rendered_body));
        Ok(PreparedWebhook { method: method.to_ascii_uppercase(), url, headers, body })
    }

    /// Render and send the webhook like Tactical (8 s timeout for post/put/patch, none for
    /// get/delete, no retry), then store the outcome on the alert (`action_*` for a failure
    /// action, `resolved_action_*` when `resolved`).
    pub async fn fire_webhook(
        &self,
        action: &UrlAction,
        alert_id: i64,
        resolved: bool,
    ) -> Result<WebhookDelivery, WebhookError> {
        let prepared = self.prepare_webhook(action, alert_id, resolved)?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(30))
            .build()
            .map_err(|e| WebhookError::Transport(e.to_string()))?;
        let method = reqwest::Method::from_bytes(prepared.method.as_bytes())
            .map_err(|_| WebhookError::InvalidMethod(prepared.method.clone()))?;
        let mut rb = client.request(method, &prepared.url);
        for (k, v) in &prepared.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(b) = &prepared.body {
            rb = rb.body(b.clone()).timeout(StdDuration::from_secs(8));
        }
        let started = Instant::now();
        let run_at = self.now();
        let result = async {
            let resp = rb.send().await?;
            let status = resp.status().as_u16();
            let text = resp.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        }
        .await;
        let elapsed = started.elapsed();
        let (retcode, stdout, stderr) = match &result {
            Ok((s, t)) => (i64::from(*s), Some(t.clone()), None),
            Err(e) => (500, None, Some(e.to_string())),
        };
        {
            let mut d = self.write();
            if let Some(al) = d.alerts.get_mut(&alert_id) {
                let exec = Some(format!("{:.4}", elapsed.as_secs_f64()));
                if resolved {
                    al.resolved_action_run = Some(run_at);
                    al.resolved_action_retcode = Some(retcode);
                    al.resolved_action_stdout = stdout;
                    al.resolved_action_stderr = stderr;
                    al.resolved_action_execution_time = exec;
                } else {
                    al.action_run = Some(run_at);
                    al.action_retcode = Some(retcode);
                    al.action_stdout = stdout;
                    al.action_stderr = stderr;
                    al.action_execution_time = exec;
                }
            }
        }
        match result {
            Ok((status, response_body)) => Ok(WebhookDelivery { request: prepared, status, response_body, elapsed }),
            Err(e) => Err(WebhookError::Transport(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_equivalent() {
        assert_eq!(match_var("{{alert.id}}", 0), Some((12, "alert.id")));
        assert_eq!(match_var("{{ agent.hostname }}x", 0), Some((20, " agent.hostname ")));
        assert!(match_var("{{alert}}", 0).is_none());
        assert!(match_var("{{ foo.bar }}", 0).is_none());
        assert!(match_var("{{alert.}}", 0).is_none());
        assert_eq!(render("a{{{alert.id}}b", |e| format!("<{e}>")), "a{<alert.id>b");
        assert_eq!(render("{{x}} {{site.name}}", |_| "S".into()), "{{x}} S");
    }

    #[test]
    fn body_fallback_is_string_literal() {
        assert_eq!(body_bytes("{\"a\": \"x\"}"), "{\"a\": \"x\"}");
        assert_eq!(body_bytes("{\"m\": \"a \"q\" b\"}"), "\"{\\\"m\\\": \\\"a \\\"q\\\" b\\\"}\"");
        assert_eq!(body_bytes("plain text"), "\"plain text\"");
        assert_eq!(body_bytes("{\"p\": \"C:\\Users\"}"), "{\"p\": \"C:\\\\Users\"}");
    }
}
