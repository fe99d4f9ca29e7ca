//! `_bulk` request bodies: which document each unit becomes, its index and `_id`, and the batch it joins.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::logs::document::{write_json_str, JsonLimits, JsonOutcome};
use crate::logs::framing::{Unit, UnitKind};
use crate::logs::multiline::Kind;

use super::index::{date_prefix, IndexTemplate, SeparateGroups};
use super::Origin;

/// How a unit was indexed (or why it could not be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitOutcome {
    /// A document with `@timestamp`, indexed as it is.
    AsIs,
    /// Another JSON object, wrapped under `json`.
    Wrapped,
    /// A text line (or broken JSON, with `error.message`).
    Text,
    /// Not indexable: it goes to the dead-letter prefix with this reason.
    DeadLetter(String),
}

/// Counters of the documents made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BuildStats {
    pub as_is: u64,
    pub wrapped: u64,
    pub text: u64,
    pub invalid_json: u64,
    pub json_truncated: u64,
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "@timestamp", borrow, default)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    log: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct EventHead<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct LogHead<'a> {
    #[serde(borrow, default)]
    group: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
}

fn raw_str(v: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let v = v?;
    v.get()
        .starts_with('"')
        .then(|| serde_json::from_str::<Cow<'_, str>>(v.get()).ok())
        .flatten()
}

/// One entry of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Offset of the unit in the decompressed object.
    pub offset: u64,
    /// The action line and the document line (both with their newline) in [`Batch::body`].
    pub lines: Range<usize>,
    /// Where the document line starts.
    pub doc_start: usize,
}

/// A `_bulk` request body being filled, and its items.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub body: Vec<u8>,
    pub items: Vec<Item>,
}

