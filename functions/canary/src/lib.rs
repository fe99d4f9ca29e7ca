//! The canary: on a schedule, write a uniquely identified heartbeat to a monitored log group, and follow each
//! heartbeat written earlier through the pipeline's hops — CloudWatch Logs, the S3 objects Firehose wrote, the
//! search index — until it reaches the last one (delivered, with its latency per hop; late when over the
//! threshold) or its time is up (missing, naming the last hop that saw it). What it has seen is kept between
//! runs in a small state object in the log bucket, so every heartbeat is counted exactly once.
//!
//! The same lookups answer `logpipe trace` ([`trace`]). Everything is generic over three small I/O traits,
//! [`Logs`], [`Objects`] and [`Finder`], with the AWS/HTTP implementations in [`aws`].

pub mod aws;
pub mod config;
pub mod lookup;
pub mod model;
pub mod reconcile;
pub mod report;
pub mod scan;
pub mod trace;
pub mod verify;

use std::future::Future;

use serde_json::Value;

pub use config::Config;
pub use lookup::{find_in_logs, find_in_search, scan_objects, ObjectScan};
pub use model::{Heartbeat, Hop, Outcome, SeenLog, SeenObject, SeenSearch, State, Summary};
pub use report::{missing_reason, report};

/// A call to CloudWatch Logs, S3 or the search engine failed: the shared vocabulary.
pub use logpipe_io::CallError;

/// One log event as CloudWatch Logs returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub event_id: String,
    pub group: String,
    pub stream: String,
    pub timestamp_ms: i64,
    pub ingestion_ms: i64,
    pub message: String,
}

