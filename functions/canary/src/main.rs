//! Canary Lambda: on a schedule, write a heartbeat and check the earlier ones hop by hop; on its hourly
//! schedule (`{"logpipe": "reconcile"}`), reconcile the hours settled since the last run.
//! Wiring only: configuration and clients once at cold start, then the runtime loop.

use canary::aws::AwsLogs;
use canary::reconcile::hourly::{report_hourly, run_hourly};
use canary::{report, run, Config};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use logpipe_io::lambda::{cold_start, log_init_error, Deadline};
use logpipe_io::store::S3Store;
use logpipe_io::HttpSearch;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (cfg, sdk) = cold_start(Config::from_env).await?;
    let logs = AwsLogs::new(&sdk);
    let objects = S3Store::from_env(&sdk);
    let search = match &cfg.search {
        Some(ep) => Some(
            HttpSearch::connect(ep, 1, &sdk)
                .await
                .inspect_err(log_init_error("cannot set up the search client"))?,
        ),
        None => None,
    };
    let (cfg, logs, objects, search) = (&cfg, &logs, &objects, search.as_ref());
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<serde_json::Value>| async move {
            let now = logcore::base::time::now_ms();
            if ev.payload.get("logpipe").and_then(|v| v.as_str()) == Some("reconcile") {
                let Some(hourly) = &cfg.reconcile else {
                    return Err(Error::from(
                        "a reconcile event, but RECONCILE_GROUPS is not set",
                    ));
                };
                let deadline = Deadline::of(&ev.context, cfg.common.deadline_margin);
                let outcome =
                    run_hourly(cfg, hourly, (logs, search, objects), now, Some(&deadline)).await?;
                report_hourly(cfg, &ev.context.request_id, &outcome);
                return Ok::<_, Error>(());
            }
            let (summary, outcomes) = run(cfg, logs, objects, search, now).await?;
            report(cfg, &ev.context.request_id, &summary, &outcomes);
            Ok::<_, Error>(())
        },
    ))
    .await
}
