//! Search forwarder Lambda: S3 object notifications (direct, SNS, SQS, EventBridge) to `_bulk` indexing.
//! Wiring only: configuration and clients once at cold start, then the runtime loop.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use s3_search_forwarder::aws::{HttpSearch, S3Store};
use s3_search_forwarder::setup::at_cold_start;
use s3_search_forwarder::{handle, report, Config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cfg = logcore::runtime::start(Config::from_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = Arc::new(S3Store::from_env(&sdk));
    let search = Arc::new(HttpSearch::new(&cfg, &sdk).await.inspect_err(|e| {
        tracing::error!(error = %e, "cannot set up the search client");
    })?);
    if let Some(layout) = &cfg.setup {
        at_cold_start(search.as_ref(), layout, cfg.endpoint.hosting()).await?;
    }
    let (cfg, store, search) = (&cfg, &store, &search);
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<serde_json::Value>| async move {
            let deadline =
                tokio::time::Instant::now() + logcore::time::until_epoch_ms(ev.context.deadline);
            let (result, summary) = handle(cfg, store, search, &ev.payload, deadline).await;
            report(cfg, &ev.context.request_id, &summary);
            result.map_err(Error::from)
        },
    ))
    .await
}
