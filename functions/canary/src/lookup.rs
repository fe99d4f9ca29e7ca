//! Finding a heartbeat (or any event) at each hop: CloudWatch Logs by filter pattern, the search index by
//! `_id` or phrase, and the S3 objects by a bounded scan.

use std::collections::BTreeMap;

use serde_json::json;

use crate::scan::{self, KeyPrefix};
use crate::{CallError, Finder, Hit, LogEvent, Logs, Objects, SeenObject};

/// Events of `group` holding `text` (a quoted filter-pattern term) from `start_ms` to `end_ms`.
pub async fn find_in_logs<L: Logs>(
    logs: &L,
    group: &str,
    text: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<LogEvent>, CallError> {
    if text.contains('"') {
        return Err(CallError::permanent(format!(
            "{text:?} holds a double quote, which a CloudWatch Logs filter term cannot"
        )));
    }
    let found = logs
        .find(group, &format!("\"{text}\""), start_ms, end_ms, 20)
        .await
        .map_err(|e| CallError::permanent(format!("{group}: {e}")))?;
    // The pattern matches terms; keep the events that hold the text itself.
    Ok(found
        .into_iter()
        .filter(|e| e.message.contains(text))
        .collect())
}

/// Documents in `index` with one of `ids` as `_id` (the forwarder indexes with the event id) or among their
/// `event.joined.ids` (a stack trace's line after its first is in the document of the first), or, with no
/// id, whose `message` holds `text` as a phrase.
pub async fn find_in_search<F: Finder>(
    finder: &F,
    index: &str,
    ids: &[String],
    text: &str,
    size: usize,
) -> Result<Vec<Hit>, CallError> {
    let query = if ids.is_empty() {
        json!({"match_phrase": {"message": text}})
    } else {
        json!({"bool": {
            "should": [{"ids": {"values": ids}}, {"terms": {"event.joined.ids": ids}}],
            "minimum_should_match": 1
        }})
    };
    finder
        .search(index, query, size)
        .await
        .map_err(|e| CallError::permanent(format!("search in {index}: {e}")))
}

/// What a scan of the objects found.
#[derive(Debug, Default)]
pub struct ObjectScan {
    /// Per needle: the first object holding it.
    pub found: Vec<Option<SeenObject>>,
    /// Objects read to the end (key → last modified).
    pub scanned: BTreeMap<String, i64>,
    pub objects: u64,
    pub bytes: u64,
    pub unreadable: u64,
    pub list_errors: u64,
    /// The first listing or reading error, to show.
    pub first_error: Option<String>,
    /// Objects left for want of budget.
    pub left: u64,
}

/// Read the objects under `prefixes` (for every hour from `from_ms` to `to_ms`) modified since `from_ms`,
/// oldest first, skipping those in `skip`, until every needle is found or `budget` bytes are read.
#[allow(clippy::too_many_arguments)]
pub async fn scan_objects<O: Objects>(
    objects: &O,
    bucket: &str,
    prefixes: &[KeyPrefix],
    from_ms: i64,
    to_ms: i64,
    needles: &[Vec<u8>],
    skip: &BTreeMap<String, i64>,
    budget: u64,
    max_object_bytes: u64,
) -> ObjectScan {
    let mut out = ObjectScan {
        found: vec![None; needles.len()],
        ..ObjectScan::default()
    };
    let mut candidates = Vec::new();
    let mut listed: Vec<String> = prefixes
        .iter()
        .flat_map(|p| p.between(from_ms, to_ms))
        .collect();
    listed.sort();
    listed.dedup();
    for prefix in listed {
        match objects.list(bucket, &prefix).await {
            Ok(l) => candidates.extend(
                l.into_iter()
                    .filter(|o| o.last_modified_ms >= from_ms && !skip.contains_key(&o.key)),
            ),
            Err(e) => {
                out.list_errors += 1;
                out.first_error.get_or_insert_with(|| e.message.clone());
                tracing::warn!(bucket, prefix, error = %e, "listing objects failed");
            }
        }
    }
    candidates.sort_by(|a, b| (a.last_modified_ms, &a.key).cmp(&(b.last_modified_ms, &b.key)));
    candidates.dedup_by(|a, b| a.key == b.key);
    let refs: Vec<&[u8]> = needles.iter().map(Vec::as_slice).collect();
    let mut spent = 0u64;
    for (n, obj) in candidates.iter().enumerate() {
        if out.found.iter().all(Option::is_some) {
            break;
        }
        if spent + obj.size > budget && spent > 0 {
            out.left = (candidates.len() - n) as u64;
            tracing::warn!(
                bucket,
                left = out.left,
                budget,
                "scan budget spent; the rest waits for the next run"
            );
            break;
        }
        let bytes = match objects.read(bucket, &obj.key).await {
            Ok(Some(b)) => b,
            Ok(None) => continue, // deleted since the listing
            Err(e) => {
                out.unreadable += 1;
                out.first_error.get_or_insert_with(|| e.message.clone());
                tracing::warn!(bucket, key = %obj.key, error = %e, "reading the object failed");
                continue;
            }
        };
        spent += bytes.len() as u64;
        out.objects += 1;
        out.bytes += bytes.len() as u64;
        match scan::scan(&bytes, &refs, max_object_bytes) {
            Ok(hits) => {
                for (slot, hit) in out.found.iter_mut().zip(hits) {
                    if hit && slot.is_none() {
                        *slot = Some(SeenObject {
                            key: obj.key.clone(),
                            last_modified_ms: obj.last_modified_ms,
                        });
                    }
                }
                out.scanned.insert(obj.key.clone(), obj.last_modified_ms);
            }
            Err(e) => {
                out.unreadable += 1;
                out.first_error
                    .get_or_insert_with(|| format!("s3://{bucket}/{}: {e}", obj.key));
                // Not read to the end; a corrupt object stays corrupt, so it is not tried again.
                out.scanned.insert(obj.key.clone(), obj.last_modified_ms);
                tracing::warn!(bucket, key = %obj.key, error = %e, "object could not be scanned");
            }
        }
    }
    out
}
