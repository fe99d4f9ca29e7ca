//! Database audit logs: Aurora/RDS MySQL (advanced auditing, MariaDB audit plugin) and PostgreSQL (pgaudit
//! inside the RDS PostgreSQL log), parsed into one JSON document per line with secrets redacted.
//!
//! ```json
//! {"@timestamp":"2025-11-21T10:00:00.123456Z","message":"…","event":{"id":"…","outcome":"success"},
//!  "log":{"group":"/aws/rds/cluster/shop/audit","stream":"…"},"cloud":{…},"subscription_filters":[…],
//!  "db":{"engine":"aurora-mysql","instance":"shop","server":"ip-10-0-1-23","user":"app","name":"shop",
//!        "connection_id":"42","query_id":"1337","statement":"SELECT …","return_code":0},
//!  "client":{"address":"10.0.1.50"},"audit":{"operation":"QUERY"}}
//! ```
//!
//! A line that does not parse still becomes a document, with `error.message` saying why and
//! `event.outcome: unknown`. `message` is the original line with the same redaction (and masking) applied
//! as the parsed fields, so no secret reaches S3 through it.

pub mod mysql;
pub mod pgaudit;
pub mod redact;

use std::borrow::Cow;

use crate::base::time::write_rfc3339_micros;
use crate::logs::cwl::{LogEvent, Payload};
use crate::logs::document::{
    write_cloud_and_filters, write_json_namespace, write_json_str, JsonLimits,
};
use pgaudit::LinePrefix;
use redact::{mask_literals, Dialect, Redactor, MARKER};

/// Why an audit line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuditError(String);

impl AuditError {
    pub fn new(msg: impl Into<String>) -> Self {
        AuditError(msg.into())
    }
}

/// Which parser a log group gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineSetting {
    /// From the log group name: `…/audit` is MySQL, `…/postgresql` is PostgreSQL; otherwise each line is
    /// tried as MySQL, then as PostgreSQL.
    #[default]
    Auto,
    Mysql,
    Postgres,
}

impl std::str::FromStr for EngineSetting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(EngineSetting::Auto),
            "mysql" | "aurora-mysql" | "mariadb" => Ok(EngineSetting::Mysql),
            "postgresql" | "postgres" | "aurora-postgresql" => Ok(EngineSetting::Postgres),
            other => Err(format!(
                "unknown engine {other:?} (expected auto, mysql or postgresql)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Mysql,
    Postgres,
}

/// How audit documents are built.
#[derive(Debug, Clone, Default)]
pub struct AuditConfig {
    pub engine: EngineSetting,
    /// The PostgreSQL `log_line_prefix`.
    pub prefix: LinePrefix,
    pub redactor: Redactor,
}

crate::counts! {
    /// Counters for what audit parsing did (in the audit transform's report).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
    pub struct AuditStats {
        /// Lines parsed as audit records (MySQL audit lines, pgaudit entries).
        pub audit_records: u64 => "AuditRecords",
        /// PostgreSQL log lines that are not pgaudit entries, passed through as plain documents.
        pub plain_lines: u64 => "PlainLines",
        /// Lines that did not parse (documents with `error.message`).
        pub parse_errors: u64 => "ParseErrors",
        /// Documents in which a secret was redacted.
        pub redacted: u64 => "Redacted",
        /// Documents whose statement literals were masked.
        pub masked: u64 => "Masked",
    }
}

/// The per-payload part of every audit document.
pub struct AuditContext {
    /// `,"log":{"group":…,"stream":…` (left open for `level`).
    log_head: Vec<u8>,
    /// `},"cloud":{…},"subscription_filters":[…]` (closing `log`)
    tail: Vec<u8>,
    engine: Option<Engine>,
    cluster: bool,
    instance: Option<String>,
}

impl AuditContext {
    /// `region` is `cloud.region`, when known.
    pub fn new(payload: &Payload<'_>, cfg: &AuditConfig, region: Option<&str>) -> Self {
        let mut log_head =
            Vec::with_capacity(64 + payload.log_group.len() + payload.log_stream.len());
        log_head.extend_from_slice(b",\"log\":{\"group\":");
        write_json_str(&mut log_head, &payload.log_group);
        log_head.extend_from_slice(b",\"stream\":");
        write_json_str(&mut log_head, &payload.log_stream);
        let mut tail = Vec::with_capacity(96);
        tail.push(b'}');
        write_cloud_and_filters(&mut tail, payload, region);
        let group = payload.log_group.as_ref();
        let engine = match cfg.engine {
            EngineSetting::Mysql => Some(Engine::Mysql),
            EngineSetting::Postgres => Some(Engine::Postgres),
            EngineSetting::Auto if group.ends_with("/audit") => Some(Engine::Mysql),
            EngineSetting::Auto if group.ends_with("/postgresql") => Some(Engine::Postgres),
            EngineSetting::Auto => None,
        };
        // /aws/rds/cluster/<name>/<log> or /aws/rds/instance/<name>/<log>
        let mut parts = group.trim_start_matches('/').split('/');
        let (cluster, instance) = match (parts.next(), parts.next(), parts.next()) {
            (Some("aws"), Some("rds"), Some(kind @ ("cluster" | "instance"))) => {
                (kind == "cluster", parts.next().map(str::to_string))
            }
            _ => (false, None),
        };
        AuditContext {
            log_head,
            tail,
            engine,
            cluster,
            instance,
        }
    }

    fn engine_name(&self, engine: Engine) -> &'static str {
        match (engine, self.cluster) {
            (Engine::Mysql, true) => "aurora-mysql",
            (Engine::Mysql, false) => "mysql",
            (Engine::Postgres, true) => "aurora-postgresql",
            (Engine::Postgres, false) => "postgresql",
        }
    }
}

