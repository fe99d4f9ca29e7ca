//! Exact verification of a window, where the reconciliation compares counts: every event id CloudWatch Logs
//! holds for one log group from one time to another, checked against the search index (the forwarder
//! indexes each event under its event id: `ids` queries in batches; an event joined into another's document,
//! a line of a stack trace after its first, under that document's `event.joined.ids`: `terms` queries in
//! batches as well), and each id the index lacks followed back to the last hop that saw it
//! (the S3 objects, with the canary's scan, else CloudWatch Logs).

use std::collections::BTreeMap;

use logcore::base::time::DateTimeParts;
use serde::Serialize;
use serde_json::json;

use crate::scan::KeyPrefix;
use crate::{scan_objects, CallError, Finder, Hop, LogEvent, Logs, Objects, SKEW_MS};

/// Ids looked up in S3 at most: beyond, a loss is large enough that the ids themselves tell where.
pub const MAX_TRACED: usize = 1_000;

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    pub group: String,
    pub from_ms: i64,
    /// Exclusive.
    pub to_ms: i64,
    pub index_pattern: String,
    /// Events read at most from CloudWatch Logs: a window holding more is refused, not checked in part.
    pub max_events: usize,
    /// Ids asked per `ids` query (each answer is asked for twice as many hits and one, for copies in two
    /// indices).
    pub batch: usize,
    /// Where Firehose writes the objects (`None`: S3 is not checked).
    pub bucket: Option<String>,
    pub key_prefixes: Vec<KeyPrefix>,
    /// Bytes of objects read at most while following the missing ids.
    pub max_scan_bytes: u64,
}

/// An event CloudWatch Logs holds and the index does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingEvent {
    pub event_id: String,
    pub timestamp_ms: i64,
    pub stream: String,
    /// The furthest hop that saw it.
    pub last_hop: Hop,
    /// The object that holds it, when S3 did.
    pub object: Option<String>,
}

/// The verdict on a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub group: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Events CloudWatch Logs holds in the window.
    pub events: u64,
    /// Of those, indexed (at least once).
    pub indexed: u64,
    pub missing: Vec<MissingEvent>,
    /// Event ids indexed more than once, with their indices.
    pub duplicated: BTreeMap<String, Vec<String>>,
    /// What limited the search for the last hop (S3 not given, a scan budget, an object unreadable).
    pub notes: Vec<String>,
}

impl Verification {
    /// Every event indexed exactly once.
    pub fn clean(&self) -> bool {
        self.missing.is_empty() && self.duplicated.is_empty()
    }

    /// A line per missing event, a line per duplicate, the notes and a conclusion.
    pub fn render(&self) -> String {
        let time = |ms: i64| DateTimeParts::from_millis(ms).rfc3339();
        let mut out = format!(
            "verify {} from {} to {}\n",
            self.group,
            time(self.from_ms),
            time(self.to_ms)
        );
        for m in &self.missing {
            let seen = match &m.object {
                Some(key) => format!("{} ({key})", m.last_hop),
                None => m.last_hop.to_string(),
            };
            out.push_str(&format!(
                "  missing     {}  {}  stream {}  last seen in {seen}\n",
                m.event_id,
                time(m.timestamp_ms),
                m.stream
            ));
        }
        for (id, indices) in &self.duplicated {
            out.push_str(&format!("  duplicated  {id}  in {}\n", indices.join(", ")));
        }
        for n in &self.notes {
            out.push_str(&format!("  note        {n}\n"));
        }
        out.push_str(&format!(
            "{} events in CloudWatch Logs, {} indexed, {} missing, {} duplicated\n",
            self.events,
            self.indexed,
            self.missing.len(),
            self.duplicated.len()
        ));
        out
    }
}

/// Check every event of the window; `progress` sees the events checked so far and the total.
pub async fn verify<L: Logs, O: Objects, F: Finder>(
    cfg: &VerifyConfig,
    logs: &L,
    objects: Option<&O>,
    finder: &F,
    mut progress: impl FnMut(u64, u64),
) -> Result<Verification, CallError> {
    let events = logs
        .find(
            &cfg.group,
            "",
            cfg.from_ms,
            // FilterLogEvents' end time is inclusive.
            cfg.to_ms - 1,
            cfg.max_events.saturating_add(1),
        )
        .await
        .map_err(|e| CallError::new(e.kind, format!("FilterLogEvents on {}: {e}", cfg.group)))?;
    if events.len() > cfg.max_events {
        return Err(CallError::permanent(format!(
            "{} holds more than {} events in the window: verify a shorter window, or raise the limit",
            cfg.group, cfg.max_events
        )));
    }
    let total = events.len() as u64;
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut done = 0u64;
    for chunk in events.chunks(cfg.batch.max(1)) {
        let hits = indexed_ids(finder, &cfg.index_pattern, chunk).await?;
        for (id, index) in hits {
            found.entry(id).or_default().push(index);
        }
        done += chunk.len() as u64;
        progress(done, total);
    }
    // The lines of a stack trace after its first are in the document of the first. Every id is asked
    // for: one indexed alone and joined in another document too is a duplicate.
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    for chunk in ids.chunks(cfg.batch.max(1)) {
        for (id, index) in joined_ids(finder, &cfg.index_pattern, chunk).await? {
            found.entry(id).or_default().push(index);
        }
    }
    let lost: Vec<&LogEvent> = events
        .iter()
        .filter(|e| !found.contains_key(&e.event_id))
        .collect();
    let (missing, notes) = last_hops(cfg, objects, &lost).await;
    found.retain(|_, indices| indices.len() > 1);
    Ok(Verification {
        group: cfg.group.clone(),
        from_ms: cfg.from_ms,
        to_ms: cfg.to_ms,
        events: total,
        indexed: total - lost.len() as u64,
        missing,
        duplicated: found,
        notes,
    })
}

