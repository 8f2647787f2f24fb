//! Removing a finished test's stack from the shared LocalStack. moto's TransactWriteItems copies
//! every table of the account (for its rollback), under the provider's single DynamoDB lock, so
//! tables left behind slow every later transaction of everyone using the same LocalStack. The
//! reliability tests call this when they pass (a failing test keeps its stack to look at).

use devtools::provision::Provisioned;

pub async fn drop_stack(stack: &Provisioned) {
    let sdk = crate::sdk().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let _ = ddb.delete_table().table_name(&stack.table_name).send().await;
    if let Some(audit) = stack.env.get("AUDIT_TABLE_NAME") {
        let _ = ddb.delete_table().table_name(audit).send().await;
    }
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for url in stack.queue_urls.values() {
        let _ = sqs.delete_queue().queue_url(url).send().await;
    }
}
