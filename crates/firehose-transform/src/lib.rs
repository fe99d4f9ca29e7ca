//! The Firehose data transformation shared by the logpipe transform Lambdas (CloudWatch Logs documents,
//! database audit documents).
//!
//! Every record is a `base64(gzip(json))` CloudWatch Logs payload. DATA_MESSAGE records become NDJSON lines
//! written by a [`Render`] (`Ok`), CONTROL_MESSAGE records are `Dropped`, and a record that cannot be decoded
//! is `ProcessingFailed` on its own. Records whose output does not fit in the 6 MB response are put back into
//! the source (Firehose or Kinesis), split when too large on their own, and answered `Dropped`; a record
//! with a document no response can carry (a 1 MB event of control characters escapes to 6 MB) has its
//! documents written to the delivery stream's bucket and prefix directly ([`config::Oversize`]).

pub mod aws;
pub mod config;
pub mod handler;
pub mod lambda;
pub mod render;
pub mod sink;

pub use config::Config;
pub use handler::{handle, Outcome, Summary, Written};
use logcore::transform::firehose::{TransformEvent, TransformResponse};
pub use render::{Audit, Documents, Render};
pub use sink::{PutEntry, Reingest};

/// Log the failures and the objects written directly, and print the report line (summary and EMF
/// metrics), of one invocation.
pub fn report<R: Render>(cfg: &Config<R>, request_id: &str, out: &Outcome<R::Stats>) {
    for f in &out.failures {
        tracing::warn!(request_id, record_id = %f.record_id, reason = %f.reason, "record failed");
    }
    for w in &out.written {
        tracing::info!(
            request_id,
            record_id = %w.record_id,
            reason = %w.reason,
            object = %format!("s3://{}/{}", w.bucket, w.key),
            events = w.events,
            bytes = w.bytes,
            "documents written to S3 directly"
        );
    }
    cfg.common
        .report(request_id, "transform summary", &out.summary);
}

/// The Lambda entry point's body: transform, report, answer.
pub async fn run_invocation<R: Render, S: Reingest, D: logpipe_io::Store>(
    cfg: &Config<R>,
    sink: &S,
    store: &D,
    event: TransformEvent,
    request_id: &str,
    deadline: logpipe_io::lambda::Deadline,
) -> Result<TransformResponse, handler::HandlerError> {
    let out = handle(&event, cfg, sink, store, deadline).await?;
    report(cfg, request_id, &out);
    Ok(out.response)
}
