//! The dead-lettered hop: the forwarder's dead-letter records (`failed/…` NDJSON, one record a document or
//! unit it could not index, `logcore::search::bulk::DeadLetter`), counted per log group, hour of the
//! event's `@timestamp` and cause.
//!
//! Dead-letter keys follow their source object's key (`{prefix}{bucket}/{key}/{version}/{offset}-{kind}`),
//! and Firehose names objects by the hour it wrote them: the dead letters of a window's events are under the
//! source key prefixes of the window's hours and of the hours after it (Firehose's buffer, retries).

use std::collections::BTreeMap;

use logcore::base::time::parse_rfc3339_ms;
use logcore::ledger::{hour_of, HOUR_MS};
use serde_json::Value;

use crate::scan::KeyPrefix;
use crate::{CallError, Objects};

/// Hours after a window's end whose objects may still hold its events' dead letters.
pub const LATE_HOURS: i64 = 2;
/// Hours before a window's start in which its events may already have been delivered: CloudWatch Logs
/// accepts events dated up to 2 hours ahead of its clock.
pub const EARLY_HOURS: i64 = 2;

/// Where the forwarder writes dead letters, and where Firehose writes the objects they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterPlace {
    /// `DEAD_LETTER_BUCKET` (the forwarder's default: the source bucket).
    pub bucket: String,
    /// `DEAD_LETTER_PREFIX` (`failed/`).
    pub prefix: String,
    /// The bucket Firehose writes to.
    pub source_bucket: String,
    /// Firehose's key prefixes in the source bucket.
    pub key_prefixes: Vec<KeyPrefix>,
}

/// Dead letters counted per (group, hour start) and cause; records no group or time can be read from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterCounts {
    pub rows: BTreeMap<(String, i64), BTreeMap<String, u64>>,
    /// Records whose hour is known but not their group (a unit over the size cap keeps only its start,
    /// where `log.group` may not be), per hour start and cause.
    pub without_group: BTreeMap<i64, BTreeMap<String, u64>>,
    /// Records whose events cannot be told (an unreadable unit, a corrupt stream's tail).
    pub unattributed: u64,
    /// Objects read.
    pub objects: u64,
}

impl DeadLetterCounts {
    /// Count the records of one dead-letter object (NDJSON); a line that is not a record is unattributed.
    pub fn add_object(&mut self, body: &[u8]) {
        self.objects += 1;
        for line in body.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Some(a) = attribute(line) else {
                self.unattributed += 1;
                continue;
            };
            let causes = match (a.group, a.ts) {
                (Some(group), Some(ts)) => self.rows.entry((group, hour_of(ts))).or_default(),
                (None, Some(ts)) => self.without_group.entry(hour_of(ts)).or_default(),
                (_, None) => {
                    self.unattributed += 1;
                    continue;
                }
            };
            *causes.entry(a.cause).or_default() += 1;
        }
    }

    /// Records counted without their group.
    pub fn without_group_total(&self) -> u64 {
        self.without_group.values().flat_map(|c| c.values()).sum()
    }
}

/// What one dead-letter record tells of its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub group: Option<String>,
    pub ts: Option<i64>,
    pub cause: String,
}

/// The group, event time and cause of one dead-letter record (`None`: not a record): from its `document`
/// (a bulk document the engine refused), else from its `text` — a whole document, or the start the
/// forwarder kept of one over the size cap, where `@timestamp` comes first.
pub fn attribute(line: &[u8]) -> Option<Attribution> {
    let record: Value = serde_json::from_slice(line).ok()?;
    let cause = record.get("cause").and_then(Value::as_str)?.to_string();
    let parsed;
    let doc = match record.get("document") {
        Some(d) => d,
        None => match record.get("text").and_then(Value::as_str) {
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(v) => {
                    parsed = v;
                    &parsed
                }
                Err(_) => {
                    return Some(Attribution {
                        group: field_in(text, "\"log\":{\"group\":\""),
                        ts: field_in(text, "\"@timestamp\":\"").and_then(|t| parse_rfc3339_ms(&t)),
                        cause,
                    })
                }
            },
            None => {
                return Some(Attribution {
                    group: None,
                    ts: None,
                    cause,
                })
            }
        },
    };
    let (group, ts) = group_and_time(doc);
    Some(Attribution { group, ts, cause })
}

/// A document's `log.group` and `@timestamp` (RFC 3339, or epoch milliseconds), each when it has one: what
/// every hop that counts documents buckets them by.
pub fn group_and_time(doc: &Value) -> (Option<String>, Option<i64>) {
    let group = doc
        .pointer("/log/group")
        .and_then(Value::as_str)
        .map(String::from);
    let ts = match doc.get("@timestamp") {
        Some(Value::String(s)) => parse_rfc3339_ms(s),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    (group, ts)
}

/// The string after the first `opening` (`"key":"`) in a document's text, up to its closing quote (group
/// names and timestamps hold no quote), even in a truncated document.
fn field_in(text: &str, opening: &str) -> Option<String> {
    let start = text.find(opening)? + opening.len();
    let rest = &text[start..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The listing prefixes of the dead letters of events from `from_ms` to `to_ms`.
pub fn listing_prefixes(place: &DeadLetterPlace, from_ms: i64, to_ms: i64) -> Vec<String> {
    let mut out: Vec<String> = place
        .key_prefixes
        .iter()
        .flat_map(|p| p.between(from_ms, to_ms + LATE_HOURS * HOUR_MS))
        .map(|p| format!("{}{}/{p}", place.prefix, place.source_bucket))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every dead-letter record under `prefix` of `bucket` (a replay's whole `failed/`).
pub async fn count_under<O: Objects>(
    objects: &O,
    bucket: &str,
    prefix: &str,
) -> Result<DeadLetterCounts, CallError> {
    let mut out = DeadLetterCounts::default();
    for listed in objects.list(bucket, prefix).await? {
        if let Some(body) = objects.read(bucket, &listed.key).await? {
            out.add_object(&body);
        }
    }
    Ok(out)
}

/// List and read every dead-letter object of the window's events.
pub async fn count<O: Objects>(
    objects: &O,
    place: &DeadLetterPlace,
    from_ms: i64,
    to_ms: i64,
) -> Result<DeadLetterCounts, CallError> {
    let mut out = DeadLetterCounts::default();
    for prefix in listing_prefixes(place, from_ms, to_ms) {
        for listed in objects.list(&place.bucket, &prefix).await? {
            match objects.read(&place.bucket, &listed.key).await? {
                Some(body) => out.add_object(&body),
                // Deleted since the listing (a redrive): its records are no longer dead.
                None => continue,
            }
        }
    }
    Ok(out)
}
