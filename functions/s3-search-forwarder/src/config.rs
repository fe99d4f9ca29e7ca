//! The forwarder's settings, read once from environment variables at cold start.

use std::time::Duration;

use logcore::base::env::{ConfigError, Env};
use logcore::base::retry::Backoff;
use logcore::base::runtime::Common;
use logcore::logs::document::JsonLimits;
use logcore::search::bulk::{IndexTemplate, SeparateGroups};
use logcore::search::index_setup::Layout;
pub use logpipe_io::search::{Auth, Endpoint};

/// Time kept free before the deadline: requests in flight, dead letters and the checkpoint finish.
const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

/// Every setting of the forwarder. See the README for the variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// The cluster and how to authenticate to it.
    pub endpoint: Endpoint,
    /// Index of application documents …
    pub index: IndexTemplate,
    /// … and of the documents of objects under one of `audit_prefixes` (the audit stream's).
    pub audit_index: IndexTemplate,
    pub audit_prefixes: Vec<String>,
    /// Log groups with indices (and a retention) of their own.
    pub separate: SeparateGroups,
    /// Indices of a restore label (an SQS message's `logpipe.restore`, see [`Config::restored`]) are the
    /// live names under `{restore_prefix}{label}-`.
    pub restore_prefix: String,
    /// Empty on the live path; a restore label's prefix (`restore-march-`) for its messages' objects, under
    /// which their checkpoints are kept apart from the live ones ([`Config::checkpoints`]).
    pub restore_scope: String,
    /// Templates, mappings and retention installed at cold start (`SEARCH_SETUP`), and how.
    pub setup: Option<Layout>,
    pub json: JsonLimits,
    /// A bulk request is sent once it holds this many bytes …
    pub bulk_max_bytes: usize,
    /// … or this many documents.
    pub bulk_max_actions: usize,
    /// Bulk requests in flight per object.
    pub in_flight: usize,
    pub gzip: bool,
    pub gzip_level: u32,
    pub request_timeout: Duration,
    pub backoff: Backoff,
    /// Longest unit (document or line) indexed; longer ones are dead-lettered with their start.
    pub max_doc_bytes: usize,
    /// Decompression cap per object (bomb guard).
    pub max_object_bytes: u64,
    /// Dead letters go to this bucket (default: the object's own bucket) under this prefix.
    pub dead_letter_bucket: Option<String>,
    pub dead_letter_prefix: String,
    /// Checkpoints of objects not finished in one invocation, in the dead-letter bucket under this prefix.
    pub checkpoint_prefix: String,
    /// Dead-letter objects whose documents a redrive indexed are moved here (`logpipe redrive`).
    pub redriven_prefix: String,
    /// Dead-letter records are written in objects of about this size.
    pub dead_letter_chunk: usize,
    /// The rules that join the text lines of a stack trace in a plain-text object into one document
    /// (`MULTILINE`, `MULTILINE_RULES`, their globs matched against the object's key; `None`: one document
    /// a line). Documents of the transforms (JSON) are never joined.
    pub multiline: Option<logcore::logs::multiline::Rules>,
    /// Time kept free before the Lambda deadline to report.
    pub common: Common,
}

/// Variables [`Config::from_env`] reads (the SAM template test checks it sets no others).
pub const ENV_VARS: &[&str] = &[
    "SEARCH_URL",
    "SEARCH_AUTH",
    "SEARCH_SECRET_ARN",
    "INDEX",
    "AUDIT_INDEX",
    "AUDIT_PREFIXES",
    "SEPARATE_GROUPS",
    "RESTORE_INDEX_PREFIX",
    "SEARCH_SETUP",
    "SEARCH_SETUP_NAME",
    "SEARCH_SHARDS",
    "SEARCH_REPLICAS",
    "SEARCH_REFRESH_INTERVAL",
    "SEARCH_RETENTION_DAYS",
    "JSON_MAX_DEPTH",
    "JSON_MAX_KEYS",
    "BULK_MAX_BYTES",
    "BULK_MAX_ACTIONS",
    "BULK_IN_FLIGHT",
    "BULK_GZIP",
    "REQUEST_TIMEOUT_MS",
    "MAX_ATTEMPTS",
    "MAX_DOC_BYTES",
    "MAX_OBJECT_BYTES",
    "DEAD_LETTER_BUCKET",
    "DEAD_LETTER_PREFIX",
    "CHECKPOINT_PREFIX",
    "REDRIVEN_PREFIX",
    "MULTILINE",
    "MULTILINE_RULES",
    "DEADLINE_MARGIN_MS",
    "METRICS_NAMESPACE",
];

