use firehose_cwl_transform::{aws::AwsReingest, deadline_from_epoch_ms, run_invocation, Config};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use logcore::firehose::TransformEvent;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
    let cfg = Config::from_env(|k| std::env::var(k).ok())?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sink = AwsReingest::new(&sdk, cfg.call_timeout);
    let (cfg, sink) = (&cfg, &sink);
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<TransformEvent>| async move {
            let deadline = deadline_from_epoch_ms(ev.context.deadline);
            run_invocation(cfg, sink, ev.payload, &ev.context.request_id, deadline)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
