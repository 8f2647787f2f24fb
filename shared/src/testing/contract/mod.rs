//! The port contract: what every adapter of a port must do, as async functions over `&dyn` ports
//! and a fresh tenant. Run against the memory adapters (shared/tests/contract_memory.rs) and the
//! AWS adapters on LocalStack (tests/it/contract.rs), so the two cannot drift apart.
//!
//! Each function panics (assert) on a broken promise; it only asserts what the port's
//! documentation promises, never how an adapter keeps it.
