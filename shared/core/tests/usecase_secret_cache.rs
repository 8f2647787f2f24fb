//! Reading a tenant's secrets once: use cases read the whole bundle in one call, and workers keep
//! it for a minute (`secret_cache::CachedSecrets`), with a refused credential read again fresh.
//! Reads are counted by `MemorySecrets` as Secrets Manager bills them (a `get` or a `bundle`: one).

mod common;

use common::{URL, connect, connect_knox, map_all, pump, tenant};
use secrecy::SecretString;
use shared::TenantId;
use shared::domain::connection::{ConnectionService, SaveSettings, SchedulesPatch};
use shared::domain::sync;
use shared::domain::{IntegrationPatch, Schedule, SyncRunStatus};
use shared::messages::{SyncType, Trigger};
use shared::ports::{SecretName, SecretStore, StatusStore, Store};
use shared::tactical::TacticalError;
use shared::testing::{ManualClock, Route, TestBed};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);

/// Starts a run and delivers its messages; returns how many messages were handled.
async fn run_counting(bed: &TestBed, t: &TenantId, st: SyncType) -> usize {
    let started = sync::start(&bed.deps, t, st, Trigger::Manual).await.expect("started");
    assert!(started.started);
    let handled = pump(bed, st).await.len();
    let run = bed.store.get_run(t, st, &started.run_id).await.unwrap().expect("recorded");
    assert_eq!(run.status, SyncRunStatus::Succeeded, "{run:?}");
    handled
}

#[tokio::test]
async fn reading_the_settings_reads_the_secrets_once() {
    let (bed, t) = (TestBed::new(), tenant("cache-settings"));
    connect(&bed, &t).await;
    let svc = ConnectionService::new(&bed.deps);
    assert!(bed.store.get_integration(&t).await.unwrap().unwrap().webhook_digests.is_none());
    let before = bed.secrets.reads();
    let view = svc.settings(&t).await.unwrap();
    assert!(view.credentials.has_api_key && view.credentials.api_key_masked.is_some());
    assert_eq!(bed.secrets.reads() - before, 1, "the view and the digest backfill share one read");
    assert!(bed.store.get_integration(&t).await.unwrap().unwrap().webhook_digests.is_some(), "backfilled");

    // Saving only schedules checks the stored credential with one read too.
    let before = bed.secrets.reads();
    let schedules =
        SchedulesPatch { device_sync: Some(Schedule { enabled: true, interval_minutes: 60 }), ..Default::default() };
    svc.save(&t, SaveSettings { schedules, ..Default::default() }).await.unwrap();
    assert_eq!(bed.secrets.reads() - before, 1);
}

#[tokio::test]
async fn a_worker_reads_a_tenants_secrets_once_per_minute() {
    let (mut bed, t) = (TestBed::new(), tenant("cache-worker"));
    // Connected through the connection function (no cache); then a worker starts.
    connect(&bed, &t).await;
    let clock = ManualClock::default();
    bed.cache_secrets(TTL, &clock);
    let before = bed.secrets.reads();
    let mut handled = run_counting(&bed, &t, SyncType::Clients).await;
    map_all(&bed, &t).await;
    handled += run_counting(&bed, &t, SyncType::Devices).await;
    handled += run_counting(&bed, &t, SyncType::Alerts).await;
    assert!(handled >= 5, "{handled} messages");
    assert_eq!(bed.secrets.reads() - before, 1, "{handled} messages of one tenant within a minute: one read");

    clock.advance(TTL);
    run_counting(&bed, &t, SyncType::Clients).await;
    assert_eq!(bed.secrets.reads() - before, 2, "read again once the minute is over");
}

#[tokio::test]
async fn tenants_never_share_a_cached_bundle_and_a_write_drops_only_its_tenant() {
    let (mut bed, a, b) = (TestBed::new(), tenant("cache-iso-a"), tenant("cache-iso-b"));
    {
        let svc = ConnectionService::new(&bed.deps);
        for (t, key) in [(&a, "KEY-A-000000000000"), (&b, "KEY-B-000000000000")] {
            let body = SaveSettings {
                instance_url: Some(URL.into()),
                api_key: Some(SecretString::from(key)),
                ..Default::default()
            };
            svc.save(t, body).await.unwrap();
            assert!(svc.test(t, Default::default()).await.unwrap().success);
        }
    }
    let clock = ManualClock::default();
    bed.cache_secrets(TTL, &clock);
    let svc = ConnectionService::new(&bed.deps);
    let before = bed.secrets.reads();
    for t in [&a, &b, &a, &b] {
        run_counting(&bed, t, SyncType::Clients).await;
    }
    let used = bed.connector.credentials_used();
    assert_eq!(&used[used.len() - 4..], ["KEY-A-000000000000", "KEY-B-000000000000"].repeat(2), "each its own key");
    assert_eq!(bed.secrets.reads() - before, 2, "one read per tenant");

    // A new key for `a` through the cache drops `a`'s copy only.
    let body = SaveSettings { api_key: Some(SecretString::from("KEY-A-111111111111")), ..Default::default() };
    svc.save(&a, body).await.unwrap();
    assert!(svc.test(&a, Default::default()).await.unwrap().success);
    let before = bed.secrets.reads();
    run_counting(&bed, &b, SyncType::Clients).await;
    assert_eq!(bed.secrets.reads(), before, "b's copy is still good");
    run_counting(&bed, &a, SyncType::Clients).await;
    assert_eq!(bed.connector.credentials_used().last().map(String::as_str), Some("KEY-A-111111111111"));
}

