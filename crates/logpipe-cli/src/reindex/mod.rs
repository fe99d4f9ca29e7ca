//! `logpipe reindex`: rebuild the search index from the S3 archive by handing the archive's objects to the
//! search forwarder through its own queue, as the S3 notifications it already reads (one object a message,
//! `SendMessageBatch` of ten). The forwarder's Lambda does the work at the concurrency of its event source
//! mapping; this command only lists, paces and keeps its place.
//!
//! - Selection: [`select`] lists only the prefixes of the range (and groups, in the partitioned layout).
//! - Pace: at most `rate` objects a second, and no more while the queue holds `max_queued` messages (live
//!   traffic included), so that the cluster is fed at the forwarder's pace, not flooded.
//! - Resume: [`state`] keeps the last key sent after every batch; a re-run with the same arguments goes on
//!   from there; a finished run removes its state.
//! - Archive storage classes (Glacier Flexible Retrieval, Deep Archive) cannot be read until restored: they
//!   are counted and listed, never sent, and `restore` asks S3 for a temporary copy (RestoreObject); a later
//!   run sends the restored ones.
//! - Restore indices: `restore_label` rides on every message as the `logpipe.restore` attribute; the
//!   forwarder makes the names itself (`RESTORE_INDEX_PREFIX`), so the live indices are untouched.
//!
//! Documents keep their ids (the event id, else one derived from bucket, key, version and offset), so
//! objects already indexed cost only their reading and 409 answers: nothing is duplicated.

pub mod aws;
pub mod command;
pub mod select;
pub mod state;

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use logcore::base::retry::Backoff;
use logcore::logs::s3event::RESTORE_ATTRIBUTE;
use logpipe_io::CallError;
use serde_json::json;

use select::{KeyLayout, Listing};
use state::{State, Waiting};

/// Messages per SendMessageBatch (SQS's limit).
pub const BATCH: usize = 10;

/// Storage classes whose objects cannot be read before a restore.
pub const ARCHIVE_CLASSES: &[&str] = &["GLACIER", "DEEP_ARCHIVE"];

/// Intelligent-Tiering, whose objects may sit in an archive access tier (HeadObject says which): such an
/// object's class reads `INTELLIGENT_TIERING (ARCHIVE_ACCESS)` here.
pub const INTELLIGENT_TIERING: &str = "INTELLIGENT_TIERING";

/// One object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// Without quotes.
    pub etag: Option<String>,
    /// RFC 3339.
    pub last_modified: Option<String>,
    /// `STANDARD`, `GLACIER`, … (`STANDARD` when S3 says none).
    pub class: String,
    /// A restored copy of an archived object can be read now (the listing's `RestoreStatus`).
    pub restored: bool,
}

impl Listed {
    /// Whether the forwarder can read it now.
    pub fn readable(&self) -> bool {
        self.restored
            || !(ARCHIVE_CLASSES.contains(&self.class.as_str())
                || self.class.starts_with(&format!("{INTELLIGENT_TIERING} (")))
    }
}

/// What S3 said of a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// Asked now.
    Requested,
    /// Asked before and not done yet.
    InProgress,
    /// A restored copy is there.
    Done,
}

