//! Integration tests. They need LocalStack (infra/localstack.sh start); the README's test command
//! starts it.

mod alert_events;
mod alert_links;
mod alerts;
mod architecture;
mod aws_adapters;
mod change_detection;
mod close_the_loop;
mod concurrency;
mod connection;
mod contract;
mod deadlines;
mod faults;
mod fleet;
mod hostile;
mod hygiene;
mod isolation;
mod open_alerts;
mod openapi;
mod relogin;
mod remote_actions;
mod secret_bundle;
mod security;
mod sharding;
mod software;
mod spans;
mod status;
mod sync;
mod template;
mod webhook_digests;
