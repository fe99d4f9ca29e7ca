//! The archive's Athena tables and named queries (`template.yaml`), checked against what the pipeline
//! writes: partition projection equals the delivery streams' prefixes in both layouts, every column is a
//! field of the documents the transforms produce (from `logpipe replay` of the example logs, not a list of
//! our own), the workgroup keeps its results encrypted inside the bucket, and every named query returns the
//! expected rows. Athena is not available offline: the queries run on DuckDB (from PyPI, `.venv`) over the
//! replayed objects, with views made mechanically from the Glue tables' columns and projection; the
//! queries are written in the SQL both engines share. The expected rows are computed here from the
//! documents, not by SQL.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use logcore::transform::s3prefix::S3Prefix;
use serde_json::{json, Value as Json};
use serde_norway::{Mapping, Value};

use crate::template_tests::{load_template, props, resources, rtype, tagged};

const BUCKET: &str = "logs-bucket";

/// `v` with `!If` branches chosen (conditions in `on` are true), `!Sub` filled (`${LogBucket}` is
/// [`BUCKET`], `${!x}` the literal `${x}`, named values resolved), `!Ref X` the string `X`.
fn resolve(v: &Value, on: &[&str]) -> Value {
    if let Some((tag, inner)) = tagged(v) {
        return match tag.as_str() {
            "If" => {
                let seq = inner.as_sequence().expect("!If [c, a, b]");
                let cond = seq[0].as_str().expect("condition name");
                resolve(&seq[if on.contains(&cond) { 1 } else { 2 }], on)
            }
            "Sub" => {
                let (text, names) = match inner.as_sequence() {
                    Some(seq) => (
                        seq[0].as_str().expect("text"),
                        seq.get(1).and_then(Value::as_mapping),
                    ),
                    None => (inner.as_str().expect("text"), None),
                };
                let re = regex::Regex::new(r"\$\{(!?)([^}]+)\}").expect("regex");
                let out = re.replace_all(text, |c: &regex::Captures<'_>| {
                    if &c[1] == "!" {
                        return format!("${{{}}}", &c[2]);
                    }
                    match (&c[2], names.and_then(|m| m.get(&c[2]))) {
                        (_, Some(v)) => resolve(v, on).as_str().unwrap_or_default().to_string(),
                        ("LogBucket", None) => BUCKET.to_string(),
                        (other, None) => other.to_string(),
                    }
                });
                Value::String(out.into_owned())
            }
            "Ref" => Value::String(inner.as_str().unwrap_or_default().to_string()),
            _ => v.clone(),
        };
    }
    match v {
        Value::Mapping(m) => Value::Mapping(
            m.iter()
                .map(|(k, x)| (k.clone(), resolve(x, on)))
                .collect::<Mapping>(),
        ),
        Value::Sequence(s) => Value::Sequence(s.iter().map(|x| resolve(x, on)).collect()),
        other => other.clone(),
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// A Glue table as the template defines it in one layout.
struct Table {
    name: String,
    /// Columns (name, Hive type).
    columns: Vec<(String, String)>,
    partition_keys: Vec<String>,
    params: Mapping,
    /// SerDe `mapping.<column>` entries: column → document key.
    mapping: BTreeMap<String, String>,
}

fn tables(on: &[&str]) -> Vec<Table> {
    let t = load_template();
    let res = resources(&t);
    res.values()
        .filter(|r| rtype(r) == "AWS::Glue::Table")
        .map(|r| {
            let input = resolve(&props(r)["TableInput"], on);
            let sd = &input["StorageDescriptor"];
            let pairs = |v: &Value| -> Vec<(String, String)> {
                v.as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|c| (text(&c["Name"]).to_string(), text(&c["Type"]).to_string()))
                    .collect()
            };
            let mapping = sd["SerdeInfo"]["Parameters"]
                .as_mapping()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| {
                    Some((
                        k.as_str()?.strip_prefix("mapping.")?.to_string(),
                        text(v).to_string(),
                    ))
                })
                .collect();
            Table {
                name: text(&input["Name"]).to_string(),
                columns: pairs(&sd["Columns"]),
                partition_keys: pairs(&input["PartitionKeys"])
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect(),
                params: input["Parameters"]
                    .as_mapping()
                    .cloned()
                    .unwrap_or_default(),
                mapping,
            }
        })
        .collect()
}

impl Table {
    /// The document key a column reads (the SerDe's `mapping.<column>`, else its name).
    fn key(&self, col: &str) -> String {
        self.mapping
            .get(col)
            .cloned()
            .unwrap_or_else(|| col.to_string())
    }

    fn param(&self, k: &str) -> &str {
        self.params.get(k).map(text).unwrap_or_default()
    }

    /// The S3 prefix of a partition, as projection computes it: the location template with each key's
    /// value (date keys formatted at `t`, injected keys given).
    fn projected(&self, t: i64, injected: &BTreeMap<&str, &str>) -> String {
        let mut out = self.param("storage.location.template").to_string();
        for k in &self.partition_keys {
            let value = match self.param(&format!("projection.{k}.type")) {
                "date" => {
                    let fmt = self.param(&format!("projection.{k}.format"));
                    S3Prefix::parse(&format!("!{{timestamp:{fmt}}}"))
                        .unwrap_or_else(|e| panic!("{}: {e}", self.name))
                        .render(t, None, "")
                        .unwrap()
                }
                "injected" => injected[k.as_str()].to_string(),
                other => panic!("{}: projection type {other:?} for {k}", self.name),
            };
            out = out.replace(&format!("${{{k}}}"), &value);
        }
        out
    }
}

/// Every delivery stream's evaluated `Prefix`, by the prefix's first path segment (`logs`, `audit`).
fn stream_prefixes(on: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let t = load_template();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in resources(&t).values() {
        if rtype(r) != "AWS::KinesisFirehose::DeliveryStream" {
            continue;
        }
        let p = resolve(
            &props(r)["ExtendedS3DestinationConfiguration"]["Prefix"],
            on,
        );
        let p = text(&p).to_string();
        out.entry(p.split('/').next().unwrap_or_default().to_string())
            .or_default()
            .insert(p);
    }
    out
}