/// Append the NDJSON document for one audit log event to `out`.
pub fn write_audit_event(
    cfg: &AuditConfig,
    ctx: &AuditContext,
    ev: &LogEvent<'_>,
    out: &mut Vec<u8>,
    stats: &mut AuditStats,
) {
    let line: &str = &ev.message;
    match transformed(cfg, line) {
        Transformed::No => {}
        // A transformer that kept the engine's line in a field: the document is the line's.
        Transformed::Kept(original) => {
            let inner = LogEvent {
                id: Cow::Borrowed(&ev.id),
                timestamp: ev.timestamp,
                message: Cow::Owned(original),
            };
            return write_audit_event(cfg, ctx, &inner, out, stats);
        }
        Transformed::Replaced => {
            let msg = "a JSON object, not an audit line: a CloudWatch Logs transformer on the log group replaced the engine's line (its fields are under json); remove the transformer, or keep the original line in a field, for db.* and audit.*";
            return write_error(cfg, ctx, ev, ctx.engine, msg, true, out, stats);
        }
    }
    match ctx.engine {
        Some(Engine::Mysql) => match mysql::parse(line) {
            Ok(rec) => write_mysql(cfg, ctx, ev, &rec, out, stats),
            Err(e) => write_error(
                cfg,
                ctx,
                ev,
                Some(Engine::Mysql),
                &e.to_string(),
                false,
                out,
                stats,
            ),
        },
        Some(Engine::Postgres) => match pgaudit::parse(&cfg.prefix, line) {
            Ok(rec) => write_pg(cfg, ctx, ev, &rec, out, stats),
            Err(e) => write_error(
                cfg,
                ctx,
                ev,
                Some(Engine::Postgres),
                &e.to_string(),
                false,
                out,
                stats,
            ),
        },
        None => match mysql::parse(line) {
            Ok(rec) => write_mysql(cfg, ctx, ev, &rec, out, stats),
            Err(me) => match pgaudit::parse(&cfg.prefix, line) {
                Ok(rec) => write_pg(cfg, ctx, ev, &rec, out, stats),
                Err(pe) => {
                    let msg = format!(
                        "neither a MySQL audit line ({me}) nor a PostgreSQL log line ({pe})"
                    );
                    write_error(cfg, ctx, ev, None, &msg, false, out, stats)
                }
            },
        },
    }
}

/// What a CloudWatch Logs transformer (`PutTransformer`) made of an audit line, if anything.
enum Transformed {
    /// Not a JSON object: the engine's own line.
    No,
    /// A JSON object with the engine's line in one of its string fields (a transformer that copied it).
    Kept(String),
    /// A JSON object without it: the transformer's fields only.
    Replaced,
}

