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
pub mod setup;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use logcore::s3event::{Invocation, ObjectRef};
use serde::Serialize;
use tokio::io::AsyncRead;

pub use config::Config;
pub use forward::{forward_object, ObjectReport};

/// An object opened for reading.
pub struct Opened {
    pub body: Pin<Box<dyn AsyncRead + Send>>,
    /// Last-modified time, RFC 3339 UTC: `@timestamp` of documents that have none.
    pub last_modified: Option<String>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no such object")]
    NotFound,
    #[error("{0}")]
    Other(String),
}

/// S3: read log objects, write dead-letter objects, keep checkpoints.
pub trait Store: Send + Sync + 'static {
    fn get(&self, obj: &ObjectRef) -> impl Future<Output = Result<Opened, StoreError>> + Send;
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Delete an object; one that does not exist is not an error.
    fn delete(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The answer to one HTTP request (a `_bulk` request here, a Slack post in the notifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Retry-After`, when the server sent one.
    pub retry_after: Option<Duration>,
}

/// The request never got an HTTP answer (timeout, refused or reset connection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// The search engine's `_bulk` endpoint.
pub trait Search: Send + Sync + 'static {
    /// POST a `_bulk` body (`gzip`: the body is gzip-compressed, send `Content-Encoding: gzip`).
    fn bulk(
        &self,
        body: Vec<u8>,
        gzip: bool,
    ) -> impl Future<Output = Result<Reply, TransportError>> + Send;
}

/// Counts of one invocation (the summary line and the EMF metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub messages: u64,
    pub messages_failed: u64,
    pub notifications_ignored: u64,
    pub objects: u64,
    pub objects_failed: u64,
    pub objects_missing: u64,
    pub units: u64,
    /// Units an earlier invocation finished, read past by its checkpoint.
    pub units_resumed: u64,
    pub blank_lines: u64,
    pub indexed: u64,
    pub already_indexed: u64,
    pub dead_lettered: u64,
    /// Of those, refused for reasons of the cluster, not of the document.
    pub refused_by_cluster: u64,
    pub bulk_requests: u64,
    pub bulk_retries: u64,
    pub bytes_decompressed: u64,
    /// Objects left unfinished with a checkpoint to resume from.
    pub checkpoints_written: u64,
}

impl Summary {
    /// Count one object's report in.
    pub fn add(&mut self, r: &ObjectReport) {
        self.objects += 1;
        self.objects_failed += u64::from(r.error.is_some());
        self.objects_missing += u64::from(r.missing);
        self.notifications_ignored += u64::from(r.skipped);
        self.units += r.units;
        self.units_resumed += r.units_resumed;
        self.checkpoints_written += u64::from(r.checkpoint_written);
        self.blank_lines += r.blank_lines;
        self.indexed += r.indexed;
        self.already_indexed += r.already_indexed;
        self.dead_lettered += r.dead_lettered;
        self.refused_by_cluster += r.refused_by_cluster;
        self.bulk_requests += r.bulk_requests;
        self.bulk_retries += r.bulk_retries;
        self.bytes_decompressed += r.bytes_decompressed;
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{failed} of {objects} objects not fully indexed: {first}")]
pub struct InvocationError {
    pub failed: u64,
    pub objects: u64,
    pub first: String,
}

/// Handle one invocation. Returns the answer, the summary, and the reasons of failed objects.
pub async fn handle<S: Store, E: Search>(
    cfg: &Config,
    store: &std::sync::Arc<S>,
    search: &std::sync::Arc<E>,
    event: &serde_json::Value,
    deadline: tokio::time::Instant,
) -> (Result<Response, InvocationError>, Summary) {
    let mut summary = Summary::default();
    let invocation = match logcore::s3event::parse_invocation_value(event) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "unreadable event");
            return (
                Err(InvocationError {
                    failed: 0,
                    objects: 0,
                    first: format!("unreadable event: {e}"),
                }),
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
                summary.add(&r);
            }
            let result = match first {
                None => Ok(Response::Done {
                    objects: summary.objects,
                }),
                Some(first) => Err(InvocationError {
                    failed: summary.objects_failed,
                    objects: summary.objects,
                    first,
                }),
            };
            (result, summary)
        }
        Invocation::Sqs(messages) => {
            let mut failures = Vec::new();
            for m in messages {
                summary.messages += 1;
                let ok = match &m.content {
                    Err(e) => {
                        tracing::error!(message_id = %m.message_id, error = %e, "unreadable SQS message");
                        false
                    }
                    Ok(n) => {
                        summary.notifications_ignored += n.ignored;
                        let mut ok = true;
                        for obj in &n.objects {
                            let r = forward_object(cfg, store, search, obj, deadline).await;
                            log_object(obj, &r);
                            ok &= r.error.is_none();
                            summary.add(&r);
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
    match &r.error {
        Some(e) => tracing::error!(
            bucket = %obj.bucket, key = %obj.key, error = %e,
            units = r.units, indexed = r.indexed, already_indexed = r.already_indexed,
            dead_lettered = r.dead_lettered, "object not fully indexed; it will be delivered again"
        ),
        None if r.missing => tracing::warn!(
            bucket = %obj.bucket, key = %obj.key,
            "object no longer exists; nothing to index"
        ),
        None => tracing::info!(
            bucket = %obj.bucket, key = %obj.key, units = r.units, indexed = r.indexed,
            already_indexed = r.already_indexed, dead_lettered = r.dead_lettered, "object indexed"
        ),
    }
}

/// The summary line and EMF metrics of one invocation.
pub fn report(cfg: &Config, request_id: &str, s: &Summary) {
    tracing::info!(
        request_id,
        messages = s.messages,
        messages_failed = s.messages_failed,
        notifications_ignored = s.notifications_ignored,
        objects = s.objects,
        objects_failed = s.objects_failed,
        objects_missing = s.objects_missing,
        units = s.units,
        units_resumed = s.units_resumed,
        blank_lines = s.blank_lines,
        indexed = s.indexed,
        already_indexed = s.already_indexed,
        dead_lettered = s.dead_lettered,
        refused_by_cluster = s.refused_by_cluster,
        bulk_requests = s.bulk_requests,
        bulk_retries = s.bulk_retries,
        bytes_decompressed = s.bytes_decompressed,
        checkpoints_written = s.checkpoints_written,
        "forwarder summary"
    );
    logcore::emf::print_counts(
        &cfg.metrics_namespace,
        &cfg.function_name,
        &[
            ("ObjectsForwarded", s.objects, "Count"),
            ("ObjectsFailed", s.objects_failed, "Count"),
            ("ObjectsMissing", s.objects_missing, "Count"),
            ("MessagesFailed", s.messages_failed, "Count"),
            ("DocumentsIndexed", s.indexed, "Count"),
            ("DocumentsAlreadyIndexed", s.already_indexed, "Count"),
            ("DocumentsDeadLettered", s.dead_lettered, "Count"),
            ("DocumentsRefusedByCluster", s.refused_by_cluster, "Count"),
            ("BulkRequests", s.bulk_requests, "Count"),
            ("BulkRetries", s.bulk_retries, "Count"),
            ("BytesDecompressed", s.bytes_decompressed, "Bytes"),
            ("UnitsResumed", s.units_resumed, "Count"),
            ("CheckpointsWritten", s.checkpoints_written, "Count"),
        ],
    );
}

#[cfg(test)]
mod tests;
