//! The output document: one NDJSON line per log event (see docs/design.md, "The output document").
//!
//! ```json
//! {"@timestamp":"2026-11-21T10:00:00.000Z","message":"…","event":{"id":"…"},
//!  "log":{"group":"/ecs/api","stream":"…"},"cloud":{"account":{"id":"123456789012"},"region":"eu-west-1"},
//!  "subscription_filters":["…"],"json":{…}}
//! ```
//!
//! Field names follow Elastic Common Schema as nested objects (`event.id` is `{"event":{"id":…}}`). When the
//! message is a JSON object its fields go under `json`, with caps on nesting depth and key count so that an
//! index mapping cannot explode: objects and arrays nested deeper than the depth cap are kept as JSON text,
//! and keys past the key cap are left out of `json` (the full text stays in `message`) and the document
//! gets `"logpipe":{"json_truncated":true}`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::base::time::Rfc3339Writer;
use crate::logs::cwl::{LogEvent, Payload};
use crate::logs::multiline::Kind;

/// The longest document a transform writes for one event CloudWatch Logs accepts
/// ([`crate::logs::cwl::MAX_MESSAGE_BYTES`]). JSON escaping makes a message at most six times longer (`\u0001`
/// for each control character); an application document holds the message once (the `json` fields of a
/// JSON message add less than its own escaping: a JSON message has no raw control characters), an audit
/// document at most twice (`message` and `db.statement`); the other fields (names, ids, times) add a few
/// KiB. 2 × 6 × 1,048,550 bytes is 12.0 MiB. The forwarder and the notifier read documents up to this size
/// by default (`MAX_DOC_BYTES`), so that no document a transform produced is refused as too long.
pub const MAX_DOCUMENT_BYTES: usize = 16 << 20;

/// What the transform writes for each log event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// One JSON document per event (the default).
    #[default]
    Document,
    /// Only `message + "\n"`, like the AWS `kinesis-firehose-cloudwatch-logs-processor` blueprint.
    Raw,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "document" | "json" | "" => Ok(OutputFormat::Document),
            "raw" => Ok(OutputFormat::Raw),
            other => Err(format!(
                "unknown output format {other:?} (expected \"document\" or \"raw\")"
            )),
        }
    }
}

/// Caps on the `json` namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Objects and arrays nested deeper than this (the message object itself is depth 1) are kept as text.
    pub max_depth: usize,
    /// At most this many keys, counted over all levels.
    pub max_keys: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        JsonLimits {
            max_depth: 4,
            max_keys: 100,
        }
    }
}

/// How documents are built.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentConfig {
    pub format: OutputFormat,
    /// `None` turns JSON field extraction off (the message is still kept verbatim).
    pub json: Option<JsonLimits>,
    /// `cloud.region`, when known (the Firehose event's region).
    pub region: Option<String>,
}

/// The per-payload part of every document, serialized once per payload rather than once per event.
pub struct PayloadContext {
    /// `,"log":{…},"cloud":{…},"subscription_filters":[…]`
    tail: Vec<u8>,
    /// `@timestamp`s, the date of the last one kept.
    times: Rfc3339Writer,
    /// Where the `log` object of `tail` closes (each event's `log.level` goes in before).
    log_end: usize,
}

impl PayloadContext {
    pub fn new(payload: &Payload<'_>, region: Option<&str>) -> Self {
        let mut tail = Vec::with_capacity(128 + payload.log_group.len() + payload.log_stream.len());
        tail.extend_from_slice(b",\"log\":{\"group\":");
        write_json_str(&mut tail, &payload.log_group);
        tail.extend_from_slice(b",\"stream\":");
        write_json_str(&mut tail, &payload.log_stream);
        let log_end = tail.len();
        tail.push(b'}');
        write_cloud_and_filters(&mut tail, payload, region);
        PayloadContext {
            tail,
            log_end,
            times: Rfc3339Writer::default(),
        }
    }
}

/// `,"cloud":{"account":{"id":…},"region":…},"subscription_filters":[…]` of a payload.
pub fn write_cloud_and_filters(out: &mut Vec<u8>, payload: &Payload<'_>, region: Option<&str>) {
    out.extend_from_slice(b",\"cloud\":{\"account\":{\"id\":");
    write_json_str(out, &payload.owner);
    out.push(b'}');
    if let Some(region) = region {
        out.extend_from_slice(b",\"region\":");
        write_json_str(out, region);
    }
    out.extend_from_slice(b"},\"subscription_filters\":[");
    for (i, f) in payload.subscription_filters.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, f);
    }
    out.push(b']');
}

