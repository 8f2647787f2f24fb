//! Local development tooling. Not deployed: the functions never depend on this crate.

pub mod provision;
