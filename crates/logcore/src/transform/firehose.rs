//! Firehose data-transformation events and responses.
//!
//! The response is written by hand into one JSON string so that its size is known exactly, byte for byte,
//! before it is sent: Lambda refuses a synchronous response larger than [`RESPONSE_LIMIT`] bytes (the whole
//! serialized envelope), and Firehose then fails the whole batch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::base::codec::base64_len;
use crate::logs::document::write_json_str;

/// Largest synchronous Lambda response, in bytes of the serialized JSON.
pub const RESPONSE_LIMIT: usize = 6_291_456;

/// The event Firehose sends to a transformation Lambda. `data` is kept as base64 text so that one record
/// with bad base64 fails alone instead of failing the deserialization of the whole batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransformEvent {
    #[serde(default)]
    pub invocation_id: String,
    #[serde(default)]
    pub delivery_stream_arn: String,
    /// Present when the delivery stream reads from a Kinesis data stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_kinesis_stream_arn: Option<String>,
    #[serde(default)]
    pub region: String,
    pub records: Vec<TransformRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransformRecord {
    pub record_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_arrival_timestamp: Option<i64>,
    pub data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinesis_record_metadata: Option<KinesisRecordMetadata>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisRecordMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_arrival_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsequence_number: Option<i64>,
}

/// Where the records of an event came from, and so where records that do not fit are put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A DirectPut delivery stream (the CloudWatch Logs subscription writes to Firehose): `PutRecordBatch`.
    DeliveryStream { name: String, arn: String },
    /// A delivery stream reading a Kinesis data stream: `PutRecords` with the original partition key.
    KinesisStream { name: String, arn: String },
}

impl TransformEvent {
    /// The source to re-ingest into, from the ARNs in the event.
    pub fn source(&self) -> Result<Source, String> {
        if let Some(arn) = self
            .source_kinesis_stream_arn
            .as_deref()
            .filter(|a| !a.is_empty())
        {
            let name = arn_resource(arn, "stream/").ok_or_else(|| {
                format!("sourceKinesisStreamArn {arn:?} is not a Kinesis stream ARN")
            })?;
            return Ok(Source::KinesisStream {
                name: name.to_string(),
                arn: arn.to_string(),
            });
        }
        let arn = &self.delivery_stream_arn;
        let name = arn_resource(arn, "deliverystream/").ok_or_else(|| {
            format!("deliveryStreamArn {arn:?} is not a Firehose delivery stream ARN")
        })?;
        Ok(Source::DeliveryStream {
            name: name.to_string(),
            arn: arn.to_string(),
        })
    }
}

fn arn_resource<'a>(arn: &'a str, prefix: &str) -> Option<&'a str> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let resource = parts.nth(4)?;
    resource.strip_prefix(prefix).filter(|n| !n.is_empty())
}

/// Firehose dynamic-partitioning keys for one record (`metadata.partitionKeys`).
pub type PartitionKeys = BTreeMap<String, String>;

/// The result of one record, as Firehose defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordResult {
    Ok,
    Dropped,
    ProcessingFailed,
}

impl RecordResult {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordResult::Ok => "Ok",
            RecordResult::Dropped => "Dropped",
            RecordResult::ProcessingFailed => "ProcessingFailed",
        }
    }
}

const ENVELOPE_OPEN: &str = "{\"records\":[";
const ENVELOPE_CLOSE: &str = "]}";

/// The bytes an `Ok` entry adds around its base64 data: `{"recordId":…,"result":"Ok","data":"` and
/// `"` + optional metadata + `}`.
fn ok_entry_parts(record_id: &str, keys: Option<&PartitionKeys>) -> (Vec<u8>, Vec<u8>) {
    let mut prefix = Vec::with_capacity(record_id.len() + 40);
    prefix.extend_from_slice(b"{\"recordId\":");
    write_json_str(&mut prefix, record_id);
    prefix.extend_from_slice(b",\"result\":\"Ok\",\"data\":\"");
    let mut suffix = Vec::with_capacity(2);
    suffix.push(b'"');
    if let Some(keys) = keys.filter(|k| !k.is_empty()) {
        suffix.extend_from_slice(b",\"metadata\":{\"partitionKeys\":");
        serde_json::to_writer(&mut suffix, keys).expect("write to Vec");
        suffix.push(b'}');
    }
    suffix.push(b'}');
    (prefix, suffix)
}

