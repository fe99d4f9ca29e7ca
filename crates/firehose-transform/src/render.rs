//! What a transform writes for each log event: the CloudWatch Logs document, or the audit document.

use logcore::audit::{AuditConfig, AuditContext, AuditStats, EngineSetting};
use logcore::logs::cwl::{LogEvent, Payload};
use logcore::logs::document::{
    write_event, write_joined, DocStats, DocumentConfig, JsonLimits, OutputFormat, PayloadContext,
};
use logcore::logs::multiline::{rules_from_env, Kind, Rules};

use logcore::base::env::{ConfigError, Env};

/// Turns the log events of one payload into NDJSON lines.
pub trait Render: Send + Sync + Sized {
    /// Per-payload state (metadata serialized once).
    type Ctx;
    /// Counters of what rendering did, reported in the summary line and as metrics (declared with
    /// `logcore::counts!`).
    type Stats: Default
        + Copy
        + Send
        + std::fmt::Debug
        + PartialEq
        + Eq
        + serde::Serialize
        + logcore::base::report::Metrics;
    /// The environment variables [`Render::from_env`] reads.
    const ENV_VARS: &'static [&'static str];

    fn context(&self, payload: &Payload<'_>, region: Option<&str>) -> Self::Ctx;
    /// Append one newline-terminated line for `ev` to `out`.
    fn write(&self, ctx: &Self::Ctx, ev: &LogEvent<'_>, out: &mut Vec<u8>, stats: &mut Self::Stats);
    /// The rules that join consecutive events into one document (a stack trace written one line an
    /// event); `None`: one document an event.
    fn multiline(&self) -> Option<&Rules> {
        None
    }
    /// Append the line of a record of consecutive `events` the rules joined (or flagged), `message`
    /// their messages joined with `\n`. Only called when [`Render::multiline`] gives rules.
    fn write_joined(
        &self,
        ctx: &Self::Ctx,
        events: &[LogEvent<'_>],
        message: &str,
        kind: Kind,
        out: &mut Vec<u8>,
        stats: &mut Self::Stats,
    ) {
        let _ = (message, kind);
        for ev in events {
            self.write(ctx, ev, out, stats);
        }
    }
    fn from_env(env: &Env<'_>) -> Result<Self, ConfigError>;
}

/// CloudWatch Logs documents (docs/design.md, "The output document"), and the multiline rules that join
/// a stack trace's lines into one (`None`: joining off).
#[derive(Debug, Clone)]
pub struct Documents(pub DocumentConfig, pub Option<Rules>);

impl Documents {
    /// Documents with the fields of JSON messages under `json`, with the default caps, and stack traces
    /// joined by the built-in rules.
    pub fn new() -> Self {
        Documents(
            DocumentConfig {
                json: Some(JsonLimits::default()),
                ..DocumentConfig::default()
            },
            Some(Rules::builtin()),
        )
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
        "MULTILINE",
        "MULTILINE_RULES",
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

    fn multiline(&self) -> Option<&Rules> {
        self.1.as_ref()
    }

    fn write_joined(
        &self,
        ctx: &PayloadContext,
        events: &[LogEvent<'_>],
        message: &str,
        kind: Kind,
        out: &mut Vec<u8>,
        stats: &mut DocStats,
    ) {
        write_joined(&self.0, ctx, events, message, kind, out, stats);
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
        // The raw format writes each line as it came, so joining changes nothing there.
        let rules = rules_from_env(env)?;
        d.1 = rules.filter(|_| d.0.format == OutputFormat::Document);
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
