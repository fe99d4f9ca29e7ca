//! Generators of realistic CloudWatch Logs payloads and Firehose transformation events, for sample events,
//! tests, fuzz seeds and benchmarks. Deterministic for a given seed.

use std::borrow::Cow;

use crate::base::codec::encode_base64;
use crate::logs::cwl::{LogEvent, MessageType, Payload};
use crate::transform::firehose::{KinesisRecordMetadata, TransformEvent, TransformRecord};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-west-1";
pub const DELIVERY_STREAM_ARN: &str =
    "arn:aws:firehose:eu-west-1:123456789012:deliverystream/logpipe-app-logs";
pub const KINESIS_STREAM_ARN: &str =
    "arn:aws:kinesis:eu-west-1:123456789012:stream/logpipe-central";

/// Where a generated event's records come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    DirectPut,
    Kinesis,
}

/// A CloudWatch Logs event id: 56 decimal digits, as AWS sends them.
pub fn event_id(timestamp_ms: i64, seq: u64) -> String {
    format!(
        "{:020}{:020}{:016}",
        timestamp_ms.max(0),
        seq,
        seq.wrapping_mul(2_654_435_761) % 10_000_000_000_000_000
    )
}

/// An owned log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub timestamp: i64,
    pub message: String,
}

/// Messages of `n` bytes (at most) in the shapes JSON escapes worst (quotes and backslashes double,
/// control characters become six bytes each), line breaks, multi-byte UTF-8, and a JSON message nested
/// deeper than the `json` depth cap whose subtree is kept as escaped text. With
/// [`crate::logs::cwl::MAX_MESSAGE_BYTES`], the largest events CloudWatch Logs accepts.
pub fn worst_case_messages(n: usize) -> Vec<(&'static str, String)> {
    let fill = |unit: &str| unit.repeat(n / unit.len());
    let json = {
        let head = "{\"level\":\"error\",\"a\":{\"b\":{\"c\":{\"d\":{\"e\":\"";
        let tail = "\"}}}}}";
        let room = n.saturating_sub(head.len() + tail.len());
        format!("{head}{}{tail}", "\\\"".repeat(room / 2))
    };
    vec![
        ("quotes", fill("\"")),
        ("backslashes", fill("\\")),
        ("control characters", fill("\u{1}")),
        ("line breaks and tabs", fill("\n\t")),
        ("multi-byte UTF-8", fill("é€😀")),
        ("JSON of quotes, nested past the depth cap", json),
    ]
}

/// One event per message, with ids and times from `t0_ms`.
pub fn events_of(messages: impl IntoIterator<Item = String>, t0_ms: i64) -> Vec<Event> {
    messages
        .into_iter()
        .enumerate()
        .map(|(i, message)| {
            let t = t0_ms + i as i64;
            Event {
                id: event_id(t, i as u64),
                timestamp: t,
                message,
            }
        })
        .collect()
}

/// A DirectPut transformation event of one record per message, each record a payload (log group
/// `/ecs/api`, stream `ecs/api/1`) of that one event; events 1 s apart from `t0_ms`.
pub fn event_per_message(messages: impl IntoIterator<Item = String>, t0_ms: i64) -> TransformEvent {
    let records = messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let events = events_of([m], t0_ms + i as i64 * 1000);
            let p = data_payload("/ecs/api", "ecs/api/1", &events);
            record(
                record_id(i as u64),
                record_data(&p),
                SourceKind::DirectPut,
                "pk-1",
                i as u64,
            )
        })
        .collect();
    event(SourceKind::DirectPut, records)
}

/// A DATA_MESSAGE payload with the given events.
pub fn data_payload<'a>(
    log_group: &'a str,
    log_stream: &'a str,
    events: &'a [Event],
) -> Payload<'a> {
    Payload {
        message_type: MessageType::Data,
        owner: Cow::Borrowed(ACCOUNT),
        log_group: Cow::Borrowed(log_group),
        log_stream: Cow::Borrowed(log_stream),
        subscription_filters: vec![Cow::Borrowed("logpipe-app-logs")],
        log_events: events
            .iter()
            .map(|e| LogEvent {
                id: Cow::Borrowed(&e.id),
                timestamp: e.timestamp,
                message: Cow::Borrowed(&e.message),
                literal: None,
            })
            .collect(),
        hops: 0,
    }
}

