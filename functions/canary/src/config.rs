//! The canary's settings, read once from environment variables at cold start.

use std::time::Duration;

use logcore::base::env::{ConfigError, Env};
use logcore::base::runtime::Common;
use logcore::search::bulk::IndexTemplate;
use logpipe_io::Endpoint;

use crate::reconcile::hourly::Hourly;
use crate::reconcile::SourceCounter;
use crate::scan::KeyPrefix;
use logcore::logs::glob::GroupPattern;
use logcore::transform::filter::MessageFilter;

/// Every setting of the canary.
#[derive(Debug, Clone)]
pub struct Config {
    /// The monitored log group the heartbeats are written to (subscribed like any application group).
    pub log_group: String,
    pub log_stream: String,
    /// The log bucket: the pipeline's objects, and the canary's state.
    pub bucket: String,
    /// Where Firehose puts the log group's objects (time fields expanded per hour).
    pub key_prefixes: Vec<KeyPrefix>,
    pub state_key: String,
    /// The search engine; without it, S3 is the last hop checked.
    pub search: Option<Endpoint>,
    /// Index pattern searched (from the forwarder's `INDEX` template, or `SEARCH_INDEX_PATTERN`).
    pub index_pattern: String,
    /// A heartbeat not at the last hop this long after it was written is missing.
    pub missing_after_ms: i64,
    /// A heartbeat delivered later than this is late.
    pub late_after_ms: i64,
    /// Bytes of objects read per run at most.
    pub max_scan_bytes: u64,
    /// Decompression cap per object (bomb guard).
    pub max_object_bytes: u64,
    /// The scheduled reconciliation (`None` without `RECONCILE_GROUPS`).
    pub reconcile: Option<Hourly>,
    pub common: Common,
}

/// Variables [`Config::from_env`] reads (the SAM template test checks it sets no others).
pub const ENV_VARS: &[&str] = &[
    "CANARY_LOG_GROUP",
    "CANARY_LOG_STREAM",
    "BUCKET",
    "KEY_PREFIXES",
    "STATE_KEY",
    "SEARCH_URL",
    "SEARCH_AUTH",
    "SEARCH_SECRET_ARN",
    "INDEX",
    "SEARCH_INDEX_PATTERN",
    "MISSING_AFTER_MINUTES",
    "LATE_AFTER_MINUTES",
    "MAX_SCAN_BYTES",
    "MAX_OBJECT_BYTES",
    "RECONCILE_GROUPS",
    "RECONCILE_FILTER_NAME",
    "RECONCILE_SETTLE_MINUTES",
    "RECONCILE_MAX_EVENTS",
    "RECONCILE_KEY_PREFIXES",
    "RECONCILE_SOURCE",
    "PROCESSING_FAILED_PREFIX",
    "TRANSFORM_LOG_GROUPS",
    "RECONCILE_ARCHIVE_MAX_MB",
    "DEAD_LETTER_PREFIX",
    "INCLUDE_PATTERN",
    "EXCLUDE_PATTERN",
    "MULTILINE",
    "MULTILINE_RULES",
    "METRICS_NAMESPACE",
];

impl Config {
    /// Defaults for the given log group and bucket.
    pub fn new(log_group: &str, bucket: &str) -> Self {
        Config {
            log_group: log_group.into(),
            log_stream: "heartbeat".into(),
            bucket: bucket.into(),
            key_prefixes: vec![KeyPrefix::default()],
            state_key: "canary/state.json".into(),
            search: None,
            index_pattern: IndexTemplate::default().wildcard(),
            missing_after_ms: 20 * 60_000,
            late_after_ms: 10 * 60_000,
            max_scan_bytes: 256 << 20,
            max_object_bytes: 4 << 30,
            reconcile: None,
            common: Common::new("canary", Duration::ZERO),
        }
    }

    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&var);
        let group = env.get("CANARY_LOG_GROUP").ok_or_else(|| {
            env.err(
                "CANARY_LOG_GROUP",
                "",
                "required: the log group heartbeats are written to",
            )
        })?;
        let bucket = env
            .get("BUCKET")
            .ok_or_else(|| env.err("BUCKET", "", "required: the log bucket"))?;
        let mut cfg = Config::new(&group, &bucket);
        if let Some(s) = env.get("CANARY_LOG_STREAM") {
            cfg.log_stream = s;
        }
        if let Some(p) = env.get("KEY_PREFIXES") {
            cfg.key_prefixes = parse_prefixes(&p).map_err(|e| env.err("KEY_PREFIXES", &p, e))?;
        }
        if let Some(k) = env.get("STATE_KEY") {
            cfg.state_key = k;
        }
        if env.get("SEARCH_URL").is_some() {
            cfg.search = Some(Endpoint::from_env(&env)?);
        }
        if let Some(t) = env.get("INDEX") {
            let t: IndexTemplate = t.parse().map_err(|e: String| env.err("INDEX", &t, e))?;
            cfg.index_pattern = t.wildcard();
        }
        if let Some(p) = env.get("SEARCH_INDEX_PATTERN") {
            cfg.index_pattern = p;
        }
        if let Some(n) = env.num("MISSING_AFTER_MINUTES", 1, 7 * 1440)? {
            cfg.missing_after_ms = n as i64 * 60_000;
        }
        if let Some(n) = env.num("LATE_AFTER_MINUTES", 1, 7 * 1440)? {
            cfg.late_after_ms = n as i64 * 60_000;
        }
        if cfg.late_after_ms > cfg.missing_after_ms {
            return Err(env.err(
                "LATE_AFTER_MINUTES",
                &(cfg.late_after_ms / 60_000).to_string(),
                "must not exceed MISSING_AFTER_MINUTES (20 unless set)",
            ));
        }
        if let Some(n) = env.num("MAX_SCAN_BYTES", 1 << 10, usize::MAX)? {
            cfg.max_scan_bytes = n as u64;
        }
        if let Some(n) = env.num("MAX_OBJECT_BYTES", 1 << 10, usize::MAX)? {
            cfg.max_object_bytes = n as u64;
        }
        cfg.reconcile = hourly_from_env(&env)?;
        cfg.common = Common::from_env(&env, "canary", None)?;
        Ok(cfg)
    }
}

