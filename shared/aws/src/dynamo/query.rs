//! The one paged-Query loop: every listing of a partition (or of the index) goes through it.

use crate::item::Item;
use crate::port_error;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use shared::ports::PortError;

/// Runs `query` to its last page, handing each page's items to `each` as they arrive (a caller
/// that keeps only part of every item never holds all of them at once).
pub(crate) async fn for_each_page<F>(query: QueryFluentBuilder, mut each: F) -> Result<(), PortError>
where
    F: FnMut(Vec<Item>) -> Result<(), PortError>,
{
    let mut start: Option<Item> = None;
    loop {
        let page = query.clone().set_exclusive_start_key(start.take()).send().await.map_err(port_error)?;
        each(page.items.unwrap_or_default())?;
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(()),
        }
    }
}

/// Every item `query` matches, over all its pages.
pub(crate) async fn query_all(query: QueryFluentBuilder) -> Result<Vec<Item>, PortError> {
    let mut out = Vec::new();
    for_each_page(query, |items| {
        out.extend(items);
        Ok(())
    })
    .await?;
    Ok(out)
}
