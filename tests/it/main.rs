//! Integration tests. They need LocalStack (infra/localstack.sh start); the README's test command
//! starts it.

mod aws_adapters;
mod connection;
mod remote_actions;
mod sync;
mod template;
