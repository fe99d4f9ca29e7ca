//! What to do to one log group, from the filters it has: pure, so every case is tested without AWS.

use crate::config::{Config, Rule};

/// CloudWatch Logs allows this many subscription filters per log group.
pub const MAX_FILTERS: usize = 2;

/// A subscription filter as CloudWatch Logs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub destination_arn: String,
    pub filter_pattern: String,
    pub role_arn: Option<String>,
}

impl Filter {
    pub fn of(rule: &Rule) -> Filter {
        Filter {
            name: rule.filter_name.clone(),
            destination_arn: rule.destination_arn.clone(),
            filter_pattern: rule.filter_pattern.clone(),
            role_arn: rule.role_arn.clone(),
        }
    }
}

/// An account-level subscription filter policy (`PutAccountPolicy`, `SUBSCRIPTION_FILTER_POLICY`): it
/// delivers every log group of the account and Region but those its selection criteria leave out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPolicy {
    pub name: String,
    pub destination_arn: String,
    pub filter_pattern: String,
    /// `LogGroupName NOT IN [...]`: the groups it leaves out.
    pub excluded: Vec<String>,
}

impl AccountPolicy {
    /// Whether the policy already delivers what `rule` would to `group`: the same destination, the group
    /// not left out, and every event the rule's pattern would pass (the policy's pattern is empty, or the
    /// same).
    pub fn covers(&self, group: &str, rule: &Filter) -> bool {
        self.destination_arn == rule.destination_arn
            && !self.excluded.iter().any(|g| g == group)
            && (self.filter_pattern.is_empty() || self.filter_pattern == rule.filter_pattern)
    }
}

/// The groups a policy's selection criteria leave out: `LogGroupName NOT IN ["a", "b"]`, the only selector
/// CloudWatch Logs accepts (an empty criteria leaves out nothing). The error says what does not read.
pub fn parse_selection(criteria: &str) -> Result<Vec<String>, String> {
    let c = criteria.trim();
    if c.is_empty() {
        return Ok(Vec::new());
    }
    let bad = || format!("selection criteria {c:?}: expected LogGroupName NOT IN [\"name\", …]");
    let open = c.find('[').ok_or_else(bad)?;
    let head: Vec<&str> = c[..open].split_whitespace().collect();
    let keywords = ["LogGroupName", "NOT", "IN"];
    if head.len() != 3
        || !head
            .iter()
            .zip(keywords)
            .all(|(w, k)| w.eq_ignore_ascii_case(k))
    {
        return Err(bad());
    }
    serde_json::from_str::<Vec<String>>(&c[open..]).map_err(|e| {
        format!("selection criteria {c:?}: the list does not read as quoted names ({e})")
    })
}

/// Attach what the rules say, or detach logpipe's filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Remove,
}

/// One step for one log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A new filter (PutSubscriptionFilter).
    Create(Filter),
    /// Our filter, pointing elsewhere or with another pattern: replaced under the same name.
    Update(Filter),
    /// Our filter, detached (DeleteSubscriptionFilter).
    Remove(String),
    /// Our filter, already as the rule says.
    UpToDate(String),
    /// The group already has two filters, none of them ours: nothing is touched, the conflict is reported.
    Conflict {
        wanted: String,
        occupied_by: Vec<String>,
    },
    /// An account policy already delivers what the rule's filter would: no filter (and ours, when the
    /// group has it, is removed by a [`Step::Remove`] beside this one, or events would arrive twice).
    Covered { filter: String, policy: String },
}

impl Step {
    /// Whether the step calls CloudWatch Logs.
    pub fn changes(&self) -> bool {
        matches!(self, Step::Create(_) | Step::Update(_) | Step::Remove(_))
    }
}

