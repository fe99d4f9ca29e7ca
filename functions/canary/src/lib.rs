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
pub mod scan;
pub mod trace;

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use config::Config;
use scan::KeyPrefix;

/// A call to CloudWatch Logs, S3 or the search engine failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IoError(pub String);

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
    ) -> impl Future<Output = Result<(), IoError>> + Send;
    /// Events of `group` from `start_ms` to `end_ms` matching a filter pattern (empty: all), at most `limit`.
    fn find(
        &self,
        group: &str,
        pattern: &str,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LogEvent>, IoError>> + Send;
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
    ) -> impl Future<Output = Result<Vec<Listed>, IoError>> + Send;
    /// The object's bytes, `None` when there is no such object.
    fn read(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, IoError>> + Send;
    fn write(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), IoError>> + Send;
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
    ) -> impl Future<Output = Result<Vec<Hit>, IoError>> + Send;
}

/// The hops of the pipeline, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Hop {
    #[serde(rename = "cloudwatch_logs")]
    CloudWatchLogs,
    #[serde(rename = "s3")]
    S3,
    #[serde(rename = "search")]
    Search,
}

impl std::fmt::Display for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hop::CloudWatchLogs => "CloudWatch Logs",
            Hop::S3 => "S3",
            Hop::Search => "search",
        })
    }
}

/// Where a heartbeat was seen in CloudWatch Logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenLog {
    pub event_id: String,
    pub ingestion_ms: i64,
}

/// The object a heartbeat was found in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenObject {
    pub key: String,
    pub last_modified_ms: i64,
}

/// The index a heartbeat was found in, and when the canary first found it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenSearch {
    pub index: String,
    pub seen_ms: i64,
}

/// A heartbeat on its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub id: String,
    pub written_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudwatch_logs: Option<SeenLog>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<SeenObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SeenSearch>,
}

impl Heartbeat {
    /// The furthest hop that has seen it.
    pub fn last_hop(&self) -> Option<Hop> {
        if self.search.is_some() {
            Some(Hop::Search)
        } else if self.s3.is_some() {
            Some(Hop::S3)
        } else if self.cloudwatch_logs.is_some() {
            Some(Hop::CloudWatchLogs)
        } else {
            None
        }
    }

    /// The event's text: JSON that names the heartbeat (the transform keeps it under `json.*`).
    pub fn message(&self) -> String {
        json!({
            "logpipe_canary": self.id,
            "written_at": logcore::time::DateTimeParts::from_millis(self.written_ms).rfc3339(),
        })
        .to_string()
    }

    /// Milliseconds from writing to each hop (search: to the run that first found it, an upper bound). Never
    /// negative: S3 gives whole seconds, so an object written within the heartbeat's second looks earlier.
    pub fn latencies(&self) -> Vec<(Hop, i64)> {
        let mut out = Vec::new();
        if let Some(l) = &self.cloudwatch_logs {
            out.push((Hop::CloudWatchLogs, l.ingestion_ms));
        }
        if let Some(o) = &self.s3 {
            out.push((Hop::S3, o.last_modified_ms));
        }
        if let Some(s) = &self.search {
            out.push((Hop::Search, s.seen_ms));
        }
        for (_, at) in &mut out {
            *at = (*at - self.written_ms).max(0);
        }
        out
    }
}

/// What the canary keeps between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Heartbeats written and not yet delivered or declared missing, oldest first.
    #[serde(default)]
    pub pending: Vec<Heartbeat>,
    /// Objects already scanned for every heartbeat pending at the time (key → last modified), so that an
    /// object is read once; forgotten once older than every pending heartbeat.
    #[serde(default)]
    pub scanned: BTreeMap<String, i64>,
}

impl State {
    /// Parse the state object; names the object when it is not what the canary wrote.
    pub fn parse(bytes: &[u8], what: &str) -> Result<State, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("{what} is not a canary state: {e}"))
    }
}

/// How one heartbeat's check ended in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// At the last hop; `late` when later than the threshold.
    Delivered { heartbeat: Heartbeat, late: bool },
    /// Not at the last hop in time; `last_hop` saw it last (`None`: not even CloudWatch Logs).
    Missing {
        heartbeat: Heartbeat,
        last_hop: Option<Hop>,
    },
}

/// Counts of one run (the summary line and the EMF metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub written: u64,
    pub write_failed: u64,
    pub delivered: u64,
    pub late: u64,
    pub missing: u64,
    /// Missing heartbeats by the last hop that saw them.
    pub missing_unseen: u64,
    pub missing_after_cloudwatch_logs: u64,
    pub missing_after_s3: u64,
    pub pending: u64,
    pub objects_scanned: u64,
    pub bytes_scanned: u64,
    pub objects_unreadable: u64,
    /// Objects left for the next run (the scan budget was spent): a heartbeat in them is not seen in S3 yet.
    pub objects_left: u64,
    pub lookup_errors: u64,
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
        Err(e) => return Err(read_error(e.0)),
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
        .map_err(|e| save_error(e.0))?;
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