crate::counts! {
    /// Counters for what document building did (in the transform's report).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
    pub struct DocStats {
        /// Messages whose fields went under `json`.
        pub json_messages: u64 => "JsonMessages",
        /// Documents whose `json` namespace was cut by the key cap.
        pub json_truncated: u64 => "JsonTruncated",
        /// Documents of several events joined (a stack trace written one line an event).
        pub joined_documents: u64 => "JoinedDocuments",
        /// Documents flagged as the continuation of a record: its head in an earlier payload
        /// (`orphan`), or cut by a cap (`capped`).
        pub continuation_documents: u64 => "ContinuationDocuments",
    }
}

/// Append the NDJSON line for one event to `out`.
pub fn write_event(
    cfg: &DocumentConfig,
    ctx: &PayloadContext,
    ev: &LogEvent<'_>,
    out: &mut Vec<u8>,
    stats: &mut DocStats,
) {
    if cfg.format == OutputFormat::Raw {
        out.extend_from_slice(ev.message.as_bytes());
        out.push(b'\n');
        return;
    }
    write_document(cfg, ctx, ev, &ev.message, None, out, stats);
}

/// Append the NDJSON line of a record of several consecutive events of one stream joined into one
/// document (see [`crate::logs::multiline`]): `message` is their messages joined with `\n`; the first
/// event gives `@timestamp`, `event.id` and `log.level`, and `event.joined` says what was joined:
/// `{"count": the other events, "ids": their ids, "continuation": "orphan" | "capped"}` (`continuation`
/// only for a record that continues one before it: its head in an earlier payload, or cut by a cap). In
/// the raw format the lines are written as they came, one a line.
pub fn write_joined(
    cfg: &DocumentConfig,
    ctx: &PayloadContext,
    events: &[LogEvent<'_>],
    message: &str,
    kind: Kind,
    out: &mut Vec<u8>,
    stats: &mut DocStats,
) {
    let Some(first) = events.first() else {
        return;
    };
    if cfg.format == OutputFormat::Raw {
        out.extend_from_slice(message.as_bytes());
        out.push(b'\n');
        return;
    }
    if events.len() > 1 {
        stats.joined_documents += 1;
    }
    if matches!(kind, Kind::Orphan | Kind::Capped) {
        stats.continuation_documents += 1;
    }
    write_document(cfg, ctx, first, message, Some((events, kind)), out, stats);
}

/// One document: `first`'s time, id and level, `message`, and what was joined into it.
fn write_document(
    cfg: &DocumentConfig,
    ctx: &PayloadContext,
    first: &LogEvent<'_>,
    message: &str,
    joined: Option<(&[LogEvent<'_>], Kind)>,
    out: &mut Vec<u8>,
    stats: &mut DocStats,
) {
    out.extend_from_slice(b"{\"@timestamp\":\"");
    ctx.times.write(first.timestamp, out);
    out.extend_from_slice(b"\",\"message\":");
    // A single event's message as the payload spelled it, when that is what escaping it gives.
    match (joined, first.literal) {
        (None, Some(literal)) => out.extend_from_slice(literal.as_bytes()),
        _ => write_json_str(out, message),
    }
    out.extend_from_slice(b",\"event\":{\"id\":");
    write_json_str(out, &first.id);
    if let Some((events, kind)) = joined {
        write_joined_field(events, kind, out);
    }
    out.push(b'}');
    out.extend_from_slice(&ctx.tail[..ctx.log_end]);
    // `log.level` (ECS, lower case) from the JSON level field or the line's level word, as the Slack
    // notifier reads it: dashboards chart errors without parsing messages. A joined record's is its first
    // line's. A single event's message is read once for both its level and its `json` fields.
    let read = match joined {
        None => crate::logs::message::read(message, cfg.json),
        Some(_) => crate::logs::message::read(&first.message, None),
    };
    if let Some(level) = read.ecs_level() {
        out.extend_from_slice(b",\"level\":\"");
        out.extend_from_slice(level.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(&ctx.tail[ctx.log_end..]);
    if let Some(limits) = cfg.json {
        match read.write_json(message, limits, out) {
            JsonOutcome::NotJson => {}
            JsonOutcome::Written => stats.json_messages += 1,
            JsonOutcome::Truncated => {
                stats.json_messages += 1;
                stats.json_truncated += 1;
                out.extend_from_slice(b",\"logpipe\":{\"json_truncated\":true}");
            }
        }
    }
    out.extend_from_slice(b"}\n");
}

/// `,"joined":{"count":N,"ids":[…],"continuation":…}` of `event`.
fn write_joined_field(events: &[LogEvent<'_>], kind: Kind, out: &mut Vec<u8>) {
    let others = events.get(1..).unwrap_or_default();
    out.extend_from_slice(b",\"joined\":{\"count\":");
    out.extend_from_slice(others.len().to_string().as_bytes());
    out.extend_from_slice(b",\"ids\":[");
    for (i, ev) in others.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, &ev.id);
    }
    out.push(b']');
    match kind {
        Kind::Orphan => out.extend_from_slice(b",\"continuation\":\"orphan\""),
        Kind::Capped => out.extend_from_slice(b",\"continuation\":\"capped\""),
        Kind::Single | Kind::Joined => {}
    }
    out.push(b'}');
}

/// Write `s` as a JSON string literal, byte for byte as `serde_json` writes it: `\"`, `\\`, `\b`, `\f`, `\n`,
/// `\r`, `\t`, `\u00xx` (lower-case hex) for the other control characters, everything else as it is.
///
/// Every message goes through here once; eight bytes are looked at together until a word holds one to
/// escape, which is most of a text line and the long runs of a JSON message's values.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while let Some(at) = next_special(b, i) {
        let c = b[at];
        out.extend_from_slice(&b[start..at]);
        match ESCAPE[usize::from(c)] {
            b'u' => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 15)]);
            }
            esc => out.extend_from_slice(&[b'\\', esc]),
        }
        i = at + 1;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// The first byte from `from` on that a JSON string cannot hold as it is (a control character, `"` or `\`),
