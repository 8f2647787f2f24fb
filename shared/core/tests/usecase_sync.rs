//! Sync runs (domain/sync.rs) on the in-memory adapters, through `sync::start` and
//! `sync::handle_message` only: the behaviours tests/it/sync.rs checks on LocalStack.

mod common;

use common::{URL, connect, connect_knox, map_all, mapping, pump, run, sees_nothing, synced, tenant};
use shared::ErrorCode;
use shared::domain::SyncRunStatus;
use shared::domain::asset::asset_id_for;
use shared::domain::mapping::MappingPatch;
use shared::domain::sync::{self, MAX_RECEIVES, Outcome};
use shared::messages::{QueueKind, SyncMessage, SyncType, Trigger};
use shared::ports::{InventoryStore, Store};
use shared::tactical::TacticalError;
use shared::testing::{Route, TestBed, config};

#[tokio::test]
async fn a_clients_run_creates_mappings_and_keeps_person_set_fields() {
    let (bed, t) = (TestBed::new(), tenant("sync-clients"));
    connect(&bed, &t).await;
    let r = run(&bed, &t, SyncType::Clients).await;
    assert_eq!(r.status, SyncRunStatus::Succeeded);
    assert_eq!((r.counts.items_processed, r.counts.items_created), (2, 2));
    let acme = mapping(&bed, &t, "1").await;
    assert_eq!((acme.external_organization_name.as_str(), acme.sites.len(), acme.agent_count), ("Acme Corp", 2, 3));
    assert!(acme.client_id.is_none() && acme.auto_sync_assets, "person-set fields start at their defaults");

    // A person maps Acme; Tactical renames Globex and deletes Acme.
    let patch = MappingPatch {
        client_id: Some(Some("psa-acme".into())),
        auto_sync_assets: Some(false),
        default_contact_id: Some(Some("contact-7".into())),
    };
    bed.store.patch_org_mapping(&t, "1", &patch, "2026-01-01T00:00:00Z").await.unwrap();
    bed.tactical.remove_client(2);
    bed.tactical.add_client(2, "Globex Intl", &[(20, "Main")]);
    let r = run(&bed, &t, SyncType::Clients).await;
    assert_eq!((r.counts.items_updated, r.counts.items_unchanged), (1, 1), "{:?}", r.counts);
    assert_eq!(mapping(&bed, &t, "2").await.external_organization_name, "Globex Intl");
    let acme = mapping(&bed, &t, "1").await;
    assert_eq!(acme.client_id.as_deref(), Some("psa-acme"));
    assert_eq!(acme.default_contact_id.as_deref(), Some("contact-7"));
    assert!(!acme.auto_sync_assets, "a sync never overwrites what a person set");

    bed.tactical.remove_client(1);
    let r = run(&bed, &t, SyncType::Clients).await;
    assert_eq!(r.counts.items_deleted, 1);
    let acme = mapping(&bed, &t, "1").await;
    assert!(acme.missing_since.is_some(), "a client gone from Tactical is flagged");
    assert_eq!(acme.client_id.as_deref(), Some("psa-acme"), "and kept with its person-set fields");
}

