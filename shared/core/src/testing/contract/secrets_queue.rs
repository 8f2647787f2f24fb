//! Per-tenant secrets and the sync queues.

use crate::messages::{QueueKind, SyncMessage, SyncType, Trigger};
use crate::ports::{MessageQueue, SecretName, SecretStore};
use crate::tenant::TenantId;
use crate::testing::QueueProbe;
use secrecy::{ExposeSecret, SecretString};

pub async fn secrets_are_per_tenant(secrets: &dyn SecretStore, a: &TenantId, b: &TenantId) {
    let get = |t: &TenantId, n: SecretName| {
        let t = t.clone();
        async move { secrets.get(&t, n).await.unwrap().map(|s| s.expose_secret().to_owned()) }
    };
    assert_eq!(get(a, SecretName::ApiKey).await, None);
    secrets.put(a, SecretName::ApiKey, &SecretString::from("KEY-A-0000000000")).await.unwrap();
    secrets.put(a, SecretName::ApiKey, &SecretString::from("KEY-A-1111111111")).await.unwrap();
    secrets.put(a, SecretName::WebhookSecret, &SecretString::from("whsec-a")).await.unwrap();
    assert_eq!(get(a, SecretName::ApiKey).await.as_deref(), Some("KEY-A-1111111111"), "put overwrites");
    assert_eq!(get(a, SecretName::WebhookSecret).await.as_deref(), Some("whsec-a"), "secrets are by name");
    assert_eq!(get(b, SecretName::ApiKey).await, None, "tenant b sees nothing of a");
    secrets.delete(a, SecretName::ApiKey).await.unwrap();
    assert_eq!(get(a, SecretName::ApiKey).await, None);
    secrets.delete(a, SecretName::ApiKey).await.unwrap();
    secrets.delete(b, SecretName::Password).await.unwrap();
    secrets.put(a, SecretName::ApiKey, &SecretString::from("KEY-A-2222222222")).await.unwrap();
    assert_eq!(
        get(a, SecretName::ApiKey).await.as_deref(),
        Some("KEY-A-2222222222"),
        "a deleted secret can be written again"
    );
    assert_eq!(get(a, SecretName::WebhookSecret).await.as_deref(), Some("whsec-a"), "deleting one keeps the others");
    // The whole bundle in one read: the tenant's values only.
    let bundle = secrets.bundle(a).await.unwrap();
    let value = |n: SecretName| bundle.get(n).map(|s| s.expose_secret().to_owned());
    assert_eq!(value(SecretName::ApiKey).as_deref(), Some("KEY-A-2222222222"));
    assert_eq!(value(SecretName::WebhookSecret).as_deref(), Some("whsec-a"));
    assert_eq!(value(SecretName::Password), None);
    assert!(secrets.bundle(b).await.unwrap().is_empty(), "tenant b's bundle holds nothing of a");
}

/// Every message sent arrives once, as sent (order is not promised: SQS standard queues).
pub async fn queue_delivers_what_was_sent(queue: &dyn MessageQueue, probe: &dyn QueueProbe, t: &TenantId) {
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
    queue.send(QueueKind::SyncDevices, &msgs).await.unwrap();
    let start = SyncMessage::StartRun {
        tenant: t.clone(),
        run_id: "r".into(),
        sync_type: SyncType::Alerts,
        trigger: Trigger::Schedule,
    };
    queue.send(QueueKind::SyncAlerts, std::slice::from_ref(&start)).await.unwrap();
    queue.send(QueueKind::SyncAlerts, &[]).await.unwrap();
    let mut got = probe.receive(QueueKind::SyncDevices, 23).await;
    let page = |m: &SyncMessage| match m {
        SyncMessage::DevicePage { page, .. } => *page,
        _ => 0,
    };
    got.sort_by_key(page);
    assert_eq!(got, msgs, "every message once, as sent, on its own queue");
    assert_eq!(probe.receive(QueueKind::SyncAlerts, 1).await, vec![start]);
}