/// eight bytes at a time; `None` when there is none. What the writer escapes and the readers stop at.
#[inline]
pub(crate) fn next_special(b: &[u8], mut from: usize) -> Option<usize> {
    while let Some(word) = b.get(from..from + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        match escape_mask(u64::from_le_bytes(w)) {
            0 => from += 8,
            mask => return Some(from + (mask.trailing_zeros() / 8) as usize),
        }
    }
    let tail = b.get(from..)?;
    tail.iter()
        .position(|&c| ESCAPE[usize::from(c)] != 0)
        .map(|k| from + k)
}

/// The bytes of `w` (little-endian) that are a control character, `"` or `\`: the high bit of each such
/// byte is set in the mask, and of no byte before the first such one (the zero-byte tests of "Bit
/// Twiddling Hacks": a borrow only carries into the bytes after one that matched, so the lowest set bit
/// is exact, and the mask is 0 exactly when no byte matches).
pub(crate) const fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = w ^ (ONES * b'"' as u64);
    let backslash = w ^ (ONES * b'\\' as u64);
    let zero_quote = quote.wrapping_sub(ONES) & !quote;
    let zero_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | zero_quote | zero_backslash) & HIGH
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// What follows the backslash of each byte's escape (`u`: `\u00xx`), 0 for bytes written as they are.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = b'u';
        c += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// What [`write_json_namespace`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonOutcome {
    /// Not a JSON object: nothing written.
    NotJson,
    Written,
    /// Written, with keys left out by the key cap.
    Truncated,
}

/// Write `,"json":{…}` with the fields of `message` when it is a JSON object, within `limits`.
pub fn write_json_namespace(message: &str, limits: JsonLimits, out: &mut Vec<u8>) -> JsonOutcome {
    match json_text(message) {
        Some(text) => write_checked(text, check(text, limits), limits, out),
        None => JsonOutcome::NotJson,
    }
}

/// The text of `message` that may be a JSON object: without the whitespace around it, starting with `{` and
/// ending with `}`.
pub(crate) fn json_text(message: &str) -> Option<&str> {
    let text = message.trim_matches(|c: char| c.is_ascii_whitespace());
    (text.starts_with('{') && text.ends_with('}')).then_some(text)
}

