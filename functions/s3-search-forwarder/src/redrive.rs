//! Redrive: the documents of one dead-letter object (`failed/…-rejected.ndjson`) indexed again, once the
//! cause is fixed, with their original ids and indices, by the very code that sends every batch (retries,
//! 413 splits, per-item outcomes). Each document ends indexed, already there (409), or refused again, kept
//! with the new reason. Then:
//!
//! - every document indexed: the object leaves the dead-letter prefix — moved under `redriven_prefix`
//!   ([`Disposal::Move`]) or deleted ([`Disposal::Delete`]);
//! - some refused again: the object is written anew with just those (and the records that are no document
//!   to redrive), with their new reasons; with `Move`, the object as it was is kept under the redriven
//!   prefix;
//! - attempts or time ran out: the object is left as it was, and the error says so (delivered again, the
//!   documents already indexed answer 409).
//!
//! Never a document that was not indexed is deleted. The index of each document comes from its record,
//! and must be one of this forwarder's (its families, separated groups or restore indices): a record naming
//! any other index is kept, not sent. Records that are no refused document (`unreadable`: a line that was
//! never a document) are kept as they are: they come from their source object, which `logpipe reindex`
//! reads again after a fix such as a larger `MAX_DOC_BYTES`.

use std::borrow::Cow;
use std::sync::Arc;

use logcore::base::report::Metrics;
use logcore::logs::glob::GroupGlob;
use logcore::logs::s3event::ObjectRef;
use logcore::search::bulk::{Batch, Origin, SEPARATE_INDEX};
use logpipe_io::lambda::Deadline;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::AsyncReadExt;

use crate::forward::{send_batch, Forwarded};
use crate::{Config, Search, Store};

/// A dead-letter object read whole at most this large.
const MAX_DEAD_LETTER_OBJECT: u64 = 256 << 20;

/// What becomes of a dead-letter object once all its documents are indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposal {
    /// Moved under the forwarder's `REDRIVEN_PREFIX`.
    Move,
    Delete,
}

impl std::str::FromStr for Disposal {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "move" => Ok(Disposal::Move),
            "delete" => Ok(Disposal::Delete),
            other => Err(format!("redrive {other:?}: expected move or delete")),
        }
    }
}

/// Where the object stands after the redrive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Disposed {
    /// Nothing in it to redrive, or the redrive stopped: as it was.
    #[default]
    Untouched,
    /// Every document indexed: moved to this key.
    Moved(String),
    Deleted,
    /// Written anew with these many records left (refused again, or no document to redrive).
    Rewritten(u64),
}

/// One dead-letter object's redrive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Indexed, already indexed, refused again (`dead_lettered`), requests.
    pub forwarded: Forwarded,
    pub records: u64,
    /// Records kept without a redrive (no document, an index not this forwarder's), with the first reason.
    pub kept: u64,
    pub first_kept: Option<String>,
    pub disposed: Disposed,
    pub missing: bool,
    pub error: Option<String>,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    source: Option<Source<'a>>,
    #[serde(borrow, default)]
    action: Option<&'a RawValue>,
    #[serde(borrow, default)]
    document: Option<&'a RawValue>,
}

/// The object a dead-letter record's unit came from.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
pub struct Source<'a> {
    #[serde(borrow)]
    bucket: Cow<'a, str>,
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    version: Cow<'a, str>,
    #[serde(default)]
    offset: u64,
}

#[derive(Deserialize)]
struct Action<'a> {
    #[serde(borrow)]
    create: Target<'a>,
}

#[derive(Deserialize)]
struct Target<'a> {
    #[serde(rename = "_index", borrow)]
    index: Cow<'a, str>,
    #[serde(rename = "_id", borrow)]
    id: Cow<'a, str>,
}

/// A dead-letter object's records, sorted: the documents to send again, by the object they came from, and
/// the lines kept as they are.
#[derive(Debug, Default)]
pub struct Sorted<'b> {
    pub records: u64,
    pub work: Vec<(Source<'b>, Batch)>,
    /// Records kept without a redrive, their lines (each with its newline), and the first one's reason.
    pub kept: u64,
    pub kept_lines: Vec<u8>,
    pub first_kept: Option<String>,
}

impl Sorted<'_> {
    fn keep(&mut self, line: &[u8], why: String) {
        self.kept_lines.extend_from_slice(line);
        self.kept_lines.push(b'\n');
        self.kept += 1;
        self.first_kept.get_or_insert(why);
    }

    /// Documents to send again.
    pub fn documents(&self) -> usize {
        self.work.iter().map(|(_, b)| b.len()).sum()
    }
}

