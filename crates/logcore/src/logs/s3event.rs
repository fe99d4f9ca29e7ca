//! The envelopes that tell the search forwarder (and the Slack notifier) that an object arrived in S3.
//!
//! One Lambda invocation can carry: an S3 event notification (`{"Records":[{"eventSource":"aws:s3",…}]}`);
//! the same wrapped in SNS (`"EventSource":"aws:sns"`, the notification JSON in `Sns.Message`); SQS messages
//! (`"eventSource":"aws:sqs"`) whose body is an S3 notification, an SNS envelope (SNS→SQS) or, with raw
//! message delivery, the S3 notification itself; or an EventBridge "Object Created" event. Every record of
//! every notification is read, not just the first. `s3:TestEvent` messages (sent when a notification is
//! configured) and events other than object creation are ignored and counted.
//!
//! Keys in S3 notifications are URL-encoded with `+` for a space; they are decoded here. EventBridge events
//! carry the key as it is.

use std::borrow::Cow;

use serde_json::Value;

/// Why an envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EnvelopeError(String);

impl EnvelopeError {
    fn new(msg: impl Into<String>) -> Self {
        EnvelopeError(msg.into())
    }
}

/// One object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// The decoded key.
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    pub size: Option<u64>,
    /// The notification's event time (RFC 3339), when it has one.
    pub event_time: Option<String>,
    pub region: Option<String>,
}

/// What one notification held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notifications {
    pub objects: Vec<ObjectRef>,
    /// `s3:TestEvent` messages and events other than object creation.
    pub ignored: u64,
}

impl Notifications {
    fn extend(&mut self, other: Notifications) {
        self.objects.extend(other.objects);
        self.ignored += other.ignored;
    }
}

/// One SQS message and what it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMessage {
    pub message_id: String,
    pub content: Result<Notifications, EnvelopeError>,
    /// The message attribute [`RESTORE_ATTRIBUTE`] (`logpipe reindex --restore-index`): index this
    /// message's objects into the restore indices of that label rather than the live ones. Only a label:
    /// the forwarder makes the index names itself, under its own prefix (never a name, an endpoint or
    /// credentials taken from a message).
    pub restore: Option<String>,
    /// The message attribute [`REDRIVE_ATTRIBUTE`] (`logpipe redrive --queue-url`): the objects are the
    /// forwarder's own dead-letter objects, to index again; the value says what becomes of an object whose
    /// documents are all indexed (`move` or `delete`).
    pub redrive: Option<String>,
}

/// The SQS message attribute naming a restore label (a String attribute).
pub const RESTORE_ATTRIBUTE: &str = "logpipe.restore";
/// The SQS message attribute asking for a redrive of dead-letter objects (a String attribute).
pub const REDRIVE_ATTRIBUTE: &str = "logpipe.redrive";

/// A whole invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// S3 direct, SNS or EventBridge: the invocation fails as a whole.
    Direct(Notifications),
    /// SQS: failures are reported per message (`batchItemFailures`).
    Sqs(Vec<SqsMessage>),
}

/// Read the invocation event.
pub fn parse_invocation(event: &[u8]) -> Result<Invocation, EnvelopeError> {
    let v: Value = serde_json::from_slice(event)
        .map_err(|e| EnvelopeError::new(format!("event is not JSON: {e}")))?;
    parse_invocation_value(&v)
}