/// [`write_json_namespace`] of `text` (from [`json_text`]), whose [`check`] is `checked`.
pub(crate) fn write_checked(
    text: &str,
    checked: Check,
    limits: JsonLimits,
    out: &mut Vec<u8>,
) -> JsonOutcome {
    match checked {
        Check::Invalid => JsonOutcome::NotJson,
        Check::Embeddable => {
            out.extend_from_slice(b",\"json\":");
            out.extend_from_slice(text.as_bytes());
            JsonOutcome::Written
        }
        Check::NeedsRewrite => {
            let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
                return JsonOutcome::NotJson;
            };
            out.extend_from_slice(b",\"json\":");
            let mut budget = limits.max_keys;
            let mut truncated = false;
            write_capped_object(&map, 1, limits.max_depth, &mut budget, &mut truncated, out);
            if truncated {
                JsonOutcome::Truncated
            } else {
                JsonOutcome::Written
            }
        }
    }
}

fn write_capped_object(
    map: &serde_json::Map<String, Value>,
    depth: usize,
    max_depth: usize,
    budget: &mut usize,
    truncated: &mut bool,
    out: &mut Vec<u8>,
) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in map {
        if *budget == 0 {
            *truncated = true;
            break;
        }
        *budget -= 1;
        if !first {
            out.push(b',');
        }
        first = false;
        write_json_str(out, k);
        out.push(b':');
        write_capped_value(v, depth + 1, max_depth, budget, truncated, out);
    }
    out.push(b'}');
}

