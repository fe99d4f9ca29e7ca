//! The Lambda wiring every transform's `main` calls: JSON logs, configuration from the environment, clients
//! built once, then `lambda_runtime::run`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use logcore::firehose::TransformEvent;

use crate::aws::AwsReingest;
use crate::{deadline_from_epoch_ms, run_invocation, Config, Render};

pub use logcore::runtime::tune_allocator;

/// Serve Firehose transformation invocations with renderer `R` until the runtime stops.
pub async fn serve<R: Render + Default>() -> Result<(), Error> {
    let cfg = logcore::runtime::start(Config::<R>::from_env)?;
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
