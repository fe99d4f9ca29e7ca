//! One object, from S3 body to `_bulk` requests.
//!
//! A blocking thread reads the object (decompression, framing, documents, bulk bodies and their gzip) and
//! hands finished batches to the async side through a channel of `in_flight` places, so memory is bounded
//! by `in_flight` batches whatever the object's size. The async side keeps up to `in_flight` requests
//! running and retries what the engine did not take. Dead letters are written to S3 as they come, under
//! keys derived from the object and the offsets they hold, so a redelivered object writes the same keys.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use logcore::logs::framing::{decoder, Framer};
use logcore::logs::s3event::ObjectRef;
use logcore::search::bulk::{Batch, DeadLetter, DocBuilder, ItemOutcome, Origin, UnitOutcome};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::checkpoint::{self, Checkpoint, Progress};
use crate::reply::{classify, Verdict};
use crate::{Config, Opened, Search, Store};

/// What happened to one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectReport {
    /// Units (documents or lines) read and handled by this delivery.
    pub units: u64,
    /// Units an earlier delivery finished (its checkpoint said so): read past, not sent.
    pub units_resumed: u64,
    pub blank_lines: u64,
    /// Created by this delivery.
    pub indexed: u64,
    /// Answered 409: indexed by an earlier delivery.
    pub already_indexed: u64,
    /// Written to the dead-letter prefix (units that cannot be indexed, documents the engine refused).
    pub dead_lettered: u64,
    /// Of those, documents refused for reasons of the cluster (shard limit, write block, closed index).
    pub refused_by_cluster: u64,
    pub bulk_requests: u64,
    pub bulk_retries: u64,
    pub bytes_decompressed: u64,
    /// A checkpoint was written: the next delivery resumes there.
    pub checkpoint_written: bool,
    /// The object no longer exists (nothing to index).
    pub missing: bool,
    /// The object was skipped: it is one of our own dead-letter or checkpoint objects.
    pub skipped: bool,
    /// Why the object is not fully indexed; it must be delivered again.
    pub error: Option<String>,
}

enum Msg {
    /// A batch, its gzip body when compressed, and where the object stands once the batch is done.
    Batch(Batch, Option<Vec<u8>>, Checkpoint),
    /// Dead-letter NDJSON, its first offset and its record count.
    Dead(Vec<u8>, u64, u64),
}

/// What the reading side found.
#[derive(Default)]
struct ReadEnd {
    units: u64,
    resumed: u64,
    blank_lines: u64,
    bytes: u64,
    /// The checkpoint does not describe this object: it must go.
    stale_checkpoint: bool,
    error: Option<String>,
}

