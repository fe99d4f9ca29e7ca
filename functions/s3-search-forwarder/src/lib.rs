//! The search forwarder: index every document of every new S3 log object into Elasticsearch or Amazon
//! OpenSearch Service, so that each line is either indexed exactly once or recorded, with its reason, under
//! the dead-letter prefix.
//!
//! The handler is generic over two small I/O traits, [`Store`] (S3) and [`Search`] (`_bulk`), with the AWS
//! and HTTP implementations in [`aws`] and in-memory ones in the tests.

pub mod aws;
pub mod checkpoint;
pub mod config;
pub mod forward;
pub mod local;
pub mod redrive;
pub mod reply;
pub mod setup;

use std::future::Future;

use logcore::logs::s3event::{Invocation, ObjectRef};
pub use logpipe_io::{CallError, Opened, Reply, Store};
use serde::Serialize;

pub use config::Config;
pub use forward::{forward_object, Forwarded, ObjectReport};

/// The search engine's `_bulk` endpoint.
pub trait Search: Send + Sync + 'static {
    /// POST a `_bulk` body (`gzip`: the body is gzip-compressed, send `Content-Encoding: gzip`).
    fn bulk(
        &self,
        body: Vec<u8>,
        gzip: bool,
    ) -> impl Future<Output = Result<Reply, CallError>> + Send;
}

logcore::counts! {
    /// Counts of one invocation: its report line (summary and EMF metrics, see `logcore::base::report`).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Summary {
        pub messages: u64,
        pub messages_failed: u64 => "MessagesFailed",
        pub notifications_ignored: u64,
        pub objects: u64 => "ObjectsForwarded",
        pub objects_failed: u64 => "ObjectsFailed",
        pub objects_missing: u64 => "ObjectsMissing",
        /// Every object's counts, added up.
        #[serde(flatten)]
        pub forwarded: Forwarded,
        /// Objects left unfinished with a checkpoint to resume from.
        pub checkpoints_written: u64 => "CheckpointsWritten",
        /// Dead-letter objects redriven (`logpipe redrive`), and of them those whose redrive stopped.
        pub dead_letter_objects_redriven: u64 => "DeadLetterObjectsRedriven",
        pub dead_letter_objects_failed: u64,
    }
}

impl Summary {
    /// Count one object's report in.
    pub fn add_object(&mut self, r: &ObjectReport) {
        self.objects += 1;
        self.objects_failed += u64::from(r.error.is_some());
        self.objects_missing += u64::from(r.missing);
        self.notifications_ignored += u64::from(r.skipped);
        self.checkpoints_written += u64::from(r.checkpoint_written);
        logcore::base::report::Metrics::add(&mut self.forwarded, &r.forwarded);
    }

    /// Count one dead-letter object's redrive in.
    pub fn add_redrive(&mut self, r: &redrive::RedriveReport) {
        self.dead_letter_objects_redriven += 1;
        self.dead_letter_objects_failed += u64::from(r.error.is_some());
        logcore::base::report::Metrics::add(&mut self.forwarded, &r.forwarded);
    }
}

