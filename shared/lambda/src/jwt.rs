//! Callers of function URLs: a JWT signed by the PSA (HS256 secret or RS256 public key). The
//! tenant and the permissions come from the token only, never from the body or the path.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use shared::auth::Caller;
use shared::error::{ApiError, ErrorCode};
use shared::tenant::TenantId;

/// The local development signing key (HS256). Refused outside local development
/// (`LOCAL_DEVELOPMENT=true`, which only `devtools provision` and the tests set).
pub const DEV_JWT_KEY: &str = "tactical-bridge-local-development-key-do-not-deploy";
/// Issuer and audience of local development tokens (`devtools token`, the tests).
pub const DEV_JWT_ISSUER: &str = "tactical-bridge-local-psa";
pub const DEV_JWT_AUDIENCE: &str = "tactical-bridge-local";
/// Shortest HS256 key accepted in a deployed stack (RFC 7518: at least the hash size).
pub const MIN_HS256_KEY_BYTES: usize = 32;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    #[serde(default)]
    pub permissions: Vec<String>,
    /// The tenant's entitlements ([`entitlements`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// A string or an array of strings (RFC 7519).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
}

pub struct JwtVerifier {
    /// None for functions without a URL (webhook, scheduler): they never load the PSA key.
    inner: Option<(DecodingKey, Validation)>,
    max_lifetime_secs: i64,
}

impl JwtVerifier {
    /// `local_development` lifts the deployed-stack rules on the key: an HS256 key of at least
    /// 32 bytes that is not [`DEV_JWT_KEY`].
    pub fn new(cfg: &shared::config::JwtConfig, key: &str, local_development: bool) -> Result<Self, String> {
        let (alg, key) = match cfg.algorithm.as_str() {
            "HS256" => {
                if !local_development && (key.len() < MIN_HS256_KEY_BYTES || key == DEV_JWT_KEY) {
                    return Err(format!(
                        "the PSA JWT key (HS256) must be at least {MIN_HS256_KEY_BYTES} bytes and not the local development key"
                    ));
                }
                (
                    Algorithm::HS256,
                    DecodingKey::from_secret(key.as_bytes()).map_err(|e| format!("PSA JWT key is not usable: {e}"))?,
                )
            }
            "RS256" => (
                Algorithm::RS256,
                DecodingKey::from_rsa_pem(key.as_bytes())
                    .map_err(|e| format!("PSA JWT public key is not a valid RSA PEM: {e}"))?,
            ),
            other => return Err(format!("unsupported JWT algorithm {other}")),
        };
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(iss) = &cfg.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        match &cfg.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self { inner: Some((key, validation)), max_lifetime_secs: cfg.max_lifetime_secs })
    }

    /// For functions without a URL: refuses every token, holds no key.
    pub fn disabled() -> Self {
        Self { inner: None, max_lifetime_secs: 0 }
    }

    /// Verifies an `Authorization` header value (`Bearer <jwt>`).
    pub fn verify_header(&self, header: Option<&str>) -> Result<Caller, ApiError> {
        let unauth = |m: &str| ApiError::new(ErrorCode::Unauthenticated, m.to_owned());
        let Some((key, validation)) = &self.inner else {
            return Err(unauth("this function does not accept PSA tokens"));
        };
        let header = header.ok_or_else(|| unauth("missing Authorization header with a Bearer token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| unauth("the Authorization header must be 'Bearer <token>'"))?;
        let data = jsonwebtoken::decode::<Claims>(token.trim(), key, validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => unauth("the token has expired"),
                ErrorKind::ImmatureSignature => unauth("the token is not valid yet (nbf)"),
                ErrorKind::InvalidAudience => unauth("the token is for another audience"),
                ErrorKind::InvalidIssuer => unauth("the token is from another issuer"),
                _ => unauth("the token is not valid"),
            }
        })?;
        // A stolen long-lived token stays useful for long: cap what we accept.
        let now = shared::domain::time::now().unix_timestamp();
        if data.claims.exp.saturating_sub(now) > self.max_lifetime_secs.saturating_add(LEEWAY_SECS as i64) {
            return Err(unauth(&format!(
                "the token lives longer than the maximum lifetime of {} s",
                self.max_lifetime_secs
            )));
        }
        let tenant = TenantId::parse(&data.claims.tenant)
            .map_err(|_| unauth("the token's tenant claim is not a valid tenant id"))?;
        Ok(Caller {
            tenant,
            user_id: data.claims.sub,
            permissions: data.claims.permissions,
            entitlements: data.claims.entitlements,
        })
    }
}

/// Signs a token with an HS256 key (local development and tests).
pub fn sign_hs256(key: &str, claims: &Claims) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()).expect("any bytes make an HS256 key"),
    )
    .expect("HS256 signing cannot fail")
}

