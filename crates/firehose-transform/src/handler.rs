//! The transformation: Firehose records of CloudWatch Logs payloads in, NDJSON lines out (one per log event,
//! written by the configured [`Render`]).

use std::borrow::Cow;
use std::ops::Range;

use logcore::codec::{base64_len, decode_base64};
use logcore::cwl::{decompress, LogEvent, MessageType, Payload};
use logcore::firehose::{
    PartitionKeys, RecordResult, ResponseBudget, ResponseWriter, TransformEvent, TransformRecord,
    TransformResponse,
};
use logcore::reingest::{encode_parts, split_parts};
use logcore::time::DateTimeParts;
use serde::Serialize;
use tokio::time::Instant;

use crate::config::{Config, PartitionKey};
use crate::render::Render;
use crate::sink::{limits_for, put_all, PutEntry, Reingest};

logcore::counts! {
    /// Counts of one invocation: its report line (summary and EMF metrics, see `logcore::report`). Every
    /// record ends in exactly one of `ok`, `dropped` or `failed`, and every log event of a decoded
    /// DATA_MESSAGE in exactly one of `events_out`, `events_excluded`, `events_reingested` or
    /// `events_failed`.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Summary<S = logcore::document::DocStats> {
        pub records_in: u64 => "RecordsIn",
        pub ok: u64 => "RecordsOk",
        /// Records answered `Dropped`: control messages, payloads with no event left after filtering, and
        /// records re-ingested into the source.
        pub dropped: u64 => "RecordsDropped",
        pub failed: u64 => "RecordsFailed",
        pub control_messages: u64,
        /// Records whose events were put back into the source: all of them (the record is `Dropped`), or
        /// some parts of a split record whose other parts failed and were answered as documents (`Ok`).
        pub reingested_records: u64 => "RecordsReingested",
        pub reingested_parts: u64,
        /// Split records of which some parts were accepted and others not after every retry, and whose
        /// other parts did not fit in the response either: the record is failed (its original data goes to
        /// the error prefix) although some of its events were re-ingested. Nothing is lost; those events
        /// are duplicated.
        pub reingest_partial: u64 => "ReingestPartial",
        pub put_calls: u64,
        pub put_retried_entries: u64,
        pub events_in: u64 => "EventsIn",
        pub events_out: u64 => "EventsOut",
        pub events_excluded: u64 => "EventsExcluded",
        pub events_reingested: u64,
        pub events_failed: u64 => "EventsFailed",
        /// What the renderer counted (JSON messages, audit records, parse errors, …).
        #[serde(flatten)]
        pub render: S,
        /// Base64-decoded (compressed) input bytes.
        pub bytes_in: u64 => "BytesIn" in Bytes,
        pub bytes_decompressed: u64,
        /// NDJSON bytes in `Ok` records.
        pub bytes_out: u64 => "BytesOut" in Bytes,
        pub response_bytes: u64 => "ResponseBytes" in Bytes,
    }
}

/// Why an invocation cannot be answered at all (Firehose then retries the batch).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{records} records need {needed} bytes of response even without data, over the {limit}-byte limit")]
    TooManyRecords {
        records: usize,
        needed: usize,
        limit: usize,
    },
}

/// A failed record and why, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub record_id: String,
    pub reason: String,
}

/// Everything one invocation produced.
#[derive(Debug)]
pub struct Outcome<S = logcore::document::DocStats> {
    pub response: TransformResponse,
    pub summary: Summary<S>,
    pub failures: Vec<Failure>,
}

struct Pending {
    record: usize,
    entries: Range<usize>,
    /// The events of each part, as ranges over the record's kept (not excluded) events.
    parts: Vec<Range<usize>>,
}

