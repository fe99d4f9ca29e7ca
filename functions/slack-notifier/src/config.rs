//! Configuration from environment variables, read once at cold start.

use std::time::Duration;

use logcore::alert::slack::Format;
use logcore::alert::{RuleError, Rules, DEFAULT_LEVELS, DEFAULT_PATTERN};
use logcore::base::env::{ConfigError, Env};
use logcore::base::retry::Backoff;
use logcore::base::runtime::Common;

/// Time kept free before the deadline: the post in flight and the report finish.
const DEADLINE_MARGIN: Duration = Duration::from_millis(2000);

/// Every variable the function reads (the template's environment must match this list).
pub const ENV_VARS: &[&str] = &[
    "SLACK_SECRET_ARN",
    "SLACK_SSM_PARAMETER",
    "SLACK_API_URL",
    "ALERT_LOG_GROUPS",
    "ALERT_EXCLUDE_LOG_GROUPS",
    "ALERT_LEVELS",
    "ALERT_PATTERN",
    "ALERT_EXCLUDE_PATTERN",
    "ALERT_RULES",
    "ALERT_MENTIONS",
    "SLACK_DESTINATIONS",
    "ALERT_MAX_SHOWN",
    "ALERT_MAX_MESSAGE_CHARS",
    "SUPPRESS_WINDOW_SECONDS",
    "SUPPRESS_TABLE",
    "SLACK_MIN_INTERVAL_MS",
    "REQUEST_TIMEOUT_MS",
    "MAX_ATTEMPTS",
    "DEADLINE_MARGIN_MS",
    "MAX_OBJECT_BYTES",
    "MAX_DOC_BYTES",
    "MULTILINE",
    "MULTILINE_RULES",
    "METRICS_NAMESPACE",
];

/// Where Slack messages go.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// An incoming webhook (the channel is part of the webhook).
    Webhook { url: String },
    /// `chat.postMessage` with a bot token.
    Bot {
        api_url: String,
        token: String,
        channel: String,
    },
}

impl std::fmt::Debug for Target {
    // The webhook URL and the token are secrets: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Webhook { .. } => f.write_str("Webhook(<secret>)"),
            Target::Bot {
                api_url, channel, ..
            } => write!(f, "Bot({api_url}, channel {channel}, <token>)"),
        }
    }
}

/// The default `chat.postMessage` endpoint.
pub const SLACK_API_URL: &str = "https://slack.com/api/chat.postMessage";

/// Read a secret value: a webhook URL, or JSON `{"webhook_url": …}` or `{"bot_token": …, "channel": …}`.
pub fn target_from_secret(value: &str, api_url: &str) -> Result<Target, String> {
    let v = value.trim();
    if v.starts_with("https://") || v.starts_with("http://") {
        return Ok(Target::Webhook { url: v.to_string() });
    }
    let j: serde_json::Value = serde_json::from_str(v).map_err(|_| {
        "the Slack secret is neither a webhook URL nor JSON with webhook_url or bot_token and channel"
            .to_string()
    })?;
    let s = |k: &str| {
        j.get(k)
            .and_then(|x| x.as_str())
            .map(str::trim)
            .filter(|x| !x.is_empty())
    };
    if let Some(url) = s("webhook_url") {
        return Ok(Target::Webhook {
            url: url.to_string(),
        });
    }
    match (s("bot_token"), s("channel")) {
        (Some(token), Some(channel)) => Ok(Target::Bot {
            api_url: api_url.to_string(),
            token: token.to_string(),
            channel: channel.to_string(),
        }),
        (Some(_), None) => Err("the Slack secret has bot_token but no channel".into()),
        _ => Err("the Slack secret JSON has neither webhook_url nor bot_token".into()),
    }
}

/// Where the Slack secret is read from at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    SecretsManager(String),
    Ssm(String),
}

