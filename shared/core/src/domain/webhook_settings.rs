//! The webhook's secret (create, rotate with a grace period, verify in constant time) and the
//! ready-to-paste Tactical URL actions (failure and resolved, with Tactical's own `{{alert.id}}`
//! variables) shown to admins. The secret is created only on request, never by a read.
//!
//! The webhook reads no secret: the integration item keeps SHA-256 digests of the secrets it
//! accepts ([`WebhookDigests`]), written with every rotation. Secrets Manager cannot limit a role to
//! one key of the tenant's secret, so reading the webhook secret would mean reading the Tactical
//! credentials too. The secrets are 24 random bytes, so an unsalted digest reveals nothing usable.

use super::integration::{IntegrationPatch, RmmIntegration, WebhookDigests};
use super::time::{now, parse_rfc3339, to_rfc3339};
use crate::error::ApiError;
use crate::ports::{PortError, SecretBundle, SecretName, SecretStore, Store};
use crate::tenant::TenantId;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const HEADER_NAME: &str = "X-Alga-Webhook-Secret";
/// How long the secret before a rotation keeps working, so the admin can update Tactical.
pub const ROTATION_GRACE_HOURS: i64 = 24;

/// 24 random bytes as 48 hex characters (the original's format).
pub fn new_secret() -> SecretString {
    let bytes: [u8; 24] = rand::random();
    SecretString::from(hex::encode(bytes))
}

fn sha256(value: &str) -> [u8; 32] {
    Sha256::digest(value.trim().as_bytes()).into()
}

/// The digest the integration item keeps of a webhook secret (SHA-256, hex).
pub fn digest(secret: &SecretString) -> String {
    hex::encode(sha256(secret.expose_secret()))
}

