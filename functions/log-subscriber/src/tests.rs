use std::collections::BTreeMap;
use std::sync::Mutex;

use super::*;
use crate::config::parse_rules;

/// CloudWatch Logs in memory: groups and their filters, with the two-filter limit, and a number of
/// throttled answers before any call succeeds.
#[derive(Default)]
struct FakeLogs {
    groups: Mutex<BTreeMap<String, Vec<Filter>>>,
    policies: Vec<AccountPolicy>,
    throttle: Mutex<u32>,
    calls: Mutex<u32>,
}

impl FakeLogs {
    fn with(groups: &[(&str, Vec<Filter>)]) -> Self {
        FakeLogs {
            groups: Mutex::new(
                groups
                    .iter()
                    .map(|(g, f)| (g.to_string(), f.clone()))
                    .collect(),
            ),
            ..FakeLogs::default()
        }
    }

    fn gate(&self) -> Result<(), CallError> {
        *self.calls.lock().unwrap() += 1;
        let mut t = self.throttle.lock().unwrap();
        if *t > 0 {
            *t -= 1;
            return Err(CallError::new(
                ErrorKind::Throttled,
                "ThrottlingException: Rate exceeded",
            ));
        }
        Ok(())
    }

    fn names(&self, group: &str) -> Vec<String> {
        self.groups.lock().unwrap()[group]
            .iter()
            .map(|f| f.name.clone())
            .collect()
    }
}

fn missing(group: &str) -> CallError {
    CallError::new(
        ErrorKind::NotFound,
        format!("ResourceNotFoundException: {group}"),
    )
}

impl Logs for FakeLogs {
    async fn groups(&self, prefix: Option<&str>) -> Result<Vec<String>, CallError> {
        self.gate()?;
        Ok(self
            .groups
            .lock()
            .unwrap()
            .keys()
            .filter(|g| prefix.is_none_or(|p| g.starts_with(p)))
            .cloned()
            .collect())
    }
    async fn filters(&self, group: &str) -> Result<Vec<Filter>, CallError> {
        self.gate()?;
        self.groups
            .lock()
            .unwrap()
            .get(group)
            .cloned()
            .ok_or_else(|| missing(group))
    }
    async fn put(&self, group: &str, f: &Filter) -> Result<(), CallError> {
        self.gate()?;
        let mut g = self.groups.lock().unwrap();
        let filters = g.get_mut(group).ok_or_else(|| missing(group))?;
        match filters.iter().position(|x| x.name == f.name) {
            Some(i) => filters[i] = f.clone(),
            None if filters.len() < plan::MAX_FILTERS => filters.push(f.clone()),
            None => {
                return Err(CallError::new(
                    ErrorKind::Permanent,
                    "LimitExceededException: Resource limit exceeded.",
                ))
            }
        }
        Ok(())
    }
    async fn delete(&self, group: &str, name: &str) -> Result<(), CallError> {
        self.gate()?;
        let mut g = self.groups.lock().unwrap();
        let filters = g.get_mut(group).ok_or_else(|| missing(group))?;
        filters.retain(|f| f.name != name);
        Ok(())
    }
    async fn account_policies(&self) -> Result<Vec<AccountPolicy>, CallError> {
        self.gate()?;
        Ok(self.policies.clone())
    }
}

fn cfg() -> Config {
    let mut c = Config::new(
        parse_rules(
            r#"[{"filter_name":"logpipe-app","include":["/ecs/*"],"exclude":["/ecs/tmp-*"],
                 "destination_arn":"arn:aws:firehose:eu-west-1:111111111111:deliverystream/app","role_arn":"arn:aws:iam::111111111111:role/cwl"}]"#,
        )
        .unwrap(),
    );
    c.backoff.base = Duration::from_millis(1);
    c
}

fn foreign(name: &str) -> Filter {
    Filter {
        name: name.into(),
        destination_arn: "arn:aws:lambda:eu-west-1:111111111111:function:other".into(),
        filter_pattern: String::new(),
        role_arn: None,
    }
}

