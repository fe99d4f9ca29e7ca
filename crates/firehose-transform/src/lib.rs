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

use std::time::SystemTime;

pub use config::Config;
pub use handler::{handle, Outcome, Summary};
use logcore::firehose::{TransformEvent, TransformResponse};
pub use render::{Audit, Documents, Render};
pub use sink::{CallError, PutEntry, Reingest};

/// Convert the Lambda deadline (milliseconds since the epoch) into an instant on the tokio clock.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + logcore::time::until_epoch_ms(deadline_ms)
}

/// Log one invocation's summary line: the common counts and the renderer's (`key = value` pairs).
#[macro_export]
macro_rules! summary_line {
    ($request_id:expr, $s:expr $(, $k:ident = $v:expr)* $(,)?) => {{
        let s = $s;
        tracing::info!(
            request_id = $request_id,
            records_in = s.records_in,
            ok = s.ok,
            dropped = s.dropped,
            failed = s.failed,
            control_messages = s.control_messages,
            reingested_records = s.reingested_records,
            reingested_parts = s.reingested_parts,
            reingest_partial = s.reingest_partial,
            put_calls = s.put_calls,
            put_retried_entries = s.put_retried_entries,
            events_in = s.events_in,
            events_out = s.events_out,
            events_excluded = s.events_excluded,
            events_reingested = s.events_reingested,
            events_failed = s.events_failed,
            $($k = $v,)*
            bytes_in = s.bytes_in,
            bytes_decompressed = s.bytes_decompressed,
            bytes_out = s.bytes_out,
            response_bytes = s.response_bytes,
            "transform summary"
        )
    }};
}

/// Log the summary line and failures, and print the EMF metrics line, for one invocation.
pub fn report<R: Render>(cfg: &Config<R>, request_id: &str, out: &Outcome<R::Stats>) {
    for f in &out.failures {
        tracing::warn!(request_id, record_id = %f.record_id, reason = %f.reason, "record failed");
    }
    R::log_summary(request_id, &out.summary);
    println!("{}", emf_line(cfg, &out.summary));
}

/// The EMF metrics line of one invocation.
pub fn emf_line<R: Render>(cfg: &Config<R>, s: &Summary<R::Stats>) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let extra: Vec<(&str, f64, &str)> = R::counters(&s.render)
        .into_iter()
        .map(|(_, metric, v)| (metric, v as f64, "Count"))
        .collect();
    let common = [
        ("RecordsIn", s.records_in as f64, "Count"),
        ("RecordsOk", s.ok as f64, "Count"),
        ("RecordsDropped", s.dropped as f64, "Count"),
        ("RecordsFailed", s.failed as f64, "Count"),
        ("RecordsReingested", s.reingested_records as f64, "Count"),
        ("ReingestPartial", s.reingest_partial as f64, "Count"),
        ("EventsIn", s.events_in as f64, "Count"),
        ("EventsOut", s.events_out as f64, "Count"),
        ("EventsExcluded", s.events_excluded as f64, "Count"),
        ("EventsFailed", s.events_failed as f64, "Count"),
        ("BytesIn", s.bytes_in as f64, "Bytes"),
        ("BytesOut", s.bytes_out as f64, "Bytes"),
        ("ResponseBytes", s.response_bytes as f64, "Bytes"),
    ];
    let metrics: Vec<(&str, f64, &str)> = common.into_iter().chain(extra).collect();
    logcore::emf::line(
        &cfg.metrics_namespace,
        &[("FunctionName", &cfg.function_name)],
        &metrics,
        now,
    )
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
