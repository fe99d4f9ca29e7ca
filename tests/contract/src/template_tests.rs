//! Structural rules of `template.yaml` and `samconfig.toml`, checked against the code: every function has
//! its own role without wildcard actions, every queue has a dead-letter queue (or is one), every function's
//! environment is what its code reads, every sample event belongs to a function the template wires to the
//! matching trigger and is accepted by that function's handler, every `samconfig.toml` environment passes
//! parameters the template declares with values it allows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn load_template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    serde_norway::from_str(&text).expect("template.yaml parses")
}

/// `!Tag value` → (tag, value).
pub(crate) fn tagged(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        )),
        _ => None,
    }
}

/// The logical id `!GetAtt X.Arn` (or `Fn::GetAtt: [X, Arn]`) names.
fn getatt_arn(v: &Value) -> Option<String> {
    if let Some((tag, inner)) = tagged(v) {
        if tag == "GetAtt" {
            return inner
                .as_str()
                .and_then(|s| s.strip_suffix(".Arn"))
                .map(String::from);
        }
    }
    let seq = v.get("Fn::GetAtt")?.as_sequence()?;
    (seq.get(1)?.as_str()? == "Arn").then(|| seq.first()?.as_str().map(String::from))?
}

fn ref_of(v: &Value) -> Option<String> {
    match tagged(v) {
        Some((tag, inner)) if tag == "Ref" => inner.as_str().map(String::from),
        _ => v.get("Ref")?.as_str().map(String::from),
    }
}

/// Resources by logical id, with those inside `Fn::ForEach::*` under their template id.
pub(crate) fn resources(t: &Value) -> BTreeMap<String, Mapping> {
    let mut out = BTreeMap::new();
    let res = t
        .get("Resources")
        .and_then(Value::as_mapping)
        .expect("Resources");
    for (k, v) in res {
        let k = k.as_str().expect("string keys");
        if k.starts_with("Fn::ForEach::") {
            let body = v
                .as_sequence()
                .and_then(|s| s.get(2))
                .and_then(Value::as_mapping)
                .expect("Fn::ForEach [id, collection, {resources}]");
            for (rk, rv) in body {
                out.insert(
                    rk.as_str().expect("id").to_string(),
                    rv.as_mapping().expect("resource").clone(),
                );
            }
        } else {
            out.insert(k.to_string(), v.as_mapping().expect("resource").clone());
        }
    }
    out
}