#[tokio::test]
async fn a_device_run_fans_out_pages_and_completes_with_the_right_counts() {
    // Two agents a page: Acme's three agents take two pages, the second queued by the first.
    let bed = TestBed::with(config(&[("DEVICE_PAGE_SIZE", "2")]), shared::testing::FakeTactical::small_fleet());
    let t = tenant("sync-devices");
    connect(&bed, &t).await;
    run(&bed, &t, SyncType::Clients).await;
    map_all(&bed, &t).await;

    let started = sync::start(&bed.deps, &t, SyncType::Devices, Trigger::Manual).await.unwrap();
    let first = bed.queue.drain(QueueKind::SyncDevices);
    assert!(matches!(first.as_slice(), [SyncMessage::StartRun { .. }]), "{first:?}");
    assert_eq!(sync::handle_message(&bed.deps, first[0].clone(), 1).await, Outcome::Done);
    let pages = bed.queue.drain(QueueKind::SyncDevices);
    let mut firsts: Vec<(i64, u32)> = pages
        .iter()
        .map(|m| match m {
            SyncMessage::DevicePage { client_id, page, .. } => (*client_id, *page),
            other => panic!("not a device page: {other:?}"),
        })
        .collect();
    firsts.sort();
    assert_eq!(firsts, vec![(1, 1), (2, 1)], "one page-1 message per mapped organization");
    for m in pages {
        assert_eq!(sync::handle_message(&bed.deps, m, 1).await, Outcome::Done);
    }
    let run_now = bed.store.get_run(&t, SyncType::Devices, &started.run_id).await.unwrap().unwrap();
    assert!(!run_now.status.is_finished(), "Acme's second page is still pending");
    let second = bed.queue.drain(QueueKind::SyncDevices);
    assert!(matches!(second.as_slice(), [SyncMessage::DevicePage { client_id: 1, page: 2, .. }]), "{second:?}");
    assert_eq!(sync::handle_message(&bed.deps, second[0].clone(), 1).await, Outcome::Done);

    let r = bed.store.get_run(&t, SyncType::Devices, &started.run_id).await.unwrap().unwrap();
    assert_eq!(r.status, SyncRunStatus::Succeeded, "{r:?}");
    let c = &r.counts;
    assert_eq!((c.items_processed, c.items_created, c.items_updated), (5, 5, 0));
    assert_eq!((c.status_online, c.status_offline), (4, 1));
    assert_eq!((c.work_total, c.work_done), (4, 4), "start, two page-1 and one page-2 work items");
    assert_eq!(bed.store.list_assets(&t).await.unwrap().len(), 5);
    assert_eq!(bed.store.list_external_mappings(&t).await.unwrap().len(), 5);
    let integ = bed.store.get_integration(&t).await.unwrap().unwrap();
    assert_eq!(integ.sync_status.as_deref(), Some("completed"));
    assert_eq!(integ.last_complete_device_run.as_deref(), Some(started.run_id.as_str()));
}

#[tokio::test]
async fn an_unchanged_rerun_writes_nothing() {
    let (bed, t) = (TestBed::new(), tenant("sync-unchanged"));
    synced(&bed, &t).await;
    let assets = bed.store.list_assets(&t).await.unwrap();
    let mappings = bed.store.list_external_mappings(&t).await.unwrap();
    let r = run(&bed, &t, SyncType::Devices).await;
    assert_eq!(r.status, SyncRunStatus::Succeeded);
    let c = &r.counts;
    assert_eq!((c.items_processed, c.items_unchanged, c.items_created, c.items_updated), (5, 5, 0, 0));
    // A write would stamp the new run's id and time on the asset.
    assert_eq!(bed.store.list_assets(&t).await.unwrap(), assets, "no asset was rewritten");
    assert_eq!(bed.store.list_external_mappings(&t).await.unwrap(), mappings);

    // One changed agent is one write.
    bed.tactical.update_agent("agent-acme-2", |a| a.row.hostname = "ACME-WS-2-RENAMED".into());
    let r = run(&bed, &t, SyncType::Devices).await;
    assert_eq!((r.counts.items_updated, r.counts.items_unchanged), (1, 4));
    let renamed = bed.store.get_assets(&t, &[asset_id_for(&t, "agent-acme-2")]).await.unwrap();
    assert_eq!(renamed[0].name, "ACME-WS-2-RENAMED");
}

#[tokio::test]
async fn an_agent_gone_from_tactical_is_flagged_not_deleted() {
    let (bed, t) = (TestBed::new(), tenant("sync-missing"));
    synced(&bed, &t).await;
    bed.tactical.remove_agent("agent-acme-3");
    let r = run(&bed, &t, SyncType::Devices).await;
    assert_eq!(r.status, SyncRunStatus::Succeeded);
    assert_eq!(r.counts.items_missing, 1);
    let gone = bed.store.get_assets(&t, &[asset_id_for(&t, "agent-acme-3")]).await.unwrap();
    assert_eq!(gone.len(), 1, "the asset is kept");
    assert!(gone[0].missing_since.is_some(), "and flagged missing");
    assert_eq!(bed.store.list_assets(&t).await.unwrap().len(), 5);
    assert_eq!(bed.store.list_assets(&t).await.unwrap().iter().filter(|a| a.missing_since.is_some()).count(), 1);
}