impl SecretSource {
    /// A reference as `SLACK_DESTINATIONS` gives it: an SSM parameter name (`/…`), else a Secrets Manager
    /// secret (ARN or name).
    pub fn parse(reference: &str) -> Option<SecretSource> {
        let r = reference.trim();
        match r {
            "" => None,
            r if r.starts_with('/') => Some(SecretSource::Ssm(r.to_string())),
            r => Some(SecretSource::SecretsManager(r.to_string())),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The default destination's secret.
    pub secret: SecretSource,
    /// The named destinations the rules may route to (`SLACK_DESTINATIONS`), each with its secret.
    pub destinations: Vec<(String, SecretSource)>,
    pub api_url: String,
    pub rules: Rules,
    pub format: Format,
    /// Repeats within this window are counted, not sent (0: off).
    pub suppress_window: Duration,
    /// The DynamoDB table of the repeat memory all containers share (`SUPPRESS_TABLE`); without one, each
    /// container remembers alone.
    pub suppress_table: Option<String>,
    /// Slack takes about one message per second per webhook: the least time between two posts.
    pub min_interval: Duration,
    pub request_timeout: Duration,
    pub backoff: Backoff,
    pub max_object_bytes: u64,
    pub max_doc_bytes: usize,
    /// The rules that join a subscription payload's lines of one stack trace into one alert (`MULTILINE`,
    /// `MULTILINE_RULES`, as the CloudWatch Logs transform reads them; `None`: one alert an event).
    pub multiline: Option<logcore::logs::multiline::Rules>,
    pub common: Common,
}

impl Config {
    /// Defaults, reading nothing (tests, the CLI).
    pub fn new(secret: SecretSource) -> Self {
        Config {
            secret,
            destinations: Vec::new(),
            api_url: SLACK_API_URL.into(),
            rules: Rules::new("", "", DEFAULT_LEVELS, Some(DEFAULT_PATTERN), None, None)
                .expect("the default rules compile"),
            format: Format::default(),
            suppress_window: Duration::from_secs(600),
            suppress_table: None,
            min_interval: Duration::from_millis(1000),
            request_timeout: Duration::from_secs(10),
            backoff: Backoff {
                base: Duration::from_millis(200),
                max_delay: Duration::from_secs(10),
                max_attempts: 6,
            },
            max_object_bytes: 64 << 30,
            max_doc_bytes: logcore::logs::document::MAX_DOCUMENT_BYTES,
            multiline: Some(logcore::logs::multiline::Rules::builtin()),
            common: Common::new("slack-notifier", DEADLINE_MARGIN),
        }
    }

    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&var);
        let secret = match (env.get("SLACK_SECRET_ARN"), env.get("SLACK_SSM_PARAMETER")) {
            (Some(arn), None) => SecretSource::SecretsManager(arn),
            (None, Some(name)) => SecretSource::Ssm(name),
            (Some(_), Some(_)) => {
                return Err(env.err(
                    "SLACK_SSM_PARAMETER",
                    "",
                    "set either SLACK_SECRET_ARN or SLACK_SSM_PARAMETER, not both",
                ))
            }
            (None, None) => {
                return Err(env.err(
                    "SLACK_SECRET_ARN",
                    "",
                    "required (or SLACK_SSM_PARAMETER): the webhook URL or bot token is a secret, never a plain variable",
                ))
            }
        };
        let mut c = Config::new(secret);
        if let Some(u) = env.get("SLACK_API_URL") {
            c.api_url = u;
        }
        let levels = env
            .get("ALERT_LEVELS")
            .unwrap_or_else(|| DEFAULT_LEVELS.into());
        let pattern = env
            .get("ALERT_PATTERN")
            .unwrap_or_else(|| DEFAULT_PATTERN.into());
        c.rules = Rules::new(
            &env.get("ALERT_LOG_GROUPS").unwrap_or_default(),
            &env.get("ALERT_EXCLUDE_LOG_GROUPS").unwrap_or_default(),
            &levels,
            Some(&pattern),
            env.get("ALERT_EXCLUDE_PATTERN").as_deref(),
            env.get_raw("ALERT_RULES").as_deref(),
        )
        .map_err(|e| {
            let name = match &e {
                RuleError::Pattern { which, .. } => *which,
                RuleError::Level(_) => "ALERT_LEVELS",
                RuleError::Rules(_) => "ALERT_RULES",
            };
            env.err(name, "", e.to_string())
        })?;
        if let Some(m) = env.get_raw("ALERT_MENTIONS") {
            c.rules
                .set_level_mentions(&m)
                .map_err(|e| env.err("ALERT_MENTIONS", "", e.to_string()))?;
        }
        c.destinations = destinations(&env)?;
        // Every destination a rule names must be configured: an alert meant for another channel never lands
        // in this one, nor nowhere.
        for d in c.rules.destinations() {
            if d != logcore::alert::DEFAULT_DESTINATION
                && !c.destinations.iter().any(|(n, _)| n == d)
            {
                return Err(env.err(
                    "ALERT_RULES",
                    "",
                    format!(
                        "a rule routes to destination {d:?}, which SLACK_DESTINATIONS does not name"
                    ),
                ));
            }
        }
        let num = |name: &'static str, default: usize, min: usize, max: usize| {
            env.num(name, min, max).map(|v| v.unwrap_or(default))
        };
        c.format.max_shown = num("ALERT_MAX_SHOWN", 5, 1, 47)?;
        c.format.max_message_chars = num("ALERT_MAX_MESSAGE_CHARS", 2500, 100, 2800)?;
        if let Some(r) = var("AWS_REGION").filter(|r| !r.is_empty()) {
            c.format.default_region = r;
        }
        let secs = |n: usize| Duration::from_secs(n as u64);
        let millis = |n: usize| Duration::from_millis(n as u64);
        c.suppress_window = secs(num("SUPPRESS_WINDOW_SECONDS", 600, 0, 86_400)?);
        c.suppress_table = env.get("SUPPRESS_TABLE");
        c.min_interval = millis(num("SLACK_MIN_INTERVAL_MS", 1000, 0, 60_000)?);
        c.request_timeout = millis(num("REQUEST_TIMEOUT_MS", 10_000, 100, 300_000)?);
        c.backoff.max_attempts = num("MAX_ATTEMPTS", 6, 1, 100)? as u32;
        c.max_object_bytes = num("MAX_OBJECT_BYTES", 64 << 30, 1, usize::MAX)? as u64;
        c.max_doc_bytes = num(
            "MAX_DOC_BYTES",
            logcore::logs::document::MAX_DOCUMENT_BYTES,
            1024,
            256 << 20,
        )?;
        c.multiline = logcore::logs::multiline::rules_from_env(&env)?;
        c.common = Common::from_env(&env, "slack-notifier", Some(DEADLINE_MARGIN))?;
        Ok(c)
    }
}

