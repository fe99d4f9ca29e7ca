//! Documents built from real-shaped audit lines of both engines.

use serde_json::Value;

use super::*;
use crate::logs::cwl::{LogEvent, MessageType, Payload};

fn payload(group: &str) -> Payload<'static> {
    Payload {
        message_type: MessageType::Data,
        owner: "123456789012".into(),
        log_group: group.to_string().into(),
        log_stream: "shop-instance-1".into(),
        subscription_filters: vec!["logpipe-audit".into()],
        log_events: Vec::new(),
        hops: 0,
    }
}

fn doc_with(cfg: &AuditConfig, group: &str, line: &str) -> (Value, AuditStats) {
    let p = payload(group);
    let ctx = AuditContext::new(&p, cfg, Some("eu-west-1"));
    let ev = LogEvent {
        id: "37250000000000000000000000000000000000000000000000000001".into(),
        timestamp: 1_763_719_200_999,
        message: line.into(),
        literal: None,
    };
    let mut out = Vec::new();
    let mut stats = AuditStats::default();
    write_audit_event(cfg, &ctx, &ev, &mut out, &mut stats);
    assert_eq!(out.last(), Some(&b'\n'));
    assert!(!out[..out.len() - 1].contains(&b'\n'), "one line");
    let v: Value = serde_json::from_slice(&out).expect("document is JSON");
    assert_eq!(v["event"]["id"], ev.id.as_ref());
    assert_eq!(v["log"]["group"], group);
    assert_eq!(v["cloud"]["account"]["id"], "123456789012");
    assert_eq!(v["cloud"]["region"], "eu-west-1");
    (v, stats)
}

fn doc(group: &str, line: &str) -> Value {
    doc_with(&AuditConfig::default(), group, line).0
}

const MYSQL: &str = "/aws/rds/cluster/shop/audit";
const PG: &str = "/aws/rds/cluster/shop/postgresql";

#[test]
fn mysql_query_document() {
    let line = "1763719200123456,ip-10-0-1-23,app,10.0.1.50,42,1337,QUERY,shop,'SELECT name, total FROM orders WHERE note = \\'a,b\\'\nLIMIT 5',0";
    let v = doc(MYSQL, line);
    assert_eq!(v["@timestamp"], "2025-11-21T10:00:00.123456Z");
    assert_eq!(v["message"], line);
    assert_eq!(v["event"]["outcome"], "success");
    let db = &v["db"];
    assert_eq!(db["engine"], "aurora-mysql");
    assert_eq!(db["instance"], "shop");
    assert_eq!(db["server"], "ip-10-0-1-23");
    assert_eq!(db["user"], "app");
    assert_eq!(db["name"], "shop");
    assert_eq!(db["connection_id"], "42");
    assert_eq!(db["query_id"], "1337");
    assert_eq!(
        db["statement"],
        "SELECT name, total FROM orders WHERE note = 'a,b'\nLIMIT 5"
    );
    assert_eq!(db["return_code"], 0);
    assert_eq!(v["client"]["address"], "10.0.1.50");
    assert_eq!(v["audit"]["operation"], "QUERY");
    assert!(v["audit"].get("redacted").is_none());
}

#[test]
fn mysql_connect_table_and_failed_login() {
    let v = doc(
        MYSQL,
        "1763719200000001,ip-10-0-1-23,app,10.0.1.50,42,0,CONNECT,shop,,0",
    );
    assert_eq!(v["audit"]["operation"], "CONNECT");
    assert!(v["db"].get("statement").is_none() && v["db"].get("object").is_none());
    let v = doc(
        MYSQL,
        "1763719200000002,ip-10-0-1-23,app,10.0.1.50,42,1338,READ,shop,orders,0",
    );
    assert_eq!(v["db"]["object"], "orders");
    let v = doc(
        "/aws/rds/instance/legacy/audit",
        "20251121 10:00:03,ip-10-0-1-23,mallory,203.0.113.9,51,0,FAILED_CONNECT,,,1045",
    );
    assert_eq!(v["db"]["engine"], "mysql");
    assert_eq!(v["db"]["instance"], "legacy");
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["db"]["return_code"], 1045);
    assert_eq!(v["@timestamp"], "2025-11-21T10:00:03.000000Z");
    assert!(v["db"].get("name").is_none(), "empty database left out");
}

