//! One record of the event: decoded, its events rendered (those the filters keep), and answered `Ok` when
//! its documents fit, `Dropped` when nothing is left to deliver, `ProcessingFailed` when it cannot be read;
//! or planned for re-ingestion or a direct write.

use logcore::base::codec::{base64_len, decode_base64};
use logcore::base::report::Metrics;
use logcore::base::time::DateTimeParts;
use logcore::logs::cwl::{decompress, LogEvent, MessageType, Payload, PayloadText};
use logcore::transform::firehose::{PartitionKeys, TransformRecord};
use yoke::Yoke;

use super::answer::Answer;
use super::direct::plan_direct;
use super::reingest::{plan_reingest, NotReingested};
use super::{Invocation, Work};
use crate::config::{Config, PartitionKey};
use crate::render::Render;

/// A record's share of the work that needs nothing of the other records: decoded, parsed, its documents
/// rendered. [`take_record`] then answers it in turn.
pub(super) struct Prepared<S> {
    /// Base64-decoded (compressed) bytes, and decompressed bytes.
    bytes_in: u64,
    bytes_decompressed: u64,
    outcome: Result<Option<Rendered<S>>, String>,
}

/// The payload of a record (kept with the bytes it borrows from) and its documents; `None` for a control
/// message.
struct Rendered<S> {
    payload: Yoke<Parsed<'static>, Box<PayloadText>>,
    work: Work<S>,
    /// The base64 of the documents, when encoded on the record's own thread (with several threads, so
    /// that the thread answering the records in turn only copies it).
    encoded: Option<String>,
}

/// A payload parsed from its decompressed text, which it borrows from.
#[derive(yoke::Yokeable)]
struct Parsed<'a>(Payload<'a>);

/// Decode, parse and render one record (on any thread): the failure says which record and why.
pub(super) fn prepare<R: Render>(
    inv: &Invocation<'_, R>,
    record: &TransformRecord,
    spare: &Spare<R::Stats>,
) -> Prepared<R::Stats> {
    let cfg = inv.cfg;
    let mut p = Prepared {
        bytes_in: 0,
        bytes_decompressed: 0,
        outcome: Ok(None),
    };
    let fail = |e: logcore::base::codec::DecodeError| format!("record {}: {e}", record.record_id);
    let json = match decode_base64(record.data.as_bytes()).and_then(|gz| {
        p.bytes_in = gz.len() as u64;
        decompress(&gz, cfg.max_decompressed)
    }) {
        Ok(json) => json,
        Err(e) => {
            p.outcome = Err(fail(e));
            return p;
        }
    };
    p.bytes_decompressed = json.len() as u64;
    let payload: Yoke<Parsed<'static>, Box<PayloadText>> = match PayloadText::new(json)
        .and_then(|text| Yoke::try_attach_to_cart(Box::new(text), |t| t.payload().map(Parsed)))
    {
        Ok(y) => y,
        Err(e) => {
            p.outcome = Err(fail(e));
            return p;
        }
    };
    let parsed = &payload.get().0;
    if parsed.message_type == MessageType::Control {
        return p;
    }
    let mut work = spare.take();
    let ctx = cfg.render.context(parsed, inv.region);
    render(cfg, &ctx, &parsed.log_group, &parsed.log_events, &mut work);
    // Documents no response could carry are not encoded: they go back or to S3.
    let encoded = (cfg.threads > 1
        && !work.docs.is_empty()
        && base64_len(work.docs.len()) <= inv.alone_budget)
        .then(|| logcore::base::codec::encode_base64(&work.docs));
    p.outcome = Ok(Some(Rendered {
        payload,
        work,
        encoded,
    }));
    p
}

/// Answer one prepared record: `Ok` with its documents when they fit, `Dropped` when nothing is left to
/// deliver, `ProcessingFailed` when it cannot be read; or planned for re-ingestion.
#[allow(clippy::too_many_arguments)]
pub(super) fn take_record<R: Render>(
    inv: &Invocation<'_, R>,
    answer: &mut Answer<R::Stats>,
    work: &mut Work<R::Stats>,
    index: usize,
    record: &TransformRecord,
    prepared: Prepared<R::Stats>,
    spare: &Spare<R::Stats>,
) {
    let cfg = inv.cfg;
    answer.s.bytes_in += prepared.bytes_in;
    answer.s.bytes_decompressed += prepared.bytes_decompressed;
    let mut rendered = match prepared.outcome {
        Ok(Some(r)) => r,
        Ok(None) => {
            answer.s.control_messages += 1;
            return answer.drop_record(record);
        }
        Err(reason) => return answer.fail(record, reason),
    };
    work.adopt(&mut rendered.work);
    spare.give(std::mem::take(&mut rendered.work));
    let payload = &rendered.payload.get().0;
    answer.s.events_in += payload.log_events.len() as u64;
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
        payload,
        &payload.log_events[work.kept[0]],
    );
    let kept = work.kept.len() as u64;
    let joined = work.joined_timestamps(&payload.log_events);
    if answer.try_ok(
        record,
        &work.docs,
        rendered.encoded.as_deref(),
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
        plan_reingest(inv, work, index, record, payload)
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
                    payload,
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

/// Document buffers handed back once a record is answered, for the next records to render into: a record's
/// documents grow to a few times its payload, and growing fresh buffers for each record costs copies and
/// page faults.
pub(super) struct Spare<S>(std::sync::Mutex<Vec<Work<S>>>);

impl<S: Default> Spare<S> {
    /// At most this many are kept (twice the records that can be under way at once is plenty).
    const KEEP: usize = 2 * 64 + 2;

    pub(super) fn new() -> Self {
        Spare(std::sync::Mutex::new(Vec::new()))
    }

    /// Buffers to render a record into (their counts zero).
    fn take(&self) -> Work<S> {
        let mut work = self
            .0
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default();
        work.stats = S::default();
        work
    }

    fn give(&self, work: Work<S>) {
        if let Ok(mut v) = self.0.lock() {
            if v.len() < Self::KEEP {
                v.push(work);
            }
        }
    }
}

impl<S: Metrics> Work<S> {
    /// Take over the documents of a record rendered elsewhere (`other`'s buffers become the old ones), and
    /// add what rendering them counted.
    pub(super) fn adopt(&mut self, other: &mut Work<S>) {
        std::mem::swap(&mut self.docs, &mut other.docs);
        std::mem::swap(&mut self.ends, &mut other.ends);
        std::mem::swap(&mut self.kept, &mut other.kept);
        std::mem::swap(&mut self.firsts, &mut other.firsts);
        self.stats.add(&other.stats);
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
