//! In-memory adapters of every port, for tests that should run in milliseconds without LocalStack
//! or the Tactical simulator, and the contract suite both these and the AWS adapters must pass.
//!
//! Behind the `testing` feature: production builds never contain them. The memory adapters mirror
//! the AWS adapters' semantics (conditional writes, lock expiry, paging cursors, batch limits), not
//! just their signatures; where they could differ, the [`contract`] suite decides. See
//! docs/testing.md.

mod bed;
pub mod contract;
mod items;
mod queue;
mod secrets;
mod store;
mod store_alerts;
mod store_inventory;
mod store_software;
mod tactical;
mod tactical_api;

pub use bed::{TestBed, config};
pub use queue::{MemoryEvents, MemoryQueue, QueueProbe};
pub use secrets::{ManualClock, MemorySecrets};
pub use store::MemoryStore;
pub use tactical::{FakeAgent, FakeTactical, Route, TacticalAction};
pub use tactical_api::FakeConnector;
