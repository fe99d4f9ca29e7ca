//! Objects in memory, for tests: with counts of `GetObject` and `PutObject` failures to inject.

use std::collections::BTreeMap;
use std::sync::Mutex;

use logcore::logs::s3event::ObjectRef;

use super::{Opened, Store};
use crate::CallError;

/// Every object's body by (bucket, key); `get` answers fixed metadata (`last_modified`, `etag`).
#[derive(Default)]
pub struct MemStore {
    objects: Mutex<BTreeMap<(String, String), Vec<u8>>>,
    get_failures: Mutex<u32>,
    put_failures: Mutex<u32>,
}

/// What every object of a [`MemStore`] reports as its last-modified time.
const MEM_LAST_MODIFIED: &str = "2026-11-21T10:00:00Z";

impl MemStore {
    /// Store an object (the same as `put`, without a runtime).
    pub fn insert(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.lock().insert((bucket.into(), key.into()), body);
    }

    /// The body of an object.
    pub fn body(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.lock().get(&(bucket.into(), key.into())).cloned()
    }

    /// The keys under `prefix`, in order, with their bucket.
    pub fn keys(&self, prefix: &str) -> Vec<(String, String)> {
        self.lock()
            .keys()
            .filter(|(_, k)| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The next `n` `get` calls fail with a retryable `SlowDown`.
    pub fn fail_gets(&self, n: u32) {
        *self.get_failures.lock().unwrap_or_else(|p| p.into_inner()) = n;
    }

    /// The next `n` `put` calls fail with a retryable `InternalError`.
    pub fn fail_puts(&self, n: u32) {
        *self.put_failures.lock().unwrap_or_else(|p| p.into_inner()) = n;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Vec<u8>>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for MemStore {
    async fn get(&self, obj: &ObjectRef) -> Result<Opened, CallError> {
        {
            let mut f = self.get_failures.lock().unwrap_or_else(|p| p.into_inner());
            if *f > 0 {
                *f -= 1;
                return Err(CallError::throttled(format!(
                    "GetObject s3://{}/{}: SlowDown: Please reduce your request rate.",
                    obj.bucket, obj.key
                )));
            }
        }
        let body = self.body(&obj.bucket, &obj.key).ok_or_else(|| {
            CallError::not_found(format!(
                "GetObject s3://{}/{}: NoSuchKey: The specified key does not exist.",
                obj.bucket, obj.key
            ))
        })?;
        Ok(Opened {
            body: Box::pin(std::io::Cursor::new(body)),
            last_modified: Some(MEM_LAST_MODIFIED.into()),
            etag: Some("\"etag-1\"".into()),
            version_id: None,
        })
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CallError> {
        {
            let mut f = self.put_failures.lock().unwrap_or_else(|p| p.into_inner());
            if *f > 0 {
                *f -= 1;
                return Err(CallError::retryable(format!(
                    "PutObject s3://{bucket}/{key}: InternalError: We encountered an internal error. Please try again."
                )));
            }
        }
        self.insert(bucket, key, body);
        Ok(())
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), CallError> {
        self.lock().remove(&(bucket.into(), key.into()));
        Ok(())
    }
}
