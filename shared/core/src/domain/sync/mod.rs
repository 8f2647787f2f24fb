//! Sync runs end to end: start (one run per tenant and type), clients, and devices fanned out
//! one beta-API page per queue message (admin guide "Sync clients" and "Sync devices").

mod access;
mod alerts;
mod clients;
mod devices;
mod error;
mod messages;
mod missing;
mod run;

use access::connection;
pub(crate) use access::{active_integration, client_for, note_auth_failure};
use alerts::{alert_follow_up, run_alerts};
use clients::run_clients;
pub(crate) use devices::fan_out;
use devices::{DRIFT_PART, FRESH_PART, PageAt, device_page, fan_out_devices};
pub use devices::{Prior, keep_status, refresh_agent, upsert_agents};
pub use error::TacticalErrorOrApi;
pub use messages::handle_message;
pub(crate) use messages::with_renewal;
use missing::flag_missing_assets;
pub use run::{Started, start};
use run::{fail_run, finish_work_item};

/// SQS attempts (maxReceiveCount in template.yaml): on the last one a failing work item is
/// recorded as failed on the run instead of being retried into the DLQ unseen.
pub const MAX_RECEIVES: u32 = 5;

/// What a queue message handler tells the SQS adapter.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Leave the message for SQS to redeliver (transient failure, attempts left).
    Retry(String),
}