/// Transform one Firehose event. `deadline` is when the Lambda invocation times out.
pub async fn handle<R: Render, S: Reingest>(
    event: &TransformEvent,
    cfg: &Config<R>,
    sink: &S,
    deadline: Instant,
) -> Result<Outcome<R::Stats>, HandlerError> {
    let mut s = Summary::<R::Stats> {
        records_in: event.records.len() as u64,
        ..Summary::default()
    };
    let mut budget = ResponseBudget::new(
        event.records.iter().map(|r| r.record_id.as_str()),
        cfg.response_limit,
    )
    .map_err(|needed| HandlerError::TooManyRecords {
        records: event.records.len(),
        needed,
        limit: cfg.response_limit,
    })?;
    let region = if event.region.is_empty() {
        cfg.region.as_deref()
    } else {
        Some(event.region.as_str())
    };
    let source = event.source();
    let part_budget = cfg.part_output_budget.min(cfg.response_limit / 2);

    let mut writer =
        ResponseWriter::with_capacity(cfg.response_limit.min(
            budget.committed() + 3 * event.records.iter().map(|r| r.data.len()).sum::<usize>(),
        ));
    let mut failures = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut entries: Vec<PutEntry> = Vec::new();
    let mut docs: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut kept: Vec<usize> = Vec::new();
    let mut stats = R::Stats::default();

    let mut fail = |writer: &mut ResponseWriter,
                    s: &mut Summary<R::Stats>,
                    record: &TransformRecord,
                    reason: String| {
        writer.push(&record.record_id, RecordResult::ProcessingFailed);
        s.failed += 1;
        failures.push(Failure {
            record_id: record.record_id.clone(),
            reason,
        });
    };

    // Records re-ingested before are given room first, most hops first: otherwise a record that keeps
    // arriving behind a full response would reach MAX_REINGEST_HOPS and fail under a steady load. The
    // answer lists records in this order (Firehose matches them by id).
    let mut order: Vec<(u32, usize)> = event
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| (logcore::cwl::peek_hops(r.data.as_bytes()), i))
        .collect();
    if order.iter().any(|&(h, _)| h > 0) {
        order.sort_by_key(|&(h, i)| (std::cmp::Reverse(h), i));
    }
    for (ri, record) in order.into_iter().map(|(_, i)| (i, &event.records[i])) {
        let json = match decode_base64(record.data.as_bytes()).and_then(|gz| {
            s.bytes_in += gz.len() as u64;
            decompress(&gz, cfg.max_decompressed)
        }) {
            Ok(json) => json,
            Err(e) => {
                fail(
                    &mut writer,
                    &mut s,
                    record,
                    format!("record {}: {e}", record.record_id),
                );
                continue;
            }
        };
        s.bytes_decompressed += json.len() as u64;
        let payload = match Payload::parse(&json) {
            Ok(p) => p,
            Err(e) => {
                fail(
                    &mut writer,
                    &mut s,
                    record,
                    format!("record {}: {e}", record.record_id),
                );
                continue;
            }
        };
        if payload.message_type == MessageType::Control {
            writer.push(&record.record_id, RecordResult::Dropped);
            s.dropped += 1;
            s.control_messages += 1;
            continue;
        }
        s.events_in += payload.log_events.len() as u64;

        docs.clear();
        ends.clear();
        kept.clear();
        let ctx = cfg.render.context(&payload, region);
        let filtering = !cfg.filter.is_noop();
        for (i, ev) in payload.log_events.iter().enumerate() {
            if filtering && !cfg.filter.keep(&ev.message) {
                continue;
            }
            cfg.render.write(&ctx, ev, &mut docs, &mut stats);
            ends.push(docs.len());
            kept.push(i);
        }
        s.events_excluded += (payload.log_events.len() - kept.len()) as u64;
        if kept.is_empty() {
            writer.push(&record.record_id, RecordResult::Dropped);
            s.dropped += 1;
            continue;
        }
        let keys = partition_keys(&cfg.partition_keys, &payload, &payload.log_events[kept[0]]);
        if budget.try_ok(&record.record_id, docs.len(), keys.as_ref()) {
            writer.push_ok(&record.record_id, &docs, keys.as_ref());
            s.ok += 1;
            s.events_out += kept.len() as u64;
            s.bytes_out += docs.len() as u64;
            continue;
        }

        // Does not fit in this response: put it back into the source, split if it is too large on its own.
        let limits = match &source {
            Ok(src) => limits_for(src),
            Err(e) => {
                s.events_failed += kept.len() as u64;
                let reason = format!(
                    "record {}: output does not fit in the response and cannot be re-ingested: {e}",
                    record.record_id
                );
                fail(&mut writer, &mut s, record, reason);
                continue;
            }
        };
        // A record that would fit in a response on its own only lost its place to records with more hops
        // (or as many, and ahead of it): it goes back with one hop more and gets room before them next
        // time, so it is never failed for that. The hop limit stops a record that cannot fit even alone
        // (split parts always can): a loop guard.
        let fits_alone = base64_len(docs.len()) <= part_budget;
        if payload.hops >= cfg.max_hops && !fits_alone {
            s.events_failed += kept.len() as u64;
            fail(&mut writer, &mut s, record, format!(
                "record {}: output does not fit in the response and the payload was already re-ingested {} times (MAX_REINGEST_HOPS={})",
                record.record_id, payload.hops, cfg.max_hops
            ));
            continue;
        }
        let events: Vec<LogEvent<'_>> = kept
            .iter()
            .map(|&i| reborrow(&payload.log_events[i]))
            .collect();
        let mut sizes = Vec::with_capacity(ends.len());
        let mut start = 0;
        for &end in &ends {
            sizes.push(base64_len(end - start));
            start = end;
        }
        let partition_key = record
            .kinesis_record_metadata
            .as_ref()
            .and_then(|m| m.partition_key.clone())
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| fallback_partition_key(&payload));
        let parts = match split_parts(
            &payload,
            &events,
            &sizes,
            limits.payload_budget(partition_key.len()),
            part_budget,
        ) {
            Ok(p) => p,
            Err(e) => {
                s.events_failed += kept.len() as u64;
                fail(
                    &mut writer,
                    &mut s,
                    record,
                    format!("record {}: {e}", record.record_id),
                );
                continue;
            }
        };
        let first = entries.len();
        for data in encode_parts(&payload, &events, &parts, cfg.gzip_level) {
            entries.push(PutEntry {
                data,
                partition_key: partition_key.clone(),
            });
        }
        pending.push(Pending {
            record: ri,
            entries: first..entries.len(),
            parts,
        });
    }
    s.render = stats;

    if !pending.is_empty() {
        let Ok(source) = &source else {
            unreachable!("records are only pending with a valid source")
        };
        let mut rng = fastrand::Rng::new();
        let report = put_all(
            sink,
            source,
            &entries,
            &cfg.backoff,
            cfg.call_timeout,
            deadline - cfg.common.deadline_margin,
            &mut rng,
        )
        .await;
        s.put_calls = report.calls;
        s.put_retried_entries = report.retried_entries;
        for p in pending {
            let record = &event.records[p.record];
            let outcomes = &report.outcomes[p.entries.clone()];
            let total = p.parts.iter().map(|r| r.len() as u64).sum::<u64>();
            let failed_parts: Vec<Range<usize>> = p
                .parts
                .iter()
                .zip(outcomes)
                .filter(|(_, o)| o.is_some())
                .map(|(r, _)| r.clone())
                .collect();
            let rejected = failed_parts.iter().map(|r| r.len() as u64).sum::<u64>();
            let accepted = total - rejected;
            s.reingested_parts += (outcomes.len() - failed_parts.len()) as u64;
            s.events_reingested += accepted;
            if rejected == 0 {
                writer.push(&record.record_id, RecordResult::Dropped);
                s.dropped += 1;
                s.reingested_records += 1;
                continue;
            }
            let errors: Vec<&str> = outcomes.iter().flatten().map(String::as_str).collect();
            if accepted == 0 {
                s.events_failed += total;
                let reason = format!(
                    "record {}: re-ingestion into {} failed: {}",
                    record.record_id,
                    source_name(source),
                    errors[0]
                );
                fail(&mut writer, &mut s, record, reason);
                continue;
            }
            // Some parts are in the source already. Failing the record would send its original data, those
            // events included, to the error prefix; answer the rest as documents instead when they fit.
            if let Some(rest) = documents_of_parts(record, cfg, region, &failed_parts) {
                if budget.try_ok(&record.record_id, rest.docs.len(), rest.keys.as_ref()) {
                    writer.push_ok(&record.record_id, &rest.docs, rest.keys.as_ref());
                    s.ok += 1;
                    s.reingested_records += 1;
                    s.events_out += rejected;
                    s.bytes_out += rest.docs.len() as u64;
                    continue;
                }
            }
            s.reingest_partial += 1;
            s.events_failed += rejected;
            let reason = format!(
                "record {}: re-ingestion into {} failed for {} of {} parts and the rest does not fit in the response ({} of {} events were re-ingested and are also in the failed record): {}",
                record.record_id,
                source_name(source),
                errors.len(),
                outcomes.len(),
                accepted,
                total,
                errors[0]
            );
            fail(&mut writer, &mut s, record, reason);
        }
    }
    let response = writer.finish();
    s.response_bytes = response.len() as u64;
    debug_assert!(response.len() <= cfg.response_limit);
    Ok(Outcome {
        response,
        summary: s,
        failures,
    })
}

