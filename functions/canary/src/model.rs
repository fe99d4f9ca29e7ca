//! What the canary follows and keeps: the hops, a heartbeat on its way and what each hop saw of it, the
//! state kept between runs, and the counts of one run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

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
            "written_at": logcore::base::time::DateTimeParts::from_millis(self.written_ms).rfc3339(),
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

logcore::counts! {
    /// Counts of one run: its report line (summary and EMF metrics, see `logcore::base::report`).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Summary {
        pub written: u64 => "HeartbeatsWritten",
        pub write_failed: u64 => "HeartbeatWriteFailures",
        pub delivered: u64 => "HeartbeatsDelivered",
        pub late: u64 => "HeartbeatsLate",
        pub missing: u64 => "HeartbeatsMissing",
        /// Missing heartbeats by the last hop that saw them.
        pub missing_unseen: u64 => "MissingNotInCloudWatchLogs",
        pub missing_after_cloudwatch_logs: u64 => "MissingAfterCloudWatchLogs",
        pub missing_after_s3: u64 => "MissingAfterS3",
        pub pending: u64 => "HeartbeatsPending",
        pub objects_scanned: u64 => "CanaryObjectsScanned",
        pub bytes_scanned: u64 => "CanaryBytesScanned" in Bytes,
        pub objects_unreadable: u64 => "CanaryObjectsUnreadable",
        /// Objects left for the next run (the scan budget was spent): a heartbeat in them is not seen in S3
        /// yet.
        pub objects_left: u64 => "CanaryObjectsNotScanned",
        pub lookup_errors: u64 => "CanaryLookupErrors",
    }
}
