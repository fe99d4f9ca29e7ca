//! The transformation: Firehose records of CloudWatch Logs payloads in, NDJSON lines out (one per log event,
//! written by the configured [`Render`]).

use std::borrow::Cow;
use std::ops::Range;

use logcore::base::codec::{base64_len, decode_base64, gzip};
use logcore::base::time::DateTimeParts;
use logcore::logs::cwl::{decompress, LogEvent, MessageType, Payload};
use logcore::transform::firehose::{
    PartitionKeys, RecordResult, ResponseBudget, ResponseWriter, Source, TransformEvent,
    TransformRecord, TransformResponse,
};
use logcore::transform::reingest::{encode_parts, split_parts};
use logpipe_io::Store;
use serde::Serialize;
use sha2::Digest;
use tokio::time::Instant;

use crate::config::{Config, Oversize, PartitionKey};
use crate::render::Render;
use crate::sink::{limits_for, put_all, PutEntry, Reingest};

logcore::counts! {
    /// Counts of one invocation: its report line (summary and EMF metrics, see `logcore::base::report`). Every
    /// record ends in exactly one of `ok`, `dropped` or `failed`, and every log event of a decoded
    /// DATA_MESSAGE in exactly one of `events_out`, `events_excluded`, `events_reingested`,
    /// `events_written` or `events_failed`.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Summary<S = logcore::logs::document::DocStats> {
        pub records_in: u64 => "RecordsIn",
        pub ok: u64 => "RecordsOk",
        /// Records answered `Dropped`: control messages, payloads with no event left after filtering,
        /// records re-ingested into the source, and records whose documents were written to S3 directly.
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
        /// Records with a document no response can carry (over Lambda's 6 MB with its base64), or an event
        /// that cannot be re-ingested (over the source's record limit even compressed): their documents
        /// were written to S3 directly, where the delivery stream writes (`OVERSIZE_BUCKET`).
        pub written_records: u64 => "RecordsWrittenToS3",
        pub events_written: u64 => "EventsWrittenToS3",
        pub bytes_written: u64,
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

/// An object the transform wrote itself: the documents of a record no response could carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub record_id: String,
    pub bucket: String,
    pub key: String,
    pub events: u64,
    /// NDJSON bytes (before gzip).
    pub bytes: u64,
    /// Why the documents could not go through Firehose.
    pub reason: String,
}

/// Everything one invocation produced.
#[derive(Debug)]
pub struct Outcome<S = logcore::logs::document::DocStats> {
    pub response: TransformResponse,
    pub summary: Summary<S>,
    pub failures: Vec<Failure>,
    /// Objects written directly to S3, for the log (and for local runs, which deliver them onwards).
    pub written: Vec<Written>,
}

struct Pending {
    record: usize,
    entries: Range<usize>,
    /// The events of each part, as ranges over the record's kept (not excluded) events.
    parts: Vec<Range<usize>>,
}

/// A record whose documents are to be written to S3 directly.
struct Direct {
    record: usize,
    body: Vec<u8>,
    /// What the log says of it once it is written.
    written: Written,
}

/// Why a record cannot be put back into its source.
enum NotReingested {
    /// An event too large for the source's records: its documents can still be written directly.
    TooLarge(String),
    Other(String),
}

/// What every record of one invocation reads the same way.
struct Invocation<'a, R> {
    cfg: &'a Config<R>,
    /// `cloud.region`: the event's, else the function's.
    region: Option<&'a str>,
    /// Where records that do not fit are put back (an error when the event names no source).
    source: Result<Source, String>,
    /// Largest response share one re-ingested part of several events may need.
    part_budget: usize,
    /// Largest base64 document a record may carry to be sure of a response of its own later: the
    /// response less room for the other records' entries of an invocation.
    alone_budget: usize,
}

/// The answer being built: one result per record, and the counts.
struct Answer<S> {
    writer: ResponseWriter,
    budget: ResponseBudget,
    s: Summary<S>,
    failures: Vec<Failure>,
}

impl<S: Default> Answer<S> {
    fn fail(&mut self, record: &TransformRecord, reason: String) {
        self.writer
            .push(&record.record_id, RecordResult::ProcessingFailed);
        self.s.failed += 1;
        self.failures.push(Failure {
            record_id: record.record_id.clone(),
            reason,
        });
    }

    fn drop_record(&mut self, record: &TransformRecord) {
        self.writer.push(&record.record_id, RecordResult::Dropped);
        self.s.dropped += 1;
    }
}

