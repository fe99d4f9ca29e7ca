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
}

impl Step {
    /// Whether the step calls CloudWatch Logs.
    pub fn changes(&self) -> bool {
        matches!(self, Step::Create(_) | Step::Update(_) | Step::Remove(_))
    }
}

/// The steps for `group`, which has the filters `existing`. Filters whose names no rule owns are never
/// changed or removed.
pub fn plan(group: &str, existing: &[Filter], cfg: &Config, mode: Mode) -> Vec<Step> {
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
            plan("/ecs/api", &[], &c, Mode::Apply),
            [Step::Create(app.clone()), Step::Create(alerts.clone())]
        );
        // Second run: nothing changes.
        assert_eq!(
            plan("/ecs/api", &[app.clone(), alerts.clone()], &c, Mode::Apply),
            [
                Step::UpToDate("logpipe-app".into()),
                Step::UpToDate("logpipe-alerts".into())
            ]
        );
        // One foreign filter: room for one more only; the other is a conflict, the foreign one stays.
        assert_eq!(
            plan("/ecs/api", &[foreign("datadog")], &c, Mode::Apply),
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
            plan("/ecs/api", &[moved, foreign("x")], &c, Mode::Apply)[0],
            Step::Update(app.clone())
        );
        // Not matched: nothing.
        assert!(plan("/var/log/other", &[], &c, Mode::Apply).is_empty());
        // Remove: only ours.
        assert_eq!(
            plan("/ecs/api", &[foreign("datadog"), alerts], &c, Mode::Remove),
            [Step::Remove("logpipe-alerts".into())]
        );
    }

    proptest! {
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
            let steps = plan("/ecs/api", &existing, &c, mode);
            let ours = |n: &str| c.rules.iter().any(|r| r.filter_name == n);
            let mut count = existing.len();
            for s in &steps {
                match s {
                    Step::Create(f) => { prop_assert!(ours(&f.name)); count += 1; }
                    Step::Update(f) => prop_assert!(ours(&f.name) && names.contains(&f.name)),
                    Step::Remove(n) => { prop_assert!(ours(n)); count -= 1; }
                    Step::UpToDate(n) => prop_assert!(ours(n)),
                    Step::Conflict { occupied_by, .. } => prop_assert!(occupied_by.len() >= MAX_FILTERS),
                }
            }
            prop_assert!(count <= MAX_FILTERS.max(existing.len()));
        }
    }
}
