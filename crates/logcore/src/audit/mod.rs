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
mod render;

use std::borrow::Cow;

use crate::logs::cwl::{LogEvent, Payload};
use crate::logs::document::{write_cloud_and_filters, write_json_str};
use pgaudit::LinePrefix;
use redact::Redactor;
use render::{write_error, write_mysql, write_pg};

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
                literal: None,
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

#[cfg(test)]
mod tests;
