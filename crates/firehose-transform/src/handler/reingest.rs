//! Records whose documents do not fit in this response: split into payloads the source takes (each of
//! whose documents fits a response), put back with one hop more, and answered by what became of the parts.

use std::borrow::Cow;
use std::ops::Range;

use logcore::base::codec::{base64_len, decode_base64};
use logcore::logs::cwl::{decompress, LogEvent, Payload};
use logcore::transform::firehose::{PartitionKeys, Source, TransformRecord};
use logcore::transform::reingest::{encode_parts, split_parts};

use super::answer::Answer;
use super::record::{partition_keys, render};
use super::{Invocation, Work};
use crate::config::Config;
use crate::render::Render;
use crate::sink::{limits_for, PutEntry};

/// A record whose parts were planned for re-ingestion, and where its entries are.
pub(super) struct Pending {
    pub(super) record: usize,
    pub(super) entries: Range<usize>,
    /// The events of each part, as ranges over the record's kept (not excluded) events.
    pub(super) parts: Vec<Range<usize>>,
    /// The record's log group and its kept events' timestamps, for the ledger of those that fail.
    pub(super) group: String,
    pub(super) timestamps: Vec<i64>,
}

/// Why a record cannot be put back into its source.
pub(super) enum NotReingested {
    /// An event too large for the source's records: its documents can still be written directly.
    TooLarge(String),
    Other(String),
}

/// Split a record's kept events into payloads the source takes and each of whose documents fits in a
/// response, as entries to put back. The error says why the record cannot go back.
pub(super) fn plan_reingest<R: Render>(
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
    // A document's size on its first event; the events joined into it weigh nothing of their own and
    // never begin a part.
    let mut sizes = vec![0; work.kept.len()];
    let mut start = 0;
    for (&end, &first) in work.ends.iter().zip(&work.firsts) {
        sizes[first] = base64_len(end - start);
        start = end;
    }
    let joined: Vec<bool> = if work.firsts.len() == work.kept.len() {
        Vec::new()
    } else {
        work.joined_flags().collect()
    };
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
        &joined,
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
        group: payload.log_group.to_string(),
        timestamps: events.iter().map(|e| e.timestamp).collect(),
    });
    Ok(())
}

/// Answer a record whose parts were put back: `Dropped` when every part was taken; failed when none was;
/// else the documents of the refused parts, when they fit, or failed (those taken are then duplicated in the
/// error prefix, never lost).
pub(super) fn settle<R: Render>(
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
    // The events of the parts not taken, for the ledger when the record fails.
    let refused_ts = || {
        failed_parts
            .iter()
            .flat_map(|r| p.timestamps[r.clone()].iter().copied())
            .collect::<Vec<i64>>()
    };
    if accepted == 0 {
        let reason = format!(
            "record {}: re-ingestion into {} failed: {}",
            record.record_id,
            source_name(source),
            errors[0]
        );
        answer.s.ledger.failed(&p.group, refused_ts());
        return answer.fail_events(record, total, reason);
    }
    // Some parts are in the source already. Failing the record would send its original data, those
    // events included, to the error prefix; answer the rest as documents instead when they fit.
    if let Some(rest) = documents_of_parts(record, inv.cfg, inv.region, &failed_parts) {
        if answer.try_ok(
            record,
            &rest.docs,
            None,
            rest.keys.as_ref(),
            rejected,
            &p.group,
            &rest.joined,
        ) {
            answer.s.reingested_records += 1;
            return;
        }
    }
    answer.s.reingest_partial += 1;
    answer.s.ledger.failed(&p.group, refused_ts());
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
    answer.fail_events(record, rejected, reason);
}

struct PartDocuments {
    docs: Vec<u8>,
    keys: Option<PartitionKeys>,
    /// The timestamps of their events that are in another event's document.
    joined: Vec<i64>,
}

/// The documents of some parts of a record that was split for re-ingestion, rebuilt from the record (a rare
/// path: only when a re-ingestion failed for some parts after every retry). The record decoded and
/// rendered once already; rendered again the same way, its documents are the same, and a part holds
/// whole documents.
fn documents_of_parts<R: Render>(
    record: &TransformRecord,
    cfg: &Config<R>,
    region: Option<&str>,
    parts: &[Range<usize>],
) -> Option<PartDocuments> {
    let gz = decode_base64(record.data.as_bytes()).ok()?;
    let json = decompress(&gz, cfg.max_decompressed).ok()?;
    let payload = Payload::parse(&json).ok()?;
    let ctx = cfg.render.context(&payload, region);
    // Not counted again: these events were rendered and counted in the first pass.
    let mut work = Work::<R::Stats>::default();
    render(
        cfg,
        &ctx,
        &payload.log_group,
        &payload.log_events,
        &mut work,
    );
    let joined_flags: Vec<bool> = work.joined_flags().collect();
    let mut docs = Vec::new();
    let mut joined = Vec::new();
    let mut first = None;
    for r in parts {
        for pos in r.clone() {
            let &i = work.kept.get(pos)?;
            if *joined_flags.get(pos)? {
                joined.push(payload.log_events[i].timestamp);
            }
        }
        // The documents whose first event is in the part.
        for (d, &f) in work.firsts.iter().enumerate() {
            if r.contains(&f) {
                let start = if d == 0 { 0 } else { work.ends[d - 1] };
                docs.extend_from_slice(&work.docs[start..work.ends[d]]);
                first.get_or_insert(work.kept[f]);
            }
        }
    }
    let keys = partition_keys(
        &cfg.partition_keys,
        &payload,
        payload.log_events.get(first?)?,
    );
    Some(PartDocuments { docs, keys, joined })
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
        literal: ev.literal,
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
