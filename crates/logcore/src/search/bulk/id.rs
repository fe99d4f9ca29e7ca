//! The object a unit came from, and the `_id` derived from it for documents without an `event.id`.

use sha2::Digest;

use crate::logs::document::write_json_str;

use super::index::date_prefix;

/// The object a unit came from.
#[derive(Debug, Clone)]
pub struct Origin {
    pub bucket: String,
    pub key: String,
    /// Version id, else ETag, else empty: part of derived ids.
    pub version: String,
    /// `@timestamp` for documents without one (the object's last-modified time, RFC 3339 UTC), so that a
    /// re-read object lands in the same daily index.
    pub fallback_timestamp: String,
    /// `,"log":{"file":{"path":"s3://…"}` (left open for `offset`).
    pub(super) log_head: Vec<u8>,
}

impl Origin {
    pub fn new(bucket: &str, key: &str, version: &str, fallback_timestamp: &str) -> Self {
        let mut log_head = b",\"log\":{\"file\":{\"path\":".to_vec();
        write_json_str(&mut log_head, &format!("s3://{bucket}/{key}"));
        log_head.push(b'}');
        let fallback_timestamp = if date_prefix(fallback_timestamp).is_some() {
            fallback_timestamp.to_string()
        } else {
            "1970-01-01T00:00:00.000Z".to_string()
        };
        Origin {
            bucket: bucket.into(),
            key: key.into(),
            version: version.into(),
            fallback_timestamp,
            log_head,
        }
    }

    /// The `_id` of the unit at `offset` when the document has no `event.id`: 40 hex digits of the SHA-256
    /// of bucket, key, version and offset.
    pub fn derived_id(&self, offset: u64) -> String {
        let mut h = sha2::Sha256::new();
        for part in [
            self.bucket.as_bytes(),
            self.key.as_bytes(),
            self.version.as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update(offset.to_le_bytes());
        crate::base::codec::hex(&h.finalize()[..20])
    }
}
