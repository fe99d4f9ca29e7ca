//! Running the transform in process, without AWS: re-ingested records are kept in memory and fed back as
//! a new Firehose event, the way the source stream would deliver them again.

use std::sync::Mutex;
use std::time::Duration;

use firehose_transform::{handle, Config, Outcome, PutEntry, Reingest, Render, Written};
use logcore::base::codec::{decode_base64, encode_base64};
use logcore::transform::firehose::{ParsedResponse, Source, TransformEvent, TransformRecord};
use logpipe_io::store::MemStore;
use logpipe_io::CallError;

/// A sink that accepts everything and keeps it.
#[derive(Default)]
pub struct MemorySink {
    pub entries: Mutex<Vec<PutEntry>>,
}

impl Reingest for MemorySink {
    async fn put(
        &self,
        _source: &Source,
        entries: &[PutEntry],
    ) -> Result<Vec<Option<String>>, CallError> {
        self.entries
            .lock()
            .map_err(|_| CallError::permanent("sink lock poisoned"))?
            .extend_from_slice(entries);
        Ok(vec![None; entries.len()])
    }
}

/// A sink that accepts everything and forgets it (benchmarks).
pub struct NullSink;

impl Reingest for NullSink {
    async fn put(
        &self,
        _source: &Source,
        entries: &[PutEntry],
    ) -> Result<Vec<Option<String>>, CallError> {
        Ok(vec![None; entries.len()])
    }
}

/// One pass of the handler over an event.
pub struct Pass<S> {
    pub outcome: Outcome<S>,
    pub documents: Vec<u8>,
    /// The objects the transform wrote itself (documents no response could carry, see
    /// [`Config::oversize`]), with their gzip bodies: the caller stores them where it keeps Firehose's.
    pub written: Vec<(Written, Vec<u8>)>,
}

/// Run the handler on `event`, then on the records it re-ingested, until nothing is re-ingested
/// (bounded by the hop limit, which the handler enforces).
pub async fn run_to_completion<R: Render>(
    mut event: TransformEvent,
    cfg: &Config<R>,
) -> Result<Vec<Pass<R::Stats>>, String> {
    let mut passes = Vec::new();
    for round in 0..=cfg.max_hops + 1 {
        let sink = MemorySink::default();
        let store = MemStore::default();
        let deadline = logpipe_io::lambda::Deadline::after(
            Duration::from_secs(300),
            cfg.common.deadline_margin,
        );
        let outcome = handle(&event, cfg, &sink, &store, deadline)
            .await
            .map_err(|e| e.to_string())?;
        let documents = documents_of(outcome.response.as_str())?;
        let written = outcome
            .written
            .iter()
            .map(|w| {
                let body = store.body(&w.bucket, &w.key).unwrap_or_default();
                (w.clone(), body)
            })
            .collect();
        passes.push(Pass {
            outcome,
            documents,
            written,
        });
        let entries = sink
            .entries
            .into_inner()
            .map_err(|_| "sink lock poisoned".to_string())?;
        if entries.is_empty() {
            break;
        }
        let records = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| TransformRecord {
                record_id: format!("reingested-{round}-{i}"),
                approximate_arrival_timestamp: None,
                data: encode_base64(&e.data),
                kinesis_record_metadata: event.source_kinesis_stream_arn.as_ref().map(|_| {
                    logcore::transform::firehose::KinesisRecordMetadata {
                        shard_id: None,
                        partition_key: Some(e.partition_key.clone()),
                        approximate_arrival_timestamp: None,
                        sequence_number: None,
                        subsequence_number: None,
                    }
                }),
            })
            .collect();
        event = TransformEvent { records, ..event };
    }
    Ok(passes)
}

/// The NDJSON of every `Ok` record of a response, in order.
pub fn documents_of(response: &str) -> Result<Vec<u8>, String> {
    let parsed: ParsedResponse =
        serde_json::from_str(response).map_err(|e| format!("response is not valid JSON: {e}"))?;
    let mut out = Vec::new();
    for r in parsed.records.iter().filter(|r| r.result == "Ok") {
        let data = r
            .data
            .as_deref()
            .ok_or_else(|| format!("Ok record {} has no data", r.record_id))?;
        out.extend(
            decode_base64(data.as_bytes()).map_err(|e| format!("record {}: {e}", r.record_id))?,
        );
    }
    Ok(out)
}