/// The archive bucket.
pub trait Archive: Send + Sync {
    /// Every object under `prefix`, in key order.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<Listed>, CallError>> + Send;
    /// Ask for a restored copy kept `days` days (`None` for Intelligent-Tiering, whose restore moves the
    /// object back to its frequent access tier), at `tier` (`Bulk`, `Standard`, `Expedited`).
    fn restore(
        &self,
        bucket: &str,
        key: &str,
        days: Option<u32>,
        tier: &str,
    ) -> impl Future<Output = Result<Restore, CallError>> + Send;
    /// The archive access tier an Intelligent-Tiering object is in (HeadObject's `x-amz-archive-status`:
    /// `ARCHIVE_ACCESS`, `DEEP_ARCHIVE_ACCESS`); `None`: readable.
    fn archive_status(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>, CallError>> + Send;
    /// Where an archived object's restore stands (HeadObject's `x-amz-restore`); `None`: never asked.
    fn restore_status(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Restore>, CallError>> + Send;
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Unique in its batch.
    pub id: String,
    pub body: String,
    /// String message attributes.
    pub attributes: Vec<(String, String)>,
}

/// The forwarder's queue.
pub trait Queue: Send + Sync {
    /// SendMessageBatch (at most [`BATCH`]); the entries refused, by id, with the reason.
    fn send(
        &self,
        messages: &[Outgoing],
    ) -> impl Future<Output = Result<Vec<(String, String)>, CallError>> + Send;
    /// Messages waiting and in flight (ApproximateNumberOfMessages and …NotVisible).
    fn depth(&self) -> impl Future<Output = Result<u64, CallError>> + Send;
}

/// A reindex, its arguments resolved.
#[derive(Debug, Clone)]
pub struct Job {
    pub bucket: String,
    /// The Region the notifications name (`awsRegion`).
    pub region: String,
    pub layout: KeyLayout,
    pub groups: Vec<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    pub restore_label: Option<String>,
    pub pace: Pace,
    /// RestoreObject for archived objects: days and tier.
    pub restore: Option<(u32, String)>,
    pub dry_run: bool,
    /// Where the state is kept.
    pub state_path: PathBuf,
    /// The arguments that make a run the same run (the state's key).
    pub arguments: String,
}

/// How fast messages go to the queue, and how refused ones are sent again.
#[derive(Debug, Clone)]
pub struct Pace {
    /// Messages a second at most.
    pub rate: f64,
    /// No message is sent while the queue holds this many (0: not checked).
    pub max_queued: u64,
    /// How often a full queue is looked at again.
    pub queue_poll: Duration,
    pub backoff: Backoff,
}

impl Pace {
    /// `rate` a second and `max_queued`, a full queue looked at every 5 s, SendMessageBatch tried 8 times.
    pub fn new(rate: f64, max_queued: u64) -> Pace {
        Pace {
            rate,
            max_queued,
            queue_poll: Duration::from_secs(5),
            backoff: Backoff {
                base: Duration::from_millis(200),
                max_delay: Duration::from_secs(10),
                max_attempts: 8,
            },
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub listings: usize,
    /// Selected and readable, of this window (earlier runs' included).
    pub objects: u64,
    pub bytes: u64,
    /// Sent by earlier runs (skipped now).
    pub resumed_objects: u64,
    /// Sent by this run.
    pub sent_objects: u64,
    pub sent_bytes: u64,
    /// Archived, not sent: by storage class, and how many restores were asked or are under way.
    pub archived: Vec<Waiting>,
    pub restores_requested: u64,
    pub restores_in_progress: u64,
    /// The first keys that would be sent (dry run).
    pub first_keys: Vec<String>,
    /// The state was kept (archived objects wait), else removed.
    pub state_kept: bool,
}

/// The S3 notification of one object, as S3 writes it (key URL-encoded), which every forwarder reads.
pub fn notification(bucket: &str, region: &str, o: &Listed) -> String {
    let mut object = json!({
        "key": crate::samples::encode_key(&o.key),
        "size": o.size,
    });
    if let Some(e) = &o.etag {
        object["eTag"] = json!(e.trim_matches('"'));
    }
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": o.last_modified.as_deref().unwrap_or("1970-01-01T00:00:00.000Z"),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "logpipe-reindex"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "logpipe-reindex",
            "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": object,
        }
    }]})
    .to_string()
}

/// The objects selected: readable ones by listing (in key order, each key once), and archived ones.
struct Plan {
    readable: Vec<(usize, Listed)>,
    archived: Vec<Listed>,
}

