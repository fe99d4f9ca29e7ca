//! Planning re-ingestion: records whose output does not fit in the Firehose response are put back into the
//! source (Firehose `PutRecordBatch` or Kinesis `PutRecords`), split by byte budget where one record is too
//! large on its own, and grouped into calls that respect the service limits.

use std::ops::Range;

use crate::logs::cwl::{LogEvent, Payload};

/// Limits of one put call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutLimits {
    pub max_records: usize,
    pub max_request_bytes: usize,
    pub max_record_bytes: usize,
    /// Kinesis counts the partition key towards the record and request sizes.
    pub partition_key_counts: bool,
}

/// Firehose `PutRecordBatch`: 500 records, 4 MiB per call, 1,000 KiB per record.
pub const FIREHOSE_LIMITS: PutLimits = PutLimits {
    max_records: 500,
    max_request_bytes: 4 * 1024 * 1024,
    max_record_bytes: 1000 * 1024,
    partition_key_counts: false,
};

/// Kinesis `PutRecords`: 500 records, 5 MiB per call, 1 MiB per record (data plus partition key).
pub const KINESIS_LIMITS: PutLimits = PutLimits {
    max_records: 500,
    max_request_bytes: 5 * 1024 * 1024,
    max_record_bytes: 1024 * 1024,
    partition_key_counts: true,
};

/// Room left for gzip's own overhead when an uncompressed part must compress below a record limit: stored
/// (incompressible) deflate blocks add 5 bytes per 64 KiB plus an 18-byte gzip header and trailer.
const GZIP_SLACK: usize = 1024;

impl PutLimits {
    /// Size an entry counts for.
    pub fn entry_size(&self, data_len: usize, partition_key_len: usize) -> usize {
        data_len
            + if self.partition_key_counts {
                partition_key_len
            } else {
                0
            }
    }

    /// Largest uncompressed payload JSON that is sure to compress to a record within the limit.
    pub fn payload_budget(&self, partition_key_len: usize) -> usize {
        self.max_record_bytes.saturating_sub(
            GZIP_SLACK
                + if self.partition_key_counts {
                    partition_key_len
                } else {
                    0
                },
        )
    }

    /// Group entries of the given sizes, in order, into consecutive calls within the limits.
    /// An entry larger than a record may be is returned alone in its own call (the caller must not send it).
    pub fn batches(&self, sizes: &[usize]) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut bytes = 0;
        for (i, &s) in sizes.iter().enumerate() {
            if i > start && (i - start == self.max_records || bytes + s > self.max_request_bytes) {
                out.push(start..i);
                start = i;
                bytes = 0;
            }
            bytes += s;
        }
        if start < sizes.len() {
            out.push(start..sizes.len());
        }
        out
    }
}