/// Forward one object. Never panics on input; every outcome is in the report.
///
/// No request starts unless it can finish (`request_timeout`) before `deadline` less the margin; what is
/// left then is reported in `error`, and the units finished so far are kept in a checkpoint, so the next
/// delivery resumes there.
pub async fn forward_object<S: Store, E: Search>(
    cfg: &Config,
    store: &Arc<S>,
    search: &Arc<E>,
    obj: &ObjectRef,
    deadline: Instant,
) -> ObjectReport {
    let mut report = ObjectReport::default();
    let dl_bucket = cfg
        .dead_letter_bucket
        .as_deref()
        .unwrap_or(&obj.bucket)
        .to_string();
    if dl_bucket == obj.bucket
        && (obj.key.starts_with(&cfg.dead_letter_prefix)
            || obj.key.starts_with(&cfg.checkpoint_prefix))
    {
        report.skipped = true;
        return report;
    }
    if let Err(e) = time_for_a_request(cfg, deadline) {
        report.error = Some(format!("not started: {e}"));
        return report;
    }
    let opened: Opened = match store.get(obj).await {
        Ok(o) => o,
        Err(e) if e.is_not_found() => {
            report.missing = true;
            return report;
        }
        Err(e) => {
            report.error = Some(format!("reading the object: {e}"));
            return report;
        }
    };
    let version = opened
        .version_id
        .clone()
        .or_else(|| obj.version_id.clone())
        .or_else(|| opened.etag.clone())
        .or_else(|| obj.etag.clone())
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    let ts = opened
        .last_modified
        .clone()
        .or_else(|| obj.event_time.clone())
        .unwrap_or_default();
    let src = Arc::new(Origin::new(&obj.bucket, &obj.key, &version, &ts));
    let ck_key = checkpoint::key(&cfg.checkpoint_prefix, &src);
    let (resume, ck_exists) = read_checkpoint(store.as_ref(), &dl_bucket, &ck_key).await;

    let (tx, mut rx) = mpsc::channel::<Msg>(cfg.in_flight.max(1));
    // Sent batches come back here to be filled again: no fresh multi-megabyte buffer (page faults, zeroing)
    // per request. Bounded by the batches alive at once.
    let pool: Pool = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let cfg = cfg.clone();
        let src = Arc::clone(&src);
        let pool = Arc::clone(&pool);
        tokio::task::spawn_blocking(move || read_object(&cfg, &src, opened.body, tx, &pool, resume))
    };

    let stop_at = logpipe_io::lambda::stop_at(deadline, cfg.common.deadline_margin);
    let mut progress = Progress::new(resume);
    let mut inflight = FuturesUnordered::new();
    let mut open = true;
    let mut error: Option<String> = None;
    loop {
        tokio::select! {
            msg = rx.recv(), if open && inflight.len() < cfg.in_flight.max(1) && error.is_none() => match msg {
                None => open = false,
                Some(Msg::Batch(batch, gz, end)) => {
                    let seq = progress.sent(end);
                    inflight.push(send_batch(cfg, search.as_ref(), &src, batch, gz, deadline, seq));
                }
                Some(Msg::Dead(lines, first, n)) => {
                    match put_dead_letters(cfg, store.as_ref(), &dl_bucket, &src, first, "unreadable", lines).await {
                        Ok(()) => report.dead_lettered += n,
                        Err(e) => { error.get_or_insert(e); }
                    }
                }
            },
            Some(r) = inflight.next() => {
                let r: BatchResult = r;
                report.indexed += r.indexed;
                report.already_indexed += r.already_indexed;
                report.bulk_requests += r.requests;
                report.bulk_retries += r.retries;
                if let Some(b) = r.spare {
                    recycle(&pool, b, cfg.in_flight.max(1) + 1, cfg.bulk_max_bytes);
                }
                let mut done = r.error.is_none();
                if !r.dead.is_empty() {
                    match put_dead_letters(cfg, store.as_ref(), &dl_bucket, &src, r.first_offset, "rejected", r.dead).await {
                        Ok(()) => {
                            report.dead_lettered += r.dead_count;
                            report.refused_by_cluster += r.cluster_refused;
                        }
                        Err(e) => { done = false; error.get_or_insert(e); }
                    }
                }
                if let Some(e) = r.error {
                    error.get_or_insert(e);
                }
                if done {
                    progress.finished(r.seq);
                }
            },
            // Nothing in flight and the reader has not delivered by the time left: the object is read slower
            // than the time allows (a stalled body, a long way to a checkpoint). Requests in flight are
            // bounded by their own timeout.
            () = tokio::time::sleep_until(stop_at), if open && error.is_none() && inflight.is_empty() => {
                error = Some(format!(
                    "the deadline came while reading the object (decompressed offset {} reached)",
                    progress.reached().offset
                ));
            },
            else => break,
        }
        if error.is_some() && inflight.is_empty() {
            break;
        }
    }
    // Stop the reader (its sends fail once the receiver is gone) and collect what it saw.
    drop(rx);
    // A reader stuck in the body is left behind (its stream ends with the connection) rather than waited
    // for past half the margin: the rest of the margin is for reporting.
    let reader_limit = (stop_at + cfg.common.deadline_margin / 2).min(deadline);
    match tokio::time::timeout_at(reader_limit, reader).await {
        Ok(Ok(end)) => {
            report.units = end.units;
            report.units_resumed = end.resumed;
            report.blank_lines = end.blank_lines;
            report.bytes_decompressed = end.bytes;
            if let Some(e) = end.error {
                error.get_or_insert(e);
            }
            if end.stale_checkpoint {
                remove_checkpoint(store.as_ref(), &dl_bucket, &ck_key).await;
                report.error = error;
                return report;
            }
        }
        Ok(Err(e)) => {
            error.get_or_insert(format!("reader thread failed: {e}"));
        }
        Err(_) => {
            error.get_or_insert("the reader did not stop before the deadline".to_string());
        }
    }
    let reached = progress.reached();
    match &error {
        None if ck_exists => remove_checkpoint(store.as_ref(), &dl_bucket, &ck_key).await,
        Some(_) if reached.units > resume.units => {
            match store.put(&dl_bucket, &ck_key, reached.to_json()).await {
                Ok(()) => report.checkpoint_written = true,
                // Only costs 409s: the next delivery starts from the last checkpoint it finds.
                Err(e) => tracing::warn!(
                    bucket = %dl_bucket, key = %ck_key, error = %e,
                    "cannot write the checkpoint; the next delivery starts further back"
                ),
            }
        }
        _ => {}
    }
    report.error = error;
    report
}

