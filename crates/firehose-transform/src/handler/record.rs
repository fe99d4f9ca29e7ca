//! One record of the event: decoded, its events rendered (those the filters keep), and answered `Ok` when
//! its documents fit, `Dropped` when nothing is left to deliver, `ProcessingFailed` when it cannot be read;
//! or planned for re-ingestion or a direct write.

use logcore::base::codec::{base64_len, decode_base64};
use logcore::base::time::DateTimeParts;
use logcore::logs::cwl::{decompress, LogEvent, MessageType, Payload};
use logcore::transform::firehose::{PartitionKeys, TransformRecord};

use super::answer::Answer;
use super::direct::plan_direct;
use super::reingest::{plan_reingest, NotReingested};
use super::{Invocation, Work};
use crate::config::{Config, PartitionKey};
use crate::render::Render;

/// One record: decoded, rendered, and answered `Ok` with its documents when they fit, `Dropped` when
/// nothing is left to deliver, `ProcessingFailed` when it cannot be read; or planned for re-ingestion.
pub(super) fn take_record<R: Render>(
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
    let ctx = cfg.render.context(&payload, inv.region);
    render(cfg, &ctx, &payload.log_group, &payload.log_events, work);
    answer.s.events_excluded += (payload.log_events.len() - work.kept.len()) as u64;
    // Counted once, where CloudWatch Logs delivered them: a re-ingested payload comes back with hops.
    if payload.hops == 0 {
        answer.s.ledger.received(
            &payload.log_group,
            payload.log_events.iter().map(|e| e.timestamp),
            &work.kept,
        );
    }
    if work.kept.is_empty() {
        return answer.drop_record(record);
    }
    let keys = partition_keys(
        &cfg.partition_keys,
        &payload,
        &payload.log_events[work.kept[0]],
    );
    let kept = work.kept.len() as u64;
    let joined = work.joined_timestamps(&payload.log_events);
    if answer.try_ok(
        record,
        &work.docs,
        keys.as_ref(),
        kept,
        &payload.log_group,
        &joined,
    ) {
        return;
    }
    // Does not fit in this response: put it back into the source, split if it is too large on its own;
    // a document no response can carry goes to S3 directly.
    let (largest, at) = largest_document(&work.ends);
    let result = if base64_len(largest) > inv.alone_budget {
        Err(NotReingested::TooLarge(format!(
            "log event {} gives a {largest}-byte document, over what a {}-byte transformation response can carry in base64",
            payload.log_events[work.kept[work.firsts[at]]].id, cfg.response_limit
        )))
    } else {
        plan_reingest(inv, work, index, record, &payload)
    };
    // The kept events of a record answered `ProcessingFailed`, for the ledger.
    let failed = |answer: &mut Answer<R::Stats>, work: &Work<R::Stats>, reason: String| {
        let ts = work.kept.iter().map(|&i| payload.log_events[i].timestamp);
        answer.s.ledger.failed(&payload.log_group, ts);
        answer.fail_events(record, kept, reason);
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
                    Err(reason) => failed(answer, work, reason),
                }
            } else {
                let reason = format!(
                    "record {}: {reason}; set OVERSIZE_BUCKET and OVERSIZE_PREFIX to write such documents to S3 directly",
                    record.record_id
                );
                failed(answer, work, reason);
            }
        }
        Err(NotReingested::Other(reason)) => failed(answer, work, reason),
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

/// The documents of `events` (of `group`, in order) that the filters keep, into `work.docs` (with
/// `work.ends`, `work.kept` and `work.firsts`). With the renderer's multiline rules, the events of a
/// record they join make one document, and the filters judge the joined message (as Filebeat applies
/// `include_lines` after `multiline`): a stack trace is kept or dropped whole.
pub(super) fn render<R: Render>(
    cfg: &Config<R>,
    ctx: &R::Ctx,
    group: &str,
    events: &[LogEvent<'_>],
    work: &mut Work<R::Stats>,
) {
    work.docs.clear();
    work.ends.clear();
    work.kept.clear();
    work.firsts.clear();
    let filtering = !cfg.filter.is_noop();
    let joins = match cfg.render.multiline() {
        Some(rules) => {
            let lines: Vec<&str> = events.iter().map(|e| e.message.as_ref()).collect();
            rules.joins(group, &lines)
        }
        None => Vec::new(),
    };
    let mut joins = joins.into_iter().peekable();
    let mut i = 0;
    while i < events.len() {
        if let Some(j) = joins.next_if(|j| j.start == i) {
            let run = &events[i..i + j.len];
            work.line.clear();
            for (k, ev) in run.iter().enumerate() {
                if k > 0 {
                    work.line.push('\n');
                }
                work.line.push_str(&ev.message);
            }
            if !filtering || cfg.filter.keep(&work.line) {
                cfg.render.write_joined(
                    ctx,
                    run,
                    &work.line,
                    j.kind,
                    &mut work.docs,
                    &mut work.stats,
                );
                work.ends.push(work.docs.len());
                work.firsts.push(work.kept.len());
                work.kept.extend(i..i + j.len);
            }
            i += j.len;
            continue;
        }
        let ev = &events[i];
        if !filtering || cfg.filter.keep(&ev.message) {
            cfg.render.write(ctx, ev, &mut work.docs, &mut work.stats);
            work.ends.push(work.docs.len());
            work.firsts.push(work.kept.len());
            work.kept.push(i);
        }
        i += 1;
    }
}

impl<S> Work<S> {
    /// The timestamps of the kept events that are in another event's document (of `events`, the events
    /// rendered last).
    pub(super) fn joined_timestamps(&self, events: &[LogEvent<'_>]) -> Vec<i64> {
        if self.firsts.len() == self.kept.len() {
            return Vec::new();
        }
        self.joined_flags()
            .zip(&self.kept)
            .filter(|(joined, _)| *joined)
            .map(|(_, &i)| events[i].timestamp)
            .collect()
    }

    /// For each kept event, whether it is in another event's document.
    pub(super) fn joined_flags(&self) -> impl Iterator<Item = bool> + '_ {
        let mut firsts = self.firsts.iter().copied().peekable();
        (0..self.kept.len()).map(move |pos| firsts.next_if_eq(&pos).is_none())
    }
}

/// The partition keys of a record's documents (dynamic partitioning), from its payload and first event.
pub(super) fn partition_keys(
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