/// The CONTROL_MESSAGE CloudWatch Logs sends when a subscription is created.
pub fn control_payload() -> Payload<'static> {
    Payload {
        message_type: MessageType::Control,
        owner: Cow::Borrowed("CloudwatchLogs"),
        log_group: Cow::Borrowed(""),
        log_stream: Cow::Borrowed(""),
        subscription_filters: vec![],
        log_events: vec![LogEvent {
            id: Cow::Borrowed(""),
            timestamp: 1_763_700_000_000,
            message: Cow::Borrowed("CWL CONTROL MESSAGE: Checking health of destination Firehose."),
            literal: None,
        }],
        hops: 0,
    }
}

/// `base64(gzip(json))` of a payload, as a Firehose record's `data`.
pub fn record_data(payload: &Payload<'_>) -> String {
    encode_base64(&payload.encode_gzip(6))
}

/// A Firehose record, with Kinesis metadata when the source is a stream.
pub fn record(
    record_id: String,
    data: String,
    source: SourceKind,
    partition_key: &str,
    seq: u64,
) -> TransformRecord {
    TransformRecord {
        record_id,
        approximate_arrival_timestamp: Some(1_763_700_000_000 + seq as i64),
        data,
        kinesis_record_metadata: (source == SourceKind::Kinesis).then(|| KinesisRecordMetadata {
            shard_id: Some("shardId-000000000000".into()),
            partition_key: Some(partition_key.to_string()),
            approximate_arrival_timestamp: Some(1_763_700_000_000 + seq as i64),
            sequence_number: Some(format!(
                "4954698668313554428650745793632162567570019247115678{seq:04}"
            )),
            subsequence_number: Some(0),
        }),
    }
}

/// A record id in the shape Firehose uses.
pub fn record_id(seq: u64) -> String {
    format!("49546986683135544286507457936321625675700192471156785154{seq:08}")
}

/// An empty transformation event for the given source.
pub fn event(source: SourceKind, records: Vec<TransformRecord>) -> TransformEvent {
    TransformEvent {
        invocation_id: "invocationIdExample-0000-0000-0000-000000000000".into(),
        delivery_stream_arn: DELIVERY_STREAM_ARN.into(),
        source_kinesis_stream_arn: (source == SourceKind::Kinesis)
            .then(|| KINESIS_STREAM_ARN.into()),
        region: REGION.into(),
        records,
    }
}

/// Generates realistic application log messages: JSON request logs, plain-text lines, multi-line stack traces.
pub struct MessageGen {
    rng: fastrand::Rng,
    seq: u64,
}

const PATHS: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/users/42",
    "/health",
    "/api/v1/cart/checkout",
    "/static/app.js",
];
const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];

impl MessageGen {
    pub fn new(seed: u64) -> Self {
        MessageGen {
            rng: fastrand::Rng::with_seed(seed),
            seq: 0,
        }
    }

    /// The next message, roughly 40% JSON, 50% plain text, 10% multi-line stack traces.
    pub fn message(&mut self) -> String {
        self.seq += 1;
        let r = &mut self.rng;
        let level = LEVELS[r.usize(..LEVELS.len())];
        let path = PATHS[r.usize(..PATHS.len())];
        match r.u8(..10) {
            0..=3 => format!(
                r#"{{"level":"{}","time":"2026-11-21T10:{:02}:{:02}.{:03}Z","msg":"request completed","http":{{"method":"{}","path":"{}","status":{},"bytes":{}}},"duration_ms":{:.3},"trace_id":"{:032x}","user":{{"id":"u-{}","tenant":"t-{}"}}}}"#,
                level.to_ascii_lowercase(),
                r.u8(..60),
                r.u8(..60),
                r.u16(..1000),
                if r.bool() { "GET" } else { "POST" },
                path,
                [200, 200, 201, 204, 400, 404, 500][r.usize(..7)],
                r.u32(..100_000),
                r.f64() * 250.0,
                r.u128(..),
                r.u32(..100_000),
                r.u8(..20),
            ),
            4..=8 => format!(
                "{} [{}] {} 10.0.{}.{} \"{} {} HTTP/1.1\" {} {} \"Mozilla/5.0 (X11; Linux x86_64)\" rt={:.3} req={:016x}",
                "2026-11-21T10:00:00.000Z",
                level,
                ["api", "worker", "scheduler"][r.usize(..3)],
                r.u8(..),
                r.u8(..),
                if r.bool() { "GET" } else { "POST" },
                path,
                [200, 200, 304, 404, 500][r.usize(..5)],
                r.u32(..50_000),
                r.f64(),
                r.u64(..),
            ),
            _ => {
                let mut s = format!(
                    "ERROR Unhandled exception in request {:016x}: java.lang.IllegalStateException: order {} is in state \"CLOSED\"\n",
                    r.u64(..),
                    r.u32(..)
                );
                for depth in 0..r.usize(4..14) {
                    s.push_str(&format!(
                        "\tat com.example.shop.{}.{}(Service.java:{})\n",
                        ["OrderService", "CartController", "PaymentGateway", "Repository"][depth % 4],
                        ["process", "handle", "lambda$apply$0", "invoke"][r.usize(..4)],
                        r.u16(10..900)
                    ));
                }
                s
            }
        }
    }

