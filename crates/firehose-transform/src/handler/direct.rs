//! Records no response can carry: their documents as one gzip object, named after the record, under the
//! prefix the delivery stream would have used (written by the handler, then answered `Dropped`).

use logcore::base::codec::gzip;
use logcore::logs::cwl::Payload;
use logcore::transform::firehose::{PartitionKeys, TransformRecord};
use sha2::Digest;

use super::{Work, Written};
use crate::config::Oversize;

/// A record whose documents are to be written to S3 directly.
pub(super) struct Direct {
    pub(super) record: usize,
    pub(super) body: Vec<u8>,
    /// What the log says of it once it is written.
    pub(super) written: Written,
    /// Its log group and its events' timestamps, for the ledger once it is written; of those, the
    /// events in another event's document.
    pub(super) group: String,
    pub(super) timestamps: Vec<i64>,
    pub(super) joined: Vec<i64>,
}

/// The object for a record's documents, named after the record so that a retried invocation writes the
/// same key again, under the prefix the delivery stream would have used for it.
pub(super) fn plan_direct(
    oversize: &Oversize,
    work: &Work<impl Default>,
    index: usize,
    record: &TransformRecord,
    payload: &Payload<'_>,
    keys: Option<&PartitionKeys>,
    reason: String,
) -> Result<Direct, String> {
    let mut h = sha2::Sha256::new();
    h.update(record.record_id.as_bytes());
    h.update([0]);
    h.update(payload.log_group.as_bytes());
    h.update([0]);
    for &i in &work.kept {
        h.update(payload.log_events[i].id.as_bytes());
        h.update([0]);
    }
    let digest = logcore::base::codec::hex(&h.finalize()[..12]);
    let arrival = record
        .approximate_arrival_timestamp
        .or_else(|| {
            record
                .kinesis_record_metadata
                .as_ref()
                .and_then(|m| m.approximate_arrival_timestamp)
        })
        .unwrap_or_else(logcore::base::time::now_ms);
    let prefix = oversize
        .prefix
        .render(arrival, keys, &digest[..11])
        .map_err(|e| {
            format!(
                "record {}: {reason}; no object key for it: {e}",
                record.record_id
            )
        })?;
    Ok(Direct {
        group: payload.log_group.to_string(),
        timestamps: work
            .kept
            .iter()
            .map(|&i| payload.log_events[i].timestamp)
            .collect(),
        joined: work.joined_timestamps(&payload.log_events),
        record: index,
        body: gzip(&work.docs, 1),
        written: Written {
            record_id: record.record_id.clone(),
            bucket: oversize.bucket.clone(),
            key: format!("{prefix}logpipe-oversize-{digest}.gz"),
            events: work.kept.len() as u64,
            bytes: work.docs.len() as u64,
            reason,
        },
    })
}
