//! Log subscriber Lambda: EventBridge (CloudTrail `CreateLogGroup`, and a schedule) to subscription filters.
//! Wiring only: configuration and client once at cold start, then the runtime loop.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use log_subscriber::aws::AwsLogs;
use log_subscriber::{handle, report, Config};
use logpipe_io::lambda::{cold_start, Deadline};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (cfg, sdk) = cold_start(Config::from_env).await?;
    let logs = AwsLogs::new(&sdk);
    let (cfg, logs) = (&cfg, &logs);
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<serde_json::Value>| async move {
            // The call in flight and the report finish inside the margin.
            let deadline = Deadline::of(&ev.context, cfg.common.deadline_margin);
            let (result, summary) = handle(cfg, logs, &ev.payload, deadline).await;
            report(cfg, &ev.context.request_id, &summary);
            result.map_err(Error::from)
        },
    ))
    .await
}
