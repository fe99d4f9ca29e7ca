//! Putting records back into the source: the I/O trait, and the retry loop around it.

use std::future::Future;
use std::time::Duration;

use logcore::base::retry::Backoff;
use logcore::transform::firehose::Source;
use logcore::transform::reingest::{PutLimits, FIREHOSE_LIMITS, KINESIS_LIMITS};
use tokio::time::Instant;

/// One record to put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutEntry {
    pub data: Vec<u8>,
    /// Kinesis partition key (the original record's); unused for Firehose.
    pub partition_key: String,
}

/// A put call that failed as a whole: throttling, 5xx, timeouts and connection errors are retried; a
/// missing stream or denied access is not.
pub use logpipe_io::CallError;

/// Puts records into a Firehose delivery stream or a Kinesis data stream.
pub trait Reingest: Send + Sync {
    /// Put `entries` in one call. On success, one item per entry: `None` when it was accepted, or the
    /// error code and message when it was not (partial failure).
    fn put(
        &self,
        source: &Source,
        entries: &[PutEntry],
    ) -> impl Future<Output = Result<Vec<Option<String>>, CallError>> + Send;
}

pub fn limits_for(source: &Source) -> PutLimits {
    match source {
        Source::DeliveryStream { .. } => FIREHOSE_LIMITS,
        Source::KinesisStream { .. } => KINESIS_LIMITS,
    }
}

/// What happened to each entry after all attempts.
#[derive(Debug, Default)]
pub struct PutReport {
    /// `None` when the entry was accepted, else its last error.
    pub outcomes: Vec<Option<String>>,
    pub calls: u64,
    pub retried_entries: u64,
}

/// Put every entry, retrying only the failed ones with exponential backoff and full jitter, until all are
/// accepted, an error that retrying cannot fix occurs, attempts run out, or the next attempt could not end
/// before `stop`.
pub async fn put_all<R: Reingest>(
    sink: &R,
    source: &Source,
    entries: &[PutEntry],
    backoff: &Backoff,
    call_timeout: Duration,
    stop: Instant,
    rng: &mut fastrand::Rng,
) -> PutReport {
    let limits = limits_for(source);
    let mut report = PutReport {
        outcomes: vec![
            Some("not attempted: no time left before the Lambda deadline".to_string());
            entries.len()
        ],
        ..PutReport::default()
    };
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let todo: Vec<usize> = (0..entries.len())
            .filter(|&i| report.outcomes[i].is_some())
            .collect();
        if attempt > 1 {
            report.retried_entries += todo.len() as u64;
        }
        let sizes: Vec<usize> = todo
            .iter()
            .map(|&i| limits.entry_size(entries[i].data.len(), entries[i].partition_key.len()))
            .collect();
        let mut fatal = false;
        for batch in limits.batches(&sizes) {
            if Instant::now() + call_timeout > stop {
                break;
            }
            let idx = &todo[batch];
            let call: Vec<PutEntry> = idx.iter().map(|&i| entries[i].clone()).collect();
            report.calls += 1;
            match sink.put(source, &call).await {
                Ok(results) if results.len() == idx.len() => {
                    for (&i, r) in idx.iter().zip(results) {
                        report.outcomes[i] = r;
                    }
                }
                Ok(results) => {
                    let msg = format!(
                        "put returned {} results for {} records",
                        results.len(),
                        idx.len()
                    );
                    for &i in idx {
                        report.outcomes[i] = Some(msg.clone());
                    }
                }
                Err(e) => {
                    fatal |= !e.is_retryable();
                    for &i in idx {
                        report.outcomes[i] = Some(e.message.clone());
                    }
                }
            }
            if fatal {
                break;
            }
        }
        if fatal || report.outcomes.iter().all(Option::is_none) {
            return report;
        }
        let delay = backoff.delay(attempt, rng);
        let remaining = stop.saturating_duration_since(Instant::now());
        if !backoff.may_retry(attempt, delay, call_timeout, remaining) {
            return report;
        }
        tokio::time::sleep(delay).await;
    }
}
