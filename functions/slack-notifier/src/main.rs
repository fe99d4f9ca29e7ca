//! Slack notifier Lambda: CloudWatch Logs subscription events and S3 object notifications to Slack.
//! Wiring only: configuration, secret and clients once at cold start, then the runtime loop.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use logpipe_io::lambda::{cold_start, log_init_error, Deadline};
use logpipe_io::store::S3Store;
use slack_notifier::aws::{load_destinations, load_target, HttpSlack};
use slack_notifier::memory::dynamodb::DynamoTable;
use slack_notifier::{report, Config, Notifier};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (cfg, sdk) = cold_start(Config::from_env).await?;
    let target = load_target(&cfg, &sdk)
        .await
        .inspect_err(log_init_error("cannot read the Slack secret"))?;
    let named = load_destinations(&cfg, &sdk)
        .await
        .inspect_err(log_init_error("cannot read a destination's Slack secret"))?;
    let slack = Arc::new(HttpSlack::new(target, cfg.request_timeout)?);
    let store = Arc::new(S3Store::from_env(&sdk));
    let memory = cfg
        .suppress_table
        .as_deref()
        .map(|t| DynamoTable::new(&sdk, t));
    let timeout = cfg.request_timeout;
    let mut notifier = Notifier::with_memory(cfg, store, slack, memory);
    for (name, target) in named {
        notifier = notifier.with_destination(&name, Arc::new(HttpSlack::new(target, timeout)?));
    }
    let notifier = Arc::new(notifier);
    let notifier = &notifier;
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<serde_json::Value>| async move {
            let deadline = Deadline::of(&ev.context, notifier.cfg.common.deadline_margin);
            let (result, summary) = notifier
                .handle_as(
                    &ev.context.request_id,
                    &ev.payload,
                    deadline,
                    logcore::base::time::now_ms(),
                )
                .await;
            report(&notifier.cfg, &ev.context.request_id, &summary);
            result.map_err(Error::from)
        },
    ))
    .await
}