/// What the invocation answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// SQS: the messages to deliver again.
    Sqs {
        #[serde(rename = "batchItemFailures")]
        batch_item_failures: Vec<ItemFailure>,
    },
    /// S3, SNS, EventBridge: every object was handled.
    Done { objects: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// The invocation did not deliver everything: Lambda retries it (and then sends it to the on-failure
/// destination), and the deterministic `_id`s make the retry safe.
pub use logcore::base::runtime::InvocationError;

/// Handle one invocation. Returns the answer, the summary, and the reasons of failed objects.
pub async fn handle<S: Store, E: Search>(
    cfg: &Config,
    store: &std::sync::Arc<S>,
    search: &std::sync::Arc<E>,
    event: &serde_json::Value,
    deadline: logpipe_io::lambda::Deadline,
) -> (Result<Response, InvocationError>, Summary) {
    let mut summary = Summary::default();
    let invocation = match logcore::logs::s3event::parse_invocation_value(event) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "unreadable event");
            return (
                Err(InvocationError(format!("unreadable event: {e}"))),
                summary,
            );
        }
    };
    match invocation {
        Invocation::Direct(n) => {
            summary.notifications_ignored += n.ignored;
            let mut first = None;
            for obj in &n.objects {
                let r = forward_object(cfg, store, search, obj, deadline).await;
                log_object(obj, &r);
                if let (Some(e), None) = (&r.error, &first) {
                    first = Some(format!("s3://{}/{}: {e}", obj.bucket, obj.key));
                }
                summary.add_object(&r);
            }
            let result = match first {
                None => Ok(Response::Done {
                    objects: summary.objects,
                }),
                Some(first) => Err(InvocationError::partly(
                    summary.objects_failed,
                    summary.objects,
                    "objects not fully indexed",
                    &first,
                )),
            };
            (result, summary)
        }
        Invocation::Sqs(messages) => {
            let mut failures = Vec::new();
            for m in messages {
                summary.messages += 1;
                // A restore label (`logpipe reindex --restore-index`): the same objects into the label's
                // indices. Live messages carry none and pay nothing for it.
                let restored = m.restore.as_deref().map(|label| cfg.restored(label));
                let cfg = match &restored {
                    None => cfg,
                    Some(Ok(r)) => r,
                    Some(Err(e)) => {
                        tracing::error!(message_id = %m.message_id, error = %e, "restore label refused");
                        summary.messages_failed += 1;
                        failures.push(ItemFailure {
                            item_identifier: m.message_id,
                        });
                        continue;
                    }
                };
                let disposal = m.redrive.as_deref().map(str::parse::<redrive::Disposal>);
                let ok = match (&m.content, disposal) {
                    (Err(e), _) => {
                        tracing::error!(message_id = %m.message_id, error = %e, "unreadable SQS message");
                        false
                    }
                    (Ok(_), Some(Err(e))) => {
                        tracing::error!(message_id = %m.message_id, error = %e, "redrive refused");
                        false
                    }
                    (Ok(n), Some(Ok(disposal))) => {
                        summary.notifications_ignored += n.ignored;
                        let mut ok = true;
                        for obj in &n.objects {
                            let r = redrive::redrive_object(
                                cfg, store, search, obj, deadline, disposal,
                            )
                            .await;
                            log_redrive(obj, &r);
                            ok &= r.error.is_none();
                            summary.add_redrive(&r);
                        }
                        ok
                    }
                    (Ok(n), None) => {
                        summary.notifications_ignored += n.ignored;
                        let mut ok = true;
                        for obj in &n.objects {
                            let r = forward_object(cfg, store, search, obj, deadline).await;
                            log_object(obj, &r);
                            ok &= r.error.is_none();
                            summary.add_object(&r);
                        }
                        ok
                    }
                };
                if !ok {
                    summary.messages_failed += 1;
                    failures.push(ItemFailure {
                        item_identifier: m.message_id,
                    });
                }
            }
            (
                Ok(Response::Sqs {
                    batch_item_failures: failures,
                }),
                summary,
            )
        }
    }
}

fn log_object(obj: &ObjectRef, r: &ObjectReport) {
    let f = &r.forwarded;
    match &r.error {
        Some(e) => tracing::error!(
            bucket = %obj.bucket, key = %obj.key, error = %e,
            units = f.units, indexed = f.indexed, already_indexed = f.already_indexed,
            dead_lettered = f.dead_lettered, "object not fully indexed; it will be delivered again"
        ),
        None if r.missing => tracing::warn!(
            bucket = %obj.bucket, key = %obj.key,
            "object no longer exists; nothing to index"
        ),
        None => tracing::info!(
            bucket = %obj.bucket, key = %obj.key, units = f.units, indexed = f.indexed,
            already_indexed = f.already_indexed, dead_lettered = f.dead_lettered, "object indexed"
        ),
    }
}

fn log_redrive(obj: &ObjectRef, r: &redrive::RedriveReport) {
    let f = &r.forwarded;
    match &r.error {
        Some(e) => tracing::error!(
            bucket = %obj.bucket, key = %obj.key, error = %e, indexed = f.indexed,
            already_indexed = f.already_indexed, "dead-letter object not redriven; it will be delivered again"
        ),
        None => tracing::info!(
            bucket = %obj.bucket, key = %obj.key, records = r.records, indexed = f.indexed,
            already_indexed = f.already_indexed, refused_again = f.dead_lettered, kept = r.kept,
            disposed = ?r.disposed, "dead-letter object redriven"
        ),
    }
}

/// The report line of one invocation (summary and EMF metrics).
pub fn report(cfg: &Config, request_id: &str, s: &Summary) {
    cfg.common.report(request_id, "forwarder summary", s);
}

#[cfg(test)]
mod tests;
