//! Alert sync Lambda: the schedule and CloudFormation's custom resource requests to metric filters and alarms.
//! Wiring only: configuration and clients once at cold start, then the runtime loop.

use alert_sync::aws::AwsCloud;
use alert_sync::{handle, report, Function};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use logpipe_io::cfn::HttpRespond;
use logpipe_io::lambda::{cold_start, log_init_error, Deadline};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (f, sdk) = cold_start(Function::from_env).await?;
    let cloud = AwsCloud::new(&sdk);
    let respond = HttpRespond::new().inspect_err(log_init_error("HTTP client"))?;
    let (f, cloud, respond) = (&f, &cloud, &respond);
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<serde_json::Value>| async move {
            let deadline = Deadline::of(&ev.context, f.common.deadline_margin);
            let (result, summary) = handle(f, cloud, respond, &ev.payload, deadline).await;
            report(f, &ev.context.request_id, &summary);
            result.map_err(Error::from)
        },
    ))
    .await
}
