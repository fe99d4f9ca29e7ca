//! Local stand-ins for the forwarder's I/O, used by the `logpipe` CLI (forward, replay, bench): a directory
//! as the S3 store and an NDJSON file as the `_bulk` endpoint. The handler code is the Lambda's; only these
//! adapters differ.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use logcore::s3event::ObjectRef;

use crate::{Opened, Reply, Search, Store, StoreError, TransportError};

/// Buckets as directories: `s3://bucket/a/b.gz` is `{root}/bucket/a/b.gz`; or one directory standing for
/// one named bucket.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
    /// `Some(name)`: `root` is the bucket `name` itself.
    single: Option<String>,
}

impl DirStore {
    /// Each bucket is a subdirectory of `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirStore {
            root: root.into(),
            single: None,
        }
    }

    /// `dir` is the bucket `bucket` (other bucket names are not found).
    pub fn single(bucket: &str, dir: impl Into<PathBuf>) -> Self {
        DirStore {
            root: dir.into(),
            single: Some(bucket.to_string()),
        }
    }

    /// The file of an object. Keys that cannot name a file inside the store (empty, absolute, with `.`,
    /// `..` or empty segments) are refused rather than mapped outside it.
    pub fn path(&self, bucket: &str, key: &str) -> Result<PathBuf, StoreError> {
        let base = match &self.single {
            Some(name) if name == bucket => self.root.clone(),
            Some(name) => {
                return Err(StoreError::Other(format!(
                    "bucket {bucket:?} is not in this directory store (it holds only {name:?})"
                )))
            }
            None => {
                plain_segment(bucket)
                    .map_err(|why| StoreError::Other(format!("bucket name {bucket:?} {why}")))?;
                self.root.join(bucket)
            }
        };
        let mut path = base;
        for seg in key.split('/') {
            plain_segment(seg).map_err(|why| {
                StoreError::Other(format!(
                    "key {key:?} cannot be stored as a local file: a segment {why}"
                ))
            })?;
            path.push(seg);
        }
        Ok(path)
    }

    /// The key of a file under a single-bucket store, or `None` when the file is outside it.
    pub fn key_of(&self, file: &Path) -> Option<String> {
        let root = self.root.canonicalize().ok()?;
        let file = file.canonicalize().ok()?;
        let rel = file.strip_prefix(&root).ok()?;
        let parts: Vec<&str> = rel
            .components()
            .map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect::<Option<_>>()?;
        (!parts.is_empty()).then(|| parts.join("/"))
    }
}

fn plain_segment(seg: &str) -> Result<(), &'static str> {
    match seg {
        "" => Err("is empty"),
        "." | ".." => Err("is `.` or `..`"),
        s if s.contains('\\') || s.contains('\0') => Err("holds `\\` or NUL"),
        _ => Ok(()),
    }
}

impl Store for DirStore {
    async fn get(&self, obj: &ObjectRef) -> Result<Opened, StoreError> {
        let path = self.path(&obj.bucket, &obj.key)?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::NotFound
            } else {
                StoreError::Other(format!("{}: {e}", path.display()))
            }
        })?;
        let meta = file
            .metadata()
            .await
            .map_err(|e| StoreError::Other(format!("{}: {e}", path.display())))?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        Ok(Opened {
            body: Box::pin(file),
            last_modified: modified
                .map(|d| logcore::time::DateTimeParts::from_millis(d.as_millis() as i64).rfc3339()),
            // Like an S3 ETag, it changes with the content (size and modification time), so a rewritten
            // file gets new document ids and the same file replayed gets the same ones.
            etag: Some(format!(
                "{:x}-{:x}",
                meta.len(),
                modified.map_or(0, |d| d.as_nanos())
            )),
            version_id: None,
        })
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        let path = self.path(bucket, key)?;
        let err = |e: std::io::Error| StoreError::Other(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(err)?;
        }
        // Written aside and renamed, so a reader never sees half an object.
        let tmp = path.with_extension(format!("part-{}", std::process::id()));
        tokio::fs::write(&tmp, body).await.map_err(err)?;
        tokio::fs::rename(&tmp, &path).await.map_err(err)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        let path = self.path(bucket, key)?;
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::Other(format!("{}: {e}", path.display())))
            }
            _ => Ok(()),
        }
    }
}

/// The number of actions in a `_bulk` body (`create` lines, each followed by its document).
pub fn count_actions(body: &[u8]) -> usize {
    let lines = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    lines / 2
}

