//! Configuration, read once from environment variables at cold start.

use std::time::Duration;

use logcore::base::retry::Backoff;
use logcore::base::runtime::Common;
use logcore::transform::filter::MessageFilter;
use logcore::transform::firehose::RESPONSE_LIMIT;
use logcore::transform::s3prefix::S3Prefix;

pub use logcore::base::env::{ConfigError, Env};

use crate::render::{Documents, Render};

/// One Firehose dynamic-partitioning key the transform can emit in `metadata.partitionKeys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKey {
    /// The log group without its leading `/` (e.g. `ecs/api`).
    LogGroup,
    LogStream,
    /// The account that owns the log group (`owner` of the payload).
    AccountId,
    /// Event date of the record's first kept event: `YYYY`, `MM`, `DD`, `HH`, or `YYYY-MM-DD`.
    Year,
    Month,
    Day,
    Hour,
    Date,
}

impl PartitionKey {
    pub fn name(self) -> &'static str {
        match self {
            PartitionKey::LogGroup => "log_group",
            PartitionKey::LogStream => "log_stream",
            PartitionKey::AccountId => "account_id",
            PartitionKey::Year => "year",
            PartitionKey::Month => "month",
            PartitionKey::Day => "day",
            PartitionKey::Hour => "hour",
            PartitionKey::Date => "date",
        }
    }

    const ALL: [PartitionKey; 8] = [
        PartitionKey::LogGroup,
        PartitionKey::LogStream,
        PartitionKey::AccountId,
        PartitionKey::Year,
        PartitionKey::Month,
        PartitionKey::Day,
        PartitionKey::Hour,
        PartitionKey::Date,
    ];
}

/// Where the transform writes, itself, the documents of a record that no transformation response can carry
/// (an event whose document is larger than Lambda's 6 MB response, or that cannot be re-ingested): the
/// delivery stream's own bucket and prefix, so that the object lands where Firehose would have put the
/// record and everything downstream (the forwarder, the notifier) reads it as one of Firehose's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversize {
    pub bucket: String,
    /// The delivery stream's `Prefix`, evaluated for the record (see [`logcore::transform::s3prefix`]).
    pub prefix: S3Prefix,
}

/// A transform's settings: what it renders (`R`) and how records move. Every field has a default; see
/// [`Config::from_env`] for the variables.
#[derive(Debug, Clone)]
pub struct Config<R = Documents> {
    pub render: R,
    /// `cloud.region` when the Firehose event has none (`AWS_REGION`).
    pub region: Option<String>,
    pub filter: MessageFilter,
    pub partition_keys: Vec<PartitionKey>,
    /// Decompression cap per record (bomb guard).
    pub max_decompressed: usize,
    /// A payload already re-ingested this many times is failed rather than re-ingested again.
    pub max_hops: u32,
    /// Response size limit; [`RESPONSE_LIMIT`] except in tests.
    pub response_limit: usize,
    /// Largest response share (base64 of the documents) one re-ingested part of several events may need;
    /// a larger event goes back in a part of its own.
    pub part_output_budget: usize,
    /// Where documents too large for any response go; `None`: their records fail (to the error prefix).
    pub oversize: Option<Oversize>,
    pub backoff: Backoff,
    /// Longest a put call may take (the SDK's attempt timeout); no retry starts unless it can finish
    /// before the deadline.
    pub call_timeout: Duration,
    pub gzip_level: u32,
    /// Records decoded and rendered at once, each on a thread of its own (`TRANSFORM_THREADS`; by default
    /// the CPUs the function has: one full vCPU at 1,769 MB, six at 10,240 MB).
    pub threads: usize,
    /// Metrics, and the time kept free before the Lambda deadline to write the response.
    pub common: Common,
}

