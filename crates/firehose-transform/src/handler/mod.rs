//! The transformation: Firehose records of CloudWatch Logs payloads in, NDJSON lines out (one per log event,
//! written by the configured [`Render`]).

mod answer;
mod direct;
mod parallel;
mod record;
mod reingest;

use logcore::transform::firehose::{
    ResponseBudget, ResponseWriter, Source, TransformEvent, TransformResponse,
};
use logpipe_io::lambda::Deadline;
use logpipe_io::Store;
use serde::Serialize;

use crate::config::Config;
use crate::render::Render;
use crate::sink::{put_all, PutEntry, Reingest};
use answer::Answer;
use direct::Direct;
use record::{prepare, take_record, Spare};
use reingest::{settle, Pending};

logcore::counts! {
    /// Counts of one invocation: its report line (summary and EMF metrics, see `logcore::base::report`). Every
    /// record ends in exactly one of `ok`, `dropped` or `failed`, and every log event of a decoded
    /// DATA_MESSAGE in exactly one of `events_out`, `events_excluded`, `events_reingested`,
    /// `events_written` or `events_failed`. Of the events delivered (`events_out` and `events_written`),
    /// `events_joined` are in another event's document (multiline joining) and the rest each head one of
    /// the `documents_out`: events in = documents + joined + excluded + re-ingested + failed.
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
        /// Documents delivered: in `Ok` records, and in objects written to S3 directly.
        pub documents_out: u64 => "DocumentsOut",
        /// Events delivered inside another event's document: the lines of a stack trace after its first.
        pub events_joined: u64 => "EventsJoined",
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
        /// The events received from CloudWatch Logs (not re-ingested ones), per log group and hour of
        /// their timestamps, with those excluded by the filter and those written to S3 directly: the
        /// reconciliation's `received`, read back from the report line (no metric: one per group would
        /// cost per group).
        pub ledger: logcore::ledger::Tally,
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

/// Buffers reused from record to record, and the entries to put back.
#[derive(Default)]
struct Work<S> {
    /// The documents of the current record, and where each ends.
    docs: Vec<u8>,
    ends: Vec<usize>,
    /// Indices of the current record's events the filters kept.
    kept: Vec<usize>,
    /// For each document, the place in `kept` of its first event (the others up to the next document's
    /// are joined into it).
    firsts: Vec<usize>,
    /// The message of a joined record being written.
    line: String,
    stats: S,
    entries: Vec<PutEntry>,
    pending: Vec<Pending>,
    direct: Vec<Direct>,
}

/// Transform one Firehose event. `sink` takes re-ingested records, `store` the objects of records no
/// response can carry (when [`Config::oversize`] names a bucket). Re-ingestion starts no call that
/// could end past `deadline.stop`.
pub async fn handle<R: Render, S: Reingest, D: Store>(
    event: &TransformEvent,
    cfg: &Config<R>,
    sink: &S,
    store: &D,
    deadline: Deadline,
) -> Result<Outcome<R::Stats>, HandlerError> {
    let (inv, mut answer) = start(event, cfg)?;
    let mut work = Work::<R::Stats>::default();
    // Records are decoded and rendered on `cfg.threads` threads, and answered one by one in answer order.
    let order = answer_order(event);
    let spare = Spare::new();
    parallel::in_order(
        order.len(),
        cfg.threads,
        2 * cfg.threads,
        |k| prepare(&inv, &event.records[order[k]], &spare),
        |k, prepared| {
            let i = order[k];
            let record = &event.records[i];
            take_record(&inv, &mut answer, &mut work, i, record, prepared, &spare);
        },
    );
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
                    s.documents_out += w.events - d.joined.len() as u64;
                    s.events_joined += d.joined.len() as u64;
                    s.bytes_written += w.bytes;
                    s.ledger.written_directly(&d.group, d.timestamps);
                    s.ledger.joined(&d.group, d.joined);
                    answer.drop_record(record);
                    written.push(w);
                }
                Err(e) => {
                    let reason = format!(
                        "record {}: {}; writing its documents to s3://{}/{} failed: {e}",
                        record.record_id, w.reason, w.bucket, w.key
                    );
                    answer.s.ledger.failed(&d.group, d.timestamps);
                    answer.fail_events(record, w.events, reason);
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
            deadline.stop,
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

/// What an invocation of `event` starts from: how its records are read, and an empty answer with room
/// reserved for every record's entry (an error when even the entries do not fit the response).
fn start<'a, R: Render>(
    event: &'a TransformEvent,
    cfg: &'a Config<R>,
) -> Result<(Invocation<'a, R>, Answer<R::Stats>), HandlerError> {
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
    let answer = Answer {
        writer,
        budget,
        s: Summary {
            records_in: event.records.len() as u64,
            ..Summary::default()
        },
        failures: Vec::new(),
    };
    Ok((inv, answer))
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

#[cfg(test)]
mod tests;