/// Read the invocation event, already parsed as JSON (as the Lambda runtime hands it over).
pub fn parse_invocation_value(v: &Value) -> Result<Invocation, EnvelopeError> {
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        let is_sqs = records
            .first()
            .and_then(|r| r.get("eventSource"))
            .and_then(Value::as_str)
            == Some("aws:sqs");
        if is_sqs {
            let mut out = Vec::with_capacity(records.len());
            for (i, r) in records.iter().enumerate() {
                let message_id = r
                    .get("messageId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| EnvelopeError::new(format!("SQS record {i} has no messageId")))?
                    .to_string();
                let content = match r.get("body").and_then(Value::as_str) {
                    Some(body) => parse_text(body, 0)
                        .map_err(|e| EnvelopeError::new(format!("SQS message {message_id}: {e}"))),
                    None => Err(EnvelopeError::new(format!(
                        "SQS message {message_id} has no body"
                    ))),
                };
                let attribute = |name: &str| {
                    r.get("messageAttributes")
                        .and_then(|a| a.get(name))
                        .and_then(|a| a.get("stringValue"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                out.push(SqsMessage {
                    message_id,
                    content,
                    restore: attribute(RESTORE_ATTRIBUTE),
                    redrive: attribute(REDRIVE_ATTRIBUTE),
                });
            }
            return Ok(Invocation::Sqs(out));
        }
    }
    parse_value(v, 0).map(Invocation::Direct)
}

/// A notification given as JSON text (an SQS body, an SNS message).
fn parse_text(text: &str, depth: usize) -> Result<Notifications, EnvelopeError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| EnvelopeError::new(format!("not JSON: {e}")))?;
    parse_value(&v, depth + 1)
}

/// SNS inside SQS inside … is at most a few levels deep; more is a loop or an attack.
const MAX_NESTING: usize = 4;

fn parse_value(v: &Value, depth: usize) -> Result<Notifications, EnvelopeError> {
    if depth > MAX_NESTING {
        return Err(EnvelopeError::new("notifications nested too deeply"));
    }
    // s3:TestEvent, sent once when a bucket notification is configured.
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notifications {
            objects: Vec::new(),
            ignored: 1,
        });
    }
    // SNS envelope delivered to SQS without raw delivery.
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        let msg = v
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| EnvelopeError::new("SNS notification without a Message"))?;
        return parse_text(msg, depth).map_err(|e| EnvelopeError::new(format!("SNS Message: {e}")));
    }
    // EventBridge.
    if let Some(detail_type) = v.get("detail-type").and_then(Value::as_str) {
        if v.get("source").and_then(Value::as_str) != Some("aws.s3")
            || detail_type != "Object Created"
        {
            return Ok(Notifications {
                objects: Vec::new(),
                ignored: 1,
            });
        }
        let detail = v
            .get("detail")
            .ok_or_else(|| EnvelopeError::new("EventBridge event without detail"))?;
        let bucket = str_at(detail, &["bucket", "name"])
            .ok_or_else(|| EnvelopeError::new("EventBridge event without detail.bucket.name"))?;
        let key = str_at(detail, &["object", "key"])
            .ok_or_else(|| EnvelopeError::new("EventBridge event without detail.object.key"))?;
        return Ok(Notifications {
            objects: vec![ObjectRef {
                bucket: bucket.to_string(),
                key: key.to_string(),
                version_id: str_at(detail, &["object", "version-id"]).map(str::to_string),
                etag: str_at(detail, &["object", "etag"]).map(str::to_string),
                size: detail
                    .get("object")
                    .and_then(|o| o.get("size"))
                    .and_then(Value::as_u64),
                event_time: v.get("time").and_then(Value::as_str).map(str::to_string),
                region: v.get("region").and_then(Value::as_str).map(str::to_string),
            }],
            ignored: 0,
        });
    }
    let records = v.get("Records").and_then(Value::as_array).ok_or_else(|| {
        EnvelopeError::new(
            "not an S3, SNS, SQS or EventBridge notification (no Records, Type or detail-type)",
        )
    })?;
    let mut out = Notifications::default();
    for (i, r) in records.iter().enumerate() {
        let source = r
            .get("eventSource")
            .or_else(|| r.get("EventSource"))
            .and_then(Value::as_str)
            .unwrap_or("");
        match source {
            "aws:s3" => out.extend(s3_record(r, i)?),
            "aws:sns" => {
                let msg = str_at(r, &["Sns", "Message"]).ok_or_else(|| {
                    EnvelopeError::new(format!("SNS record {i} has no Sns.Message"))
                })?;
                out.extend(
                    parse_text(msg, depth)
                        .map_err(|e| EnvelopeError::new(format!("SNS record {i}: {e}")))?,
                );
            }
            other => {
                return Err(EnvelopeError::new(format!(
                    "record {i} has eventSource {other:?} (expected aws:s3, aws:sns or aws:sqs)"
                )))
            }
        }
    }
    Ok(out)
}

