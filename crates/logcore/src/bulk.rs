//! Search indexing without the network: which document each unit of an S3 object becomes, its index and
//! `_id`, `_bulk` request bodies, the per-item outcomes of a `_bulk` response, and dead-letter records.
//!
//! - A JSON object with a string `@timestamp` (what logpipe's transforms write, or any ECS-style document) is
//!   indexed as it is. Its `_id` is its `event.id` when it has one.
//! - Any other JSON object is wrapped: `message` keeps the text, its fields go under `json` with the same
//!   depth and key caps as the transforms (`document::write_json_namespace`).
//! - A text line becomes `{"@timestamp":…,"message":…}`; a line that starts with `{` but is not valid JSON
//!   is indexed the same way, with `error.message` saying why.
//! - Without an `event.id`, the `_id` is derived from the bucket, key, object version (or ETag) and the
//!   unit's offset, so reading the same object again yields the same ids and `create` answers 409.
//! - Units that cannot be indexed (invalid UTF-8, over the size cap) become dead-letter records instead.
//!
//! Every wrapped document carries `log.file.path` (`s3://bucket/key`) and `log.offset`, so each line can be
//! traced back to its object.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::Digest;

use crate::document::{write_json_namespace, write_json_str, JsonLimits, JsonOutcome};
use crate::framing::{Unit, UnitKind};

/// An index name pattern: `{log.group}`, `{log.stream}` and `%Y`, `%m`, `%d`, `%H` (UTC, from the
/// document's `@timestamp`) between literal text. A pattern without a date is a fixed index or a data
/// stream (both accept `create`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Group,
    Stream,
    Year,
    Month,
    Day,
    Hour,
}

/// Application documents: one daily index for every log group (`log.group` is a keyword in it), so the
/// shard count grows with days kept, not with the number of groups.
impl Default for IndexTemplate {
    fn default() -> Self {
        "logs-app-%Y.%m.%d"
            .parse()
            .expect("the default index template is valid")
    }
}

impl IndexTemplate {
    /// Audit documents: one daily index.
    pub fn audit() -> Self {
        "logs-audit-%Y.%m.%d"
            .parse()
            .expect("the audit index template is valid")
    }

    /// One daily index per log group (logpipe's layout before 0.2: groups × days indices).
    pub fn per_group() -> Self {
        "logs-{log.group}-%Y.%m.%d"
            .parse()
            .expect("the per-group index template is valid")
    }
}

impl std::str::FromStr for IndexTemplate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let (part, len) = if rest.starts_with("{log.group}") {
                (Some(Part::Group), "{log.group}".len())
            } else if rest.starts_with("{log.stream}") {
                (Some(Part::Stream), "{log.stream}".len())
            } else if let Some(spec) = rest.strip_prefix('%') {
                match spec.chars().next() {
                    Some('Y') => (Some(Part::Year), 2),
                    Some('m') => (Some(Part::Month), 2),
                    Some('d') => (Some(Part::Day), 2),
                    Some('H') => (Some(Part::Hour), 2),
                    other => {
                        return Err(format!(
                            "index template {s:?}: unknown %{} (use %Y, %m, %d or %H)",
                            other.map(String::from).unwrap_or_default()
                        ))
                    }
                }
            } else if c == '{' {
                return Err(format!(
                    "index template {s:?}: unknown placeholder (use {{log.group}} or {{log.stream}})"
                ));
            } else {
                if !is_lower(c) || FORBIDDEN_IN_INDEX.contains(c) {
                    return Err(format!(
                        "index template {s:?}: {c:?} is not allowed in an index name"
                    ));
                }
                lit.push(c);
                (None, c.len_utf8())
            };
            if let Some(p) = part {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(p);
            }
            rest = &rest[len..];
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        match parts.first() {
            None => return Err("index template is empty".into()),
            Some(Part::Lit(l)) if l.starts_with(['-', '_', '+', '.']) => {
                return Err(format!(
                    "index template {s:?} must not start with '-', '_', '+' or '.'"
                ))
            }
            _ => {}
        }
        // Every placeholder must have room to keep its hash within the 255 bytes.
        let fixed: usize = parts
            .iter()
            .map(|p| match p {
                Part::Lit(l) => l.len(),
                Part::Group | Part::Stream => MIN_PLACEHOLDER_BYTES,
                Part::Year => 4,
                _ => 2,
            })
            .sum();
        if fixed > MAX_INDEX_BYTES {
            return Err(format!(
                "index template {s:?} is too long: its names would pass 255 bytes"
            ));
        }
        Ok(IndexTemplate { parts })
    }
}