    /// `n` events starting at `t0` (milliseconds), one to a few milliseconds apart.
    pub fn events(&mut self, n: usize, t0: i64) -> Vec<Event> {
        let mut t = t0;
        (0..n)
            .map(|_| {
                t += self.rng.i64(0..5);
                let id = event_id(t, self.seq);
                Event {
                    id,
                    timestamp: t,
                    message: self.message(),
                }
            })
            .collect()
    }
}

/// Stack traces as the runtimes write them one line an event (stdout without a multiline setting in the log
/// driver): Java, Python, Go, Node.js and .NET, from `examples/stack-traces.log`.
pub const TRACES: &[&[&str]] = &[
    &[
        "java.lang.IllegalStateException: connection pool exhausted",
        "\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181) ~[HikariCP-5.1.0.jar:na]",
        "\tat com.example.orders.Repo.save(Repo.java:42) ~[classes/:na]",
        "\tat com.example.orders.OrderController.place(OrderController.java:57) ~[classes/:na]",
        "Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.",
        "\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696) ~[HikariCP-5.1.0.jar:na]",
        "\t... 87 common frames omitted",
    ],
    &[
        "Traceback (most recent call last):",
        "  File \"/app/payments.py\", line 41, in charge",
        "    resp = client.post(url, json=body, timeout=5)",
        "  File \"/usr/local/lib/python3.12/site-packages/httpx/_client.py\", line 1145, in post",
        "    return self.request(\"POST\", url, json=json, timeout=timeout)",
        "httpx.ConnectTimeout: timed out",
    ],
    &[
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a3f2e]",
        "goroutine 1 [running]:",
        "main.(*Server).handle(0x0, {0x7f1c, 0xc000012345})",
        "\t/app/server.go:42 +0x2e",
        "main.main()",
        "\t/app/main.go:17 +0x65",
        "exit status 2",
    ],
    &[
        "TypeError: Cannot read properties of undefined (reading 'id')",
        "    at Frobnicator.refrobulate (/app/src/business-logic.js:424:21)",
        "    at Actor.<anonymous> (/app/src/actors.js:400:8)",
        "    at async Promise.all (index 0)",
    ],
    &[
        "Unhandled exception. System.InvalidOperationException: The order could not be saved.",
        " ---> System.Net.Http.HttpRequestException: Connection refused (inventory:80)",
        "   at Shop.Inventory.Client.ReserveAsync(Guid sku) in /src/Shop/Inventory/Client.cs:line 31",
        "   --- End of inner exception stack trace ---",
        "   at Shop.Orders.Service.PlaceAsync(Order order) in /src/Shop/Orders/Service.cs:line 77",
    ],
];

