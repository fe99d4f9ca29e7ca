//! The Firehose data transformation shared by the logpipe transform Lambdas (CloudWatch Logs documents,
//! database audit documents).
//!
//! Every record is a `base64(gzip(json))` CloudWatch Logs payload. DATA_MESSAGE records become NDJSON lines
//! written by a [`Render`] (`Ok`), CONTROL_MESSAGE records are `Dropped`, and a record that cannot be decoded
//! is `ProcessingFailed` on its own. Records whose output does not fit in the 6 MB response are put back into
//! the source (Firehose or Kinesis), split when too large on their own, and answered `Dropped`.

pub mod aws;
pub mod config;
pub mod handler;
pub mod lambda;
pub mod render;
pub mod sink;

pub use config::Config;
pub use handler::{handle, Outcome, Summary};
use logcore::firehose::{TransformEvent, TransformResponse};
pub use render::{Audit, Documents, Render};
pub use sink::{PutEntry, Reingest};

/// Log the failures, and print the report line (summary and EMF metrics), of one invocation.
pub fn report<R: Render>(cfg: &Config<R>, request_id: &str, out: &Outcome<R::Stats>) {
    for f in &out.failures {
        tracing::warn!(request_id, record_id = %f.record_id, reason = %f.reason, "record failed");
    }
    cfg.common
        .report(request_id, "transform summary", &out.summary);
}

/// The Lambda entry point's body: transform, report, answer.
pub async fn run_invocation<R: Render, S: Reingest>(
    cfg: &Config<R>,
    sink: &S,
    event: TransformEvent,
    request_id: &str,
    deadline: tokio::time::Instant,
) -> Result<TransformResponse, handler::HandlerError> {
    let out = handle(&event, cfg, sink, deadline).await?;
    report(cfg, request_id, &out);
    Ok(out.response)
}