impl IndexTemplate {
    /// Whether the name has a date part (a new index every day or hour), so that retention can delete old
    /// indices; without one it is a single index forever.
    pub fn has_date(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Year | Part::Month | Part::Day | Part::Hour))
    }

    /// The index pattern matching every index the template renders: each placeholder becomes `*`
    /// (`logs-{log.group}-%Y.%m.%d` → `logs-*-*.*.*`).
    pub fn wildcard(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                _ if out.ends_with('*') => {}
                _ => out.push('*'),
            }
        }
        out
    }

    /// The index for a document. `date` is `YYYY-MM-DDTHH…` (UTC); `group`/`stream` are sanitized.
    ///
    /// The name always satisfies the engines' rules ([`check_index_name`]): lower case, no forbidden
    /// character, no forbidden start, at most 255 bytes. When group and stream make it longer, the longest
    /// of them is cut (on a character boundary) and ends in a hash of its full text, so that the date and the
    /// literals stay whole and two long groups never share an index.
    pub fn render(&self, group: Option<&str>, stream: Option<&str>, date: &str, out: &mut String) {
        out.clear();
        let date = date_prefix(date).unwrap_or("1970-01-01T00");
        // The placeholders' texts, sanitized, and what they were made from.
        let mut vars: Vec<(String, &str)> = Vec::new();
        let mut fixed = 0;
        for (i, p) in self.parts.iter().enumerate() {
            let raw = match p {
                Part::Group => group.unwrap_or("unknown"),
                Part::Stream => stream.unwrap_or("unknown"),
                Part::Lit(l) => {
                    fixed += l.len();
                    continue;
                }
                _ => {
                    fixed += if matches!(p, Part::Year) { 4 } else { 2 };
                    continue;
                }
            };
            let mut text = String::new();
            push_sanitized(&mut text, raw, i == 0);
            vars.push((text, raw));
        }
        let mut total = fixed + vars.iter().map(|v| v.0.len()).sum::<usize>();
        while total > MAX_INDEX_BYTES {
            let Some(longest) = vars.iter_mut().max_by_key(|v| v.0.len()) else {
                break;
            };
            let keep = longest.0.len().saturating_sub(total - MAX_INDEX_BYTES);
            shorten(&mut longest.0, longest.1, keep.max(MIN_PLACEHOLDER_BYTES));
            total = fixed + vars.iter().map(|v| v.0.len()).sum::<usize>();
        }
        let mut vars = vars.into_iter();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Group | Part::Stream => out.push_str(&vars.next().unwrap_or_default().0),
                Part::Year => out.push_str(&date[..4]),
                Part::Month => out.push_str(&date[5..7]),
                Part::Day => out.push_str(&date[8..10]),
                Part::Hour => out.push_str(&date[11..13]),
            }
        }
    }
}

/// Index names are at most 255 bytes (Elasticsearch and OpenSearch alike).
pub const MAX_INDEX_BYTES: usize = 255;
/// A shortened placeholder keeps at least this much: some of its text, `-` and an 8-digit hash.
const MIN_PLACEHOLDER_BYTES: usize = 16;
/// Characters no index name may hold (the create-index API's list, with `:`, refused since 7.0).
const FORBIDDEN_IN_INDEX: &str = "\\/*?\"<>| ,#:";

