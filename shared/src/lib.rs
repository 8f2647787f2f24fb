//! Core crate of tactical-bridge, shared by every Lambda function.
//!
//! Layout follows ports and adapters: [`domain`] is plain Rust, [`ports`] are the small traits the
//! domain needs (Tactical API, store, secrets, queue), [`aws`] and [`tactical::http`] are the
//! adapters. Function crates wire adapters once per cold start and call into the domain.

pub mod app;
pub mod auth;
pub mod aws;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod http;
pub mod lambda;
pub mod messages;
pub mod ports;
pub mod tactical;
pub mod telemetry;
pub mod tenant;
/// In-memory adapters and the port contract suite (tests only).
#[cfg(feature = "testing")]
pub mod testing;
pub mod worker;

pub use error::{ApiError, ErrorCode};
pub use tenant::TenantId;
