//! The AWS adapters against LocalStack's real APIs.

use integration_tests::*;
use secrecy::{ExposeSecret, SecretString};
use shared::domain::integration::{AuthMode, IntegrationPatch, Schedule, ScheduleKind};
use shared::domain::sync_run::new_run_id;
use shared::domain::{SyncRun, SyncRunStatus};
use shared::messages::{QueueKind, SyncMessage, SyncType, Trigger};
use shared::ports::{RunProgress, SecretName, StartOutcome};
use shared::tactical::InstanceUrl;

#[tokio::test]
async fn secrets_are_per_tenant_and_deletable() {
    let stack = shared_stack().await;
    let deps = deps(&stack).await;
    let (a, b) = (tenant("sec-a"), tenant("sec-b"));
    deps.secrets.put(&a, SecretName::ApiKey, &SecretString::from("KEY-A-0000000000")).await.unwrap();
    deps.secrets.put(&a, SecretName::ApiKey, &SecretString::from("KEY-A-1111111111")).await.unwrap();
    let got = deps.secrets.get(&a, SecretName::ApiKey).await.unwrap().unwrap();
    assert_eq!(got.expose_secret(), "KEY-A-1111111111", "put overwrites");
    assert!(deps.secrets.get(&b, SecretName::ApiKey).await.unwrap().is_none(), "tenant b sees nothing of a");
    deps.secrets.delete(&a, SecretName::ApiKey).await.unwrap();
    assert!(deps.secrets.get(&a, SecretName::ApiKey).await.unwrap().is_none());
    deps.secrets.delete(&a, SecretName::ApiKey).await.unwrap();
}

