//! Helpers of the use-case tests (`usecase_*.rs`): connect a tenant through the connection use
//! case, and deliver queued messages to `sync::handle_message` as SQS would.

#![allow(dead_code)]

use secrecy::SecretString;
use shared::TenantId;
use shared::domain::connection::{ConnectionService, SaveSettings, TestRequest};
use shared::domain::mapping::{MappingPatch, OrgMapping};
use shared::domain::sync::{self, MAX_RECEIVES, Outcome};
use shared::domain::{SyncRun, SyncRunStatus};
use shared::messages::{SyncMessage, SyncType, Trigger};
use shared::ports::{InventoryStore, Store};
use shared::testing::TestBed;
use std::collections::VecDeque;

pub const URL: &str = "https://tactical.example.com";

pub fn tenant(label: &str) -> TenantId {
    TenantId::parse(label).expect("a valid tenant id")
}

/// Saves an API key connection and tests it (which activates it).
pub async fn connect(bed: &TestBed, t: &TenantId) {
    let svc = ConnectionService::new(&bed.deps);
    let body = SaveSettings {
        instance_url: Some(URL.into()),
        api_key: Some(SecretString::from("K".repeat(32))),
        ..Default::default()
    };
    svc.save(t, body).await.expect("saved");
    let r = svc.test(t, TestRequest::default()).await.expect("tested");
    assert!(r.success, "{r:?}");
}

/// Saves a Knox (username and password) connection and tests it: the fake hands out a token.
pub async fn connect_knox(bed: &TestBed, t: &TenantId) {
    bed.tactical.set_credentials("tech", "correct horse", None);
    let svc = ConnectionService::new(&bed.deps);
    let body = SaveSettings {
        instance_url: Some(URL.into()),
        username: Some("tech".into()),
        password: Some(SecretString::from("correct horse")),
        ..Default::default()
    };
    svc.save(t, body).await.expect("saved");
    let r = svc.test(t, TestRequest::default()).await.expect("tested");
    assert!(r.success, "{r:?}");
}

/// Delivers every message on the sync type's queue until it is empty, redelivering a `Retry`
/// with a higher receive count as SQS does (its last attempt is `MAX_RECEIVES`). Returns the
/// outcomes in delivery order.
pub async fn pump(bed: &TestBed, st: SyncType) -> Vec<Outcome> {
    let mut queue: VecDeque<(SyncMessage, u32)> = VecDeque::new();
    let mut outcomes = Vec::new();
    loop {
        queue.extend(bed.queue.drain(st.queue()).into_iter().map(|m| (m, 1)));
        let Some((msg, receives)) = queue.pop_front() else { return outcomes };
        let outcome = sync::handle_message(&bed.deps, msg.clone(), receives).await;
        if matches!(outcome, Outcome::Retry(_)) {
            assert!(receives < MAX_RECEIVES, "a last attempt is never retried: {outcome:?}");
            queue.push_back((msg, receives + 1));
        }
        outcomes.push(outcome);
    }
}

/// Starts a manual run, delivers its messages, and returns the finished run.
pub async fn run(bed: &TestBed, t: &TenantId, st: SyncType) -> SyncRun {
    let started = sync::start(&bed.deps, t, st, Trigger::Manual).await.expect("started");
    assert!(started.started, "no run of this type was in progress");
    pump(bed, st).await;
    let run = bed.store.get_run(t, st, &started.run_id).await.unwrap().expect("the run is recorded");
    assert!(run.status.is_finished(), "{run:?}");
    run
}

/// A person assigns every organization to a PSA client (devices of all of them sync).
pub async fn map_all(bed: &TestBed, t: &TenantId) {
    for m in bed.store.list_org_mappings(t).await.unwrap() {
        let patch =
            MappingPatch { client_id: Some(Some(format!("psa-{}", m.external_organization_id))), ..Default::default() };
        bed.store.patch_org_mapping(t, &m.external_organization_id, &patch, "2026-01-01T00:00:00Z").await.unwrap();
    }
}

/// Connected, clients synced and mapped, devices synced: the state most use cases start from.
pub async fn synced(bed: &TestBed, t: &TenantId) {
    connect(bed, t).await;
    assert_eq!(run(bed, t, SyncType::Clients).await.status, SyncRunStatus::Succeeded);
    map_all(bed, t).await;
    assert_eq!(run(bed, t, SyncType::Devices).await.status, SyncRunStatus::Succeeded);
}

pub async fn mapping(bed: &TestBed, t: &TenantId, client: &str) -> OrgMapping {
    bed.store.get_org_mapping(t, client).await.unwrap().expect("the mapping exists")
}

/// Nothing of any kind is stored under the tenant: no integration, mapping, asset, run or alert.
pub async fn sees_nothing(bed: &TestBed, t: &TenantId) {
    let store: &dyn Store = bed.store.as_ref();
    assert!(store.list_org_mappings(t).await.unwrap().is_empty());
    assert!(store.list_assets(t).await.unwrap().is_empty());
    assert!(store.list_external_mappings(t).await.unwrap().is_empty());
    assert!(store.open_alerts(t).await.unwrap().is_empty());
    for st in SyncType::ALL {
        assert!(store.latest_run(t, st).await.unwrap().is_none());
    }
}