fn s3_record(r: &Value, i: usize) -> Result<Notifications, EnvelopeError> {
    let name = r.get("eventName").and_then(Value::as_str).unwrap_or("");
    if !name.starts_with("ObjectCreated:") {
        return Ok(Notifications {
            objects: Vec::new(),
            ignored: 1,
        });
    }
    let bucket = str_at(r, &["s3", "bucket", "name"])
        .ok_or_else(|| EnvelopeError::new(format!("S3 record {i} has no s3.bucket.name")))?;
    let raw_key = str_at(r, &["s3", "object", "key"])
        .ok_or_else(|| EnvelopeError::new(format!("S3 record {i} has no s3.object.key")))?;
    let key = decode_key(raw_key)
        .map_err(|e| EnvelopeError::new(format!("S3 record {i}, key {raw_key:?}: {e}")))?;
    let object = r.get("s3").and_then(|s| s.get("object"));
    Ok(Notifications {
        objects: vec![ObjectRef {
            bucket: bucket.to_string(),
            key: key.into_owned(),
            version_id: str_at(r, &["s3", "object", "versionId"]).map(str::to_string),
            etag: str_at(r, &["s3", "object", "eTag"]).map(str::to_string),
            size: object.and_then(|o| o.get("size")).and_then(Value::as_u64),
            event_time: r
                .get("eventTime")
                .and_then(Value::as_str)
                .map(str::to_string),
            region: r
                .get("awsRegion")
                .and_then(Value::as_str)
                .map(str::to_string),
        }],
        ignored: 0,
    })
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Decode an S3 notification key: `+` is a space, `%XX` a byte; the result must be UTF-8.
pub fn decode_key(raw: &str) -> Result<Cow<'_, str>, String> {
    if !raw.contains(['+', '%']) {
        return Ok(Cow::Borrowed(raw));
    }
    let plus = raw.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&plus).collect();
    String::from_utf8(bytes)
        .map(Cow::Owned)
        .map_err(|e| format!("decoded key is not UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s3_event(keys: &[&str]) -> String {
        let recs: Vec<String> = keys
            .iter()
            .map(|k| {
                format!(
                    r#"{{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1","eventTime":"2026-11-21T10:00:00.000Z","eventName":"ObjectCreated:Put","s3":{{"bucket":{{"name":"logs"}},"object":{{"key":"{k}","size":12,"eTag":"abc","versionId":"v1","sequencer":"01"}}}}}}"#
                )
            })
            .collect();
        format!(r#"{{"Records":[{}]}}"#, recs.join(","))
    }

    fn keys(n: &Notifications) -> Vec<&str> {
        n.objects.iter().map(|o| o.key.as_str()).collect()
    }

    #[test]
    fn s3_direct_every_record_and_decoded_keys() {
        let ev = s3_event(&["a/b+c%2Bd.gz", "app%2F2026%2F11%2Fx.gz", "plain"]);
        let Invocation::Direct(n) = parse_invocation(ev.as_bytes()).unwrap() else {
            panic!("direct")
        };
        assert_eq!(keys(&n), ["a/b c+d.gz", "app/2026/11/x.gz", "plain"]);
        let o = &n.objects[0];
        assert_eq!(o.bucket, "logs");
        assert_eq!(o.version_id.as_deref(), Some("v1"));
        assert_eq!(o.etag.as_deref(), Some("abc"));
        assert_eq!(o.size, Some(12));
        assert_eq!(o.event_time.as_deref(), Some("2026-11-21T10:00:00.000Z"));
    }

    #[test]
    fn sns_wrapped_and_sqs_in_every_form() {
        let s3 = s3_event(&["k1", "k2"]);
        let sns = serde_json::json!({"Records":[
            {"EventSource":"aws:sns","Sns":{"Type":"Notification","Message": s3}},
            {"EventSource":"aws:sns","Sns":{"Type":"Notification","Message": s3_event(&["k3"])}}]});
        let Invocation::Direct(n) = parse_invocation(sns.to_string().as_bytes()).unwrap() else {
            panic!("direct")
        };
        assert_eq!(keys(&n), ["k1", "k2", "k3"]);

        let sns_envelope =
            serde_json::json!({"Type":"Notification","MessageId":"m","Message": s3_event(&["k4"])});
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"logs"}"#;
        let sqs = serde_json::json!({"Records":[
            {"eventSource":"aws:sqs","messageId":"1","body": s3},
            {"eventSource":"aws:sqs","messageId":"2","body": sns_envelope.to_string()},
            {"eventSource":"aws:sqs","messageId":"3","body": test_event},
            {"eventSource":"aws:sqs","messageId":"4","body": "not json"},
            {"eventSource":"aws:sqs","messageId":"5","body": s3_event(&["raw%20delivery"]),
             "messageAttributes":{"logpipe.restore":{"stringValue":"march","dataType":"String"},
                                  "logpipe.redrive":{"stringValue":"move","dataType":"String"}}}]});
        let Invocation::Sqs(msgs) = parse_invocation(sqs.to_string().as_bytes()).unwrap() else {
            panic!("sqs")
        };
        assert_eq!(msgs.len(), 5);
        assert_eq!(keys(msgs[0].content.as_ref().unwrap()), ["k1", "k2"]);
        assert_eq!(keys(msgs[1].content.as_ref().unwrap()), ["k4"]);
        let t = msgs[2].content.as_ref().unwrap();
        assert!(t.objects.is_empty());
        assert_eq!(t.ignored, 1);
        let err = msgs[3].content.as_ref().unwrap_err().to_string();
        assert!(
            err.contains("SQS message 4") && err.contains("not JSON"),
            "{err}"
        );
        assert_eq!(keys(msgs[4].content.as_ref().unwrap()), ["raw delivery"]);
        assert_eq!(msgs[4].restore.as_deref(), Some("march"));
        assert_eq!(msgs[4].redrive.as_deref(), Some("move"));
        assert!(msgs[..4]
            .iter()
            .all(|m| m.restore.is_none() && m.redrive.is_none()));
    }

    #[test]
    fn eventbridge_object_created_and_others() {
        let ev = r#"{"version":"0","id":"x","detail-type":"Object Created","source":"aws.s3","time":"2026-11-21T10:00:00Z","region":"eu-west-1","detail":{"bucket":{"name":"logs"},"object":{"key":"a b+c.gz","size":5,"etag":"e","version-id":"v"}}}"#;
        let Invocation::Direct(n) = parse_invocation(ev.as_bytes()).unwrap() else {
            panic!("direct")
        };
        assert_eq!(keys(&n), ["a b+c.gz"]);
        assert_eq!(n.objects[0].version_id.as_deref(), Some("v"));
        let deleted = ev.replace("Object Created", "Object Deleted");
        let Invocation::Direct(n) = parse_invocation(deleted.as_bytes()).unwrap() else {
            panic!("direct")
        };
        assert!(n.objects.is_empty());
        assert_eq!(n.ignored, 1);
    }

    #[test]
    fn removals_ignored_and_bad_input_named() {
        let ev = s3_event(&["k"]).replace("ObjectCreated:Put", "ObjectRemoved:Delete");
        let Invocation::Direct(n) = parse_invocation(ev.as_bytes()).unwrap() else {
            panic!("direct")
        };
        assert_eq!((n.objects.len(), n.ignored), (0, 1));
        for (input, want) in [
            ("[1]", "not an S3, SNS, SQS or EventBridge"),
            ("{", "not JSON"),
            (
                r#"{"Records":[{"eventSource":"aws:kinesis"}]}"#,
                "aws:kinesis",
            ),
            (
                r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"}}}]}"#,
                "no s3.object.key",
            ),
            (
                r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%FF"}}}]}"#,
                "not UTF-8",
            ),
        ] {
            let err = parse_invocation(input.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    proptest! {
        /// Any key survives S3's encoding (form-style: space as `+`) and our decoding unchanged.
        #[test]
        fn key_roundtrip(key in "\\PC{0,40}") {
            let encoded: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
            prop_assert_eq!(decode_key(&encoded).unwrap(), key);
        }

        /// No input makes the envelope parser panic.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_invocation(&bytes);
        }
    }
}
