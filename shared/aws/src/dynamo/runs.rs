//! Sync runs: the run record, its lock (one run per tenant and type), progress added at most once
//! per work item, and the end of a run.

use super::{DynamoStore, MAX_RUN_ERRORS, Update, keys};
use crate::item::{attr_of, from_item, n, s, to_item};
use crate::keys::key;
use crate::port_error;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use shared::domain::time::{now, now_rfc3339};
use shared::domain::{SyncRun, SyncRunStatus};
use shared::messages::SyncType;
use shared::ports::{PortError, RunProgress, StartOutcome};
use shared::tenant::TenantId;

pub(super) async fn add_run_progress_once(
    store: &DynamoStore,
    tenant: &TenantId,
    st: SyncType,
    run_id: &str,
    p: &RunProgress,
    with_errors: bool,
) -> Result<Option<SyncRun>, PortError> {
    let mut u = Update::default();
    let c = &p.counts;
    for (attr, v) in [
        ("items_processed", c.items_processed),
        ("items_created", c.items_created),
        ("items_updated", c.items_updated),
        ("items_unchanged", c.items_unchanged),
        ("items_deleted", c.items_deleted),
        ("items_failed", c.items_failed),
        ("status_online", c.status_online),
        ("status_offline", c.status_offline),
        ("status_overdue", c.status_overdue),
        ("items_missing", c.items_missing),
        ("work_done", c.work_done),
        ("work_total", c.work_total),
        ("software_items", c.software_items),
        ("software_changed", c.software_changed),
        ("agents_no_inventory", c.agents_no_inventory),
        ("pending", p.pending_delta),
    ] {
        u.add(attr, v);
    }
    u.set("status", s("running"));
    let mut expr = u.expression();
    let mut values = u.values.clone();
    let mut names = u.names.clone();
    // A finished run takes no more progress (a late duplicate must not reopen it).
    let mut condition = "attribute_exists(pk) AND NOT (#run_status IN (:fin_s, :fin_p, :fin_f))".to_owned();
    names.insert("#run_status".into(), "status".into());
    for (k, v) in [(":fin_s", "succeeded"), (":fin_p", "partial"), (":fin_f", "failed")] {
        values.insert(k.into(), s(v));
    }
    if with_errors && !p.errors.is_empty() {
        // Keep the first few errors only: a run record must stay far below 400 KB.
        let errs: Vec<AttributeValue> =
            p.errors.iter().take(5).map(|e| s(e.chars().take(300).collect::<String>())).collect();
        names.insert("#errs".into(), "errors".into());
        values.insert(":errs".into(), AttributeValue::L(errs));
        values.insert(":empty".into(), AttributeValue::L(vec![]));
        expr = expr.replacen("SET ", "SET #errs = list_append(if_not_exists(#errs, :empty), :errs), ", 1);
        // Bounded: a run with thousands of failed items keeps its first errors only.
        values.insert(":max_errs".into(), n(MAX_RUN_ERRORS));
        condition.push_str(" AND (attribute_not_exists(#errs) OR size(#errs) < :max_errs)");
    }
    if let Some(item) = &p.work_item {
        names.insert("#done".into(), "done_items".into());
        values.insert(":wi".into(), s(item.clone()));
        values.insert(":wis".into(), AttributeValue::Ss(vec![item.clone()]));
        expr.push_str(", #done :wis");
        condition.push_str(" AND NOT contains(#done, :wi)");
    }
    if let Some(item) = &p.undo_item {
        names.insert("#done".into(), "done_items".into());
        values.insert(":undo".into(), AttributeValue::Ss(vec![item.clone()]));
        expr.push_str(" DELETE #done :undo");
    }
    let out = store
        .client
        .update_item()
        .table_name(store.table())
        .set_key(Some(key(keys::sync_runs(tenant), keys::sync_run_sk(st, run_id))))
        .update_expression(expr)
        .condition_expression(condition)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match out.map_err(port_error) {
        Ok(out) => Ok(Some(from_item(&out.attributes.unwrap_or_default())?)),
        Err(PortError::ConditionFailed(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `None`: the transaction lost to a concurrent one whose lock is not readable yet.
pub(super) async fn start_run_once(
    store: &DynamoStore,
    run: &SyncRun,
    lock_secs: i64,
) -> Result<Option<StartOutcome>, PortError> {
    let pk = keys::sync_runs(&run.tenant);
    let now_epoch = now().unix_timestamp();
    let mut lock = key(pk.clone(), keys::sync_lock_sk(run.sync_type));
    lock.insert("run_id".into(), s(run.run_id.clone()));
    lock.insert(keys::TTL.into(), n(now_epoch + lock_secs));
    lock.insert("tenant".into(), s(run.tenant.as_str()));
    let mut item = to_item(run)?;
    item.insert(keys::PK.into(), s(pk.clone()));
    item.insert(keys::SK.into(), s(keys::sync_run_sk(run.sync_type, &run.run_id)));
    item.insert("entity".into(), s("sync_run"));
    // The lock and the run record in one transaction: a run record never exists without its lock,
    // and a lock never without its record. (The local emulator serializes every DynamoDB call,
    // see infra/localstack, so its transactions are isolated as DynamoDB's are.)
    let lock = Put::builder()
        .table_name(store.table())
        .set_item(Some(lock))
        .condition_expression("attribute_not_exists(pk) OR #e < :now")
        .expression_attribute_names("#e", keys::TTL)
        .expression_attribute_values(":now", n(now_epoch))
        .build()
        .map_err(|e| PortError::Other(format!("run lock request: {e}")))?;
    let record = Put::builder()
        .table_name(store.table())
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|e| PortError::Other(format!("run record request: {e}")))?;
    let result = store
        .client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(lock).build())
        .transact_items(TransactWriteItem::builder().put(record).build())
        .send()
        .await;
    match result {
        Ok(_) => Ok(Some(StartOutcome::Started(Box::new(run.clone())))),
        Err(e) => match port_error(e) {
            PortError::ConditionFailed(_) | PortError::Throttled => {
                let holder = store
                    .get(pk, keys::sync_lock_sk(run.sync_type))
                    .await?
                    .and_then(|i| i.get("run_id").and_then(|v| v.as_s().ok()).cloned())
                    .filter(|h| !h.is_empty());
                Ok(holder.map(|run_id| StartOutcome::AlreadyRunning { run_id }))
            }
            other => Err(other),
        },
    }
}

pub(super) async fn try_start_run(
    store: &DynamoStore,
    run: &SyncRun,
    lock_secs: i64,
) -> Result<StartOutcome, PortError> {
    // A transaction that conflicts with a concurrent one is cancelled before the winner's
    // lock is visible: look again a few times before giving up.
    for attempt in 0..6u32 {
        match start_run_once(store, run, lock_secs).await? {
            Some(outcome) => return Ok(outcome),
            None => tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await,
        }
    }
    Err(PortError::Other("could not start or find the sync run after concurrent attempts".into()))
}

pub(super) async fn get_run(
    store: &DynamoStore,
    tenant: &TenantId,
    st: SyncType,
    run_id: &str,
) -> Result<Option<SyncRun>, PortError> {
    store.get(keys::sync_runs(tenant), keys::sync_run_sk(st, run_id)).await?.map(|i| from_item(&i)).transpose()
}

pub(super) async fn add_run_progress(
    store: &DynamoStore,
    tenant: &TenantId,
    st: SyncType,
    run_id: &str,
    p: &RunProgress,
) -> Result<Option<SyncRun>, PortError> {
    match add_run_progress_once(store, tenant, st, run_id, p, true).await? {
        Some(run) => Ok(Some(run)),
        // The error list may be full (or the item a duplicate): the counts still count.
        None if !p.errors.is_empty() => add_run_progress_once(store, tenant, st, run_id, p, false).await,
        None => Ok(None),
    }
}

pub(super) async fn finish_run(
    store: &DynamoStore,
    tenant: &TenantId,
    st: SyncType,
    run_id: &str,
    status: SyncRunStatus,
    message: Option<String>,
) -> Result<bool, PortError> {
    let status_attr = attr_of(&status)?;
    let mut u = Update::default();
    u.set("status", status_attr);
    u.set("finished_at", s(now_rfc3339()));
    if let Some(m) = message {
        u.set("message", s(m));
    }
    let values = u.values.clone();
    let result = store
        .client
        .update_item()
        .table_name(store.table())
        .set_key(Some(key(keys::sync_runs(tenant), keys::sync_run_sk(st, run_id))))
        .update_expression(u.expression())
        .condition_expression("attribute_exists(pk) AND attribute_not_exists(finished_at)")
        .set_expression_attribute_names(Some(u.names.clone()))
        .set_expression_attribute_values(Some(values))
        .send()
        .await;
    let finished = match result {
        Ok(_) => true,
        Err(e) => match port_error(e) {
            PortError::ConditionFailed(_) => false,
            other => return Err(other),
        },
    };
    // Release the lock only if this run still holds it.
    let release = store
        .client
        .delete_item()
        .table_name(store.table())
        .set_key(Some(key(keys::sync_runs(tenant), keys::sync_lock_sk(st))))
        .condition_expression("run_id = :r")
        .expression_attribute_values(":r", s(run_id))
        .send()
        .await;
    if let Err(e) = release {
        match port_error(e) {
            PortError::ConditionFailed(_) => {}
            other => return Err(other),
        }
    }
    Ok(finished)
}

pub(super) async fn latest_run(
    store: &DynamoStore,
    tenant: &TenantId,
    st: SyncType,
) -> Result<Option<SyncRun>, PortError> {
    let out = store
        .client
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
        .expression_attribute_values(":p", s(keys::sync_runs(tenant)))
        .expression_attribute_values(":prefix", s(keys::sync_run_prefix(st)))
        .scan_index_forward(false)
        .limit(1)
        .consistent_read(true)
        .send()
        .await
        .map_err(port_error)?;
    out.items().first().map(from_item).transpose()
}