async fn plan<A: Archive>(
    archive: &A,
    bucket: &str,
    listings: &[Listing],
    progress: &indicatif::ProgressBar,
) -> Result<Plan, String> {
    let mut seen = HashSet::new();
    let mut out = Plan {
        readable: Vec::new(),
        archived: Vec::new(),
    };
    for (i, l) in listings.iter().enumerate() {
        let mut objects = archive
            .list(bucket, &l.prefix)
            .await
            .map_err(|e| format!("listing s3://{bucket}/{}: {e}", l.prefix))?;
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        for o in objects {
            if o.key.ends_with('/') || l.filter.as_ref().is_some_and(|f| !f.keeps(&o.key)) {
                continue;
            }
            if !seen.insert(o.key.clone()) {
                continue;
            }
            let mut o = o;
            if o.class == INTELLIGENT_TIERING && !o.restored {
                // The listing does not say which tier: one HEAD an Intelligent-Tiering object.
                if let Some(tier) = archive
                    .archive_status(bucket, &o.key)
                    .await
                    .map_err(|e| format!("s3://{bucket}/{}: {e}", o.key))?
                {
                    o.class = format!("{INTELLIGENT_TIERING} ({tier})");
                }
            }
            if o.readable() {
                out.readable.push((i, o));
            } else {
                out.archived.push(o);
            }
        }
        progress.set_message(format!(
            "{} listed, {} objects",
            i + 1,
            out.readable.len() + out.archived.len()
        ));
    }
    Ok(out)
}

/// Run the reindex: list, then (unless a dry run) send what earlier runs did not, paced, keeping the state.
pub async fn run<A: Archive, Q: Queue>(
    job: &Job,
    archive: &A,
    queue: &Q,
    bar: &indicatif::ProgressBar,
) -> Result<Outcome, String> {
    let earlier = if job.dry_run {
        None
    } else {
        state::load(&job.state_path, &job.arguments)?
    };
    // A relative window (`--since 6h`) is fixed by the first run: its state holds it.
    let mut st = earlier.unwrap_or_else(|| State::new(&job.arguments, job.from_ms, job.to_ms));
    let listings = select::listings(&job.layout, st.from_ms, st.to_ms, &job.groups)?;
    let plan = plan(archive, &job.bucket, &listings, bar).await?;
    let mut out = Outcome {
        listings: listings.len(),
        objects: plan.readable.len() as u64,
        bytes: plan.readable.iter().map(|(_, o)| o.size).sum(),
        ..Outcome::default()
    };

    // Archived objects: those an earlier run left waiting, and this listing's.
    let mut waiting: Vec<Listed> = plan.archived;
    for w in &st.archived {
        // One the listing already shows restored is sent from the listing.
        let listed_readable = plan.readable.iter().any(|(_, o)| o.key == w.key);
        if !listed_readable && !waiting.iter().any(|o| o.key == w.key) {
            waiting.push(Listed {
                key: w.key.clone(),
                size: w.size,
                etag: None,
                last_modified: None,
                class: w.class.clone(),
                restored: false,
            });
        }
    }
    let mut restored_now: Vec<Listed> = Vec::new();
    let mut still: Vec<Waiting> = Vec::new();
    for o in waiting {
        let status = if job.dry_run {
            None
        } else {
            archive
                .restore_status(&job.bucket, &o.key)
                .await
                .map_err(|e| format!("s3://{}/{}: {e}", job.bucket, o.key))?
        };
        let status = match (status, &job.restore) {
            (None, Some((days, tier))) if !job.dry_run => Some(
                archive
                    .restore(
                        &job.bucket,
                        &o.key,
                        (!o.class.starts_with(INTELLIGENT_TIERING)).then_some(*days),
                        tier,
                    )
                    .await
                    .map_err(|e| format!("RestoreObject s3://{}/{}: {e}", job.bucket, o.key))?,
            ),
            (s, _) => s,
        };
        match status {
            Some(Restore::Done) => restored_now.push(o),
            s => {
                out.restores_requested += u64::from(s == Some(Restore::Requested));
                out.restores_in_progress += u64::from(s == Some(Restore::InProgress));
                still.push(Waiting {
                    key: o.key,
                    size: o.size,
                    class: o.class,
                });
            }
        }
    }
    out.archived.clone_from(&still);

    let todo: Vec<(Option<usize>, Listed)> = restored_now
        .into_iter()
        .map(|o| (None, o))
        .chain(
            plan.readable
                .into_iter()
                .filter(|(i, o)| {
                    // An object an earlier run left waiting for its restore is not behind the place.
                    let passed =
                        st.passed(*i, &o.key) && !st.archived.iter().any(|w| w.key == o.key);
                    if passed {
                        out.resumed_objects += 1;
                    }
                    !passed
                })
                .map(|(i, o)| (Some(i), o)),
        )
        .collect();
    if job.dry_run {
        out.first_keys = todo.iter().take(10).map(|(_, o)| o.key.clone()).collect();
        return Ok(out);
    }
    bar.set_length(todo.iter().map(|(_, o)| o.size).sum());
    bar.set_position(0);

    let started = Instant::now();
    for chunk in todo.chunks(BATCH) {
        wait_for_room(&job.pace, queue, started, out.sent_objects, bar).await?;
        let messages: Vec<Outgoing> = chunk
            .iter()
            .enumerate()
            .map(|(n, (_, o))| Outgoing {
                id: n.to_string(),
                body: notification(&job.bucket, &job.region, o),
                attributes: job
                    .restore_label
                    .iter()
                    .map(|l| (RESTORE_ATTRIBUTE.to_string(), l.clone()))
                    .collect(),
            })
            .collect();
        send_all(&job.pace, queue, messages)
            .await
            .inspect_err(|_| {
                // Sent so far is kept: the next run starts after it.
                st.archived.clone_from(&still);
                let _ = state::save(&job.state_path, &st);
            })?;
        let bytes: u64 = chunk.iter().map(|(_, o)| o.size).sum();
        out.sent_objects += chunk.len() as u64;
        out.sent_bytes += bytes;
        // Restored objects are sent first and keep no place; the listing's advance it.
        match chunk.iter().rev().find_map(|(i, o)| i.map(|i| (i, o))) {
            Some((i, o)) => {
                let n = chunk.iter().filter(|(i, _)| i.is_some()).count() as u64;
                st.advance(i, &o.key, n, bytes);
            }
            None => st.bytes_sent += bytes,
        }
        st.archived.clone_from(&still);
        state::save(&job.state_path, &st)?;
        bar.inc(bytes);
        bar.set_message(format!(
            "{} of {} objects sent",
            out.sent_objects,
            todo.len()
        ));
    }
    if still.is_empty() {
        match std::fs::remove_file(&job.state_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", job.state_path.display())),
        }
    } else {
        st.archived = still;
        state::save(&job.state_path, &st)?;
        out.state_kept = true;
    }
    Ok(out)
}