/// Buffers reused from record to record, and the entries to put back.
#[derive(Default)]
struct Work<S> {
    /// The documents of the current record, and where each ends.
    docs: Vec<u8>,
    ends: Vec<usize>,
    /// Indices of the current record's events the filters kept.
    kept: Vec<usize>,
    stats: S,
    entries: Vec<PutEntry>,
    pending: Vec<Pending>,
    direct: Vec<Direct>,
}

/// Transform one Firehose event. `sink` takes re-ingested records, `store` the objects of records no
/// response can carry (when [`Config::oversize`] names a bucket). `deadline` is when the Lambda invocation
/// times out.
pub async fn handle<R: Render, S: Reingest, D: Store>(
    event: &TransformEvent,
    cfg: &Config<R>,
    sink: &S,
    store: &D,
    deadline: Instant,
) -> Result<Outcome<R::Stats>, HandlerError> {
    let budget = ResponseBudget::new(
        event.records.iter().map(|r| r.record_id.as_str()),
        cfg.response_limit,
    )
    .map_err(|needed| HandlerError::TooManyRecords {
        records: event.records.len(),
        needed,
        limit: cfg.response_limit,
    })?;
    let inv = Invocation {
        cfg,
        region: if event.region.is_empty() {
            cfg.region.as_deref()
        } else {
            Some(event.region.as_str())
        },
        source: event.source(),
        part_budget: cfg.part_output_budget.min(cfg.response_limit / 2),
        alone_budget: cfg.response_limit - cfg.response_limit / 8,
    };
    let writer =
        ResponseWriter::with_capacity(cfg.response_limit.min(
            budget.committed() + 3 * event.records.iter().map(|r| r.data.len()).sum::<usize>(),
        ));
    let mut answer = Answer {
        writer,
        budget,
        s: Summary {
            records_in: event.records.len() as u64,
            ..Summary::default()
        },
        failures: Vec::new(),
    };
    let mut work = Work::<R::Stats>::default();
    for i in answer_order(event) {
        take_record(&inv, &mut answer, &mut work, i, &event.records[i]);
    }
    answer.s.render = std::mem::take(&mut work.stats);
    let mut written = Vec::new();
    if cfg.oversize.is_some() {
        for d in std::mem::take(&mut work.direct) {
            let record = &event.records[d.record];
            let w = d.written;
            match store.put(&w.bucket, &w.key, d.body).await {
                Ok(()) => {
                    let s = &mut answer.s;
                    s.written_records += 1;
                    s.events_written += w.events;
                    s.bytes_written += w.bytes;
                    answer.drop_record(record);
                    written.push(w);
                }
                Err(e) => {
                    answer.s.events_failed += w.events;
                    let reason = format!(
                        "record {}: {}; writing its documents to s3://{}/{} failed: {e}",
                        record.record_id, w.reason, w.bucket, w.key
                    );
                    answer.fail(record, reason);
                }
            }
        }
    }
    if !work.pending.is_empty() {
        // Put the planned entries back into the source (retrying what it refuses, before the deadline),
        // then answer each planned record by what became of its parts. Inline, not in a function of its
        // own: one more async layer takes the Lambda's future past the compiler's layout depth limit.
        let Ok(source) = &inv.source else {
            unreachable!("records are only pending with a valid source")
        };
        let mut rng = fastrand::Rng::new();
        let report = put_all(
            sink,
            source,
            &work.entries,
            &cfg.backoff,
            cfg.call_timeout,
            deadline - cfg.common.deadline_margin,
            &mut rng,
        )
        .await;
        answer.s.put_calls = report.calls;
        answer.s.put_retried_entries = report.retried_entries;
        for p in &work.pending {
            let outcomes = &report.outcomes[p.entries.clone()];
            settle(
                &inv,
                source,
                &mut answer,
                &event.records[p.record],
                p,
                outcomes,
            );
        }
    }
    let response = answer.writer.finish();
    answer.s.response_bytes = response.len() as u64;
    debug_assert!(response.len() <= cfg.response_limit);
    Ok(Outcome {
        response,
        summary: answer.s,
        failures: answer.failures,
        written,
    })
}

/// The records in the order they are given room in the answer: those re-ingested before first, most hops
/// first. Otherwise a record that keeps arriving behind a full response would reach MAX_REINGEST_HOPS and
/// fail under a steady load. The answer lists records in this order (Firehose matches them by id).
fn answer_order(event: &TransformEvent) -> Vec<usize> {
    let mut order: Vec<(u32, usize)> = event
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| (logcore::logs::cwl::peek_hops(r.data.as_bytes()), i))
        .collect();
    if order.iter().any(|&(h, _)| h > 0) {
        order.sort_by_key(|&(h, i)| (std::cmp::Reverse(h), i));
    }
    order.into_iter().map(|(_, i)| i).collect()
}

