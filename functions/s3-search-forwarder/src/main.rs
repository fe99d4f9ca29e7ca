//! Search forwarder Lambda: S3 object notifications (direct, SNS, SQS, EventBridge) to `_bulk` indexing.
//! Wiring only: configuration and clients once at cold start, then the runtime loop.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use logpipe_io::lambda::{cold_start, log_init_error, Deadline};
use logpipe_io::store::S3Store;
use s3_search_forwarder::aws::connect;
use s3_search_forwarder::setup::at_cold_start;
use s3_search_forwarder::{handle, report, Config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (cfg, sdk) = cold_start(Config::from_env).await?;
    let store = Arc::new(S3Store::from_env(&sdk));
    let search = connect(&cfg, &sdk)
        .await
        .inspect_err(log_init_error("cannot set up the search client"))?;
    let search = Arc::new(search);
    if let Some(layout) = &cfg.setup {
        at_cold_start(search.as_ref(), layout, cfg.endpoint.hosting()).await?;
    }
    let (cfg, store, search) = (&cfg, &store, &search);
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<serde_json::Value>| async move {
            let deadline = Deadline::of(&ev.context, cfg.common.deadline_margin);
            let (result, summary) = handle(cfg, store, search, &ev.payload, deadline).await;
            report(cfg, &ev.context.request_id, &summary);
            result.map_err(Error::from)
        },
    ))
    .await
}