fn stop() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[tokio::test(start_paused = true)]
async fn reconcile_subscribes_matching_groups_once_and_leaves_others_alone() {
    let logs = FakeLogs::with(&[
        ("/ecs/api", vec![]),
        ("/ecs/worker", vec![foreign("datadog")]),
        ("/ecs/full", vec![foreign("a"), foreign("b")]),
        ("/ecs/tmp-1", vec![]),
        ("/var/other", vec![]),
    ]);
    *logs.throttle.lock().unwrap() = 3;
    let c = cfg();
    let s = reconcile(&c, &logs, &Run::apply(&Target::All, stop()), |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (s.groups, s.groups_matched, s.created, s.conflicts, s.failed),
        (5, 3, 2, 1, 0)
    );
    assert_eq!(s.retries, 3, "throttling is retried");
    assert_eq!(logs.names("/ecs/api"), ["logpipe-app"]);
    assert_eq!(logs.names("/ecs/worker"), ["datadog", "logpipe-app"]);
    assert_eq!(
        logs.names("/ecs/full"),
        ["a", "b"],
        "foreign filters are never touched"
    );
    assert!(logs.names("/ecs/tmp-1").is_empty() && logs.names("/var/other").is_empty());

    // A second run changes nothing.
    let s = reconcile(&c, &logs, &Run::apply(&Target::All, stop()), |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (s.created, s.updated, s.up_to_date, s.conflicts),
        (0, 0, 2, 1)
    );

    // Remove: only ours.
    let s = reconcile(
        &c,
        &logs,
        &Run {
            mode: Mode::Remove,
            ..Run::apply(&Target::All, stop())
        },
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(s.removed, 2);
    assert_eq!(logs.names("/ecs/worker"), ["datadog"]);
    assert_eq!(logs.names("/ecs/full"), ["a", "b"]);
}

#[tokio::test(start_paused = true)]
async fn dry_run_changes_nothing_and_a_vanished_group_is_counted() {
    let logs = FakeLogs::with(&[("/ecs/api", vec![])]);
    let c = cfg();
    let mut seen = Vec::new();
    let s = reconcile(
        &c,
        &logs,
        &Run {
            dry_run: true,
            ..Run::apply(&Target::All, stop())
        },
        |g, o| seen.push((g.to_string(), o.clone())),
    )
    .await
    .unwrap();
    assert_eq!(s.created, 1);
    assert!(logs.names("/ecs/api").is_empty(), "dry run");
    assert!(matches!(&seen[0].1, GroupOutcome::Done(steps) if matches!(steps[0], Step::Create(_))));
    let gone = Target::Groups(vec!["/ecs/deleted".into()]);
    let s = reconcile(&c, &logs, &Run::apply(&gone, stop()), |_, _| {})
        .await
        .unwrap();
    assert_eq!((s.missing, s.failed), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn throttling_past_the_deadline_fails_the_invocation() {
    let logs = FakeLogs::with(&[("/ecs/api", vec![])]);
    *logs.throttle.lock().unwrap() = 1_000;
    let mut c = cfg();
    // The per-group path (the policy read is the next test's).
    c.account_policies = false;
    let event = serde_json::json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.logs",
        "detail": {"eventName": "CreateLogGroup", "requestParameters": {"logGroupName": "/ecs/api"}}});
    let (r, s) = handle(
        &c,
        &logs,
        &event,
        Deadline::after(Duration::from_secs(5), c.common.deadline_margin),
    )
    .await;
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("1 of 1 log groups not subscribed") && e.contains("Throttling"),
        "{e}"
    );
    assert_eq!(s.failed, 1);
    assert!(
        *logs.calls.lock().unwrap() < 1_000,
        "retries stop at the deadline or the attempt cap"
    );
}

/// Past the deadline, the groups left that would have needed a call are counted for the next run; groups
/// no rule matches are not.
#[tokio::test(start_paused = true)]
async fn groups_not_reached_are_the_matching_ones_left() {
    let logs = FakeLogs::with(&[("/ecs/a", vec![]), ("/ecs/b", vec![]), ("/var/x", vec![])]);
    let c = cfg();
    let target = Target::Groups(vec![
        "/var/x".into(),
        "/ecs/a".into(),
        "/var/x".into(),
        "/ecs/b".into(),
    ]);
    let s = reconcile(&c, &logs, &Run::apply(&target, Instant::now()), |_, _| {})
        .await
        .unwrap();
    assert_eq!((s.groups, s.not_reached, s.created), (4, 2, 0), "{s:?}");
}