/// Time from now to the deadline less the margin: what requests may use.
fn time_left(cfg: &Config, deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(cfg.common.deadline_margin)
}

/// Whether a request started now would end (its timeout) before the deadline less the margin.
fn time_for_a_request(cfg: &Config, deadline: Instant) -> Result<(), String> {
    let left = time_left(cfg, deadline);
    if cfg.request_timeout <= left {
        Ok(())
    } else {
        Err(format!(
            "{left:?} left before the deadline (less the margin of {:?}), a request may take {:?}",
            cfg.common.deadline_margin, cfg.request_timeout
        ))
    }
}

/// The checkpoint of an earlier delivery, if any (and whether an object is there at all). One that cannot be
/// read or parsed is not trusted: the object is read from the start, which costs only 409s.
async fn read_checkpoint<S: Store>(store: &S, bucket: &str, key: &str) -> (Checkpoint, bool) {
    let start = Checkpoint::default();
    let obj = ObjectRef {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: None,
        etag: None,
        size: None,
        event_time: None,
        region: None,
    };
    let mut body = match store.get(&obj).await {
        Ok(o) => o.body.take(checkpoint::MAX_BYTES),
        Err(e) if e.is_not_found() => return (start, false),
        Err(e) => {
            tracing::warn!(bucket, key, error = %e, "cannot read the checkpoint; reading the object from the start");
            return (start, false);
        }
    };
    let mut bytes = Vec::new();
    let parsed = match body.read_to_end(&mut bytes).await {
        Ok(_) => Checkpoint::parse(&bytes),
        Err(e) => Err(e.to_string()),
    };
    match parsed {
        Ok(c) => (c, true),
        Err(e) => {
            tracing::warn!(bucket, key, error = %e, "unusable checkpoint; reading the object from the start");
            (start, true)
        }
    }
}

async fn remove_checkpoint<S: Store>(store: &S, bucket: &str, key: &str) {
    if let Err(e) = store.delete(bucket, key).await {
        // Left behind, it still matches this object version only (and the bucket's lifecycle expires it).
        tracing::warn!(bucket, key, error = %e, "cannot delete the checkpoint");
    }
}

/// Emptied batches to fill again.
type Pool = Arc<Mutex<Vec<Batch>>>;

fn recycle(pool: &Pool, mut batch: Batch, keep: usize, min_capacity: usize) {
    if batch.body.capacity() < min_capacity {
        return;
    }
    batch.body.clear();
    batch.items.clear();
    if let Ok(mut p) = pool.lock() {
        if p.len() < keep {
            p.push(batch);
        }
    }
}

/// Dead-letter records not yet handed over, and the offset of the first.
#[derive(Default)]
struct DeadBuf {
    lines: Vec<u8>,
    first: u64,
    count: u64,
}

impl DeadBuf {
    fn add(&mut self, d: DeadLetter<'_>) {
        if self.count == 0 {
            self.first = d.offset;
        }
        d.write(&mut self.lines);
        self.count += 1;
    }