/// Engine lines start with a timestamp, never with `{`: a JSON object is a transformer's output.
fn transformed(cfg: &AuditConfig, line: &str) -> Transformed {
    let text = line.trim();
    if !(text.starts_with('{') && text.ends_with('}')) {
        return Transformed::No;
    }
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(text)
    else {
        return Transformed::No;
    };
    for (_, v) in fields {
        let serde_json::Value::String(s) = v else {
            continue;
        };
        if s.trim_start().starts_with('{') {
            continue;
        }
        if mysql::parse(&s).is_ok()
            || pgaudit::parse(&cfg.prefix, &s).is_ok_and(|r| r.audit.is_some())
        {
            return Transformed::Kept(s);
        }
    }
    Transformed::Replaced
}

/// Redact, then mask, a statement. Returns the text and whether each step changed it.
fn clean<'a>(cfg: &AuditConfig, sql: &'a str, dialect: Dialect) -> (Cow<'a, str>, bool, bool) {
    let redacted = cfg.redactor.redact(sql);
    let was_redacted = matches!(redacted, Cow::Owned(_));
    if !cfg.redactor.mask_literals {
        return (redacted, was_redacted, false);
    }
    let masked = match mask_literals(&redacted, dialect) {
        Cow::Owned(m) => Some(m),
        Cow::Borrowed(_) => None,
    };
    match masked {
        Some(m) => (Cow::Owned(m), was_redacted, true),
        None => (redacted, was_redacted, false),
    }
}

/// `line` with the byte ranges in `edits` (ascending, disjoint) replaced.
fn splice(line: &str, edits: &[(std::ops::Range<usize>, String)]) -> String {
    let mut s = String::with_capacity(line.len() + 16);
    let mut copied = 0;
    for (r, text) in edits {
        s.push_str(&line[copied..r.start]);
        s.push_str(text);
        copied = r.end;
    }
    s.push_str(&line[copied..]);
    s
}

fn head(out: &mut Vec<u8>, micros: i64, message: &str, id: &str, outcome: Option<&str>) {
    out.extend_from_slice(b"{\"@timestamp\":\"");
    write_rfc3339_micros(micros, out);
    out.extend_from_slice(b"\",\"message\":");
    write_json_str(out, message);
    out.extend_from_slice(b",\"event\":{\"id\":");
    write_json_str(out, id);
    if let Some(o) = outcome {
        out.extend_from_slice(b",\"outcome\":\"");
        out.extend_from_slice(o.as_bytes());
        out.push(b'"');
    }
    out.push(b'}');
}

/// Writes `,"name":{…}` with only the fields given, and nothing when none is.
struct Obj<'o> {
    out: &'o mut Vec<u8>,
    name: &'static str,
    open: bool,
}

impl<'o> Obj<'o> {
    fn new(out: &'o mut Vec<u8>, name: &'static str) -> Self {
        Obj {
            out,
            name,
            open: false,
        }
    }
    fn key(&mut self, k: &str) {
        if self.open {
            self.out.push(b',');
        } else {
            self.out.extend_from_slice(b",\"");
            self.out.extend_from_slice(self.name.as_bytes());
            self.out.extend_from_slice(b"\":{");
            self.open = true;
        }
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }
    fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        write_json_str(self.out, v);
        self
    }
    fn opt<S: AsRef<str>>(&mut self, k: &str, v: Option<S>) -> &mut Self {
        if let Some(v) = v {
            if !v.as_ref().is_empty() {
                self.str(k, v.as_ref());
            }
        }
        self
    }
    fn num(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        self.out.extend_from_slice(v.to_string().as_bytes());
        self
    }
    fn bool_true(&mut self, k: &str, v: bool) -> &mut Self {
        if v {
            self.key(k);
            self.out.extend_from_slice(b"true");
        }
        self
    }
    fn list(&mut self, k: &str, items: &[Cow<'_, str>]) -> &mut Self {
        if !items.is_empty() {
            self.key(k);
            self.out.push(b'[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    self.out.push(b',');
                }
                write_json_str(self.out, it);
            }
            self.out.push(b']');
        }
        self
    }
}

impl Drop for Obj<'_> {
    fn drop(&mut self) {
        if self.open {
            self.out.push(b'}');
        }
    }
}

