//! What to subscribe: rules read from `SUBSCRIPTIONS` (JSON), each a filter name, the log groups it
//! applies to, and where it points.

use logcore::base::env::{ConfigError, Env};
use logcore::base::retry::Backoff;
use logcore::base::runtime::Common;
use serde::Deserialize;

/// Time kept free before the deadline: the call in flight and the report finish.
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

pub const ENV_VARS: &[&str] = &[
    "SUBSCRIPTIONS",
    "EXCLUDE_LOG_GROUPS",
    "ACCOUNT_POLICIES",
    "ALERT_FILTER_PATTERN",
    "METRICS_NAMESPACE",
    "DEADLINE_MARGIN_MS",
];

/// Log groups logpipe never subscribes, whatever the rules say: its own functions' logs (a loop) — the
/// template names them `/logpipe/<env>/<function>`; the canary's heartbeat group there has its own filter.
pub const ALWAYS_EXCLUDED: &[&str] = &["/aws/lambda/logpipe-*", "/logpipe/*"];

/// A log group pattern: a glob or `re:` and a regular expression (logcore's, shared with the canary's
/// reconciliation).
pub use logcore::logs::glob::GroupPattern as Pattern;

/// One subscription filter logpipe owns, and the log groups that get it.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The filter's name: logpipe owns the filters of these names, and only those.
    pub filter_name: String,
    pub include: Vec<Pattern>,
    pub exclude: Vec<Pattern>,
    /// A Firehose delivery stream (in this account, with `role_arn`), a Lambda function, or a CloudWatch
    /// Logs destination of another account (no role).
    pub destination_arn: String,
    pub role_arn: Option<String>,
    /// CloudWatch Logs filter pattern; empty: every event.
    pub filter_pattern: String,
    /// The variable to read the filter pattern from, until the configuration is read.
    pub filter_pattern_env: Option<String>,
}

impl Rule {
    pub fn applies_to(&self, group: &str) -> bool {
        self.include.iter().any(|p| p.matches(group))
            && !self.exclude.iter().any(|p| p.matches(group))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleJson {
    filter_name: String,
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    destination_arn: String,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    filter_pattern: String,
    /// Take the filter pattern from this variable instead (ALERT_FILTER_PATTERN is the one the template
    /// sets): a pattern with double quotes cannot be written into JSON by a CloudFormation template.
    #[serde(default)]
    filter_pattern_env: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub rules: Vec<Rule>,
    /// Never subscribed, for every rule (with [`ALWAYS_EXCLUDED`]).
    pub exclude: Vec<Pattern>,
    pub backoff: Backoff,
    /// Read the account's subscription filter policies (`ACCOUNT_POLICIES`, default true) and leave out the
    /// filters they make redundant. Off for a role without `logs:DescribeAccountPolicies`, or a CloudWatch
    /// Logs stand-in without the API.
    pub account_policies: bool,
    /// Metrics, and the time kept free before the deadline (`DEADLINE_MARGIN_MS`, default 2 s) so that
    /// the call in flight and the report finish.
    pub common: Common,
}

impl Config {
    pub fn new(rules: Vec<Rule>) -> Config {
        Config {
            rules,
            exclude: ALWAYS_EXCLUDED
                .iter()
                .filter_map(|p| Pattern::parse(p).ok())
                .collect(),
            // CloudWatch Logs allows 5 subscription-filter calls per second per account: back off long.
            backoff: Backoff {
                base: std::time::Duration::from_millis(200),
                max_delay: std::time::Duration::from_secs(10),
                max_attempts: 10,
            },
            account_policies: true,
            common: Common::new("logpipe-log-subscriber", DEADLINE_MARGIN),
        }
    }

    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env::new(&var);
        let raw = env
            .get("SUBSCRIPTIONS")
            .ok_or_else(|| env.err("SUBSCRIPTIONS", "", "is required: a JSON list of rules"))?;
        let mut rules = parse_rules(&raw).map_err(|e| env.err("SUBSCRIPTIONS", &raw, e))?;
        for r in &mut rules {
            if let Some(var) = r.filter_pattern_env.take() {
                if var != "ALERT_FILTER_PATTERN" {
                    return Err(env.err(
                        "SUBSCRIPTIONS",
                        &raw,
                        format!("rule {:?}: filter_pattern_env may only name ALERT_FILTER_PATTERN, not {var:?}", r.filter_name),
                    ));
                }
                r.filter_pattern = env.get_raw("ALERT_FILTER_PATTERN").unwrap_or_default();
            }
        }
        let mut c = Config::new(rules);
        c.account_policies = env.flag("ACCOUNT_POLICIES", true)?;
        if let Some(v) = env.get("EXCLUDE_LOG_GROUPS") {
            for p in v.split(',').filter(|p| !p.trim().is_empty()) {
                c.exclude
                    .push(Pattern::parse(p).map_err(|e| env.err("EXCLUDE_LOG_GROUPS", &v, e))?);
            }
        }
        c.common = Common::from_env(&env, "logpipe-log-subscriber", Some(DEADLINE_MARGIN))?;
        Ok(c)
    }

    /// The rules that apply to a log group (none for an excluded one).
    pub fn rules_for<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        let excluded = self.exclude.iter().any(|p| p.matches(group));
        self.rules
            .iter()
            .filter(move |r| !excluded && r.applies_to(group))
    }
}

