//! CloudWatch Logs subscription payloads: `base64(gzip(json))` as subscription filters deliver them to
//! Firehose, Kinesis and Lambda.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::base::codec::{self, DecodeError};

mod envelope;

/// The longest message CloudWatch Logs accepts in one event: a `PutLogEvents` batch is at most 1,048,576
/// bytes, counted as the UTF-8 of its messages plus 26 bytes per event, and one event at most 1 MB
/// (it was 256 KB until April 2025). Subscription payloads carry such events whole.
pub const MAX_MESSAGE_BYTES: usize = 1_048_576 - 26;

/// `messageType` of a subscription payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MessageType {
    #[serde(rename = "DATA_MESSAGE")]
    Data,
    /// Sent by CloudWatch Logs to check that the destination is reachable; carries no application logs.
    #[serde(rename = "CONTROL_MESSAGE")]
    Control,
}

/// One log event. `id` arrives as a string from AWS; some emulators send a number, which is accepted.
#[derive(Debug, Clone, Eq, Deserialize, Serialize)]
pub struct LogEvent<'a> {
    #[serde(borrow, deserialize_with = "string_or_number")]
    pub id: Cow<'a, str>,
    /// Event time in milliseconds since the Unix epoch.
    pub timestamp: i64,
    #[serde(borrow)]
    pub message: Cow<'a, str>,
    /// The message as a JSON string literal (quotes included) as the payload spelled it, when that is
    /// byte for byte what [`crate::logs::document::write_json_str`] writes for `message`: documents copy
    /// it rather than escape the message again. Only [`PayloadText`] finds it; not part of equality.
    #[serde(skip)]
    pub literal: Option<&'a str>,
}

impl PartialEq for LogEvent<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.timestamp == other.timestamp && self.message == other.message
    }
}

/// A decoded subscription payload. Borrows from the decompressed bytes where no JSON escape forces a copy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload<'a> {
    /// How many times logpipe has already re-ingested this payload (absent on payloads from CloudWatch Logs).
    /// Serialized first, so that [`peek_hops`] finds it in the first bytes of a record.
    #[serde(default, skip_serializing_if = "is_zero", rename = "logpipeHops")]
    pub hops: u32,
    #[serde(deserialize_with = "message_type")]
    pub message_type: MessageType,
    #[serde(borrow, default)]
    pub owner: Cow<'a, str>,
    #[serde(borrow, default)]
    pub log_group: Cow<'a, str>,
    #[serde(borrow, default)]
    pub log_stream: Cow<'a, str>,
    #[serde(borrow, default)]
    pub subscription_filters: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub log_events: Vec<LogEvent<'a>>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Payload<'_> {
    /// Parse the decompressed JSON of a payload.
    pub fn parse(json: &[u8]) -> Result<Payload<'_>, DecodeError> {
        let text = std::str::from_utf8(json).map_err(|e| DecodeError::Utf8 {
            offset: e.valid_up_to(),
        })?;
        Payload::parse_str(text)
    }

    fn parse_str(text: &str) -> Result<Payload<'_>, DecodeError> {
        serde_json::from_str(text).map_err(|e| match unknown_type(&e) {
            Some(t) => DecodeError::UnknownMessageType(t),
            None => DecodeError::Json(e.to_string()),
        })
    }

    /// Serialize back to the wire form: gzip of the JSON (used to re-ingest a payload or a part of one).
    pub fn encode_gzip(&self, level: u32) -> Vec<u8> {
        // Serializing borrowed strings and integers into a Vec cannot fail.
        let json = serde_json::to_vec(self).expect("payload serializes");
        codec::gzip(&json, level)
    }

    /// A payload with the same metadata and the given events.
    pub fn with_events<'b>(&'b self, events: &'b [LogEvent<'b>], hops: u32) -> Payload<'b> {
        Payload {
            message_type: self.message_type,
            owner: Cow::Borrowed(&self.owner),
            log_group: Cow::Borrowed(&self.log_group),
            log_stream: Cow::Borrowed(&self.log_stream),
            subscription_filters: self
                .subscription_filters
                .iter()
                .map(|s| Cow::Borrowed(s.as_ref()))
                .collect(),
            log_events: events.iter().map(LogEvent::reborrow).collect(),
            hops,
        }
    }
}