fn write_mysql(
    cfg: &AuditConfig,
    ctx: &AuditContext,
    ev: &LogEvent<'_>,
    rec: &mysql::MysqlAudit<'_>,
    out: &mut Vec<u8>,
    stats: &mut AuditStats,
) {
    stats.audit_records += 1;
    let is_stmt = rec.object_is_statement();
    let (object, redacted, masked) = if is_stmt {
        clean(cfg, &rec.object, Dialect::Mysql)
    } else {
        (Cow::Borrowed(rec.object.as_ref()), false, false)
    };
    stats.redacted += u64::from(redacted);
    stats.masked += u64::from(masked);
    let message: Cow<'_, str> = if redacted || masked {
        let mut q = String::with_capacity(object.len() + 2);
        mysql::quote(&object, &mut q);
        Cow::Owned(splice(&ev.message, &[(rec.object_span.clone(), q)]))
    } else {
        Cow::Borrowed(&ev.message)
    };
    head(out, rec.micros, &message, &ev.id, Some(rec.outcome()));
    out.extend_from_slice(&ctx.log_head);
    out.extend_from_slice(&ctx.tail);
    {
        let mut db = Obj::new(out, "db");
        db.str("engine", ctx.engine_name(Engine::Mysql))
            .opt("instance", ctx.instance.as_deref())
            .opt("server", Some(rec.server_host))
            .opt("user", Some(rec.user))
            .opt("name", Some(rec.database))
            .opt("connection_id", Some(rec.connection_id))
            .opt("query_id", Some(rec.query_id))
            .opt(if is_stmt { "statement" } else { "object" }, Some(&object));
        if let Some(code) = rec.retcode {
            db.num("return_code", code);
        }
    }
    write_client(out, Some(rec.host), rec.port);
    Obj::new(out, "audit")
        .opt("operation", Some(rec.operation))
        .list("extra_fields", &rec.extra)
        .bool_true("redacted", redacted)
        .bool_true("masked", masked);
    // A field that did not read is named; the fields that did are all above.
    if !rec.problems.is_empty() {
        stats.parse_errors += 1;
        Obj::new(out, "error").str("message", &rec.problems.join("; "));
    }
    out.extend_from_slice(b"}\n");
}

fn write_pg(
    cfg: &AuditConfig,
    ctx: &AuditContext,
    ev: &LogEvent<'_>,
    rec: &pgaudit::PgLine<'_>,
    out: &mut Vec<u8>,
    stats: &mut AuditStats,
) {
    let micros = rec
        .prefix
        .micros
        .unwrap_or(ev.timestamp.saturating_mul(1000));
    let p = &rec.prefix;
    let Some(a) = &rec.audit else {
        // A plain PostgreSQL log line: redact the whole text (it may quote a statement).
        stats.plain_lines += 1;
        let message = cfg.redactor.redact(&ev.message);
        let redacted = matches!(message, Cow::Owned(_));
        stats.redacted += u64::from(redacted);
        let failed = matches!(rec.severity, "ERROR" | "FATAL" | "PANIC");
        pg_head(
            out,
            ctx,
            rec,
            micros,
            &message,
            &ev.id,
            failed.then_some("failure"),
        );
        write_pg_client(out, p);
        if redacted {
            Obj::new(out, "audit").bool_true("redacted", true);
        }
        out.extend_from_slice(b"}\n");
        return;
    };
    stats.audit_records += 1;
    let (statement, mut redacted, mut masked) = clean(cfg, &a.statement, Dialect::Postgres);
    let special = matches!(
        a.parameter.as_ref(),
        "<not logged>" | "<none>" | "<previously logged>"
    );
    let parameter: Cow<'_, str> = if special {
        Cow::Borrowed(a.parameter.as_ref())
    } else if cfg.redactor.builtin && a.statement.to_ascii_lowercase().contains("password") {
        // A statement that sets a password may carry it as a parameter ($1).
        redacted = true;
        Cow::Borrowed(MARKER)
    } else if cfg.redactor.mask_literals {
        masked = true;
        Cow::Borrowed("<masked>")
    } else {
        let r = cfg.redactor.redact(&a.parameter);
        redacted |= matches!(r, Cow::Owned(_));
        r
    };
    let parameter_changed = parameter.as_ref() != a.parameter.as_ref();
    stats.redacted += u64::from(redacted);
    stats.masked += u64::from(masked);
    let message: Cow<'_, str> = if redacted || masked {
        let mut edits = Vec::with_capacity(2);
        if statement.as_ref() != a.statement.as_ref() {
            let mut q = String::new();
            pgaudit::quote(&statement, &mut q);
            edits.push((a.statement_span.clone(), q));
        }
        if parameter_changed {
            let mut q = String::new();
            pgaudit::quote(&parameter, &mut q);
            edits.push((a.parameter_span.clone(), q));
        }
        Cow::Owned(splice(&ev.message, &edits))
    } else {
        Cow::Borrowed(&ev.message)
    };
    pg_head(out, ctx, rec, micros, &message, &ev.id, Some("unknown"))
        .opt("statement_id", Some(&a.statement_id))
        .opt("substatement_id", Some(&a.substatement_id))
        .opt("object", Some(&a.object_name))
        .opt("object_type", Some(&a.object_type))
        .opt("statement", Some(&statement))
        .opt("parameter", Some(&parameter));
    write_pg_client(out, p);
    Obj::new(out, "audit")
        .str("type", &a.audit_type)
        .opt("class", Some(&a.class))
        .opt("command", Some(&a.command))
        .list("extra_fields", &a.extra)
        .bool_true("redacted", redacted)
        .bool_true("masked", masked);
    out.extend_from_slice(b"}\n");
}