/// The scheduled reconciliation's settings (every variable is read, then checked); `None` without
/// `RECONCILE_GROUPS`.
fn hourly_from_env(env: &Env<'_>) -> Result<Option<Hourly>, ConfigError> {
    let list = env.get("RECONCILE_GROUPS").unwrap_or_default();
    let filter_name = env.get("RECONCILE_FILTER_NAME");
    let settle = env.num("RECONCILE_SETTLE_MINUTES", 1, 24 * 60)?;
    let max_events = env.num("RECONCILE_MAX_EVENTS", 1, usize::MAX)?;
    let prefixes = env.get("RECONCILE_KEY_PREFIXES");
    let transform_logs: Vec<String> = env
        .get("TRANSFORM_LOG_GROUPS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(String::from)
        .collect();
    let archive_mb = env.num("RECONCILE_ARCHIVE_MAX_MB", 0, 1 << 20)?;
    let failed = env.get("PROCESSING_FAILED_PREFIX");
    let failed_prefix = failed
        .as_deref()
        .unwrap_or(crate::reconcile::processing_failed::DEFAULT_PREFIX)
        .parse::<KeyPrefix>()
        .map_err(|e| {
            env.err(
                "PROCESSING_FAILED_PREFIX",
                failed.as_deref().unwrap_or(""),
                e,
            )
        })?;
    let source = match env.get("RECONCILE_SOURCE") {
        Some(s) => s
            .parse::<SourceCounter>()
            .map_err(|e| env.err("RECONCILE_SOURCE", &s, e))?,
        None => SourceCounter::default(),
    };
    let dead_letter_prefix = env.get("DEAD_LETTER_PREFIX");
    let transform_filter = MessageFilter::from_env(env)?;
    let transform_multiline = logcore::logs::multiline::rules_from_env(env)?;
    let groups = list
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(GroupPattern::parse)
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| env.err("RECONCILE_GROUPS", &list, e))?;
    let key_prefixes = match prefixes {
        Some(p) => parse_prefixes(&p).map_err(|e| env.err("RECONCILE_KEY_PREFIXES", &p, e))?,
        None => vec![KeyPrefix::default()],
    };
    if groups.is_empty() {
        return Ok(None);
    }
    Ok(Some(Hourly {
        groups,
        filter_name,
        settle_ms: settle.map_or(30 * 60_000, |m| m as i64 * 60_000),
        transform_filter,
        transform_multiline,
        dead_letter_prefix: dead_letter_prefix.unwrap_or_else(|| "failed/".into()),
        key_prefixes,
        max_events: max_events.map_or(1_000_000, |n| n as u64),
        max_hours: 24,
        source,
        failed_prefix,
        transform_logs,
        archive_max_bytes: archive_mb.map_or(0, |mb| mb as u64) << 20,
    }))
}

