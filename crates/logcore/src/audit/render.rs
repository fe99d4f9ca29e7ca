//! Audit documents written field by field: the MySQL record's, the pgaudit entry's (and a plain PostgreSQL
//! line's), and the one of a line that does not parse; redaction and masking applied to the fields and to
//! `message` alike.

use std::borrow::Cow;

use super::redact::{mask_literals, Dialect, MARKER};
use super::{mysql, pgaudit, AuditConfig, AuditContext, AuditStats, Engine};
use crate::base::time::write_rfc3339_micros;
use crate::logs::cwl::LogEvent;
use crate::logs::document::{write_json_namespace, write_json_str, JsonLimits};

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

pub(super) fn write_mysql(
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

pub(super) fn write_pg(
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
pub(super) fn write_error(
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