/// The start of a PostgreSQL document up to its `db` object, which is returned open with the fields every
/// PostgreSQL line has.
fn pg_head<'o>(
    out: &'o mut Vec<u8>,
    ctx: &AuditContext,
    rec: &pgaudit::PgLine<'_>,
    micros: i64,
    message: &str,
    id: &str,
    outcome: Option<&str>,
) -> Obj<'o> {
    let p = &rec.prefix;
    head(out, micros, message, id, outcome);
    out.extend_from_slice(&ctx.log_head);
    out.extend_from_slice(b",\"level\":");
    write_json_str(out, rec.severity);
    out.extend_from_slice(&ctx.tail);
    let mut db = Obj::new(out, "db");
    db.str("engine", ctx.engine_name(Engine::Postgres))
        .opt("instance", ctx.instance.as_deref())
        .opt("user", p.user)
        .opt("name", p.database)
        .opt("connection_id", p.pid.map(|n| n.to_string()));
    db
}

/// `client.address` and `client.port`, each when known.
fn write_client(out: &mut Vec<u8>, address: Option<&str>, port: Option<u16>) {
    let mut c = Obj::new(out, "client");
    c.opt("address", address);
    if let Some(port) = port {
        c.num("port", i64::from(port));
    }
}

fn write_pg_client(out: &mut Vec<u8>, p: &pgaudit::PrefixFields<'_>) {
    write_client(out, p.client_address, p.client_port);
    if let Some(pid) = p.pid {
        Obj::new(out, "process").num("pid", i64::from(pid));
    }
}

/// A document for a line that is no audit line: the (redacted) message, the engine when known, the error;
/// with `json`, the fields of the redacted message when it is a JSON object (a transformer's output).
#[allow(clippy::too_many_arguments)]
fn write_error(
    cfg: &AuditConfig,
    ctx: &AuditContext,
    ev: &LogEvent<'_>,
    engine: Option<Engine>,
    error: &str,
    json: bool,
    out: &mut Vec<u8>,
    stats: &mut AuditStats,
) {
    stats.parse_errors += 1;
    let message = cfg.redactor.redact(&ev.message);
    let redacted = matches!(message, Cow::Owned(_));
    stats.redacted += u64::from(redacted);
    head(
        out,
        ev.timestamp.saturating_mul(1000),
        &message,
        &ev.id,
        Some("unknown"),
    );
    out.extend_from_slice(&ctx.log_head);
    out.extend_from_slice(&ctx.tail);
    if let Some(engine) = engine {
        Obj::new(out, "db")
            .str("engine", ctx.engine_name(engine))
            .opt("instance", ctx.instance.as_deref());
    }
    if redacted {
        Obj::new(out, "audit").bool_true("redacted", true);
    }
    if json {
        write_json_namespace(&message, JsonLimits::default(), out);
    }
    Obj::new(out, "error").str("message", error);
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests;
