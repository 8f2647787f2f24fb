//! Callers of function URLs: a JWT signed by the PSA (HS256 secret or RS256 public key). The
//! tenant and the permissions come from the token only, never from the body or the path.

use crate::error::{ApiError, ErrorCode};
use crate::tenant::TenantId;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// The local development signing key (HS256). Never valid in a deployed stack: template.yaml
/// takes the key from Secrets Manager.
pub const DEV_JWT_KEY: &str = "tactical-bridge-local-development-key-do-not-deploy";

/// Permission strings. `system_settings:read|update` gate settings; `rmm:*` gate remote actions.
pub mod perms {
    pub const SETTINGS_READ: &str = "system_settings:read";
    pub const SETTINGS_UPDATE: &str = "system_settings:update";
    pub const RMM_READ: &str = "rmm:read";
    pub const RMM_RUN_SCRIPT: &str = "rmm:run_script";
    pub const RMM_EXECUTE_COMMAND: &str = "rmm:execute_command";
    pub const RMM_REBOOT: &str = "rmm:reboot";
    /// Resolve, snooze and unsnooze Tactical alerts from the PSA.
    pub const RMM_MANAGE_ALERTS: &str = "rmm:manage_alerts";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    #[serde(default)]
    pub permissions: Vec<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub tenant: TenantId,
    pub user_id: String,
    pub permissions: Vec<String>,
}

impl Caller {
    pub fn has(&self, permission: &str) -> bool {
        // `update` implies `read` for settings, as in the PSA's permission model.
        self.permissions
            .iter()
            .any(|p| p == permission || (permission == perms::SETTINGS_READ && p == perms::SETTINGS_UPDATE))
    }

    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden, format!("this action needs the {permission} permission")))
        }
    }
}

pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    pub fn new(algorithm: &str, key: &str, issuer: Option<&str>, audience: Option<&str>) -> Result<Self, String> {
        let (alg, key) = match algorithm {
            "HS256" => (
                Algorithm::HS256,
                DecodingKey::from_secret(key.as_bytes()).map_err(|e| format!("PSA JWT key is not usable: {e}"))?,
            ),
            "RS256" => (
                Algorithm::RS256,
                DecodingKey::from_rsa_pem(key.as_bytes())
                    .map_err(|e| format!("PSA JWT public key is not a valid RSA PEM: {e}"))?,
            ),
            other => return Err(format!("unsupported JWT algorithm {other}")),
        };
        let mut validation = Validation::new(alg);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(iss) = issuer {
            validation.set_issuer(&[iss]);
        }
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Ok(Self { key, validation })
    }

    /// Verifies an `Authorization` header value (`Bearer <jwt>`).
    pub fn verify_header(&self, header: Option<&str>) -> Result<Caller, ApiError> {
        let unauth = |m: &str| ApiError::new(ErrorCode::Unauthenticated, m.to_owned());
        let header = header.ok_or_else(|| unauth("missing Authorization header with a Bearer token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| unauth("the Authorization header must be 'Bearer <token>'"))?;
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &self.key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => unauth("the token has expired"),
                _ => unauth("the token is not valid"),
            }
        })?;
        let tenant = TenantId::parse(&data.claims.tenant)
            .map_err(|_| unauth("the token's tenant claim is not a valid tenant id"))?;
        Ok(Caller { tenant, user_id: data.claims.sub, permissions: data.claims.permissions })
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

/// Claims for a token valid for `ttl_secs`.
pub fn claims_for(tenant: &str, user: &str, permissions: &[&str], ttl_secs: i64) -> Claims {
    Claims {
        sub: user.to_owned(),
        tenant: tenant.to_owned(),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        exp: crate::domain::time::now().unix_timestamp() + ttl_secs,
        iss: None,
        aud: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_tenant_and_permissions_from_the_token() {
        let v = JwtVerifier::new("HS256", DEV_JWT_KEY, None, None).unwrap();
        let t = sign_hs256(DEV_JWT_KEY, &claims_for("t1", "u1", &[perms::SETTINGS_UPDATE], 60));
        let c = v.verify_header(Some(&format!("Bearer {t}"))).unwrap();
        assert_eq!(c.tenant.as_str(), "t1");
        assert!(c.has(perms::SETTINGS_READ));
        assert!(c.require(perms::RMM_REBOOT).is_err());
    }

    #[test]
    fn refuses_wrong_key_expired_and_missing() {
        let v = JwtVerifier::new("HS256", DEV_JWT_KEY, None, None).unwrap();
        let other = sign_hs256("another-key", &claims_for("t1", "u1", &[], 60));
        assert_eq!(v.verify_header(Some(&format!("Bearer {other}"))).unwrap_err().code, ErrorCode::Unauthenticated);
        let expired = sign_hs256(DEV_JWT_KEY, &claims_for("t1", "u1", &[], -120));
        assert!(v.verify_header(Some(&format!("Bearer {expired}"))).unwrap_err().message.contains("expired"));
        assert!(v.verify_header(None).is_err());
        let bad_tenant = sign_hs256(DEV_JWT_KEY, &claims_for("a#b", "u1", &[], 60));
        assert!(v.verify_header(Some(&format!("Bearer {bad_tenant}"))).is_err());
    }
}