/// Replace messages of `events` with the lines of [`TRACES`] (in turn) so that about `percent` of them
/// are stack trace lines, each trace one line an event; the rest keep their messages. Returns the trace
/// lines written.
pub fn with_trace_lines(events: &mut [Event], percent: u32) -> usize {
    let (mut written, mut next) = (0usize, 0usize);
    let mut i = 0;
    while i < events.len() {
        if percent > 0 && written * 100 < (i + 1) * percent as usize {
            let trace = TRACES[next % TRACES.len()];
            next += 1;
            for (ev, line) in events[i..].iter_mut().zip(trace.iter()) {
                ev.message = (*line).to_string();
                written += 1;
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    written
}

/// A batch of DATA_MESSAGE records whose compressed payloads add up to at least `compressed_bytes`,
/// like a full Firehose buffer. Each record holds `events_per_record` events.
pub fn batch(
    source: SourceKind,
    compressed_bytes: usize,
    events_per_record: usize,
    seed: u64,
) -> TransformEvent {
    batch_with_traces(source, compressed_bytes, events_per_record, seed, 0)
}

/// [`batch`], with about `trace_percent` of the events lines of stack traces one line an event
/// ([`with_trace_lines`]).
pub fn batch_with_traces(
    source: SourceKind,
    compressed_bytes: usize,
    events_per_record: usize,
    seed: u64,
    trace_percent: u32,
) -> TransformEvent {
    let mut messages = MessageGen::new(seed);
    let mut records = Vec::new();
    let mut total = 0usize;
    let mut t0 = 1_763_700_000_000i64;
    let mut seq = 0u64;
    while total < compressed_bytes {
        let mut events = messages.events(events_per_record, t0);
        with_trace_lines(&mut events, trace_percent);
        t0 = events.last().map_or(t0, |e| e.timestamp);
        let group = ["/ecs/api", "/ecs/worker", "/aws/lambda/checkout"][seq as usize % 3];
        let stream = format!("ecs/app/{:032x}", seq % 7);
        let payload = data_payload(group, &stream, &events);
        let gz = payload.encode_gzip(6);
        total += gz.len();
        records.push(record(
            record_id(seq),
            encode_base64(&gz),
            source,
            &stream,
            seq,
        ));
        seq += 1;
    }
    event(source, records)
}

/// Which database audit log to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// Aurora MySQL advanced auditing (`/aws/rds/cluster/<name>/audit`).
    Mysql,
    /// Aurora PostgreSQL log with pgaudit (`/aws/rds/cluster/<name>/postgresql`).
    Postgres,
}

impl AuditKind {
    pub fn log_group(self) -> &'static str {
        match self {
            AuditKind::Mysql => "/aws/rds/cluster/shop-db/audit",
            AuditKind::Postgres => "/aws/rds/cluster/shop-db/postgresql",
        }
    }
}

const TABLES: &[&str] = &[
    "orders",
    "customers",
    "order_items",
    "payments",
    "inventory",
];
const USERS: &[&str] = &["app", "reporting", "admin", "etl"];

/// Realistic audit lines: mostly queries (some multi-line, with quotes and commas), connects and
/// disconnects, table events, failed logins and the odd password change.
pub fn audit_events(kind: AuditKind, n: usize, t0_ms: i64, seed: u64) -> Vec<Event> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n as u64)
        .map(|i| {
            let ts = t0_ms + (i as i64) * 3 + rng.i64(0..3);
            let user = USERS[rng.usize(..USERS.len())];
            let table = TABLES[rng.usize(..TABLES.len())];
            let conn = 1000 + rng.u32(0..200);
            let ip = format!("10.0.{}.{}", rng.u8(0..4), rng.u8(2..250));
            let id = 5000 + seed * 1_000_000 + i;
            let sql = match rng.u8(0..10) {
                0..=3 => format!("SELECT id, status, total FROM {table} WHERE customer_id = {} AND status IN ('open', 'paid') ORDER BY created_at DESC LIMIT 50", rng.u32(1..100_000)),
                4 | 5 => format!("UPDATE {table} SET status = 'shipped', note = 'left at door, ring \"twice\"' WHERE id = {}", rng.u32(1..1_000_000)),
                6 => format!("INSERT INTO {table} (customer_id, total, comment)\nVALUES ({}, {}.{:02}, 'O''Brien, J.')\nRETURNING id", rng.u32(1..100_000), rng.u32(1..500), rng.u8(0..100)),
                7 => "ALTER USER 'etl'@'%' IDENTIFIED BY 'Sup3r,S3cr3t!'".to_string(),
                _ => format!("DELETE FROM {table} WHERE created_at < NOW() - INTERVAL 90 DAY"),
            };
            let message = match kind {
                AuditKind::Mysql => {
                    let ts_us = ts * 1000 + rng.i64(0..1000);
                    match rng.u8(0..20) {
                        0 => format!("{ts_us},ip-10-0-1-23,{user},{ip},{conn},0,CONNECT,shop,,0"),
                        1 => format!("{ts_us},ip-10-0-1-23,{user},{ip},{conn},0,DISCONNECT,shop,,0"),
                        2 => format!("{ts_us},ip-10-0-1-23,mallory,203.0.113.{},{conn},0,FAILED_CONNECT,,,1045", rng.u8(1..250)),
                        3 | 4 => format!("{ts_us},ip-10-0-1-23,{user},{ip},{conn},{id},READ,shop,{table},"),
                        _ => {
                            let mut q = String::new();
                            crate::audit::mysql::quote(&sql, &mut q);
                            format!("{ts_us},ip-10-0-1-23,{user},{ip},{conn},{id},QUERY,shop,{q},{}", if rng.u8(0..50) == 0 { 1064 } else { 0 })
                        }
                    }
                }
                AuditKind::Postgres => {
                    let t = crate::base::time::DateTimeParts::from_millis(ts);
                    let prefix = format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC:{ip}({}):{user}@shop:[{}]:", t.year, t.month, t.day, t.hour, t.minute, t.second, 40000 + conn, 20000 + conn);
                    match rng.u8(0..20) {
                        0 => format!("{prefix}LOG:  connection authorized: user={user} database=shop application_name=psql SSL enabled (protocol=TLSv1.3)"),
                        1 => format!("{prefix}FATAL:  password authentication failed for user \"mallory\""),
                        _ => {
                            let sql = sql.replace("'etl'@'%' IDENTIFIED BY", "etl PASSWORD").replace("INTERVAL 90 DAY", "INTERVAL '90 days'");
                            let (class, command) = if sql.starts_with("SELECT") { ("READ", "SELECT") } else if sql.starts_with("ALTER USER") { ("ROLE", "ALTER ROLE") } else { ("WRITE", sql.split(' ').next().unwrap_or("")) };
                            let mut q = String::new();
                            crate::audit::pgaudit::quote(&sql, &mut q);
                            let kind = if rng.bool() { "SESSION" } else { "OBJECT" };
                            format!("{prefix}LOG:  AUDIT: {kind},{},1,{class},{command},TABLE,public.{table},{q},<not logged>", id % 100_000)
                        }
                    }
                }
            };
            Event {
                id: event_id(ts, id),
                timestamp: ts,
                message,
            }
        })
        .collect()
}