#[tokio::test]
async fn saving_credentials_never_wipes_schedules() {
    let stack = shared_stack().await;
    let deps = deps(&stack).await;
    let t = tenant("patch");
    let sched = Schedule { enabled: true, interval_minutes: 30 };
    deps.store
        .patch_integration(
            &t,
            &IntegrationPatch { schedules: vec![(ScheduleKind::DeviceSync, sched)], ..Default::default() },
        )
        .await
        .unwrap();
    let after = deps
        .store
        .patch_integration(
            &t,
            &IntegrationPatch {
                instance_url: Some(InstanceUrl::parse("https://api.example.com").unwrap()),
                auth_mode: Some(AuthMode::ApiKey),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(after.device_sync, Some(sched));
    assert_eq!(after.auth_mode, Some(AuthMode::ApiKey));
    assert!(!after.is_active);
    let read = deps.store.get_integration(&t).await.unwrap().unwrap();
    assert_eq!(read, after);
}

#[tokio::test]
async fn active_integrations_are_listed_for_the_scheduler() {
    let stack = own_stack("active").await;
    let deps = deps(&stack).await;
    let (on, off) = (tenant("on"), tenant("off"));
    deps.store.patch_integration(&on, &IntegrationPatch { is_active: Some(true), ..Default::default() }).await.unwrap();
    deps.store
        .patch_integration(&off, &IntegrationPatch { is_active: Some(true), ..Default::default() })
        .await
        .unwrap();
    deps.store
        .patch_integration(&off, &IntegrationPatch { is_active: Some(false), ..Default::default() })
        .await
        .unwrap();
    let listed: Vec<String> =
        deps.store.list_active_integrations().await.unwrap().into_iter().map(|i| i.tenant.to_string()).collect();
    assert_eq!(listed, vec![on.to_string()]);
}

fn run(t: &shared::TenantId, st: SyncType) -> SyncRun {
    SyncRun {
        tenant: t.clone(),
        run_id: new_run_id(),
        sync_type: st,
        trigger: Trigger::Manual,
        status: SyncRunStatus::Queued,
        started_at: shared::domain::time::now_rfc3339(),
        finished_at: None,
        counts: Default::default(),
        pending: 1,
        errors: vec![],
        message: None,
    }
}

#[tokio::test]
async fn two_starts_at_once_make_one_run() {
    let stack = shared_stack().await;
    let deps = deps(&stack).await;
    let t = tenant("lock");
    let (r1, r2) = (run(&t, SyncType::Devices), run(&t, SyncType::Devices));
    let (a, b) = tokio::join!(deps.store.try_start_run(&r1, 600), deps.store.try_start_run(&r2, 600));
    let outcomes = [a.unwrap(), b.unwrap()];
    let started: Vec<_> = outcomes.iter().filter(|o| matches!(o, StartOutcome::Started(_))).collect();
    assert_eq!(started.len(), 1, "{outcomes:?}");
    let StartOutcome::Started(winner) = started[0] else { unreachable!() };
    assert!(outcomes.iter().any(|o| matches!(o, StartOutcome::AlreadyRunning { run_id } if *run_id == winner.run_id)));
    // Another sync type is not blocked.
    assert!(matches!(
        deps.store.try_start_run(&run(&t, SyncType::Alerts), 600).await.unwrap(),
        StartOutcome::Started(_)
    ));
    // Progress adds up atomically, finishing releases the lock once.
    let p = RunProgress {
        counts: shared::domain::SyncCounts { items_processed: 5, ..Default::default() },
        pending_delta: -1,
        errors: vec!["x".into()],
        work_item: Some("page#1#1".into()),
        undo_item: None,
    };
    let after = deps.store.add_run_progress(&t, SyncType::Devices, &winner.run_id, &p).await.unwrap().unwrap();
    assert_eq!((after.counts.items_processed, after.pending, after.errors.len()), (5, 0, 1));
    // The same work item delivered again is not counted twice.
    assert!(deps.store.add_run_progress(&t, SyncType::Devices, &winner.run_id, &p).await.unwrap().is_none());
    assert_eq!(
        deps.store.get_run(&t, SyncType::Devices, &winner.run_id).await.unwrap().unwrap().counts.items_processed,
        5
    );
    assert!(
        deps.store.finish_run(&t, SyncType::Devices, &winner.run_id, SyncRunStatus::Succeeded, None).await.unwrap()
    );
    assert!(!deps.store.finish_run(&t, SyncType::Devices, &winner.run_id, SyncRunStatus::Failed, None).await.unwrap());
    let latest = deps.store.latest_run(&t, SyncType::Devices).await.unwrap().unwrap();
    assert_eq!(latest.status, SyncRunStatus::Succeeded);
    assert!(matches!(
        deps.store.try_start_run(&run(&t, SyncType::Devices), 600).await.unwrap(),
        StartOutcome::Started(_)
    ));
}

#[tokio::test]
async fn queue_messages_arrive_as_json_and_poison_goes_to_the_dlq() {
    let stack = own_stack("sqs").await;
    let deps = deps(&stack).await;
    let t = tenant("q");
    let msgs: Vec<SyncMessage> = (0..23)
        .map(|i| SyncMessage::DevicePage {
            tenant: t.clone(),
            run_id: "r".into(),
            client_id: 1,
            page: i + 1,
            page_size: 1000,
            baseline: (i % 2 == 0).then(|| "r0".into()),
            fresh: i % 3 == 0,
            count: (i > 0).then_some(2300),
        })
        .collect();
    deps.queue.send(QueueKind::SyncDevices, &msgs).await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk().await);
    let url = stack.queue_urls["SyncDevicesQueue"].clone();
    let mut got = Vec::new();
    while got.len() < 23 {
        let out =
            sqs.receive_message().queue_url(&url).max_number_of_messages(10).wait_time_seconds(2).send().await.unwrap();
        let batch = out.messages.unwrap_or_default();
        assert!(!batch.is_empty(), "queue ran dry after {} messages", got.len());
        for m in batch {
            got.push(serde_json::from_str::<SyncMessage>(m.body().unwrap()).unwrap());
            sqs.delete_message().queue_url(&url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    let mut pages: Vec<u32> = got
        .iter()
        .map(|m| match m {
            SyncMessage::DevicePage { page, .. } => *page,
            _ => 0,
        })
        .collect();
    pages.sort();
    assert_eq!(pages, (1..=23).collect::<Vec<_>>());

    // A message received maxReceiveCount times without being deleted moves to the DLQ.
    deps.queue.send(QueueKind::SyncDevices, &msgs[..1]).await.unwrap();
    for _ in 0..5 {
        let out =
            sqs.receive_message().queue_url(&url).wait_time_seconds(2).visibility_timeout(0).send().await.unwrap();
        assert_eq!(out.messages.unwrap_or_default().len(), 1);
    }
    let dlq = stack.dlq_url("SyncDevicesQueue").unwrap().clone();
    // The sixth receive finds the redrive done.
    let out = sqs.receive_message().queue_url(&url).wait_time_seconds(1).send().await.unwrap();
    assert!(out.messages.unwrap_or_default().is_empty());
    let dead = sqs.receive_message().queue_url(&dlq).wait_time_seconds(2).send().await.unwrap();
    assert_eq!(dead.messages.unwrap_or_default().len(), 1);
}
