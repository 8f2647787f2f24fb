//! Integration tests. They need LocalStack (infra/localstack.sh start); the README's test command
//! starts it.

mod alerts;
mod aws_adapters;
mod change_detection;
mod concurrency;
mod connection;
mod faults;
mod fleet;
mod hygiene;
mod isolation;
mod openapi;
mod remote_actions;
mod software;
mod sync;
mod template;