/// The (id, index) of every document of `events` the index pattern holds: room is asked for two copies of
/// each and one more, so that an answer that fills it (some id in three indices or more) may have left
/// some out, and is refused rather than read as missing.
pub async fn indexed_ids<F: Finder>(
    finder: &F,
    index: &str,
    events: &[LogEvent],
) -> Result<Vec<(String, String)>, CallError> {
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let size = ids.len() * 2 + 1;
    let hits = finder
        .search(index, json!({"ids": {"values": ids}}), size)
        .await
        .map_err(|e| CallError::new(e.kind, format!("search in {index}: {e}")))?;
    if hits.len() >= size {
        return Err(CallError::permanent(format!(
            "search in {index}: {} documents for {} ids, some ids in more than two indices: the answer may \
             be cut short",
            hits.len(),
            ids.len()
        )));
    }
    Ok(hits.into_iter().map(|h| (h.id, h.index)).collect())
}

/// The (id, index) of each of `ids` that a document of the index pattern holds joined (`event.joined.ids`,
/// multiline joining): one document holds one or more of them, so room for two copies of each and one
/// more tells a cut answer, as in [`indexed_ids`].
pub async fn joined_ids<F: Finder>(
    finder: &F,
    index: &str,
    ids: &[&str],
) -> Result<Vec<(String, String)>, CallError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let size = ids.len() * 2 + 1;
    let hits = finder
        .search(index, json!({"terms": {"event.joined.ids": ids}}), size)
        .await
        .map_err(|e| CallError::new(e.kind, format!("search in {index}: {e}")))?;
    if hits.len() >= size {
        return Err(CallError::permanent(format!(
            "search in {index}: {} documents join {} ids, some in more than two indices: the answer may \
             be cut short",
            hits.len(),
            ids.len()
        )));
    }
    let wanted: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    let mut out = Vec::new();
    for h in hits {
        let joined = h
            .source
            .pointer("/event/joined/ids")
            .and_then(serde_json::Value::as_array);
        for id in joined
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str)
        {
            if wanted.contains(id) {
                out.push((id.to_string(), h.index.clone()));
            }
        }
    }
    Ok(out)
}

/// Where each lost event was last seen: the object holding it (the first [`MAX_TRACED`] are looked for),
/// else CloudWatch Logs; and what limited the search.
async fn last_hops<O: Objects>(
    cfg: &VerifyConfig,
    objects: Option<&O>,
    lost: &[&LogEvent],
) -> (Vec<MissingEvent>, Vec<String>) {
    let mut notes = Vec::new();
    let mut seen: Vec<Option<String>> = vec![None; lost.len()];
    match (objects, &cfg.bucket) {
        _ if lost.is_empty() => {}
        (Some(objects), Some(bucket)) => {
            let traced = &lost[..lost.len().min(MAX_TRACED)];
            if traced.len() < lost.len() {
                notes.push(format!(
                    "S3 searched for the first {MAX_TRACED} missing events only"
                ));
            }
            let needles: Vec<Vec<u8>> = traced
                .iter()
                .map(|e| format!("\"{}\"", e.event_id).into_bytes())
                .collect();
            // Objects are written after their events: from the first lost event's time, to two hours
            // after the last one's (Firehose's buffer, the transform's re-ingestion, retries).
            let times = traced.iter().map(|e| e.timestamp_ms);
            let from = times.clone().min().unwrap_or(cfg.from_ms) - SKEW_MS;
            let to = (times.max().unwrap_or(cfg.to_ms) + 2 * logcore::ledger::HOUR_MS)
                .min(logcore::base::time::now_ms());
            let scan = scan_objects(
                objects,
                bucket,
                &cfg.key_prefixes,
                from,
                to,
                &needles,
                &BTreeMap::new(),
                cfg.max_scan_bytes,
                4 << 30,
            )
            .await;
            for (slot, hit) in seen.iter_mut().zip(scan.found) {
                *slot = hit.map(|o| o.key);
            }
            if scan.left > 0 {
                notes.push(format!(
                    "S3: {} objects not read (scan budget spent): a missing event shown as last seen in \
                     CloudWatch Logs may be in one",
                    scan.left
                ));
            }
            if let Some(e) = scan.first_error {
                notes.push(format!("S3: {e}"));
            }
        }
        _ => notes.push("S3 not checked (no bucket given)".into()),
    }
    let missing = lost
        .iter()
        .zip(seen)
        .map(|(e, object)| MissingEvent {
            event_id: e.event_id.clone(),
            timestamp_ms: e.timestamp_ms,
            stream: e.stream.clone(),
            last_hop: if object.is_some() {
                Hop::S3
            } else {
                Hop::CloudWatchLogs
            },
            object,
        })
        .collect();
    (missing, notes)
}

#[cfg(test)]
mod tests;
