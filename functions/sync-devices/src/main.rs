//! Lambda entry point: build clients once per cold start, then serve invocations.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_glue::telemetry::init();
    let deps = lambda_glue::Deps::from_env_for_worker()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cold start failed"))?;
    lambda_glue::lambda::run(move |inv| {
        let deps = deps.clone();
        async move { sync_devices::invoke(&deps, inv).await }
    })
    .await
}