impl<R: Render + Default> Default for Config<R> {
    fn default() -> Self {
        Config {
            render: R::default(),
            region: None,
            filter: MessageFilter::default(),
            partition_keys: Vec::new(),
            max_decompressed: logcore::base::codec::DEFAULT_MAX_DECOMPRESSED,
            max_hops: 3,
            response_limit: RESPONSE_LIMIT,
            part_output_budget: 1024 * 1024,
            oversize: None,
            backoff: Backoff::default(),
            call_timeout: Duration::from_secs(10),
            gzip_level: 1,
            threads: cpus(),
            common: Common::new("logpipe-transform", DEADLINE_MARGIN),
        }
    }
}

/// The CPUs this process may run on (1 when that cannot be told).
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Environment variables read by [`Config::from_env`] for every transform (the SAM template sets these and
/// the renderer's [`Render::ENV_VARS`]).
pub const ENV_VARS: &[&str] = &[
    "INCLUDE_PATTERN",
    "EXCLUDE_PATTERN",
    "PARTITION_KEYS",
    "MAX_REINGEST_HOPS",
    "MAX_DECOMPRESSED_BYTES",
    "TRANSFORM_THREADS",
    "OVERSIZE_BUCKET",
    "OVERSIZE_PREFIX",
    "METRICS_NAMESPACE",
    "DEADLINE_MARGIN_MS",
];

/// Time kept free before the Lambda deadline to write the response.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

impl<R: Render + Default> Config<R> {
    /// Read the configuration through `var` (normally `std::env::var`): the renderer's variables (see
    /// [`crate::render`]) and these:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `INCLUDE_PATTERN` / `EXCLUDE_PATTERN` | regex on the message; events not kept are counted | unset |
    /// | `PARTITION_KEYS` | comma list of `log_group,log_stream,account_id,year,month,day,hour,date` | unset |
    /// | `MAX_REINGEST_HOPS` | re-ingestions of one payload before it is failed | 3 |
    /// | `MAX_DECOMPRESSED_BYTES` | decompression cap per record | 67108864 |
    /// | `OVERSIZE_BUCKET` / `OVERSIZE_PREFIX` | bucket and the delivery stream's `Prefix` expression, where documents too large for any response are written directly ([`Oversize`]); both or neither | unset: such records fail |
    /// | `METRICS_NAMESPACE` | EMF namespace | `logpipe` |
    /// | `DEADLINE_MARGIN_MS` | time kept free before the deadline to answer | 500 |
    ///
    /// `AWS_REGION` gives `cloud.region` when the event has none; `AWS_LAMBDA_FUNCTION_NAME` names the metrics.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Config<R>, ConfigError> {
        let env = Env::new(&var);
        let mut c = Config::<R> {
            render: R::from_env(&env)?,
            ..Config::default()
        };
        c.filter = MessageFilter::from_env(&env)?;
        if let Some(v) = env.get("PARTITION_KEYS") {
            for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let key = PartitionKey::ALL
                    .into_iter()
                    .find(|k| k.name() == part)
                    .ok_or_else(|| {
                        let names: Vec<_> = PartitionKey::ALL.iter().map(|k| k.name()).collect();
                        env.err(
                            "PARTITION_KEYS",
                            &v,
                            format!("unknown key {part:?}; known keys: {}", names.join(", ")),
                        )
                    })?;
                if !c.partition_keys.contains(&key) {
                    c.partition_keys.push(key);
                }
            }
        }
        if let Some(n) = env.num("MAX_REINGEST_HOPS", 0, 20)? {
            c.max_hops = n as u32;
        }
        if let Some(n) = env.num("MAX_DECOMPRESSED_BYTES", 1024, 1 << 30)? {
            c.max_decompressed = n;
        }
        if let Some(n) = env.num("TRANSFORM_THREADS", 0, 64)? {
            c.threads = if n == 0 { cpus() } else { n };
        }
        c.oversize = match (env.get("OVERSIZE_BUCKET"), env.get("OVERSIZE_PREFIX")) {
            (None, None) => None,
            (Some(bucket), Some(text)) => {
                let prefix = S3Prefix::parse(&text)
                    .map_err(|e| env.err("OVERSIZE_PREFIX", &text, e.problem))?;
                if let Some(k) = prefix
                    .keys()
                    .find(|k| !c.partition_keys.iter().any(|p| p.name() == *k))
                {
                    return Err(env.err(
                        "OVERSIZE_PREFIX",
                        &text,
                        format!("it reads the partition key {k:?}, which PARTITION_KEYS does not produce"),
                    ));
                }
                Some(Oversize { bucket, prefix })
            }
            (Some(_), None) => {
                return Err(env.err(
                    "OVERSIZE_PREFIX",
                    "",
                    "must be set with OVERSIZE_BUCKET (the delivery stream's Prefix)",
                ))
            }
            (None, Some(text)) => {
                return Err(env.err(
                    "OVERSIZE_BUCKET",
                    "",
                    format!("must be set with OVERSIZE_PREFIX ({text:?})"),
                ))
            }
        };
        c.common = Common::from_env(&env, "logpipe-transform", Some(DEADLINE_MARGIN))?;
        c.region = env.get("AWS_REGION");
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Audit;
    use logcore::base::env::pairs as env;
    use logcore::logs::document::{JsonLimits, OutputFormat};

    #[test]
    fn defaults() {
        let c: Config = Config::from_env(env(&[])).unwrap();
        assert_eq!(c.render.0.format, OutputFormat::Document);
        assert_eq!(c.render.0.json, Some(JsonLimits::default()));
        assert!(c.partition_keys.is_empty() && c.filter.is_noop());
        assert_eq!(c.max_hops, 3);
    }

    #[test]
    fn reads_every_variable() {
        let c: Config = Config::from_env(env(&[
            ("OUTPUT_FORMAT", "raw"),
            ("JSON_FIELDS", "false"),
            ("INCLUDE_PATTERN", "ERROR"),
            ("EXCLUDE_PATTERN", "health"),
            ("PARTITION_KEYS", "log_group, account_id,date,date"),
            ("MAX_REINGEST_HOPS", "5"),
            ("MAX_DECOMPRESSED_BYTES", "1048576"),
            ("OVERSIZE_BUCKET", "logs-bucket"),
            (
                "OVERSIZE_PREFIX",
                "logs/!{partitionKeyFromLambda:log_group}/!{partitionKeyFromLambda:date}/",
            ),
            ("METRICS_NAMESPACE", "acme/logs"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_LAMBDA_FUNCTION_NAME", "tf"),
        ]))
        .unwrap();
        assert_eq!(c.render.0.format, OutputFormat::Raw);
        assert_eq!(c.render.0.json, None);
        assert!(c.render.1.is_none(), "the raw format joins nothing");
        assert!(
            c.filter.keep("ERROR x") && !c.filter.keep("ERROR health") && !c.filter.keep("INFO")
        );
        assert_eq!(
            c.partition_keys,
            vec![
                PartitionKey::LogGroup,
                PartitionKey::AccountId,
                PartitionKey::Date
            ]
        );
        assert_eq!((c.max_hops, c.max_decompressed), (5, 1 << 20));
        let o = c.oversize.as_ref().unwrap();
        assert_eq!(o.bucket, "logs-bucket");
        assert_eq!(o.prefix.keys().collect::<Vec<_>>(), ["log_group", "date"]);
        assert_eq!(c.common.metrics_namespace, "acme/logs");
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.common.function_name, "tf");
        let c: Config =
            Config::from_env(env(&[("JSON_MAX_DEPTH", "2"), ("JSON_MAX_KEYS", "7")])).unwrap();
        assert_eq!(
            c.render.0.json,
            Some(JsonLimits {
                max_depth: 2,
                max_keys: 7
            })
        );
    }

    #[test]
    fn multiline_rules_from_the_variables() {
        let joins = |c: &Config, lines: &[&str]| {
            c.render
                .1
                .as_ref()
                .map(|r| r.joins("/ecs/legacy", lines).len())
        };
        let trace = ["java.lang.Error: x", "\tat a.B.c(B.java:1)"];
        let c: Config = Config::from_env(env(&[])).unwrap();
        assert_eq!(joins(&c, &trace), Some(1), "built-in rules by default");
        let c: Config = Config::from_env(env(&[("MULTILINE", "false")])).unwrap();
        assert_eq!(joins(&c, &trace), None);
        let rules = r#"[{"log_group": "/ecs/legacy*", "pattern": "^\\s", "match": "after"}]"#;
        let c: Config =
            Config::from_env(env(&[("MULTILINE", "false"), ("MULTILINE_RULES", rules)])).unwrap();
        assert_eq!(
            joins(&c, &["a", " b", "c"]),
            Some(1),
            "configured rules alone"
        );
        assert_eq!(
            joins(&c, &trace),
            Some(1),
            "a frame is indented: the configured rule joins it"
        );
        assert_eq!(
            joins(&c, &["java.lang.Error: x", "Caused by: y"]),
            Some(0),
            "no built-in rule"
        );
    }

    #[test]
    fn bad_values_are_named() {
        for (k, v, needle) in [
            ("OUTPUT_FORMAT", "xml", "unknown output format"),
            (
                "PARTITION_KEYS",
                "log_group,colour",
                "unknown key \"colour\"",
            ),
            ("MAX_REINGEST_HOPS", "-1", "whole number from 0 to 20"),
            ("JSON_MAX_DEPTH", "0", "from 1 to 64"),
            ("INCLUDE_PATTERN", "(", "unclosed"),
            ("JSON_FIELDS", "maybe", "true or false"),
            ("OVERSIZE_BUCKET", "b", "must be set with OVERSIZE_BUCKET"),
            ("MULTILINE", "sometimes", "true or false"),
            (
                "MULTILINE_RULES",
                "[{\"pattern\": \"x\"}]",
                "no \"log_group\"",
            ),
        ] {
            let e = Config::<Documents>::from_env(env(&[(k, v)])).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
            if k != "OVERSIZE_BUCKET" {
                assert_eq!(e.name, k);
            }
        }
        for (vars, name, needle) in [
            (
                vec![("OVERSIZE_PREFIX", "logs/")],
                "OVERSIZE_BUCKET",
                "must be set with OVERSIZE_PREFIX",
            ),
            (
                vec![
                    ("OVERSIZE_BUCKET", "b"),
                    ("OVERSIZE_PREFIX", "logs/!{timestamp:MMM}/"),
                ],
                "OVERSIZE_PREFIX",
                "MMM is not supported",
            ),
            (
                vec![
                    ("OVERSIZE_BUCKET", "b"),
                    (
                        "OVERSIZE_PREFIX",
                        "logs/!{partitionKeyFromLambda:log_group}/",
                    ),
                ],
                "OVERSIZE_PREFIX",
                "PARTITION_KEYS does not produce",
            ),
        ] {
            let e = Config::<Documents>::from_env(env(&vars)).unwrap_err();
            assert_eq!(e.name, name);
            assert!(e.to_string().contains(needle), "{e}");
        }
    }

    #[test]
    fn audit_variables() {
        let c: Config<Audit> = Config::from_env(env(&[
            ("AUDIT_ENGINE", "postgresql"),
            ("PG_LOG_LINE_PREFIX", "%m [%p] "),
            ("REDACT_PATTERNS", r#"["ssn=(\\d+)"]"#),
            ("MASK_LITERALS", "true"),
        ]))
        .unwrap();
        assert_eq!(c.render.0.engine, logcore::audit::EngineSetting::Postgres);
        assert!(c.render.0.redactor.mask_literals && c.render.0.redactor.builtin);
        assert_eq!(c.render.0.redactor.redact("ssn=123"), "ssn=[REDACTED]");
        for (k, v, needle) in [
            ("AUDIT_ENGINE", "oracle", "unknown engine"),
            ("PG_LOG_LINE_PREFIX", "%u%d", "follow each other"),
            ("REDACT_PATTERNS", "ssn=.*", "JSON array"),
            ("REDACT_PATTERNS", r#"["("]"#, "pattern \"(\""),
            ("REDACT", "sometimes", "true or false"),
        ] {
            let e = Config::<Audit>::from_env(env(&[(k, v)])).unwrap_err();
            assert_eq!(e.name, k);
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