impl Batch {
    pub fn with_capacity(bytes: usize) -> Self {
        Batch {
            body: Vec::with_capacity(bytes),
            items: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The action line of an item, without its newline.
    pub fn action(&self, i: &Item) -> &[u8] {
        &self.body[i.lines.start..i.doc_start - 1]
    }

    /// The document of an item, without its newline.
    pub fn doc(&self, i: &Item) -> &[u8] {
        &self.body[i.doc_start..i.lines.end - 1]
    }

    /// Append a `create` of document `doc` (one JSON line, no newline) as `id` in `index`, from the unit at
    /// `offset`.
    pub fn push(&mut self, offset: u64, index: &str, id: &str, doc: &[u8]) {
        push_entry(self, offset, index, id, doc);
    }

    /// A new batch of some of the items (for a retry).
    pub fn subset(&self, items: &[usize]) -> Batch {
        let mut out = Batch::with_capacity(items.iter().map(|&i| self.items[i].lines.len()).sum());
        for &i in items {
            let it = &self.items[i];
            let start = out.body.len();
            out.body.extend_from_slice(&self.body[it.lines.clone()]);
            out.items.push(Item {
                offset: it.offset,
                lines: start..out.body.len(),
                doc_start: start + (it.doc_start - it.lines.start),
            });
        }
        out
    }
}

/// Turns units into bulk entries.
#[derive(Debug, Clone)]
pub struct DocBuilder {
    pub template: IndexTemplate,
    /// Log groups with indices of their own (checked before `template`).
    pub separate: SeparateGroups,
    pub json: JsonLimits,
    pub stats: BuildStats,
    index: IndexCache,
    doc_buf: Vec<u8>,
}

/// The last index name and what it was rendered from: the documents of one object nearly always share
/// group, stream and hour, so the name is built again only when one of them changes.
#[derive(Debug, Clone, Default)]
struct IndexCache {
    name: String,
    hour: String,
    group: Option<String>,
    stream: Option<String>,
}

impl IndexCache {
    fn get(
        &mut self,
        template: &IndexTemplate,
        group: Option<&str>,
        stream: Option<&str>,
        date: &str,
    ) -> &str {
        let hour = date_prefix(date).unwrap_or("1970-01-01T00");
        if self.name.is_empty()
            || self.hour != hour
            || self.group.as_deref() != group
            || self.stream.as_deref() != stream
        {
            template.render(group, stream, hour, &mut self.name);
            self.hour.clear();
            self.hour.push_str(hour);
            self.group = group.map(str::to_string);
            self.stream = stream.map(str::to_string);
        }
        &self.name
    }
}

impl DocBuilder {
    pub fn new(template: IndexTemplate, json: JsonLimits) -> Self {
        DocBuilder {
            template,
            separate: SeparateGroups::default(),
            json,
            stats: BuildStats::default(),
            index: IndexCache::default(),
            doc_buf: Vec::new(),
        }
    }

    /// Append the unit's action and document to `batch`, or say why it cannot be indexed.
    pub fn add(&mut self, unit: &Unit<'_>, src: &Origin, batch: &mut Batch) -> UnitOutcome {
        if unit.truncated() {
            return UnitOutcome::DeadLetter(format!(
                "longer than the {}-byte document limit ({} bytes); the start is kept here",
                unit.bytes.len(),
                unit.len
            ));
        }
        let text = match std::str::from_utf8(unit.bytes) {
            Ok(t) => t,
            Err(e) => {
                return UnitOutcome::DeadLetter(format!(
                    "not valid UTF-8 (first invalid byte at offset {} of the line)",
                    e.valid_up_to()
                ))
            }
        };
        let mut parse_error = None;
        if unit.kind == UnitKind::Json {
            match serde_json::from_str::<Head<'_>>(text) {
                Ok(head) => {
                    if let Some(ts) = raw_str(head.timestamp) {
                        if let Some(date) = date_prefix(&ts) {
                            let event = head
                                .event
                                .and_then(|e| serde_json::from_str::<EventHead<'_>>(e.get()).ok());
                            let log = head
                                .log
                                .and_then(|l| serde_json::from_str::<LogHead<'_>>(l.get()).ok());
                            let id = match event.as_ref().and_then(|e| e.id.as_deref()) {
                                Some(id) if !id.is_empty() && id.len() <= 512 => Cow::Borrowed(id),
                                _ => Cow::Owned(src.derived_id(unit.offset)),
                            };
                            let group = log.as_ref().and_then(|l| l.group.as_deref());
                            let template = group
                                .and_then(|g| self.separate.template_for(g))
                                .unwrap_or(&self.template);
                            let index = self.index.get(
                                template,
                                group,
                                log.as_ref().and_then(|l| l.stream.as_deref()),
                                date,
                            );
                            push_entry(batch, unit.offset, index, &id, text.as_bytes());
                            self.stats.as_is += 1;
                            return UnitOutcome::AsIs;
                        }
                    }
                    // Another JSON object: wrap it.
                    let outcome = self.wrap(unit, src, text, None, None, batch);
                    return match outcome {
                        JsonOutcome::NotJson => {
                            self.stats.text += 1;
                            UnitOutcome::Text
                        }
                        JsonOutcome::Written => {
                            self.stats.wrapped += 1;
                            UnitOutcome::Wrapped
                        }
                        JsonOutcome::Truncated => {
                            self.stats.wrapped += 1;
                            self.stats.json_truncated += 1;
                            UnitOutcome::Wrapped
                        }
                    };
                }
                Err(e) if e.is_syntax() || e.is_eof() => {
                    self.stats.invalid_json += 1;
                    parse_error = Some(format!("not valid JSON: {e}"));
                }
                // Valid JSON the head does not fit (say a duplicate `@timestamp`): wrap it.
                Err(_) => {}
            }
        }
        let outcome = self.wrap(unit, src, text, parse_error.as_deref(), None, batch);
        if outcome == JsonOutcome::NotJson {
            self.stats.text += 1;
            UnitOutcome::Text
        } else {
            self.stats.wrapped += 1;
            self.stats.json_truncated += u64::from(outcome == JsonOutcome::Truncated);
            UnitOutcome::Wrapped
        }
    }

    /// Append the document of text lines joined into one record (a stack trace in a plain-text object, see
    /// [`crate::logs::multiline`]): `unit` holds the lines joined with `\n`, from the first line's offset;
    /// `others` lines were joined to the first, and `kind` says whether the record continues one before it.
    /// The document is the first line's (its id, `log.offset`), with `message` the whole record and
    /// `event.joined` = `{"count": others, "continuation": "orphan" | "capped"}`.
    pub fn add_joined(
        &mut self,
        unit: &Unit<'_>,
        src: &Origin,
        others: usize,
        kind: Kind,
        batch: &mut Batch,
    ) -> UnitOutcome {
        let Ok(text) = std::str::from_utf8(unit.bytes) else {
            // Joined from lines read as UTF-8: the caller never hands over anything else.
            return self.add(unit, src, batch);
        };
        self.wrap(unit, src, text, None, Some((others, kind)), batch);
        self.stats.text += 1;
        UnitOutcome::Text
    }

    fn wrap(
        &mut self,
        unit: &Unit<'_>,
        src: &Origin,
        text: &str,
        error: Option<&str>,
        joined: Option<(usize, Kind)>,
        batch: &mut Batch,
    ) -> JsonOutcome {
        let doc = &mut self.doc_buf;
        doc.clear();
        doc.extend_from_slice(b"{\"@timestamp\":");
        write_json_str(doc, &src.fallback_timestamp);
        doc.extend_from_slice(b",\"message\":");
        write_json_str(doc, text);
        if let Some((others, kind)) = joined {
            doc.extend_from_slice(b",\"event\":{\"joined\":{\"count\":");
            doc.extend_from_slice(others.to_string().as_bytes());
            match kind {
                Kind::Orphan => doc.extend_from_slice(b",\"continuation\":\"orphan\""),
                Kind::Capped => doc.extend_from_slice(b",\"continuation\":\"capped\""),
                Kind::Single | Kind::Joined => {}
            }
            doc.extend_from_slice(b"}}");
        }
        doc.extend_from_slice(&src.log_head);
        doc.extend_from_slice(b",\"offset\":");
        doc.extend_from_slice(unit.offset.to_string().as_bytes());
        // The line is read once for its level and, when it is a JSON object, its `json` fields.
        let json = error.is_none() && unit.kind == UnitKind::Json;
        let read = crate::logs::message::read(text, json.then_some(self.json));
        if let Some(level) = read.ecs_level() {
            doc.extend_from_slice(b",\"level\":\"");
            doc.extend_from_slice(level.as_bytes());
            doc.push(b'"');
        }
        doc.push(b'}');
        let outcome = if json {
            read.write_json(text, self.json, doc)
        } else {
            JsonOutcome::NotJson
        };
        if outcome == JsonOutcome::Truncated {
            doc.extend_from_slice(b",\"logpipe\":{\"json_truncated\":true}");
        }
        if let Some(e) = error {
            doc.extend_from_slice(b",\"error\":{\"message\":");
            write_json_str(doc, e);
            doc.push(b'}');
        }
        doc.push(b'}');
        let id = src.derived_id(unit.offset);
        let index = self
            .index
            .get(&self.template, None, None, &src.fallback_timestamp);
        push_entry(batch, unit.offset, index, &id, &self.doc_buf);
        outcome
    }
}

fn push_entry(batch: &mut Batch, offset: u64, index: &str, id: &str, doc: &[u8]) {
    let start = batch.body.len();
    batch.body.extend_from_slice(b"{\"create\":{\"_index\":");
    write_json_str(&mut batch.body, index);
    batch.body.extend_from_slice(b",\"_id\":");
    write_json_str(&mut batch.body, id);
    batch.body.extend_from_slice(b"}}\n");
    let doc_start = batch.body.len();
    batch.body.extend_from_slice(doc);
    batch.body.push(b'\n');
    batch.items.push(Item {
        offset,
        lines: start..batch.body.len(),
        doc_start,
    });
}