/// A Firehose event of audit-log records of about `compressed_bytes` of compressed payloads.
pub fn audit_batch(
    kind: AuditKind,
    compressed_bytes: usize,
    events_per_record: usize,
    seed: u64,
) -> TransformEvent {
    let mut records = Vec::new();
    let mut total = 0usize;
    let mut t0 = 1_763_700_000_000i64;
    let mut seq = 0u64;
    while total < compressed_bytes {
        let events = audit_events(kind, events_per_record, t0, seed.wrapping_add(seq));
        t0 = events.last().map_or(t0, |e| e.timestamp);
        let stream = format!("shop-db-instance-{}", seq % 2 + 1);
        let mut payload = data_payload(kind.log_group(), &stream, &events);
        payload.subscription_filters = vec![Cow::Borrowed("logpipe-audit")];
        let gz = payload.encode_gzip(6);
        total += gz.len();
        records.push(record(
            record_id(seq),
            encode_base64(&gz),
            SourceKind::DirectPut,
            &stream,
            seq,
        ));
        seq += 1;
    }
    event(SourceKind::DirectPut, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_is_deterministic_and_sized() {
        let a = batch(SourceKind::Kinesis, 50_000, 50, 1);
        let b = batch(SourceKind::Kinesis, 50_000, 50, 1);
        assert_eq!(a, b);
        assert!(a
            .records
            .iter()
            .all(|r| r.kinesis_record_metadata.is_some()));
        assert_eq!(
            a.source().unwrap(),
            crate::transform::firehose::Source::KinesisStream {
                name: "logpipe-central".into(),
                arn: KINESIS_STREAM_ARN.into()
            }
        );
        assert_eq!(event_id(1_763_700_000_000, 3).len(), 56);
    }
}
