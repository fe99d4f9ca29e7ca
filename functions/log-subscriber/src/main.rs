//! Log subscriber Lambda: EventBridge (CloudTrail `CreateLogGroup`, and a schedule) to subscription filters.
//! Wiring only: configuration and client once at cold start, then the runtime loop.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use log_subscriber::aws::AwsLogs;
use log_subscriber::{handle, report, Config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cfg = logcore::runtime::start(Config::from_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let logs = AwsLogs::new(&sdk);
    let (cfg, logs) = (&cfg, &logs);
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<serde_json::Value>| async move {
            let deadline = tokio::time::Instant::now()
                + logcore::time::until_epoch_ms(ev.context.deadline)
                    .saturating_sub(std::time::Duration::from_secs(2));
            let (result, summary) = handle(cfg, logs, &ev.payload, deadline).await;
            report(cfg, &ev.context.request_id, &summary);
            result.map_err(Error::from)
        },
    ))
    .await
}