/// Whether `name` is an index name Elasticsearch and OpenSearch accept: lower case only; none of
/// `\ / * ? " < > |`, space, `,`, `#`, `:`; not starting with `-`, `_` or `+`; not `.` or `..`; 1 to 255
/// bytes. The error says which rule it breaks.
pub fn check_index_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_INDEX_BYTES {
        return Err(format!(
            "index name {name:?} must be 1 to 255 bytes long ({} bytes)",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("index name {name:?} is not allowed"));
    }
    if name.starts_with(['-', '_', '+']) {
        return Err(format!(
            "index name {name:?} must not start with '-', '_' or '+'"
        ));
    }
    if let Some(c) = name.chars().find(|c| FORBIDDEN_IN_INDEX.contains(*c)) {
        return Err(format!("index name {name:?} must not contain {c:?}"));
    }
    if name.chars().any(|c| !is_lower(c)) {
        return Err(format!("index name {name:?} must be lower case"));
    }
    Ok(())
}

/// `c` is its own lower case (what the engines check, with Java's `toLowerCase(Locale.ROOT)`).
fn is_lower(c: char) -> bool {
    let mut l = c.to_lowercase();
    l.next() == Some(c) && l.next().is_none()
}

/// Cut a sanitized placeholder to at most `max` bytes: the start of its text, `-` and 8 hex digits of a
/// hash of `raw`, the text it was made from.
fn shorten(text: &mut String, raw: &str, max: usize) {
    let digest = sha2::Sha256::digest(raw.as_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let mut cut = max.saturating_sub(hash.len() + 1).min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    while text.ends_with('-') {
        text.pop();
    }
    if !text.is_empty() {
        text.push('-');
    }
    text.push_str(&hash);
}

/// Log groups that get daily indices of their own (`logs-group-{log.group}-%Y.%m.%d`), each with its own
/// retention: `SEPARATE_GROUPS`, comma-separated globs, each with `=DAYS` or the family's retention.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeparateGroups {
    rules: Vec<(crate::alert::GroupGlob, String, Option<u32>)>,
}

/// The index template of separated groups.
pub const SEPARATE_INDEX: &str = "logs-group-{log.group}-%Y.%m.%d";

impl SeparateGroups {
    /// `"/ecs/payments=365,/aws/rds/cluster/*/audit=2555,/ecs/noisy"`.
    pub fn parse(spec: &str) -> Result<SeparateGroups, String> {
        let mut rules = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (glob, days) = match entry.rsplit_once('=') {
                Some((g, d)) => {
                    let days = d
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|d| (1..=36_500).contains(d))
                        .ok_or_else(|| {
                            format!("{entry:?}: the days after '=' must be 1 to 36500")
                        })?;
                    (g.trim(), Some(days))
                }
                None => (entry, None),
            };
            if glob.is_empty() {
                return Err(format!("{entry:?}: no log group before '='"));
            }
            rules.push((crate::alert::GroupGlob::new(glob), glob.to_string(), days));
        }
        Ok(SeparateGroups { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The template of `group`'s documents when it is separated.
    pub fn template_for(&self, group: &str) -> Option<&'static IndexTemplate> {
        static TEMPLATE: std::sync::LazyLock<IndexTemplate> = std::sync::LazyLock::new(|| {
            SEPARATE_INDEX
                .parse()
                .expect("the separate index template is valid")
        });
        self.rules
            .iter()
            .any(|(g, _, _)| g.matches(group))
            .then(|| &*TEMPLATE)
    }

    /// Index patterns by retention (`None`: the family's): each glob's literal pieces sanitized as index
    /// names render them, `*` between (`/aws/rds/cluster/*/audit` → `logs-group-aws-rds-cluster*audit-*`).
    pub fn patterns(&self) -> Vec<(Option<u32>, Vec<String>)> {
        let mut out: Vec<(Option<u32>, Vec<String>)> = Vec::new();
        for (_, glob, days) in &self.rules {
            let pieces: Vec<String> = glob
                .split('*')
                .map(|p| {
                    let mut s = String::new();
                    push_sanitized(&mut s, p, false);
                    if s == "unknown" && !p.contains("unknown") {
                        s.clear();
                    }
                    s
                })
                .collect();
            let pattern = format!("logs-group-{}-*", pieces.join("*"))
                .replace("-*-*", "-*")
                .replace("**", "*");
            match out.iter_mut().find(|(d, _)| d == days) {
                Some((_, ps)) => ps.push(pattern),
                None => out.push((*days, vec![pattern])),
            }
        }
        out
    }
}