    /// Hand the records over (if any); false once the receiver is gone.
    fn flush(&mut self, tx: &mpsc::Sender<Msg>) -> bool {
        if self.count == 0 {
            return true;
        }
        let msg = Msg::Dead(std::mem::take(&mut self.lines), self.first, self.count);
        self.count = 0;
        tx.blocking_send(msg).is_ok()
    }
}

/// The blocking side: read, frame, build, batch, compress. Units a checkpoint covers are framed and
/// skipped. Pending dead letters are handed over before each batch, so that the end of every batch is a
/// point where nothing is pending: a checkpoint is only ever such a point, and a resumed delivery cuts the
/// same batches and dead-letter objects (the same keys) as the first one.
fn read_object(
    cfg: &Config,
    src: &Origin,
    body: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    tx: mpsc::Sender<Msg>,
    pool: &Pool,
    resume: Checkpoint,
) -> ReadEnd {
    let mut end = ReadEnd::default();
    let bridge = tokio_util::io::SyncIoBridge::new(body);
    let dec = match decoder(bridge, cfg.max_object_bytes) {
        Ok((_, d)) => d,
        Err(e) => {
            end.error = Some(format!("reading the object: {e}"));
            return end;
        }
    };
    let mut framer = Framer::new(dec, cfg.max_doc_bytes);
    while end.resumed < resume.units {
        match framer.next_unit() {
            Ok(Some(_)) => end.resumed += 1,
            Ok(None) => break,
            Err(e) => {
                end.error = Some(format!(
                    "reading the object at decompressed offset {} (resuming at unit {}): {e}",
                    framer.offset(),
                    resume.units
                ));
                return end;
            }
        }
        if end.resumed % 4096 == 0 && tx.is_closed() {
            return end;
        }
    }
    if end.resumed != resume.units || framer.offset() != resume.offset {
        end.stale_checkpoint = true;
        end.error = Some(format!(
            "the checkpoint ({} units to decompressed offset {}) does not match the object ({} units to \
             offset {}); it is removed and the next delivery reads the object from the start",
            resume.units,
            resume.offset,
            end.resumed,
            framer.offset()
        ));
        return end;
    }
    let mut builder = DocBuilder::new(cfg.index_for(&src.key).clone(), cfg.json);
    builder.separate = cfg.separate.clone();
    let new_batch = || {
        pool.lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| Batch::with_capacity(cfg.bulk_max_bytes + 64 * 1024))
    };
    let mut batch = new_batch();
    let mut dead = DeadBuf::default();
    let mut gzipper = cfg
        .gzip
        .then(|| logcore::base::codec::Gzipper::new(cfg.gzip_level));
    let mut send_batch = |batch: Batch, at: Checkpoint| -> bool {
        let gz = gzipper.as_mut().map(|g| g.gzip(&batch.body));
        tx.blocking_send(Msg::Batch(batch, gz, at)).is_ok()
    };
    loop {
        let unit = match framer.next_unit() {
            Ok(Some(u)) => u,
            Ok(None) => break,
            Err(e) if is_corrupt(&e) => {
                // The data itself is broken: no delivery will read further. Record where and why.
                let offset = framer.offset();
                let reason = format!("object unreadable from decompressed offset {offset}: {e}");
                dead.add(DeadLetter {
                    src,
                    offset,
                    len: 0,
                    reason: &reason,
                    status: None,
                    error_type: None,
                    action: None,
                    data: b"",
                });
                break;
            }
            Err(e) => {
                end.error = Some(format!(
                    "reading the object at decompressed offset {}: {e}",
                    framer.offset()
                ));
                break;
            }
        };
        end.units += 1;
        if let UnitOutcome::DeadLetter(reason) = builder.add(&unit, src, &mut batch) {
            dead.add(DeadLetter {
                src,
                offset: unit.offset,
                len: unit.len,
                reason: &reason,
                status: None,
                error_type: None,
                action: None,
                data: unit.bytes,
            });
            if dead.lines.len() >= cfg.dead_letter_chunk && !dead.flush(&tx) {
                break;
            }
        }
        if batch.body.len() >= cfg.bulk_max_bytes || batch.len() >= cfg.bulk_max_actions {
            let at = Checkpoint {
                units: resume.units + end.units,
                offset: framer.offset(),
            };
            if !dead.flush(&tx) || !send_batch(std::mem::replace(&mut batch, new_batch()), at) {
                break;
            }
        }
    }
    end.blank_lines = framer.blank_lines;
    end.bytes = framer.offset();
    if end.error.is_none() && dead.flush(&tx) && !batch.is_empty() {
        let at = Checkpoint {
            units: resume.units + end.units,
            offset: framer.offset(),
        };
        send_batch(batch, at);
    }
    end
}

