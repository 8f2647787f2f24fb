//! The webhook secret's digests on the integration item (domain/webhook_settings.rs) on the
//! in-memory adapters: what rotation and the backfill write, and what the webhook then accepts.
//! tests/it/webhook_digests.rs checks the same through the functions on LocalStack.

mod common;

use common::{connect, tenant};
use secrecy::{ExposeSecret, SecretString};
use shared::TenantId;
use shared::domain::connection::ConnectionService;
use shared::domain::webhook_settings::{AcceptedSecrets, backfill_digests, digest, rotate};
use shared::domain::{IntegrationPatch, WebhookDigests};
use shared::ports::{SecretName, SecretStore, Store};
use shared::testing::TestBed;

async fn accepted(bed: &TestBed, t: &TenantId) -> AcceptedSecrets {
    AcceptedSecrets::from_integration(bed.store.get_integration(t).await.unwrap().as_ref())
}

fn hex(secret: &SecretString) -> Option<String> {
    Some(digest(secret))
}

#[tokio::test]
async fn a_rotation_retried_after_a_failed_item_write_keeps_the_secret_tactical_has_as_previous() {
    let (bed, t) = (TestBed::new(), tenant("digest-retry"));
    connect(&bed, &t).await;
    let first = rotate(bed.store.as_ref(), bed.secrets.as_ref(), &t, false).await.unwrap();
    // A rotation wrote its secret to the bundle, then failed before the item write.
    let unpublished = SecretString::from("9".repeat(48));
    bed.secrets.put(&t, SecretName::WebhookSecret, &unpublished).await.unwrap();
    assert!(accepted(&bed, &t).await.accepts(first.expose_secret()), "the item still says `first`");
    let second = rotate(bed.store.as_ref(), bed.secrets.as_ref(), &t, false).await.unwrap();
    let integ = bed.store.get_integration(&t).await.unwrap().unwrap();
    assert_eq!(integ.webhook_digests, Some(WebhookDigests { current: hex(&second), previous: hex(&first) }));
    let acc = accepted(&bed, &t).await;
    assert!(acc.accepts(second.expose_secret()) && acc.accepts(first.expose_secret()));
    assert!(!acc.accepts(unpublished.expose_secret()), "never handed to anyone");
}

#[tokio::test]
async fn the_backfill_records_the_previous_digest_only_within_its_grace_period() {
    let bed = TestBed::new();
    let (current, previous) = (SecretString::from("c".repeat(48)), SecretString::from("p".repeat(48)));
    for (label, until, expect_previous) in
        [("digest-grace", "2999-01-01T00:00:00Z", true), ("digest-over", "2000-01-01T00:00:00Z", false)]
    {
        // An item from before digests: secrets in the bundle, a grace period, no digests.
        let t = tenant(label);
        connect(&bed, &t).await;
        bed.secrets.put(&t, SecretName::WebhookSecret, &current).await.unwrap();
        bed.secrets.put(&t, SecretName::WebhookSecretPrevious, &previous).await.unwrap();
        let grace = IntegrationPatch { webhook_previous_valid_until: Some(Some(until.into())), ..Default::default() };
        let integ = bed.store.patch_integration(&t, &grace).await.unwrap();
        assert_eq!(integ.webhook_digests, None);
        let acc = accepted(&bed, &t).await;
        assert!(acc.digests_missing && !acc.accepts(current.expose_secret()), "{label}: refused until recorded");

        backfill_digests(bed.store.as_ref(), bed.secrets.as_ref(), &t, &integ).await;
        let want = WebhookDigests { current: hex(&current), previous: hex(&previous).filter(|_| expect_previous) };
        assert_eq!(bed.store.get_integration(&t).await.unwrap().unwrap().webhook_digests, Some(want), "{label}");
        let acc = accepted(&bed, &t).await;
        assert!(acc.accepts(current.expose_secret()), "{label}");
        assert_eq!(acc.accepts(previous.expose_secret()), expect_previous, "{label}");
    }
}

#[tokio::test]
async fn a_settings_read_backfills_once_and_disconnect_clears() {
    let (bed, t) = (TestBed::new(), tenant("digest-settings"));
    connect(&bed, &t).await;
    let secret = SecretString::from("s".repeat(48));
    bed.secrets.put(&t, SecretName::WebhookSecret, &secret).await.unwrap();
    let svc = ConnectionService::new(&bed.deps);
    svc.settings(&t).await.unwrap();
    let recorded = bed.store.get_integration(&t).await.unwrap().unwrap().webhook_digests;
    assert_eq!(recorded, Some(WebhookDigests { current: hex(&secret), previous: None }));
    // Recorded: a later read leaves them, even when the bundle differs (only rotations write them).
    bed.secrets.put(&t, SecretName::WebhookSecret, &SecretString::from("x".repeat(48))).await.unwrap();
    svc.settings(&t).await.unwrap();
    assert_eq!(bed.store.get_integration(&t).await.unwrap().unwrap().webhook_digests, recorded);
    svc.disconnect(&t).await.unwrap();
    assert_eq!(bed.store.get_integration(&t).await.unwrap().unwrap().webhook_digests, Some(WebhookDigests::default()));
    assert!(!accepted(&bed, &t).await.accepts(secret.expose_secret()));
}