/// Serialized length of one event inside `logEvents`.
pub fn event_json_len(ev: &LogEvent<'_>) -> usize {
    serde_json::to_vec(ev)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

/// Split `events` of `payload` into consecutive parts, in one pass, such that every part's payload JSON is
/// at most `json_budget` bytes and the output its events produce (`output_sizes[i]` bytes each, as it will
/// appear in a response, i.e. base64 of the NDJSON) is at most `output_budget` bytes. An event over either
/// budget on its own gets a part of its own: whether that part can go back (its gzip within the record
/// limit, its output within a response) is the caller's to check, on the encoded part.
///
/// `joined[i]` says event `i` is in the document of the event before it (multiline joining): a part never
/// begins with it, so that each part, transformed again, makes the same documents (an empty slice: no
/// event is). Such a run is one unit, over the budgets or not, like one large event.
pub fn split_parts(
    payload: &Payload<'_>,
    events: &[LogEvent<'_>],
    output_sizes: &[usize],
    joined: &[bool],
    json_budget: usize,
    output_budget: usize,
) -> Vec<Range<usize>> {
    debug_assert_eq!(events.len(), output_sizes.len());
    debug_assert!(joined.is_empty() || joined.len() == events.len());
    let header = serde_json::to_vec(&payload.with_events(&[], payload.hops.saturating_add(1)))
        .map(|v| v.len())
        .unwrap_or(0);
    let mut parts = Vec::new();
    let mut start = 0;
    let mut json = header;
    let mut output = 0usize;
    let mut i = 0;
    while i < events.len() {
        // One unit: an event and the events joined into its document.
        let mut end = i + 1;
        while joined.get(end).copied().unwrap_or(false) {
            end += 1;
        }
        let uj: usize = events[i..end].iter().map(|ev| event_json_len(ev) + 1).sum(); // and commas
        let uo: usize = output_sizes[i..end].iter().sum();
        if i > start && (json + uj > json_budget || output + uo > output_budget) {
            parts.push(start..i);
            start = i;
            json = header;
            output = 0;
        }
        json += uj;
        output += uo;
        i = end;
    }
    if start < events.len() {
        parts.push(start..events.len());
    }
    parts
}

/// Encode each part as a gzip payload with the hop counter raised by one.
pub fn encode_parts(
    payload: &Payload<'_>,
    events: &[LogEvent<'_>],
    parts: &[Range<usize>],
    level: u32,
) -> Vec<Vec<u8>> {
    parts
        .iter()
        .map(|r| {
            payload
                .with_events(&events[r.clone()], payload.hops.saturating_add(1))
                .encode_gzip(level)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::cwl::{decompress, MessageType};
    use proptest::prelude::*;

    #[test]
    fn batches_respect_count_and_bytes() {
        let l = PutLimits {
            max_records: 3,
            max_request_bytes: 10,
            max_record_bytes: 10,
            partition_key_counts: false,
        };
        assert_eq!(l.batches(&[1, 1, 1, 1]), vec![0..3, 3..4]);
        assert_eq!(l.batches(&[6, 5, 4, 10, 1]), vec![0..1, 1..3, 3..4, 4..5]);
        assert_eq!(l.batches(&[]), Vec::<Range<usize>>::new());
    }

    fn payload_with(messages: Vec<String>) -> Payload<'static> {
        Payload {
            message_type: MessageType::Data,
            owner: "123456789012".into(),
            log_group: "/g".into(),
            log_stream: "s".into(),
            subscription_filters: vec!["f".into()],
            log_events: messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| LogEvent {
                    id: i.to_string().into(),
                    timestamp: i as i64,
                    message: m.into(),
                    literal: None,
                })
                .collect(),
            hops: 1,
        }
    }

    #[test]
    fn an_event_over_a_budget_goes_alone() {
        let p = payload_with(vec![
            "x".repeat(10),
            "y".repeat(5000),
            "z".repeat(10),
            "w".repeat(10),
        ]);
        let parts = split_parts(&p, &p.log_events, &[10, 10, 500, 10], &[], 1000, 100);
        assert_eq!(parts, vec![0..1, 1..2, 2..3, 3..4]);
        // Events 1 and 2 in one document (its size on the first): never apart.
        let parts = split_parts(
            &p,
            &p.log_events,
            &[10, 510, 0, 10],
            &[false, false, true, false],
            1000,
            100,
        );
        assert_eq!(parts, vec![0..1, 1..3, 3..4]);
    }

    proptest! {
        /// Every event lands in exactly one part, in order; every part is within both budgets or holds one
        /// event; decoding the encoded parts gives back the events with the hop counter raised.
        #[test]
        fn parts_cover_events_within_budgets(
            msgs in proptest::collection::vec(prop_oneof![9 => "\\PC{0,300}", 1 => "\\PC{2000,4000}"], 1..60),
            json_budget in 3000usize..8000, output_budget in 1400usize..4000,
            joins in proptest::collection::vec(any::<bool>(), 60),
        ) {
            let p = payload_with(msgs);
            let out: Vec<usize> = p.log_events.iter().map(|e| e.message.len() + 100).collect();
            let joined: Vec<bool> = joins[..p.log_events.len()].to_vec();
            let parts = split_parts(&p, &p.log_events, &out, &joined, json_budget, output_budget);
            let covered: Vec<usize> = parts.iter().flat_map(|r| r.clone()).collect();
            prop_assert_eq!(covered, (0..p.log_events.len()).collect::<Vec<_>>());
            // No part begins inside a document.
            prop_assert!(parts.iter().all(|r| r.start == 0 || !joined[r.start]));
            let whole_documents = |r: &Range<usize>| r.clone().skip(1).all(|i| joined[i]);
            let encoded = encode_parts(&p, &p.log_events, &parts, 1);
            let mut back = Vec::new();
            for (r, gz) in parts.iter().zip(&encoded) {
                let json = decompress(gz, usize::MAX).unwrap();
                if r.len() > 1 && !whole_documents(r) {
                    prop_assert!(json.len() <= json_budget, "part JSON {} > {}", json.len(), json_budget);
                    prop_assert!(gz.len() <= json_budget + GZIP_SLACK);
                    prop_assert!(out[r.clone()].iter().sum::<usize>() <= output_budget);
                }
                let q = Payload::parse(&json).unwrap();
                prop_assert_eq!(q.hops, 2);
                back.extend(q.log_events.into_iter().map(|e| (e.id.into_owned(), e.message.into_owned())));
            }
            let orig: Vec<_> = p.log_events.iter().map(|e| (e.id.to_string(), e.message.to_string())).collect();
            prop_assert_eq!(back, orig);
        }

        #[test]
        fn batches_cover_in_order_within_limits(sizes in proptest::collection::vec(1usize..400, 0..300)) {
            let l = PutLimits { max_records: 7, max_request_bytes: 1000, max_record_bytes: 400, partition_key_counts: false };
            let b = l.batches(&sizes);
            let covered: Vec<usize> = b.iter().flat_map(|r| r.clone()).collect();
            prop_assert_eq!(covered, (0..sizes.len()).collect::<Vec<_>>());
            for r in b {
                prop_assert!(r.len() <= 7);
                prop_assert!(sizes[r].iter().sum::<usize>() <= 1000);
            }
        }
    }
}
