//! What a transform writes for each log event: the CloudWatch Logs document, or the audit document.

use logcore::audit::{AuditConfig, AuditContext, AuditStats, EngineSetting};
use logcore::cwl::{LogEvent, Payload};
use logcore::document::{write_event, DocStats, DocumentConfig, JsonLimits, PayloadContext};

use crate::config::{ConfigError, Env};
use crate::handler::Summary;

/// Turns the log events of one payload into NDJSON lines.
pub trait Render: Send + Sync + Sized {
    /// Per-payload state (metadata serialized once).
    type Ctx;
    /// Counters of what rendering did, reported in the summary line and as metrics.
    type Stats: Default + Copy + std::fmt::Debug + PartialEq + Eq + serde::Serialize;
    /// The environment variables [`Render::from_env`] reads.
    const ENV_VARS: &'static [&'static str];

    fn context(&self, payload: &Payload<'_>, region: Option<&str>) -> Self::Ctx;
    /// Append one newline-terminated line for `ev` to `out`.
    fn write(&self, ctx: &Self::Ctx, ev: &LogEvent<'_>, out: &mut Vec<u8>, stats: &mut Self::Stats);
    /// `(name in the summary line, EMF metric name, value)` for each counter.
    fn counters(stats: &Self::Stats) -> Vec<(&'static str, &'static str, u64)>;
    fn from_env(env: &Env<'_>) -> Result<Self, ConfigError>;
    /// Log the invocation's summary line (see [`crate::summary_line`]).
    fn log_summary(request_id: &str, s: &Summary<Self::Stats>);
}

/// CloudWatch Logs documents (DESIGN.md, "The output document").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documents(pub DocumentConfig);

impl Documents {
    /// Documents with the fields of JSON messages under `json`, with the default caps.
    pub fn new() -> Self {
        Documents(DocumentConfig {
            json: Some(JsonLimits::default()),
            ..DocumentConfig::default()
        })
    }
}

impl Default for Documents {
    fn default() -> Self {
        Documents::new()
    }
}

impl Render for Documents {
    type Ctx = PayloadContext;
    type Stats = DocStats;
    const ENV_VARS: &'static [&'static str] = &[
        "OUTPUT_FORMAT",
        "JSON_FIELDS",
        "JSON_MAX_DEPTH",
        "JSON_MAX_KEYS",
    ];

    fn context(&self, payload: &Payload<'_>, region: Option<&str>) -> PayloadContext {
        PayloadContext::new(payload, region)
    }

    fn write(
        &self,
        ctx: &PayloadContext,
        ev: &LogEvent<'_>,
        out: &mut Vec<u8>,
        stats: &mut DocStats,
    ) {
        write_event(&self.0, ctx, ev, out, stats);
    }

    fn counters(s: &DocStats) -> Vec<(&'static str, &'static str, u64)> {
        vec![
            ("json_messages", "JsonMessages", s.json_messages),
            ("json_truncated", "JsonTruncated", s.json_truncated),
        ]
    }

    fn log_summary(request_id: &str, s: &Summary<DocStats>) {
        crate::summary_line!(
            request_id,
            s,
            json_messages = s.render.json_messages,
            json_truncated = s.render.json_truncated
        );
    }

    fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let mut d = Documents::new();
        if let Some(v) = env.get("OUTPUT_FORMAT") {
            d.0.format = v.parse().map_err(|e| env.err("OUTPUT_FORMAT", &v, e))?;
        }
        if !env.flag("JSON_FIELDS", true)? {
            d.0.json = None;
        }
        if let Some(limits) = d.0.json.as_mut() {
            if let Some(n) = env.num("JSON_MAX_DEPTH", 1, 64)? {
                limits.max_depth = n;
            }
            if let Some(n) = env.num("JSON_MAX_KEYS", 0, 10_000)? {
                limits.max_keys = n;
            }
        }
        Ok(d)
    }
}

/// Database audit documents (Aurora/RDS MySQL audit log, PostgreSQL with pgaudit).
#[derive(Debug, Clone, Default)]
pub struct Audit(pub AuditConfig);

impl Render for Audit {
    type Ctx = AuditContext;
    type Stats = AuditStats;
    const ENV_VARS: &'static [&'static str] = &[
        "AUDIT_ENGINE",
        "PG_LOG_LINE_PREFIX",
        "REDACT",
        "REDACT_PATTERNS",
        "MASK_LITERALS",
    ];

    fn context(&self, payload: &Payload<'_>, region: Option<&str>) -> AuditContext {
        AuditContext::new(payload, &self.0, region)
    }

    fn write(
        &self,
        ctx: &AuditContext,
        ev: &LogEvent<'_>,
        out: &mut Vec<u8>,
        stats: &mut AuditStats,
    ) {
        logcore::audit::write_audit_event(&self.0, ctx, ev, out, stats);
    }

    fn counters(s: &AuditStats) -> Vec<(&'static str, &'static str, u64)> {
        vec![
            ("audit_records", "AuditRecords", s.audit_records),
            ("plain_lines", "PlainLines", s.plain_lines),
            ("parse_errors", "ParseErrors", s.parse_errors),
            ("redacted", "Redacted", s.redacted),
            ("masked", "Masked", s.masked),
        ]
    }

    fn log_summary(request_id: &str, s: &Summary<AuditStats>) {
        let a = &s.render;
        crate::summary_line!(
            request_id,
            s,
            audit_records = a.audit_records,
            plain_lines = a.plain_lines,
            parse_errors = a.parse_errors,
            redacted = a.redacted,
            masked = a.masked
        );
    }

    fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let mut c = AuditConfig::default();
        if let Some(v) = env.get("AUDIT_ENGINE") {
            c.engine = v
                .parse::<EngineSetting>()
                .map_err(|e| env.err("AUDIT_ENGINE", &v, e))?;
        }
        if let Some(v) = env.get_raw("PG_LOG_LINE_PREFIX") {
            c.prefix = logcore::audit::pgaudit::LinePrefix::new(&v)
                .map_err(|e| env.err("PG_LOG_LINE_PREFIX", &v, e))?;
        }
        let builtin = env.flag("REDACT", true)?;
        let mask = env.flag("MASK_LITERALS", false)?;
        let mut extra = Vec::new();
        if let Some(v) = env.get("REDACT_PATTERNS") {
            let patterns: Vec<String> = serde_json::from_str(&v).map_err(|e| {
                env.err(
                    "REDACT_PATTERNS",
                    &v,
                    format!("expected a JSON array of regular expressions: {e}"),
                )
            })?;
            for p in patterns {
                extra.push(
                    regex::Regex::new(&p).map_err(|e| {
                        env.err("REDACT_PATTERNS", &v, format!("pattern {p:?}: {e}"))
                    })?,
                );
            }
        }
        c.redactor = logcore::audit::redact::Redactor::new(builtin, extra, mask);
        Ok(Audit(c))
    }
}