/// Errors in the data (not in reading it): corrupt compression, the decompression cap.
fn is_corrupt(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    )
}

#[derive(Default)]
struct BatchResult {
    indexed: u64,
    already_indexed: u64,
    requests: u64,
    retries: u64,
    first_offset: u64,
    dead: Vec<u8>,
    dead_count: u64,
    /// Of `dead_count`: refused for reasons of the cluster (shard limit, write block, closed index).
    cluster_refused: u64,
    error: Option<String>,
    /// The batch as it was sent, to be reused once every item has its outcome.
    spare: Option<Batch>,
    /// Which batch of the object this was ([`Progress::sent`]).
    seq: u64,
}

/// Send one batch until every item is created, already there, or refused for good (dead letter), or
/// until attempts or time run out (then `error` says so and the object is delivered again).
async fn send_batch<E: Search>(
    cfg: &Config,
    search: &E,
    src: &Origin,
    batch: Batch,
    gz: Option<Vec<u8>>,
    deadline: Instant,
    seq: u64,
) -> BatchResult {
    let mut res = BatchResult {
        first_offset: batch.items.first().map_or(0, |i| i.offset),
        seq,
        ..BatchResult::default()
    };
    let mut rng = fastrand::Rng::new();
    // Batches still to send: a 413 splits one into halves. The first is kept whole for reuse.
    let mut work = vec![(batch, gz)];
    let mut first = true;
    while let Some((mut cur, mut ready)) = work.pop() {
        let mut attempts = 0u32;
        loop {
            // A first attempt starts only if it can finish before the deadline (retries are checked
            // below, with their delay).
            if attempts == 0 {
                if let Err(e) = time_for_a_request(cfg, deadline) {
                    let unsent = cur.len() + waiting(&work);
                    res.error = Some(format!("{unsent} documents not sent: {e}"));
                    return res;
                }
            }
            attempts += 1;
            res.requests += 1;
            res.retries += u64::from(attempts > 1);
            let body = ready.take().unwrap_or_else(|| request_body(cfg, &cur));
            let answer = tokio::time::timeout(cfg.request_timeout, search.bulk(body, cfg.gzip))
                .await
                .ok();
            let (retry, reason, retry_after) = match classify(answer, cur.len()) {
                Verdict::Items(outcomes) => {
                    let (retry, reason) = take_outcomes(&mut res, src, &cur, outcomes);
                    (retry, reason, None)
                }
                Verdict::Retry { reason, after } => ((0..cur.len()).collect(), reason, after),
                Verdict::TooLarge if cur.len() > 1 => {
                    // The halves go on the stack second first, so the first half is sent next.
                    let (first, second) = halves(&cur);
                    work.push((second, None));
                    work.push((first, None));
                    break;
                }
                Verdict::TooLarge => {
                    dead_letter(
                        &mut res,
                        src,
                        &cur,
                        0,
                        413,
                        "request_too_large",
                        "the document alone exceeds the cluster's request size limit",
                    );
                    break;
                }
                Verdict::Fail(why) => {
                    // Authentication, authorization, a wrong URL: no retry will help, and the documents
                    // are not at fault. Fail the object so it is delivered again.
                    let undelivered = cur.len() + waiting(&work);
                    res.error = Some(format!("{why}; {undelivered} documents not indexed"));
                    return res;
                }
            };
            if retry.is_empty() {
                break;
            }
            let delay = cfg
                .backoff
                .delay(attempts, &mut rng)
                .max(retry_after.unwrap_or(Duration::ZERO));
            let remaining = time_left(cfg, deadline);
            if !cfg
                .backoff
                .may_retry(attempts, delay, cfg.request_timeout, remaining)
            {
                let undelivered = retry.len() + waiting(&work);
                res.error = Some(format!(
                    "{undelivered} documents not indexed after {attempts} attempts, last: {reason}"
                ));
                return res;
            }
            tokio::time::sleep(delay).await;
            cur = cur.subset(&retry);
        }
        if std::mem::take(&mut first) {
            res.spare = Some(cur);
        }
    }
    res
}

