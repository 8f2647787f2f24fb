//! The agents each device page saw, with the sync hash each asset was left at: the next run's
//! baseline (change detection) and the missing-agent check.

use super::query::for_each_page;
use super::{DynamoStore, keys};
use crate::item::{n, s};
use crate::keys::key;
use crate::port_error;
use shared::domain::time::now;
use shared::messages::SyncType;
use shared::ports::PortError;
use shared::tenant::TenantId;
use std::collections::HashMap;

/// The attribute of a seen record: one line per asset, `{asset id}` or `{asset id} {hash}`.
const SEEN: &str = "seen";

fn seen_entries(ids: &[String], hashes: &[String]) -> String {
    let mut out = String::with_capacity(ids.len() * 64);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(id);
        if let Some(h) = hashes.get(i) {
            out.push(' ');
            out.push_str(h);
        }
    }
    out
}

pub(super) async fn record_seen(
    store: &DynamoStore,
    tenant: &TenantId,
    st: SyncType,
    run_id: &str,
    part: &str,
    ids: &[String],
    hashes: &[String],
) -> Result<(), PortError> {
    // One item per work item (a page of at most 1000 ids and hashes, ~70 KB), kept for a week.
    // One string attribute, not lists of 1000 elements: the same size in DynamoDB, and far
    // less to (de)serialize for every page on both sides.
    let mut item = key(keys::sync_runs(tenant), keys::seen_sk(st, run_id, part));
    item.insert("tenant".into(), s(tenant.as_str()));
    if !ids.is_empty() {
        item.insert(SEEN.into(), s(seen_entries(ids, hashes)));
    }
    item.insert(keys::TTL.into(), n(now().unix_timestamp() + 7 * 24 * 3600));
    store.client.put_item().table_name(store.table()).set_item(Some(item)).send().await.map_err(port_error)?;
    Ok(())
}

pub(super) async fn seen_hashes(
    store: &DynamoStore,
    tenant: &TenantId,
    st: SyncType,
    run_id: &str,
    part: &str,
) -> Result<Option<HashMap<String, String>>, PortError> {
    let Some(item) = store.get(keys::sync_runs(tenant), keys::seen_sk(st, run_id, part)).await? else {
        return Ok(None);
    };
    let entries = item.get(SEEN).and_then(|v| v.as_s().ok()).map_or("", String::as_str);
    let mut out = HashMap::new();
    for line in entries.lines() {
        // An entry without a hash (recorded without hashes): the record cannot vouch for it.
        let Some((id, hash)) = line.split_once(' ') else { return Ok(None) };
        out.insert(id.to_owned(), hash.to_owned());
    }
    Ok(Some(out))
}

pub(super) async fn seen_in_run(
    store: &DynamoStore,
    tenant: &TenantId,
    st: SyncType,
    run_id: &str,
) -> Result<Vec<(String, Vec<String>)>, PortError> {
    let prefix = keys::seen_prefix(st, run_id);
    let query = store
        .client
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
        .expression_attribute_values(":p", s(keys::sync_runs(tenant)))
        .expression_attribute_values(":prefix", s(prefix.clone()))
        .consistent_read(true);
    let mut out = Vec::new();
    // Only the ids are kept of each page: a run's records are up to ~70 KB each.
    for_each_page(query, |items| {
        for item in &items {
            let part = item.get("sk").and_then(|v| v.as_s().ok()).and_then(|sk| sk.strip_prefix(&prefix));
            if let Some(part) = part {
                let entries = item.get(SEEN).and_then(|v| v.as_s().ok()).map_or("", String::as_str);
                let ids = entries.lines().filter_map(|l| l.split(' ').next()).filter(|id| !id.is_empty());
                out.push((part.to_owned(), ids.map(str::to_owned).collect()));
            }
        }
        Ok(())
    })
    .await?;
    Ok(out)
}
