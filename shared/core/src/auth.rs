//! Who calls: an authenticated caller with its tenant, permissions and entitlements. How the
//! caller is authenticated (the PSA's JWT) is the edge's business (`lambda-glue`).

use crate::error::{ApiError, ErrorCode};
use crate::tenant::TenantId;

/// Permission strings. `system_settings:read|update` gate settings; `rmm:*` gate remote actions
/// and their audit log.
pub mod perms {
    pub const SETTINGS_READ: &str = "system_settings:read";
    pub const SETTINGS_UPDATE: &str = "system_settings:update";
    pub const RMM_READ: &str = "rmm:read";
    pub const RMM_RUN_SCRIPT: &str = "rmm:run_script";
    pub const RMM_EXECUTE_COMMAND: &str = "rmm:execute_command";
    pub const RMM_REBOOT: &str = "rmm:reboot";
    /// Reading the remote-action audit log (what ran where, by whom): an rmm permission, so
    /// settings administrators do not see it by default.
    pub const RMM_AUDIT_READ: &str = "rmm:audit_read";
    /// Resolve, snooze and unsnooze Tactical alerts from the PSA.
    pub const RMM_MANAGE_ALERTS: &str = "rmm:manage_alerts";
}

/// What a tenant has bought, as the PSA says in its token (`entitlements` claim) or the workflow
/// engine in its event. Per tenant: one deployment serves tenants of every edition.
pub mod entitlements {
    /// Remote actions (Enterprise Edition).
    pub const REMOTE_ACTIONS: &str = "rmm_remote_actions";
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub tenant: TenantId,
    pub user_id: String,
    pub permissions: Vec<String>,
    /// The tenant's entitlements, from the same token or event as the tenant.
    pub entitlements: Vec<String>,
}

impl Caller {
    pub fn entitled(&self, entitlement: &str) -> bool {
        self.entitlements.iter().any(|e| e == entitlement)
    }

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
