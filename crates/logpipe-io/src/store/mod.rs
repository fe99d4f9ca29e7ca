//! The object store: read log objects, write dead-letter objects, keep checkpoints. S3 through the SDK
//! ([`S3Store`]), a directory of files for local runs ([`DirStore`]), and memory for tests ([`MemStore`]).
//!
//! Errors are [`CallError`]s; an object that does not exist is [`ErrorKind::NotFound`](crate::ErrorKind).

mod dir;
mod memory;
mod s3;

use std::future::Future;
use std::pin::Pin;

use logcore::logs::s3event::ObjectRef;
use tokio::io::AsyncRead;

use crate::CallError;

pub use dir::DirStore;
pub use memory::MemStore;
pub use s3::S3Store;

/// An object opened for reading.
pub struct Opened {
    pub body: Pin<Box<dyn AsyncRead + Send>>,
    /// Last-modified time, RFC 3339 UTC: `@timestamp` of documents that have none.
    pub last_modified: Option<String>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

/// Objects by bucket and key.
pub trait Store: Send + Sync + 'static {
    /// Open an object (the version the reference names, when it names one).
    fn get(&self, obj: &ObjectRef) -> impl Future<Output = Result<Opened, CallError>> + Send;
    /// Write an object whole.
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
    /// Delete an object; one that does not exist is not an error.
    fn delete(&self, bucket: &str, key: &str)
        -> impl Future<Output = Result<(), CallError>> + Send;
}

/// A reference to `bucket`/`key` with nothing else known, as a listing or a test names it.
pub fn object(bucket: &str, key: &str) -> ObjectRef {
    ObjectRef {
        bucket: bucket.into(),
        key: key.into(),
        version_id: None,
        etag: None,
        size: None,
        event_time: None,
        region: None,
    }
}
