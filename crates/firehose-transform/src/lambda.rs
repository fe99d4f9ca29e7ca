//! The Lambda wiring every transform's `main` calls: JSON logs, configuration from the environment, clients
//! built once, then `lambda_runtime::run`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use logcore::transform::firehose::TransformEvent;

use crate::aws::AwsReingest;
use logpipe_io::lambda::{cold_start, Deadline};

use crate::{run_invocation, Config, Render};

pub use logcore::base::runtime::tune_allocator;

/// Serve Firehose transformation invocations with renderer `R` until the runtime stops.
pub async fn serve<R: Render + Default>() -> Result<(), Error> {
    let (cfg, sdk) = cold_start(Config::<R>::from_env).await?;
    let sink = AwsReingest::new(&sdk, cfg.call_timeout);
    let store = logpipe_io::store::S3Store::from_env(&sdk);
    let (cfg, sink, store) = (&cfg, &sink, &store);
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<TransformEvent>| async move {
            let deadline = Deadline::of(&ev.context, cfg.common.deadline_margin);
            run_invocation(
                cfg,
                sink,
                store,
                ev.payload,
                &ev.context.request_id,
                deadline,
            )
            .await
            .map_err(Error::from)
        },
    ))
    .await
}