#[tokio::test]
async fn a_tactical_failure_fails_the_page_only_after_its_last_delivery() {
    let (bed, t) = (TestBed::new(), tenant("sync-partial"));
    connect(&bed, &t).await;
    run(&bed, &t, SyncType::Clients).await;
    map_all(&bed, &t).await;
    let started = sync::start(&bed.deps, &t, SyncType::Devices, Trigger::Manual).await.unwrap();
    for m in bed.queue.drain(QueueKind::SyncDevices) {
        assert_eq!(sync::handle_message(&bed.deps, m, 1).await, Outcome::Done);
    }
    let pages = bed.queue.drain(QueueKind::SyncDevices);
    let (acme, globex): (Vec<_>, Vec<_>) =
        pages.into_iter().partition(|m| matches!(m, SyncMessage::DevicePage { client_id: 1, .. }));
    assert_eq!(sync::handle_message(&bed.deps, acme[0].clone(), 1).await, Outcome::Done);

    bed.tactical.fail_always(Route::BetaAgents, Some(TacticalError::Server { status: 502 }));
    let retry = sync::handle_message(&bed.deps, globex[0].clone(), 1).await;
    assert!(matches!(retry, Outcome::Retry(_)), "a 502 is retried while attempts are left: {retry:?}");
    let r = bed.store.get_run(&t, SyncType::Devices, &started.run_id).await.unwrap().unwrap();
    assert_eq!((r.status.is_finished(), r.counts.items_failed), (false, 0), "a retried page is not counted");

    let last = sync::handle_message(&bed.deps, globex[0].clone(), MAX_RECEIVES).await;
    assert_eq!(last, Outcome::Done, "the last delivery records the failure instead of retrying");
    let r = bed.store.get_run(&t, SyncType::Devices, &started.run_id).await.unwrap().unwrap();
    assert_eq!(r.status, SyncRunStatus::Partial, "{r:?}");
    assert_eq!((r.counts.items_processed, r.counts.items_failed), (3, 1));
    assert!(r.errors[0].contains("502"), "{:?}", r.errors);
    let integ = bed.store.get_integration(&t).await.unwrap().unwrap();
    assert_eq!(integ.sync_status.as_deref(), Some("completed"));
    assert!(integ.sync_error.is_some_and(|e| e.contains("502")));
    assert!(integ.last_complete_device_run.is_none(), "a partial run is no baseline");
    let flagged = bed.store.list_assets(&t).await.unwrap().into_iter().filter(|a| a.missing_since.is_some()).count();
    assert_eq!(flagged, 0, "a partial run flags no agent missing");
}

#[tokio::test]
async fn a_run_whose_only_work_item_fails_is_failed() {
    let (bed, t) = (TestBed::new(), tenant("sync-failed"));
    connect(&bed, &t).await;
    bed.tactical.fail_always(Route::Clients, Some(TacticalError::Timeout(std::time::Duration::from_secs(30))));
    let started = sync::start(&bed.deps, &t, SyncType::Clients, Trigger::Manual).await.unwrap();
    let outcomes = pump(&bed, SyncType::Clients).await;
    assert_eq!(outcomes.len(), MAX_RECEIVES as usize, "every attempt SQS makes, and no more: {outcomes:?}");
    let r = bed.store.get_run(&t, SyncType::Clients, &started.run_id).await.unwrap().unwrap();
    assert_eq!(r.status, SyncRunStatus::Failed);
    assert_eq!(bed.tactical.calls(Route::Clients), MAX_RECEIVES as usize + 1, "the connection test, then each attempt");
    assert_eq!(bed.store.get_integration(&t).await.unwrap().unwrap().sync_status.as_deref(), Some("failed"));
}

#[tokio::test]
async fn a_refused_knox_token_is_renewed_and_the_run_goes_on() {
    let (bed, t) = (TestBed::new(), tenant("sync-knox"));
    connect_knox(&bed, &t).await;
    assert_eq!(bed.tactical.calls(Route::CheckCreds), 1);
    bed.tactical.fail_next(Route::Clients, TacticalError::Unauthorized { detail: "Invalid token.".into() });
    let r = run(&bed, &t, SyncType::Clients).await;
    assert_eq!(r.status, SyncRunStatus::Succeeded, "{r:?}");
    assert_eq!(r.counts.items_created, 2);
    assert_eq!(bed.tactical.calls(Route::CheckCreds), 2, "one login for the new token");
    assert_eq!(bed.tactical.calls(Route::Clients), 3, "test, refused, then again at once");
    let integ = bed.store.get_integration(&t).await.unwrap().unwrap();
    assert!(!integ.reauth_required && integ.knox_token_expires_at.is_some(), "{integ:?}");
    assert!(bed.connector.connections().iter().all(|(url, _)| url.starts_with(URL)));
    assert_eq!(bed.connector.connections().last().map(|c| c.1), Some("knox_token"));
}