/// `SLACK_DESTINATIONS`: a JSON object of destination name → secret reference (a Secrets Manager ARN or
/// name, or an SSM parameter name starting with `/`), `{"payments": "/logpipe/prod/slack/payments"}`.
fn destinations(env: &Env<'_>) -> Result<Vec<(String, SecretSource)>, ConfigError> {
    let Some(text) = env
        .get_raw("SLACK_DESTINATIONS")
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(Vec::new());
    };
    let err = |why: String| env.err("SLACK_DESTINATIONS", "", why);
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&text).map_err(|e| {
            err(format!(
                "a JSON object of destination name to secret ARN or SSM parameter name: {e}"
            ))
        })?;
    let mut out = Vec::new();
    for (name, reference) in map {
        if name == logcore::alert::DEFAULT_DESTINATION {
            return Err(err(
                "\"default\" is the SLACK_SECRET_ARN / SLACK_SSM_PARAMETER destination".into(),
            ));
        }
        logcore::alert::check_destinations([name.as_str()]).map_err(err)?;
        let source = SecretSource::parse(&reference)
            .ok_or_else(|| err(format!("destination {name:?} has no secret")))?;
        out.push((name, source));
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
    fn a_secret_source_is_required_and_only_one() {
        let e = from(&[]).unwrap_err();
        assert!(e.to_string().contains("SLACK_SECRET_ARN"), "{e}");
        let e = from(&[("SLACK_SECRET_ARN", "a"), ("SLACK_SSM_PARAMETER", "b")]).unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
        let c = from(&[("SLACK_SSM_PARAMETER", "/logpipe/slack")]).unwrap();
        assert_eq!(c.secret, SecretSource::Ssm("/logpipe/slack".into()));
    }

    #[test]
    fn values_are_read_and_checked() {
        let c = from(&[
            (
                "SLACK_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:s",
            ),
            ("ALERT_MAX_SHOWN", "10"),
            ("SUPPRESS_WINDOW_SECONDS", "0"),
            ("AWS_REGION", "eu-west-1"),
            ("ALERT_LEVELS", "warn,error"),
        ])
        .unwrap();
        assert_eq!(c.format.max_shown, 10);
        assert_eq!(c.suppress_window, Duration::ZERO);
        assert_eq!(c.format.default_region, "eu-west-1");
        assert_eq!(c.rules.default.levels, vec!["WARN", "ERROR"]);
        let e = from(&[("SLACK_SECRET_ARN", "a"), ("ALERT_MAX_SHOWN", "80")]).unwrap_err();
        assert!(e.to_string().contains("ALERT_MAX_SHOWN"), "{e}");
        let e = from(&[("SLACK_SECRET_ARN", "a"), ("ALERT_PATTERN", "(")]).unwrap_err();
        assert!(e.to_string().contains("ALERT_PATTERN"), "{e}");
    }

    #[test]
    fn destinations_are_named_secrets_and_every_routed_one_must_exist() {
        let rules = r#"[{"log_groups": ["/ecs/pay*"], "destinations": ["payments"]},
            {"name": "silent", "kind": "absence", "log_groups": ["/ecs/a"], "minutes": 5, "destinations": ["oncall"]}]"#;
        let c = from(&[
            ("SLACK_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:s"),
            ("ALERT_RULES", rules),
            (
                "SLACK_DESTINATIONS",
                r#"{"payments": "/logpipe/prod/slack/payments", "oncall": "arn:aws:secretsmanager:eu-west-1:1:secret:oncall", "spare": "spare-name"}"#,
            ),
            ("ALERT_MENTIONS", r#"{"FATAL": ["<!subteam^S0ONCALL>"]}"#),
        ])
        .unwrap();
        assert_eq!(
            c.destinations,
            [
                (
                    "oncall".to_string(),
                    SecretSource::SecretsManager(
                        "arn:aws:secretsmanager:eu-west-1:1:secret:oncall".into()
                    )
                ),
                (
                    "payments".to_string(),
                    SecretSource::Ssm("/logpipe/prod/slack/payments".into())
                ),
                (
                    "spare".to_string(),
                    SecretSource::SecretsManager("spare-name".into())
                ),
            ]
        );
        assert_eq!(c.rules.level_mentions.len(), 1);
        let e = from(&[
            ("SLACK_SECRET_ARN", "a"),
            ("ALERT_RULES", rules),
            ("SLACK_DESTINATIONS", r#"{"payments": "/p"}"#),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("ALERT_RULES") && e.contains("\"oncall\""), "{e}");
        for (bad, why) in [
            (r#"{"default": "/d"}"#, "SLACK_SECRET_ARN"),
            (r#"{"Pay Ments": "/d"}"#, "\"Pay Ments\""),
            (r#"{"p": " "}"#, "no secret"),
            (r#"["/d"]"#, "JSON object"),
        ] {
            let e = from(&[("SLACK_SECRET_ARN", "a"), ("SLACK_DESTINATIONS", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("SLACK_DESTINATIONS") && e.contains(why),
                "{bad}: {e}"
            );
        }
        let e = from(&[
            ("SLACK_SECRET_ARN", "a"),
            ("ALERT_MENTIONS", r#"{"ERROR": ["@here"]}"#),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("ALERT_MENTIONS"), "{e}");
    }

    #[test]
    fn secrets_in_three_shapes() {
        assert_eq!(
            target_from_secret(" https://hooks.slack.com/services/T/B/x\n", SLACK_API_URL).unwrap(),
            Target::Webhook {
                url: "https://hooks.slack.com/services/T/B/x".into()
            }
        );
        assert_eq!(
            target_from_secret(r#"{"webhook_url":"https://h/x"}"#, SLACK_API_URL).unwrap(),
            Target::Webhook {
                url: "https://h/x".into()
            }
        );
        let bot =
            target_from_secret(r#"{"bot_token":"xoxb-1","channel":"C1"}"#, "http://api").unwrap();
        assert_eq!(
            bot,
            Target::Bot {
                api_url: "http://api".into(),
                token: "xoxb-1".into(),
                channel: "C1".into()
            }
        );
        assert!(!format!("{bot:?}").contains("xoxb"));
        assert!(target_from_secret(r#"{"bot_token":"x"}"#, SLACK_API_URL)
            .unwrap_err()
            .contains("no channel"));
        assert!(target_from_secret("hunter2", SLACK_API_URL).is_err());
    }
}
