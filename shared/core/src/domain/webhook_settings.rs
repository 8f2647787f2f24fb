//! The webhook's secret (create, rotate with a grace period, verify in constant time) and the
//! ready-to-paste Tactical URL actions (failure and resolved, with Tactical's own `{{alert.id}}`
//! variables) shown to admins. The secret is created only on request, never by a read.

use super::integration::IntegrationPatch;
use super::time::{now, parse_rfc3339, to_rfc3339};
use crate::error::ApiError;
use crate::ports::{SecretName, SecretStore, Store};
use crate::tenant::TenantId;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

pub const HEADER_NAME: &str = "X-Alga-Webhook-Secret";
/// How long the secret before a rotation keeps working, so the admin can update Tactical.
pub const ROTATION_GRACE_HOURS: i64 = 24;

/// 24 random bytes as 48 hex characters (the original's format).
pub fn new_secret() -> SecretString {
    let bytes: [u8; 24] = rand::random();
    SecretString::from(hex::encode(bytes))
}

/// Constant-time comparison of a presented header with a stored secret.
pub fn matches(presented: &str, stored: &SecretString) -> bool {
    let a = presented.trim().as_bytes();
    let b = stored.expose_secret().as_bytes();
    // Length is not secret (always 48), but compare equal-length slices only.
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The secrets a delivery may present now.
#[derive(Clone, Default)]
pub struct AcceptedSecrets {
    pub current: Option<SecretString>,
    pub previous: Option<SecretString>,
    /// Whether the integration was active when these were read (from the same integration read).
    pub active: bool,
    /// Whether the tenant has an integration at all (an unknown tenant costs no secret read).
    pub known: bool,
    /// The integration's `webhook_secret_version` when these were read.
    pub version: Option<String>,
    /// Until when `previous` is accepted.
    pub previous_until: Option<time::OffsetDateTime>,
}

impl AcceptedSecrets {
    pub fn accepts(&self, presented: &str) -> bool {
        // Both compared every time, so timing does not tell which one matched.
        let c = self.current.as_ref().is_some_and(|s| matches(presented, s));
        let p = self.previous.as_ref().is_some_and(|s| matches(presented, s));
        c | p
    }
}

pub async fn accepted_secrets(
    store: &dyn Store,
    secrets: &dyn SecretStore,
    tenant: &TenantId,
) -> Result<AcceptedSecrets, ApiError> {
    // The integration first: a made-up tenant id costs one table read, never a Secrets Manager read.
    let Some(integ) = store.get_integration(tenant).await? else {
        return Ok(AcceptedSecrets::default());
    };
    let current = secrets.get(tenant, SecretName::WebhookSecret).await?;
    let previous_until = integ.webhook_previous_valid_until.as_deref().and_then(parse_rfc3339).filter(|t| *t > now());
    let previous =
        if previous_until.is_some() { secrets.get(tenant, SecretName::WebhookSecretPrevious).await? } else { None };
    Ok(AcceptedSecrets {
        current,
        previous,
        active: integ.is_active,
        known: true,
        version: integ.webhook_secret_version,
        previous_until,
    })
}

/// Name of the tenant lock held while the secret rotates.
const ROTATION_LOCK: &str = "webhook_rotation";

/// Creates the secret, or rotates it: the old one stays valid for the grace period, or stops at
/// once with `revoke_previous` (a leaked secret). Rotations of one tenant run one at a time (a
/// conditional lock), so two concurrent rotations cannot leave an admin with a secret that is
/// neither current nor previous.
pub async fn rotate(
    store: &dyn Store,
    secrets: &dyn SecretStore,
    tenant: &TenantId,
    revoke_previous: bool,
) -> Result<SecretString, ApiError> {
    if !store.try_lock(tenant, ROTATION_LOCK, 30).await? {
        return Err(ApiError::new(
            crate::error::ErrorCode::Conflict,
            "another rotation of the webhook secret is in progress; retry in a moment",
        ));
    }
    let result = rotate_locked(store, secrets, tenant, revoke_previous).await;
    if let Err(e) = store.unlock(tenant, ROTATION_LOCK).await {
        tracing::warn!(tenant = %tenant, error = %e, "webhook rotation lock not released (it expires)");
    }
    result
}

async fn rotate_locked(
    store: &dyn Store,
    secrets: &dyn SecretStore,
    tenant: &TenantId,
    revoke_previous: bool,
) -> Result<SecretString, ApiError> {
    let fresh = new_secret();
    let mut patch =
        IntegrationPatch { webhook_secret_version: Some(uuid::Uuid::new_v4().to_string()), ..Default::default() };
    let old = secrets.get(tenant, SecretName::WebhookSecret).await?;
    match old {
        Some(old) if !revoke_previous => {
            secrets.put(tenant, SecretName::WebhookSecretPrevious, &old).await?;
            patch.webhook_previous_valid_until =
                Some(Some(to_rfc3339(now() + time::Duration::hours(ROTATION_GRACE_HOURS))));
        }
        _ => {
            // Closed before the secrets change, so no reader pairs an open grace with them.
            patch.webhook_previous_valid_until = Some(None);
        }
    }
    if revoke_previous {
        store
            .patch_integration(
                tenant,
                &IntegrationPatch { webhook_previous_valid_until: Some(None), ..Default::default() },
            )
            .await?;
        secrets.delete(tenant, SecretName::WebhookSecretPrevious).await?;
    }
    secrets.put(tenant, SecretName::WebhookSecret, &fresh).await?;
    store.patch_integration(tenant, &patch).await?;
    Ok(fresh)
}

#[derive(Debug, Serialize)]
pub struct WebhookInfo {
    pub url: Option<String>,
    pub header_name: &'static str,
    pub has_secret: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_masked: Option<String>,
    pub previous_secret_valid_until: Option<String>,
    /// Two Tactical URL actions (Settings → Global Settings → URL Actions, type REST).
    pub url_actions: Value,
    pub notes: Vec<&'static str>,
}

/// The body of a URL action, with Tactical's own template variables. Every value is quoted: Tactical
/// inserts values raw, so the template supplies the JSON quotes.
pub fn url_action_body(event: &str) -> String {
    let mut fields = vec![
        ("event", event.to_owned()),
        ("alert_id", "{{alert.id}}".into()),
        ("alert_type", "{{alert.alert_type}}".into()),
        ("severity", "{{alert.severity}}".into()),
        ("message", "{{alert.message}}".into()),
        ("alert_time", "{{alert.alert_time}}".into()),
        ("agent_id", "{{agent.agent_id}}".into()),
        ("hostname", "{{agent.hostname}}".into()),
        ("client_id", "{{client.id}}".into()),
        ("client", "{{client.name}}".into()),
        ("site_id", "{{site.id}}".into()),
        ("site", "{{site.name}}".into()),
    ];
    if event == "resolved" {
        fields.push(("resolved_on", "{{alert.resolved_on}}".into()));
    }
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("  \"{k}\": \"{v}\"")).collect();
    format!("{{\n{}\n}}", inner.join(",\n"))
}