/// A comma-separated list of key prefixes.
pub fn parse_prefixes(s: &str) -> Result<Vec<KeyPrefix>, String> {
    let out = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<KeyPrefix>, String>>()?;
    if out.is_empty() {
        return Err("expected at least one key prefix".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_env(logcore::base::env::pairs(vars))
    }

    #[test]
    fn defaults_and_settings() {
        let c = from(&[("CANARY_LOG_GROUP", "/logpipe/dev/canary"), ("BUCKET", "b")]).unwrap();
        assert_eq!(c.log_stream, "heartbeat");
        assert_eq!(c.index_pattern, "logs-app-*.*.*");
        assert!(c.search.is_none());
        assert_eq!(c.key_prefixes[0].at(0), "logs/1970/01/01/00/");
        let c = from(&[
            ("CANARY_LOG_GROUP", "/g"),
            ("BUCKET", "b"),
            ("SEARCH_URL", "http://127.0.0.1:9200"),
            ("INDEX", "app-{log.group}-%Y.%m"),
            ("KEY_PREFIXES", "logs/g/%Y-%m-%d/, logs/%Y/%m/%d/%H/"),
            ("MISSING_AFTER_MINUTES", "15"),
            ("LATE_AFTER_MINUTES", "5"),
        ])
        .unwrap();
        assert_eq!(c.index_pattern, "app-*-*.*");
        assert_eq!(c.search.unwrap().url, "http://127.0.0.1:9200");
        assert_eq!(c.key_prefixes.len(), 2);
        assert_eq!((c.missing_after_ms, c.late_after_ms), (900_000, 300_000));
    }

    #[test]
    fn bad_settings_are_named() {
        let e = from(&[("BUCKET", "b")]).unwrap_err();
        assert_eq!(e.name, "CANARY_LOG_GROUP");
        let e = from(&[
            ("CANARY_LOG_GROUP", "/g"),
            ("BUCKET", "b"),
            ("KEY_PREFIXES", "logs/%x/"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "KEY_PREFIXES");
        let e = from(&[
            ("CANARY_LOG_GROUP", "/g"),
            ("BUCKET", "b"),
            ("MISSING_AFTER_MINUTES", "10"),
            ("LATE_AFTER_MINUTES", "15"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "LATE_AFTER_MINUTES");
        let e = from(&[
            ("CANARY_LOG_GROUP", "/g"),
            ("BUCKET", "b"),
            ("SEARCH_URL", "ftp://x"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "SEARCH_URL");
        let e = from(&[
            ("CANARY_LOG_GROUP", "/g"),
            ("BUCKET", "b"),
            ("RECONCILE_GROUPS", "/ecs/*,re:(unclosed"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "RECONCILE_GROUPS");
        let e = from(&[
            ("CANARY_LOG_GROUP", "/g"),
            ("BUCKET", "b"),
            ("RECONCILE_GROUPS", "/ecs/*"),
            ("EXCLUDE_PATTERN", "(health"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "EXCLUDE_PATTERN");
        let e = from(&[
            ("CANARY_LOG_GROUP", "/g"),
            ("BUCKET", "b"),
            ("RECONCILE_GROUPS", "/ecs/*"),
            ("RECONCILE_SOURCE", "athena"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "RECONCILE_SOURCE");
        let e = from(&[
            ("CANARY_LOG_GROUP", "/g"),
            ("BUCKET", "b"),
            ("RECONCILE_GROUPS", "/ecs/*"),
            ("PROCESSING_FAILED_PREFIX", "errors/%Q/"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "PROCESSING_FAILED_PREFIX");
    }

    #[test]
    fn the_reconciliation_is_on_with_groups_to_reconcile() {
        let c = from(&[("CANARY_LOG_GROUP", "/g"), ("BUCKET", "b")]).unwrap();
        assert!(c.reconcile.is_none());
        let c = from(&[
            ("CANARY_LOG_GROUP", "/g"),
            ("BUCKET", "b"),
            ("RECONCILE_GROUPS", " , "),
        ])
        .unwrap();
        assert!(c.reconcile.is_none(), "no pattern: off");
        let c = from(&[
            ("CANARY_LOG_GROUP", "/g"),
            ("BUCKET", "b"),
            ("RECONCILE_GROUPS", "/ecs/*, re:^/aws/lambda/shop-"),
            ("RECONCILE_FILTER_NAME", "logpipe-prod-app"),
            ("RECONCILE_SETTLE_MINUTES", "45"),
            ("RECONCILE_KEY_PREFIXES", "logs/"),
            ("EXCLUDE_PATTERN", "health"),
        ])
        .unwrap();
        let h = c.reconcile.unwrap();
        assert_eq!(h.groups.len(), 2);
        assert!(h.groups[1].matches("/aws/lambda/shop-cart"));
        assert_eq!(h.filter_name.as_deref(), Some("logpipe-prod-app"));
        assert_eq!(h.settle_ms, 45 * 60_000);
        assert_eq!(h.dead_letter_prefix, "failed/");
        assert_eq!(h.key_prefixes[0].at(0), "logs/");
        assert!(!h.transform_filter.keep("GET /health"));
        assert_eq!((h.max_events, h.max_hours), (1_000_000, 24));
        assert_eq!(h.source, SourceCounter::Insights, "by default");
        assert_eq!(
            h.failed_prefix.at(0),
            "errors/logs/processing-failed/1970/01/01/"
        );
        let c = from(&[
            ("CANARY_LOG_GROUP", "/g"),
            ("BUCKET", "b"),
            ("RECONCILE_GROUPS", "/ecs/*"),
            ("RECONCILE_SOURCE", "filter"),
            ("TRANSFORM_LOG_GROUPS", "/logpipe/prod/app-transform, "),
        ])
        .unwrap();
        let h = c.reconcile.unwrap();
        assert_eq!(h.source, SourceCounter::Filter);
        assert_eq!(h.transform_logs, ["/logpipe/prod/app-transform"]);
    }
}
