//! The dev bridge: what AWS does for the deployed functions and LocalStack cannot without Docker.
//! It long-polls each sync queue and invokes the consuming function under `cargo lambda watch`
//! with an SQS event (deleting only the messages the function did not report as failed), and it
//! stands in for the EventBridge schedule by invoking the scheduler every `--tick` seconds.

pub async fn main(_args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    Err("the dev bridge is not written yet".into())
}
