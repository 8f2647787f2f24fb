//! rmm_integrations: the tenant's integration record, the active-integration index the scheduler
//! reads, and short tenant locks in the integration's partition.

use super::query::for_each_page;
use super::{DynamoStore, Update, keys};
use crate::item::{attr_of, from_item, n, s};
use crate::keys::key;
use crate::{applied, port_error};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use shared::domain::time::{now, now_rfc3339};
use shared::domain::{IntegrationPatch, RmmIntegration};
use shared::ports::PortError;
use shared::tenant::TenantId;

pub(super) async fn get_integration(
    store: &DynamoStore,
    tenant: &TenantId,
) -> Result<Option<RmmIntegration>, PortError> {
    let (pk, sk) = keys::integration(tenant);
    store.get(pk, sk).await?.map(|i| from_item(&i)).transpose()
}

pub(super) async fn patch_integration(
    store: &DynamoStore,
    tenant: &TenantId,
    p: &IntegrationPatch,
) -> Result<RmmIntegration, PortError> {
    let (pk, sk) = keys::integration(tenant);
    let mut u = Update::default();
    u.set("tenant", s(tenant.as_str()));
    u.set("provider", s(shared::domain::integration::PROVIDER));
    u.set("entity", s("rmm_integration"));
    u.set("updated_at", s(now_rfc3339()));
    if let Some(url) = &p.instance_url {
        u.set("instance_url", s(url.as_str()));
    }
    if let Some(m) = p.auth_mode {
        u.set("auth_mode", attr_of(&m)?);
    }
    if let Some(active) = p.is_active {
        u.set("is_active", AttributeValue::Bool(active));
        // Sparse index of active integrations, read by the scheduler.
        if active {
            u.set(keys::GSI1_PK, s(keys::ACTIVE_INTEGRATIONS));
            u.set(keys::GSI1_SK, s(tenant.as_str()));
        } else {
            u.remove(keys::GSI1_PK);
            u.remove(keys::GSI1_SK);
        }
    } else {
        u.set_if_not_exists("is_active", AttributeValue::Bool(false));
    }
    if let Some(v) = &p.connected_at {
        u.set_opt("connected_at", v.clone().map(s));
    }
    if let Some(v) = &p.disconnected_at {
        u.set_opt("disconnected_at", v.clone().map(s));
    }
    if let Some(v) = p.reauth_required {
        u.set("reauth_required", AttributeValue::Bool(v));
    }
    if let Some(v) = &p.last_sync_at {
        u.set("last_sync_at", s(v.clone()));
    }
    if let Some(v) = &p.sync_status {
        u.set("sync_status", s(v.clone()));
    }
    if let Some(v) = &p.sync_error {
        u.set_opt("sync_error", v.clone().map(s));
    }
    for (kind, sched) in &p.schedules {
        u.set(kind.attribute(), attr_of(sched)?);
    }
    if let Some(v) = &p.last_complete_device_run {
        u.set_opt("last_complete_device_run", v.clone().map(s));
    }
    if let Some(v) = &p.knox_token_expires_at {
        u.set_opt("knox_token_expires_at", v.clone().map(s));
    }
    if let Some(v) = &p.webhook_previous_valid_until {
        u.set_opt("webhook_previous_valid_until", v.clone().map(s));
    }
    if let Some(v) = &p.webhook_secret_version {
        u.set("webhook_secret_version", s(v.clone()));
    }
    if let Some(d) = &p.webhook_digests {
        u.set("webhook_digests", attr_of(d)?);
    }
    for (sync_type, at) in &p.last_started {
        u.set(&format!("last_started_{sync_type}"), s(at.clone()));
    }
    // A digest backfill must never overwrite a rotation's or a disconnect's digests.
    let condition = p.only_without_webhook_digests.then(|| {
        u.names.insert("#cpk".into(), keys::PK.into());
        u.names.insert("#cwd".into(), "webhook_digests".into());
        "attribute_exists(#cpk) AND attribute_not_exists(#cwd)".to_owned()
    });
    let out = store
        .client
        .update_item()
        .table_name(store.table())
        .set_key(Some(key(pk, sk)))
        .update_expression(u.expression())
        .set_condition_expression(condition)
        .set_expression_attribute_names(Some(u.names))
        .set_expression_attribute_values(Some(u.values))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .map_err(port_error)?;
    from_item(&out.attributes.unwrap_or_default())
}

pub(super) async fn list_active_integrations(store: &DynamoStore) -> Result<Vec<RmmIntegration>, PortError> {
    let query = store
        .client
        .query()
        .table_name(store.table())
        .index_name(keys::GSI1)
        .key_condition_expression("#p = :p")
        .expression_attribute_names("#p", keys::GSI1_PK)
        .expression_attribute_values(":p", s(keys::ACTIVE_INTEGRATIONS));
    let mut out = Vec::new();
    for_each_page(query, |items| {
        for item in &items {
            // One unreadable item must not stop the scheduler for every tenant.
            match from_item(item) {
                Ok(i) => out.push(i),
                Err(e) => {
                    let tenant = item.get(keys::GSI1_SK).and_then(|v| v.as_s().ok()).map_or("?", String::as_str);
                    tracing::error!(tenant, error = %e, "skipping an unreadable integration item");
                }
            }
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

pub(super) async fn try_lock(
    store: &DynamoStore,
    tenant: &TenantId,
    name: &str,
    ttl_secs: i64,
) -> Result<bool, PortError> {
    let (pk, _) = keys::integration(tenant);
    let now_epoch = now().unix_timestamp();
    let mut item = key(pk, keys::tenant_lock_sk(name));
    item.insert("tenant".into(), s(tenant.as_str()));
    item.insert(keys::TTL.into(), n(now_epoch + ttl_secs));
    let r = store
        .client
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk) OR #e < :now")
        .expression_attribute_names("#e", keys::TTL)
        .expression_attribute_values(":now", n(now_epoch))
        .send()
        .await;
    applied(r.map_err(port_error))
}

pub(super) async fn unlock(store: &DynamoStore, tenant: &TenantId, name: &str) -> Result<(), PortError> {
    let (pk, _) = keys::integration(tenant);
    store
        .client
        .delete_item()
        .table_name(store.table())
        .set_key(Some(key(pk, keys::tenant_lock_sk(name))))
        .send()
        .await
        .map_err(port_error)?;
    Ok(())
}
