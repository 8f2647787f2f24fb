//! Connect, test, disconnect (domain/connection.rs `ConnectionService`) on the in-memory
//! adapters: what tests/it/connection.rs checks on LocalStack and the simulator.

mod common;

use common::{URL, connect, run, tenant};
use secrecy::SecretString;
use shared::ErrorCode;
use shared::domain::Schedule;
use shared::domain::connection::{ConnectionService, SaveSettings, SchedulesPatch, TestRequest};
use shared::messages::SyncType;
use shared::ports::{InventoryStore, SecretName, SecretStore, Store};
use shared::testing::{Route, TestBed};

fn api_key(url: &str, key: &str) -> SaveSettings {
    SaveSettings { instance_url: Some(url.into()), api_key: Some(SecretString::from(key)), ..Default::default() }
}

#[tokio::test]
async fn save_validates_each_field_and_names_the_bad_one() {
    let (bed, t) = (TestBed::new(), tenant("conn-validate"));
    let svc = ConnectionService::new(&bed.deps);
    let field = |r: Result<_, shared::ApiError>| r.unwrap_err().field;
    assert_eq!(
        field(svc.save(&t, api_key("not a url", "K".repeat(32).as_str())).await).as_deref(),
        Some("instance_url")
    );
    // Plain http is refused by the HTTP connector's `check_address`, which `FakeConnector` does
    // not imitate: that rule is tested with the connector (shared/tactical).
    assert_eq!(field(svc.save(&t, api_key(URL, "   ")).await).as_deref(), Some("api_key"));
    let both = SaveSettings { username: Some("tech".into()), ..api_key(URL, "key") };
    assert_eq!(field(svc.save(&t, both).await).as_deref(), Some("auth_mode"));
    let schedules =
        SchedulesPatch { device_sync: Some(Schedule { enabled: true, interval_minutes: 1 }), ..Default::default() };
    let bad = SaveSettings { schedules, ..api_key(URL, "key") };
    assert_eq!(field(svc.save(&t, bad).await).as_deref(), Some("schedules.device_sync.interval_minutes"));
    assert!(bed.store.get_integration(&t).await.unwrap().is_none(), "nothing saved from a refused body");
    assert!(bed.secrets.get(&t, SecretName::ApiKey).await.unwrap().is_none());
}

#[tokio::test]
async fn a_test_activates_the_saved_connection() {
    let (bed, t) = (TestBed::new(), tenant("conn-test"));
    let svc = ConnectionService::new(&bed.deps);
    let saved = svc.save(&t, api_key(URL, " KEY-0123456789abcdef ")).await.unwrap();
    assert!(!saved.is_active, "saving credentials does not activate");
    let r = svc.test(&t, TestRequest::default()).await.unwrap();
    assert!(r.success, "{r:?}");
    assert_eq!((r.clients, r.agents), (Some(2), Some(5)));
    let integ = bed.store.get_integration(&t).await.unwrap().unwrap();
    assert!(integ.is_active && integ.connected_at.is_some());
    assert_eq!(bed.connector.connections().last().cloned(), Some((URL.to_owned(), "api_key")));

    // Tactical refuses the key: the test says why and nothing is activated.
    let (bed2, t2) = (TestBed::new(), tenant("conn-test-refused"));
    let svc2 = ConnectionService::new(&bed2.deps);
    svc2.save(&t2, api_key(URL, "KEY-0123456789abcdef")).await.unwrap();
    bed2.tactical
        .fail_next(Route::Clients, shared::tactical::TacticalError::Unauthorized { detail: "Invalid token.".into() });
    let r = svc2.test(&t2, TestRequest::default()).await.unwrap();
    assert!(!r.success);
    assert_eq!(r.error.map(|e| e.code), Some(ErrorCode::TacticalAuthFailed));
    assert!(!bed2.store.get_integration(&t2).await.unwrap().unwrap().is_active);
}

#[tokio::test]
async fn a_blocked_address_is_refused() {
    let (bed, t) = (TestBed::new(), tenant("conn-blocked"));
    bed.connector.block("tactical.example.com");
    let e = ConnectionService::new(&bed.deps).save(&t, api_key(URL, "KEY-0123456789abcdef")).await.unwrap_err();
    assert_eq!((e.code, e.field.as_deref()), (ErrorCode::BlockedAddress, Some("instance_url")));
    assert!(bed.store.get_integration(&t).await.unwrap().is_none());
    assert!(bed.secrets.get(&t, SecretName::ApiKey).await.unwrap().is_none(), "the key is not kept either");
    assert_eq!(bed.tactical.calls(Route::Probe), 0);
}

#[tokio::test]
async fn a_new_url_needs_the_credentials_again() {
    let (bed, t) = (TestBed::new(), tenant("conn-rebind"));
    connect(&bed, &t).await;
    let svc = ConnectionService::new(&bed.deps);
    let moved = SaveSettings { instance_url: Some("https://elsewhere.example.com".into()), ..Default::default() };
    assert_eq!(svc.save(&t, moved).await.unwrap_err().field.as_deref(), Some("api_key"));
    assert!(bed.secrets.get(&t, SecretName::ApiKey).await.unwrap().is_some(), "a refused save changes nothing");
}

#[tokio::test]
async fn disconnect_keeps_mappings_and_deletes_secrets() {
    let (bed, t) = (TestBed::new(), tenant("conn-disconnect"));
    connect(&bed, &t).await;
    run(&bed, &t, SyncType::Clients).await;
    let integ = ConnectionService::new(&bed.deps).disconnect(&t).await.unwrap();
    assert!(!integ.is_active && integ.disconnected_at.is_some());
    for name in SecretName::ALL {
        assert!(bed.secrets.get(&t, name).await.unwrap().is_none(), "{name:?} deleted");
    }
    assert_eq!(bed.store.list_org_mappings(&t).await.unwrap().len(), 2, "mappings stay for a reconnect");
    let again = ConnectionService::new(&bed.deps).disconnect(&tenant("conn-never")).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::IntegrationNotConfigured);
}

#[tokio::test]
async fn a_second_tenant_on_the_same_bed_sees_nothing_of_the_first() {
    let (bed, a, b) = (TestBed::new(), tenant("conn-iso-a"), tenant("conn-iso-b"));
    connect(&bed, &a).await;
    let svc = ConnectionService::new(&bed.deps);
    let view = svc.settings(&b).await.unwrap();
    assert!(!view.is_active && view.instance_url.is_none() && !view.credentials.has_api_key);
    assert!(bed.store.get_integration(&b).await.unwrap().is_none());
    assert!(svc.test(&b, TestRequest::default()).await.is_err(), "B cannot test A's connection");
    svc.disconnect(&a).await.unwrap();
    connect(&bed, &b).await;
    assert!(bed.store.get_integration(&b).await.unwrap().unwrap().is_active, "A's disconnect is not B's");
}
