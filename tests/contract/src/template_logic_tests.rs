//! The template's Conditions and Rules, evaluated for parameter sets as CloudFormation would: which
//! resources a deployment gets, and which parameter combinations it refuses before creating anything.

use std::collections::BTreeMap;

use serde_norway::Value;

use crate::template_tests::{load_template, resources, tagged};

/// A value while evaluating: a string, a list (CommaDelimitedList parameters, literal lists) or a boolean.
#[derive(Debug, Clone, PartialEq)]
enum V {
    S(String),
    L(Vec<String>),
    B(bool),
}

impl V {
    fn b(&self) -> bool {
        match self {
            V::B(b) => *b,
            other => panic!("a condition, not {other:?}"),
        }
    }
    fn list(&self) -> Vec<String> {
        match self {
            V::L(l) => l.clone(),
            V::S(s) => vec![s.clone()],
            other => panic!("a list, not {other:?}"),
        }
    }
    fn s(&self) -> String {
        match self {
            V::S(s) => s.clone(),
            other => panic!("a string, not {other:?}"),
        }
    }
}

/// The template with one set of parameter values (the defaults, overridden by `with`).
#[derive(Clone)]
struct Deployment {
    t: Value,
    params: BTreeMap<String, V>,
}

impl Deployment {
    fn new(with: &[(&str, &str)]) -> Self {
        let t = load_template();
        let mut params = BTreeMap::new();
        let declared = t["Parameters"].as_mapping().expect("Parameters");
        for (name, p) in declared {
            let name = name.as_str().expect("a parameter name").to_string();
            let given = with
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string());
            let raw = given.unwrap_or_else(|| match &p["Default"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            });
            // CloudFormation splits a CommaDelimitedList at every comma: "" is [""], "a," is ["a", ""].
            let v = if p["Type"].as_str() == Some("CommaDelimitedList") {
                V::L(raw.split(',').map(|s| s.trim().to_string()).collect())
            } else {
                V::S(raw)
            };
            params.insert(name, v);
        }
        for (n, _) in with {
            assert!(params.contains_key(*n), "{n} is not a template parameter");
        }
        Deployment { t, params }
    }

    fn eval(&self, v: &Value) -> V {
        let (f, arg) = match (v, tagged(v)) {
            (Value::String(s), _) => return V::S(s.clone()),
            (Value::Sequence(items), _) => {
                return V::L(items.iter().map(|i| self.eval(i).s()).collect())
            }
            (_, Some((tag, inner))) => (tag, inner),
            (Value::Mapping(m), None) if m.len() == 1 => {
                let (k, inner) = m.iter().next().expect("one key");
                (
                    k.as_str()
                        .expect("a key")
                        .trim_start_matches("Fn::")
                        .to_string(),
                    inner,
                )
            }
            other => panic!("cannot evaluate {other:?}"),
        };
        let args = |n: usize| -> Vec<&Value> {
            let seq = arg.as_sequence().unwrap_or_else(|| panic!("{f}: a list"));
            assert_eq!(seq.len(), n, "{f} takes {n} arguments");
            seq.iter().collect()
        };
        match f.as_str() {
            "Ref" => {
                let name = arg.as_str().expect("Ref name");
                match name {
                    "AWS::AccountId" => V::S("123456789012".into()),
                    "AWS::Region" => V::S("eu-west-1".into()),
                    "AWS::Partition" => V::S("aws".into()),
                    "AWS::NoValue" => V::S("<NoValue>".into()),
                    _ => match self.params.get(name) {
                        Some(v) => v.clone(),
                        None => match resources(&self.t).get(name) {
                            // A log group's Ref is its name, known before deployment when the template
                            // gives it.
                            Some(r)
                                if r.get("Type").and_then(Value::as_str)
                                    == Some("AWS::Logs::LogGroup")
                                    && r.get("Properties")
                                        .and_then(|p| p.get("LogGroupName"))
                                        .is_some() =>
                            {
                                self.eval(&r["Properties"]["LogGroupName"])
                            }
                            Some(_) => V::S(format!("<{name}>")),
                            None => panic!("Ref {name}"),
                        },
                    },
                }
            }
            // Attributes are known only once deployed: a placeholder naming the resource and attribute.
            "GetAtt" => match arg.as_str() {
                Some(dotted) => V::S(format!("<{dotted}>")),
                None => {
                    let a = args(2);
                    V::S(format!("<{}.{}>", self.eval(a[0]).s(), self.eval(a[1]).s()))
                }
            },
            "If" => {
                let a = args(3);
                self.eval(
                    if self.condition(a[0].as_str().expect("a condition name")).b() {
                        a[1]
                    } else {
                        a[2]
                    },
                )
            }
            "Sub" => {
                let (text, vars) = match arg {
                    Value::String(t) => (t.clone(), None),
                    _ => {
                        let a = args(2);
                        (self.eval(a[0]).s(), a[1].as_mapping())
                    }
                };
                let mut out = String::new();
                let mut rest = text.as_str();
                while let Some(i) = rest.find("${") {
                    out.push_str(&rest[..i]);
                    let end = rest[i..].find('}').expect("a closed ${") + i;
                    let name = &rest[i + 2..end];
                    let var = vars.and_then(|m| m.get(name));
                    out.push_str(&match var {
                        Some(v) => self.eval(v).s(),
                        None if name.contains('.') => format!("<{name}>"),
                        None => self
                            .eval(&Value::Tagged(Box::new(serde_norway::value::TaggedValue {
                                tag: serde_norway::value::Tag::new("Ref"),
                                value: Value::String(name.to_string()),
                            })))
                            .s(),
                    });
                    rest = &rest[end + 1..];
                }
                out.push_str(rest);
                V::S(out)
            }
            "Condition" => self.condition(arg.as_str().expect("a condition name")),
            "Equals" => {
                let a = args(2);
                V::B(self.eval(a[0]) == self.eval(a[1]))
            }
            "Not" => V::B(!self.eval(args(1)[0]).b()),
            "And" => V::B(
                arg.as_sequence()
                    .expect("And list")
                    .iter()
                    .all(|c| self.eval(c).b()),
            ),
            "Or" => V::B(
                arg.as_sequence()
                    .expect("Or list")
                    .iter()
                    .any(|c| self.eval(c).b()),
            ),
            "Join" => {
                let a = args(2);
                V::S(self.eval(a[1]).list().join(&self.eval(a[0]).s()))
            }
            "Contains" => {
                let a = args(2);
                V::B(self.eval(a[0]).list().contains(&self.eval(a[1]).s()))
            }
            "EachMemberEquals" => {
                let a = args(2);
                let want = self.eval(a[1]).s();
                V::B(self.eval(a[0]).list().iter().all(|m| *m == want))
            }
            other => panic!("no evaluator for Fn::{other}"),
        }
    }

    fn condition(&self, name: &str) -> V {
        let c = self.t["Conditions"]
            .get(name)
            .unwrap_or_else(|| panic!("no condition {name}"));
        V::B(self.eval(c).b())
    }

    /// Whether a resource (or a `Fn::ForEach` template of resources) is created.
    fn creates(&self, id: &str) -> bool {
        let res = resources(&self.t);
        let r = res.get(id).unwrap_or_else(|| panic!("no resource {id}"));
        self.created(r.get("Condition"))
    }

    /// Whether a resource with this `Condition` (none: always) is created.
    fn created(&self, condition: Option<&Value>) -> bool {
        match condition.and_then(Value::as_str) {
            None => true,
            Some(c) => self.condition(c).b(),
        }
    }

    /// A resource's property, evaluated for these parameters.
    fn property(&self, id: &str, name: &str) -> String {
        let res = resources(&self.t);
        let r = res.get(id).unwrap_or_else(|| panic!("no resource {id}"));
        self.eval(&r["Properties"][name]).s()
    }

    /// Every group-level subscription filter this deployment creates, as (log group, destination), those
    /// of a `Fn::ForEach` once per member of its list.
    fn group_filters(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut add = |d: &Deployment, r: &Value| {
            if d.created(r.get("Condition"))
                && r["Type"].as_str() == Some("AWS::Logs::SubscriptionFilter")
            {
                out.push((
                    d.eval(&r["Properties"]["LogGroupName"]).s(),
                    d.eval(&r["Properties"]["DestinationArn"]).s(),
                ));
            }
        };
        for (k, v) in self.t["Resources"].as_mapping().expect("Resources") {
            let k = k.as_str().expect("string keys");
            if !k.starts_with("Fn::ForEach::") {
                add(self, v);
                continue;
            }
            let each = v
                .as_sequence()
                .expect("Fn::ForEach [id, collection, {resources}]");
            let var = each[0].as_str().expect("the loop variable");
            for member in self.eval(&each[1]).list() {
                let mut d = self.clone();
                d.params.insert(var.to_string(), V::S(member));
                for r in each[2].as_mapping().expect("resources").values() {
                    add(&d, r);
                }
            }
        }
        out
    }

    /// The log groups the account policy leaves out (its `LogGroupName NOT IN [...]`).
    fn policy_exclusions(&self) -> Vec<String> {
        let criteria = self.property("AppAccountPolicy", "SelectionCriteria");
        let list = criteria
            .strip_prefix("LogGroupName NOT IN [")
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or_else(|| panic!("{criteria}"));
        serde_json::from_str(&format!("[{list}]")).expect("a JSON list")
    }

    /// The descriptions of the rule assertions these parameters break.
    fn refused(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, rule) in self.t["Rules"].as_mapping().expect("Rules") {
            if let Some(c) = rule.get("RuleCondition") {
                if !self.eval(c).b() {
                    continue;
                }
            }
            for a in rule["Assertions"].as_sequence().expect("Assertions") {
                if !self.eval(&a["Assert"]).b() {
                    out.push(format!(
                        "{}: {}",
                        name.as_str().unwrap_or_default(),
                        a["AssertDescription"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
        out
    }
}

const SLACK: (&str, &str) = (
    "SlackSecretArn",
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack",
);
const SEARCH: (&str, &str) = (
    "SearchUrl",
    "https://search-logs.eu-west-1.es.amazonaws.com",
);
const DOMAIN: (&str, &str) = (
    "SearchResourceArn",
    "arn:aws:es:eu-west-1:123456789012:domain/logs",
);

#[test]
fn the_defaults_and_the_samconfig_shapes_are_accepted() {
    assert_eq!(Deployment::new(&[]).refused(), Vec::<String>::new());
    let full = Deployment::new(&[
        SEARCH,
        DOMAIN,
        SLACK,
        ("AppLogGroups", "/ecs/api,/aws/lambda/checkout"),
        ("AuditLogGroups", "/aws/rds/cluster/shop/audit"),
        ("AlertLogGroups", "/ecs/api"),
    ]);
    assert_eq!(full.refused(), Vec::<String>::new());
    assert!(full.creates("SearchForwarderFunction") && full.creates("AppSubscription&{LogGroup}"));
}

/// The log subscriber attaches alert filters that point at the notifier, and the canary's log sends it the
/// reconciliation's findings: CloudWatch Logs must be allowed to invoke it even when no group is listed in
/// AlertLogGroups.
#[test]
fn logs_may_invoke_the_notifier_whenever_a_filter_can_point_at_it() {
    let auto = Deployment::new(&[
        SLACK,
        ("AutoSubscribe", "true"),
        ("AutoSubscribeAlertPatterns", "/ecs/*"),
    ]);
    assert_eq!(auto.refused(), Vec::<String>::new());
    assert!(auto.creates("LogSubscriberFunction"));
    assert!(auto.creates("SlackNotifierLogsPermission"));
    let listed = Deployment::new(&[SLACK, ("AlertLogGroups", "/ecs/api")]);
    assert!(listed.creates("SlackNotifierLogsPermission"));
    assert!(listed.creates("AlertSubscription&{LogGroup}"));
    // The canary's reconciliation findings go to the notifier by a filter on the canary's log.
    let canary = Deployment::new(&[SLACK]);
    assert!(canary.creates("ReconcileFindingsToSlack"));
    assert!(canary.creates("SlackNotifierLogsPermission"));
    // Nothing subscribes the notifier to a log group: no permission for CloudWatch Logs.
    let neither = Deployment::new(&[SLACK, ("Canary", "false")]);
    assert!(neither.creates("SlackNotifierFunction"));
    assert!(!neither.creates("SlackNotifierLogsPermission"));
    assert!(!neither.creates("ReconcileFindingsToSlack"));
    let no_slack = Deployment::new(&[
        ("AutoSubscribe", "true"),
        ("AutoSubscribeAlertPatterns", "/ecs/*"),
    ]);
    assert!(!no_slack.creates("SlackNotifierLogsPermission"));
}

/// Alert rules bring the sync (function, custom resource, role) in central mode only; the notifier takes
/// alarm state changes as AlarmsToSlack says, the rules' alarms alone by default.
#[test]
fn alert_rules_bring_the_sync_and_the_notifier_takes_the_alarms_asked_for() {
    const RULES: (&str, &str) = (
        "AlertRules",
        r#"[{"name":"errors","kind":"threshold","log_groups":["/ecs/*"],"count":5,"minutes":5}]"#,
    );
    let sync = [
        "AlertSyncFunction",
        "AlertSync",
        "AlertSyncRole",
        "AlertSyncLogGroup",
    ];
    let none = Deployment::new(&[SLACK]);
    assert!(sync.iter().all(|id| !none.creates(id)));
    assert!(!none.creates("SlackNotifierAlarmSubscription"));
    // Without rules, logpipe's own alarms still reach Slack when asked.
    let own = Deployment::new(&[SLACK, ("AlarmsToSlack", "all")]);
    assert!(own.creates("SlackNotifierAlarmSubscription") && !own.creates("AlertSync"));

    let rules = Deployment::new(&[SLACK, RULES]);
    assert_eq!(rules.refused(), Vec::<String>::new());
    assert!(sync.iter().all(|id| rules.creates(id)));
    assert!(
        rules.creates("SlackNotifierAlarmSubscription")
            && rules.creates("SlackNotifierAlarmPermission")
    );
    assert_eq!(
        rules.property("SlackNotifierAlarmSubscription", "FilterPolicyScope"),
        "MessageBody"
    );
    assert_eq!(
        rules.property("AlertSync", "AlertNamePrefix"),
        "logpipe-dev-alert-"
    );
    assert_eq!(rules.property("AlertSync", "AlarmTopicArn"), "<AlarmTopic>");

    let all = Deployment::new(&[SLACK, RULES, ("AlarmsToSlack", "all")]);
    assert!(all.creates("SlackNotifierAlarmSubscription"));
    assert_eq!(
        all.property("SlackNotifierAlarmSubscription", "FilterPolicyScope"),
        "<NoValue>"
    );
    let off = Deployment::new(&[SLACK, RULES, ("AlarmsToSlack", "none")]);
    assert!(
        !off.creates("SlackNotifierAlarmSubscription")
            && !off.creates("SlackNotifierAlarmPermission")
    );
    assert!(
        off.creates("AlertSync"),
        "the alarms still reach the alarm topic"
    );
    // No Slack: the alarms go to the topic (e-mail) and the sync still runs.
    let mail = Deployment::new(&[RULES, ("AlarmEmail", "oncall@example.com")]);
    assert!(mail.creates("AlertSync") && !mail.creates("SlackNotifierAlarmSubscription"));
    // A workload account (source mode) has no alarm topic: no sync there.
    let source = Deployment::new(&[
        RULES,
        ("Mode", "source"),
        (
            "CentralDestinationArn",
            "arn:aws:logs:eu-west-1:210987654321:destination:logpipe-dev",
        ),
    ]);
    assert!(!source.creates("AlertSync"));
}

#[test]
fn an_empty_entry_in_a_log_group_list_is_refused() {
    for list in ["AppLogGroups", "AuditLogGroups", "AlertLogGroups"] {
        for value in ["/ecs/api,", ",/ecs/api", "/ecs/a,,/ecs/b"] {
            let d = Deployment::new(&[SLACK, (list, value)]);
            let refused = d.refused();
            assert!(
                refused.len() == 1 && refused[0].contains(&format!("{list} has an empty entry")),
                "{list}={value}: {refused:?}"
            );
        }
        assert_eq!(
            Deployment::new(&[SLACK, (list, "/ecs/a,/ecs/b")]).refused(),
            Vec::<String>::new()
        );
    }
}

/// SigV4 without the domain or collection ARN would deploy roles with no es:ESHttp* (or aoss) permission:
/// every request a 403.
#[test]
fn sigv4_search_without_its_resource_arn_is_refused() {
    for auth in ["sigv4", "aoss"] {
        let d = Deployment::new(&[SEARCH, ("SearchAuth", auth)]);
        let refused = d.refused();
        assert!(
            refused.len() == 1 && refused[0].contains("needs SearchResourceArn"),
            "{auth}: {refused:?}"
        );
        let with_arn = Deployment::new(&[SEARCH, ("SearchAuth", auth), DOMAIN]);
        assert_eq!(with_arn.refused(), Vec::<String>::new());
        assert!(with_arn
            .condition(if auth == "sigv4" {
                "SearchEs"
            } else {
                "SearchAoss"
            })
            .b());
    }
    // Other authentications, no search at all, and source mode need no ARN.
    assert_eq!(
        Deployment::new(&[SEARCH, ("SearchAuth", "none")]).refused(),
        Vec::<String>::new()
    );
    assert_eq!(
        Deployment::new(&[("SearchAuth", "sigv4")]).refused(),
        Vec::<String>::new()
    );
    let source = Deployment::new(&[
        SEARCH,
        ("Mode", "source"),
        (
            "CentralDestinationArn",
            "arn:aws:logs:eu-west-1:123456789012:destination:logpipe",
        ),
    ]);
    assert_eq!(source.refused(), Vec::<String>::new());
}

/// The account-level subscription filter policy: created only in its attachment mode, it leaves out every
/// log group logpipe makes (read from the template, so a new function's group cannot be forgotten) but the
/// heartbeat group, whose events must take the app path, and the audit groups; it points at the app stream
/// with CloudWatch Logs' role, or at the central destination from a source account.
#[test]
fn the_account_policy_leaves_out_logpipes_groups_and_the_audit_groups() {
    let audit = (
        "AuditLogGroups",
        "/aws/rds/cluster/shop/audit,/aws/rds/cluster/pay/postgresql",
    );
    let d = Deployment::new(&[("AppAttachment", "account-policy"), audit, SLACK]);
    assert_eq!(d.refused(), Vec::<String>::new());
    assert!(d.creates("AppAccountPolicy"));
    assert!(!Deployment::new(&[]).creates("AppAccountPolicy"));

    let criteria = d.property("AppAccountPolicy", "SelectionCriteria");
    let excluded = d.policy_exclusions();
    let mut ours: Vec<String> = resources(&d.t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Logs::LogGroup"))
        .map(|(_, r)| d.eval(&r["Properties"]["LogGroupName"]).s())
        .filter(|name| name != "/logpipe/dev/heartbeat")
        .collect();
    assert!(ours.len() >= 7, "{ours:?}");
    ours.extend([
        "/aws/rds/cluster/shop/audit".to_string(),
        "/aws/rds/cluster/pay/postgresql".to_string(),
    ]);
    ours.sort();
    let mut got = excluded.clone();
    got.sort();
    assert_eq!(got, ours);
    // CloudWatch Logs takes at most 25 KB of selection criteria: about 200 audit group names of 100 bytes.
    assert!(criteria.len() < 25 * 1024);

    let doc: serde_json::Value =
        serde_json::from_str(&d.property("AppAccountPolicy", "PolicyDocument")).expect("JSON");
    assert_eq!(doc["DestinationArn"], "<AppDeliveryStream.Arn>");
    assert_eq!(doc["RoleArn"], "<LogsToFirehoseRole.Arn>");
    assert_eq!(doc["FilterPattern"], "");

    let dest = "arn:aws:logs:eu-west-1:123456789012:destination:logpipe";
    let source = Deployment::new(&[
        ("AppAttachment", "account-policy"),
        ("Mode", "source"),
        ("CentralDestinationArn", dest),
    ]);
    assert_eq!(source.refused(), Vec::<String>::new());
    let doc: serde_json::Value =
        serde_json::from_str(&source.property("AppAccountPolicy", "PolicyDocument")).expect("JSON");
    assert_eq!(doc["DestinationArn"], dest);
    assert!(
        doc.get("RoleArn").is_none(),
        "a logical destination needs no role"
    );
    // No audit groups: the list holds logpipe's own alone.
    let plain = Deployment::new(&[("AppAttachment", "account-policy")]);
    assert!(!plain
        .property("AppAccountPolicy", "SelectionCriteria")
        .contains("rds"));
}

/// With the account policy, any other way of attaching application groups would deliver them twice.
#[test]
fn the_account_policy_refuses_double_delivery() {
    let policy = ("AppAttachment", "account-policy");
    let refused = |with: &[(&str, &str)]| Deployment::new(with).refused();
    let r = refused(&[policy, ("AppLogGroups", "/ecs/api")]);
    assert!(
        r.len() == 1 && r[0].contains("AppLogGroups must be empty"),
        "{r:?}"
    );
    let r = refused(&[
        policy,
        ("AutoSubscribe", "true"),
        ("AutoSubscribePatterns", "/ecs/*"),
    ]);
    assert!(
        r.len() == 1 && r[0].contains("AutoSubscribePatterns must be empty"),
        "{r:?}"
    );
    let r = refused(&[
        policy,
        ("AutoSubscribe", "true"),
        ("AutoSubscribeAuditPatterns", "/aws/rds/*"),
    ]);
    assert!(
        r.len() == 1 && r[0].contains("list them in AuditLogGroups"),
        "{r:?}"
    );
    // Alerts to Slack are a second, separate filter: still attached by the subscriber.
    assert_eq!(
        refused(&[
            policy,
            SLACK,
            ("AutoSubscribe", "true"),
            ("AutoSubscribeAlertPatterns", "/ecs/*"),
        ]),
        Vec::<String>::new()
    );
    // Without the policy, listing and patterns together stay allowed, as before.
    assert_eq!(
        refused(&[
            ("AppLogGroups", "/ecs/api"),
            ("AutoSubscribe", "true"),
            ("AutoSubscribePatterns", "/ecs/*"),
        ]),
        Vec::<String>::new()
    );
}

/// Every attachment mode delivers each group once: no group the account policy covers also has a
/// group-level filter to the policy's destination (the canary's heartbeat group included, whose heartbeats
/// must prove the policy itself), and no group has two filters to one destination.
#[test]
fn every_attachment_mode_delivers_each_group_once() {
    const DEST: &str = "arn:aws:logs:eu-west-1:123456789012:destination:logpipe";
    let heartbeat = "/logpipe/dev/heartbeat".to_string();
    let shapes: [&[(&str, &str)]; 4] = [
        &[],
        &[
            SLACK,
            ("AuditLogGroups", "/aws/rds/cluster/shop/audit"),
            ("AlertLogGroups", "/ecs/api,/ecs/web"),
            ("AutoSubscribe", "true"),
            ("AutoSubscribeAlertPatterns", "/ecs/*"),
        ],
        &[("Canary", "false")],
        &[("Mode", "source"), ("CentralDestinationArn", DEST)],
    ];
    for mode in ["groups", "account-policy"] {
        for shape in shapes {
            let mut with = vec![("AppAttachment", mode)];
            if mode == "groups" && !shape.iter().any(|(n, _)| *n == "Mode") {
                with.push(("AppLogGroups", "/ecs/api,/aws/lambda/checkout"));
            }
            with.extend_from_slice(shape);
            let d = Deployment::new(&with);
            assert_eq!(d.refused(), Vec::<String>::new(), "{with:?}");
            let filters = d.group_filters();
            let mut seen = std::collections::BTreeSet::new();
            for f in &filters {
                assert!(seen.insert(f), "{with:?}: two filters {f:?}");
            }
            let canary = d.creates("CanaryFunction");
            if d.creates("AppAccountPolicy") {
                let doc: serde_json::Value =
                    serde_json::from_str(&d.property("AppAccountPolicy", "PolicyDocument"))
                        .expect("JSON");
                let to = doc["DestinationArn"].as_str().expect("a destination");
                let excluded = d.policy_exclusions();
                for (group, dest) in &filters {
                    assert!(
                        dest != to || excluded.contains(group),
                        "{with:?}: {group} is delivered by the account policy and by a filter of its own"
                    );
                }
                if canary {
                    assert!(
                        !excluded.contains(&heartbeat),
                        "{with:?}: the policy must deliver the heartbeats"
                    );
                }
            } else if canary {
                assert!(
                    filters
                        .iter()
                        .any(|(g, dest)| *g == heartbeat && dest == "<AppDeliveryStream.Arn>"),
                    "{with:?}: the heartbeat group must reach the app stream: {filters:?}"
                );
            }
        }
    }
}