/// One record: decoded, rendered, and answered `Ok` with its documents when they fit, `Dropped` when
/// nothing is left to deliver, `ProcessingFailed` when it cannot be read; or planned for re-ingestion.
fn take_record<R: Render>(
    inv: &Invocation<'_, R>,
    answer: &mut Answer<R::Stats>,
    work: &mut Work<R::Stats>,
    index: usize,
    record: &TransformRecord,
) {
    let cfg = inv.cfg;
    let s = &mut answer.s;
    let json = match decode_base64(record.data.as_bytes()).and_then(|gz| {
        s.bytes_in += gz.len() as u64;
        decompress(&gz, cfg.max_decompressed)
    }) {
        Ok(json) => json,
        Err(e) => return answer.fail(record, format!("record {}: {e}", record.record_id)),
    };
    s.bytes_decompressed += json.len() as u64;
    let payload = match Payload::parse(&json) {
        Ok(p) => p,
        Err(e) => return answer.fail(record, format!("record {}: {e}", record.record_id)),
    };
    if payload.message_type == MessageType::Control {
        answer.s.control_messages += 1;
        return answer.drop_record(record);
    }
    answer.s.events_in += payload.log_events.len() as u64;
    render(inv, work, &payload);
    answer.s.events_excluded += (payload.log_events.len() - work.kept.len()) as u64;
    if work.kept.is_empty() {
        return answer.drop_record(record);
    }
    let keys = partition_keys(
        &cfg.partition_keys,
        &payload,
        &payload.log_events[work.kept[0]],
    );
    if answer
        .budget
        .try_ok(&record.record_id, work.docs.len(), keys.as_ref())
    {
        answer
            .writer
            .push_ok(&record.record_id, &work.docs, keys.as_ref());
        answer.s.ok += 1;
        answer.s.events_out += work.kept.len() as u64;
        answer.s.bytes_out += work.docs.len() as u64;
        return;
    }
    // Does not fit in this response: put it back into the source, split if it is too large on its own;
    // a document no response can carry goes to S3 directly.
    let (largest, at) = largest_document(&work.ends);
    let result = if base64_len(largest) > inv.alone_budget {
        Err(NotReingested::TooLarge(format!(
            "log event {} gives a {largest}-byte document, over what a {}-byte transformation response can carry in base64",
            payload.log_events[work.kept[at]].id, cfg.response_limit
        )))
    } else {
        plan_reingest(inv, work, index, record, &payload)
    };
    match result {
        Ok(()) => {}
        Err(NotReingested::TooLarge(reason)) => {
            if let Some(oversize) = &cfg.oversize {
                match plan_direct(
                    oversize,
                    work,
                    index,
                    record,
                    &payload,
                    keys.as_ref(),
                    reason,
                ) {
                    Ok(d) => work.direct.push(d),
                    Err(reason) => {
                        answer.s.events_failed += work.kept.len() as u64;
                        answer.fail(record, reason);
                    }
                }
            } else {
                answer.s.events_failed += work.kept.len() as u64;
                answer.fail(
                    record,
                    format!(
                        "record {}: {reason}; set OVERSIZE_BUCKET and OVERSIZE_PREFIX to write such documents to S3 directly",
                        record.record_id
                    ),
                );
            }
        }
        Err(NotReingested::Other(reason)) => {
            answer.s.events_failed += work.kept.len() as u64;
            answer.fail(record, reason);
        }
    }
}

/// The longest document of a record (from the ends of its documents), and its index.
fn largest_document(ends: &[usize]) -> (usize, usize) {
    let mut start = 0;
    let mut best = (0, 0);
    for (i, &end) in ends.iter().enumerate() {
        if end - start > best.0 {
            best = (end - start, i);
        }
        start = end;
    }
    best
}