#[test]
fn mysql_table_events_with_an_empty_retcode_keep_their_fields() {
    // As MariaDB's server_audit and Aurora MySQL write them (no return code on table events).
    let v = doc(
        MYSQL,
        "20230222 02:35:55,host1,scott,localhost,32,66,WRITE,scott,EMP,",
    );
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(v["db"]["user"], "scott");
    assert_eq!(v["db"]["name"], "scott");
    assert_eq!(v["db"]["object"], "EMP");
    assert!(v["db"].get("return_code").is_none());
    assert_eq!(v["event"]["outcome"], "unknown");
    assert_eq!(v["audit"]["operation"], "WRITE");
    assert_eq!(v["client"]["address"], "localhost");
    // MariaDB 12: host:port.
    let v = doc(
        MYSQL,
        "20250601 10:00:00,db1,app,10.0.1.50:51234,9,0,CONNECT,shop,,0",
    );
    assert_eq!(
        (
            v["client"]["address"].as_str(),
            v["client"]["port"].as_u64()
        ),
        (Some("10.0.1.50"), Some(51234))
    );
    // One bad field: named in error.message, the others kept.
    let (v, stats) = doc_with(
        &AuditConfig::default(),
        MYSQL,
        "1763719200000001,srv,app,10.0.1.50,42,7,QUERY,shop,'SELECT 1',x1",
    );
    assert_eq!(v["error"]["message"], "retcode \"x1\" is not a number");
    assert_eq!(
        (v["db"]["user"].as_str(), v["db"]["statement"].as_str()),
        (Some("app"), Some("SELECT 1"))
    );
    assert_eq!(v["@timestamp"], "2025-11-21T10:00:00.000001Z");
    assert_eq!(stats.parse_errors, 1);
}

#[test]
fn mysql_password_is_redacted_in_fields_and_message() {
    let line = "1763719200000003,ip-10-0-1-23,admin,10.0.1.50,43,1400,QUERY,mysql,'CREATE USER \\'bob\\'@\\'%\\' IDENTIFIED BY \\'p,a\\\\\\'ss\\'',0";
    let (v, stats) = doc_with(&AuditConfig::default(), MYSQL, line);
    assert_eq!(
        v["db"]["statement"],
        "CREATE USER 'bob'@'%' IDENTIFIED BY '[REDACTED]'"
    );
    assert_eq!(v["audit"]["redacted"], true);
    let msg = v["message"].as_str().unwrap();
    assert!(!msg.contains("p,a") && !msg.contains("ss\\'"), "{msg}");
    assert_eq!(
        mysql::parse(msg).unwrap().object,
        "CREATE USER 'bob'@'%' IDENTIFIED BY '[REDACTED]'"
    );
    assert_eq!(stats.redacted, 1);
}