/// Events of `group` holding `text` (a quoted filter-pattern term) from `start_ms` to `end_ms`.
pub async fn find_in_logs<L: Logs>(
    logs: &L,
    group: &str,
    text: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<LogEvent>, IoError> {
    if text.contains('"') {
        return Err(IoError(format!(
            "{text:?} holds a double quote, which a CloudWatch Logs filter term cannot"
        )));
    }
    let found = logs
        .find(group, &format!("\"{text}\""), start_ms, end_ms, 20)
        .await
        .map_err(|e| IoError(format!("{group}: {e}")))?;
    // The pattern matches terms; keep the events that hold the text itself.
    Ok(found
        .into_iter()
        .filter(|e| e.message.contains(text))
        .collect())
}

/// Documents in `index` with one of `ids` as `_id` (the forwarder indexes with the event id), or, with no
/// id, whose `message` holds `text` as a phrase.
pub async fn find_in_search<F: Finder>(
    finder: &F,
    index: &str,
    ids: &[String],
    text: &str,
    size: usize,
) -> Result<Vec<Hit>, IoError> {
    let query = if ids.is_empty() {
        json!({"match_phrase": {"message": text}})
    } else {
        json!({"ids": {"values": ids}})
    };
    finder
        .search(index, query, size)
        .await
        .map_err(|e| IoError(format!("search in {index}: {e}")))
}

/// What a scan of the objects found.
#[derive(Debug, Default)]
pub struct ObjectScan {
    /// Per needle: the first object holding it.
    pub found: Vec<Option<SeenObject>>,
    /// Objects read to the end (key → last modified).
    pub scanned: BTreeMap<String, i64>,
    pub objects: u64,
    pub bytes: u64,
    pub unreadable: u64,
    pub list_errors: u64,
    /// The first listing or reading error, to show.
    pub first_error: Option<String>,
    /// Objects left for want of budget.
    pub left: u64,
}

/// Read the objects under `prefixes` (for every hour from `from_ms` to `to_ms`) modified since `from_ms`,
/// oldest first, skipping those in `skip`, until every needle is found or `budget` bytes are read.
#[allow(clippy::too_many_arguments)]
pub async fn scan_objects<O: Objects>(
    objects: &O,
    bucket: &str,
    prefixes: &[KeyPrefix],
    from_ms: i64,
    to_ms: i64,
    needles: &[Vec<u8>],
    skip: &BTreeMap<String, i64>,
    budget: u64,
    max_object_bytes: u64,
) -> ObjectScan {
    let mut out = ObjectScan {
        found: vec![None; needles.len()],
        ..ObjectScan::default()
    };
    let mut candidates = Vec::new();
    let mut listed: Vec<String> = prefixes
        .iter()
        .flat_map(|p| p.between(from_ms, to_ms))
        .collect();
    listed.sort();
    listed.dedup();
    for prefix in listed {
        match objects.list(bucket, &prefix).await {
            Ok(l) => candidates.extend(
                l.into_iter()
                    .filter(|o| o.last_modified_ms >= from_ms && !skip.contains_key(&o.key)),
            ),
            Err(e) => {
                out.list_errors += 1;
                out.first_error.get_or_insert_with(|| e.0.clone());
                tracing::warn!(bucket, prefix, error = %e, "listing objects failed");
            }
        }
    }
    candidates.sort_by(|a, b| (a.last_modified_ms, &a.key).cmp(&(b.last_modified_ms, &b.key)));
    candidates.dedup_by(|a, b| a.key == b.key);
    let refs: Vec<&[u8]> = needles.iter().map(Vec::as_slice).collect();
    let mut spent = 0u64;
    for (n, obj) in candidates.iter().enumerate() {
        if out.found.iter().all(Option::is_some) {
            break;
        }
        if spent + obj.size > budget && spent > 0 {
            out.left = (candidates.len() - n) as u64;
            tracing::warn!(
                bucket,
                left = out.left,
                budget,
                "scan budget spent; the rest waits for the next run"
            );
            break;
        }
        let bytes = match objects.read(bucket, &obj.key).await {
            Ok(Some(b)) => b,
            Ok(None) => continue, // deleted since the listing
            Err(e) => {
                out.unreadable += 1;
                out.first_error.get_or_insert_with(|| e.0.clone());
                tracing::warn!(bucket, key = %obj.key, error = %e, "reading the object failed");
                continue;
            }
        };
        spent += bytes.len() as u64;
        out.objects += 1;
        out.bytes += bytes.len() as u64;
        match scan::scan(&bytes, &refs, max_object_bytes) {
            Ok(hits) => {
                for (slot, hit) in out.found.iter_mut().zip(hits) {
                    if hit && slot.is_none() {
                        *slot = Some(SeenObject {
                            key: obj.key.clone(),
                            last_modified_ms: obj.last_modified_ms,
                        });
                    }
                }
                out.scanned.insert(obj.key.clone(), obj.last_modified_ms);
            }
            Err(e) => {
                out.unreadable += 1;
                out.first_error
                    .get_or_insert_with(|| format!("s3://{bucket}/{}: {e}", obj.key));
                // Not read to the end; a corrupt object stays corrupt, so it is not tried again.
                out.scanned.insert(obj.key.clone(), obj.last_modified_ms);
                tracing::warn!(bucket, key = %obj.key, error = %e, "object could not be scanned");
            }
        }
    }
    out
}

/// Log the run's outcomes and its summary line, and print its EMF metrics (counts, and each delivered
/// heartbeat's latency per hop).
pub fn report(cfg: &Config, request_id: &str, summary: &Summary, outcomes: &[Outcome]) {
    for o in outcomes {
        match o {
            Outcome::Delivered { heartbeat, late } => {
                let lat = heartbeat.latencies();
                tracing::info!(
                    heartbeat = %heartbeat.id,
                    late,
                    latencies_ms = ?lat,
                    event_id = heartbeat.cloudwatch_logs.as_ref().map(|l| l.event_id.as_str()),
                    object = heartbeat.s3.as_ref().map(|o| o.key.as_str()),
                    index = heartbeat.search.as_ref().map(|s| s.index.as_str()),
                    "heartbeat delivered"
                );
                let metrics: Vec<(&str, f64, &str)> = lat
                    .iter()
                    .map(|(hop, ms)| (latency_metric(*hop), *ms as f64, "Milliseconds"))
                    .collect();
                logcore::emf::print(&cfg.metrics_namespace, &cfg.function_name, &metrics);
            }
            Outcome::Missing {
                heartbeat,
                last_hop,
            } => {
                tracing::error!(
                    heartbeat = %heartbeat.id,
                    written_at = %logcore::time::DateTimeParts::from_millis(heartbeat.written_ms).rfc3339(),
                    last_hop = %last_hop.map_or("none (not in CloudWatch Logs)".to_string(), |h| h.to_string()),
                    object = heartbeat.s3.as_ref().map(|o| o.key.as_str()),
                    // Not zero: the S3 hop may have it in an object not read yet (MAX_SCAN_BYTES).
                    objects_not_scanned = summary.objects_left,
                    "heartbeat missing: {}",
                    missing_reason(cfg, heartbeat, *last_hop)
                );
            }
        }
    }
    tracing::info!(
        request_id,
        written = summary.written,
        write_failed = summary.write_failed,
        delivered = summary.delivered,
        late = summary.late,
        missing = summary.missing,
        pending = summary.pending,
        objects_scanned = summary.objects_scanned,
        bytes_scanned = summary.bytes_scanned,
        objects_unreadable = summary.objects_unreadable,
        objects_left = summary.objects_left,
        lookup_errors = summary.lookup_errors,
        "canary summary"
    );
    logcore::emf::print_counts(
        &cfg.metrics_namespace,
        &cfg.function_name,
        &[
            ("HeartbeatsWritten", summary.written, "Count"),
            ("HeartbeatWriteFailures", summary.write_failed, "Count"),
            ("HeartbeatsDelivered", summary.delivered, "Count"),
            ("HeartbeatsLate", summary.late, "Count"),
            ("HeartbeatsMissing", summary.missing, "Count"),
            (
                "MissingNotInCloudWatchLogs",
                summary.missing_unseen,
                "Count",
            ),
            (
                "MissingAfterCloudWatchLogs",
                summary.missing_after_cloudwatch_logs,
                "Count",
            ),
            ("MissingAfterS3", summary.missing_after_s3, "Count"),
            ("HeartbeatsPending", summary.pending, "Count"),
            ("CanaryObjectsScanned", summary.objects_scanned, "Count"),
            ("CanaryBytesScanned", summary.bytes_scanned, "Bytes"),
            ("CanaryObjectsNotScanned", summary.objects_left, "Count"),
            (
                "CanaryLookupErrors",
                summary.lookup_errors + summary.objects_unreadable,
                "Count",
            ),
        ],
    );
}

fn latency_metric(hop: Hop) -> &'static str {
    match hop {
        Hop::CloudWatchLogs => "LatencyCloudWatchLogs",
        Hop::S3 => "LatencyS3",
        Hop::Search => "LatencySearch",
    }
}

/// Where the chain broke, in words: the hop after the last one that saw the heartbeat.
pub fn missing_reason(cfg: &Config, hb: &Heartbeat, last_hop: Option<Hop>) -> String {
    match last_hop {
        None => format!(
            "not found in CloudWatch Logs group {} (the canary's write or the log group)",
            cfg.log_group
        ),
        Some(Hop::CloudWatchLogs) => format!(
            "in CloudWatch Logs (event {}) but in no object under s3://{}/{} (subscription filter, Firehose or the transform)",
            hb.cloudwatch_logs.as_ref().map_or("?", |l| l.event_id.as_str()),
            cfg.bucket,
            cfg.key_prefixes
                .iter()
                .map(|p| p.at(hb.written_ms))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some(_) => format!(
            "in s3://{}/{} but not in search index {} (notification, queue or the search forwarder)",
            cfg.bucket,
            hb.s3.as_ref().map_or("?", |o| o.key.as_str()),
            cfg.index_pattern
        ),
    }
}

#[cfg(test)]
mod tests;