fn write_other_entry(out: &mut Vec<u8>, record_id: &str, result: RecordResult) {
    out.extend_from_slice(b"{\"recordId\":");
    write_json_str(out, record_id);
    out.extend_from_slice(b",\"result\":\"");
    out.extend_from_slice(result.as_str().as_bytes());
    out.extend_from_slice(b"\"}");
}

/// Exact serialized length of an entry.
pub fn entry_len(
    record_id: &str,
    result: RecordResult,
    data_len: usize,
    keys: Option<&PartitionKeys>,
) -> usize {
    match result {
        RecordResult::Ok => {
            let (p, s) = ok_entry_parts(record_id, keys);
            p.len() + base64_len(data_len) + s.len()
        }
        other => {
            let mut v = Vec::new();
            write_other_entry(&mut v, record_id, other);
            v.len()
        }
    }
}

/// Keeps the running, exact size of a response while records are decided one by one.
///
/// Every record is first reserved at the size of a `ProcessingFailed` entry (the longest entry without
/// data), so that a record can still be turned into `Dropped` or `ProcessingFailed` later without the
/// response growing. Turning a record into `Ok` costs the difference.
#[derive(Debug, Clone)]
pub struct ResponseBudget {
    limit: usize,
    committed: usize,
}

impl ResponseBudget {
    /// Reserve the envelope and one data-less entry per record. Fails if even that cannot fit.
    pub fn new<'a>(record_ids: impl Iterator<Item = &'a str>, limit: usize) -> Result<Self, usize> {
        let mut n = 0usize;
        let mut committed = ENVELOPE_OPEN.len() + ENVELOPE_CLOSE.len();
        for id in record_ids {
            committed += entry_len(id, RecordResult::ProcessingFailed, 0, None);
            n += 1;
        }
        committed += n.saturating_sub(1); // commas
        if committed > limit {
            return Err(committed);
        }
        Ok(ResponseBudget { limit, committed })
    }

    /// Bytes that would be added by turning this record into `Ok` with `data_len` bytes of data.
    pub fn ok_cost(record_id: &str, data_len: usize, keys: Option<&PartitionKeys>) -> usize {
        entry_len(record_id, RecordResult::Ok, data_len, keys).saturating_sub(entry_len(
            record_id,
            RecordResult::ProcessingFailed,
            0,
            None,
        ))
    }

    /// Turn the record into `Ok` if it fits; returns whether it did.
    pub fn try_ok(
        &mut self,
        record_id: &str,
        data_len: usize,
        keys: Option<&PartitionKeys>,
    ) -> bool {
        let cost = Self::ok_cost(record_id, data_len, keys);
        if self.committed + cost <= self.limit {
            self.committed += cost;
            true
        } else {
            false
        }
    }

    /// Bytes still free.
    pub fn remaining(&self) -> usize {
        self.limit - self.committed
    }

    /// Upper bound of the final response size (exact when no reserved entry ends as `Dropped`).
    pub fn committed(&self) -> usize {
        self.committed
    }
}

/// Writes the response entry by entry.
pub struct ResponseWriter {
    /// A `String` from the start (everything written is a `&str` or ASCII), so that finishing it checks
    /// nothing again: a response is up to 6 MB (in the bench, tens of MB).
    out: String,
    entries: usize,
}

/// The buffer of the last response, kept for the next one. A warm Lambda container answers batch after
/// batch; writing into memory that is already mapped saves a page fault per 4 KiB of response, which on a
/// large response is a sixth of the handler's time. It holds one buffer: the last response dropped, at
/// most the response limit (6 MB) in the Lambda.
static SPARE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