impl Config {
    /// The index template for the documents of object `key`.
    pub fn index_for(&self, key: &str) -> &IndexTemplate {
        if self
            .audit_prefixes
            .iter()
            .any(|p| key.starts_with(p.as_str()))
        {
            &self.audit_index
        } else {
            &self.index
        }
    }

    /// The settings for the objects of a message with restore label `label`: every index name (families and
    /// separated groups) under `{restore_prefix}{label}-`, and checkpoints of their own (a live checkpoint
    /// says what the live indices hold); ids and dead letters are the live path's. The error names the label and what is wrong with it.
    pub fn restored(&self, label: &str) -> Result<Config, String> {
        let prefix = logcore::search::bulk::restore_prefix(&self.restore_prefix, label)?;
        let named = |e: String| format!("restore label {label:?}: {e}");
        let mut cfg = self.clone();
        cfg.index = self.index.prefixed(&prefix).map_err(named)?;
        cfg.audit_index = self.audit_index.prefixed(&prefix).map_err(named)?;
        cfg.separate = self.separate.prefixed(&prefix).map_err(named)?;
        // A checkpoint says which units the live indices hold: a restore keeps its own.
        cfg.restore_scope = prefix;
        Ok(cfg)
    }

    /// Where this path's checkpoints are kept: `CHECKPOINT_PREFIX`, and a restore label's prefix after it.
    pub fn checkpoints(&self) -> String {
        format!("{}{}", self.checkpoint_prefix, self.restore_scope)
    }

