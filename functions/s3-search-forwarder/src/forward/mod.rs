//! One object, from S3 body to `_bulk` requests.
//!
//! A blocking thread reads the object (decompression, framing, documents, bulk bodies and their gzip) and
//! hands finished batches to the async side through a channel of `in_flight` places, so memory is bounded
//! by `in_flight` batches whatever the object's size. The async side keeps up to `in_flight` requests
//! running and retries what the engine did not take. Dead letters are written to S3 as they come, under
//! keys derived from the object and the offsets they hold, so a redelivered object writes the same keys.

use std::sync::{Arc, Mutex};

use futures_util::stream::{FuturesUnordered, StreamExt};
use logcore::base::report::Metrics;
use logcore::logs::s3event::ObjectRef;
use logcore::search::bulk::{Batch, Origin};
use logpipe_io::lambda::Deadline;
use serde::Serialize;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

mod read;
pub(crate) mod send;

use read::{read_object, recycle, Pool};
pub(crate) use send::{send_batch, BatchResult};

use crate::checkpoint::{self, Checkpoint, Progress};
use crate::{Config, Opened, Search, Store};

logcore::counts! {
    /// What forwarding counts, under the names of the report line: each side of an object's delivery
    /// (the reader, each batch) counts into one, the object's report carries it, the invocation's summary
    /// adds them up ([`Metrics::add`]).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Forwarded {
        /// Units (documents or lines) read and handled by this delivery.
        pub units: u64,
        /// Units an earlier delivery finished (its checkpoint said so): read past, not sent.
        pub units_resumed: u64 => "UnitsResumed",
        pub blank_lines: u64,
        /// Text lines joined into the document of the line before them (a stack trace in a plain-text
        /// object, `MULTILINE`): units = documents indexed, already indexed or dead-lettered + these.
        pub lines_joined: u64 => "LinesJoined",
        /// Created by this delivery.
        pub indexed: u64 => "DocumentsIndexed",
        /// Answered 409: indexed by an earlier delivery.
        pub already_indexed: u64 => "DocumentsAlreadyIndexed",
        /// Written to the dead-letter prefix (units that cannot be indexed, documents the engine refused).
        pub dead_lettered: u64 => "DocumentsDeadLettered",
        /// Of those, documents refused for reasons of the cluster (shard limit, write block, closed index).
        pub refused_by_cluster: u64 => "DocumentsRefusedByCluster",
        pub bulk_requests: u64 => "BulkRequests",
        pub bulk_retries: u64 => "BulkRetries",
        pub bytes_decompressed: u64 => "BytesDecompressed" in Bytes,
    }
}

/// One object's delivery: its counts, and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectReport {
    pub forwarded: Forwarded,
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
    /// Units, units resumed, blank lines, bytes decompressed.
    forwarded: Forwarded,
    /// The checkpoint does not describe this object: it must go.
    stale_checkpoint: bool,
    error: Option<String>,
}

/// Forward one object. Never panics on input; every outcome is in the report.
///
/// No request starts unless it can finish (`request_timeout`) before `deadline.stop`; what is
/// left then is reported in `error`, and the units finished so far are kept in a checkpoint, so the next
/// delivery resumes there.
pub async fn forward_object<S: Store, E: Search>(
    cfg: &Config,
    store: &Arc<S>,
    search: &Arc<E>,
    obj: &ObjectRef,
    deadline: Deadline,
) -> ObjectReport {
    let mut report = ObjectReport::default();
    let Some(dl_bucket) = dead_letter_bucket(cfg, obj) else {
        report.skipped = true;
        return report;
    };
    if let Err(e) = time_for_a_request(cfg, &deadline) {
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
    let src = Arc::new(origin(obj, &opened));
    let ck_key = checkpoint::key(&cfg.checkpoints(), &src);
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
    let delivery = Delivery {
        cfg,
        store: store.as_ref(),
        search: search.as_ref(),
        src: &src,
        dl_bucket: &dl_bucket,
        deadline,
    };
    let mut progress = Progress::new(resume);
    let mut error = delivery
        .pump(&mut rx, &pool, &mut progress, &mut report.forwarded)
        .await;
    // Stop the reader (its sends fail once the receiver is gone) and collect what it saw.
    drop(rx);
    match join_reader(reader, deadline).await {
        Ok(end) => {
            report.forwarded.add(&end.forwarded);
            if let Some(e) = end.error {
                error.get_or_insert(e);
            }
            if end.stale_checkpoint {
                remove_checkpoint(store.as_ref(), &dl_bucket, &ck_key).await;
                report.error = error;
                return report;
            }
        }
        Err(e) => {
            error.get_or_insert(e);
        }
    }
    report.checkpoint_written = delivery
        .keep_checkpoint(
            &ck_key,
            ck_exists,
            resume,
            progress.reached(),
            error.is_none(),
        )
        .await;
    report.error = error;
    report
}

/// Where the object's dead letters and checkpoint go (the dead-letter bucket, else its own); `None` when
/// the object is one of them, which is not forwarded.
fn dead_letter_bucket(cfg: &Config, obj: &ObjectRef) -> Option<String> {
    let bucket = cfg.dead_letter_bucket.as_deref().unwrap_or(&obj.bucket);
    let ours =
        obj.key.starts_with(&cfg.dead_letter_prefix) || obj.key.starts_with(&cfg.checkpoint_prefix);
    (bucket != obj.bucket || !ours).then(|| bucket.to_string())
}

/// What the reader saw. One stuck in the body is left behind (its stream ends with the connection) rather
/// than waited for past half the margin: the rest of the margin is for reporting.
async fn join_reader(
    reader: tokio::task::JoinHandle<ReadEnd>,
    deadline: Deadline,
) -> Result<ReadEnd, String> {
    match tokio::time::timeout_at(deadline.stop + deadline.margin() / 2, reader).await {
        Ok(Ok(end)) => Ok(end),
        Ok(Err(e)) => Err(format!("reader thread failed: {e}")),
        Err(_) => Err("the reader did not stop before the deadline".to_string()),
    }
}

/// Where the documents of `obj` come from, as their ids and `logpipe` fields name it: the version S3
/// served (else the notification's, else the ETag) and the time it was written.
fn origin(obj: &ObjectRef, opened: &Opened) -> Origin {
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
    Origin::new(&obj.bucket, &obj.key, &version, &ts)
}

/// One object's delivery under way: what sending its batches and writing its dead letters share.
struct Delivery<'a, S, E> {
    cfg: &'a Config,
    store: &'a S,
    search: &'a E,
    src: &'a Origin,
    /// Where dead letters (and the checkpoint) go.
    dl_bucket: &'a str,
    deadline: Deadline,
}

