//! What every function's `main` does the same way: the cold start (allocator, JSON logs, configuration
//! from the environment, the AWS SDK's configuration) and each invocation's [`Deadline`].

use std::fmt::Display;

use std::time::Duration;

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

/// An invocation's time, computed once at the edge (each function's `main`) and passed down whole:
/// `end` is when Lambda stops the invocation, `stop` is the function's `DEADLINE_MARGIN_MS` before it.
/// No new work starts after `stop`; what is in flight, the answer and the report finish in the margin.
/// Layers below the handler take `stop` alone, under that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub end: Instant,
    pub stop: Instant,
}

impl Deadline {
    /// An invocation that ends at `end` and keeps `margin` free before it (all of it when `margin` is
    /// longer than the time left).
    pub fn new(end: Instant, margin: Duration) -> Self {
        Deadline {
            end,
            stop: end.checked_sub(margin).unwrap_or(end),
        }
    }

    /// The invocation in `ctx`: Lambda gives its deadline as milliseconds since the epoch.
    pub fn of(ctx: &lambda_runtime::Context, margin: Duration) -> Self {
        Deadline::new(
            Instant::now() + logcore::base::time::until_epoch_ms(ctx.deadline),
            margin,
        )
    }

    /// An invocation that ends `time` from now (the CLI's runs, tests).
    pub fn after(time: Duration, margin: Duration) -> Self {
        Deadline::new(Instant::now() + time, margin)
    }

    /// The margin kept free before the end.
    pub fn margin(&self) -> Duration {
        self.end.saturating_duration_since(self.stop)
    }

    /// Time from now to the stop time (zero once it has passed).
    pub fn left(&self) -> Duration {
        self.stop.saturating_duration_since(Instant::now())
    }
}

/// Log why a client could not be built at cold start, and hand the error on (the runtime reports it as
/// the init error).
pub fn log_init_error<E: Display>(what: &'static str) -> impl FnOnce(&E) {
    move |e| tracing::error!(error = %e, "{what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_time_is_the_margin_before_the_end() {
        let d = Deadline::after(Duration::from_secs(30), Duration::from_secs(2));
        assert_eq!(d.end - d.stop, Duration::from_secs(2));
        assert_eq!(d.margin(), Duration::from_secs(2));
        let left = d.left();
        assert!(
            left <= Duration::from_secs(28) && left > Duration::from_secs(27),
            "{left:?}"
        );
        let passed = Deadline::new(Instant::now(), Duration::ZERO);
        assert_eq!(
            passed.left(),
            Duration::ZERO,
            "past the stop time, nothing is left"
        );
    }

    #[test]
    fn a_margin_longer_than_the_time_left_stops_at_once() {
        let now = Instant::now();
        let d = Deadline::new(now, Duration::from_secs(3600 * 24 * 365 * 1000));
        assert!(d.stop <= d.end);
        assert_eq!(d.left(), Duration::ZERO);
        let d = Deadline::new(now + Duration::from_secs(1), Duration::from_secs(5));
        assert!(d.stop <= now + Duration::from_secs(1));
        assert!(d.margin() <= Duration::from_secs(5));
    }

    #[test]
    fn the_context_deadline_is_read_as_epoch_milliseconds() {
        let mut ctx = lambda_runtime::Context::default();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        ctx.deadline = now_ms + 10_000;
        let d = Deadline::of(&ctx, Duration::from_secs(1));
        let left = d.left();
        assert!(
            left > Duration::from_secs(8) && left <= Duration::from_secs(9),
            "{left:?}"
        );
        // A deadline already past: no time left, no panic.
        ctx.deadline = now_ms - 10_000;
        assert_eq!(
            Deadline::of(&ctx, Duration::from_secs(1)).left(),
            Duration::ZERO
        );
    }
}