impl ResponseWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        let mut out = SPARE
            .lock()
            .map(|mut spare| std::mem::take(&mut *spare))
            .unwrap_or_default();
        out.clear();
        out.reserve(bytes);
        out.push_str(ENVELOPE_OPEN);
        ResponseWriter { out, entries: 0 }
    }

    fn sep(&mut self) {
        if self.entries > 0 {
            self.out.push(',');
        }
        self.entries += 1;
    }

    pub fn push_ok(&mut self, record_id: &str, data: &[u8], keys: Option<&PartitionKeys>) {
        self.push_ok_with(record_id, keys, |out| {
            // Encode straight into the buffer: base64 output is ASCII.
            let start = out.len();
            crate::base::codec::encode_base64_into(data, out);
            debug_assert_eq!(out.len() - start, base64_len(data.len()));
        });
    }

    /// [`ResponseWriter::push_ok`] of data already base64-encoded (`encoded` is
    /// [`crate::base::codec::encode_base64`] of the data).
    pub fn push_ok_encoded(
        &mut self,
        record_id: &str,
        encoded: &str,
        keys: Option<&PartitionKeys>,
    ) {
        self.push_ok_with(record_id, keys, |out| out.push_str(encoded));
    }

    /// An `Ok` entry whose base64 data `data` writes.
    fn push_ok_with(
        &mut self,
        record_id: &str,
        keys: Option<&PartitionKeys>,
        data: impl FnOnce(&mut String),
    ) {
        self.sep();
        let (prefix, suffix) = ok_entry_parts(record_id, keys);
        // Written from `&str`s: lossless (and no copy).
        self.out.push_str(&String::from_utf8_lossy(&prefix));
        data(&mut self.out);
        self.out.push_str(&String::from_utf8_lossy(&suffix));
    }

    pub fn push(&mut self, record_id: &str, result: RecordResult) {
        debug_assert_ne!(
            result,
            RecordResult::Ok,
            "Ok entries carry data: use push_ok"
        );
        self.sep();
        let mut entry = Vec::with_capacity(record_id.len() + 48);
        write_other_entry(&mut entry, record_id, result);
        self.out.push_str(&String::from_utf8_lossy(&entry));
    }

    pub fn len(&self) -> usize {
        self.out.len() + ENVELOPE_CLOSE.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub fn finish(mut self) -> TransformResponse {
        self.out.push_str(ENVELOPE_CLOSE);
        let json = self.out;
        // SAFETY: the writer emits one JSON object without surrounding whitespace: the fixed envelope,
        // entries whose strings all go through `write_json_str` or are base64 (ASCII without quotes or
        // backslashes), separated by commas. Debug builds (every test) re-parse it inside
        // `from_string_unchecked`; the tests also parse every response they produce.
        #[allow(unsafe_code)]
        let raw = unsafe { RawValue::from_string_unchecked(json) };
        TransformResponse(Some(raw))
    }
}

/// A finished response. It serializes (with `serde_json`, as the Lambda runtime does) to exactly the bytes
/// that were written and accounted for. Dropping it hands its buffer to the next response.
#[derive(Debug)]
pub struct TransformResponse(Option<Box<RawValue>>);

impl TransformResponse {
    pub fn as_str(&self) -> &str {
        self.0.as_deref().map_or("", RawValue::get)
    }
    pub fn len(&self) -> usize {
        self.as_str().len()
    }
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Drop for TransformResponse {
    fn drop(&mut self) {
        if let Some(raw) = self.0.take() {
            let buf = String::from(Box::<str>::from(raw));
            if let Ok(mut spare) = SPARE.lock() {
                if buf.capacity() > spare.capacity() {
                    *spare = buf;
                }
            }
        }
    }
}

impl Serialize for TransformResponse {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(raw) => raw.serialize(s),
            None => s.serialize_unit(),
        }
    }
}