/// The documents of the batches still waiting to be sent.
fn waiting(work: &[(Batch, Option<Vec<u8>>)]) -> usize {
    work.iter().map(|(b, _)| b.len()).sum()
}

/// The request body of a batch: gzip-compressed when the configuration says so.
fn request_body(cfg: &Config, batch: &Batch) -> Vec<u8> {
    if cfg.gzip {
        logcore::base::codec::gzip(&batch.body, cfg.gzip_level)
    } else {
        batch.body.clone()
    }
}

/// A batch the cluster found too large, cut in two (first half, second half).
fn halves(batch: &Batch) -> (Batch, Batch) {
    let half = batch.len() / 2;
    let first: Vec<usize> = (0..half).collect();
    let second: Vec<usize> = (half..batch.len()).collect();
    (batch.subset(&first), batch.subset(&second))
}

/// Count a batch's item outcomes in, dead-letter the refused documents; the indices to send again and the
/// last reason for it.
fn take_outcomes(
    res: &mut BatchResult,
    src: &Origin,
    batch: &Batch,
    outcomes: Vec<ItemOutcome>,
) -> (Vec<usize>, String) {
    let mut retry = Vec::new();
    let mut reason = String::new();
    for (i, o) in outcomes.into_iter().enumerate() {
        match o {
            ItemOutcome::Created => res.indexed += 1,
            ItemOutcome::Exists => res.already_indexed += 1,
            ItemOutcome::Retry { status, reason: r } => {
                reason = format!("item status {status}: {r}");
                retry.push(i);
            }
            ItemOutcome::Rejected {
                status,
                error_type,
                reason,
            } => dead_letter(res, src, batch, i, status, &error_type, &reason),
        }
    }
    (retry, reason)
}

fn dead_letter(
    res: &mut BatchResult,
    src: &Origin,
    batch: &Batch,
    i: usize,
    status: u16,
    error_type: &str,
    reason: &str,
) {
    let item = &batch.items[i];
    DeadLetter {
        src,
        offset: item.offset,
        len: (batch.doc(item).len()) as u64,
        reason,
        status: Some(status),
        error_type: Some(error_type),
        action: Some(batch.action(item)),
        data: batch.doc(item),
    }
    .write(&mut res.dead);
    res.dead_count += 1;
    if let Some(cause) = logcore::search::index_setup::cluster_cause(error_type, reason) {
        // Not the document: the cluster refuses writes (alarmed apart from mapping errors).
        if res.cluster_refused == 0 {
            tracing::error!(
                cause, error_type, reason, index = %String::from_utf8_lossy(batch.action(item)),
                "the search cluster refuses writes; documents are dead-lettered with this cause"
            );
        }
        res.cluster_refused += 1;
    }
}

/// Write dead-letter records under a key made of the object and the first offset they hold.
async fn put_dead_letters<S: Store>(
    cfg: &Config,
    store: &S,
    bucket: &str,
    src: &Origin,
    first_offset: u64,
    kind: &str,
    lines: Vec<u8>,
) -> Result<(), String> {
    let key = dead_letter_key(&cfg.dead_letter_prefix, src, first_offset, kind);
    store
        .put(bucket, &key, lines)
        .await
        .map_err(|e| format!("writing dead letters to s3://{bucket}/{key}: {e}"))
}

/// `{prefix}{bucket}/{key}/{version}/{offset:020}-{kind}.ndjson`, or with a hash of the object for keys
/// that would pass S3's 1,024-byte limit.
pub fn dead_letter_key(prefix: &str, src: &Origin, first_offset: u64, kind: &str) -> String {
    checkpoint::object_key(prefix, src, &format!("/{first_offset:020}-{kind}.ndjson"))
}