/// A payload's decompressed JSON, kept with the strings its escapes decode to so that its [`Payload`]
/// borrows every string (what [`Payload::parse`] gives each string with an escape a `String` of its own
/// for). The payload is the one [`Payload::parse`] gives.
#[derive(Debug)]
pub struct PayloadText {
    json: String,
    decoded: String,
    layout: Option<envelope::Layout>,
}

impl PayloadText {
    /// Read the decompressed JSON of a payload (as UTF-8 first, the one error given here).
    pub fn new(json: Vec<u8>) -> Result<PayloadText, DecodeError> {
        let json = String::from_utf8(json).map_err(|e| DecodeError::Utf8 {
            offset: e.utf8_error().valid_up_to(),
        })?;
        let mut decoded = Vec::new();
        let layout = envelope::index(&json, &mut decoded);
        // Decoded from UTF-8 text with escapes that stand for characters, it is UTF-8 (checked all the
        // same: serde_json reads the payload if it were not).
        match String::from_utf8(decoded) {
            Ok(decoded) => Ok(PayloadText {
                json,
                decoded,
                layout,
            }),
            Err(_) => Ok(PayloadText {
                json,
                decoded: String::new(),
                layout: None,
            }),
        }
    }

    /// The payload, or why it is not one.
    pub fn payload(&self) -> Result<Payload<'_>, DecodeError> {
        match &self.layout {
            Some(layout) => Ok(layout.payload(&self.json, &self.decoded)),
            None => Payload::parse_str(&self.json),
        }
    }
}

impl LogEvent<'_> {
    fn reborrow(&self) -> LogEvent<'_> {
        LogEvent {
            id: Cow::Borrowed(&self.id),
            timestamp: self.timestamp,
            message: Cow::Borrowed(&self.message),
            literal: self.literal,
        }
    }
}

