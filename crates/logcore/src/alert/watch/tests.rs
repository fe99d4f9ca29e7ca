use super::*;
use proptest::prelude::*;

fn naming() -> Naming {
    Naming {
        prefix: "logpipe-dev-alert-".into(),
        namespace: "logpipe/alerts".into(),
        actions: vec!["arn:aws:sns:eu-west-1:123456789012:logpipe-dev-alarms".into()],
    }
}

fn groups(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// What CloudWatch holds after the changes: puts replace by name, deletes remove by name.
fn apply(existing: &mut Existing, changes: &[Change]) {
    for c in changes {
        match c {
            Change::PutFilter(f) => {
                existing
                    .filters
                    .retain(|e| !(e.log_group == f.log_group && e.name == f.name));
                existing.filters.push(f.clone());
            }
            Change::DeleteFilter { log_group, name } => existing
                .filters
                .retain(|e| !(&e.log_group == log_group && &e.name == name)),
            Change::PutAlarm(a) => {
                existing.alarms.retain(|e| e.name != a.name);
                existing.alarms.push(a.clone());
            }
            Change::DeleteAlarms(names) => existing.alarms.retain(|e| !names.contains(&e.name)),
        }
    }
}

const RULES: &str = r#"[
  {"log_groups": ["/ecs/*"], "levels": "WARN"},
  {"name": "checkout-errors", "kind": "threshold", "log_groups": ["/ecs/checkout*"],
   "levels": "ERROR,FATAL", "count": 10, "minutes": 5},
  {"name": "fleet-errors", "kind": "threshold", "log_groups": ["/ecs/*"], "filter_pattern": "{ $.level = \"error\" }",
   "count": 100, "minutes": 15, "per": "all", "mention": ["<!subteam^S0ONCALL>"]},
  {"name": "billing-silent", "kind": "absence", "log_groups": ["/ecs/billing"], "minutes": 30},
  {"name": "no-heartbeat", "kind": "absence", "log_groups": ["/aws/lambda/cron"], "filter_pattern": "\"heartbeat\"", "minutes": 60}
]"#;