/// Sort the records of a dead-letter object (NDJSON, any bytes): each line is a document to send again
/// (a `create` action into one of this forwarder's indices, and a document) or kept as it is, with why.
pub fn sort_records<'b>(cfg: &Config, body: &'b [u8]) -> Sorted<'b> {
    let own = own_indices(cfg);
    let mut out = Sorted::default();
    for (n, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.records += 1;
        let rec: Record<'_> = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => {
                out.keep(
                    line,
                    format!("line {}: not a dead-letter record: {e}", n + 1),
                );
                continue;
            }
        };
        let (Some(source), Some(action), Some(doc)) = (rec.source, rec.action, rec.document) else {
            out.keep(
                line,
                format!("line {}: no document to redrive (unreadable)", n + 1),
            );
            continue;
        };
        let target = match serde_json::from_str::<Action<'_>>(action.get()) {
            Ok(a) => a.create,
            Err(e) => {
                out.keep(line, format!("line {}: action is no create: {e}", n + 1));
                continue;
            }
        };
        if !own.iter().any(|g| g.matches(&target.index))
            || logcore::search::bulk::check_index_name(&target.index).is_err()
            || target.id.is_empty()
        {
            out.keep(
                line,
                format!(
                    "line {}: index {:?} is not one this forwarder writes",
                    n + 1,
                    target.index
                ),
            );
            continue;
        }
        let offset = source.offset;
        let batch = match out.work.iter_mut().find(|(s, _)| {
            (&s.bucket, &s.key, &s.version) == (&source.bucket, &source.key, &source.version)
        }) {
            Some((_, b)) => b,
            None => {
                out.work.push((source, Batch::default()));
                &mut out.work.last_mut().expect("just pushed").1
            }
        };
        batch.push(offset, &target.index, &target.id, doc.get().as_bytes());
    }
    out
}

/// Whether `key` (in the dead-letter bucket) is one of this forwarder's dead-letter objects.
pub fn is_dead_letter(cfg: &Config, obj: &ObjectRef) -> bool {
    let bucket_ok = cfg
        .dead_letter_bucket
        .as_deref()
        .is_none_or(|b| b == obj.bucket);
    bucket_ok && obj.key.starts_with(&cfg.dead_letter_prefix) && obj.key.ends_with(".ndjson")
}

/// The index patterns this forwarder writes: its families, separated groups, and all of them restored.
fn own_indices(cfg: &Config) -> Vec<GroupGlob> {
    let mut live = vec![cfg.index.wildcard(), cfg.audit_index.wildcard()];
    if !cfg.separate.is_empty() {
        if let Ok(t) = SEPARATE_INDEX.parse::<logcore::search::bulk::IndexTemplate>() {
            live.push(t.wildcard());
        }
    }
    let restored: Vec<String> = live
        .iter()
        .map(|p| format!("{}*-{p}", cfg.restore_prefix))
        .collect();
    live.into_iter()
        .chain(restored)
        .map(|p| GroupGlob::new(&p))
        .collect()
}

/// Redrive one dead-letter object. Never panics on input; every outcome is in the report.
pub async fn redrive_object<S: Store, E: Search>(
    cfg: &Config,
    store: &Arc<S>,
    search: &Arc<E>,
    obj: &ObjectRef,
    deadline: Deadline,
    disposal: Disposal,
) -> RedriveReport {
    let mut report = RedriveReport::default();
    if !is_dead_letter(cfg, obj) {
        report.error = Some(format!(
            "not a dead-letter object of this forwarder (under {} in {}, ending .ndjson)",
            cfg.dead_letter_prefix,
            cfg.dead_letter_bucket.as_deref().unwrap_or("its bucket")
        ));
        return report;
    }
    let body = match read_whole(store.as_ref(), obj).await {
        Ok(Some(b)) => b,
        Ok(None) => {
            report.missing = true;
            return report;
        }
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    let sorted = sort_records(cfg, &body);
    report.records = sorted.records;
    report.kept = sorted.kept;
    report.first_kept = sorted.first_kept;
    let (work, kept) = (sorted.work, sorted.kept_lines);
    let mut refused: Vec<u8> = Vec::new();
    let mut seq = 0;
    for (source, all) in &work {
        let src = Origin::new(&source.bucket, &source.key, &source.version, "");
        for chunk in chunks(cfg, all) {
            seq += 1;
            let res = send_batch(cfg, search.as_ref(), &src, chunk, None, deadline, seq).await;
            report.forwarded.add(&res.forwarded);
            refused.extend_from_slice(&res.dead);
            if let Some(e) = res.error {
                report.error = Some(format!(
                    "redrive stopped: {e}; the object is left as it was"
                ));
                return report;
            }
        }
    }
    if work.is_empty() {
        return report;
    }
    let left = report.kept + report.forwarded.dead_lettered;
    report.disposed = match dispose(
        cfg,
        store.as_ref(),
        obj,
        disposal,
        body,
        kept,
        refused,
        left,
    )
    .await
    {
        Ok(d) => d,
        Err(e) => {
            report.error = Some(e);
            Disposed::Untouched
        }
    };
    report
}

/// The batch cut into requests of at most `bulk_max_actions` documents and about `bulk_max_bytes`.
fn chunks(cfg: &Config, all: &Batch) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for (i, item) in all.items.iter().enumerate() {
        if !cur.is_empty()
            && (cur.len() >= cfg.bulk_max_actions || bytes + item.lines.len() > cfg.bulk_max_bytes)
        {
            out.push(all.subset(&std::mem::take(&mut cur)));
            bytes = 0;
        }
        bytes += item.lines.len();
        cur.push(i);
    }
    if !cur.is_empty() {
        out.push(all.subset(&cur));
    }
    out
}