#[test]
fn partition_projection_is_where_the_streams_write_in_both_layouts() {
    for on in [&["Partitioned"][..], &[]] {
        let prefixes = stream_prefixes(on);
        let tables = tables(on);
        assert_eq!(tables.len(), 2);
        for table in &tables {
            assert_eq!(table.param("projection.enabled"), "true", "{}", table.name);
            let top = if table.name == "audit_logs" {
                "audit"
            } else {
                "logs"
            };
            let stream = &prefixes[top];
            assert!(!stream.is_empty());
            for prefix in stream {
                let firehose = S3Prefix::parse(prefix).unwrap();
                let keys: Vec<&str> = firehose.keys().collect();
                // The keys Firehose takes from the transform are the table's partitions.
                for k in &keys {
                    let part = if *k == "date" { "dt" } else { k };
                    assert!(
                        table.partition_keys.iter().any(|p| p == part),
                        "{}: {k}",
                        table.name
                    );
                }
                for t in [
                    0i64,
                    1_763_719_200_123,
                    1_796_194_159_123,
                    4_102_444_799_999,
                ] {
                    let day = logcore::base::time::DateTimeParts::from_millis(t).date();
                    let values: logcore::transform::firehose::PartitionKeys = [
                        ("log_group".to_string(), "ecs/shop-api".to_string()),
                        ("date".to_string(), day),
                    ]
                    .into_iter()
                    .collect();
                    let written = format!(
                        "s3://{BUCKET}/{}",
                        firehose.render(t, Some(&values), "r").unwrap()
                    );
                    let injected = BTreeMap::from([("log_group", "ecs/shop-api")]);
                    assert_eq!(
                        table.projected(t, &injected),
                        written,
                        "{} with {on:?} at {t}",
                        table.name
                    );
                }
            }
        }
    }
}

#[test]
fn the_workgroup_keeps_results_encrypted_in_the_bucket_and_caps_each_query() {
    let t = load_template();
    let res = resources(&t);
    let wg = res
        .values()
        .find(|r| rtype(r) == "AWS::Athena::WorkGroup")
        .expect("a workgroup");
    let cfg = resolve(&props(wg)["WorkGroupConfiguration"], &[]);
    assert_eq!(cfg["EnforceWorkGroupConfiguration"], Value::Bool(true));
    assert_eq!(
        text(&cfg["BytesScannedCutoffPerQuery"]),
        "AthenaBytesScannedCutoff"
    );
    let results = &cfg["ResultConfiguration"];
    assert_eq!(
        text(&results["OutputLocation"]),
        format!("s3://{BUCKET}/athena-results/")
    );
    assert!(matches!(
        text(&results["EncryptionConfiguration"]["EncryptionOption"]),
        "SSE_S3" | "SSE_KMS" | "CSE_KMS"
    ));
    // The results expire: a lifecycle rule of the log bucket for that prefix.
    let rules = &props(&res["LogBucket"])["LifecycleConfiguration"]["Rules"];
    assert!(rules
        .as_sequence()
        .unwrap()
        .iter()
        .any(|r| text(&r["Prefix"]) == "athena-results/" && !r["ExpirationInDays"].is_null()));
    // Every named query runs in it, against the archive's database.
    let queries: Vec<&Mapping> = res
        .values()
        .filter(|r| rtype(r) == "AWS::Athena::NamedQuery")
        .collect();
    assert!(queries.len() >= 6);
    for q in queries {
        let p = resolve(props(q), &[]);
        assert_eq!(text(&p["WorkGroup"]), "AthenaWorkGroup");
        assert_eq!(text(&p["Database"]), "ArchiveDatabase");
    }
}