struct PartDocuments {
    docs: Vec<u8>,
    keys: Option<PartitionKeys>,
}

/// The documents of some parts of a record that was split for re-ingestion, rebuilt from the record (a rare
/// path: only when a re-ingestion failed for some parts after every retry). The record decoded once already.
fn documents_of_parts<R: Render>(
    record: &TransformRecord,
    cfg: &Config<R>,
    region: Option<&str>,
    parts: &[Range<usize>],
) -> Option<PartDocuments> {
    let gz = decode_base64(record.data.as_bytes()).ok()?;
    let json = decompress(&gz, cfg.max_decompressed).ok()?;
    let payload = Payload::parse(&json).ok()?;
    let kept: Vec<&LogEvent<'_>> = payload
        .log_events
        .iter()
        .filter(|ev| cfg.filter.keep(&ev.message))
        .collect();
    let ctx = cfg.render.context(&payload, region);
    let mut docs = Vec::new();
    // Not counted again: these events were rendered and counted in the first pass.
    let mut stats = R::Stats::default();
    let mut first = None;
    for r in parts {
        for ev in kept.get(r.clone())? {
            first.get_or_insert(*ev);
            cfg.render.write(&ctx, ev, &mut docs, &mut stats);
        }
    }
    let keys = partition_keys(&cfg.partition_keys, &payload, first?);
    Some(PartDocuments { docs, keys })
}

