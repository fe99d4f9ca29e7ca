//! Buckets as directories of files: the object store of `logpipe` runs on one machine (forward, replay,
//! bench, samples), and of tests that want real files.

use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use logcore::logs::s3event::ObjectRef;

use super::{Opened, Store};
use crate::CallError;

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
    pub fn path(&self, bucket: &str, key: &str) -> Result<PathBuf, CallError> {
        let base = match &self.single {
            Some(name) if name == bucket => self.root.clone(),
            Some(name) => {
                return Err(CallError::permanent(format!(
                    "bucket {bucket:?} is not in this directory store (it holds only {name:?})"
                )))
            }
            None => {
                plain_segment(bucket)
                    .map_err(|why| CallError::permanent(format!("bucket name {bucket:?} {why}")))?;
                self.root.join(bucket)
            }
        };
        let mut path = base;
        for seg in key.split('/') {
            plain_segment(seg).map_err(|why| {
                CallError::permanent(format!(
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
    async fn get(&self, obj: &ObjectRef) -> Result<Opened, CallError> {
        let path = self.path(&obj.bucket, &obj.key)?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                CallError::not_found(format!("{}: no such file", path.display()))
            } else {
                CallError::permanent(format!("{}: {e}", path.display()))
            }
        })?;
        let meta = file
            .metadata()
            .await
            .map_err(|e| CallError::permanent(format!("{}: {e}", path.display())))?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        Ok(Opened {
            body: Box::pin(file),
            last_modified: modified.map(|d| {
                logcore::base::time::DateTimeParts::from_millis(d.as_millis() as i64).rfc3339()
            }),
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

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CallError> {
        let path = self.path(bucket, key)?;
        let err = |e: std::io::Error| CallError::permanent(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(err)?;
        }
        // Written aside and renamed, so a reader never sees half an object.
        let tmp = path.with_extension(format!("part-{}", std::process::id()));
        tokio::fs::write(&tmp, body).await.map_err(err)?;
        tokio::fs::rename(&tmp, &path).await.map_err(err)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), CallError> {
        let path = self.path(bucket, key)?;
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(CallError::permanent(format!("{}: {e}", path.display())))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::object as obj;

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
        assert!(store
            .get(&obj("logs", "nope"))
            .await
            .is_err_and(|e| e.is_not_found()));
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
            assert_eq!(e.kind, crate::ErrorKind::Permanent, "{bucket}/{key}");
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
}
