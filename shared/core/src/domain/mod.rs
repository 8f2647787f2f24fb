//! Domain types and logic, plain Rust over the ports. Names follow the admin guide:
//! rmm_integrations, organization mappings, assets, external entity mappings, rmm_alerts,
//! software catalog, sync runs.

// Everything here reads untrusted Tactical data in workers shared by all tenants, and release
// builds abort on a panic: no unwrap/expect/panic and no lossy `as` cast outside tests
// (checked conversions instead; a justified exception carries its own `allow` and reason).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss
    )
)]

pub mod alert_flow;
pub mod alerts;
pub mod asset;
pub mod audit;
pub mod connection;
pub mod integration;
pub mod limits;
pub mod mapping;
pub mod remote;
pub mod run_metrics;
pub mod software;
pub mod status;
pub mod status_refresh;
pub mod summary;
pub mod sync;
pub mod sync_run;
pub mod time;
pub mod vitals;
pub mod webhook_payload;
pub mod webhook_settings;

pub use integration::{AuthMode, IntegrationPatch, RmmIntegration, Schedule, ScheduleKind, WebhookDigests};
pub use sync_run::{SyncCounts, SyncRun, SyncRunStatus};