/// A response entry as read back (used by the CLI and tests).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseRecord {
    pub record_id: String,
    pub result: String,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ParsedResponse {
    pub records: Vec<ResponseRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn source_from_arns() {
        let mut ev = TransformEvent {
            invocation_id: "i".into(),
            delivery_stream_arn: "arn:aws:firehose:eu-west-1:123456789012:deliverystream/app-logs"
                .into(),
            source_kinesis_stream_arn: None,
            region: "eu-west-1".into(),
            records: vec![],
        };
        assert_eq!(
            ev.source().unwrap(),
            Source::DeliveryStream {
                name: "app-logs".into(),
                arn: ev.delivery_stream_arn.clone()
            }
        );
        ev.source_kinesis_stream_arn =
            Some("arn:aws:kinesis:eu-west-1:123456789012:stream/central".into());
        assert!(
            matches!(ev.source().unwrap(), Source::KinesisStream { name, .. } if name == "central")
        );
        ev.source_kinesis_stream_arn = Some("arn:aws:s3:::bucket".into());
        assert!(ev
            .source()
            .unwrap_err()
            .contains("not a Kinesis stream ARN"));
        ev.source_kinesis_stream_arn = None;
        ev.delivery_stream_arn = "nonsense".into();
        assert!(ev.source().is_err());
    }

    #[test]
    fn golden_response() {
        let mut keys = PartitionKeys::new();
        keys.insert("log_group".into(), "ecs/api".into());
        let mut w = ResponseWriter::with_capacity(0);
        w.push_ok("a", b"hi\n", Some(&keys));
        w.push("b\"", RecordResult::Dropped);
        w.push("c", RecordResult::ProcessingFailed);
        let r = w.finish();
        assert_eq!(
            r.as_str(),
            r#"{"records":[{"recordId":"a","result":"Ok","data":"aGkK","metadata":{"partitionKeys":{"log_group":"ecs/api"}}},{"recordId":"b\"","result":"Dropped"},{"recordId":"c","result":"ProcessingFailed"}]}"#
        );
        assert_eq!(serde_json::to_vec(&r).unwrap(), r.as_str().as_bytes());
    }

    #[test]
    fn a_reused_buffer_carries_nothing_over() {
        // A large response, dropped: its buffer becomes the spare the next writer starts from.
        let mut w = ResponseWriter::with_capacity(1 << 20);
        w.push_ok("big", &[b'x'; 300_000], None);
        let big = w.finish();
        assert!(big.len() > 400_000);
        drop(big);
        let mut w = ResponseWriter::with_capacity(0);
        w.push_ok("a", b"hi\n", None);
        let r = w.finish();
        assert_eq!(
            r.as_str(),
            r#"{"records":[{"recordId":"a","result":"Ok","data":"aGkK"}]}"#
        );
        assert_eq!(serde_json::to_vec(&r).unwrap(), r.as_str().as_bytes());
    }

    proptest! {
        /// The budget's account is exact for Ok/ProcessingFailed entries, an upper bound with Dropped ones,
        /// and the serialized response never exceeds the limit.
        #[test]
        fn budget_is_exact_and_bounded(
            records in proptest::collection::vec(("\\PC{1,60}", 0usize..5000, 0u8..3, any::<bool>()), 0..40),
            limit in 0usize..60_000,
        ) {
            let Ok(mut budget) = ResponseBudget::new(records.iter().map(|r| r.0.as_str()), limit) else { return Ok(()); };
            let mut keys = PartitionKeys::new();
            keys.insert("day".into(), "2026-11-21".into());
            let mut w = ResponseWriter::with_capacity(0);
            let mut any_dropped = false;
            for (id, len, kind, with_keys) in &records {
                let k = with_keys.then_some(&keys);
                match kind {
                    0 if budget.try_ok(id, *len, k) => w.push_ok(id, &vec![b'x'; *len], k),
                    1 => { any_dropped = true; w.push(id, RecordResult::Dropped) }
                    _ => w.push(id, RecordResult::ProcessingFailed),
                }
            }
            let r = w.finish();
            let wire = serde_json::to_vec(&r).unwrap();
            prop_assert!(wire.len() <= limit);
            prop_assert!(wire.len() <= budget.committed());
            if !any_dropped { prop_assert_eq!(wire.len(), budget.committed()); }
            let parsed: ParsedResponse = serde_json::from_slice(&wire).unwrap();
            prop_assert_eq!(parsed.records.len(), records.len());
            for (p, r) in parsed.records.iter().zip(&records) { prop_assert_eq!(&p.record_id, &r.0); }
        }
    }
}