/// A `_bulk` answer that takes every one of `actions` actions (201 created).
pub fn created_reply(actions: usize) -> Vec<u8> {
    const ITEM: &[u8] = br#"{"create":{"status":201,"result":"created"}}"#;
    let mut out = Vec::with_capacity(32 + actions * (ITEM.len() + 1));
    out.extend_from_slice(br#"{"took":0,"errors":false,"items":["#);
    for i in 0..actions {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(ITEM);
    }
    out.extend_from_slice(b"]}");
    out
}

/// A `_bulk` endpoint that appends every request body (decompressed) to a writer and takes every action:
/// what would be sent to the search engine, for reading instead of indexing.
pub struct NdjsonSink {
    out: Mutex<Box<dyn Write + Send>>,
}

impl NdjsonSink {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        NdjsonSink {
            out: Mutex::new(out),
        }
    }
}

impl Search for NdjsonSink {
    async fn bulk(&self, body: Vec<u8>, gzip: bool) -> Result<Reply, TransportError> {
        let body = if gzip {
            logcore::codec::gunzip_capped(&body, usize::MAX)
                .map_err(|e| TransportError(format!("the bulk body is not gzip: {e}")))?
        } else {
            body
        };
        let mut out = self
            .out
            .lock()
            .map_err(|_| TransportError("the NDJSON sink failed earlier".into()))?;
        out.write_all(&body)
            .and_then(|()| out.flush())
            .map_err(|e| TransportError(format!("writing the bulk bodies: {e}")))?;
        Ok(Reply {
            status: 200,
            body: created_reply(count_actions(&body)),
            retry_after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn obj(bucket: &str, key: &str) -> ObjectRef {
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

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "logpipe-dirstore-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[tokio::test]
    async fn put_then_get_round_trips_and_missing_is_not_found() {
        let root = tempdir("rt");
        let store = DirStore::new(&root);
        store
            .put("logs", "failed/a b/x.ndjson", b"{\"a\":1}\n".to_vec())
            .await
            .unwrap();
        assert!(root.join("logs/failed/a b/x.ndjson").is_file());
        let mut opened = store
            .get(&obj("logs", "failed/a b/x.ndjson"))
            .await
            .unwrap();
        let mut body = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut opened.body, &mut body)
            .await
            .unwrap();
        assert_eq!(body, b"{\"a\":1}\n");
        assert!(opened.etag.unwrap().starts_with("8-"));
        assert_eq!(opened.last_modified.unwrap().len(), 24);
        assert!(matches!(
            store.get(&obj("logs", "nope")).await,
            Err(StoreError::NotFound)
        ));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn keys_that_would_leave_the_store_are_refused() {
        let store = DirStore::new("/srv/s3");
        for (bucket, key) in [
            ("logs", "../etc/passwd"),
            ("logs", "/abs"),
            ("logs", "a//b"),
            ("logs", "a/./b"),
            ("..", "x"),
            ("", "x"),
            ("logs", ""),
        ] {
            let e = store.path(bucket, key).unwrap_err();
            assert!(matches!(e, StoreError::Other(_)), "{bucket}/{key}");
        }
        assert_eq!(
            store.path("logs", "2026/11/22/a.gz").unwrap(),
            PathBuf::from("/srv/s3/logs/2026/11/22/a.gz")
        );
    }

    #[test]
    fn a_single_bucket_store_maps_files_to_keys() {
        let root = tempdir("single");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/f.gz"), b"x").unwrap();
        let store = DirStore::single("local", &root);
        assert_eq!(store.path("local", "d/f.gz").unwrap(), root.join("d/f.gz"));
        assert!(store.path("other", "d/f.gz").is_err());
        assert_eq!(
            store.key_of(&root.join("d/f.gz")).as_deref(),
            Some("d/f.gz")
        );
        assert_eq!(store.key_of(Path::new("/")), None);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn replies_take_every_action() {
        let body = b"{\"create\":{}}\n{\"a\":1}\n{\"create\":{}}\n{\"b\":2}\n";
        assert_eq!(count_actions(body), 2);
        let outcomes = logcore::bulk::parse_bulk_response(&created_reply(2), 2).unwrap();
        assert!(outcomes
            .iter()
            .all(|o| *o == logcore::bulk::ItemOutcome::Created));
        assert!(logcore::bulk::parse_bulk_response(&created_reply(0), 0)
            .unwrap()
            .is_empty());
    }

    /// Writes into a shared buffer, so the test can read what the sink wrote.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_ndjson_sink_keeps_decompressed_bodies() {
        let buf = Shared::default();
        let sink = NdjsonSink::new(Box::new(buf.clone()));
        let body = b"{\"create\":{}}\n{\"a\":1}\n".to_vec();
        let r = sink
            .bulk(logcore::codec::gzip(&body, 1), true)
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            logcore::bulk::parse_bulk_response(&r.body, 1).unwrap(),
            vec![logcore::bulk::ItemOutcome::Created]
        );
        sink.bulk(body.clone(), false).await.unwrap();
        assert_eq!(*buf.0.lock().unwrap(), [body.clone(), body].concat());
        assert!(sink.bulk(b"not gzip".to_vec(), true).await.is_err());
    }
}