/// Wait until the rate allows `sent` more messages and the queue has room; while the queue is full, the
/// bar says so.
pub async fn wait_for_room<Q: Queue>(
    job: &Pace,
    queue: &Q,
    started: Instant,
    sent: u64,
    bar: &indicatif::ProgressBar,
) -> Result<(), String> {
    if job.rate > 0.0 {
        let due = started + Duration::from_secs_f64(sent as f64 / job.rate);
        tokio::time::sleep_until(due.into()).await;
    }
    if job.max_queued == 0 {
        return Ok(());
    }
    loop {
        let depth = queue
            .depth()
            .await
            .map_err(|e| format!("the queue's depth: {e}"))?;
        if depth < job.max_queued {
            return Ok(());
        }
        bar.set_message(format!(
            "waiting: the queue holds {depth} messages (--max-queued {})",
            job.max_queued
        ));
        tokio::time::sleep(job.queue_poll).await;
    }
}

/// Send a batch; entries SQS refused are sent again (with backoff), the rest of the error is the run's.
pub async fn send_all<Q: Queue>(
    job: &Pace,
    queue: &Q,
    mut messages: Vec<Outgoing>,
) -> Result<(), String> {
    let mut attempt = 0;
    loop {
        let refused = match queue.send(&messages).await {
            Ok(r) => r,
            Err(e) if e.is_retryable() && attempt + 1 < job.backoff.max_attempts => {
                attempt += 1;
                tokio::time::sleep(job.backoff.delay(attempt, &mut fastrand::Rng::new())).await;
                continue;
            }
            Err(e) => return Err(format!("SendMessageBatch: {e}")),
        };
        if refused.is_empty() {
            return Ok(());
        }
        attempt += 1;
        if attempt >= job.backoff.max_attempts {
            let (id, why) = &refused[0];
            return Err(format!(
                "SendMessageBatch: {} of {} messages refused {attempt} times; first (entry {id}): {why}",
                refused.len(),
                messages.len()
            ));
        }
        messages.retain(|m| refused.iter().any(|(id, _)| *id == m.id));
        tokio::time::sleep(job.backoff.delay(attempt, &mut fastrand::Rng::new())).await;
    }
}

#[cfg(test)]
mod tests;
