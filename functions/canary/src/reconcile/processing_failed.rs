//! The transform hop's failures: the records Firehose could not have transformed — answered
//! `ProcessingFailed` by the transform, or of an invocation that failed after Firehose's retries — which it
//! writes to the delivery stream's error prefix (`errors/logs/processing-failed/YYYY/MM/DD/` in the stack)
//! instead of the archive. Each is a JSON object (the Firehose developer guide, "Handle failure in data
//! transformation": `attemptsMade`, `arrivalTimestamp`, `errorCode`, `errorMessage`,
//! `attemptEndingTimestamp`, `rawData`, `lambdaArn`) whose `rawData` is the record as Firehose received it:
//! base64 of a gzip CloudWatch Logs payload. Its events are counted per log group and hour of their own
//! timestamps, as every hop counts them: the ledger's `failed`, a loss at the transform until they are
//! redriven.
//!
//! The error prefix is dated by when Firehose gave up (its own clock, by day), so a window's failures are
//! listed under the days from [`EARLY_HOURS`](super::dead_letters::EARLY_HOURS) before its start (events
//! dated ahead of their delivery) to [`LATE_HOURS`](super::dead_letters::LATE_HOURS) after its end.

use std::collections::BTreeMap;

use logcore::base::codec::{decode_base64, gunzip_capped};
use logcore::ledger::{hour_of, HOUR_MS};
use logcore::logs::cwl::{decompress, MessageType, Payload};
use logcore::logs::multiline::Rules;
use logcore::transform::filter::MessageFilter;
use serde_json::Value;

use super::dead_letters::{EARLY_HOURS, LATE_HOURS};
use crate::scan::KeyPrefix;
use crate::{CallError, Objects};

/// The app stream's error prefix for transformation failures in the stack (its `ErrorOutputPrefix` with
/// `!{firehose:error-output-type}` = `processing-failed`).
pub const DEFAULT_PREFIX: &str = "errors/logs/processing-failed/%Y/%m/%d/";

/// The largest error object, and the largest payload of one record, read (Firehose's records are at most
/// 6 MB; an object of several records is gzip like the archive's).
const MAX_OBJECT: usize = 256 << 20;
const MAX_PAYLOAD: usize = 64 << 20;

/// Where Firehose writes the records it could not have transformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPlace {
    pub bucket: String,
    /// The error prefix, with `%Y %m %d %H` for Firehose's `!{timestamp:…}`.
    pub prefix: KeyPrefix,
}

/// Failed events per (group, hour start); records whose events cannot be told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailedCounts {
    pub rows: BTreeMap<(String, i64), u64>,
    /// Records read (control messages included).
    pub records: u64,
    /// Records or objects that could not be read: their events are not counted here.
    pub unreadable: Vec<String>,
}

impl FailedCounts {
    /// Count the records of one error object, `key` naming it in what cannot be read. The events the
    /// transform's `filter` drops are left out: they were dropped on purpose, not lost by the failure. With
    /// the transform's multiline `rules`, the filter judges a stack trace's lines together, as the
    /// transform does.
    pub fn add_object(
        &mut self,
        key: &str,
        body: &[u8],
        filter: Option<&MessageFilter>,
        rules: Option<&Rules>,
    ) {
        let text = if body.starts_with(&[0x1f, 0x8b]) {
            match gunzip_capped(body, MAX_OBJECT) {
                Ok(t) => t,
                Err(e) => return self.unreadable.push(format!("{key}: {e}")),
            }
        } else {
            body.to_vec()
        };
        // Records follow each other, a newline between them or none.
        let mut stream = serde_json::Deserializer::from_slice(&text).into_iter::<Value>();
        let mut n = 0;
        loop {
            n += 1;
            match stream.next() {
                None => break,
                Some(Ok(record)) => {
                    self.records += 1;
                    if let Err(e) = self.add_record(&record, filter, rules) {
                        self.unreadable.push(format!("{key}, record {n}: {e}"));
                    }
                }
                Some(Err(e)) => {
                    // The rest cannot be told apart: one entry for it.
                    self.unreadable
                        .push(format!("{key}, from record {n}: not JSON: {e}"));
                    break;
                }
            }
        }
    }

    fn add_record(
        &mut self,
        record: &Value,
        filter: Option<&MessageFilter>,
        rules: Option<&Rules>,
    ) -> Result<(), String> {
        let raw = record
            .get("rawData")
            .and_then(Value::as_str)
            .ok_or("no rawData")?;
        let gz = decode_base64(raw.as_bytes()).map_err(|e| format!("rawData: {e}"))?;
        let json = decompress(&gz, MAX_PAYLOAD).map_err(|e| format!("rawData: {e}"))?;
        let payload = Payload::parse(&json).map_err(|e| format!("rawData: {e}"))?;
        if payload.message_type == MessageType::Control {
            return Ok(());
        }
        let messages: Vec<&str> = payload
            .log_events
            .iter()
            .map(|e| e.message.as_ref())
            .collect();
        let keeps = match filter.filter(|f| !f.is_noop()) {
            Some(f) => f.keeps(rules, &payload.log_group, &messages),
            None => vec![true; messages.len()],
        };
        for (ev, keep) in payload.log_events.iter().zip(keeps) {
            if !keep {
                continue;
            }
            *self
                .rows
                .entry((payload.log_group.to_string(), hour_of(ev.timestamp)))
                .or_default() += 1;
        }
        Ok(())
    }
}

/// The listing prefixes of the failures of events from `from_ms` to `to_ms`.
pub fn listing_prefixes(place: &FailedPlace, from_ms: i64, to_ms: i64) -> Vec<String> {
    place.prefix.between(
        from_ms - EARLY_HOURS * HOUR_MS,
        to_ms + LATE_HOURS * HOUR_MS,
    )
}

/// List and read every error object that may hold the window's events.
pub async fn count<O: Objects>(
    objects: &O,
    place: &FailedPlace,
    from_ms: i64,
    to_ms: i64,
    filter: Option<&MessageFilter>,
    rules: Option<&Rules>,
) -> Result<FailedCounts, CallError> {
    let mut out = FailedCounts::default();
    for prefix in listing_prefixes(place, from_ms, to_ms) {
        for listed in objects.list(&place.bucket, &prefix).await? {
            // Deleted since the listing (a redrive): its records are no longer failed.
            if let Some(body) = objects.read(&place.bucket, &listed.key).await? {
                out.add_object(&listed.key, &body, filter, rules);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests;
