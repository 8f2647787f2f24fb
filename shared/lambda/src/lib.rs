//! The Lambda edge: builds each function's dependencies at cold start ([`app`]), dispatches every
//! kind of invocation ([`lambda`]), consumes queue batches ([`worker`]), verifies PSA tokens
//! ([`jwt`]), maps use-case results and errors to HTTP ([`http`], [`runs_api`]) and sets up
//! telemetry. Function crates are a thin `main.rs` over this and the core.

pub mod app;
pub mod http;
pub mod jwt;
pub mod lambda;
pub mod routes;
pub mod runs_api;
pub mod telemetry;
pub mod worker;

pub use app::Deps;