    /// Defaults for everything but the URL (no authentication).
    pub fn new(search_url: &str) -> Self {
        Config {
            endpoint: Endpoint {
                url: search_url.trim_end_matches('/').to_string(),
                auth: Auth::None,
                region: None,
            },
            index: IndexTemplate::default(),
            audit_index: IndexTemplate::audit(),
            audit_prefixes: vec!["audit/".into()],
            separate: SeparateGroups::default(),
            restore_prefix: "restore-".into(),
            restore_scope: String::new(),
            setup: None,
            json: JsonLimits::default(),
            bulk_max_bytes: 5_000_000,
            bulk_max_actions: 1_000,
            in_flight: 3,
            gzip: true,
            gzip_level: 1,
            request_timeout: Duration::from_secs(30),
            backoff: Backoff {
                base: Duration::from_millis(200),
                max_delay: Duration::from_secs(10),
                max_attempts: 10,
            },
            max_doc_bytes: logcore::logs::document::MAX_DOCUMENT_BYTES,
            max_object_bytes: 64 << 30,
            dead_letter_bucket: None,
            dead_letter_prefix: "failed/".into(),
            checkpoint_prefix: "checkpoints/".into(),
            redriven_prefix: "failed-redriven/".into(),
            dead_letter_chunk: 4 << 20,
            multiline: Some(logcore::logs::multiline::Rules::builtin()),
            common: Common::new("s3-search-forwarder", DEADLINE_MARGIN),
        }
    }

    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&var);
        let endpoint = Endpoint::from_env(&env)?;
        let mut cfg = Config::new(&endpoint.url);
        cfg.endpoint.auth = endpoint.auth;
        cfg.endpoint.region = endpoint.region;
        if let Some(t) = env.get("INDEX") {
            cfg.index = t.parse().map_err(|e: String| env.err("INDEX", &t, e))?;
        }
        if let Some(t) = env.get("AUDIT_INDEX") {
            cfg.audit_index = t
                .parse()
                .map_err(|e: String| env.err("AUDIT_INDEX", &t, e))?;
        }
        if let Some(p) = env.get("AUDIT_PREFIXES") {
            cfg.audit_prefixes = p
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(spec) = env.get("SEPARATE_GROUPS") {
            cfg.separate =
                SeparateGroups::parse(&spec).map_err(|e| env.err("SEPARATE_GROUPS", &spec, e))?;
        }
        if let Some(p) = env.get("RESTORE_INDEX_PREFIX") {
            // The prefix must make names the engines take, before any label.
            IndexTemplate::default()
                .prefixed(&format!("{p}x-"))
                .map_err(|e| env.err("RESTORE_INDEX_PREFIX", &p, e))?;
            if cfg.index.to_string().starts_with(&p) || cfg.audit_index.to_string().starts_with(&p)
            {
                return Err(env.err(
                    "RESTORE_INDEX_PREFIX",
                    &p,
                    "the live indices' names start with it: restored and live indices would share a pattern",
                ));
            }
            cfg.restore_prefix = p;
        }
        cfg.setup = setup_layout(&env, &cfg)?;
        if let Some(n) = env.num("JSON_MAX_DEPTH", 1, 20)? {
            cfg.json.max_depth = n;
        }
        if let Some(n) = env.num("JSON_MAX_KEYS", 1, 10_000)? {
            cfg.json.max_keys = n;
        }
        if let Some(n) = env.num("BULK_MAX_BYTES", 1_000, 100_000_000)? {
            cfg.bulk_max_bytes = n;
        }
        if let Some(n) = env.num("BULK_MAX_ACTIONS", 1, 100_000)? {
            cfg.bulk_max_actions = n;
        }
        if let Some(n) = env.num("BULK_IN_FLIGHT", 1, 32)? {
            cfg.in_flight = n;
        }
        cfg.gzip = env.flag("BULK_GZIP", true)?;
        if let Some(n) = env.num("REQUEST_TIMEOUT_MS", 100, 900_000)? {
            cfg.request_timeout = Duration::from_millis(n as u64);
        }
        if let Some(n) = env.num("MAX_ATTEMPTS", 1, 100)? {
            cfg.backoff.max_attempts = n as u32;
        }
        if let Some(n) = env.num("MAX_DOC_BYTES", 1_024, 100_000_000)? {
            cfg.max_doc_bytes = n;
        }
        if let Some(n) = env.num("MAX_OBJECT_BYTES", 1_024, usize::MAX)? {
            cfg.max_object_bytes = n as u64;
        }
        cfg.multiline = logcore::logs::multiline::rules_from_env(&env)?;
        cfg.dead_letter_bucket = env.get("DEAD_LETTER_BUCKET");
        if let Some(p) = env.get("DEAD_LETTER_PREFIX") {
            cfg.dead_letter_prefix = p;
        }
        if let Some(p) = env.get("CHECKPOINT_PREFIX") {
            if p == cfg.dead_letter_prefix {
                return Err(env.err(
                    "CHECKPOINT_PREFIX",
                    &p,
                    "must differ from DEAD_LETTER_PREFIX",
                ));
            }
            cfg.checkpoint_prefix = p;
        }
        if let Some(p) = env.get("REDRIVEN_PREFIX") {
            if p.is_empty()
                || p.starts_with(&cfg.dead_letter_prefix)
                || cfg.dead_letter_prefix.starts_with(&p)
                || p.starts_with(&cfg.checkpoint_prefix)
            {
                return Err(env.err(
                    "REDRIVEN_PREFIX",
                    &p,
                    "must be a prefix apart from DEAD_LETTER_PREFIX and CHECKPOINT_PREFIX",
                ));
            }
            cfg.redriven_prefix = p;
        }
        cfg.common = Common::from_env(&env, "s3-search-forwarder", Some(DEADLINE_MARGIN))?;
        Ok(cfg)
    }
}