#[test]
fn events_name_their_target() {
    use serde_json::json;
    let ct = |name: &str, group: Value| {
        json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.logs",
               "detail": {"eventName": name, "requestParameters": {"logGroupName": group}}})
    };
    assert_eq!(
        target_of(&ct("CreateLogGroup", json!("/ecs/new"))).unwrap(),
        Target::Groups(vec!["/ecs/new".into()])
    );
    assert_eq!(
        target_of(&json!({"detail-type": "Scheduled Event", "source": "aws.events"})).unwrap(),
        Target::All
    );
    let mut failed = ct("CreateLogGroup", json!("/ecs/x"));
    failed["detail"]["errorCode"] = json!("ResourceAlreadyExistsException");
    assert_eq!(target_of(&failed).unwrap(), Target::Groups(vec![]));
    assert!(target_of(&ct("DeleteLogGroup", json!("/x")))
        .unwrap_err()
        .contains("DeleteLogGroup"));
    assert!(target_of(&ct("CreateLogGroup", json!(null)))
        .unwrap_err()
        .contains("logGroupName"));
    assert!(target_of(&json!({"Records": []}))
        .unwrap_err()
        .contains("detail-type"));
}

fn app_policy(excluded: &[&str]) -> AccountPolicy {
    AccountPolicy {
        name: "logpipe-dev-app".into(),
        destination_arn: "arn:aws:firehose:eu-west-1:111111111111:deliverystream/app".into(),
        filter_pattern: String::new(),
        excluded: excluded.iter().map(|g| g.to_string()).collect(),
    }
}

/// With an account policy delivering to the app stream, no group gets an app filter of ours (one it had is
/// removed: it would deliver twice), except those the policy leaves out; a dry run says so.
#[tokio::test(start_paused = true)]
async fn groups_the_account_policy_delivers_get_no_app_filter() {
    let c = cfg();
    let app = Filter::of(&c.rules[0]);
    let mut logs = FakeLogs::with(&[
        ("/ecs/api", vec![]),
        ("/ecs/web", vec![app.clone()]),
        ("/ecs/left-out", vec![]),
    ]);
    logs.policies = vec![app_policy(&["/ecs/left-out"])];
    let dry = Run {
        dry_run: true,
        ..Run::apply(&Target::All, stop())
    };
    let mut seen = Vec::new();
    let s = reconcile(&c, &logs, &dry, |g, o| {
        seen.push((g.to_string(), o.clone()))
    })
    .await
    .unwrap();
    assert_eq!((s.covered, s.created, s.removed), (2, 1, 1), "{s:?}");
    assert!(seen.iter().any(|(g, o)| g == "/ecs/api"
        && matches!(o, GroupOutcome::Done(st) if matches!(&st[..], [Step::Covered { policy, .. }] if policy == "logpipe-dev-app"))));
    assert_eq!(
        logs.names("/ecs/web"),
        ["logpipe-app"],
        "a dry run changes nothing"
    );

    let s = reconcile(&c, &logs, &Run::apply(&Target::All, stop()), |_, _| {})
        .await
        .unwrap();
    assert_eq!((s.covered, s.created, s.removed), (2, 1, 1), "{s:?}");
    assert!(logs.names("/ecs/api").is_empty());
    assert!(logs.names("/ecs/web").is_empty());
    assert_eq!(logs.names("/ecs/left-out"), ["logpipe-app"]);
    // A second run changes nothing.
    let s = reconcile(&c, &logs, &Run::apply(&Target::All, stop()), |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (s.covered, s.created, s.removed, s.up_to_date),
        (2, 0, 0, 1)
    );
}

/// The policies cannot be read: nothing is attached on a guess, the run fails with the reason (Lambda
/// retries it); with `ACCOUNT_POLICIES=false` they are not read at all.
#[tokio::test(start_paused = true)]
async fn unreadable_account_policies_fail_the_run() {
    let logs = FakeLogs::with(&[("/ecs/api", vec![])]);
    *logs.throttle.lock().unwrap() = 1_000;
    let c = cfg();
    let e = reconcile(
        &c,
        &logs,
        &Run::apply(
            &Target::Groups(vec!["/ecs/api".into()]),
            Instant::now() + Duration::from_secs(5),
        ),
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(
        e.message
            .contains("reading the account's subscription filter policies"),
        "{e}"
    );
    // The way out is named: the variable, the template's parameter and the command's flag.
    for opt_out in [
        "ACCOUNT_POLICIES=false",
        "AutoSubscribeAccountPolicies=false",
        "--no-account-policies",
    ] {
        assert!(e.message.contains(opt_out), "{opt_out} in {e}");
    }
    assert!(logs.names("/ecs/api").is_empty());
    let mut off = cfg();
    off.account_policies = false;
    *logs.throttle.lock().unwrap() = 0;
    let s = reconcile(
        &off,
        &logs,
        &Run::apply(&Target::Groups(vec!["/ecs/api".into()]), stop()),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(s.created, 1);
}
