//! What every function's `main` does the same way: the cold start (allocator, JSON logs, configuration
//! from the environment, the AWS SDK's configuration) and each invocation's deadline.

use std::fmt::Display;

use tokio::time::Instant;

/// A function's cold start: the allocator setting and JSON logs, its configuration from the environment
/// (`Config::from_env`; an invalid one is logged before it is returned), then the SDK configuration from
/// the Lambda environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn cold_start<C, E: Display>(
    from_env: impl FnOnce(fn(&str) -> Option<String>) -> Result<C, E>,
) -> Result<(C, aws_config::SdkConfig), E> {
    let cfg = logcore::base::runtime::start(from_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok((cfg, sdk))
}

/// When the invocation times out, on the tokio clock: Lambda gives it as milliseconds since the epoch.
/// Each function stops starting work its `DEADLINE_MARGIN_MS` before this.
pub fn deadline(ctx: &lambda_runtime::Context) -> Instant {
    Instant::now() + logcore::base::time::until_epoch_ms(ctx.deadline)
}

/// When a function stops starting work: `margin` (its `DEADLINE_MARGIN_MS`) before the invocation's
/// deadline, so that what is in flight, the answer and the report finish in time.
pub fn stop_at(deadline: Instant, margin: std::time::Duration) -> Instant {
    deadline.checked_sub(margin).unwrap_or(deadline)
}

/// Log why a client could not be built at cold start, and hand the error on (the runtime reports it as
/// the init error).
pub fn log_init_error<E: Display>(what: &'static str) -> impl FnOnce(&E) {
    move |e| tracing::error!(error = %e, "{what}")
}