/// The object for a record's documents, named after the record so that a retried invocation writes the
/// same key again, under the prefix the delivery stream would have used for it.
fn plan_direct(
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

/// The documents of the events the filters keep, into `work.docs` (with `work.ends` and `work.kept`).
fn render<R: Render>(inv: &Invocation<'_, R>, work: &mut Work<R::Stats>, payload: &Payload<'_>) {
    work.docs.clear();
    work.ends.clear();
    work.kept.clear();
    let cfg = inv.cfg;
    let ctx = cfg.render.context(payload, inv.region);
    let filtering = !cfg.filter.is_noop();
    for (i, ev) in payload.log_events.iter().enumerate() {
        if filtering && !cfg.filter.keep(&ev.message) {
            continue;
        }
        cfg.render.write(&ctx, ev, &mut work.docs, &mut work.stats);
        work.ends.push(work.docs.len());
        work.kept.push(i);
    }
}

/// Split a record's kept events into payloads the source takes and each of whose documents fits in a
/// response, as entries to put back. The error says why the record cannot go back.
fn plan_reingest<R: Render>(
    inv: &Invocation<'_, R>,
    work: &mut Work<R::Stats>,
    index: usize,
    record: &TransformRecord,
    payload: &Payload<'_>,
) -> Result<(), NotReingested> {
    let cfg = inv.cfg;
    let limits = match &inv.source {
        Ok(src) => limits_for(src),
        Err(e) => {
            return Err(NotReingested::Other(format!(
                "record {}: output does not fit in the response and cannot be re-ingested: {e}",
                record.record_id
            )))
        }
    };
    // A record that would fit in a response on its own only lost its place to records with more hops
    // (or as many, and ahead of it): it goes back with one hop more and gets room before them next
    // time, so it is never failed for that. The hop limit stops a record that cannot fit even alone
    // (split parts always can): a loop guard.
    let fits_alone = base64_len(work.docs.len()) <= inv.alone_budget;
    if payload.hops >= cfg.max_hops && !fits_alone {
        return Err(NotReingested::Other(format!(
            "record {}: output does not fit in the response and the payload was already re-ingested {} times (MAX_REINGEST_HOPS={})",
            record.record_id, payload.hops, cfg.max_hops
        )));
    }
    let events: Vec<LogEvent<'_>> = work
        .kept
        .iter()
        .map(|&i| reborrow(&payload.log_events[i]))
        .collect();
    let mut sizes = Vec::with_capacity(work.ends.len());
    let mut start = 0;
    for &end in &work.ends {
        sizes.push(base64_len(end - start));
        start = end;
    }
    let partition_key = record
        .kinesis_record_metadata
        .as_ref()
        .and_then(|m| m.partition_key.clone())
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| fallback_partition_key(payload));
    let parts = split_parts(
        payload,
        &events,
        &sizes,
        limits.payload_budget(partition_key.len()),
        inv.part_budget,
    );
    let mut encoded = encode_parts(payload, &events, &parts, cfg.gzip_level);
    // A part over the budget holds one large event: it goes back if it compresses within the record
    // limit (at the best level, when the usual one is not enough).
    for (data, part) in encoded.iter_mut().zip(&parts) {
        if limits.entry_size(data.len(), partition_key.len()) <= limits.max_record_bytes {
            continue;
        }
        if let Some(best) = encode_parts(payload, &events, std::slice::from_ref(part), 9).pop() {
            *data = best;
        }
        let size = limits.entry_size(data.len(), partition_key.len());
        if size > limits.max_record_bytes {
            return Err(NotReingested::TooLarge(format!(
                "log event {} compresses to a {size}-byte record, over the {}-byte record limit of the source",
                events[part.start].id, limits.max_record_bytes
            )));
        }
    }
    let first = work.entries.len();
    for data in encoded {
        work.entries.push(PutEntry {
            data,
            partition_key: partition_key.clone(),
        });
    }
    work.pending.push(Pending {
        record: index,
        entries: first..work.entries.len(),
        parts,
    });
    Ok(())
}

/// Answer a record whose parts were put back: `Dropped` when every part was taken; failed when none was;
/// else the documents of the refused parts, when they fit, or failed (those taken are then duplicated in the
/// error prefix, never lost).
fn settle<R: Render>(
    inv: &Invocation<'_, R>,
    source: &Source,
    answer: &mut Answer<R::Stats>,
    record: &TransformRecord,
    p: &Pending,
    outcomes: &[Option<String>],
) {
    let s = &mut answer.s;
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
        s.reingested_records += 1;
        return answer.drop_record(record);
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
        return answer.fail(record, reason);
    }
    // Some parts are in the source already. Failing the record would send its original data, those
    // events included, to the error prefix; answer the rest as documents instead when they fit.
    if let Some(rest) = documents_of_parts(record, inv.cfg, inv.region, &failed_parts) {
        if answer
            .budget
            .try_ok(&record.record_id, rest.docs.len(), rest.keys.as_ref())
        {
            answer
                .writer
                .push_ok(&record.record_id, &rest.docs, rest.keys.as_ref());
            let s = &mut answer.s;
            s.ok += 1;
            s.reingested_records += 1;
            s.events_out += rejected;
            s.bytes_out += rest.docs.len() as u64;
            return;
        }
    }
    let s = &mut answer.s;
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
    answer.fail(record, reason);
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

fn source_name(source: &Source) -> &str {
    match source {
        Source::DeliveryStream { name, .. } => name,
        Source::KinesisStream { name, .. } => name,
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