pub fn info(
    tenant: &TenantId,
    base_url: Option<&str>,
    secret: Option<&SecretString>,
    reveal: bool,
    previous_valid_until: Option<String>,
) -> WebhookInfo {
    let url = base_url.map(|b| format!("{}/webhooks/tacticalrmm/{tenant}", b.trim_end_matches('/')));
    let header_value = match (secret, reveal) {
        (Some(s), true) => s.expose_secret().to_owned(),
        _ => "<webhook secret: shown to users with system_settings update>".to_owned(),
    };
    let headers = json!({ "Content-Type": "application/json", HEADER_NAME: header_value }).to_string();
    let action = |event: &str| {
        json!({
            "name": format!("PSA alert {event}"),
            "action_type": "rest",
            "rest_method": "post",
            "pattern": url.as_ref().map(|u| format!("{u}?event={event}")),
            "rest_headers": headers,
            "rest_body": url_action_body(event),
        })
    };
    let url_actions = json!({ "failure": action("failure"), "resolved": action("resolved") });
    WebhookInfo {
        url,
        header_name: HEADER_NAME,
        has_secret: secret.is_some(),
        secret: secret.filter(|_| reveal).map(|s| s.expose_secret().to_owned()),
        secret_masked: secret.map(super::connection::mask),
        previous_secret_valid_until: previous_valid_until,
        url_actions,
        notes: vec![
            "Create both URL actions, then in the alert template set the failure action and the resolved action (Tactical needs one for each).",
            "Tactical skips webhooks for info alerts unless Global Settings → Alerts → 'Notify on info alerts' is on, and for warning alerts when 'Notify on warning alerts' is off.",
            "Webhooks never fire while an agent is in maintenance mode, and Tactical does not retry a failed delivery: Sync Alerts backfills what was missed.",
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_48_hex_and_compared_exactly() {
        let s = new_secret();
        assert_eq!(s.expose_secret().len(), 48);
        assert!(matches(s.expose_secret(), &s));
        assert!(!matches(&s.expose_secret()[..47], &s));
        assert!(!matches("", &s));
        let acc = AcceptedSecrets { current: Some(s.clone()), active: true, known: true, ..Default::default() };
        assert!(acc.accepts(s.expose_secret()));
        assert!(!acc.accepts(new_secret().expose_secret()));
    }

    #[test]
    fn the_url_action_body_is_valid_json_once_tactical_fills_it() {
        for event in ["failure", "resolved"] {
            let filled = url_action_body(event).replace("{{alert.id}}", "12").replace("{{", "").replace("}}", "");
            let v: Value = serde_json::from_str(&filled).expect("valid JSON");
            assert_eq!(v["event"], event);
            assert_eq!(v["alert_id"], "12");
        }
        assert!(url_action_body("failure").contains("\"agent_id\": \"{{agent.agent_id}}\""));
    }
}
