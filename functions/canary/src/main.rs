//! Canary Lambda: on a schedule, write a heartbeat and check the earlier ones hop by hop.
//! Wiring only: configuration and clients once at cold start, then the runtime loop.

use canary::aws::AwsLogs;
use canary::{report, run, Config};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use s3_search_forwarder::aws::{HttpSearch, S3Store};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cfg = logcore::runtime::start(Config::from_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let logs = AwsLogs::new(&sdk);
    let objects = S3Store::from_env(&sdk);
    let search = match &cfg.search {
        Some(ep) => Some(HttpSearch::connect(ep, 1, &sdk).await.inspect_err(|e| {
            tracing::error!(error = %e, "cannot set up the search client");
        })?),
        None => None,
    };
    let (cfg, logs, objects, search) = (&cfg, &logs, &objects, search.as_ref());
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<serde_json::Value>| async move {
            let (summary, outcomes) =
                run(cfg, logs, objects, search, logcore::time::now_ms()).await?;
            report(cfg, &ev.context.request_id, &summary, &outcomes);
            Ok::<_, Error>(())
        },
    ))
    .await
}