/// Constant-time comparison of a presented header with a stored secret.
pub fn matches(presented: &str, stored: &SecretString) -> bool {
    let a = presented.trim().as_bytes();
    let b = stored.expose_secret().as_bytes();
    // Length is not secret (always 48), but compare equal-length slices only.
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// What a delivery's secret is checked against, from one read of the integration item.
#[derive(Clone, Default)]
pub struct AcceptedSecrets {
    current: Option<[u8; 32]>,
    previous: Option<[u8; 32]>,
    /// Until when `previous` is accepted.
    pub previous_until: Option<time::OffsetDateTime>,
    /// Whether the integration was active when the item was read.
    pub active: bool,
    /// Whether the tenant has an integration at all.
    pub known: bool,
    /// The item predates digests: no secret of this tenant can be verified until they are
    /// recorded ([`backfill_digests`]).
    pub digests_missing: bool,
}

fn parse_digest(tenant: &TenantId, hex_digest: Option<&String>) -> Option<[u8; 32]> {
    let raw = hex_digest?;
    let parsed = hex::decode(raw).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
    if parsed.is_none() {
        tracing::error!(tenant = %tenant, "malformed webhook secret digest in the integration item");
    }
    parsed
}

impl AcceptedSecrets {
    pub fn from_integration(integ: Option<&RmmIntegration>) -> Self {
        let Some(integ) = integ else { return Self::default() };
        let digests = integ.webhook_digests.as_ref();
        Self {
            current: parse_digest(&integ.tenant, digests.and_then(|d| d.current.as_ref())),
            previous: parse_digest(&integ.tenant, digests.and_then(|d| d.previous.as_ref())),
            previous_until: integ.webhook_previous_valid_until.as_deref().and_then(parse_rfc3339),
            active: integ.is_active,
            known: true,
            digests_missing: digests.is_none(),
        }
    }

    pub fn accepts(&self, presented: &str) -> bool {
        let presented = sha256(presented);
        let in_grace = self.previous_until.is_some_and(|t| t > now());
        // Both compared every time, so timing does not tell which one matched.
        let c = self.current.is_some_and(|d| bool::from(d.ct_eq(&presented)));
        let p = self.previous.is_some_and(|d| bool::from(d.ct_eq(&presented)));
        c | (p & in_grace)
    }
}

/// The integration, read once: a made-up tenant id costs one table read; no secret is read.
pub async fn accepted_secrets(store: &dyn Store, tenant: &TenantId) -> Result<AcceptedSecrets, ApiError> {
    Ok(AcceptedSecrets::from_integration(store.get_integration(tenant).await?.as_ref()))
}

/// Records the digests on an item written before they existed, from the secrets in the tenant's
/// bundle. Called where a function that reads the bundle reads the integration anyway (settings,
/// webhook info, a sync run's start); a no-op once the item has them. Best effort: a failure is
/// logged and the next call tries again. The write is conditional, so it never overwrites what a
/// rotation or a disconnect wrote since `integ` was read.
pub async fn backfill_digests(store: &dyn Store, secrets: &dyn SecretStore, tenant: &TenantId, integ: &RmmIntegration) {
    if integ.webhook_digests.is_some() {
        return;
    }
    // Read for the integration's host: the worker's client then reuses this copy.
    let read = match &integ.instance_url {
        Some(url) => secrets.bundle_for(tenant, url.as_str()).await,
        None => secrets.bundle(tenant).await,
    };
    match read {
        Ok(bundle) => backfill_digests_from(store, &bundle, tenant, integ).await,
        Err(e) => tracing::warn!(tenant = %tenant, error = %e, "webhook secret digests not recorded (retried later)"),
    }
}

/// [`backfill_digests`] from a bundle the caller has read already.
pub async fn backfill_digests_from(
    store: &dyn Store,
    bundle: &SecretBundle,
    tenant: &TenantId,
    integ: &RmmIntegration,
) {
    if integ.webhook_digests.is_some() {
        return;
    }
    match record_digests(store, bundle, tenant, integ).await {
        Ok(true) => tracing::info!(tenant = %tenant, "webhook secret digests recorded"),
        Ok(false) => {}
        Err(e) => tracing::warn!(tenant = %tenant, error = %e, "webhook secret digests not recorded (retried later)"),
    }
}

async fn record_digests(
    store: &dyn Store,
    bundle: &SecretBundle,
    tenant: &TenantId,
    integ: &RmmIntegration,
) -> Result<bool, PortError> {
    let current = bundle.get(SecretName::WebhookSecret);
    let in_grace = integ.webhook_previous_valid_until.as_deref().and_then(parse_rfc3339).is_some_and(|t| t > now());
    let previous = if in_grace { bundle.get(SecretName::WebhookSecretPrevious) } else { None };
    let patch = IntegrationPatch {
        webhook_digests: Some(WebhookDigests { current: current.map(digest), previous: previous.map(digest) }),
        only_without_webhook_digests: true,
        ..Default::default()
    };
    match store.patch_integration(tenant, &patch).await {
        Ok(_) => Ok(true),
        // Recorded meanwhile (a rotation, a disconnect, another backfill): theirs stands.
        Err(PortError::ConditionFailed(_)) => Ok(false),
        Err(e) => Err(e),
    }
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
    let mut digests = WebhookDigests { current: Some(digest(&fresh)), previous: None };
    let old = secrets.get(tenant, SecretName::WebhookSecret).await?;
    match old {
        Some(old) if !revoke_previous => {
            secrets.put(tenant, SecretName::WebhookSecretPrevious, &old).await?;
            patch.webhook_previous_valid_until =
                Some(Some(to_rfc3339(now() + time::Duration::hours(ROTATION_GRACE_HOURS))));
            // What the webhook accepted until now. The item's digest wins over the bundle's secret:
            // after a rotation that wrote the bundle but failed to update the item, Tactical still
            // sends the secret the item knows.
            let accepted = store.get_integration(tenant).await?.and_then(|i| i.webhook_digests).and_then(|d| d.current);
            digests.previous = accepted.or_else(|| Some(digest(&old)));
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
    // One item write switches what the webhook accepts: the digests and the grace period together.
    patch.webhook_digests = Some(digests);
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
    }

    fn integration(digests: Option<WebhookDigests>, previous_until: Option<time::OffsetDateTime>) -> RmmIntegration {
        let v = json!({
            "tenant": "t1",
            "is_active": true,
            "webhook_digests": digests,
            "webhook_previous_valid_until": previous_until.map(to_rfc3339),
        });
        serde_json::from_value(v).expect("an integration")
    }

    #[test]
    fn digests_accept_the_current_secret_and_the_previous_one_only_within_grace() {
        let (cur, prev) = (new_secret(), new_secret());
        let digests = WebhookDigests { current: Some(digest(&cur)), previous: Some(digest(&prev)) };
        assert_eq!(digest(&cur).len(), 64);
        assert_ne!(digest(&cur), *cur.expose_secret());
        let within = integration(Some(digests.clone()), Some(now() + time::Duration::hours(1)));
        let acc = AcceptedSecrets::from_integration(Some(&within));
        assert!(acc.known && acc.active && !acc.digests_missing);
        assert!(acc.accepts(cur.expose_secret()));
        assert!(acc.accepts(&format!(" {} ", cur.expose_secret())), "the header is trimmed, as before");
        assert!(acc.accepts(prev.expose_secret()));
        assert!(!acc.accepts(new_secret().expose_secret()));
        assert!(!acc.accepts(""));
        assert!(!acc.accepts(&digest(&cur)), "the digest itself is not a secret that works");
        let over = integration(Some(digests), Some(now() - time::Duration::seconds(1)));
        let acc = AcceptedSecrets::from_integration(Some(&over));
        assert!(acc.accepts(cur.expose_secret()));
        assert!(!acc.accepts(prev.expose_secret()), "the grace period is over");
    }

    #[test]
    fn an_item_without_digests_accepts_nothing_and_says_so() {
        let legacy = AcceptedSecrets::from_integration(Some(&integration(None, None)));
        assert!(legacy.known && legacy.digests_missing);
        assert!(!legacy.accepts(new_secret().expose_secret()));
        let none = AcceptedSecrets::from_integration(Some(&integration(Some(WebhookDigests::default()), None)));
        assert!(none.known && !none.digests_missing, "no secret (never created, or disconnected)");
        assert!(!none.accepts(""));
        let unknown = AcceptedSecrets::from_integration(None);
        assert!(!unknown.known && !unknown.accepts(""));
        let bad = WebhookDigests { current: Some("zz".into()), previous: None };
        assert!(!AcceptedSecrets::from_integration(Some(&integration(Some(bad), None))).accepts("zz"));
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