fn write_capped_value(
    v: &Value,
    depth: usize,
    max_depth: usize,
    budget: &mut usize,
    truncated: &mut bool,
    out: &mut Vec<u8>,
) {
    match v {
        Value::Object(_) | Value::Array(_) if depth > max_depth => {
            // Too deep for the mapping: keep the subtree as JSON text.
            let text = serde_json::to_string(v).expect("Value serializes");
            write_json_str(out, &text);
        }
        Value::Object(m) => write_capped_object(m, depth, max_depth, budget, truncated, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_capped_value(item, depth + 1, max_depth, budget, truncated, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("write to Vec"),
    }
}

/// What the single validating pass over a JSON message found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Not a JSON object.
    Invalid,
    /// Valid, within the caps, no duplicate keys, on one line: can be embedded as it is.
    Embeddable,
    /// Valid but must be rewritten (over a cap, duplicate keys, or raw line breaks between tokens).
    NeedsRewrite,
}

pub(crate) fn check(text: &str, limits: JsonLimits) -> Check {
    let mut state = CheckState {
        limits,
        keys: 0,
        rewrite: false,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let ok = ValueSeed {
        state: &mut state,
        depth: 1,
    }
    .deserialize(&mut de)
    .is_ok()
        && de.end().is_ok();
    if !ok {
        return Check::Invalid;
    }
    // A line break can only be whitespace between tokens here (inside strings it must be escaped).
    if state.rewrite || text.bytes().any(|b| b == b'\n' || b == b'\r') {
        Check::NeedsRewrite
    } else {
        Check::Embeddable
    }
}

struct CheckState {
    limits: JsonLimits,
    keys: usize,
    rewrite: bool,
}

struct ValueSeed<'s> {
    state: &'s mut CheckState,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.depth > self.state.limits.max_depth {
            self.state.rewrite = true;
        }
        while seq
            .next_element_seed(ValueSeed {
                state: &mut *self.state,
                depth: self.depth + 1,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth > self.state.limits.max_depth {
            self.state.rewrite = true;
        }
        // Keys of this object, to find duplicates (which search engines reject). Objects are small.
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            self.state.keys += 1;
            if self.state.keys > self.state.limits.max_keys {
                self.state.rewrite = true;
            }
            if !self.state.rewrite {
                if seen.contains(&key) {
                    self.state.rewrite = true;
                } else {
                    seen.push(key);
                }
            }
            map.next_value_seed(ValueSeed {
                state: &mut *self.state,
                depth: self.depth + 1,
            })?;
        }
        Ok(())
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::cwl::MessageType;
    use proptest::prelude::*;

    fn payload(msgs: &[&'static str]) -> Payload<'static> {
        Payload {
            message_type: MessageType::Data,
            owner: "123456789012".into(),
            log_group: "/ecs/api".into(),
            log_stream: "ecs/api/1".into(),
            subscription_filters: vec!["f1".into()],
            log_events: msgs
                .iter()
                .enumerate()
                .map(|(i, m)| LogEvent {
                    id: format!("{i}").into(),
                    timestamp: 1_763_600_000_123,
                    message: (*m).into(),
                    literal: None,
                })
                .collect(),
            hops: 0,
        }
    }

    fn doc(cfg: &DocumentConfig, msg: &'static str) -> (String, DocStats) {
        let p = payload(&[msg]);
        let ctx = PayloadContext::new(&p, cfg.region.as_deref());
        let mut out = Vec::new();
        let mut stats = DocStats::default();
        write_event(cfg, &ctx, &p.log_events[0], &mut out, &mut stats);
        (String::from_utf8(out).unwrap(), stats)
    }

    #[test]
    fn log_level_from_json_fields_and_level_words() {
        for (msg, want) in [
            (r#"{"level":"ERROR","msg":"db down"}"#, Some("error")),
            (r#"{"level":50,"msg":"pino"}"#, Some("error")),
            (r#"{"severity":"warning"}"#, Some("warn")),
            ("2025-11-21T10:00:00Z 1f2e INFO request done", Some("info")),
            ("[FATAL] out of memory", Some("fatal")),
            ("plain text, no level", None),
        ] {
            let (s, _) = doc(&cfg(), msg);
            let v: Value = serde_json::from_str(&s).unwrap();
            assert_eq!(v["log"]["level"].as_str(), want, "{msg}: {s}");
            assert_eq!(v["log"]["group"], "/ecs/api", "{s}");
        }
    }

    fn cfg() -> DocumentConfig {
        DocumentConfig {
            format: OutputFormat::Document,
            json: Some(JsonLimits::default()),
            region: Some("eu-west-1".into()),
        }
    }

    #[test]
    fn plain_text_document_golden() {
        let (s, stats) = doc(&cfg(), "GET /health 200 \"ok\"\n");
        assert_eq!(
            s,
            concat!(
                r#"{"@timestamp":"2025-11-20T00:53:20.123Z","message":"GET /health 200 \"ok\"\n","event":{"id":"0"},"#,
                r#""log":{"group":"/ecs/api","stream":"ecs/api/1"},"cloud":{"account":{"id":"123456789012"},"region":"eu-west-1"},"#,
                r#""subscription_filters":["f1"]}"#,
                "\n"
            )
        );
        assert_eq!(stats, DocStats::default());
    }

    #[test]
    fn json_message_embedded() {
        let (s, stats) = doc(&cfg(), r#" {"level":"error","req":{"id":7,"path":"/a"}} "#);
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["json"]["level"], "error");
        assert_eq!(v["json"]["req"]["id"], 7);
        assert_eq!(stats.json_messages, 1);
        assert!(v.get("logpipe").is_none());
    }

    #[test]
    fn json_caps_depth_and_keys() {
        let cfg = DocumentConfig {
            json: Some(JsonLimits {
                max_depth: 2,
                max_keys: 3,
            }),
            ..cfg()
        };
        let (s, stats) = doc(&cfg, r#"{"a":{"b":{"c":1}},"d":[[1]],"e":1,"f":2}"#);
        let v: Value = serde_json::from_str(&s).unwrap();
        // depth 3 object kept as text; keys a, a.b, d kept; e and f over the cap of 3.
        assert_eq!(v["json"]["a"]["b"], r#"{"c":1}"#);
        assert_eq!(v["json"]["d"], serde_json::json!(["[1]"]));
        assert!(v["json"].get("e").is_none());
        assert_eq!(v["logpipe"]["json_truncated"], true);
        assert_eq!(
            stats,
            DocStats {
                json_messages: 1,
                json_truncated: 1,
                ..DocStats::default()
            }
        );
    }

    #[test]
    fn a_joined_record_is_one_document_of_its_first_event() {
        let p = payload(&[
            "ERROR java.lang.IllegalStateException: pool exhausted",
            "\tat a.B.c(B.java:1)",
            "\t... 3 more",
        ]);
        let ctx = PayloadContext::new(&p, Some("eu-west-1"));
        let (mut out, mut stats) = (Vec::new(), DocStats::default());
        let message = "ERROR java.lang.IllegalStateException: pool exhausted\n\tat a.B.c(B.java:1)\n\t... 3 more";
        write_joined(
            &cfg(),
            &ctx,
            &p.log_events,
            message,
            Kind::Joined,
            &mut out,
            &mut stats,
        );
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.ends_with("}\n") && line.matches('\n').count() == 1,
            "{line}"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["message"], message);
        assert_eq!(v["event"]["id"], "0");
        assert_eq!(
            v["event"]["joined"],
            serde_json::json!({"count": 2, "ids": ["1", "2"]})
        );
        assert_eq!(v["log"]["level"], "error");
        assert_eq!(v["@timestamp"], "2025-11-20T00:53:20.123Z");
        assert_eq!(stats.joined_documents, 1);
        assert_eq!(stats.continuation_documents, 0);
        // A lone orphan line is flagged, with nothing joined.
        let (mut out, mut stats) = (Vec::new(), DocStats::default());
        write_joined(
            &cfg(),
            &ctx,
            &p.log_events[1..2],
            "\tat a.B.c(B.java:1)",
            Kind::Orphan,
            &mut out,
            &mut stats,
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["event"]["joined"],
            serde_json::json!({"count": 0, "ids": [], "continuation": "orphan"})
        );
        assert!(v["log"].get("level").is_none());
        assert_eq!(
            (stats.joined_documents, stats.continuation_documents),
            (0, 1)
        );
        // Raw: the lines as they came.
        let raw = DocumentConfig {
            format: OutputFormat::Raw,
            ..cfg()
        };
        let mut out = Vec::new();
        write_joined(
            &raw,
            &ctx,
            &p.log_events,
            message,
            Kind::Joined,
            &mut out,
            &mut DocStats::default(),
        );
        assert_eq!(out, format!("{message}\n").as_bytes());
    }

    #[test]
    fn duplicate_keys_and_line_breaks_are_rewritten() {
        let (s, _) = doc(&cfg(), "{\"a\":1,\n\"a\":2}");
        assert!(
            s.ends_with("}\n") && s.matches('\n').count() == 1,
            "one line: {s}"
        );
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["json"], serde_json::json!({"a":2}));
    }

    #[test]
    fn non_object_or_invalid_json_is_plain_text() {
        for m in [
            "[1,2]",
            "{not json}",
            "{\"a\":1} trailing }",
            "{\"a\":\"\\ud800\"}",
        ] {
            let (s, stats) = doc(&cfg(), m);
            let v: Value = serde_json::from_str(&s).unwrap();
            assert!(v.get("json").is_none(), "{m}");
            assert_eq!(v["message"], m);
            assert_eq!(stats.json_messages, 0);
        }
    }

    #[test]
    fn raw_mode_is_the_blueprint_format() {
        let cfg = DocumentConfig {
            format: OutputFormat::Raw,
            ..cfg()
        };
        assert_eq!(doc(&cfg, "hello").0, "hello\n");
    }

    #[test]
    fn json_extraction_off() {
        let cfg = DocumentConfig {
            json: None,
            ..cfg()
        };
        let (s, _) = doc(&cfg, r#"{"a":1}"#);
        assert!(!s.contains("\"json\""));
    }

    #[test]
    fn megabyte_events_give_documents_within_the_documented_bound() {
        for (shape, msg) in crate::synth::worst_case_messages(crate::logs::cwl::MAX_MESSAGE_BYTES) {
            assert!(msg.len() <= crate::logs::cwl::MAX_MESSAGE_BYTES, "{shape}");
            let msg: &'static str = Box::leak(msg.into_boxed_str());
            let (s, _) = doc(&cfg(), msg);
            assert!(s.len() <= MAX_DOCUMENT_BYTES, "{shape}: {} bytes", s.len());
            assert!(
                s.len() <= 6 * msg.len() + 1024,
                "{shape}: {} bytes",
                s.len()
            );
            let out: Value = serde_json::from_str(&s).unwrap();
            assert_eq!(out["message"].as_str().unwrap(), msg, "{shape}");
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map("[a-e]{1,2}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any message gives exactly one valid JSON line that keeps the message verbatim, and the `json`
        /// namespace respects both caps.
        #[test]
        fn document_is_one_valid_line_within_caps(
            obj in proptest::collection::btree_map("[a-e]{1,2}", arb_json(), 0..8),
            pretty in any::<bool>(), max_depth in 1usize..5, max_keys in 0usize..20,
        ) {
            let v = Value::Object(obj.into_iter().collect());
            let msg = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { serde_json::to_string(&v).unwrap() };
            let cfg = DocumentConfig { json: Some(JsonLimits { max_depth, max_keys }), ..cfg() };
            let msg: &'static str = Box::leak(msg.into_boxed_str());
            let (s, _) = doc(&cfg, msg);
            prop_assert!(s.ends_with('\n'));
            prop_assert_eq!(s.matches('\n').count(), 1);
            let out: Value = serde_json::from_str(&s).unwrap();
            prop_assert_eq!(out["message"].as_str().unwrap(), msg);
            fn measure(v: &Value, depth: usize, keys: &mut usize, max_depth: &mut usize) {
                match v {
                    Value::Object(m) => { *max_depth = (*max_depth).max(depth); for (_, x) in m { *keys += 1; measure(x, depth + 1, keys, max_depth) } }
                    Value::Array(a) => { *max_depth = (*max_depth).max(depth); for x in a { measure(x, depth + 1, keys, max_depth) } }
                    _ => {}
                }
            }
            let (mut keys, mut depth) = (0, 0);
            measure(&out["json"], 1, &mut keys, &mut depth);
            prop_assert!(keys <= max_keys, "{} keys > {}", keys, max_keys);
            prop_assert!(depth <= max_depth, "depth {} > {}", depth, max_depth);
        }

        /// Escaping at its worst (control characters, quotes, backslashes, line breaks, multi-byte
        /// characters, JSON objects deeper than the depth cap whose subtrees are kept as escaped text):
        /// the document stays within six times the message, plus the fields around it.
        #[test]
        fn document_is_at_most_six_times_the_message(
            text in "[\\x00-\\x1f\"\\\\\u{7f}\u{2028}é€😀a ]{0,200}",
            nested in proptest::collection::vec("[\\x00-\\x1f\"\\\\é😀]{0,40}", 0..6),
            as_json in any::<bool>(),
        ) {
            let msg = if as_json {
                let mut v = Value::String(text);
                for (i, s) in nested.into_iter().enumerate() {
                    v = serde_json::json!({ format!("k{i}"): [v, s] });
                }
                serde_json::json!({"level": "error", "deep": v}).to_string()
            } else {
                text
            };
            let msg: &'static str = Box::leak(msg.into_boxed_str());
            let (s, _) = doc(&cfg(), msg);
            let fields = doc(&cfg(), "").0.len();
            prop_assert!(s.len() <= 6 * msg.len() + fields, "{} bytes for a {}-byte message", s.len(), msg.len());
            let out: Value = serde_json::from_str(&s).unwrap();
            prop_assert_eq!(out["message"].as_str().unwrap(), msg);
        }

        /// The word-at-a-time escaper writes exactly what `serde_json` writes (the reference), on strings
        /// dense in what needs escaping and on any string.
        #[test]
        fn json_strings_are_escaped_as_serde_json_escapes_them(
            dense in "[\\x00-\\x1f\\x7f\"\\\\a-z é😀\u{2028}]{0,80}",
            any_text in any::<String>(),
        ) {
            for text in [&dense, &any_text] {
                let mut ours = b"x".to_vec();
                write_json_str(&mut ours, text);
                let reference = serde_json::to_string(text.as_str()).unwrap();
                prop_assert_eq!(&ours[1..], reference.as_bytes());
            }
        }

        #[test]
        fn any_text_gives_one_valid_line(msg in any::<String>()) {
            let msg: &'static str = Box::leak(msg.into_boxed_str());
            let (s, _) = doc(&cfg(), msg);
            prop_assert_eq!(s.matches('\n').count(), 1);
            let out: Value = serde_json::from_str(&s).unwrap();
            prop_assert_eq!(out["message"].as_str().unwrap(), msg);
        }
    }
}