#[test]
fn the_rule_format_reads_every_kind_and_skips_each_rules() {
    let w = parse(RULES).unwrap();
    assert_eq!(w.len(), 4, "the each rule is the notifier's");
    assert_eq!(
        w[0].kind,
        WatchKind::Threshold {
            count: 10,
            per: Per::Group
        }
    );
    assert_eq!(
        w[0].filter_pattern.as_deref(),
        Some(r#"?"ERROR" ?"error" ?"Error" ?"FATAL" ?"fatal" ?"Fatal""#)
    );
    assert_eq!(
        w[1].kind,
        WatchKind::Threshold {
            count: 100,
            per: Per::All
        }
    );
    assert_eq!(w[1].mention, vec!["<!subteam^S0ONCALL>"]);
    assert_eq!(w[2].kind, WatchKind::Absence);
    assert_eq!(w[2].filter_pattern, None);
    assert_eq!(w[3].filter_pattern.as_deref(), Some("\"heartbeat\""));
    assert_eq!(parse("  ").unwrap(), Vec::new());
}

#[test]
fn bad_rules_are_refused_with_the_rule_and_the_reason() {
    let cases = [
        (
            r#"[{"kind":"threshold","log_groups":["/a"],"count":1,"minutes":1}]"#,
            "need a name",
        ),
        (
            r#"[{"name":"a b","kind":"absence","log_groups":["/a"],"minutes":1}]"#,
            "1 to 64",
        ),
        (
            r#"[{"name":"x","kind":"absence","log_groups":["/a"],"minutes":1},{"name":"x","kind":"absence","log_groups":["/b"],"minutes":1}]"#,
            "two rules",
        ),
        (
            r#"[{"name":"x","kind":"threshold","log_groups":["/a"],"minutes":5}]"#,
            "needs count",
        ),
        (
            r#"[{"name":"x","kind":"threshold","log_groups":["/a"],"count":0,"minutes":5}]"#,
            "at least 1",
        ),
        (
            r#"[{"name":"x","kind":"threshold","log_groups":["/a"],"count":2,"minutes":1441}]"#,
            "1 to 1440",
        ),
        (
            r#"[{"name":"x","kind":"absence","log_groups":["/a"]}]"#,
            "minutes is required",
        ),
        (
            r#"[{"name":"x","kind":"absence","log_groups":["/a"],"minutes":5,"count":3}]"#,
            "for threshold",
        ),
        (
            r#"[{"name":"x","kind":"threshold","log_groups":["/a"],"count":2,"minutes":5,"pattern":"boom"}]"#,
            "filter_pattern",
        ),
        (
            r#"[{"name":"x","kind":"threshold","log_groups":["/a"],"count":2,"minutes":5,"levels":"ERROR","filter_pattern":"x"}]"#,
            "not both",
        ),
        (
            r#"[{"name":"x","kind":"threshold","log_groups":["/a"],"count":2,"minutes":5,"levels":"LOUD"}]"#,
            "LOUD",
        ),
        (
            r#"[{"name":"x","kind":"threshold","log_groups":[],"count":2,"minutes":5}]"#,
            "log_groups is empty",
        ),
        (
            r#"[{"name":"x","kind":"sometimes","log_groups":["/a"]}]"#,
            "unknown kind",
        ),
        (
            r#"[{"name":"x","kind":"absence","log_groups":["/a"],"minutes":5,"mention":["@here"]}]"#,
            "mention \"@here\"",
        ),
        (
            r#"[{"name":"x","kind":"absence","log_groups":["/a"],"minutes":5,"bogus":1}]"#,
            "bogus",
        ),
    ];
    for (text, want) in cases {
        let e = parse(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn each_kind_gives_its_filters_and_alarms() {
    let w = parse(RULES).unwrap();
    let gs = groups(&[
        "/ecs/checkout-api",
        "/ecs/checkout-worker",
        "/ecs/billing",
        "/other",
        "/aws/lambda/cron",
    ]);
    let d = desired(&w, &gs, &naming());
    let filters: Vec<(&str, &str, &str)> = d
        .filters
        .iter()
        .map(|f| {
            (
                f.log_group.as_str(),
                f.name.as_str(),
                f.metric_name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        filters,
        vec![
            (
                "/aws/lambda/cron",
                "logpipe-dev-alert-no-heartbeat",
                "no-heartbeat@/aws/lambda/cron"
            ),
            (
                "/ecs/billing",
                "logpipe-dev-alert-fleet-errors",
                "fleet-errors"
            ),
            (
                "/ecs/checkout-api",
                "logpipe-dev-alert-checkout-errors",
                "checkout-errors@/ecs/checkout-api"
            ),
            (
                "/ecs/checkout-api",
                "logpipe-dev-alert-fleet-errors",
                "fleet-errors"
            ),
            (
                "/ecs/checkout-worker",
                "logpipe-dev-alert-checkout-errors",
                "checkout-errors@/ecs/checkout-worker"
            ),
            (
                "/ecs/checkout-worker",
                "logpipe-dev-alert-fleet-errors",
                "fleet-errors"
            ),
        ]
    );
    let alarm = |n: &str| d.alarms.iter().find(|a| a.name == n).unwrap();
    let a = alarm("logpipe-dev-alert-checkout-errors@/ecs/checkout-api");
    assert_eq!(
        (a.period_seconds, a.threshold, a.comparison),
        (300, 10, "GreaterThanOrEqualToThreshold")
    );
    assert_eq!(a.missing, Missing::NotBreaching);
    assert_eq!(a.namespace, "logpipe/alerts");
    let all = alarm("logpipe-dev-alert-fleet-errors");
    assert_eq!(
        (all.metric_name.as_str(), all.threshold),
        ("fleet-errors", 100)
    );
    assert_eq!(
        Marker::read(&all.description).unwrap(),
        Marker {
            rule: "fleet-errors".into(),
            log_group: None
        }
    );
    let silent = alarm("logpipe-dev-alert-billing-silent@/ecs/billing");
    assert_eq!(
        (silent.namespace.as_str(), silent.metric_name.as_str()),
        ("AWS/Logs", "IncomingLogEvents")
    );
    assert_eq!(
        silent.dimensions,
        vec![("LogGroupName".to_string(), "/ecs/billing".to_string())]
    );
    assert_eq!(
        (silent.comparison, silent.threshold, silent.missing),
        ("LessThanThreshold", 1, Missing::Breaching)
    );
    assert_eq!(
        Marker::read(&silent.description).unwrap(),
        Marker {
            rule: "billing-silent".into(),
            log_group: Some("/ecs/billing".into())
        }
    );
    assert!(silent
        .description
        .starts_with("logpipe alert \"billing-silent\": no event for 30 min in /ecs/billing."));
    let hb = alarm("logpipe-dev-alert-no-heartbeat@/aws/lambda/cron");
    assert_eq!((hb.missing, hb.period_seconds), (Missing::Breaching, 3600));
    assert_eq!(d.alarms.len(), 5);
}

#[test]
fn a_second_plan_changes_nothing_and_a_removed_rule_deletes_only_ours() {
    let n = naming();
    let gs = groups(&["/ecs/checkout-api", "/ecs/billing", "/aws/lambda/cron"]);
    let foreign_filter = MetricFilter {
        log_group: "/ecs/checkout-api".into(),
        name: "team-made-filter".into(),
        pattern: "ERROR".into(),
        namespace: "Team".into(),
        metric_name: "Errors".into(),
    };
    let foreign_alarm = Alarm {
        name: "logpipe-dev-dead-letters".into(),
        description: String::new(),
        namespace: "logpipe".into(),
        metric_name: "DeadLetters".into(),
        dimensions: Vec::new(),
        period_seconds: 300,
        threshold: 1,
        comparison: "GreaterThanOrEqualToThreshold",
        missing: Missing::NotBreaching,
        actions: Vec::new(),
    };
    let mut cw = Existing {
        filters: vec![foreign_filter.clone()],
        alarms: vec![foreign_alarm.clone()],
    };
    let d = desired(&parse(RULES).unwrap(), &gs, &n);
    let first = plan(&d, &cw, &n);
    assert_eq!(first.len(), d.filters.len() + d.alarms.len());
    assert!(first
        .iter()
        .all(|c| matches!(c, Change::PutFilter(_) | Change::PutAlarm(_))));
    apply(&mut cw, &first);
    assert_eq!(
        plan(&d, &cw, &n),
        Vec::new(),
        "a second sync changes nothing"
    );

    // A changed threshold puts that alarm again, nothing else.
    let changed = RULES.replace("\"count\": 10,", "\"count\": 20,");
    let d2 = desired(&parse(&changed).unwrap(), &gs, &n);
    let second = plan(&d2, &cw, &n);
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(matches!(&second[0], Change::PutAlarm(a) if a.threshold == 20));
    apply(&mut cw, &second);

    // Without the checkout rule: its filter and alarm go, the team's filter and alarm stay.
    let fewer = r#"[{"name": "billing-silent", "kind": "absence", "log_groups": ["/ecs/billing"], "minutes": 30}]"#;
    let d3 = desired(&parse(fewer).unwrap(), &gs, &n);
    let third = plan(&d3, &cw, &n);
    apply(&mut cw, &third);
    assert!(cw.filters.contains(&foreign_filter) && cw.alarms.contains(&foreign_alarm));
    assert_eq!(cw.filters, vec![foreign_filter]);
    let names: Vec<&str> = cw.alarms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "logpipe-dev-dead-letters",
            "logpipe-dev-alert-billing-silent@/ecs/billing"
        ]
    );
    // No rule at all: only ours go.
    let last = plan(&Desired::default(), &cw, &n);
    apply(&mut cw, &last);
    assert_eq!(cw.alarms, vec![foreign_alarm]);
}

#[test]
fn long_group_names_fit_cloudwatchs_limits() {
    let g = format!("/ecs/{}", "x".repeat(507));
    let w = parse(
        r#"[{"name":"slow","kind":"threshold","log_groups":["/ecs/*"],"count":3,"minutes":10}]"#,
    )
    .unwrap();
    let d = desired(&w, &[g.clone(), format!("{g}y")], &naming());
    assert_eq!(d.alarms.len(), 2, "two long names stay distinct");
    for a in &d.alarms {
        assert!(
            a.name.len() <= MAX_ALARM_NAME && a.metric_name.len() <= MAX_METRIC_NAME,
            "{}",
            a.name
        );
        assert!(a.description.len() <= MAX_DESCRIPTION);
        let group = Marker::read(&a.description).unwrap().log_group.unwrap();
        assert!(group.len() >= 512, "the marker keeps the whole group name");
    }
    assert_ne!(d.alarms[0].metric_name, d.alarms[1].metric_name);
}

fn arb_rules() -> impl Strategy<Value = String> {
    let rule = (
        0usize..3,
        "[a-c]{1,3}",
        proptest::collection::vec("/(a|b|c)[*]?", 1..3),
        1u32..50,
        1u32..1441,
        any::<bool>(),
    )
        .prop_map(|(kind, name, globs, count, minutes, all)| {
            let globs = serde_json::to_string(&globs).unwrap();
            match kind {
                0 => format!(r#"{{"name":"{name}","kind":"threshold","log_groups":{globs},"count":{count},"minutes":{minutes},"per":"{}"}}"#,
                    if all { "all" } else { "group" }),
                1 => format!(r#"{{"name":"{name}","kind":"absence","log_groups":{globs},"minutes":{minutes}}}"#),
                _ => format!(r#"{{"name":"{name}","kind":"absence","log_groups":{globs},"minutes":{minutes},"levels":"ERROR"}}"#),
            }
        });
    proptest::collection::vec(rule, 0..5).prop_map(|rs| format!("[{}]", rs.join(",")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// From any state (ours partly there, stale ones, others'), one plan applied reaches the desired state,
    /// the next plan is empty, and others' filters and alarms are never touched.
    #[test]
    fn sync_converges_and_never_touches_others(
        before in arb_rules(),
        after in arb_rules(),
        gs in proptest::collection::btree_set("/(a|b|c|ab|ba)x?", 0..6),
    ) {
        let (Ok(before), Ok(after)) = (parse(&before), parse(&after)) else {
            // Duplicate names are refused; nothing to sync.
            return Ok(());
        };
        let n = naming();
        let gs: Vec<String> = gs.into_iter().collect();
        let theirs = MetricFilter {
            log_group: gs.first().cloned().unwrap_or_else(|| "/a".into()),
            name: "logpipe-dev-alerts".into(), // a near miss of the prefix
            pattern: "x".into(),
            namespace: "n".into(),
            metric_name: "m".into(),
        };
        let mut cw = Existing { filters: vec![theirs.clone()], alarms: Vec::new() };
        let first = plan(&desired(&before, &gs, &n), &cw, &n);
        apply(&mut cw, &first);
        let want = desired(&after, &gs, &n);
        let changes = plan(&want, &cw, &n);
        for c in &changes {
            let name = match c {
                Change::PutFilter(f) => f.name.clone(),
                Change::DeleteFilter { name, .. } => name.clone(),
                Change::PutAlarm(a) => a.name.clone(),
                Change::DeleteAlarms(ns) => ns.join(","),
            };
            prop_assert!(name.starts_with(&n.prefix), "{c:?}");
        }
        apply(&mut cw, &changes);
        prop_assert_eq!(plan(&want, &cw, &n), Vec::new());
        let mut ours: Vec<MetricFilter> = cw.filters.iter().filter(|f| **f != theirs).cloned().collect();
        ours.sort();
        prop_assert_eq!(ours, want.filters.clone());
        prop_assert!(cw.filters.contains(&theirs));
        let mut alarms = cw.alarms.clone();
        alarms.sort();
        prop_assert_eq!(alarms, want.alarms.clone());
    }
}
