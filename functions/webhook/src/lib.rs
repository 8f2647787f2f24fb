//! `webhook`: Tactical alert webhooks through API Gateway (`POST /webhooks/tacticalrmm/{tenant}`).
//!
//! Authenticates by the `X-Alga-Webhook-Secret` header alone: its SHA-256 digest is compared in
//! constant time with the digests the integration item keeps of the tenant's secret and, during a
//! rotation's grace period, of the previous one. It reads no secret (its role has no Secrets
//! Manager access: the tenant's one secret holds the Tactical credentials too). Records the alert
//! and queues the follow-up (agent refresh, re-fetch of a broken body) for the alerts worker; it
//! never calls Tactical on the request path: Tactical waits 8 s and never retries
//! (docs/tactical-behaviour.md#alert-webhooks).

use lambda_glue::Deps;
use lambda_glue::http;
use lambda_glue::lambda::{Invocation, http_payload};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use shared::domain::alert_flow::{apply_pointer, link_assets, record_delivery};
use shared::domain::alerts::AlertEvent;
use shared::domain::webhook_payload;
use shared::domain::webhook_settings::{AcceptedSecrets, HEADER_NAME, accepted_secrets};
use shared::messages::{QueueKind, SyncMessage};
use shared::tenant::TenantId;
use shared::{ApiError, ErrorCode};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Bodies larger than this are refused (a filled-in template is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// The integration items' digests and active state, cached briefly per tenant, so a burst of
/// alerts costs one table read.
pub struct SecretCache {
    ttl: Duration,
    /// An entry is read again after this (and `ttl`), whatever the secret presented: a rotation,
    /// a revocation, a disconnect or a credentials change takes effect within it, and a wrong
    /// secret is refused from the cache until then.
    refetch_after: Duration,
    entries: Mutex<HashMap<TenantId, Entry>>,
    /// Tenant ids without an integration, refused without any read for `unknown_ttl`; kept apart
    /// so a flood of made-up ids never evicts real tenants' entries.
    unknown: Mutex<HashMap<TenantId, Instant>>,
    unknown_ttl: Duration,
}

/// Most entries of each map; past it the map starts over (bounded memory per instance).
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone)]
struct Entry {
    at: Instant,
    secrets: AcceptedSecrets,
}

/// What the cache says of a delivery's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Refused,
    /// The integration item has no digests yet (written before they existed): nothing can be
    /// verified until a function that reads the tenant's secret records them.
    NoDigest,
    /// The secret is right but the integration is not active: nothing is recorded.
    Inactive,
    Accepted,
}

impl SecretCache {
    pub fn new(ttl: Duration, refetch_after: Duration) -> Self {
        Self {
            ttl,
            refetch_after,
            entries: Mutex::new(HashMap::new()),
            unknown: Mutex::new(HashMap::new()),
            unknown_ttl: refetch_after.saturating_mul(5),
        }
    }

    fn known_unknown(&self, t: &TenantId) -> bool {
        self.unknown.lock().ok().and_then(|m| m.get(t).map(|at| at.elapsed() < self.unknown_ttl)).unwrap_or(false)
    }

    fn remember_unknown(&self, t: &TenantId) {
        if let Ok(mut m) = self.unknown.lock() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(t.clone(), Instant::now());
        }
    }

    fn cached(&self, t: &TenantId) -> Option<Entry> {
        self.entries.lock().ok()?.get(t).cloned()
    }

    fn store(&self, t: &TenantId, e: Entry) {
        if let Ok(mut m) = self.entries.lock() {
            if m.len() >= MAX_ENTRIES && !m.contains_key(t) {
                m.clear();
            }
            m.insert(t.clone(), e);
        }
    }

    /// Whether `presented` is an accepted secret of `tenant`, and the integration active.
    pub async fn verify(&self, deps: &Deps, tenant: &TenantId, presented: &str) -> Result<Verdict, ApiError> {
        if self.known_unknown(tenant) {
            return Ok(Verdict::Refused);
        }
        // Digests and active state come from the same item read, so one interval covers both.
        let fresh_for = self.ttl.min(self.refetch_after);
        let secrets = match self.cached(tenant) {
            Some(e) if e.at.elapsed() < fresh_for => e.secrets,
            _ => {
                let fresh = accepted_secrets(deps.store.as_ref(), tenant).await?;
                if !fresh.known {
                    self.remember_unknown(tenant);
                    return Ok(Verdict::Refused);
                }
                self.store(tenant, Entry { at: Instant::now(), secrets: fresh.clone() });
                fresh
            }
        };
        Ok(if secrets.digests_missing {
            Verdict::NoDigest
        } else if !secrets.accepts(presented) {
            Verdict::Refused
        } else if secrets.active {
            Verdict::Accepted
        } else {
            Verdict::Inactive
        })
    }
}