/// A log group or stream as part of an index name: lower case (in full Unicode), forbidden characters,
/// white space and ASCII punctuation but `_` and `.` as `-`, no repeated `-`, none at either end; at the
/// start of the name (`first`) no leading `_` or `.` either. An empty result is `unknown`.
fn push_sanitized(out: &mut String, s: &str, first: bool) {
    let start = out.len();
    let mut last_dash = out.ends_with('-');
    for c in s.chars() {
        let keep = c.is_ascii_alphanumeric()
            || c == '_'
            || c == '.'
            || (!c.is_ascii() && !c.is_whitespace() && !c.is_control());
        if !keep {
            if !last_dash && out.len() > start {
                out.push('-');
                last_dash = true;
            }
            continue;
        }
        if first && out.len() == start && (c == '_' || c == '.') {
            continue;
        }
        last_dash = false;
        out.extend(c.to_lowercase());
    }
    while out.len() > start && out.ends_with('-') {
        out.pop();
    }
    if out.len() == start {
        out.push_str("unknown");
    }
}

/// `YYYY-MM-DDTHH` when `ts` starts with a plausible RFC 3339 date and hour.
fn date_prefix(ts: &str) -> Option<&str> {
    let b = ts.as_bytes();
    let digits = |r: Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    (b.len() >= 13
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b' ')
        && digits(11..13))
    .then(|| &ts[..13])
}

/// The object a unit came from.
#[derive(Debug, Clone)]
pub struct Source {
    pub bucket: String,
    pub key: String,
    /// Version id, else ETag, else empty: part of derived ids.
    pub version: String,
    /// `@timestamp` for documents without one (the object's last-modified time, RFC 3339 UTC), so that a
    /// re-read object lands in the same daily index.
    pub fallback_timestamp: String,
    /// `,"log":{"file":{"path":"s3://…"}` (left open for `offset`).
    log_head: Vec<u8>,
}