/// Rules from their JSON: `[{"filter_name", "include": [...], "exclude": [...], "destination_arn",
/// "role_arn", "filter_pattern"}]`. A `null` in the list is no rule (how a template leaves one out);
/// empty patterns are ignored, and a rule must keep at least one to include.
pub fn parse_rules(json: &str) -> Result<Vec<Rule>, String> {
    let list: Vec<Option<RuleJson>> =
        serde_json::from_str(json).map_err(|e| format!("not a list of rules: {e}"))?;
    let mut rules = Vec::with_capacity(list.len());
    for r in list.into_iter().flatten() {
        let name = r.filter_name.trim();
        if name.is_empty() || name.len() > 512 || name.contains(':') || name.contains('*') {
            return Err(format!(
                "filter_name {:?}: 1 to 512 characters, no ':' or '*'",
                r.filter_name
            ));
        }
        if rules.iter().any(|x: &Rule| x.filter_name == name) {
            return Err(format!("filter_name {name:?} is used by two rules"));
        }
        if !r.destination_arn.starts_with("arn:") {
            return Err(format!(
                "rule {name:?}: destination_arn {:?} is not an ARN",
                r.destination_arn
            ));
        }
        if r.include.iter().all(|p| p.trim().is_empty()) {
            return Err(format!("rule {name:?}: include lists no log group pattern"));
        }
        let patterns = |list: &[String]| {
            list.iter()
                .filter(|p| !p.trim().is_empty())
                .map(|p| Pattern::parse(p))
                .collect::<Result<Vec<_>, _>>()
        };
        rules.push(Rule {
            filter_name: name.to_string(),
            include: patterns(&r.include).map_err(|e| format!("rule {name:?}: {e}"))?,
            exclude: patterns(&r.exclude).map_err(|e| format!("rule {name:?}: {e}"))?,
            destination_arn: r.destination_arn,
            role_arn: r.role_arn.filter(|a| !a.is_empty()),
            filter_pattern: r.filter_pattern,
            filter_pattern_env: r.filter_pattern_env,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"[
        {"filter_name": "logpipe-app", "include": ["/ecs/*", "re:^/aws/lambda/(shop|checkout)-"],
         "exclude": ["/ecs/noisy*"], "destination_arn": "arn:aws:firehose:eu-west-1:111111111111:deliverystream/app",
         "role_arn": "arn:aws:iam::111111111111:role/cwl"},
        {"filter_name": "logpipe-alerts", "include": ["/ecs/*"], "filter_pattern": "?ERROR ?Exception",
         "destination_arn": "arn:aws:lambda:eu-west-1:111111111111:function:logpipe-slack"}
    ]"#;

    #[test]
    fn rules_choose_groups() {
        let c = Config::from_env(|k| (k == "SUBSCRIPTIONS").then(|| RULES.to_string())).unwrap();
        let names = |g: &str| {
            c.rules_for(g)
                .map(|r| r.filter_name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("/ecs/api"), ["logpipe-app", "logpipe-alerts"]);
        assert_eq!(names("/ecs/noisy-worker"), ["logpipe-alerts"]);
        assert_eq!(names("/aws/lambda/shop-api"), ["logpipe-app"]);
        assert!(names("/aws/lambda/other").is_empty());
        assert!(
            names("/aws/lambda/logpipe-forwarder").is_empty(),
            "never our own logs"
        );
        assert_eq!(c.rules[1].filter_pattern, "?ERROR ?Exception");
        assert_eq!(c.rules[1].role_arn, None);
    }

    #[test]
    fn logpipes_own_log_groups_are_never_subscribed() {
        let rules = r#"[{"filter_name":"all","include":["*"],"destination_arn":"arn:x"}]"#;
        let c = Config::from_env(|k| (k == "SUBSCRIPTIONS").then(|| rules.to_string())).unwrap();
        for g in [
            "/logpipe/prod/search-forwarder",
            "/logpipe/prod/canary",
            "/logpipe/prod/heartbeat",
            "/aws/lambda/logpipe-forwarder",
        ] {
            assert!(c.rules_for(g).next().is_none(), "{g}");
        }
        assert!(c.rules_for("/ecs/api").next().is_some());
        assert!(c.rules_for("/app/logpipe/x").next().is_some());
    }

    #[test]
    fn bad_rules_are_named() {
        let err = |json: &str| parse_rules(json).unwrap_err();
        assert!(err("{}").contains("not a list"));
        assert!(
            err(r#"[{"filter_name":"a","include":[],"destination_arn":"arn:x"}]"#)
                .contains("include")
        );
        assert!(
            err(r#"[{"filter_name":"a","include":["/x"],"destination_arn":"firehose"}]"#)
                .contains("not an ARN")
        );
        assert!(
            err(r#"[{"filter_name":"a:b","include":["/x"],"destination_arn":"arn:x"}]"#)
                .contains("no ':'")
        );
        assert!(
            err(r#"[{"filter_name":"a","include":["re:("],"destination_arn":"arn:x"}]"#)
                .contains("re:(")
        );
        assert!(err(r#"[{"filter_name":"a","include":["/x"],"destination_arn":"arn:x"},{"filter_name":"a","include":["/y"],"destination_arn":"arn:y"}]"#).contains("two rules"));
        assert!(err(
            r#"[{"filter_name":"a","include":["/x"],"destination_arn":"arn:x","typo":1}]"#
        )
        .contains("typo"));
        let e = Config::from_env(|_| None).unwrap_err().to_string();
        assert!(e.contains("SUBSCRIPTIONS"), "{e}");
        // What the template writes: left-out rules as null, the alert pattern from its own variable.
        let t = r#"[null,{"filter_name":"a","include":["/x/*",""],"destination_arn":"arn:x","filter_pattern_env":"ALERT_FILTER_PATTERN"},null]"#;
        let c = Config::from_env(|k| match k {
            "SUBSCRIPTIONS" => Some(t.into()),
            "ALERT_FILTER_PATTERN" => Some(r#"?ERROR ?"Out of memory""#.into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.rules.len(), 1);
        assert_eq!(c.rules[0].filter_pattern, r#"?ERROR ?"Out of memory""#);
        assert_eq!(c.rules[0].include.len(), 1);
        let other = t.replace("ALERT_FILTER_PATTERN", "HOME");
        let e = Config::from_env(|k| (k == "SUBSCRIPTIONS").then(|| other.clone()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("may only name ALERT_FILTER_PATTERN"), "{e}");
    }
}