static CACHE: LazyLock<SecretCache> =
    LazyLock::new(|| SecretCache::new(Duration::from_secs(60), Duration::from_secs(2)));

pub async fn invoke(deps: &Deps, inv: Invocation) -> Result<Value, String> {
    match inv {
        Invocation::Http(req) => Ok(http_payload(handle_with(deps, &CACHE, *req).await)),
        _ => Err("the webhook function is reached through API Gateway".into()),
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    handle_with(deps, &CACHE, req).await
}

pub async fn handle_with(deps: &Deps, cache: &SecretCache, req: Request) -> Response<Body> {
    http::respond(receive(deps, cache, &req).await)
}

/// Answer of a delivery.
#[derive(serde::Serialize)]
struct Recorded<'a, S: serde::Serialize> {
    recorded: bool,
    duplicate: bool,
    alert_key: &'a str,
    status: &'a S,
}

fn unauthorized() -> ApiError {
    // One answer for an unknown tenant, a missing and a wrong secret.
    ApiError::new(ErrorCode::Unauthenticated, format!("missing or invalid {HEADER_NAME} header"))
}

fn tenant_of(req: &Request) -> Option<TenantId> {
    let from_params = req.path_parameters_ref().and_then(|p| p.first("tenant").map(str::to_owned));
    let raw = from_params.or_else(|| {
        let path = http::route_path(req);
        path.strip_prefix("/webhooks/tacticalrmm/").map(|t| t.trim_matches('/').to_owned())
    })?;
    TenantId::parse(&raw).ok()
}

async fn receive(deps: &Deps, cache: &SecretCache, req: &Request) -> Result<(u16, Value), ApiError> {
    let body = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b.as_slice(),
        _ => &[],
    };
    if body.len() > MAX_BODY {
        return Err(ApiError::new(ErrorCode::PayloadTooLarge, format!("the body is larger than {MAX_BODY} bytes")));
    }
    let tenant = tenant_of(req).ok_or_else(unauthorized)?;
    // The tenant the path names, authenticated or not: a refusal's line says whom it was for.
    lambda_glue::telemetry::record_tenant(&tenant);
    let presented = req.headers().get(HEADER_NAME).and_then(|v| v.to_str().ok()).ok_or_else(unauthorized)?;
    match cache.verify(deps, &tenant, presented).await? {
        Verdict::Accepted => {}
        Verdict::Refused => {
            tracing::warn!("webhook refused: bad secret");
            return Err(unauthorized());
        }
        Verdict::NoDigest => {
            tracing::warn!(tenant = %tenant, "webhook refused: no secret digest recorded for this tenant yet");
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                format!(
                    "the {HEADER_NAME} header cannot be verified yet for this tenant: opening its Tactical RMM \
                     settings in the PSA, or its next sync run, enables webhooks; Sync Alerts catches up on the alerts \
                     missed meanwhile"
                ),
            ));
        }
        Verdict::Inactive => {
            return Err(ApiError::new(
                ErrorCode::IntegrationInactive,
                "the Tactical RMM integration is disconnected or inactive: nothing was recorded",
            ));
        }
    }
    let payload = webhook_payload::parse(body);
    let query_event = http::query_param(req, "event");
    let mut ev = AlertEvent::from_webhook(&payload, query_event.as_deref()).ok_or_else(|| {
        ApiError::validation(
            "agent_id",
            "no agent_id found in the body; the URL action body must contain \"agent_id\": \"{{agent.agent_id}}\"",
        )
    })?;
    if payload.complete {
        // A body read leniently may imitate another agent's id: the follow-up links it after
        // re-fetching the alert from Tactical.
        link_assets(deps.store.as_ref(), &tenant, std::slice::from_mut(&mut ev)).await?;
    }
    let (recorded, pointer) = record_delivery(deps.store.as_ref(), &tenant, &ev).await?;
    if !recorded.duplicate {
        let follow_up = SyncMessage::AlertFollowUp {
            tenant: tenant.clone(),
            alert_key: recorded.alert_key.clone(),
            alert_id: ev.alert_id,
            agent_id: ev.agent_id.clone(),
            refetch: !payload.complete,
        };
        let follow_up = [follow_up];
        let (p, q) = tokio::join!(
            apply_pointer(deps.store.as_ref(), &tenant, pointer),
            deps.queue.send(QueueKind::SyncAlerts, &follow_up)
        );
        p?;
        q?;
    }
    tracing::info!(alert_key = %recorded.alert_key, status = %recorded.status, duplicate = recorded.duplicate, complete = payload.complete, "webhook recorded");
    let answer = Recorded {
        recorded: !recorded.duplicate,
        duplicate: recorded.duplicate,
        alert_key: &recorded.alert_key,
        status: &recorded.status,
    };
    Ok((202, http::to_body(&answer)?))
}