/// Replayed documents of the example logs, by table, and the directories they are in.
fn replayed() -> (tempdir::Dir, BTreeMap<&'static str, Vec<Json>>) {
    let dir = tempdir::Dir::new("logpipe-athena");
    let [app, mysql, pg] = logpipe_cli::replay::replay_examples(dir.path()).unwrap();
    let docs = |d: &Path, top: &str| -> Vec<Json> {
        let mut out = Vec::new();
        for f in walk(&d.join(top)) {
            let body = std::fs::read(&f).unwrap();
            let text = logcore::logs::cwl::decompress(&body, usize::MAX).unwrap();
            out.extend(
                text.split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(|l| serde_json::from_slice::<Json>(l).unwrap()),
            );
        }
        out
    };
    let mut by = BTreeMap::new();
    by.insert("app_logs", docs(&app, "logs"));
    let mut audit = docs(&mysql, "audit");
    audit.extend(docs(&pg, "audit"));
    by.insert("audit_logs", audit);
    (dir, by)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A Hive type, parsed: `string`, `bigint`, `boolean`, `array<T>`, `struct<a:T,...>`.
#[derive(Debug, Clone, PartialEq)]
enum Hive {
    Scalar(String),
    Array(Box<Hive>),
    Struct(Vec<(String, Hive)>),
}

fn parse_hive(s: &str) -> Hive {
    fn go(s: &str) -> (Hive, &str) {
        if let Some(rest) = s.strip_prefix("array<") {
            let (inner, rest) = go(rest);
            (
                Hive::Array(Box::new(inner)),
                rest.strip_prefix('>').expect(">"),
            )
        } else if let Some(mut rest) = s.strip_prefix("struct<") {
            let mut fields = Vec::new();
            loop {
                let colon = rest.find(':').expect("name:type");
                let name = rest[..colon].to_string();
                let (t, r) = go(&rest[colon + 1..]);
                fields.push((name, t));
                match r.as_bytes().first() {
                    Some(b',') => rest = &r[1..],
                    Some(b'>') => return (Hive::Struct(fields), &r[1..]),
                    _ => panic!("struct field list in {s}"),
                }
            }
        } else {
            let end = s.find([',', '>']).unwrap_or(s.len());
            (Hive::Scalar(s[..end].to_string()), &s[end..])
        }
    }
    let (t, rest) = go(s);
    assert!(rest.is_empty(), "{s}");
    t
}

/// Every path of `t` under `name` is in at least one document, with a JSON type the Hive type reads.
fn check_column(path: &str, t: &Hive, values: &[&Json], problems: &mut Vec<String>) {
    let present: Vec<&Json> = values.iter().copied().filter(|v| !v.is_null()).collect();
    if present.is_empty() {
        problems.push(format!("{path}: in no document"));
        return;
    }
    match t {
        Hive::Scalar(s) => {
            let ok = |v: &Json| match s.as_str() {
                // A string column reads any JSON value (the OpenX SerDe gives objects as JSON text).
                "string" => true,
                "bigint" | "int" => v.is_i64() || v.is_u64(),
                "boolean" => v.is_boolean(),
                "double" => v.is_number(),
                other => panic!("{path}: Hive type {other} not expected"),
            };
            if let Some(bad) = present.iter().find(|v| !ok(v)) {
                problems.push(format!("{path}: {s} column, but a document has {bad}"));
            }
        }
        Hive::Array(inner) => {
            let items: Vec<&Json> = present
                .iter()
                .filter_map(|v| v.as_array())
                .flatten()
                .collect();
            if items.len() < present.len() && present.iter().any(|v| !v.is_array()) {
                problems.push(format!("{path}: array column, but a document has no array"));
            }
            check_column(&format!("{path}[]"), inner, &items, problems);
        }
        Hive::Struct(fields) => {
            for (name, ft) in fields {
                let sub: Vec<&Json> = present.iter().map(|v| &v[name.as_str()]).collect();
                check_column(&format!("{path}.{name}"), ft, &sub, problems);
            }
        }
    }
}

/// The documents of the example logs' replay and of every shape, by table.
fn documents() -> (tempdir::Dir, BTreeMap<&'static str, Vec<Json>>) {
    let (dir, mut docs) = replayed();
    for (table, shaped) in documents_of_every_shape() {
        docs.get_mut(table).expect("a table").extend(shaped);
    }
    (dir, docs)
}

#[test]
fn every_column_is_a_field_of_the_documents_the_transforms_write() {
    let (_dir, docs) = documents();
    let mut problems = Vec::new();
    for on in [&["Partitioned"][..], &[]] {
        for table in tables(on) {
            let docs = &docs[table.name.as_str()];
            assert!(docs.len() > 10, "{}", table.name);
            for (col, ty) in &table.columns {
                let key = table.key(col);
                let values: Vec<&Json> = docs.iter().map(|d| &d[key.as_str()]).collect();
                check_column(
                    &format!("{}.{col}", table.name),
                    &parse_hive(ty),
                    &values,
                    &mut problems,
                );
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Documents of every shape the renderers write, beyond what the example logs give: the option-dependent
/// fields (a JSON message cut by the key cap, masked and redacted statements), MySQL fields past `retcode`,
/// pgaudit entries, plain PostgreSQL lines, lines that do not parse, and a CloudWatch Logs transformer's JSON
/// in an audit group. Made by the transforms' own renderers, so a field they start writing shows here.
fn documents_of_every_shape() -> BTreeMap<&'static str, Vec<Json>> {
    use logcore::audit::{redact::Redactor, AuditConfig, AuditContext, AuditStats};
    use logcore::logs::cwl::{LogEvent, MessageType, Payload};
    use logcore::logs::document::{DocStats, DocumentConfig, JsonLimits, PayloadContext};

    let payload = |group: &str| Payload {
        hops: 0,
        message_type: MessageType::Data,
        owner: "123456789012".into(),
        log_group: group.to_string().into(),
        log_stream: "stream-1".into(),
        subscription_filters: vec!["logpipe-dev-app".into()],
        log_events: Vec::new(),
    };
    let event = |i: usize, message: &str| LogEvent {
        id: format!("{i:056}").into(),
        timestamp: 1_763_719_200_000 + i as i64,
        message: message.to_string().into(),
        literal: None,
    };
    let lines = |out: &[u8]| -> Vec<Json> {
        out.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("a document is JSON"))
            .collect()
    };

    let many_keys = serde_json::to_string(
        &(0..10)
            .map(|i| (format!("k{i}"), Json::from(i)))
            .collect::<serde_json::Map<_, _>>(),
    )
    .expect("JSON");
    let app_messages = [
        "2025-11-21 10:00:00 ERROR payment failed".to_string(),
        r#"{"level":"warn","user":{"id":1,"roles":["a","b"]},"msg":"slow"}"#.to_string(),
        many_keys,
    ];
    let cfg = DocumentConfig {
        // Five keys over all levels fit (`user.roles` nested past the depth, kept as text); ten do not.
        json: Some(JsonLimits {
            max_depth: 2,
            max_keys: 5,
        }),
        region: Some("eu-west-1".into()),
        ..DocumentConfig::default()
    };
    let p = payload("/ecs/api");
    let ctx = PayloadContext::new(&p, cfg.region.as_deref());
    let (mut out, mut stats) = (Vec::new(), DocStats::default());
    for (i, m) in app_messages.iter().enumerate() {
        logcore::logs::document::write_event(&cfg, &ctx, &event(i, m), &mut out, &mut stats);
    }
    assert_eq!(stats.json_truncated, 1, "the key cap cut one message");
    // A stack trace joined into one document, and the orphan tail of one cut by a payload boundary.
    let trace = [
        event(10, "java.lang.IllegalStateException: pool exhausted"),
        event(11, "\tat a.B.c(B.java:1)"),
    ];
    let joined_message = "java.lang.IllegalStateException: pool exhausted\n\tat a.B.c(B.java:1)";
    logcore::logs::document::write_joined(
        &cfg,
        &ctx,
        &trace,
        joined_message,
        logcore::logs::multiline::Kind::Joined,
        &mut out,
        &mut stats,
    );
    logcore::logs::document::write_joined(
        &cfg,
        &ctx,
        &trace[1..],
        "\tat a.B.c(B.java:1)",
        logcore::logs::multiline::Kind::Orphan,
        &mut out,
        &mut stats,
    );
    let app = lines(&out);

    const MYSQL: &str = "/aws/rds/cluster/shop/audit";
    const PG: &str = "/aws/rds/cluster/shop/postgresql";
    let pg_line = "2025-11-21 10:00:00 UTC:10.0.1.50(53422):app@shop:[12345]:LOG:  AUDIT: SESSION,7,1,WRITE,UPDATE,TABLE,public.people,\"UPDATE people SET name = 'Ann' WHERE id = $1\",42,1";
    let audit_lines = [
        (MYSQL, "1763719200123456,ip-10-0-1-23,app,10.0.1.50,42,1337,QUERY,shop,'SELECT * FROM people WHERE name = \\'Ann\\'',0,'ssl',extra"),
        (MYSQL, "1763719200000001,ip-10-0-1-23,app,10.0.1.50,42,9,READ,shop,orders,0"),
        (MYSQL, "not an audit line"),
        (PG, pg_line),
        (PG, "2025-11-21 10:00:00 UTC:10.0.1.50(53422):app@shop:[12345]:ERROR:  password authentication failed for user \"app\""),
        (PG, r#"{"logTime":"2025-11-21 10:00:00 UTC","userName":"app","query":"SELECT 1"}"#),
    ];
    let mut audit = Vec::new();
    for mask in [false, true] {
        let cfg = AuditConfig {
            redactor: Redactor::new(true, Vec::new(), mask),
            ..AuditConfig::default()
        };
        for (i, (group, line)) in audit_lines.iter().enumerate() {
            let p = payload(group);
            let ctx = AuditContext::new(&p, &cfg, Some("eu-west-1"));
            let (mut out, mut stats) = (Vec::new(), AuditStats::default());
            logcore::audit::write_audit_event(&cfg, &ctx, &event(i, line), &mut out, &mut stats);
            audit.extend(lines(&out));
        }
    }
    BTreeMap::from([("app_logs", app), ("audit_logs", audit)])
}

/// Every field path of a document (`a.b`, `list[]`), the `json` namespace as one field: its keys are the
/// application's, and its column reads the whole object as JSON text.
fn field_paths(v: &Json, path: &str, out: &mut BTreeSet<String>) {
    match v {
        Json::Object(m) if path != "json" => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                field_paths(x, &p, out);
            }
        }
        Json::Array(items) => {
            let p = format!("{path}[]");
            out.insert(p.clone());
            for x in items {
                if x.is_object() || x.is_array() {
                    field_paths(x, &p, out);
                }
            }
        }
        _ => {
            out.insert(path.to_string());
        }
    }
}

/// The paths a Hive type gives a column, and whether each reads any JSON value (a `string` leaf).
fn column_paths(path: &str, t: &Hive, out: &mut BTreeMap<String, bool>) {
    match t {
        Hive::Scalar(s) => {
            out.insert(path.to_string(), s == "string");
        }
        Hive::Array(inner) => {
            out.insert(format!("{path}[]"), false);
            column_paths(&format!("{path}[]"), inner, out);
        }
        Hive::Struct(fields) => {
            for (name, ft) in fields {
                column_paths(&format!("{path}.{name}"), ft, out);
            }
        }
    }
}

/// The converse of the test above (which checks each column's type against the same documents): every
/// field any document can carry has a column, in both layouts; otherwise a query naming it fails with
/// "column not found" while docs/archive.md promises the documents' fields.
#[test]
fn every_field_a_document_can_carry_has_a_column() {
    let (_dir, docs) = documents();
    let mut problems = Vec::new();
    for on in [&["Partitioned"][..], &[]] {
        for table in tables(on) {
            let docs = &docs[table.name.as_str()];
            let mut columns = BTreeMap::new();
            for (col, ty) in &table.columns {
                column_paths(&table.key(col), &parse_hive(ty), &mut columns);
            }
            let mut fields = BTreeSet::new();
            for d in docs {
                field_paths(d, "", &mut fields);
            }
            for f in &fields {
                // Covered by its own column, or inside a string column that reads it as JSON text.
                let mut covered = columns.contains_key(f);
                let mut at = f.as_str();
                while !covered {
                    match at.rfind(['.', '[']) {
                        Some(i) => at = &at[..i],
                        None => break,
                    }
                    covered = columns.get(at) == Some(&true);
                }
                if !covered {
                    problems.push(format!("{}: no column for {f}", table.name));
                }
            }
        }
    }
    // Both layouts have the same columns: one line per problem.
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The DuckDB type of a Hive type.
fn duck(t: &Hive) -> String {
    match t {
        Hive::Scalar(s) => match s.as_str() {
            "string" => "VARCHAR".into(),
            "bigint" => "BIGINT".into(),
            "int" => "INTEGER".into(),
            "boolean" => "BOOLEAN".into(),
            "double" => "DOUBLE".into(),
            other => panic!("no DuckDB type for {other}"),
        },
        Hive::Array(inner) => format!("{}[]", duck(inner)),
        Hive::Struct(fields) => format!(
            "STRUCT({})",
            fields
                .iter()
                .map(|(n, t)| format!("\"{n}\" {}", duck(t)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `CREATE VIEW <table>` over the replayed objects, made from the Glue table: each column read from its
/// document key with its type (a string column of JSON objects read as JSON and cast to its text, as the
/// OpenX SerDe gives it), and each partition key cut from the object's path by the location template.
fn view(table: &Table, dirs: &[PathBuf]) -> String {
    let template = table.param("storage.location.template");
    let top = template
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .and_then(|t| t.split('/').next())
        .unwrap();
    let globs: Vec<String> = dirs
        .iter()
        .map(|d| format!("'{}/{top}/**/*.gz'", d.display()))
        .collect();
    let mut columns = Vec::new();
    let mut select = Vec::new();
    for (col, ty) in &table.columns {
        let key = table.key(col);
        let hive = parse_hive(ty);
        if hive == Hive::Scalar("string".into()) && col == "json" {
            columns.push(format!("'{key}': 'JSON'"));
            select.push(format!("CAST(d.\"{key}\" AS VARCHAR) AS \"{col}\""));
        } else {
            columns.push(format!("'{key}': '{}'", duck(&hive).replace('\'', "''")));
            select.push(format!("d.\"{key}\" AS \"{col}\""));
        }
    }
    // The partition keys, from the path: the location template's placeholders as capture groups.
    let rel = template.strip_prefix(&format!("s3://{BUCKET}/")).unwrap();
    for (i, k) in table.partition_keys.iter().enumerate() {
        let mut pattern = regex::escape(rel);
        for (j, other) in table.partition_keys.iter().enumerate() {
            let group = if i == j { "(.+?)" } else { ".+?" };
            pattern = pattern.replace(&regex::escape(&format!("${{{other}}}")), group);
        }
        select.push(format!(
            "regexp_extract(d.filename, '{}[^/]*$', 1) AS \"{k}\"",
            pattern.replace('\'', "''")
        ));
    }
    // Athena's pseudo-columns: the object's S3 path and last-modified time (whole seconds, as S3's).
    select.push(format!(
        "'s3://{BUCKET}/{top}/' || regexp_extract(d.filename, '.*/{top}/(.*)$', 1) AS \"$path\""
    ));
    select.push("b.last_modified AS \"$file_modified_time\"".to_string());
    format!(
        "CREATE VIEW {} AS SELECT {} FROM read_ndjson([{}], columns = {{{}}}, filename = true, ignore_errors = true) AS d \
         JOIN read_blob([{}]) AS b ON b.filename = d.filename",
        table.name,
        select.join(", "),
        globs.join(", "),
        columns.join(", "),
        globs.join(", ")
    )
}

/// Trino's functions the queries use that DuckDB names otherwise, as DuckDB macros.
const TRINO_FUNCTIONS: &[&str] = &[
    "CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)",
    "CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)",
];

fn python() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let ok = p.exists()
        && std::process::Command::new(&p)
            .args(["-c", "import duckdb"])
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        Some(p)
    } else if std::env::var_os("LOGPIPE_REQUIRE_SERVICES").is_some() {
        panic!("duckdb is not installed in .venv: run scripts/setup.sh test");
    } else {
        eprintln!(
            "SKIPPED: duckdb is not in .venv; run scripts/test.sh (or scripts/setup.sh test)"
        );
        None
    }
}

fn run_duckdb(py: &Path, request: &Json) -> Vec<Vec<Vec<Json>>> {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/duckdb_run.py");
    let mut child = std::process::Command::new(py)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The named queries' text, by name, in the time-only layout.
fn named_queries() -> BTreeMap<String, String> {
    let t = load_template();
    resources(&t)
        .values()
        .filter(|r| rtype(r) == "AWS::Athena::NamedQuery")
        .map(|r| {
            let p = resolve(props(r), &[]);
            (
                text(&p["Name"]).to_string(),
                text(&p["QueryString"]).to_string(),
            )
        })
        .collect()
}

fn s(v: &Json) -> Json {
    if v.is_null() {
        Json::Null
    } else {
        v.clone()
    }
}

fn first_word(statement: &Json) -> String {
    statement
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_uppercase()
}

/// A group as a query's row: its key, the count, the first and last time.
fn counted((key, n, first, last): (Vec<Json>, u64, String, String)) -> Vec<Json> {
    key.into_iter()
        .chain([json!(n), json!(first), json!(last)])
        .collect()
}

/// Counts by key (and the first and last time of each), in the key's order.
fn grouped(
    rows: Vec<(Vec<Json>, String)>,
) -> BTreeMap<Vec<String>, (Vec<Json>, u64, String, String)> {
    let mut out: BTreeMap<Vec<String>, (Vec<Json>, u64, String, String)> = BTreeMap::new();
    for (key, ts) in rows {
        let k: Vec<String> = key.iter().map(|v| v.to_string()).collect();
        let e = out.entry(k).or_insert((key, 0, ts.clone(), ts.clone()));
        e.1 += 1;
        if ts < e.2 {
            e.2 = ts.clone();
        }
        if ts > e.3 {
            e.3 = ts;
        }
    }
    out
}

#[test]
fn named_queries_return_the_expected_rows_on_the_replayed_archive() {
    let Some(py) = python() else { return };
    let (dir, docs) = replayed();
    let root = dir.path();
    let tables = tables(&[]);
    let dirs = |t: &str| -> Vec<PathBuf> {
        if t == "app_logs" {
            vec![root.join("app")]
        } else {
            vec![root.join("mysql"), root.join("postgresql")]
        }
    };
    let setup: Vec<String> = TRINO_FUNCTIONS
        .iter()
        .map(|f| f.to_string())
        .chain(tables.iter().map(|t| view(t, &dirs(&t.name))))
        .collect();
    let queries = named_queries();
    let app = &docs["app_logs"];
    let audit = &docs["audit_logs"];
    let all = json!(["0000", "9999"]);
    let ts = |d: &Json| d["@timestamp"].as_str().unwrap().to_string();

    // The event in the middle of the app log, and its neighbours in the stream (by time, then id).
    let mut stream: Vec<&Json> = app.iter().collect();
    stream.sort_by_key(|d| (ts(d), d["event"]["id"].as_str().unwrap().to_string()));
    let middle = stream.len() / 2;
    let target = stream[middle]["event"]["id"].as_str().unwrap().to_string();
    let around: Vec<Vec<Json>> = stream[middle.saturating_sub(5)..(middle + 6).min(stream.len())]
        .iter()
        .map(|d| {
            vec![
                d["@timestamp"].clone(),
                d["log"]["group"].clone(),
                d["log"]["stream"].clone(),
                d["event"]["id"].clone(),
                d["message"].clone(),
            ]
        })
        .collect();

    let errors = grouped(
        app.iter()
            .filter(|d| matches!(d["log"]["level"].as_str(), Some("error" | "fatal")))
            .map(|d| (vec![d["log"]["group"].clone(), json!(ts(d)[..13])], ts(d)))
            .collect(),
    )
    .into_values()
    .map(|(k, n, _, _)| vec![k[0].clone(), k[1].clone(), json!(n)])
    .collect::<Vec<_>>();

    let command = |d: &Json| -> Json {
        d["audit"]["command"]
            .as_str()
            .map(|c| json!(c))
            .unwrap_or_else(|| json!(first_word(&d["db"]["statement"])))
    };
    let schema_words = [
        "CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME", "GRANT", "REVOKE",
    ];
    let ddl = grouped(
        audit
            .iter()
            .filter(|d| {
                matches!(d["audit"]["class"].as_str(), Some("DDL" | "ROLE"))
                    || schema_words.contains(&first_word(&d["db"]["statement"]).as_str())
            })
            .map(|d| {
                (
                    vec![s(&d["db"]["user"]), s(&d["db"]["engine"]), command(d)],
                    ts(d),
                )
            })
            .collect(),
    )
    .into_values()
    .map(counted)
    .collect::<Vec<_>>();

    let mut failed = grouped(
        audit
            .iter()
            .filter(|d| {
                (matches!(
                    d["audit"]["operation"].as_str(),
                    Some("CONNECT" | "FAILED_CONNECT")
                ) && d["db"]["return_code"].as_i64().is_some_and(|c| c != 0))
                    || d["message"]
                        .as_str()
                        .unwrap()
                        .contains("authentication failed")
            })
            .map(|d| {
                (
                    vec![
                        s(&d["client"]["address"]),
                        s(&d["db"]["engine"]),
                        s(&d["db"]["user"]),
                    ],
                    ts(d),
                )
            })
            .collect(),
    )
    .into_values()
    .map(counted)
    .collect::<Vec<_>>();
    failed.sort_by(|a, b| {
        b[3].as_u64().cmp(&a[3].as_u64()).then_with(|| {
            a[..3]
                .iter()
                .map(Json::to_string)
                .cmp(b[..3].iter().map(Json::to_string))
        })
    });

    let by_time = |rows: &mut Vec<Vec<Json>>| {
        rows.sort_by(|a, b| {
            a.iter()
                .map(Json::to_string)
                .cmp(b.iter().map(Json::to_string))
        });
    };
    let mut privileged: Vec<Vec<Json>> = audit
        .iter()
        .filter(|d| {
            let st = d["db"]["statement"]
                .as_str()
                .unwrap_or_default()
                .to_uppercase();
            d["audit"]["class"].as_str() == Some("ROLE")
                || d["audit"]["redacted"].as_bool() == Some(true)
                || matches!(
                    first_word(&d["db"]["statement"]).as_str(),
                    "GRANT" | "REVOKE"
                )
                || st.contains("PASSWORD")
                || st.contains("IDENTIFIED BY")
        })
        .map(|d| {
            vec![
                d["@timestamp"].clone(),
                s(&d["db"]["engine"]),
                s(&d["db"]["user"]),
                s(&d["client"]["address"]),
                s(&d["db"]["statement"]),
            ]
        })
        .collect();
    by_time(&mut privileged);

    let mut on_table: Vec<Vec<Json>> = audit
        .iter()
        .filter(|d| {
            let hay = format!(
                "{} {}",
                d["db"]["object"].as_str().unwrap_or_default(),
                d["db"]["statement"].as_str().unwrap_or_default()
            )
            .to_lowercase();
            hay.contains("refunds")
        })
        .map(|d| {
            let cmd = if d["audit"]["command"].is_string() {
                d["audit"]["command"].clone()
            } else {
                s(&d["audit"]["operation"])
            };
            vec![
                d["@timestamp"].clone(),
                s(&d["db"]["engine"]),
                s(&d["db"]["user"]),
                cmd,
                s(&d["db"]["object"]),
                s(&d["db"]["statement"]),
            ]
        })
        .collect();
    by_time(&mut on_table);

    // Heartbeats: milliseconds from the event's time to the object's last-modified second.
    let mut beats: Vec<Vec<Json>> = Vec::new();
    for f in walk(&root.join("app").join("logs")) {
        let modified = std::fs::metadata(&f).unwrap().modified().unwrap();
        let modified_s = modified
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let body = logcore::logs::cwl::decompress(&std::fs::read(&f).unwrap(), usize::MAX).unwrap();
        for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let d: Json = serde_json::from_slice(line).unwrap();
            if let Some(hb) = d["json"]["logpipe_canary"].as_str() {
                let t = logcore::base::time::parse_rfc3339_ms(d["@timestamp"].as_str().unwrap())
                    .unwrap();
                let key = f
                    .strip_prefix(root.join("app"))
                    .unwrap()
                    .display()
                    .to_string();
                beats.push(vec![
                    json!(hb),
                    d["@timestamp"].clone(),
                    json!(modified_s * 1000 - t),
                    json!(format!("s3://{BUCKET}/{key}")),
                ]);
            }
        }
    }
    let cases: Vec<(&str, Json, Vec<Vec<Json>>)> = vec![
        ("canary latency to S3", all.clone(), beats),
        ("errors per log group per hour", all.clone(), errors),
        (
            "lines around an event",
            json!(["0000", "9999", target]),
            around,
        ),
        ("audit: DDL and DCL statements by user", all.clone(), ddl),
        (
            "audit: failed logins by client address",
            all.clone(),
            failed,
        ),
        (
            "audit: privileged and password statements",
            all.clone(),
            privileged,
        ),
        (
            "audit: every statement touching a table",
            json!(["0000", "9999", "REFUNDS"]),
            on_table,
        ),
    ];
    assert_eq!(
        cases.len(),
        queries.len(),
        "a case for every named query: {:?}",
        queries.keys()
    );
    let request = json!({
        "setup": setup,
        "queries": cases.iter().map(|(name, params, _)| json!({"sql": queries[*name], "params": params})).collect::<Vec<_>>(),
    });
    let answers = run_duckdb(&py, &request);
    for ((name, _, want), got) in cases.iter().zip(&answers) {
        assert!(
            !want.is_empty(),
            "{name}: the examples give it rows to return"
        );
        assert_eq!(got, want, "{name}");
    }
}

/// A directory removed when dropped.
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(prefix: &str) -> Dir {
            let p = std::env::temp_dir().join(format!(
                "{prefix}-{}-{}",
                std::process::id(),
                fastrand::u64(..)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The resource a reference names: `!Ref X`, `!GetAtt X.Arn`, `!Sub "${X.Arn}/…"` or `s3://${X}/…` → `X`.
pub(crate) fn named(v: &Value) -> String {
    let (tag, inner) = tagged(v).unwrap_or_else(|| panic!("a reference: {v:?}"));
    let s = text(inner);
    match tag.as_str() {
        "Ref" => s.to_string(),
        "GetAtt" => s.trim_end_matches(".Arn").to_string(),
        "Sub" => {
            let start = s.find("${").expect("${") + 2;
            let end = s[start..].find(['}', '.']).expect("}") + start;
            s[start..end].to_string()
        }
        other => panic!("{other} is no reference"),
    }
}

/// Choose the `!If` branches (only), keeping every other tag for [`named`].
pub(crate) fn choose(v: &Value, on: &[&str]) -> Value {
    if let Some((tag, inner)) = tagged(v) {
        if tag == "If" {
            let seq = inner.as_sequence().unwrap();
            return choose(&seq[if on.contains(&text(&seq[0])) { 1 } else { 2 }], on);
        }
        return v.clone();
    }
    match v {
        Value::Mapping(m) => Value::Mapping(m.iter().map(|(k, x)| (k.clone(), choose(x, on))).collect()),
        Value::Sequence(s) => Value::Sequence(
            s.iter()
                .map(|x| choose(x, on))
                .filter(|x| !matches!(tagged(x), Some((t, n)) if t == "Ref" && text(n) == "AWS::NoValue"))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// With `AuditObjectLock`, the audit trail is in a bucket of its own under Object Lock (the mode and days
/// the parameters give, versioned), and every part that writes or reads audit objects uses it: the audit
/// stream (documents and error output), the audit transform's oversize documents, the forwarder and the
/// notifier (through the same topic, which the bucket may publish to), the Glue table. The forwarder's dead
/// letters and checkpoints stay in the log bucket. Without it, audit/ is in the log bucket as before.
#[test]
fn audit_objects_go_to_a_locked_bucket_when_asked() {
    let t = load_template();
    let res = resources(&t);
    let env = |id: &str, k: &str, on: &[&str]| {
        choose(&props(&res[id])["Environment"]["Variables"][k], on)
    };
    let resources_of = |role: &str, action: &str, on: &[&str]| -> Vec<String> {
        let p = choose(&props(&res[role])["Policies"], on);
        let mut out = Vec::new();
        for pol in p.as_sequence().unwrap() {
            for st in pol["PolicyDocument"]["Statement"].as_sequence().unwrap() {
                let actions: Vec<&str> = match &st["Action"] {
                    Value::Sequence(a) => a.iter().map(text).collect(),
                    a => vec![text(a)],
                };
                if actions.contains(&action) {
                    match &st["Resource"] {
                        Value::Sequence(r) => out.extend(
                            r.iter()
                                .map(|x| format!("{}:{}", named(x), text(tagged(x).unwrap().1))),
                        ),
                        r => out.push(format!("{}:{}", named(r), text(tagged(r).unwrap().1))),
                    }
                }
            }
        }
        out
    };
    for (on, bucket) in [
        (&["IsCentral", "AuditLocked"][..], "AuditBucket"),
        (&["IsCentral"][..], "LogBucket"),
    ] {
        let stream = choose(props(&res["AuditDeliveryStream"]), on);
        assert_eq!(
            named(&stream["ExtendedS3DestinationConfiguration"]["BucketARN"]),
            bucket
        );
        assert_eq!(
            named(&env("AuditTransformFunction", "OVERSIZE_BUCKET", on)),
            bucket
        );
        let puts = resources_of("AuditTransformRole", "s3:PutObject", on);
        assert_eq!(puts.len(), 1);
        assert!(
            puts[0].starts_with(&format!("{bucket}:")) && puts[0].ends_with("/audit/*"),
            "{puts:?}"
        );
        for role in ["SearchForwarderRole", "SlackNotifierRole", "FirehoseRole"] {
            let reads = resources_of(role, "s3:GetObject", on);
            assert!(
                reads
                    .iter()
                    .any(|r| r.starts_with(&format!("{bucket}:")) && r.ends_with("/audit/*")),
                "{role}: {reads:?}"
            );
        }
        let table = choose(props(&res["AuditLogsTable"]), on);
        assert_eq!(
            named(&table["TableInput"]["StorageDescriptor"]["Location"]),
            bucket
        );
        assert_eq!(
            named(&table["TableInput"]["Parameters"]["storage.location.template"]),
            bucket
        );
        let dead = env("SearchForwarderFunction", "DEAD_LETTER_BUCKET", on);
        if bucket == "AuditBucket" {
            assert_eq!(
                named(&dead),
                "LogBucket",
                "dead letters and checkpoints stay deletable"
            );
        } else {
            assert!(
                dead.is_null()
                    || matches!(tagged(&dead), Some((t, n)) if t == "Ref" && text(n) == "AWS::NoValue")
            );
        }
        // The topic takes the bucket's notifications.
        let policy = choose(props(&res["LogTopicPolicy"]), on);
        let sources =
            &policy["PolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"];
        let n = sources.as_sequence().map(Vec::len).unwrap_or(1);
        assert_eq!(n, if bucket == "AuditBucket" { 2 } else { 1 });
    }
    let b = props(&res["AuditBucket"]);
    assert_eq!(
        res["AuditBucket"]["Condition"],
        Value::String("AuditLocked".into())
    );
    assert_eq!(b["ObjectLockEnabled"], Value::Bool(true));
    let rule = &b["ObjectLockConfiguration"]["Rule"]["DefaultRetention"];
    assert_eq!(named(&rule["Mode"]), "AuditObjectLock");
    assert_eq!(named(&rule["Days"]), "AuditRetentionDays");
    assert_eq!(text(&b["VersioningConfiguration"]["Status"]), "Enabled");
    let topics = b["NotificationConfiguration"]["TopicConfigurations"]
        .as_sequence()
        .unwrap();
    assert!(topics.iter().any(|c| named(&c["Topic"]) == "LogTopic"
        && text(&c["Filter"]["S3Key"]["Rules"][0]["Value"]) == "audit/"));
    let modes: Vec<&str> = t["Parameters"]["AuditObjectLock"]["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(modes, ["none", "GOVERNANCE", "COMPLIANCE"]);
}

/// With `KmsKey`, every bucket, delivery stream, the collector stream, both topics and every queue are
/// encrypted with the one key (the stack's, or the given ARN); exactly the roles that read or write encrypted
/// data get `kms:Decrypt`/`kms:GenerateDataKey` on that key alone (the others none); the created key's
/// policy names no principal but the account (its IAM policies decide) and the three services that encrypt
/// for the pipeline, each bound to this account. Without it, nothing uses a customer key.
#[test]
fn one_customer_managed_key_encrypts_everything_when_asked() {
    let t = load_template();
    let res = resources(&t);
    let key_of = |v: &Value, on: &[&str]| -> String {
        let v = choose(v, on);
        match tagged(&v) {
            Some(_) => named(&v),
            None => text(&v).to_string(),
        }
    };
    let base = [
        "IsCentral",
        "IsCollector",
        "HasSearch",
        "HasSlack",
        "HasCanary",
        "AuditLocked",
    ];
    for (extra, key) in [
        (&["UseKms", "KmsCreate"][..], "LogKey"),
        (&["UseKms"], "KmsKey"),
        (&[], ""),
    ] {
        let on: Vec<&str> = base.iter().chain(extra).copied().collect();
        let on = on.as_slice();
        let uses = |id: &str, path: &[&str]| -> String {
            let mut v = props(&res[id]).clone();
            for p in path {
                v = choose(&v, on)[*p].clone();
            }
            key_of(&v, on)
        };
        for bucket in ["LogBucket", "AuditBucket"] {
            let enc = choose(&props(&res[bucket])["BucketEncryption"], on);
            let rule =
                &enc["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"];
            if key.is_empty() {
                assert_eq!(text(&rule["SSEAlgorithm"]), "AES256", "{bucket}");
            } else {
                assert_eq!(text(&rule["SSEAlgorithm"]), "aws:kms", "{bucket}");
                assert_eq!(key_of(&rule["KMSMasterKeyID"], on), key, "{bucket}");
            }
        }
        for topic in [
            "LogTopic",
            "AlarmTopic",
            "SearchQueue",
            "SearchDeadLetterQueue",
            "NotifierFailureQueue",
        ] {
            let k = choose(&props(&res[topic])["KmsMasterKeyId"], on);
            if key.is_empty() {
                assert!(
                    matches!(tagged(&k), Some((t, n)) if t == "Ref" && text(n) == "AWS::NoValue"),
                    "{topic}"
                );
            } else {
                assert_eq!(key_of(&k, on), key, "{topic}");
            }
        }
        for stream in ["AppDeliveryStream", "AuditDeliveryStream"] {
            let enc = choose(
                &props(&res[stream])["DeliveryStreamEncryptionConfigurationInput"],
                on,
            );
            if key.is_empty() {
                assert_eq!(text(&enc["KeyType"]), "AWS_OWNED_CMK");
            } else {
                assert_eq!(text(&enc["KeyType"]), "CUSTOMER_MANAGED_CMK");
                assert_eq!(key_of(&enc["KeyARN"], on), key, "{stream}");
            }
        }
        let kinesis = uses("CollectorStream", &["StreamEncryption", "KeyId"]);
        assert_eq!(
            kinesis,
            if key.is_empty() {
                "alias/aws/kinesis"
            } else {
                key
            }
        );
        // The roles: a KMS statement exactly where encrypted data is read or written, on the key alone.
        for (id, r) in res
            .iter()
            .filter(|(_, r)| matches!(rtype(r), "AWS::IAM::Role" | "AWS::IAM::RolePolicy"))
        {
            let doc = match rtype(r) {
                "AWS::IAM::Role" => choose(&props(r)["Policies"], on),
                _ => Value::Sequence(vec![Value::Mapping(
                    [(
                        Value::String("PolicyDocument".into()),
                        choose(&props(r)["PolicyDocument"], on),
                    )]
                    .into_iter()
                    .collect(),
                )]),
            };
            let mut kms = Vec::new();
            for pol in doc.as_sequence().into_iter().flatten() {
                for st in pol["PolicyDocument"]["Statement"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                {
                    let actions: Vec<String> = match &st["Action"] {
                        Value::Sequence(a) => a.iter().map(|x| text(x).to_string()).collect(),
                        a => vec![text(a).to_string()],
                    };
                    if actions.iter().any(|a| a.starts_with("kms:")) {
                        assert!(
                            actions
                                .iter()
                                .all(|a| a == "kms:Decrypt" || a == "kms:GenerateDataKey"),
                            "{id}: {actions:?}"
                        );
                        assert_eq!(key_of(&st["Resource"], on), key, "{id}");
                        kms.push(actions);
                    }
                }
            }
            let needs = [
                "FirehoseRole",
                "LogsToKinesisPolicy",
                "CwlTransformRole",
                "AuditTransformRole",
                "SearchForwarderRole",
                "SlackNotifierRole",
                "CanaryRole",
            ];
            let want = usize::from(!key.is_empty() && needs.contains(&id.as_str()));
            assert_eq!(kms.len(), want, "{id} with {on:?}");
        }
    }
    // The created key: rotation, and its policy's principals.
    let k = props(&res["LogKey"]);
    assert_eq!(k["EnableKeyRotation"], Value::Bool(true));
    for st in k["KeyPolicy"]["Statement"].as_sequence().unwrap() {
        let p = &st["Principal"];
        if let Some(aws) = p.get("AWS") {
            assert!(text(tagged(aws).unwrap().1).ends_with(":root"), "{st:?}");
        } else {
            let services: Vec<&str> = p["Service"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(text)
                .collect();
            assert_eq!(
                services,
                [
                    "s3.amazonaws.com",
                    "sns.amazonaws.com",
                    "cloudwatch.amazonaws.com"
                ]
            );
            assert!(
                !st["Condition"]["StringEquals"]["aws:SourceAccount"].is_null(),
                "bound to this account"
            );
            let actions: Vec<&str> = st["Action"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(text)
                .collect();
            assert_eq!(actions, ["kms:Decrypt", "kms:GenerateDataKey*"]);
        }
    }
}
