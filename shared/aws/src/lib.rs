//! AWS adapters of the ports. Endpoints come from the standard `AWS_ENDPOINT_URL` variables; there
//! is no LocalStack branch in production code.

pub mod alerts;
pub mod audit;
pub mod dynamo;
pub mod events;
pub mod inventory;
pub mod item;
pub mod keys;
pub mod secrets;
pub mod sharding;
pub mod software;
pub mod sqs;
pub mod status;

pub use dynamo::DynamoStore;
pub use events::EventBridgePublisher;
pub use secrets::SecretsManagerStore;
pub use sqs::SqsQueue;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use shared::ports::PortError;

/// A conditional write's outcome: `false` when its condition did not hold (lost a race, or the
/// state moved on), an error for anything else.
pub(crate) fn applied<T>(r: Result<T, PortError>) -> Result<bool, PortError> {
    match r {
        Ok(_) => Ok(true),
        Err(PortError::ConditionFailed(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Shared AWS SDK configuration, loaded once per cold start.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Maps an SDK error to a port error without leaking request contents.
pub(crate) fn port_error<E, R>(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let code = err.code().unwrap_or("").to_owned();
    match code.as_str() {
        "ThrottlingException"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException" => PortError::Throttled,
        "ConditionalCheckFailedException" | "TransactionCanceledException" => {
            PortError::ConditionFailed(err.message().unwrap_or("condition failed").to_owned())
        }
        _ => {
            let msg = err.message().map(str::to_owned).unwrap_or_else(|| match &err {
                aws_sdk_dynamodb::error::SdkError::DispatchFailure(d) => format!("dispatch failure: {d:?}"),
                aws_sdk_dynamodb::error::SdkError::TimeoutError(_) => "timeout".into(),
                other => format!("{other:?}").chars().take(300).collect(),
            });
            PortError::Other(if code.is_empty() { msg } else { format!("{code}: {msg}") })
        }
    }
}
