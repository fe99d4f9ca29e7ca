//! Dead-letter records: the units and documents that cannot be indexed, with their reason.

use crate::logs::document::write_json_str;

use super::Origin;

/// One dead-letter record: a line of `failed/…` NDJSON. It holds no time of its own, so that a redelivered
/// object writes the very same bytes.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a> {
    pub src: &'a Origin,
    pub offset: u64,
    pub len: u64,
    pub reason: &'a str,
    /// HTTP status and error of the bulk item, when the search engine refused it.
    pub status: Option<u16>,
    pub error_type: Option<&'a str>,
    /// The action line, when the unit became a bulk entry.
    pub action: Option<&'a [u8]>,
    /// The document, or the unit's bytes.
    pub data: &'a [u8],
}

impl DeadLetter<'_> {
    /// Why, in one word: `unreadable` (the unit itself), `document` (the engine refused this document:
    /// mapping and the like), or the cluster-level reason the engine refused writes for
    /// ([`crate::search::index_setup::cluster_cause`]: `shard_limit`, `write_block`, `index_closed`,
    /// `index_not_found`).
    pub fn cause(&self) -> &'static str {
        match self.error_type {
            None => "unreadable",
            Some(t) => {
                crate::search::index_setup::cluster_cause(t, self.reason).unwrap_or("document")
            }
        }
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"reason\":");
        write_json_str(out, self.reason);
        if let Some(s) = self.status {
            out.extend_from_slice(b",\"status\":");
            out.extend_from_slice(s.to_string().as_bytes());
        }
        if let Some(t) = self.error_type {
            out.extend_from_slice(b",\"error_type\":");
            write_json_str(out, t);
        }
        out.extend_from_slice(b",\"cause\":\"");
        out.extend_from_slice(self.cause().as_bytes());
        out.push(b'"');
        out.extend_from_slice(b",\"source\":{\"bucket\":");
        write_json_str(out, &self.src.bucket);
        out.extend_from_slice(b",\"key\":");
        write_json_str(out, &self.src.key);
        out.extend_from_slice(b",\"version\":");
        write_json_str(out, &self.src.version);
        out.extend_from_slice(
            format!(",\"offset\":{},\"length\":{}}}", self.offset, self.len).as_bytes(),
        );
        if let Some(a) = self.action {
            out.extend_from_slice(b",\"action\":");
            out.extend_from_slice(a);
        }
        match std::str::from_utf8(self.data) {
            Ok(t) if self.action.is_some() => {
                // A bulk document is one JSON line already.
                out.extend_from_slice(b",\"document\":");
                out.extend_from_slice(t.as_bytes());
            }
            Ok(t) => {
                out.extend_from_slice(b",\"text\":");
                write_json_str(out, t);
            }
            Err(_) => {
                out.extend_from_slice(b",\"base64\":\"");
                crate::base::codec::encode_base64_append(self.data, out);
                out.push(b'"');
            }
        }
        out.extend_from_slice(b"}\n");
    }
}
