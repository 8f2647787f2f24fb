//! Placeholder until its issue lands: answers every invocation with a clear "not implemented".

use serde_json::Value;
use shared::app::Deps;
use shared::lambda::Invocation;

pub async fn invoke(_deps: &Deps, _inv: Invocation) -> Result<Value, String> {
    Err("not implemented yet".into())
}