/// The search setup's layout (`SEARCH_SETUP` and its settings, read and checked whether or not setup is
/// on): patterns from the index templates, settings, retention, separated groups.
fn setup_layout(env: &Env, cfg: &Config) -> Result<Option<Layout>, ConfigError> {
    let on = env.flag("SEARCH_SETUP", false)?;
    // A retention policy deletes whole indices by age: on a single index it would delete everything.
    for (name, t) in [("INDEX", &cfg.index), ("AUDIT_INDEX", &cfg.audit_index)] {
        if on && !t.has_date() {
            return Err(env.err(
                name,
                &env.get(name).unwrap_or_default(),
                "has no date part (%Y.%m.%d): with SEARCH_SETUP its retention policy would delete the one \
                 index whole; use a daily name or SEARCH_SETUP=false",
            ));
        }
    }
    let mut layout = Layout {
        app_patterns: vec![cfg.index.wildcard()],
        audit_patterns: vec![cfg.audit_index.wildcard()],
        restore_prefix: Some(cfg.restore_prefix.clone()),
        ..Layout::default()
    };
    if let Some(n) = env.get("SEARCH_SETUP_NAME") {
        if !n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || n.starts_with('-')
        {
            return Err(env.err(
                "SEARCH_SETUP_NAME",
                &n,
                "lower-case letters, digits and '-', not starting with '-'",
            ));
        }
        layout.name = n;
    }
    if let Some(n) = env.num("SEARCH_SHARDS", 1, 1024)? {
        layout.shards = n as u32;
    }
    if let Some(n) = env.num("SEARCH_REPLICAS", 0, 15)? {
        layout.replicas = n as u32;
    }
    if let Some(r) = env.get("SEARCH_REFRESH_INTERVAL") {
        let ok = r == "-1"
            || r.strip_suffix("ms")
                .or_else(|| r.strip_suffix('s'))
                .or_else(|| r.strip_suffix('m'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(env.err(
                "SEARCH_REFRESH_INTERVAL",
                &r,
                "expected a time such as 1s, 30s, 500ms or 1m, or -1",
            ));
        }
        layout.refresh_interval = r;
    }
    if let Some(n) = env.num("SEARCH_RETENTION_DAYS", 1, 36_500)? {
        layout.retention_days = n as u32;
    }
    layout.separate = cfg
        .separate
        .patterns()
        .into_iter()
        .map(|(days, p)| (days.unwrap_or(layout.retention_days), p))
        .collect();
    Ok(on.then_some(layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_env(logcore::base::env::pairs(vars))
    }

    #[test]
    fn auth_from_host_and_settings() {
        let c = from(&[
            ("SEARCH_URL", "https://search-x.eu-west-1.es.amazonaws.com/"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(
            c.endpoint.auth,
            Auth::SigV4 {
                service: "es".into()
            }
        );
        assert_eq!(
            c.endpoint.url,
            "https://search-x.eu-west-1.es.amazonaws.com"
        );
        let c = from(&[
            ("SEARCH_URL", "https://abc.eu-west-1.aoss.amazonaws.com"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(
            c.endpoint.auth,
            Auth::SigV4 {
                service: "aoss".into()
            }
        );
        let c = from(&[
            ("SEARCH_URL", "https://elastic.example.com:9243"),
            (
                "SEARCH_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:es",
            ),
        ])
        .unwrap();
        assert!(matches!(c.endpoint.auth, Auth::Secret { .. }));
        let c = from(&[("SEARCH_URL", "http://127.0.0.1:9200")]).unwrap();
        assert_eq!(c.endpoint.auth, Auth::None);
        assert_eq!(
            (c.bulk_max_bytes, c.bulk_max_actions, c.gzip),
            (5_000_000, 1_000, true)
        );
    }

    #[test]
    fn families_and_setup() {
        let c = from(&[("SEARCH_URL", "http://x")]).unwrap();
        assert_eq!(c.index_for("logs/2026/x.gz").wildcard(), "logs-app-*.*.*");
        assert_eq!(
            c.index_for("audit/2026/x.gz").wildcard(),
            "logs-audit-*.*.*"
        );
        assert_eq!(c.setup, None);
        let c = from(&[
            ("SEARCH_URL", "http://x"),
            ("SEARCH_SETUP", "true"),
            ("SEARCH_RETENTION_DAYS", "90"),
            ("SEARCH_SHARDS", "3"),
            ("AUDIT_PREFIXES", "db/, audit/"),
        ])
        .unwrap();
        let l = c.setup.clone().unwrap();
        assert_eq!((l.retention_days, l.shards, l.replicas), (90, 3, 1));
        assert_eq!(l.app_patterns, ["logs-app-*.*.*"]);
        assert_eq!(l.audit_patterns, ["logs-audit-*.*.*"]);
        assert_eq!(c.index_for("db/x").wildcard(), "logs-audit-*.*.*");
        assert_eq!(l.restore_prefix.as_deref(), Some("restore-"));
        let r = c.restored("march").unwrap();
        assert_eq!(r.index.to_string(), "restore-march-logs-app-%Y.%m.%d");
        assert_eq!(r.checkpoints(), "checkpoints/restore-march-");
        assert_eq!(c.checkpoints(), "checkpoints/");
        assert_eq!(
            r.index_for("db/x").to_string(),
            "restore-march-logs-audit-%Y.%m.%d"
        );
        assert!(c
            .restored("../other")
            .unwrap_err()
            .contains("restore label"));
        let c = from(&[
            ("SEARCH_URL", "http://x"),
            ("SEARCH_SETUP", "true"),
            (
                "SEPARATE_GROUPS",
                "/ecs/payments=365, /aws/rds/cluster/*/audit=2555, /ecs/noisy",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.setup.unwrap().separate,
            [
                (365, vec!["logs-group-ecs-payments-*".to_string()]),
                (2555, vec!["logs-group-aws-rds-cluster*audit-*".to_string()]),
                (30, vec!["logs-group-ecs-noisy-*".to_string()]),
            ]
        );
        assert!(from(&[
            ("SEARCH_URL", "http://x"),
            ("SEPARATE_GROUPS", "/a=forever")
        ])
        .unwrap_err()
        .to_string()
        .contains("SEPARATE_GROUPS"));
    }

    #[test]
    fn bad_settings_are_named() {
        for (vars, want) in [
            (vec![], "SEARCH_URL"),
            (vec![("SEARCH_URL", "ftp://x")], "https://"),
            (
                vec![("SEARCH_URL", "https://x.es.amazonaws.com")],
                "AWS_REGION",
            ),
            (
                vec![("SEARCH_URL", "http://x"), ("SEARCH_AUTH", "kerberos")],
                "SEARCH_AUTH",
            ),
            (
                vec![("SEARCH_URL", "http://x"), ("SEARCH_AUTH", "secret")],
                "SEARCH_SECRET_ARN",
            ),
            (vec![("SEARCH_URL", "http://x"), ("INDEX", "Logs")], "INDEX"),
            (
                vec![("SEARCH_URL", "http://x"), ("AUDIT_INDEX", "a b")],
                "AUDIT_INDEX",
            ),
            (
                vec![
                    ("SEARCH_URL", "http://x"),
                    ("SEARCH_SETUP", "true"),
                    ("SEARCH_REFRESH_INTERVAL", "soon"),
                ],
                "SEARCH_REFRESH_INTERVAL",
            ),
            (
                vec![
                    ("SEARCH_URL", "http://x"),
                    ("SEARCH_SETUP", "true"),
                    ("SEARCH_RETENTION_DAYS", "0"),
                ],
                "SEARCH_RETENTION_DAYS",
            ),
            (
                vec![
                    ("SEARCH_URL", "http://x"),
                    ("SEARCH_SETUP", "true"),
                    ("INDEX", "logs-app"),
                ],
                "no date part",
            ),
            (
                vec![("SEARCH_URL", "http://x"), ("CHECKPOINT_PREFIX", "failed/")],
                "CHECKPOINT_PREFIX",
            ),
            (
                vec![("SEARCH_URL", "http://x"), ("BULK_MAX_ACTIONS", "0")],
                "BULK_MAX_ACTIONS",
            ),
            (
                vec![("SEARCH_URL", "http://x"), ("BULK_GZIP", "maybe")],
                "BULK_GZIP",
            ),
            (
                vec![
                    ("SEARCH_URL", "http://x"),
                    ("REDRIVEN_PREFIX", "failed/done/"),
                ],
                "REDRIVEN_PREFIX",
            ),
            (
                vec![("SEARCH_URL", "http://x"), ("RESTORE_INDEX_PREFIX", "_r")],
                "RESTORE_INDEX_PREFIX",
            ),
            (
                vec![
                    ("SEARCH_URL", "http://x"),
                    ("RESTORE_INDEX_PREFIX", "logs-"),
                ],
                "RESTORE_INDEX_PREFIX",
            ),
        ] {
            let err = from(&vars).unwrap_err().to_string();
            assert!(err.contains(want), "{vars:?}: {err}");
        }
    }
}
