//! The archive hop: the documents Firehose delivered to S3, counted per log group and hour of their
//! `@timestamp` by reading the window's objects (listed under the stream's key prefixes, from
//! [`EARLY_HOURS`] before the window to [`LATE_HOURS`] after it: Firehose names objects by when it wrote
//! them). An object deleted before the forwarder read it is then a loss named at the archive, and one the
//! forwarder never read (its queue stuck) a loss at the search hop.
//!
//! Reading costs what the objects weigh, so it is bounded: when the window's objects hold more than
//! `max_bytes` (compressed, as listed), the archive is not counted and the run says so. Copies count as
//! copies (an object Firehose delivered twice is counted twice): the ledger takes an archive holding more
//! than expected for no loss.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};

use logcore::ledger::{hour_of, HOUR_MS};
use serde::Deserialize;

use super::dead_letters::{EARLY_HOURS, LATE_HOURS};
use crate::scan::KeyPrefix;
use crate::{CallError, Objects};

/// The longest document read (a longer line is counted without its group: see [`ArchiveCounts`]).
const MAX_LINE: u64 = 16 << 20;

/// Where the stream writes its objects, and how much of them a run may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePlace {
    pub bucket: String,
    pub key_prefixes: Vec<KeyPrefix>,
    /// Compressed bytes read at most (the sum of the listed objects' sizes).
    pub max_bytes: u64,
}

/// Documents per (group, hour start); lines that are no document of a group and time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveCounts {
    pub rows: BTreeMap<(String, i64), u64>,
    pub objects: u64,
    pub bytes: u64,
    /// Lines without a `log.group` or an `@timestamp` (another stream's, or not JSON), and objects that
    /// cannot be read to the end, with the first reason.
    pub unreadable: u64,
    pub first_unreadable: Option<String>,
    /// The window's objects weigh more than a run may read: why nothing was counted.
    pub too_heavy: Option<String>,
}

/// What a document says of its group and time.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "@timestamp", borrow)]
    timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    log: Option<LogHead<'a>>,
}

#[derive(Deserialize)]
struct LogHead<'a> {
    #[serde(borrow)]
    group: Option<std::borrow::Cow<'a, str>>,
}

impl ArchiveCounts {
    fn unreadable(&mut self, why: impl FnOnce() -> String) {
        self.unreadable += 1;
        if self.first_unreadable.is_none() {
            self.first_unreadable = Some(why());
        }
    }

    /// Count the documents of one object (gzip or plain NDJSON), line by line.
    pub fn add_object(&mut self, key: &str, body: &[u8]) {
        self.objects += 1;
        self.bytes += body.len() as u64;
        let reader: Box<dyn Read + '_> = if body.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(body))
        } else {
            Box::new(body)
        };
        let mut lines = BufReader::new(reader);
        let mut line = Vec::new();
        let mut n = 0u64;
        loop {
            line.clear();
            n += 1;
            match (&mut lines).take(MAX_LINE).read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => return self.unreadable(|| format!("{key}, from line {n}: {e}")),
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match document_hour(&line) {
                Some((group, hour)) => *self.rows.entry((group, hour)).or_default() += 1,
                None => self.unreadable(|| format!("{key}, line {n}: no log.group and @timestamp")),
            }
            if line.last() != Some(&b'\n') && line.len() as u64 >= MAX_LINE {
                // The rest of an over-long line: skip to its end.
                let mut rest = Vec::new();
                if lines.read_until(b'\n', &mut rest).is_err() {
                    return self.unreadable(|| format!("{key}, after line {n}: unreadable"));
                }
            }
        }
    }
}

/// A document's group and the start of its hour.
pub fn document_hour(line: &[u8]) -> Option<(String, i64)> {
    let head: Head<'_> = serde_json::from_slice(line).ok()?;
    let group = head.log?.group?.into_owned();
    let ts = logcore::base::time::parse_rfc3339_ms(&head.timestamp?)?;
    Some((group, hour_of(ts)))
}