impl Source {
    pub fn new(bucket: &str, key: &str, version: &str, fallback_timestamp: &str) -> Self {
        let mut log_head = b",\"log\":{\"file\":{\"path\":".to_vec();
        write_json_str(&mut log_head, &format!("s3://{bucket}/{key}"));
        log_head.push(b'}');
        let fallback_timestamp = if date_prefix(fallback_timestamp).is_some() {
            fallback_timestamp.to_string()
        } else {
            "1970-01-01T00:00:00.000Z".to_string()
        };
        Source {
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
        let digest = h.finalize();
        let mut s = String::with_capacity(40);
        for b in &digest[..20] {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

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
    pub fn add(&mut self, unit: &Unit<'_>, src: &Source, batch: &mut Batch) -> UnitOutcome {
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
                    let outcome = self.wrap(unit, src, text, None, batch);
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
        let outcome = self.wrap(unit, src, text, parse_error.as_deref(), batch);
        if outcome == JsonOutcome::NotJson {
            self.stats.text += 1;
            UnitOutcome::Text
        } else {
            self.stats.wrapped += 1;
            self.stats.json_truncated += u64::from(outcome == JsonOutcome::Truncated);
            UnitOutcome::Wrapped
        }
    }

    fn wrap(
        &mut self,
        unit: &Unit<'_>,
        src: &Source,
        text: &str,
        error: Option<&str>,
        batch: &mut Batch,
    ) -> JsonOutcome {
        let doc = &mut self.doc_buf;
        doc.clear();
        doc.extend_from_slice(b"{\"@timestamp\":");
        write_json_str(doc, &src.fallback_timestamp);
        doc.extend_from_slice(b",\"message\":");
        write_json_str(doc, text);
        doc.extend_from_slice(&src.log_head);
        doc.extend_from_slice(b",\"offset\":");
        doc.extend_from_slice(unit.offset.to_string().as_bytes());
        if let Some(level) = crate::alert::ecs_level(text) {
            doc.extend_from_slice(b",\"level\":\"");
            doc.extend_from_slice(level.as_bytes());
            doc.push(b'"');
        }
        doc.push(b'}');
        let outcome = if error.is_none() && unit.kind == UnitKind::Json {
            write_json_namespace(text, self.json, doc)
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

/// The outcome of one item of a `_bulk` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// 200/201.
    Created,
    /// 409: a document with this `_id` is already there (an earlier delivery indexed it).
    Exists,
    /// 429 or 5xx: try again.
    Retry { status: u16, reason: String },
    /// Any other status: it will never be accepted as it is.
    Rejected {
        status: u16,
        error_type: String,
        reason: String,
    },
}

/// A `_bulk` response: items are read one by one only when `errors` does not say they all succeeded.
#[derive(Deserialize)]
struct BulkResponse<'a> {
    #[serde(default)]
    errors: Option<bool>,
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Read a `_bulk` response that should hold `expected` items.
pub fn parse_bulk_response(body: &[u8], expected: usize) -> Result<Vec<ItemOutcome>, String> {
    let r: BulkResponse<'_> =
        serde_json::from_slice(body).map_err(|e| format!("unreadable _bulk response: {e}"))?;
    if r.items.len() != expected {
        return Err(format!(
            "_bulk response has {} items for {expected} actions",
            r.items.len()
        ));
    }
    // The common case: `"errors": false` says every item succeeded.
    if r.errors == Some(false) {
        return Ok(vec![ItemOutcome::Created; expected]);
    }
    let mut out = Vec::with_capacity(expected);
    for (i, raw) in r.items.into_iter().enumerate() {
        let item: std::collections::BTreeMap<String, BulkItem> = serde_json::from_str(raw.get())
            .map_err(|e| format!("unreadable _bulk response item {i}: {e}"))?;
        let Some((_, it)) = item.into_iter().next() else {
            return Err(format!("_bulk response item {i} is empty"));
        };
        let (error_type, reason) = match &it.error {
            Some(serde_json::Value::Object(m)) => (
                m.get("type")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
                m.get("reason")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
            ),
            Some(serde_json::Value::String(s)) => (String::new(), s.clone()),
            _ => (String::new(), String::new()),
        };
        out.push(match it.status {
            200..=299 => ItemOutcome::Created,
            409 => ItemOutcome::Exists,
            429 | 500..=599 => ItemOutcome::Retry {
                status: it.status,
                reason: if error_type.is_empty() {
                    reason
                } else {
                    format!("{error_type}: {reason}")
                },
            },
            status => ItemOutcome::Rejected {
                status,
                error_type,
                reason,
            },
        });
    }
    Ok(out)
}

/// One dead-letter record: a line of `failed/…` NDJSON. It holds no time of its own, so that a redelivered
/// object writes the very same bytes.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a> {
    pub src: &'a Source,
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
    /// ([`crate::index_setup::cluster_cause`]: `shard_limit`, `write_block`, `index_closed`,
    /// `index_not_found`).
    pub fn cause(&self) -> &'static str {
        match self.error_type {
            None => "unreadable",
            Some(t) => crate::index_setup::cluster_cause(t, self.reason).unwrap_or("document"),
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
                crate::codec::encode_base64_append(self.data, out);
                out.push(b'"');
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

#[cfg(test)]
mod tests;