fn source_name(source: &logcore::firehose::Source) -> &str {
    match source {
        logcore::firehose::Source::DeliveryStream { name, .. } => name,
        logcore::firehose::Source::KinesisStream { name, .. } => name,
    }
}

fn reborrow<'a>(ev: &'a LogEvent<'_>) -> LogEvent<'a> {
    LogEvent {
        id: Cow::Borrowed(&ev.id),
        timestamp: ev.timestamp,
        message: Cow::Borrowed(&ev.message),
    }
}

fn fallback_partition_key(payload: &Payload<'_>) -> String {
    let key: String = format!("{}{}", payload.log_group, payload.log_stream)
        .chars()
        .take(256)
        .collect();
    if key.is_empty() {
        "logpipe".to_string()
    } else {
        key
    }
}

fn partition_keys(
    keys: &[PartitionKey],
    payload: &Payload<'_>,
    first: &LogEvent<'_>,
) -> Option<PartitionKeys> {
    if keys.is_empty() {
        return None;
    }
    let t = DateTimeParts::from_millis(first.timestamp);
    let non_empty = |s: &str| {
        if s.is_empty() {
            "unknown".to_string()
        } else {
            s.to_string()
        }
    };
    Some(
        keys.iter()
            .map(|k| {
                let v = match k {
                    PartitionKey::LogGroup => non_empty(payload.log_group.trim_start_matches('/')),
                    PartitionKey::LogStream => non_empty(&payload.log_stream),
                    PartitionKey::AccountId => non_empty(&payload.owner),
                    PartitionKey::Year => format!("{:04}", t.year),
                    PartitionKey::Month => format!("{:02}", t.month),
                    PartitionKey::Day => format!("{:02}", t.day),
                    PartitionKey::Hour => format!("{:02}", t.hour),
                    PartitionKey::Date => t.date(),
                };
                (k.name().to_string(), v)
            })
            .collect(),
    )
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