/// The key a redriven object moves to: the dead-letter prefix replaced by the redriven one.
pub fn redriven_key(cfg: &Config, key: &str) -> String {
    let rest = key.strip_prefix(&cfg.dead_letter_prefix).unwrap_or(key);
    format!("{}{rest}", cfg.redriven_prefix)
}

#[allow(clippy::too_many_arguments)]
async fn dispose<S: Store>(
    cfg: &Config,
    store: &S,
    obj: &ObjectRef,
    disposal: Disposal,
    original: Vec<u8>,
    kept: Vec<u8>,
    refused: Vec<u8>,
    left: u64,
) -> Result<Disposed, String> {
    let at = |what: &str, key: &str| format!("{what} s3://{}/{key}", obj.bucket);
    let moved = redriven_key(cfg, &obj.key);
    if disposal == Disposal::Move {
        // The object as it was, kept for the record before anything is removed.
        store
            .put(&obj.bucket, &moved, original)
            .await
            .map_err(|e| format!("{}: {e}", at("writing", &moved)))?;
    }
    if left == 0 {
        store
            .delete(&obj.bucket, &obj.key)
            .await
            .map_err(|e| format!("{}: {e}", at("deleting", &obj.key)))?;
        return Ok(match disposal {
            Disposal::Move => Disposed::Moved(moved),
            Disposal::Delete => Disposed::Deleted,
        });
    }
    let mut rest = kept;
    rest.extend_from_slice(&refused);
    store
        .put(&obj.bucket, &obj.key, rest)
        .await
        .map_err(|e| format!("{}: {e}", at("rewriting", &obj.key)))?;
    Ok(Disposed::Rewritten(left))
}

/// A dead-letter object's bytes (at most 256 MiB, more is an error), `None` when it is gone.
pub async fn read_whole<S: Store>(store: &S, obj: &ObjectRef) -> Result<Option<Vec<u8>>, String> {
    let opened = match store.get(obj).await {
        Ok(o) => o,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(format!("reading the object: {e}")),
    };
    let mut body = Vec::new();
    opened
        .body
        .take(MAX_DEAD_LETTER_OBJECT + 1)
        .read_to_end(&mut body)
        .await
        .map_err(|e| format!("reading the object: {e}"))?;
    if body.len() as u64 > MAX_DEAD_LETTER_OBJECT {
        return Err(format!(
            "larger than {MAX_DEAD_LETTER_OBJECT} bytes: not one of the forwarder's dead-letter objects"
        ));
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(index: &str, id: &str) -> String {
        format!(
            r#"{{"reason":"r","status":400,"error_type":"t","cause":"document","source":{{"bucket":"b","key":"logs/k","version":"v","offset":7,"length":2}},"action":{{"create":{{"_index":"{index}","_id":"{id}"}}}},"document":{{"message":"m"}}}}"#
        )
    }

    #[test]
    fn records_are_sent_again_only_into_the_forwarders_own_indices() {
        let cfg = Config::new("http://x");
        let body = [
            record("logs-app-2026.03.01", "a"),
            record("restore-q1-logs-audit-2026.03.01", "b"),
            record(".kibana", "c"),
            record("logs-app-2026.03.01", ""),
            record("other-2026.03.01", "d"),
            r#"{"reason":"not valid UTF-8","cause":"unreadable","source":{"bucket":"b","key":"k","version":"v","offset":1,"length":3},"base64":"AAA="}"#.into(),
            "garbage".into(),
        ]
        .join("\n");
        let s = sort_records(&cfg, body.as_bytes());
        assert_eq!((s.records, s.documents(), s.kept), (7, 2, 5));
        let (src, batch) = &s.work[0];
        assert_eq!((src.key.as_ref(), src.offset), ("logs/k", 7));
        assert_eq!(batch.items[0].offset, 7);
        assert_eq!(
            std::str::from_utf8(batch.action(&batch.items[1])).unwrap(),
            r#"{"create":{"_index":"restore-q1-logs-audit-2026.03.01","_id":"b"}}"#
        );
        assert_eq!(batch.doc(&batch.items[0]), br#"{"message":"m"}"#);
        assert!(s.first_kept.unwrap().contains(".kibana"));
        assert_eq!(String::from_utf8(s.kept_lines).unwrap().lines().count(), 5);
    }

    proptest! {
        /// Any bytes: no panic, and every record either to send or kept, once.
        #[test]
        fn every_record_is_sent_or_kept_once(lines in proptest::collection::vec(
            prop_oneof![
                Just(record("logs-app-2026.03.01", "x")),
                Just(record("x", "y")),
                "\\PC{0,40}",
            ],
            0..20,
        )) {
            let body = lines.join("\n");
            let s = sort_records(&Config::new("http://x"), body.as_bytes());
            prop_assert_eq!(s.records, s.kept + s.documents() as u64);
        }
    }
}
