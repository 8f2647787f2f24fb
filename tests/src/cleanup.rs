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
    if let Some(bus) = stack.env.get("EVENT_BUS_NAME") {
        drop_bus(&aws_sdk_eventbridge::Client::new(&sdk), bus).await;
    }
}

/// The stack's event bus with its rules (and their targets) and its archive.
async fn drop_bus(events: &aws_sdk_eventbridge::Client, bus: &str) {
    let rules = events.list_rules().event_bus_name(bus).send().await.ok().and_then(|r| r.rules).unwrap_or_default();
    for rule in rules.iter().filter_map(|r| r.name()) {
        let targets = events.list_targets_by_rule().rule(rule).event_bus_name(bus).send().await;
        let ids: Vec<String> =
            targets.ok().and_then(|t| t.targets).unwrap_or_default().iter().map(|t| t.id().to_owned()).collect();
        if !ids.is_empty() {
            let _ = events.remove_targets().rule(rule).event_bus_name(bus).set_ids(Some(ids)).send().await;
        }
        let _ = events.delete_rule().name(rule).event_bus_name(bus).send().await;
    }
    let _ = events.delete_archive().archive_name(bus).send().await;
    let _ = events.delete_event_bus().name(bus).send().await;
}