pub(crate) fn rtype(r: &Mapping) -> &str {
    r.get("Type").and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn props(r: &Mapping) -> &Value {
    static NULL: Value = Value::Null;
    r.get("Properties").unwrap_or(&NULL)
}

/// Every value under `v`, tags looked through.
fn walk<'a>(v: &'a Value, f: &mut dyn FnMut(&'a Value)) {
    f(v);
    match v {
        Value::Sequence(s) => s.iter().for_each(|x| walk(x, f)),
        Value::Mapping(m) => m.values().for_each(|x| walk(x, f)),
        Value::Tagged(t) => walk(&t.value, f),
        _ => {}
    }
}

/// Statements of a policy document (looking through `!If` branches).
fn statements(doc: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    walk(doc, &mut |v| {
        if v.get("Effect").is_some() && (v.get("Action").is_some() || v.get("NotAction").is_some())
        {
            out.push(v);
        }
    });
    out
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Actions that support no resource-level permission (IAM accepts only `"*"` for them): read-only
/// lookups Lambda needs to attach a function to a VPC, the log subscriber's read of the account-level
/// subscription filter policies, and the reconciliation's answers of its Logs Insights queries.
const UNSCOPED_ACTIONS: &[&str] = &[
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "logs:DescribeAccountPolicies",
    // A Logs Insights query is named by its id, not by a log group.
    "logs:GetQueryResults",
    "logs:StopQuery",
];

/// The rules on roles: no wildcard action, no `NotAction`, no `Resource: "*"` in an Allow (but for the
/// [`UNSCOPED_ACTIONS`]).
fn role_violations(res: &BTreeMap<String, Mapping>) -> Vec<String> {
    let mut bad = Vec::new();
    for (id, r) in res {
        let docs: Vec<&Value> = match rtype(r) {
            "AWS::IAM::Role" => props(r)
                .get("Policies")
                .and_then(Value::as_sequence)
                .map(|p| p.iter().filter_map(|p| p.get("PolicyDocument")).collect())
                .unwrap_or_default(),
            "AWS::IAM::RolePolicy" | "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                props(r).get("PolicyDocument").into_iter().collect()
            }
            _ => continue,
        };
        if rtype(r) == "AWS::IAM::Role" && props(r).get("ManagedPolicyArns").is_some() {
            bad.push(format!("{id}: managed policies are not reviewed here"));
        }
        for doc in docs {
            for st in statements(doc) {
                if st.get("NotAction").is_some() {
                    bad.push(format!("{id}: NotAction"));
                }
                for a in st.get("Action").map(strings).unwrap_or_default() {
                    if a.contains('*') {
                        bad.push(format!("{id}: wildcard action {a}"));
                    }
                }
                let allow = st.get("Effect").and_then(Value::as_str) == Some("Allow");
                let unscoped = st
                    .get("Action")
                    .map(strings)
                    .unwrap_or_default()
                    .iter()
                    .all(|a| UNSCOPED_ACTIONS.contains(&a.as_str()));
                if allow
                    && !unscoped
                    && st.get("Resource").map(strings).unwrap_or_default() == ["*"]
                {
                    bad.push(format!("{id}: Resource \"*\""));
                }
            }
        }
    }
    bad
}

/// Queues without a dead-letter queue that are not themselves one.
fn queues_without_dlq(res: &BTreeMap<String, Mapping>) -> Vec<String> {
    let mut dlqs = BTreeSet::new();
    for r in res.values() {
        walk(props(r), &mut |v| {
            for key in ["deadLetterTargetArn", "Destination"] {
                if let Some(id) = v.get(key).and_then(getatt_arn) {
                    dlqs.insert(id);
                }
            }
        });
    }
    res.iter()
        .filter(|(id, r)| {
            rtype(r) == "AWS::SQS::Queue"
                && props(r)
                    .get("RedrivePolicy")
                    .and_then(|p| p.get("deadLetterTargetArn"))
                    .is_none()
                && !dlqs.contains(*id)
        })
        .map(|(id, _)| id.clone())
        .collect()
}

fn functions(res: &BTreeMap<String, Mapping>) -> Vec<(&String, &Mapping)> {
    res.iter()
        .filter(|(_, r)| rtype(r) == "AWS::Serverless::Function")
        .collect()
}

fn binary(r: &Mapping) -> String {
    r.get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn env_names(r: &Mapping) -> BTreeSet<String> {
    props(r)
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The variables each function's code reads (besides the AWS_* ones Lambda sets), by binary.
pub(crate) fn code_env_vars(bin: &str) -> Option<Vec<&'static str>> {
    use firehose_transform::{Audit, Documents, Render};
    let t = firehose_transform::config::ENV_VARS;
    Some(match bin {
        "firehose-cwl-transform" => t.iter().chain(Documents::ENV_VARS).copied().collect(),
        "aurora-audit-transform" => t.iter().chain(Audit::ENV_VARS).copied().collect(),
        "s3-search-forwarder" => s3_search_forwarder::config::ENV_VARS.to_vec(),
        "slack-notifier" => slack_notifier::config::ENV_VARS.to_vec(),
        "log-subscriber" => log_subscriber::config::ENV_VARS.to_vec(),
        "canary" => canary::config::ENV_VARS.to_vec(),
        "alert-sync" => alert_sync::ENV_VARS.to_vec(),
        _ => return None,
    })
}

/// Variables a function cannot start without (the template must set them).
fn required_env(bin: &str) -> &'static [&'static str] {
    match bin {
        "s3-search-forwarder" => &["SEARCH_URL"],
        "log-subscriber" => &["SUBSCRIPTIONS"],
        "canary" => &["CANARY_LOG_GROUP", "BUCKET"],
        "alert-sync" => &["ALERT_NAME_PREFIX", "ALERT_RULES", "ALARM_TOPIC_ARN"],
        _ => &[],
    }
}

#[test]
fn every_function_is_a_cargo_lambda_arm64_build_with_its_own_role() {
    let t = load_template();
    let res = resources(&t);
    let globals = t.get("Globals").and_then(|g| g.get("Function")).unwrap();
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"], Value::from(vec!["arm64"]));
    assert_eq!(globals["Handler"].as_str(), Some("bootstrap"));
    let fns = functions(&res);
    assert!(fns.len() >= 4, "{} functions", fns.len());
    let mut roles = BTreeSet::new();
    for (id, r) in fns {
        let meta = r
            .get("Metadata")
            .unwrap_or_else(|| panic!("{id}: Metadata"));
        assert_eq!(
            meta["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}"
        );
        let bin = binary(r);
        let manifest =
            std::fs::read_to_string(root().join("functions").join(&bin).join("Cargo.toml"))
                .unwrap_or_else(|e| {
                    panic!("{id}: binary {bin:?} is not a crate under functions/: {e}")
                });
        assert!(
            manifest.contains(&format!("name = \"{bin}\"")),
            "{id}: {bin}"
        );
        assert_eq!(
            props(r)["CodeUri"].as_str(),
            Some("."),
            "{id}: the workspace root"
        );
        assert!(
            props(r).get("Policies").is_none(),
            "{id}: SAM policies bypass the role review"
        );
        let role = props(r)
            .get("Role")
            .and_then(getatt_arn)
            .unwrap_or_else(|| panic!("{id}: Role must be !GetAtt <role in this template>.Arn"));
        assert_eq!(
            res.get(&role).map(rtype),
            Some("AWS::IAM::Role"),
            "{id}: {role}"
        );
        assert!(roles.insert(role.clone()), "{id}: role {role} is shared");
        // Its own log group, with a retention.
        let lg = props(r)
            .get("LoggingConfig")
            .and_then(|l| l.get("LogGroup"))
            .and_then(ref_of)
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup"));
        let lg = res
            .get(&lg)
            .unwrap_or_else(|| panic!("{id}: log group {lg}"));
        assert_eq!(rtype(lg), "AWS::Logs::LogGroup");
        assert!(
            props(lg).get("RetentionInDays").is_some(),
            "{id}: retention"
        );
    }
}

#[test]
fn roles_have_no_wildcard_actions() {
    let res = resources(&load_template());
    assert_eq!(role_violations(&res), Vec::<String>::new());
    // The rule itself finds what it is for.
    let bad: Value = serde_norway::from_str(
        r#"
Resources:
  R:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyDocument:
            Statement:
              - !If [C, { Effect: Allow, Action: "s3:*", Resource: x }, !Ref AWS::NoValue]
              - { Effect: Allow, Action: [sqs:SendMessage], Resource: "*" }
"#,
    )
    .unwrap();
    assert_eq!(
        role_violations(&resources(&bad)),
        ["R: wildcard action s3:*", "R: Resource \"*\""]
    );
}

#[test]
fn every_queue_has_a_dead_letter_queue_or_is_one() {
    let res = resources(&load_template());
    assert_eq!(queues_without_dlq(&res), Vec::<String>::new());
    assert!(res.values().any(|r| rtype(r) == "AWS::SQS::Queue"));
    let bad: Value = serde_norway::from_str(
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: { VisibilityTimeout: 30 }\n",
    )
    .unwrap();
    assert_eq!(queues_without_dlq(&resources(&bad)), ["Q"]);
}

#[test]
fn function_environments_match_what_the_code_reads() {
    let res = resources(&load_template());
    for (id, r) in functions(&res) {
        let bin = binary(r);
        let known = code_env_vars(&bin).unwrap_or_else(|| panic!("{id}: unknown binary {bin}"));
        let set = env_names(r);
        for name in &set {
            assert!(
                known.contains(&name.as_str()),
                "{id} sets {name}, which {bin} does not read"
            );
        }
        for name in required_env(&bin) {
            assert!(set.contains(*name), "{id} must set {name}");
        }
        // Secrets never as plain values: only references to Secrets Manager / SSM.
        walk(
            props(r).get("Environment").unwrap_or(&Value::Null),
            &mut |v| {
                if let Some(s) = v.as_str() {
                    assert!(
                        !s.contains("hooks.slack.com") && !s.starts_with("xox"),
                        "{id}: a Slack secret in the environment"
                    );
                }
            },
        );
    }
}

/// The code side of the same contract: `from_env` reads exactly the listed variables (plus AWS_*).
#[test]
fn config_readers_read_exactly_their_listed_variables() {
    use std::cell::RefCell;
    fn asked<T, E: std::fmt::Debug>(
        values: &[(&str, &str)],
        read: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<T, E>,
    ) -> BTreeSet<String> {
        let seen = RefCell::new(BTreeSet::new());
        let var = |k: &str| {
            seen.borrow_mut().insert(k.to_string());
            values
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        read(&var).expect("the configuration is valid");
        seen.into_inner()
    }
    let check = |bin: &str, seen: BTreeSet<String>| {
        let listed: BTreeSet<String> = code_env_vars(bin)
            .unwrap()
            .into_iter()
            .map(String::from)
            .collect();
        let own: BTreeSet<String> = seen
            .into_iter()
            .filter(|k| !k.starts_with("AWS_"))
            .collect();
        assert_eq!(own, listed, "{bin}: variables read vs listed");
    };
    use firehose_transform::{Audit, Config, Documents};
    check(
        "firehose-cwl-transform",
        asked(&[], |v| Config::<Documents>::from_env(v)),
    );
    check(
        "aurora-audit-transform",
        asked(&[], |v| Config::<Audit>::from_env(v)),
    );
    let mut fwd = asked(&[("SEARCH_URL", "http://127.0.0.1:9200")], |v| {
        s3_search_forwarder::Config::from_env(v)
    });
    fwd.extend(asked(
        &[
            ("SEARCH_URL", "http://127.0.0.1:9200"),
            ("SEARCH_AUTH", "secret"),
            (
                "SEARCH_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:s",
            ),
        ],
        |v| s3_search_forwarder::Config::from_env(v),
    ));
    check("s3-search-forwarder", fwd);
    let mut n = asked(&[("SLACK_SECRET_ARN", "arn:x")], |v| {
        slack_notifier::Config::from_env(v)
    });
    n.extend(asked(&[("SLACK_SSM_PARAMETER", "/x")], |v| {
        slack_notifier::Config::from_env(v)
    }));
    check("slack-notifier", n);
    let rules = r#"[{"filter_name":"a","include":["/x/*"],"destination_arn":"arn:x","filter_pattern_env":"ALERT_FILTER_PATTERN"}]"#;
    check(
        "log-subscriber",
        asked(
            &[("SUBSCRIPTIONS", rules), ("EXCLUDE_LOG_GROUPS", "/y/*")],
            |v| log_subscriber::Config::from_env(v),
        ),
    );
    let base = [
        ("CANARY_LOG_GROUP", "/logpipe/dev/heartbeat"),
        ("BUCKET", "b"),
    ];
    let mut c = asked(&base, |v| canary::Config::from_env(v));
    c.extend(asked(
        &[
            base[0],
            base[1],
            ("SEARCH_URL", "http://127.0.0.1:9200"),
            ("SEARCH_AUTH", "secret"),
            (
                "SEARCH_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:s",
            ),
        ],
        |v| canary::Config::from_env(v),
    ));
    check("canary", c);
    check(
        "alert-sync",
        asked(&[("ALERT_NAME_PREFIX", "logpipe-t-alert-")], |v| {
            alert_sync::Function::from_env(v)
        }),
    );
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Trigger {
    /// The function is the Lambda processor of a Firehose delivery stream.
    FirehoseProcessor,
    /// A subscription filter delivers to the function.
    Subscription,
    /// An `Events` entry of this type.
    Event(&'static str),
    /// A custom resource whose `ServiceToken` is the function.
    CustomResource,
    /// Accepted by the function's code; not how the template wires it.
    Other,
}

/// Every file under `events/`, the function it is for and how that function receives it.
const EVENTS: &[(&str, &str, Trigger)] = &[
    (
        "firehose-cwl-direct-put.json",
        "CwlTransformFunction",
        Trigger::FirehoseProcessor,
    ),
    (
        "firehose-cwl-kinesis.json",
        "CwlTransformFunction",
        Trigger::FirehoseProcessor,
    ),
    (
        "aurora-mysql-audit.json",
        "AuditTransformFunction",
        Trigger::FirehoseProcessor,
    ),
    (
        "aurora-postgresql-audit.json",
        "AuditTransformFunction",
        Trigger::FirehoseProcessor,
    ),
    (
        "cloudwatch-logs-subscription.json",
        "SlackNotifierFunction",
        Trigger::Subscription,
    ),
    (
        "sns-s3-object-created.json",
        "SlackNotifierFunction",
        Trigger::Event("SNS"),
    ),
    (
        "sqs-s3-object-created.json",
        "SearchForwarderFunction",
        Trigger::Event("SQS"),
    ),
    (
        "s3-object-created.json",
        "SearchForwarderFunction",
        Trigger::Other,
    ),
    (
        "eventbridge-s3-object-created.json",
        "SearchForwarderFunction",
        Trigger::Other,
    ),
    (
        "eventbridge-create-log-group.json",
        "LogSubscriberFunction",
        Trigger::Event("EventBridgeRule"),
    ),
    (
        "eventbridge-scheduled.json",
        "LogSubscriberFunction",
        Trigger::Event("Schedule"),
    ),
    (
        "sns-cloudwatch-alarm.json",
        "SlackNotifierFunction",
        Trigger::Event("SNS"),
    ),
    (
        "cloudformation-alert-sync-create.json",
        "AlertSyncFunction",
        Trigger::CustomResource,
    ),
];

fn wired(res: &BTreeMap<String, Mapping>, func: &str, trigger: Trigger) -> bool {
    match trigger {
        Trigger::FirehoseProcessor => res.values().any(|r| {
            let mut found = false;
            if rtype(r) == "AWS::KinesisFirehose::DeliveryStream" {
                walk(props(r), &mut |v| {
                    if v.get("ParameterName").and_then(Value::as_str) == Some("LambdaArn")
                        && v.get("ParameterValue").and_then(getatt_arn).as_deref() == Some(func)
                    {
                        found = true;
                    }
                });
            }
            found
        }),
        Trigger::Subscription => res.values().any(|r| {
            rtype(r) == "AWS::Logs::SubscriptionFilter"
                && props(r)
                    .get("DestinationArn")
                    .and_then(getatt_arn)
                    .as_deref()
                    == Some(func)
        }),
        // A SAM event of that type, or (for SNS) a subscription of the function to a topic.
        Trigger::Event(kind) => {
            res.get(func)
                .and_then(|f| props(f).get("Events"))
                .and_then(Value::as_mapping)
                .is_some_and(|ev| {
                    ev.values()
                        .any(|e| e.get("Type").and_then(Value::as_str) == Some(kind))
                })
                || (kind == "SNS"
                    && res.values().any(|r| {
                        rtype(r) == "AWS::SNS::Subscription"
                            && props(r).get("Protocol").and_then(Value::as_str) == Some("lambda")
                            && props(r).get("Endpoint").and_then(getatt_arn).as_deref()
                                == Some(func)
                    }))
        }
        Trigger::CustomResource => res.values().any(|r| {
            rtype(r).starts_with("Custom::")
                && props(r).get("ServiceToken").and_then(getatt_arn).as_deref() == Some(func)
        }),
        Trigger::Other => res.contains_key(func),
    }
}

#[test]
fn every_sample_event_belongs_to_a_function_wired_to_its_trigger() {
    let res = resources(&load_template());
    let files: BTreeSet<String> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let listed: BTreeSet<String> = EVENTS.iter().map(|(f, _, _)| f.to_string()).collect();
    assert_eq!(files, listed, "events/ and the table here differ");
    for (file, func, trigger) in EVENTS {
        assert!(
            wired(&res, func, *trigger),
            "{file}: {func} is not wired to {trigger:?} in template.yaml"
        );
    }
}

/// The transforms' samples go through the handlers with nothing failed (the forwarder's and the
/// notifier's are run through theirs in `samples::tests`).
#[tokio::test]
async fn transform_samples_are_accepted_by_their_handlers() {
    async fn run<R: firehose_transform::Render + Default>(file: &str) -> (u64, u64, u64) {
        let text = std::fs::read_to_string(root().join("events").join(file)).unwrap();
        let event: logcore::transform::firehose::TransformEvent =
            serde_json::from_str(&text).unwrap();
        let cfg = firehose_transform::Config::<R>::default();
        let passes = logpipe_cli::local::run_to_completion(event, &cfg)
            .await
            .unwrap();
        let s = &passes[0].outcome.summary;
        let docs: u64 = passes
            .iter()
            .map(|p| p.documents.iter().filter(|&&b| b == b'\n').count() as u64)
            .sum();
        (s.records_in, s.failed, docs)
    }
    for (file, func, _) in EVENTS {
        let (records, failed, docs) = match *func {
            "CwlTransformFunction" => run::<firehose_transform::Documents>(file).await,
            "AuditTransformFunction" => run::<firehose_transform::Audit>(file).await,
            _ => continue,
        };
        assert!(
            records > 0 && docs > 0,
            "{file}: {records} records, {docs} documents"
        );
        assert_eq!(failed, 0, "{file}");
    }
}

#[test]
fn samconfig_environments_pass_parameters_the_template_allows() {
    let t = load_template();
    let params = t.get("Parameters").and_then(Value::as_mapping).unwrap();
    let text = std::fs::read_to_string(root().join("samconfig.toml")).unwrap();
    let cfg: toml::Table = toml::from_str(&text).expect("samconfig.toml parses");
    for env in ["dev", "stg", "prod"] {
        assert!(
            cfg.contains_key(env),
            "samconfig.toml has no {env} environment"
        );
    }
    let mut deploys = 0;
    for (env, table) in &cfg {
        let Some(deploy) = table
            .get("deploy")
            .and_then(|d| d.get("parameters"))
            .and_then(|p| p.as_table())
        else {
            continue;
        };
        let Some(overrides) = deploy.get("parameter_overrides") else {
            continue;
        };
        deploys += 1;
        assert!(deploy.get("stack_name").is_some(), "{env}: stack_name");
        let caps = deploy["capabilities"].as_str().unwrap_or_default();
        for c in ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"] {
            assert!(
                caps.contains(c),
                "{env}: {c} (roles; AWS::LanguageExtensions)"
            );
        }
        let overrides = overrides.as_array().expect("parameter_overrides as a list");
        for o in overrides {
            let o = o.as_str().unwrap();
            let (name, value) = o.split_once('=').unwrap_or_else(|| panic!("{env}: {o}"));
            let p = params
                .get(name)
                .unwrap_or_else(|| panic!("{env}: {name} is not a template parameter"));
            if let Some(allowed) = p.get("AllowedValues").and_then(Value::as_sequence) {
                let ok = allowed.iter().any(|a| match a {
                    Value::String(s) => s == value,
                    Value::Number(n) => n.to_string() == value,
                    _ => false,
                });
                assert!(ok, "{env}: {name}={value} is not one of {allowed:?}");
            }
            if let Some(pat) = p.get("AllowedPattern").and_then(Value::as_str) {
                let re = regex::Regex::new(pat).unwrap();
                assert!(
                    re.is_match(value),
                    "{env}: {name}={value} does not match {pat}"
                );
            }
            if p.get("Type").and_then(Value::as_str) == Some("Number") {
                let n: f64 = value
                    .parse()
                    .unwrap_or_else(|_| panic!("{env}: {name} is a number"));
                if let Some(min) = p.get("MinValue").and_then(Value::as_f64) {
                    assert!(n >= min, "{env}: {name} below {min}");
                }
            }
        }
    }
    assert!(deploys >= 3);
}

/// A value the template would give a variable: literals as they are, `!Ref` the parameter's default (or a
/// sample when it has none), `!GetAtt` a sample ARN, `!Sub` with its placeholders filled, `!Join` of such
/// values, `!If` the branch of the condition's value (true when in `on`).
fn sample_value(t: &Value, v: &Value, on: &[&str]) -> Option<String> {
    match (v, tagged(v)) {
        (Value::String(s), _) => Some(s.clone()),
        (_, Some((tag, inner))) if tag == "Ref" => {
            let name = inner.as_str()?;
            if name == "AWS::NoValue" {
                return None;
            }
            let default = match &t["Parameters"][name]["Default"] {
                Value::Number(n) => n.to_string(),
                v => v.as_str().unwrap_or_default().to_string(),
            };
            Some(match (name, default.as_str()) {
                ("SearchUrl", _) => "https://search-logs.eu-west-1.es.amazonaws.com".into(),
                ("SlackDestinations", _) => r#"{"payments":"logpipe/dev/slack/payments"}"#.into(),
                ("AlertMentions", _) => r#"{"FATAL":["<!subteam^S0ONCALL>"]}"#.into(),
                // One rule of each kind, read by both the notifier and the sync.
                ("AlertRules", _) => concat!(
                    r#"[{"log_groups":["/ecs/batch"],"levels":"WARN,ERROR","destinations":["payments","default"]},"#,
                    r#"{"name":"checkout-errors","kind":"threshold","log_groups":["/ecs/checkout*"],"count":10,"minutes":5},"#,
                    r#"{"name":"billing-silent","kind":"absence","log_groups":["/ecs/billing"],"minutes":30}]"#
                )
                .into(),
                (_, "") => format!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:{name}"),
                (_, d) => d.into(),
            })
        }
        (_, Some((tag, inner))) if tag == "Sub" => {
            // `!Sub "text"`, or `!Sub ["text", {Name: value}]` with the named values filled in.
            let (s, names) = match inner.as_sequence() {
                Some(seq) => (
                    seq.first()?.as_str()?,
                    seq.get(1).and_then(Value::as_mapping),
                ),
                None => (inner.as_str()?, None),
            };
            let re = regex::Regex::new(r"\$\{([^}]+)\}").unwrap();
            Some(
                re.replace_all(s, |c: &regex::Captures<'_>| {
                    names
                        .and_then(|m| m.get(&c[1]))
                        .and_then(|v| sample_value(t, v, on))
                        .unwrap_or_else(|| {
                            if c[1].ends_with(".Arn") {
                                format!("arn:aws:sample:eu-west-1:123456789012:{}", &c[1])
                            } else {
                                "dev".into()
                            }
                        })
                })
                .into_owned(),
            )
        }
        (_, Some((tag, inner))) if tag == "GetAtt" => Some(format!(
            "arn:aws:sample:eu-west-1:123456789012:{}",
            inner.as_str().unwrap_or("resource")
        )),
        (_, Some((tag, inner))) if tag == "Join" => {
            // `!Join [sep, [values]]`, or `!Join [sep, !Ref List]` (a list parameter: its default, or a
            // sample log group pattern when it has none).
            let seq = inner.as_sequence()?;
            let sep = seq.first()?.as_str()?;
            let items: Vec<String> = match seq.get(1)? {
                Value::Sequence(list) => {
                    list.iter().filter_map(|v| sample_value(t, v, on)).collect()
                }
                list => {
                    let (tag, name) = tagged(list)?;
                    let p = &t["Parameters"][name.as_str()?];
                    if tag != "Ref" || p["Type"].as_str() != Some("CommaDelimitedList") {
                        return None;
                    }
                    match p["Default"].as_str().unwrap_or_default() {
                        "" => vec!["/ecs/*".into(), "/aws/lambda/shop-*".into()],
                        d => d.split(',').map(String::from).collect(),
                    }
                }
            };
            Some(items.join(sep))
        }
        (_, Some((tag, inner))) if tag == "If" => {
            let seq = inner.as_sequence()?;
            let cond = seq.first()?.as_str()?;
            sample_value(t, seq.get(if on.contains(&cond) { 1 } else { 2 })?, on)
        }
        _ => None,
    }
}

#[test]
fn template_environments_are_accepted_by_the_functions() {
    let t = load_template();
    let res = resources(&t);
    // Two deployments: partitioned, search with a secret, Slack webhook in Secrets Manager; and the
    // defaults with the Slack webhook in SSM.
    let scenarios: [&[&str]; 2] = [
        &[
            "Partitioned",
            "SearchSecret",
            "SlackFromSecret",
            "HasAutoSubscribe",
            "AutoApp",
            "AutoAudit",
            "AutoAlerts",
        ],
        &["SlackFromSsm", "HasAutoSubscribe", "AutoAlerts"],
    ];
    for ((id, r), on) in functions(&res)
        .into_iter()
        .flat_map(|f| scenarios.iter().map(move |s| (f, *s)))
    {
        let vars: BTreeMap<String, String> = props(r)
            .get("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(Value::as_mapping)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_str()?.to_string(), sample_value(&t, v, on)?)))
                    .collect()
            })
            .unwrap_or_default();
        // Plus what Lambda sets.
        let var = |k: &str| {
            vars.get(k).cloned().or_else(|| match k {
                "AWS_REGION" => Some("eu-west-1".into()),
                "AWS_LAMBDA_FUNCTION_NAME" => Some(id.clone()),
                _ => None,
            })
        };
        let result = match binary(r).as_str() {
            "firehose-cwl-transform" => {
                firehose_transform::Config::<firehose_transform::Documents>::from_env(var)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            "aurora-audit-transform" => {
                firehose_transform::Config::<firehose_transform::Audit>::from_env(var)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            "s3-search-forwarder" => s3_search_forwarder::Config::from_env(var)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            "slack-notifier" => slack_notifier::Config::from_env(var)
                .map(|c| {
                    assert_eq!(c.destinations.len(), 1, "{id}: the sample destination");
                    assert_eq!(
                        c.rules.route("/ecs/batch").destinations,
                        ["payments", "default"]
                    );
                    assert_eq!(c.rules.level_mentions.len(), 1);
                    assert!(c.suppress_table.is_some(), "{id}: the suppression table");
                })
                .map_err(|e| e.to_string()),
            "log-subscriber" => log_subscriber::Config::from_env(var)
                .map(|c| assert!(!c.rules.is_empty(), "{id}: no rule in {vars:?}"))
                .map_err(|e| e.to_string()),
            "canary" => canary::Config::from_env(var)
                .map(|c| {
                    assert_eq!(c.missing_after_ms, 20 * 60_000, "{id}");
                    assert!(c.search.is_some(), "{id}: the search hop is checked");
                    let layout = c.key_prefixes[0].at(0);
                    if on.contains(&"Partitioned") {
                        assert_eq!(layout, "logs/logpipe/dev/heartbeat/1970-01-01/");
                    } else {
                        assert_eq!(layout, "logs/1970/01/01/00/");
                    }
                })
                .map_err(|e| e.to_string()),
            "alert-sync" => alert_sync::Function::from_env(var)
                .map_err(|e| e.to_string())
                .and_then(|f| f.config)
                .map(|c| {
                    assert_eq!(c.watches.len(), 2, "{id}: the threshold and absence rules");
                    assert_eq!(c.naming.prefix, "logpipe-dev-alert-");
                    assert_eq!(c.naming.actions.len(), 1, "{id}: the alarm topic");
                }),
            other => Err(format!("unknown binary {other}")),
        };
        assert_eq!(result, Ok(()), "{id} with {vars:?}");
    }
}

/// A transform writes the documents no response can carry where its delivery streams write: for every
/// stream whose Lambda processor is that function, with and without dynamic partitioning and the locked
/// audit bucket, its `OVERSIZE_PREFIX` is the stream's `Prefix`, its `OVERSIZE_BUCKET` the stream's bucket,
/// the expression is one the transform evaluates, and the function's role may put objects under that prefix
/// and no other.
#[test]
fn transforms_write_oversize_documents_where_their_streams_write() {
    use crate::athena_tests::{choose, named};
    let t = load_template();
    let res = resources(&t);
    let mut checked = 0;
    for (sid, stream) in res
        .iter()
        .filter(|(_, r)| rtype(r) == "AWS::KinesisFirehose::DeliveryStream")
    {
        for on in [
            &["Partitioned", "AuditLocked"][..],
            &["Partitioned"],
            &["AuditLocked"],
            &[],
        ] {
            let dest = choose(&props(stream)["ExtendedS3DestinationConfiguration"], on);
            let lambda = dest["ProcessingConfiguration"]["Processors"][0]["Parameters"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|p| p["ParameterName"] == "LambdaArn")
                .and_then(|p| getatt_arn(&p["ParameterValue"]))
                .unwrap_or_else(|| panic!("{sid}: a Lambda processor"));
            let func = &res[&lambda];
            let vars = choose(&props(func)["Environment"]["Variables"], on);
            let bucket = named(&dest["BucketARN"]);
            assert_eq!(
                named(&vars["OVERSIZE_BUCKET"]),
                bucket,
                "{sid} / {lambda} with {on:?}: the same bucket"
            );
            let want = sample_value(&t, &dest["Prefix"], on).unwrap();
            let got = sample_value(&t, &vars["OVERSIZE_PREFIX"], on).unwrap();
            assert_eq!(got, want, "{sid} / {lambda} with {on:?}");
            let prefix = logcore::transform::s3prefix::S3Prefix::parse(&got)
                .unwrap_or_else(|e| panic!("{lambda}: {e}"));
            let literal = got.split("!{").next().unwrap();
            assert!(!literal.is_empty() && literal.ends_with('/'), "{got}");
            let keys = prefix.keys().collect::<Vec<_>>();
            let partition = sample_value(&t, &vars["PARTITION_KEYS"], on).unwrap_or_default();
            assert!(
                keys.iter().all(|k| partition.split(',').any(|p| p == *k)),
                "{lambda}: {keys:?} from {partition:?}"
            );
            let role = &res[&getatt_arn(&props(func)["Role"]).unwrap()];
            let policies = choose(&props(role)["Policies"], on);
            let puts: Vec<String> = statements(&policies)
                .into_iter()
                .filter(|s| strings(&s["Action"]).iter().any(|a| a == "s3:PutObject"))
                .flat_map(|s| match tagged(&s["Resource"]) {
                    Some((tag, inner)) if tag == "Sub" => {
                        inner.as_str().map(String::from).into_iter().collect()
                    }
                    _ => strings(&s["Resource"]),
                })
                .collect();
            assert_eq!(
                puts,
                [format!("${{{bucket}.Arn}}/{literal}*")],
                "{lambda} with {on:?}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 3, "app, audit and collector streams");
}

/// The custom resource stands for the sync's environment (a rollback restores the old rules only if every
/// variable is also a property, with the same value); the alarms the role may touch, the alarms the
/// notifier is sent and the alarms the sync names share one prefix; the role reaches nothing else.
#[test]
fn the_alert_sync_resource_mirrors_its_function_and_one_prefix_scopes_everything() {
    let t = load_template();
    let res = resources(&t);
    let cr = &res["AlertSync"];
    assert_eq!(rtype(cr), "Custom::AlertSync");
    assert_eq!(
        getatt_arn(&props(cr)["ServiceToken"]).as_deref(),
        Some("AlertSyncFunction")
    );
    let func = &res["AlertSyncFunction"];
    let vars = &props(func)["Environment"]["Variables"];
    for (property, var) in alert_sync::PROPERTIES {
        assert_eq!(
            props(cr)[*property],
            vars[*var],
            "AlertSync.{property} is the function's {var}"
        );
    }
    let keys: BTreeSet<String> = props(cr)
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    let mut want: BTreeSet<String> = alert_sync::PROPERTIES
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    want.extend(["ServiceToken".into(), "ServiceTimeout".into()]);
    assert_eq!(keys, want);
    // CloudFormation waits for the answer at most ServiceTimeout: longer than one run of the function.
    let wait = props(cr)["ServiceTimeout"].as_u64().unwrap();
    let run = props(func)["Timeout"].as_u64().unwrap();
    assert!(wait > run, "ServiceTimeout {wait} s, Timeout {run} s");

    let prefix = match tagged(&vars["ALERT_NAME_PREFIX"]) {
        Some((tag, v)) if tag == "Sub" => v.as_str().unwrap().to_string(),
        other => panic!("ALERT_NAME_PREFIX: {other:?}"),
    };
    assert_eq!(prefix, "logpipe-${Environment}-alert-");
    let role = &res[&getatt_arn(&props(func)["Role"]).unwrap()];
    let mut cloudwatch = Vec::new();
    for s in statements(&props(role)["Policies"]) {
        let actions = strings(&s["Action"]);
        let resource = match tagged(&s["Resource"]) {
            Some((tag, v)) if tag == "Sub" => v.as_str().unwrap().to_string(),
            _ => panic!("{actions:?}: a !Sub resource"),
        };
        for a in &actions {
            assert!(
                a.starts_with("logs:") || a.starts_with("cloudwatch:"),
                "AlertSyncRole: {a}"
            );
            if a.starts_with("cloudwatch:") {
                assert_eq!(
                    resource,
                    format!("arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{prefix}*"),
                    "{a}"
                );
                cloudwatch.push(a.clone());
            }
        }
    }
    cloudwatch.sort();
    assert_eq!(
        cloudwatch,
        [
            "cloudwatch:DeleteAlarms",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:PutMetricAlarm"
        ]
    );
    // The notifier's filter on the rules' alarms: their name prefix, in the message body.
    let sub = props(&res["SlackNotifierAlarmSubscription"]);
    let policy = &tagged(&sub["FilterPolicy"])
        .unwrap()
        .1
        .as_sequence()
        .unwrap()[1];
    let filtered = &policy["AlarmName"][0]["prefix"];
    assert_eq!(
        tagged(filtered).map(|(tag, v)| (tag, v.as_str().unwrap().to_string())),
        Some(("Sub".into(), prefix))
    );
    assert_eq!(ref_of(&sub["TopicArn"]), ref_of(&vars["ALARM_TOPIC_ARN"]));
}

/// The notifier's shared repeat memory: the table the code writes (its key and TTL attributes), on demand,
/// the notifier's variable naming it, and the role allowed the three conditional writes and the one read
/// (an alarm's thread) on it, and nothing else of DynamoDB.
#[test]
fn the_suppression_table_is_what_the_notifier_writes() {
    use slack_notifier::memory::dynamodb::{KEY_ATTRIBUTE, TTL_ATTRIBUTE};
    let res = resources(&load_template());
    let table = &res["SuppressionTable"];
    assert_eq!(rtype(table), "AWS::DynamoDB::Table");
    assert_eq!(table["Condition"].as_str(), Some("HasSlack"));
    let p = props(table);
    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        p["KeySchema"][0]["AttributeName"].as_str(),
        Some(KEY_ATTRIBUTE)
    );
    assert_eq!(p["KeySchema"][0]["KeyType"].as_str(), Some("HASH"));
    assert_eq!(p["KeySchema"].as_sequence().map(Vec::len), Some(1));
    assert_eq!(
        p["AttributeDefinitions"][0]["AttributeName"].as_str(),
        Some(KEY_ATTRIBUTE)
    );
    assert_eq!(
        p["AttributeDefinitions"][0]["AttributeType"].as_str(),
        Some("S")
    );
    let ttl = &p["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"].as_str(), Some(TTL_ATTRIBUTE));
    assert_eq!(ttl["Enabled"].as_bool(), Some(true));

    let notifier = &res["SlackNotifierFunction"];
    let vars = &props(notifier)["Environment"]["Variables"];
    assert_eq!(
        ref_of(&vars["SUPPRESS_TABLE"]).as_deref(),
        Some("SuppressionTable")
    );
    let role = &res[&getatt_arn(&props(notifier)["Role"]).unwrap()];
    let dynamodb: Vec<(Vec<String>, Option<String>)> = statements(&props(role)["Policies"])
        .into_iter()
        .map(|s| (strings(&s["Action"]), getatt_arn(&s["Resource"])))
        .filter(|(a, _)| a.iter().any(|a| a.starts_with("dynamodb:")))
        .collect();
    assert_eq!(
        dynamodb,
        [(
            vec![
                "dynamodb:PutItem".to_string(),
                "dynamodb:UpdateItem".into(),
                "dynamodb:DeleteItem".into(),
                "dynamodb:GetItem".into()
            ],
            Some("SuppressionTable".into())
        )]
    );
}