#[test]
fn masking_and_extra_rules() {
    let cfg = AuditConfig {
        redactor: redact::Redactor::new(
            true,
            vec![regex::Regex::new(r"\b\d{3}-\d{2}-\d{4}\b").unwrap()],
            true,
        ),
        ..AuditConfig::default()
    };
    let line = "1763719200000004,h,app,10.0.1.50,42,7,QUERY,shop,'SELECT * FROM people WHERE name = \\'Ann\\' AND ssn = 123-45-6789',0";
    let (v, stats) = doc_with(&cfg, MYSQL, line);
    assert_eq!(
        v["db"]["statement"],
        "SELECT * FROM people WHERE name = '?' AND ssn = [REDACTED]"
    );
    assert_eq!(
        (v["audit"]["redacted"].clone(), v["audit"]["masked"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    assert!(!v["message"].as_str().unwrap().contains("Ann"));
    assert_eq!((stats.redacted, stats.masked), (1, 1));
}

#[test]
fn pgaudit_documents() {
    let line = "2025-11-21 10:00:00 UTC:10.0.1.50(53422):app@shop:[12345]:LOG:  AUDIT: SESSION,7,1,WRITE,INSERT,TABLE,public.orders,\"INSERT INTO orders VALUES ($1, 'x, \"\"y\"\"')\n  RETURNING id\",<not logged>";
    let (v, stats) = doc_with(&AuditConfig::default(), PG, line);
    assert_eq!(v["@timestamp"], "2025-11-21T10:00:00.000000Z");
    assert_eq!(v["message"], line);
    assert_eq!(v["event"]["outcome"], "unknown");
    assert_eq!(v["log"]["level"], "LOG");
    let db = &v["db"];
    assert_eq!(db["engine"], "aurora-postgresql");
    assert_eq!(
        (db["user"].as_str(), db["name"].as_str()),
        (Some("app"), Some("shop"))
    );
    assert_eq!(db["connection_id"], "12345");
    assert_eq!(
        (db["statement_id"].as_str(), db["substatement_id"].as_str()),
        (Some("7"), Some("1"))
    );
    assert_eq!(
        (db["object"].as_str(), db["object_type"].as_str()),
        (Some("public.orders"), Some("TABLE"))
    );
    assert_eq!(
        db["statement"],
        "INSERT INTO orders VALUES ($1, 'x, \"y\"')\n  RETURNING id"
    );
    assert_eq!(db["parameter"], "<not logged>");
    assert_eq!(
        (
            v["client"]["address"].as_str(),
            v["client"]["port"].as_i64()
        ),
        (Some("10.0.1.50"), Some(53422))
    );
    assert_eq!(v["process"]["pid"], 12345);
    assert_eq!(
        (
            v["audit"]["type"].as_str(),
            v["audit"]["class"].as_str(),
            v["audit"]["command"].as_str()
        ),
        (Some("SESSION"), Some("WRITE"), Some("INSERT"))
    );
    assert_eq!(stats.audit_records, 1);

    let v = doc(PG, "2025-11-21 10:00:01 UTC:10.0.1.50(53422):app@shop:[12345]:LOG:  AUDIT: OBJECT,8,1,READ,SELECT,TABLE,public.customers,SELECT email FROM customers,<none>");
    assert_eq!(v["audit"]["type"], "OBJECT");
    assert_eq!(v["db"]["parameter"], "<none>");
}

#[test]
fn pgaudit_password_statement_and_parameter_are_redacted() {
    let line = "2025-11-21 10:00:02 UTC:10.0.1.50(53422):admin@shop:[12346]:LOG:  AUDIT: SESSION,9,1,ROLE,ALTER ROLE,,,\"ALTER ROLE app PASSWORD 'se,cr''et'\",<none>";
    let v = doc(PG, line);
    assert_eq!(v["db"]["statement"], "ALTER ROLE app PASSWORD '[REDACTED]'");
    assert!(!v["message"].as_str().unwrap().contains("cr''et"));
    assert_eq!(v["audit"]["redacted"], true);
    let line = "2025-11-21 10:00:02 UTC:10.0.1.50(53422):admin@shop:[12346]:LOG:  AUDIT: SESSION,10,1,ROLE,ALTER ROLE,,,ALTER ROLE app PASSWORD $1,\"hunter2\"";
    let v = doc(PG, line);
    assert_eq!(v["db"]["parameter"], "[REDACTED]");
    assert!(!v["message"].as_str().unwrap().contains("hunter2"));
}

#[test]
fn plain_postgres_lines_pass_through_redacted() {
    let (v, stats) = doc_with(&AuditConfig::default(), PG, "2025-11-21 10:00:03 UTC:10.0.1.9(4000):bob@shop:[77]:ERROR:  syntax error at or near \"PASWORD\"");
    assert!(v.get("audit").is_none());
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["log"]["level"], "ERROR");
    assert_eq!(v["db"]["user"], "bob");
    assert_eq!(stats.plain_lines, 1);
    let v = doc(PG, "2025-11-21 10:00:03 UTC:10.0.1.9(4000):bob@shop:[77]:STATEMENT:  CREATE USER x PASSWORD 'oops'");
    assert_eq!(v["message"], "2025-11-21 10:00:03 UTC:10.0.1.9(4000):bob@shop:[77]:STATEMENT:  CREATE USER x PASSWORD '[REDACTED]'");
    assert_eq!(v["audit"]["redacted"], true);
}

#[test]
fn bad_lines_become_documents_with_the_reason() {
    let (v, stats) = doc_with(
        &AuditConfig::default(),
        MYSQL,
        "1763719200000005,h,u,10.0.0.1,1,2,QUERY,db,'ALTER USER x IDENTIFIED BY \\'pw",
    );
    assert_eq!(v["event"]["outcome"], "unknown");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not closed"));
    assert!(
        !v["message"].as_str().unwrap().contains("pw"),
        "{}",
        v["message"]
    );
    assert_eq!(
        v["@timestamp"], "2025-11-21T10:00:00.999000Z",
        "event time when the line has none"
    );
    assert_eq!(stats.parse_errors, 1);
    // Unknown log group: each line is tried with both parsers.
    let v = doc("/custom/db", "2025-11-21 10:00:00 UTC:10.0.1.50(1):u@d:[1]:LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,SELECT 1,<none>");
    assert_eq!(v["db"]["engine"], "postgresql");
    let v = doc(
        "/custom/db",
        "1763719200000006,h,u,10.0.0.1,1,2,QUERY,db,'SELECT 1',0",
    );
    assert_eq!(v["db"]["engine"], "mysql");
    let v = doc("/custom/db", "free text");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("neither a MySQL audit line"));
}

#[test]
fn generated_lines_all_parse_and_no_secret_survives() {
    use crate::synth::{audit_events, AuditKind};
    for kind in [AuditKind::Mysql, AuditKind::Postgres] {
        let cfg = AuditConfig::default();
        let p = payload(kind.log_group());
        let ctx = AuditContext::new(&p, &cfg, None);
        let mut out = Vec::new();
        let mut stats = AuditStats::default();
        let events = audit_events(kind, 500, 1_763_700_000_000, 7);
        for e in &events {
            let ev = LogEvent {
                id: e.id.as_str().into(),
                timestamp: e.timestamp,
                message: e.message.as_str().into(),
                literal: None,
            };
            write_audit_event(&cfg, &ctx, &ev, &mut out, &mut stats);
        }
        assert_eq!(stats.parse_errors, 0, "{kind:?}");
        assert!(
            stats.redacted > 0 && stats.audit_records > 300,
            "{kind:?}: {stats:?}"
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 500);
        assert!(!text.contains("Sup3r"), "{kind:?}: a password survived");
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
    }
}

/// Statements of the largest event CloudWatch Logs accepts, in the shapes JSON escapes worst: the
/// document holds them twice (`message`, `db.statement`) and stays within the documented bound.
#[test]
fn megabyte_statements_stay_within_the_document_bound() {
    let room = crate::logs::cwl::MAX_MESSAGE_BYTES - 200;
    for (shape, unit) in [
        ("control characters", "\u{1}"),
        ("quotes", "\"\""),
        ("backslashes", "\\"),
        ("multi-byte UTF-8", "é€😀"),
    ] {
        let body = unit.repeat(room / unit.len());
        let pg = format!("2025-11-21 10:00:00 UTC:10.0.1.50(53422):app@shop:[12345]:LOG:  AUDIT: SESSION,7,1,WRITE,INSERT,TABLE,public.orders,\"INSERT INTO orders VALUES ('{body}')\",<not logged>");
        let my_body = body.replace('\\', "\\\\").replace('\'', "\\'");
        let my = format!("1763719200123456,ip-10-0-1-23,app,10.0.1.50,42,1337,QUERY,shop,'INSERT INTO orders VALUES (\\'{}\\')',0", &my_body[..my_body.len().min(room)]);
        for (group, line) in [(PG, pg), (MYSQL, my)] {
            assert!(line.len() <= crate::logs::cwl::MAX_MESSAGE_BYTES, "{shape}");
            let p = payload(group);
            let cfg = AuditConfig::default();
            let ctx = AuditContext::new(&p, &cfg, Some("eu-west-1"));
            let ev = LogEvent {
                id: "1".into(),
                timestamp: 1_763_719_200_999,
                message: line.as_str().into(),
                literal: None,
            };
            let mut out = Vec::new();
            write_audit_event(&cfg, &ctx, &ev, &mut out, &mut AuditStats::default());
            assert!(
                out.len() <= crate::logs::document::MAX_DOCUMENT_BYTES
                    && out.len() <= 12 * line.len() + 4096,
                "{group} {shape}: {} bytes for a {}-byte line",
                out.len(),
                line.len()
            );
            let v: Value = serde_json::from_slice(&out).expect("one JSON document");
            assert_eq!(v["message"], line.as_str(), "{group} {shape}");
        }
    }
}

/// A group with a CloudWatch Logs transformer delivers the transformer's JSON instead of the engine's line.
/// When one of its fields holds the line (a transformer that kept it), the document is the line's own;
/// otherwise the document keeps the JSON (redacted) in `message`, its fields under `json`, and says why
/// there is no `db.*`.
#[test]
fn lines_a_transformer_already_parsed() {
    let line = "2025-11-21 10:00:00 UTC:10.0.1.50(53422):app@shop:[12345]:LOG:  AUDIT: SESSION,7,1,WRITE,INSERT,TABLE,public.orders,\"INSERT INTO orders VALUES (1)\",<not logged>";
    let kept =
        serde_json::json!({"userName": "app", "dbName": "shop", "original": line}).to_string();
    assert_eq!(doc(PG, &kept), doc(PG, line), "the line's own document");

    let replaced = serde_json::json!({
        "logTime": "2025-11-21 10:00:00 UTC",
        "userName": "app",
        "dbName": "shop",
        "logLevel": "LOG",
        "query": "ALTER USER app PASSWORD 'hunter2'"
    })
    .to_string();
    let (v, stats) = doc_with(&AuditConfig::default(), PG, &replaced);
    assert_eq!(stats.parse_errors, 1);
    assert_eq!(v["json"]["userName"], "app");
    assert_eq!(v["db"]["engine"], "aurora-postgresql");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("a CloudWatch Logs transformer on the log group replaced the engine's line"));
    let text = v.to_string();
    assert!(
        !text.contains("hunter2"),
        "redacted in message and json: {text}"
    );
    assert!(v["json"]["query"].as_str().unwrap().contains("PASSWORD"));
}