/// The steps for `group`, which has the filters `existing`, in an account with the subscription filter
/// policies `policies`. Filters whose names no rule owns are never changed or removed.
pub fn plan(
    group: &str,
    existing: &[Filter],
    cfg: &Config,
    mode: Mode,
    policies: &[AccountPolicy],
) -> Vec<Step> {
    let mut steps = Vec::new();
    if mode == Mode::Remove {
        for f in existing {
            if cfg.rules.iter().any(|r| r.filter_name == f.name) {
                steps.push(Step::Remove(f.name.clone()));
            }
        }
        return steps;
    }
    // The filters the group will have: its own, then those created here.
    let mut occupied: Vec<String> = existing.iter().map(|f| f.name.clone()).collect();
    for rule in cfg.rules_for(group) {
        let wanted = Filter::of(rule);
        if let Some(p) = policies.iter().find(|p| p.covers(group, &wanted)) {
            if existing.iter().any(|f| f.name == wanted.name) {
                occupied.retain(|n| *n != wanted.name);
                steps.push(Step::Remove(wanted.name.clone()));
            }
            steps.push(Step::Covered {
                filter: wanted.name,
                policy: p.name.clone(),
            });
            continue;
        }
        match existing.iter().find(|f| f.name == wanted.name) {
            Some(f) if *f == wanted => steps.push(Step::UpToDate(wanted.name)),
            Some(_) => steps.push(Step::Update(wanted)),
            None if occupied.len() < MAX_FILTERS => {
                occupied.push(wanted.name.clone());
                steps.push(Step::Create(wanted));
            }
            None => steps.push(Step::Conflict {
                wanted: wanted.name,
                occupied_by: occupied.clone(),
            }),
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_rules;
    use proptest::prelude::*;

    fn cfg() -> Config {
        Config::new(
            parse_rules(
                r#"[{"filter_name":"logpipe-app","include":["/ecs/*"],"destination_arn":"arn:aws:firehose:r:1:deliverystream/app","role_arn":"arn:aws:iam::1:role/cwl"},
                    {"filter_name":"logpipe-alerts","include":["/ecs/*"],"filter_pattern":"?ERROR","destination_arn":"arn:aws:lambda:r:1:function:slack"}]"#,
            )
            .unwrap(),
        )
    }

    fn foreign(name: &str) -> Filter {
        Filter {
            name: name.into(),
            destination_arn: "arn:aws:lambda:r:1:function:datadog".into(),
            filter_pattern: String::new(),
            role_arn: None,
        }
    }

    #[test]
    fn every_case() {
        let c = cfg();
        let app = Filter::of(&c.rules[0]);
        let alerts = Filter::of(&c.rules[1]);
        // New group: both filters.
        assert_eq!(
            plan("/ecs/api", &[], &c, Mode::Apply, &[]),
            [Step::Create(app.clone()), Step::Create(alerts.clone())]
        );
        // Second run: nothing changes.
        assert_eq!(
            plan(
                "/ecs/api",
                &[app.clone(), alerts.clone()],
                &c,
                Mode::Apply,
                &[]
            ),
            [
                Step::UpToDate("logpipe-app".into()),
                Step::UpToDate("logpipe-alerts".into())
            ]
        );
        // One foreign filter: room for one more only; the other is a conflict, the foreign one stays.
        assert_eq!(
            plan("/ecs/api", &[foreign("datadog")], &c, Mode::Apply, &[]),
            [
                Step::Create(app.clone()),
                Step::Conflict {
                    wanted: "logpipe-alerts".into(),
                    occupied_by: vec!["datadog".into(), "logpipe-app".into()]
                }
            ]
        );
        // Ours, pointing elsewhere: updated in place.
        let mut moved = app.clone();
        moved.destination_arn = "arn:aws:logs:r:2:destination:old".into();
        assert_eq!(
            plan("/ecs/api", &[moved, foreign("x")], &c, Mode::Apply, &[])[0],
            Step::Update(app.clone())
        );
        // Not matched: nothing.
        assert!(plan("/var/log/other", &[], &c, Mode::Apply, &[]).is_empty());
        // Remove: only ours.
        assert_eq!(
            plan(
                "/ecs/api",
                &[foreign("datadog"), alerts],
                &c,
                Mode::Remove,
                &[]
            ),
            [Step::Remove("logpipe-alerts".into())]
        );
    }

    fn app_policy(excluded: &[&str]) -> AccountPolicy {
        AccountPolicy {
            name: "logpipe-dev-app".into(),
            destination_arn: "arn:aws:firehose:r:1:deliverystream/app".into(),
            filter_pattern: String::new(),
            excluded: excluded.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn a_group_the_account_policy_delivers_gets_no_app_filter_of_its_own() {
        let c = cfg();
        let (app, alerts) = (Filter::of(&c.rules[0]), Filter::of(&c.rules[1]));
        let policy = app_policy(&["/logpipe/dev/search-forwarder"]);
        // The policy delivers to the app stream: no app filter; the Slack filter is another destination.
        assert_eq!(
            plan(
                "/ecs/api",
                &[],
                &c,
                Mode::Apply,
                std::slice::from_ref(&policy)
            ),
            [
                Step::Covered {
                    filter: "logpipe-app".into(),
                    policy: "logpipe-dev-app".into()
                },
                Step::Create(alerts.clone())
            ]
        );
        // An app filter of ours already there would deliver every event twice: it goes.
        assert_eq!(
            plan(
                "/ecs/api",
                std::slice::from_ref(&app),
                &c,
                Mode::Apply,
                std::slice::from_ref(&policy)
            )[..2],
            [
                Step::Remove("logpipe-app".into()),
                Step::Covered {
                    filter: "logpipe-app".into(),
                    policy: "logpipe-dev-app".into()
                }
            ]
        );
        // A group the policy leaves out, a policy to another destination, or a narrower pattern: as before.
        let mut other = app_policy(&[]);
        other.destination_arn = "arn:aws:logs:r:2:destination:central".into();
        let mut narrow = app_policy(&[]);
        narrow.filter_pattern = "?ERROR".into();
        for p in [app_policy(&["/ecs/api"]), other, narrow] {
            assert_eq!(
                plan("/ecs/api", &[], &c, Mode::Apply, std::slice::from_ref(&p)),
                [Step::Create(app.clone()), Step::Create(alerts.clone())],
                "{p:?}"
            );
        }
        // Removing ours is the same with or without a policy.
        assert_eq!(
            plan("/ecs/api", &[app], &c, Mode::Remove, &[policy]),
            [Step::Remove("logpipe-app".into())]
        );
    }

    #[test]
    fn selection_criteria_read_as_cloudwatch_logs_writes_them() {
        assert_eq!(
            parse_selection(
                r#"LogGroupName NOT IN ["/logpipe/dev/firehose", "/aws/rds/cluster/shop/audit"]"#
            ),
            Ok(vec![
                "/logpipe/dev/firehose".to_string(),
                "/aws/rds/cluster/shop/audit".to_string()
            ])
        );
        assert_eq!(parse_selection(""), Ok(vec![]));
        assert_eq!(parse_selection("  logGroupName  not in []"), Ok(vec![]));
        for bad in [
            r#"LogGroupName IN ["/a"]"#,
            r#"LogGroupNamePrefix NOT IN ["/a"]"#,
            r#"LogGroupName NOT IN ["/a""#,
            r#"LogGroupName NOT IN [/a]"#,
            "LogGroupName NOT IN",
        ] {
            let e = parse_selection(bad).unwrap_err();
            assert!(e.contains("selection criteria"), "{bad}: {e}");
        }
    }

    proptest! {
        /// Any list of names, written as the template and the console write it, reads back the same.
        #[test]
        fn selection_criteria_round_trip(names in proptest::collection::vec("[a-zA-Z0-9_./#-]{1,60}", 0..30)) {
            let written = format!("LogGroupName NOT IN [{}]", names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", "));
            prop_assert_eq!(parse_selection(&written), Ok(names));
        }

        #[test]
        fn selection_criteria_never_panic(s in "\\PC{0,80}") {
            let _ = parse_selection(&s);
        }

        /// Whatever a group has, a plan never touches a foreign filter and never goes past two filters.
        #[test]
        fn never_touches_foreign_filters_nor_exceeds_the_limit(
            names in proptest::collection::vec(prop_oneof![
                Just("logpipe-app".to_string()), Just("logpipe-alerts".to_string()), "[a-z]{1,8}"], 0..=2),
            remove in any::<bool>(),
        ) {
            let c = cfg();
            let existing: Vec<Filter> = names.iter().map(|n| foreign(n)).collect();
            let mode = if remove { Mode::Remove } else { Mode::Apply };
            let steps = plan("/ecs/api", &existing, &c, mode, &[]);
            let ours = |n: &str| c.rules.iter().any(|r| r.filter_name == n);
            let mut count = existing.len();
            for s in &steps {
                match s {
                    Step::Create(f) => { prop_assert!(ours(&f.name)); count += 1; }
                    Step::Update(f) => prop_assert!(ours(&f.name) && names.contains(&f.name)),
                    Step::Remove(n) => { prop_assert!(ours(n)); count -= 1; }
                    Step::UpToDate(n) => prop_assert!(ours(n)),
                    Step::Conflict { occupied_by, .. } => prop_assert!(occupied_by.len() >= MAX_FILTERS),
                    Step::Covered { .. } => prop_assert!(false, "no policy given"),
                }
            }
            prop_assert!(count <= MAX_FILTERS.max(existing.len()));
        }
    }
}
