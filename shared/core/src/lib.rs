//! Core crate of tactical-bridge: the model, the use cases and the ports they run on.
//!
//! Ports and adapters, held by crates: this crate depends on no AWS, HTTP or Lambda crate (a test
//! over `cargo metadata` checks it). [`ports`] holds the store, secrets, queue and event traits,
//! [`tactical`] the Tactical API port and its wire types; the adapters live in `shared-aws`
//! (DynamoDB, Secrets Manager, SQS, EventBridge) and `tactical-client` (reqwest), and
//! `lambda-glue` wires them per function and maps results to HTTP. See docs/architecture.md.

pub mod app;
pub mod auth;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod json;
pub mod messages;
pub mod ports;
pub mod secret_cache;
pub mod tactical;
pub mod tenant;
/// In-memory adapters and the port contract suite (tests only).
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ApiError, ErrorCode};
pub use tenant::TenantId;