#[tokio::test]
async fn an_api_key_refused_flags_the_integration_for_a_person() {
    let (bed, t) = (TestBed::new(), tenant("sync-reauth"));
    connect(&bed, &t).await;
    bed.tactical.fail_always(Route::Clients, Some(TacticalError::Unauthorized { detail: "Invalid token.".into() }));
    let r = run(&bed, &t, SyncType::Clients).await;
    assert_eq!(r.status, SyncRunStatus::Failed);
    assert_eq!(bed.tactical.calls(Route::CheckCreds), 0, "an API key is never renewed by logging in");
    assert!(bed.store.get_integration(&t).await.unwrap().unwrap().reauth_required);
}

#[tokio::test]
async fn one_run_per_tenant_and_type() {
    let (bed, t, other) = (TestBed::new(), tenant("sync-lock"), tenant("sync-lock-other"));
    connect(&bed, &t).await;
    connect(&bed, &other).await;
    let first = sync::start(&bed.deps, &t, SyncType::Devices, Trigger::Manual).await.unwrap();
    let again = sync::start(&bed.deps, &t, SyncType::Devices, Trigger::Schedule).await.unwrap();
    assert!(first.started && !again.started);
    assert_eq!(again.run_id, first.run_id, "the run in progress is named");
    assert!(sync::start(&bed.deps, &t, SyncType::Clients, Trigger::Manual).await.unwrap().started, "another type");
    assert!(
        sync::start(&bed.deps, &other, SyncType::Devices, Trigger::Manual).await.unwrap().started,
        "another tenant"
    );
    assert_eq!(bed.queue.pending(QueueKind::SyncDevices), 2, "the refused start queued nothing");

    pump(&bed, SyncType::Devices).await;
    assert!(bed.store.get_run(&t, SyncType::Devices, &first.run_id).await.unwrap().unwrap().status.is_finished());
    let next = sync::start(&bed.deps, &t, SyncType::Devices, Trigger::Manual).await.unwrap();
    assert!(next.started && next.run_id != first.run_id, "a finished run releases the lock");
}

#[tokio::test]
async fn a_stuck_runs_lock_expires() {
    let (bed, t) = (TestBed::new(), tenant("sync-expiry"));
    connect(&bed, &t).await;
    let stuck = sync::start(&bed.deps, &t, SyncType::Software, Trigger::Manual).await.unwrap();
    bed.store.advance_clock(3 * 3600);
    let next = sync::start(&bed.deps, &t, SyncType::Software, Trigger::Manual).await.unwrap();
    assert!(next.started && next.run_id != stuck.run_id);
}

#[tokio::test]
async fn an_inactive_integration_starts_nothing_and_drops_queued_work() {
    let (bed, t) = (TestBed::new(), tenant("sync-inactive"));
    connect(&bed, &t).await;
    let started = sync::start(&bed.deps, &t, SyncType::Clients, Trigger::Manual).await.unwrap();
    shared::domain::connection::ConnectionService::new(&bed.deps).disconnect(&t).await.unwrap();
    let e = sync::start(&bed.deps, &t, SyncType::Devices, Trigger::Manual).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::IntegrationInactive, "{e:?}");
    pump(&bed, SyncType::Clients).await;
    let r = bed.store.get_run(&t, SyncType::Clients, &started.run_id).await.unwrap().unwrap();
    assert_eq!(r.status, SyncRunStatus::Failed, "queued work of a disconnected tenant does not run");
    assert_eq!(bed.tactical.calls(Route::Clients), 1, "only the connection test reached Tactical");
}

#[tokio::test]
async fn a_second_tenant_on_the_same_bed_sees_nothing_of_the_first() {
    let (bed, a, b) = (TestBed::new(), tenant("sync-iso-a"), tenant("sync-iso-b"));
    synced(&bed, &a).await;
    connect(&bed, &b).await;
    sees_nothing(&bed, &b).await;
    // B's own device run finds no mapped organization, whatever A mapped.
    let r = run(&bed, &b, SyncType::Devices).await;
    assert_eq!((r.status, r.counts.items_processed), (SyncRunStatus::Succeeded, 0));
    assert!(r.message.is_some_and(|m| m.contains("map organizations")));
    assert!(bed.store.list_assets(&b).await.unwrap().is_empty());
    assert_eq!(bed.store.list_assets(&a).await.unwrap().len(), 5);
}