/// CloudWatch Logs: write the heartbeat, find events.
pub trait Logs: Send + Sync {
    /// Put one event (creating the stream when it does not exist yet).
    fn put(
        &self,
        group: &str,
        stream: &str,
        timestamp_ms: i64,
        message: &str,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
    /// Events of `group` from `start_ms` to `end_ms` matching a filter pattern (empty: all), at most `limit`.
    fn find(
        &self,
        group: &str,
        pattern: &str,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LogEvent>, CallError>> + Send;
    /// How many events of `group` the pipeline is asked to carry per hour (UTC, by their timestamps) from
    /// `start_ms` to `end_ms` (exclusive): those matching the subscription's filter pattern, and of those
    /// the ones the transform's filter drops on purpose. An error when there are more than `limit` (the
    /// count would be short). By default from [`Logs::find`]; an implementation that can count without
    /// keeping the events does.
    fn count_by_hour(
        &self,
        group: &str,
        start_ms: i64,
        end_ms: i64,
        limit: u64,
        selection: &reconcile::Selection,
    ) -> impl Future<
        Output = Result<std::collections::BTreeMap<i64, reconcile::SourceHour>, CallError>,
    > + Send {
        async move {
            let take = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
            let events = self
                .find(group, &selection.pattern, start_ms, end_ms - 1, take)
                .await?;
            let mut tally = reconcile::Tally::new(group, limit, selection);
            tally.add(events.iter().map(|e| (e.timestamp_ms, e.message.as_str())))?;
            Ok(tally.hours)
        }
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub last_modified_ms: i64,
}

/// S3: list and read the pipeline's objects, read and write the canary's state.
pub trait Objects: Send + Sync {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<Listed>, CallError>> + Send;
    /// The object's bytes, `None` when there is no such object.
    fn read(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, CallError>> + Send;
    fn write(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
}

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub index: String,
    pub id: String,
    pub source: Value,
}

/// The search engine: run a query over an index pattern.
pub trait Finder: Send + Sync {
    fn search(
        &self,
        index: &str,
        query: Value,
        size: usize,
    ) -> impl Future<Output = Result<Vec<Hit>, CallError>> + Send;
}

/// The state could not be read or saved: the run cannot count heartbeats reliably, and fails.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    #[error("reading the canary state s3://{bucket}/{key}: {reason}")]
    ReadState {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("saving the canary state s3://{bucket}/{key}: {reason}")]
    SaveState {
        bucket: String,
        key: String,
        reason: String,
    },
}

/// A heartbeat id: `lpcanary-<written ms>-<random hex>`.
pub fn new_id(written_ms: i64) -> String {
    format!("lpcanary-{written_ms}-{:08x}", fastrand::u32(..))
}

/// One scheduled run at `now_ms`: write a heartbeat, look for the pending ones, count, save.
pub async fn run<L: Logs, O: Objects, F: Finder>(
    cfg: &Config,
    logs: &L,
    objects: &O,
    finder: Option<&F>,
    now_ms: i64,
) -> Result<(Summary, Vec<Outcome>), CanaryError> {
    let mut summary = Summary::default();
    let read_error = |reason: String| CanaryError::ReadState {
        bucket: cfg.bucket.clone(),
        key: cfg.state_key.clone(),
        reason,
    };
    let mut state = match objects.read(&cfg.bucket, &cfg.state_key).await {
        Ok(None) => State::default(),
        Ok(Some(bytes)) => State::parse(&bytes, &format!("s3://{}/{}", cfg.bucket, cfg.state_key))
            .map_err(read_error)?,
        Err(e) => return Err(read_error(e.message)),
    };

    // Look for the heartbeats already on their way (the new one cannot have gone anywhere yet).
    look(cfg, logs, objects, finder, &mut state, now_ms, &mut summary).await;
    let outcomes = settle(cfg, finder.is_some(), &mut state, now_ms, &mut summary);

    let hb = Heartbeat {
        id: new_id(now_ms),
        written_ms: now_ms,
        cloudwatch_logs: None,
        s3: None,
        search: None,
    };
    match logs
        .put(&cfg.log_group, &cfg.log_stream, now_ms, &hb.message())
        .await
    {
        Ok(()) => {
            summary.written += 1;
            state.pending.push(hb);
        }
        Err(e) => {
            summary.write_failed += 1;
            tracing::error!(log_group = %cfg.log_group, error = %e, "could not write the heartbeat");
        }
    }
    summary.pending = state.pending.len() as u64;
    let oldest = state
        .pending
        .iter()
        .map(|h| h.written_ms)
        .min()
        .unwrap_or(now_ms);
    state
        .scanned
        .retain(|_, modified| *modified >= oldest - SKEW_MS);

    let save_error = |reason: String| CanaryError::SaveState {
        bucket: cfg.bucket.clone(),
        key: cfg.state_key.clone(),
        reason,
    };
    let body = serde_json::to_vec(&state).map_err(|e| save_error(e.to_string()))?;
    objects
        .write(&cfg.bucket, &cfg.state_key, body)
        .await
        .map_err(|e| save_error(e.message))?;
    Ok((summary, outcomes))
}

/// Clocks of S3 and of the Lambda may differ by this much.
pub(crate) const SKEW_MS: i64 = 60_000;

/// Fill in the hops that have seen each pending heartbeat since the last run.
async fn look<L: Logs, O: Objects, F: Finder>(
    cfg: &Config,
    logs: &L,
    objects: &O,
    finder: Option<&F>,
    state: &mut State,
    now_ms: i64,
    summary: &mut Summary,
) {
    for hb in state
        .pending
        .iter_mut()
        .filter(|h| h.cloudwatch_logs.is_none())
    {
        match find_in_logs(
            logs,
            &cfg.log_group,
            &hb.id,
            hb.written_ms - SKEW_MS,
            now_ms + SKEW_MS,
        )
        .await
        {
            Ok(found) => {
                hb.cloudwatch_logs = found.into_iter().next().map(|e| SeenLog {
                    event_id: e.event_id,
                    ingestion_ms: e.ingestion_ms,
                })
            }
            Err(e) => {
                summary.lookup_errors += 1;
                tracing::warn!(heartbeat = %hb.id, error = %e, "CloudWatch Logs lookup failed");
            }
        }
    }

    let waiting: Vec<usize> = (0..state.pending.len())
        .filter(|&i| state.pending[i].s3.is_none())
        .collect();
    if let Some(from) = waiting.iter().map(|&i| state.pending[i].written_ms).min() {
        let needles: Vec<Vec<u8>> = waiting
            .iter()
            .map(|&i| state.pending[i].id.clone().into_bytes())
            .collect();
        let scan = scan_objects(
            objects,
            &cfg.bucket,
            &cfg.key_prefixes,
            from - SKEW_MS,
            now_ms,
            &needles,
            &state.scanned,
            cfg.max_scan_bytes,
            cfg.max_object_bytes,
        )
        .await;
        summary.objects_scanned += scan.objects;
        summary.bytes_scanned += scan.bytes;
        summary.objects_unreadable += scan.unreadable;
        summary.objects_left += scan.left;
        summary.lookup_errors += scan.list_errors;
        for (&i, hit) in waiting.iter().zip(scan.found) {
            state.pending[i].s3 = hit;
        }
        state.scanned.extend(scan.scanned);
    }

    if let Some(finder) = finder {
        for hb in state.pending.iter_mut().filter(|h| h.search.is_none()) {
            let ids: Vec<String> = hb
                .cloudwatch_logs
                .iter()
                .map(|l| l.event_id.clone())
                .collect();
            match find_in_search(finder, &cfg.index_pattern, &ids, &hb.id, 1).await {
                Ok(hits) => {
                    hb.search = hits.into_iter().next().map(|h| SeenSearch {
                        index: h.index,
                        seen_ms: now_ms,
                    })
                }
                Err(e) => {
                    summary.lookup_errors += 1;
                    tracing::warn!(heartbeat = %hb.id, error = %e, "search lookup failed");
                }
            }
        }
    }
}

/// Take the heartbeats that reached the last hop, or whose time is up, out of the pending list.
fn settle(
    cfg: &Config,
    with_search: bool,
    state: &mut State,
    now_ms: i64,
    summary: &mut Summary,
) -> Vec<Outcome> {
    let last = if with_search { Hop::Search } else { Hop::S3 };
    let mut outcomes = Vec::new();
    let mut still = Vec::new();
    for hb in state.pending.drain(..) {
        let reached = hb.last_hop() >= Some(last);
        if reached {
            let e2e = hb
                .latencies()
                .into_iter()
                .find(|(h, _)| *h == last)
                .map_or(0, |(_, ms)| ms);
            let late = e2e > cfg.late_after_ms;
            summary.delivered += 1;
            summary.late += u64::from(late);
            outcomes.push(Outcome::Delivered {
                heartbeat: hb,
                late,
            });
        } else if now_ms - hb.written_ms >= cfg.missing_after_ms {
            let last_hop = hb.last_hop();
            summary.missing += 1;
            match last_hop {
                None => summary.missing_unseen += 1,
                Some(Hop::CloudWatchLogs) => summary.missing_after_cloudwatch_logs += 1,
                Some(_) => summary.missing_after_s3 += 1,
            }
            outcomes.push(Outcome::Missing {
                heartbeat: hb,
                last_hop,
            });
        } else {
            still.push(hb);
        }
    }
    state.pending = still;
    outcomes
}

#[cfg(test)]
mod tests;