impl<S: Store, E: Search> Delivery<'_, S, E> {
    /// Send what the reader delivers, `in_flight` batches at a time, and write its dead letters, until the
    /// reader is done or an error stops the object (then what is in flight still finishes). Counts go to
    /// `counts`, finished batches to `progress`. Returns the first error.
    async fn pump(
        &self,
        rx: &mut mpsc::Receiver<Msg>,
        pool: &Pool,
        progress: &mut Progress,
        counts: &mut Forwarded,
    ) -> Option<String> {
        let (cfg, in_flight) = (self.cfg, self.cfg.in_flight.max(1));
        let mut inflight = FuturesUnordered::new();
        let mut open = true;
        let mut error: Option<String> = None;
        loop {
            tokio::select! {
                msg = rx.recv(), if open && inflight.len() < in_flight && error.is_none() => match msg {
                    None => open = false,
                    Some(Msg::Batch(batch, gz, end)) => {
                        let seq = progress.sent(end);
                        inflight.push(send_batch(cfg, self.search, self.src, batch, gz, self.deadline, seq));
                    }
                    Some(Msg::Dead(lines, first, n)) => match self.dead_letters(first, "unreadable", lines).await {
                        Ok(()) => counts.dead_lettered += n,
                        Err(e) => { error.get_or_insert(e); }
                    },
                },
                Some(r) = inflight.next() => {
                    let mut r: BatchResult = r;
                    if let Some(b) = r.spare.take() {
                        recycle(pool, b, in_flight + 1, cfg.bulk_max_bytes);
                    }
                    let mut done = r.error.is_none();
                    if !r.dead.is_empty() {
                        let dead = std::mem::take(&mut r.dead);
                        if let Err(e) = self.dead_letters(r.first_offset, "rejected", dead).await {
                            // Not written: not dead-lettered (the object is delivered again).
                            r.forwarded.dead_lettered = 0;
                            r.forwarded.refused_by_cluster = 0;
                            done = false;
                            error.get_or_insert(e);
                        }
                    }
                    counts.add(&r.forwarded);
                    if let Some(e) = r.error {
                        error.get_or_insert(e);
                    }
                    if done {
                        progress.finished(r.seq);
                    }
                },
                // Nothing in flight and the reader has not delivered by the time left: the object is read
                // slower than the time allows (a stalled body, a long way to a checkpoint). Requests in
                // flight are bounded by their own timeout.
                () = tokio::time::sleep_until(self.deadline.stop), if open && error.is_none() && inflight.is_empty() => {
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
        error
    }

    /// After the object: a finished delivery removes the checkpoint it resumed from (if any); an unfinished
    /// one that got past it leaves where it reached for the next. Returns whether it wrote a checkpoint.
    async fn keep_checkpoint(
        &self,
        key: &str,
        exists: bool,
        resume: Checkpoint,
        reached: Checkpoint,
        finished: bool,
    ) -> bool {
        if finished {
            if exists {
                remove_checkpoint(self.store, self.dl_bucket, key).await;
            }
            return false;
        }
        if reached.units <= resume.units {
            return false;
        }
        match self.store.put(self.dl_bucket, key, reached.to_json()).await {
            Ok(()) => true,
            Err(e) => {
                // Only costs 409s: the next delivery starts from the last checkpoint it finds.
                tracing::warn!(
                    bucket = %self.dl_bucket, key = %key, error = %e,
                    "cannot write the checkpoint; the next delivery starts further back"
                );
                false
            }
        }
    }

    async fn dead_letters(&self, first: u64, why: &str, lines: Vec<u8>) -> Result<(), String> {
        put_dead_letters(
            self.cfg,
            self.store,
            self.dl_bucket,
            self.src,
            first,
            why,
            lines,
        )
        .await
    }
}

/// Whether a request started now would end (its timeout) by the stop time.
fn time_for_a_request(cfg: &Config, deadline: &Deadline) -> Result<(), String> {
    let left = deadline.left();
    if cfg.request_timeout <= left {
        Ok(())
    } else {
        Err(format!(
            "{left:?} left before the deadline (less the margin of {:?}), a request may take {:?}",
            deadline.margin(),
            cfg.request_timeout
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