/// The re-ingestion count of a record (its base64 `data`) from its first few hundred bytes, without
/// decompressing the rest: re-ingested payloads start with `{"logpipeHops":N`. 0 for anything else
/// (payloads from CloudWatch Logs, or data that is not gzip at all).
pub fn peek_hops(data_base64: &[u8]) -> u32 {
    const PREFIX: &[u8] = br#"{"logpipeHops":"#;
    // Enough for the gzip header, a dynamic Huffman block header and the first literals.
    let head = &data_base64[..data_base64.len().min(512) / 4 * 4];
    let Ok(gz) = codec::decode_base64(head) else {
        return 0;
    };
    let mut out = [0u8; 32];
    let n = if gz.starts_with(PREFIX) {
        // An uncompressed envelope (the stream's Decompression processor ran first).
        let n = gz.len().min(out.len());
        out[..n].copy_from_slice(&gz[..n]);
        n
    } else {
        // Re-ingested payloads have a plain 10-byte gzip header (no name, comment or extra field): inflate
        // the deflate data behind it directly, with no reader and no buffer to set up (a tenth of the cost).
        if gz.len() <= 10 || gz[..4] != [0x1f, 0x8b, 8, 0] {
            return 0;
        }
        let mut d = flate2::Decompress::new(false);
        if d.decompress(&gz[10..], &mut out, flate2::FlushDecompress::None)
            .is_err()
        {
            return 0;
        }
        usize::try_from(d.total_out()).unwrap_or(0).min(out.len())
    };
    let Some(rest) = out[..n].strip_prefix(PREFIX) else {
        return 0;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    // Digits cut off by the end of what was read are not a number to trust.
    if digits == 0 || digits == rest.len() {
        return 0;
    }
    std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// The JSON text of a record's data: gzip decompressed with the bomb guard (what CloudWatch Logs writes),
/// or the envelope as it is when the delivery stream's Decompression processor ran first. Anything else —
/// most likely the bare messages of Firehose's message extraction — is refused with a reason.
pub fn decompress(data: &[u8], cap: usize) -> Result<Vec<u8>, DecodeError> {
    if data.starts_with(&[0x1f, 0x8b]) {
        return codec::gunzip_capped(data, cap);
    }
    // A delivery stream with Firehose's Decompression processor hands the envelope over as JSON. Told by
    // content, not configuration: a stream's processors can change under a deployed function.
    let start = data.iter().position(|b| !b.is_ascii_whitespace());
    // Bare JSON messages start with `{` too: an envelope names its `messageType`.
    let is_envelope = start.is_some_and(|i| data[i] == b'{')
        && memchr::memmem::find(data, b"\"messageType\"").is_some();
    if !is_envelope {
        let head = &data[start.unwrap_or(0)..data.len().min(start.unwrap_or(0) + 40)];
        return Err(DecodeError::NotAnEnvelope(
            String::from_utf8_lossy(head).into_owned(),
        ));
    }
    if data.len() > cap {
        return Err(DecodeError::TooLarge { cap });
    }
    Ok(data.to_vec())
}

const UNKNOWN_TYPE_MARK: &str = "logpipe-unknown-message-type:";

fn unknown_type(e: &serde_json::Error) -> Option<String> {
    let msg = e.to_string();
    let start = msg.find(UNKNOWN_TYPE_MARK)? + UNKNOWN_TYPE_MARK.len();
    let rest = &msg[start..];
    let end = rest.find(":end").unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

fn message_type<'de, D: Deserializer<'de>>(d: D) -> Result<MessageType, D::Error> {
    let s: Cow<'de, str> = Cow::deserialize(d)?;
    match s.as_ref() {
        "DATA_MESSAGE" => Ok(MessageType::Data),
        "CONTROL_MESSAGE" => Ok(MessageType::Control),
        other => Err(de::Error::custom(format_args!(
            "{UNKNOWN_TYPE_MARK}{other}:end"
        ))),
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an event id as a string or a number")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Err(E::custom(format_args!("event id {v} is not an integer")))
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/ecs/api",
        "logStream":"ecs/api/abc","subscriptionFilters":["to-firehose"],"logEvents":[
        {"id":"37516444594521586592812186580224494765213040950545940480","timestamp":1763600000000,"message":"hello"},
        {"id":42,"timestamp":1763600000001,"message":"{\"level\":\"error\"}"}]}"#;

    #[test]
    fn parses_data_message_with_string_and_number_ids() {
        let p = Payload::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(p.message_type, MessageType::Data);
        assert_eq!(p.owner, "123456789012");
        assert_eq!(p.log_group, "/ecs/api");
        assert_eq!(p.subscription_filters, vec!["to-firehose"]);
        assert_eq!(p.log_events.len(), 2);
        assert_eq!(
            p.log_events[0].id,
            "37516444594521586592812186580224494765213040950545940480"
        );
        assert_eq!(p.log_events[1].id, "42");
        assert_eq!(p.log_events[1].message, r#"{"level":"error"}"#);
        assert_eq!(p.hops, 0);
    }

    #[test]
    fn control_message() {
        let p = Payload::parse(
            br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"",
            "subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#,
        )
        .unwrap();
        assert_eq!(p.message_type, MessageType::Control);
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            Payload::parse(br#"{"messageType":"WHAT","logEvents":[]}"#),
            Err(DecodeError::UnknownMessageType("WHAT".into()))
        );
        assert!(matches!(
            Payload::parse(b"{\"messageType\":"),
            Err(DecodeError::Json(_))
        ));
        assert!(
            matches!(Payload::parse(br#"{"logEvents":[]}"#), Err(DecodeError::Json(m)) if m.contains("messageType"))
        );
        assert_eq!(
            Payload::parse(b"{\"a\":\"\xff\"}"),
            Err(DecodeError::Utf8 { offset: 6 })
        );
        assert!(
            matches!(Payload::parse(br#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":1.5,"timestamp":1,"message":""}]}"#),
            Err(DecodeError::Json(m)) if m.contains("not an integer"))
        );
    }

    #[test]
    fn re_encode_keeps_metadata_and_counts_hops() {
        let p = Payload::parse(SAMPLE.as_bytes()).unwrap();
        let part = p.with_events(&p.log_events[1..], 2);
        let gz = part.encode_gzip(1);
        let json = decompress(&gz, 1 << 20).unwrap();
        let back = Payload::parse(&json).unwrap();
        assert_eq!(back.hops, 2);
        assert!(json.starts_with(br#"{"logpipeHops":2,"messageType""#));
        assert_eq!(peek_hops(codec::encode_base64(&gz).as_bytes()), 2);
        assert_eq!(
            peek_hops(codec::encode_base64(&p.encode_gzip(6)).as_bytes()),
            0
        );
        assert_eq!(peek_hops(b"not base64 at all"), 0);
        assert_eq!(peek_hops(b""), 0);
        assert_eq!(back.log_group, "/ecs/api");
        assert_eq!(back.log_events, p.log_events[1..].to_vec());
    }

    #[test]
    fn uncompressed_envelopes_are_read_and_bare_messages_refused() {
        let p = Payload::parse(SAMPLE.as_bytes()).unwrap();
        let gz = p.encode_gzip(1);
        let plain = decompress(&gz, 1 << 20).unwrap();
        // What the Decompression processor hands over: the same JSON, uncompressed.
        assert_eq!(decompress(&plain, 1 << 20).unwrap(), plain);
        let spaced = [b"\n  ".as_slice(), &plain].concat();
        assert_eq!(
            Payload::parse(&decompress(&spaced, 1 << 20).unwrap()).unwrap(),
            p
        );
        assert!(matches!(
            decompress(&plain, plain.len() - 1),
            Err(DecodeError::TooLarge { .. })
        ));
        // Message extraction: bare messages, text or JSON lines.
        for bare in [
            &b"GET /health 200\nGET /orders 500\n"[..],
            br#"{"level":"error","msg":"payment declined"}
{"level":"info","msg":"ok"}
"#,
            b"",
        ] {
            let e = decompress(bare, 1 << 20).unwrap_err();
            assert!(matches!(e, DecodeError::NotAnEnvelope(_)), "{e}");
            assert!(e.to_string().contains("message extraction"), "{e}");
        }
        // The hop count is found in uncompressed re-ingested envelopes too.
        let part = p.with_events(&p.log_events[1..], 3);
        let json = decompress(&part.encode_gzip(1), 1 << 20).unwrap();
        assert_eq!(peek_hops(codec::encode_base64(&json).as_bytes()), 3);
        assert_eq!(peek_hops(codec::encode_base64(&plain).as_bytes()), 0);
    }

    proptest! {
        #[test]
        fn gzip_and_uncompressed_envelopes_decode_alike(
            group in "\\PC{0,40}",
            events in proptest::collection::vec(("[0-9]{1,56}", any::<i64>(), any::<String>()), 0..20),
            hops in 0u32..5,
        ) {
            let p = Payload {
                message_type: MessageType::Data,
                owner: "123456789012".into(), log_group: group.into(), log_stream: "s".into(),
                subscription_filters: vec!["f".into()],
                log_events: events.into_iter().map(|(id, timestamp, message)| LogEvent { id: id.into(), timestamp, message: message.into(), literal: None }).collect(),
                hops,
            };
            let gz = p.encode_gzip(1);
            let json = decompress(&gz, usize::MAX).unwrap();
            prop_assert_eq!(&decompress(&json, usize::MAX).unwrap(), &json);
            prop_assert_eq!(peek_hops(codec::encode_base64(&json).as_bytes()), hops);
            prop_assert_eq!(Payload::parse(&json).unwrap(), p);
        }

        #[test]
        fn payload_round_trips(
            owner in "[0-9]{12}", group in "\\PC{0,40}", stream in "\\PC{0,40}",
            events in proptest::collection::vec(("[0-9]{1,56}", any::<i64>(), any::<String>()), 0..20),
            hops in prop_oneof![0u32..5, any::<u32>()],
        ) {
            let p = Payload {
                message_type: MessageType::Data,
                owner: owner.into(), log_group: group.into(), log_stream: stream.into(),
                subscription_filters: vec!["f".into()],
                log_events: events.into_iter().map(|(id, timestamp, message)| LogEvent { id: id.into(), timestamp, message: message.into(), literal: None }).collect(),
                hops,
            };
            let gz = p.encode_gzip(1);
            let json = decompress(&gz, usize::MAX).unwrap();
            // The peek finds the hops of any payload, at any compression level, from its first bytes.
            prop_assert_eq!(peek_hops(codec::encode_base64(&gz).as_bytes()), hops);
            prop_assert_eq!(peek_hops(codec::encode_base64(&p.encode_gzip(9)).as_bytes()), hops);
            prop_assert_eq!(Payload::parse(&json).unwrap(), p);
        }

        #[test]
        fn peek_hops_never_invents_hops(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let hops = peek_hops(&data);
            let json = codec::decode_base64(&data).ok().and_then(|gz| decompress(&gz, 1 << 20).ok());
            if let (true, Some(p)) = (hops > 0, json.as_deref().and_then(|j| Payload::parse(j).ok())) {
                prop_assert_eq!(p.hops, hops);
            }
        }

        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Payload::parse(&data);
        }
    }
}