#[tokio::test]
async fn a_stale_cached_knox_token_is_replaced_by_the_stored_one_without_a_login() {
    let (mut bed, t) = (TestBed::new(), tenant("cache-knox"));
    let clock = ManualClock::default();
    bed.cache_secrets(TTL, &clock);
    connect_knox(&bed, &t).await;
    run_counting(&bed, &t, SyncType::Clients).await;
    assert_eq!(bed.connector.credentials_used().last().map(String::as_str), Some("fake-knox-token"));
    let logins = bed.tactical.calls(Route::CheckCreds);

    // Another worker renews the token (the store behind this process's cache), and Tactical now
    // refuses the old one this worker still holds.
    bed.secrets.put(&t, SecretName::KnoxToken, &SecretString::from("token-of-another-worker")).await.unwrap();
    let patch =
        IntegrationPatch { knox_token_expires_at: Some(Some("2099-01-01T00:00:00Z".into())), ..Default::default() };
    bed.store.patch_integration(&t, &patch).await.unwrap();
    bed.tactical.fail_next(Route::Clients, TacticalError::Unauthorized { detail: "Invalid token.".into() });

    run_counting(&bed, &t, SyncType::Clients).await;
    assert_eq!(bed.tactical.calls(Route::CheckCreds), logins, "the other worker's token, no login of our own");
    assert_eq!(bed.connector.credentials_used().last().map(String::as_str), Some("token-of-another-worker"));
    let integ = bed.store.get_integration(&t).await.unwrap().unwrap();
    assert!(!integ.reauth_required);
    assert_eq!(integ.knox_token_expires_at.as_deref(), Some("2099-01-01T00:00:00Z"));
}

#[tokio::test]
async fn a_knox_token_refused_fresh_is_renewed_once_and_the_new_one_is_used() {
    let (mut bed, t) = (TestBed::new(), tenant("cache-knox-expired"));
    let clock = ManualClock::default();
    bed.cache_secrets(TTL, &clock);
    connect_knox(&bed, &t).await;
    run_counting(&bed, &t, SyncType::Clients).await;
    let logins = bed.tactical.calls(Route::CheckCreds);
    // The stored token itself has expired: refused with the cached copy and with a fresh read.
    for _ in 0..2 {
        bed.tactical.fail_next(Route::Clients, TacticalError::Unauthorized { detail: "Invalid token.".into() });
    }
    run_counting(&bed, &t, SyncType::Clients).await;
    assert_eq!(bed.tactical.calls(Route::CheckCreds), logins + 1, "one login");
    assert!(!bed.store.get_integration(&t).await.unwrap().unwrap().reauth_required);
}

#[tokio::test]
async fn a_status_refresh_with_a_stale_cached_token_completes_in_one_delivery_without_a_login() {
    let (mut bed, t) = (TestBed::new(), tenant("cache-knox-status"));
    let clock = ManualClock::default();
    bed.cache_secrets(TTL, &clock);
    connect_knox(&bed, &t).await;
    run_counting(&bed, &t, SyncType::Clients).await;
    map_all(&bed, &t).await;
    run_counting(&bed, &t, SyncType::Devices).await;
    let logins = bed.tactical.calls(Route::CheckCreds);

    bed.secrets.put(&t, SecretName::KnoxToken, &SecretString::from("token-of-another-worker")).await.unwrap();
    bed.tactical.fail_next(Route::AgentStatuses, TacticalError::Unauthorized { detail: "Invalid token.".into() });
    shared::domain::status_refresh::request(&bed.deps, &t).await.unwrap();
    let outcomes = pump(&bed, SyncType::Devices).await;
    // The refresh re-reads the credential and runs again at once: no redelivery, no login.
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert!(matches!(outcomes[0], sync::Outcome::Done), "{outcomes:?}");
    assert_eq!(bed.tactical.calls(Route::CheckCreds), logins, "the other worker's token, no login of our own");
    assert_eq!(bed.connector.credentials_used().last().map(String::as_str), Some("token-of-another-worker"));
    assert!(!bed.store.status_observed(&t).await.unwrap().is_empty(), "the refresh finished");
}

#[tokio::test]
async fn a_cached_key_never_follows_the_integration_to_a_new_host() {
    let (mut bed, t) = (TestBed::new(), tenant("cache-new-host"));
    let clock = ManualClock::default();
    bed.cache_secrets(TTL, &clock);
    connect(&bed, &t).await;
    run_counting(&bed, &t, SyncType::Clients).await;
    let old_key = "K".repeat(32);
    assert_eq!(bed.connector.credentials_used().last(), Some(&old_key), "the worker holds the key now");

    // The connection function (another process, no cache) moves the integration to a new host:
    // old credentials deleted first, then the URL, then the new key; it is active again once tested.
    bed.secrets.delete(&t, SecretName::ApiKey).await.unwrap();
    let url = shared::tactical::InstanceUrl::parse("https://other-host.example.net").unwrap();
    let patch = IntegrationPatch { instance_url: Some(url), ..Default::default() };
    bed.store.patch_integration(&t, &patch).await.unwrap();
    bed.secrets.put(&t, SecretName::ApiKey, &SecretString::from("NEW-HOST-KEY-0000000000")).await.unwrap();

    // Within the minute the old copy is still fresh, but it was read for the old host.
    run_counting(&bed, &t, SyncType::Clients).await;
    let used = bed.connector.credentials_used();
    assert_eq!(used.last().map(String::as_str), Some("NEW-HOST-KEY-0000000000"), "{used:?}");
}
