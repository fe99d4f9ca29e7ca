//! Faults injected at the handlers' I/O seams, in front of the real AWS adapters.

use std::sync::atomic::{AtomicU64, Ordering};

use firehose_transform::{PutEntry, Reingest};
use logcore::logs::s3event::ObjectRef;
use logcore::transform::firehose::Source;
use logpipe_io::CallError;
use logpipe_io::{Opened, Store};

/// Re-ingestion whose first `calls` put calls to Firehose, and as many to Kinesis, see every other entry
/// fail, as `PutRecordBatch` and `PutRecords` report throttled entries (the call succeeds, the entry
/// carries an error code). The failed entries are not sent; the others go to the real service.
pub struct FlakyReingest<R> {
    pub inner: R,
    firehose_calls_left: AtomicU64,
    kinesis_calls_left: AtomicU64,
    /// Entries reported failed so far.
    pub injected_firehose: AtomicU64,
    pub injected_kinesis: AtomicU64,
}

impl<R> FlakyReingest<R> {
    pub fn new(inner: R, calls: u64) -> Self {
        FlakyReingest {
            inner,
            firehose_calls_left: AtomicU64::new(calls),
            kinesis_calls_left: AtomicU64::new(calls),
            injected_firehose: AtomicU64::new(0),
            injected_kinesis: AtomicU64::new(0),
        }
    }
}

/// Take one from a counter of faults still to inject; false when none is left.
fn take(left: &AtomicU64) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl<R: Reingest> Reingest for FlakyReingest<R> {
    async fn put(
        &self,
        source: &Source,
        entries: &[PutEntry],
    ) -> Result<Vec<Option<String>>, CallError> {
        let (left, injected, code) = match source {
            Source::DeliveryStream { .. } => (
                &self.firehose_calls_left,
                &self.injected_firehose,
                "ServiceUnavailableException",
            ),
            Source::KinesisStream { .. } => (
                &self.kinesis_calls_left,
                &self.injected_kinesis,
                "ProvisionedThroughputExceededException",
            ),
        };
        if !take(left) {
            return self.inner.put(source, entries).await;
        }
        let sent: Vec<PutEntry> = entries.iter().step_by(2).cloned().collect();
        let mut answers = self.inner.put(source, &sent).await?.into_iter();
        let mut out = Vec::with_capacity(entries.len());
        for i in 0..entries.len() {
            if i % 2 == 0 {
                out.push(answers.next().flatten());
            } else {
                injected.fetch_add(1, Ordering::SeqCst);
                out.push(Some(format!("{code}: injected by the end-to-end test")));
            }
        }
        Ok(out)
    }
}

/// An object store whose first `reads` reads fail as S3 fails now and then (500 InternalError).
pub struct FlakyStore<S> {
    pub inner: S,
    reads_left: AtomicU64,
    pub injected: AtomicU64,
}

impl<S> FlakyStore<S> {
    pub fn new(inner: S, reads: u64) -> Self {
        FlakyStore {
            inner,
            reads_left: AtomicU64::new(reads),
            injected: AtomicU64::new(0),
        }
    }
}

impl<S: Store> Store for FlakyStore<S> {
    async fn get(&self, obj: &ObjectRef) -> Result<Opened, CallError> {
        if take(&self.reads_left) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return Err(CallError::retryable(format!(
                "GetObject s3://{}/{}: InternalError (500), injected by the end-to-end test",
                obj.bucket, obj.key
            )));
        }
        self.inner.get(obj).await
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CallError> {
        self.inner.put(bucket, key, body).await
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), CallError> {
        self.inner.delete(bucket, key).await
    }
}