/// The listing prefixes of the objects that may hold the window's documents.
pub fn listing_prefixes(place: &ArchivePlace, from_ms: i64, to_ms: i64) -> Vec<String> {
    let mut out: Vec<String> = place
        .key_prefixes
        .iter()
        .flat_map(|p| {
            p.between(
                from_ms - EARLY_HOURS * HOUR_MS,
                to_ms + LATE_HOURS * HOUR_MS,
            )
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// List the window's objects and, when they weigh no more than the place allows, count their documents.
pub async fn count<O: Objects>(
    objects: &O,
    place: &ArchivePlace,
    from_ms: i64,
    to_ms: i64,
) -> Result<ArchiveCounts, CallError> {
    let mut listed = Vec::new();
    for prefix in listing_prefixes(place, from_ms, to_ms) {
        listed.extend(objects.list(&place.bucket, &prefix).await?);
    }
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    listed.dedup_by(|a, b| a.key == b.key);
    let bytes: u64 = listed.iter().map(|o| o.size).sum();
    let mut out = ArchiveCounts::default();
    if bytes > place.max_bytes {
        out.too_heavy = Some(format!(
            "the window's {} objects under s3://{}/ weigh {} MB, over the {} MB a run may read: \
             reconcile a shorter window, or allow more",
            listed.len(),
            place.bucket,
            bytes.div_ceil(1 << 20),
            place.max_bytes >> 20
        ));
        return Ok(out);
    }
    for o in &listed {
        // Deleted since the listing: its documents are not in the archive any more.
        if let Some(body) = objects.read(&place.bucket, &o.key).await? {
            out.add_object(&o.key, &body);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::FakeObjects;
    use proptest::prelude::*;

    const H: i64 = 1_795_420_800_000;

    fn doc(group: &str, ts: &str) -> String {
        format!(
            r#"{{"@timestamp":"{ts}","message":"GET /","event":{{"id":"1"}},"log":{{"group":"{group}","stream":"s"}}}}"#
        )
    }

    fn gz(text: &str) -> Vec<u8> {
        logcore::base::codec::gzip(text.as_bytes(), 1)
    }

    #[test]
    fn documents_are_counted_by_group_and_hour_and_other_lines_named() {
        let mut c = ArchiveCounts::default();
        let body = [
            doc("/ecs/api", "2026-11-23T08:10:00.000Z"),
            doc("/ecs/api", "2026-11-23T08:59:59.999Z"),
            doc("/ecs/web", "2026-11-23T09:00:00.000Z"),
            String::new(),
            "plain text".into(),
        ]
        .join("\n");
        c.add_object("logs/a.gz", &gz(&body));
        assert_eq!(
            c.rows,
            BTreeMap::from([
                (("/ecs/api".to_string(), H), 2),
                (("/ecs/web".to_string(), H + HOUR_MS), 1)
            ])
        );
        assert_eq!(c.unreadable, 1);
        assert!(c.first_unreadable.unwrap().starts_with("logs/a.gz, line 5"));
        // A corrupt gzip tail: what came before counts, the rest is named.
        let mut broken = gz(&(doc("/ecs/api", "2026-11-23T08:10:00.000Z") + "\n"));
        broken.extend_from_slice(&[0x1f, 0x8b, 8, 0, 1, 2, 3]);
        let mut c = ArchiveCounts::default();
        c.add_object("logs/b.gz", &broken);
        assert_eq!(c.rows.values().sum::<u64>(), 1);
        assert_eq!(c.unreadable, 1);
    }

    #[tokio::test]
    async fn the_windows_objects_are_read_unless_they_weigh_too_much() {
        let objects = FakeObjects::default();
        let hour = |h: i64| format!("logs/2026/11/23/{h:02}/");
        for (key, ts) in [
            (format!("{}o1.gz", hour(8)), "2026-11-23T08:10:00.000Z"),
            // Written two hours later, still the window's.
            (format!("{}o2.gz", hour(10)), "2026-11-23T08:20:00.000Z"),
            // Long after the window: not listed.
            (format!("{}o3.gz", hour(13)), "2026-11-23T08:30:00.000Z"),
        ] {
            objects.put("logs", &key, gz(&doc("/ecs/api", ts)), 0);
        }
        let mut place = ArchivePlace {
            bucket: "logs".into(),
            key_prefixes: vec![KeyPrefix::default()],
            max_bytes: 1 << 20,
        };
        let c = count(&objects, &place, H, H + HOUR_MS).await.unwrap();
        assert_eq!(c.rows, BTreeMap::from([(("/ecs/api".to_string(), H), 2)]));
        assert_eq!(c.objects, 2);
        place.max_bytes = 10;
        let c = count(&objects, &place, H, H + HOUR_MS).await.unwrap();
        assert!(c.rows.is_empty());
        let why = c.too_heavy.unwrap();
        assert!(why.contains("over the 0 MB a run may read"), "{why}");
    }

    proptest! {
        #[test]
        fn any_object_is_counted_or_named_never_a_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut c = ArchiveCounts::default();
            c.add_object("k", &body);
            let lines = body.split(|b| *b == b'\n').count() as u64;
            prop_assert!(c.rows.values().sum::<u64>() + c.unreadable <= lines);
        }
    }
}