/// Local development claims (issuer and audience of the local stack) for a token valid for
/// `ttl_secs` from now.
pub fn claims_for(tenant: &str, user: &str, permissions: &[&str], ttl_secs: i64) -> Claims {
    let now = shared::domain::time::now().unix_timestamp();
    Claims {
        sub: user.to_owned(),
        tenant: tenant.to_owned(),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        entitlements: Vec::new(),
        exp: now.saturating_add(ttl_secs),
        nbf: Some(now),
        iat: Some(now),
        iss: Some(DEV_JWT_ISSUER.to_owned()),
        aud: Some(DEV_JWT_AUDIENCE.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::auth::perms;
    use shared::config::JwtConfig;

    fn cfg(alg: &str) -> JwtConfig {
        JwtConfig {
            algorithm: alg.into(),
            key_inline: None,
            key_secret_id: None,
            issuer: Some(DEV_JWT_ISSUER.into()),
            audience: Some(DEV_JWT_AUDIENCE.into()),
            max_lifetime_secs: 3600,
        }
    }

    fn dev() -> JwtVerifier {
        JwtVerifier::new(&cfg("HS256"), DEV_JWT_KEY, true).unwrap()
    }

    fn bearer(c: &Claims) -> String {
        format!("Bearer {}", sign_hs256(DEV_JWT_KEY, c))
    }

    #[test]
    fn verifies_tenant_and_permissions_from_the_token() {
        let c = dev().verify_header(Some(&bearer(&claims_for("t1", "u1", &[perms::SETTINGS_UPDATE], 60)))).unwrap();
        assert_eq!(c.tenant.as_str(), "t1");
        assert!(c.has(perms::SETTINGS_READ));
        assert!(c.require(perms::RMM_REBOOT).is_err());
    }

    #[test]
    fn refuses_wrong_key_expired_and_missing() {
        let v = dev();
        let other = sign_hs256("another-key", &claims_for("t1", "u1", &[], 60));
        assert_eq!(v.verify_header(Some(&format!("Bearer {other}"))).unwrap_err().code, ErrorCode::Unauthenticated);
        let expired = claims_for("t1", "u1", &[], -120);
        assert!(v.verify_header(Some(&bearer(&expired))).unwrap_err().message.contains("expired"));
        assert!(v.verify_header(None).is_err());
        assert!(v.verify_header(Some(&bearer(&claims_for("a#b", "u1", &[], 60)))).is_err());
    }

    #[test]
    fn audience_issuer_nbf_and_lifetime_are_enforced() {
        let v = dev();
        let mut c = claims_for("t1", "u1", &[], 60);
        c.aud = Some("another-service".into());
        assert!(v.verify_header(Some(&bearer(&c))).unwrap_err().message.contains("audience"));
        c.aud = None;
        assert!(v.verify_header(Some(&bearer(&c))).is_err(), "aud is required when configured");
        let mut c = claims_for("t1", "u1", &[], 60);
        c.iss = Some("https://evil.example.com".into());
        assert!(v.verify_header(Some(&bearer(&c))).unwrap_err().message.contains("issuer"));
        c.iss = None;
        assert!(v.verify_header(Some(&bearer(&c))).is_err(), "iss is required when configured");
        let mut c = claims_for("t1", "u1", &[], 3600);
        c.nbf = c.nbf.map(|n| n + 600);
        assert!(v.verify_header(Some(&bearer(&c))).unwrap_err().message.contains("nbf"));
        let long = claims_for("t1", "u1", &[], 30 * 86400);
        assert!(v.verify_header(Some(&bearer(&long))).unwrap_err().message.contains("maximum lifetime"));
        assert!(v.verify_header(Some(&bearer(&claims_for("t1", "u1", &[], 3600)))).is_ok());
    }

    #[test]
    fn weak_or_development_keys_are_refused_outside_local_development() {
        let c = cfg("HS256");
        assert!(JwtVerifier::new(&c, DEV_JWT_KEY, false).err().expect("refused").contains("32 bytes"));
        assert!(JwtVerifier::new(&c, "short-key", false).is_err());
        assert!(JwtVerifier::new(&c, &"k".repeat(32), false).is_ok());
        assert!(JwtVerifier::new(&c, "short-key", true).is_ok());
    }

    #[test]
    fn functions_without_a_url_refuse_every_token() {
        let t = bearer(&claims_for("t1", "u1", &[perms::SETTINGS_UPDATE], 60));
        assert_eq!(JwtVerifier::disabled().verify_header(Some(&t)).unwrap_err().code, ErrorCode::Unauthenticated);
    }
}
