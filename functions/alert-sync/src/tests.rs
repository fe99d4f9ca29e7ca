use std::sync::Mutex;

use super::*;
use logcore::alert::watch::parse;

/// CloudWatch in memory: puts replace by name, deletes remove, and the calls are recorded; a put of a
/// filter on `fail_group` fails as CloudWatch Logs does for a group that does not exist.
#[derive(Default)]
struct MemCloud {
    groups: Vec<String>,
    state: Mutex<Existing>,
    calls: Mutex<Vec<String>>,
    fail_group: Option<String>,
    /// Listing the log groups fails (throttled), as DescribeLogGroups does under a storm of calls.
    unlisted: bool,
}

impl Cloud for MemCloud {
    async fn groups(&self) -> Result<Vec<String>, CallError> {
        if self.unlisted {
            return Err(CallError::throttled(
                "describe log groups: ThrottlingException: Rate exceeded",
            ));
        }
        Ok(self.groups.clone())
    }
    async fn filters(&self, prefix: &str) -> Result<Vec<MetricFilter>, CallError> {
        let s = self.state.lock().unwrap();
        Ok(s.filters
            .iter()
            .filter(|f| f.name.starts_with(prefix))
            .cloned()
            .collect())
    }
    async fn put_filter(&self, f: &MetricFilter) -> Result<(), CallError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("put filter {}", f.log_group));
        if self.fail_group.as_deref() == Some(f.log_group.as_str()) {
            return Err(CallError::not_found(
                "ResourceNotFoundException: The specified log group does not exist.",
            ));
        }
        let mut s = self.state.lock().unwrap();
        s.filters
            .retain(|e| !(e.log_group == f.log_group && e.name == f.name));
        s.filters.push(f.clone());
        Ok(())
    }
    async fn delete_filter(&self, log_group: &str, name: &str) -> Result<(), CallError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("delete filter {log_group}"));
        let mut s = self.state.lock().unwrap();
        s.filters
            .retain(|e| !(e.log_group == log_group && e.name == name));
        Ok(())
    }
    async fn alarms(&self, prefix: &str) -> Result<Vec<Alarm>, CallError> {
        let s = self.state.lock().unwrap();
        Ok(s.alarms
            .iter()
            .filter(|a| a.name.starts_with(prefix))
            .cloned()
            .collect())
    }
    async fn put_alarm(&self, a: &Alarm) -> Result<(), CallError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("put alarm {}", a.name));
        let mut s = self.state.lock().unwrap();
        s.alarms.retain(|e| e.name != a.name);
        s.alarms.push(a.clone());
        Ok(())
    }
    async fn delete_alarms(&self, names: &[String]) -> Result<(), CallError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("delete alarms {}", names.join(",")));
        let mut s = self.state.lock().unwrap();
        s.alarms.retain(|e| !names.contains(&e.name));
        Ok(())
    }
}

fn naming() -> Naming {
    Naming {
        prefix: "logpipe-t-alert-".into(),
        namespace: "logpipe/alerts".into(),
        actions: vec!["arn:aws:sns:us-east-1:123456789012:alarms".into()],
    }
}

const RULES: &str =
    r#"[{"name":"errors","kind":"threshold","log_groups":["/a*"],"count":5,"minutes":5}]"#;

#[tokio::test]
async fn a_dry_run_plans_and_changes_nothing_then_a_sync_applies_filters_first() {
    let cloud = MemCloud {
        groups: vec!["/a1".into(), "/a2".into(), "/b".into()],
        ..MemCloud::default()
    };
    let w = parse(RULES).unwrap();
    let dry = sync(&cloud, &w, &naming(), true).await.unwrap();
    assert_eq!(dry.changes.len(), 4);
    assert!(cloud.calls.lock().unwrap().is_empty());
    assert_eq!(
        (
            dry.summary.filters_wanted,
            dry.summary.alarms_wanted,
            dry.summary.filters_put
        ),
        (2, 2, 0)
    );

    let done = sync(&cloud, &w, &naming(), false).await.unwrap();
    assert_eq!(
        (
            done.summary.filters_put,
            done.summary.alarms_put,
            done.summary.failed
        ),
        (2, 2, 0)
    );
    let calls = cloud.calls.lock().unwrap().clone();
    assert!(
        calls[0].starts_with("put filter") && calls[1].starts_with("put filter"),
        "{calls:?}"
    );
    let again = sync(&cloud, &w, &naming(), false).await.unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);

    // Without rules, alarms go before their filters.
    cloud.calls.lock().unwrap().clear();
    let gone = sync(&cloud, &[], &naming(), false).await.unwrap();
    assert_eq!(
        (gone.summary.alarms_deleted, gone.summary.filters_deleted),
        (2, 2)
    );
    let calls = cloud.calls.lock().unwrap().clone();
    assert!(calls[0].starts_with("delete alarms"), "{calls:?}");
}

#[tokio::test]
async fn a_failed_change_is_reported_and_the_others_still_apply() {
    let cloud = MemCloud {
        groups: vec!["/a1".into(), "/a2".into()],
        fail_group: Some("/a1".into()),
        ..MemCloud::default()
    };
    let out = sync(&cloud, &parse(RULES).unwrap(), &naming(), false)
        .await
        .unwrap();
    assert_eq!(out.summary.failed, 1);
    assert_eq!(out.summary.filters_put, 1);
    assert_eq!(out.summary.alarms_put, 2);
    assert!(
        out.failures[0].contains("put metric filter logpipe-t-alert-errors on /a1"),
        "{:?}",
        out.failures
    );
    assert!(
        out.failures[0].contains("does not exist"),
        "{:?}",
        out.failures
    );
}

#[test]
fn configuration_needs_an_owned_prefix_and_valid_rules() {
    let from = |v: &[(&str, &str)]| Config::from_env(logcore::base::env::pairs(v));
    let e = from(&[("ALERT_RULES", RULES)]).unwrap_err().to_string();
    assert!(e.contains("ALERT_NAME_PREFIX"), "{e}");
    let e = from(&[("ALERT_NAME_PREFIX", "lp")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("claim others"), "{e}");
    let e = from(&[
        ("ALERT_NAME_PREFIX", "logpipe-dev-alert-"),
        ("ALERT_RULES", "[{"),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("ALERT_RULES"), "{e}");
    let c = from(&[
        ("ALERT_NAME_PREFIX", "logpipe-dev-alert-"),
        ("ALERT_RULES", RULES),
        ("ALARM_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
    ])
    .unwrap();
    assert_eq!(c.watches.len(), 1);
    assert_eq!(c.naming.namespace, DEFAULT_NAMESPACE);
    assert_eq!(c.naming.actions, vec!["arn:aws:sns:us-east-1:1:t"]);
}

/// The response URL, recorded; `refuse` answers as S3 does to an expired pre-signed URL.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<(String, logcore::base::cfn::Response)>>,
    refuse: bool,
}

impl Respond for Recorder {
    async fn respond(
        &self,
        url: &str,
        r: &logcore::base::cfn::Response,
        _stop: tokio::time::Instant,
    ) -> Result<(), CallError> {
        if self.refuse {
            return Err(CallError::permanent(
                "custom resource response refused: HTTP 403: AccessDenied",
            ));
        }
        self.sent.lock().unwrap().push((url.into(), r.clone()));
        Ok(())
    }
}

fn request(kind: &str, props: serde_json::Value) -> serde_json::Value {
    let mut p =
        serde_json::json!({"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:sync"});
    p.as_object_mut()
        .unwrap()
        .extend(props.as_object().unwrap().clone());
    let mut e = serde_json::json!({
        "RequestType": kind,
        "ResponseURL": "https://cfn-response.example/r?X-Amz-Signature=1",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/logpipe-t/1",
        "RequestId": "req-1",
        "LogicalResourceId": "AlertSync",
        "ResourceType": "Custom::AlertSync",
        "ResourceProperties": p,
    });
    if kind != "Create" {
        e["PhysicalResourceId"] = "logpipe-t-alert-".into();
    }
    e
}

fn function(env: &[(&str, &str)]) -> Function {
    Function::from_env(logcore::base::env::pairs(env)).unwrap()
}

fn props(rules: &str) -> serde_json::Value {
    serde_json::json!({
        "AlertRules": rules,
        "AlertNamePrefix": "logpipe-t-alert-",
        "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:logpipe-t-alarms",
    })
}

#[tokio::test]
async fn a_deploy_syncs_the_resources_rules_and_answers_success() {
    let cloud = MemCloud {
        groups: vec!["/a1".into(), "/b".into()],
        ..MemCloud::default()
    };
    // The environment's rules differ (a rollback of the function lags the resource's): the request's win.
    let f = function(&[
        ("ALERT_NAME_PREFIX", "logpipe-t-alert-"),
        ("ALERT_RULES", "[]"),
    ]);
    let rec = Recorder::default();
    let (r, s) = handle(&f, &cloud, &rec, &request("Create", props(RULES)), later()).await;
    r.unwrap();
    assert_eq!((s.filters_put, s.alarms_put), (1, 1));
    let sent = rec.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].0,
        "https://cfn-response.example/r?X-Amz-Signature=1"
    );
    assert_eq!(sent[0].1.status, "SUCCESS");
    assert_eq!(sent[0].1.physical_resource_id, "logpipe-t-alert-");
    assert_eq!(sent[0].1.request_id, "req-1");
    let alarm = cloud.state.lock().unwrap().alarms[0].clone();
    assert_eq!(
        alarm.actions,
        vec!["arn:aws:sns:us-east-1:123456789012:logpipe-t-alarms"]
    );

    // An Update without the rule removes its filter and alarm.
    let (r, s) = handle(&f, &cloud, &rec, &request("Update", props("[]")), later()).await;
    r.unwrap();
    assert_eq!((s.filters_deleted, s.alarms_deleted), (1, 1));
    assert!(cloud.state.lock().unwrap().alarms.is_empty());
}

#[tokio::test]
async fn invalid_rules_or_failed_changes_answer_failed_with_the_reason() {
    let cloud = MemCloud {
        groups: vec!["/a1".into()],
        fail_group: Some("/a1".into()),
        ..MemCloud::default()
    };
    let f = function(&[]);
    let rec = Recorder::default();
    let bad = r#"[{"name":"errors","kind":"threshold","log_groups":["/a*"],"minutes":5}]"#;
    let (r, _) = handle(&f, &cloud, &rec, &request("Create", props(bad)), later()).await;
    r.unwrap();
    let (r, s) = handle(&f, &cloud, &rec, &request("Update", props(RULES)), later()).await;
    r.unwrap();
    assert_eq!(s.failed, 1);
    let sent = rec.sent.lock().unwrap().clone();
    assert_eq!(sent[0].1.status, "FAILED");
    let why = sent[0].1.reason.clone().unwrap();
    assert!(
        why.contains("ALERT_RULES") && why.contains("count"),
        "{why}"
    );
    // A Create that failed has no prefix to name it by: its logical id.
    assert_eq!(sent[0].1.physical_resource_id, "AlertSync");
    assert_eq!(sent[1].1.status, "FAILED");
    let why = sent[1].1.reason.clone().unwrap();
    assert!(
        why.contains("1 of 2 changes failed") && why.contains("/a1"),
        "{why}"
    );
}

#[tokio::test]
async fn a_delete_removes_only_its_prefixs_and_always_succeeds() {
    let cloud = MemCloud {
        groups: vec!["/a1".into()],
        ..MemCloud::default()
    };
    let f = function(&[]);
    let rec = Recorder::default();
    handle(&f, &cloud, &rec, &request("Create", props(RULES)), later())
        .await
        .0
        .unwrap();
    let other = Naming {
        prefix: "logpipe-u-alert-".into(),
        ..naming()
    };
    sync(&cloud, &parse(RULES).unwrap(), &other, false)
        .await
        .unwrap();
    let (r, s) = handle(&f, &cloud, &rec, &request("Delete", props(RULES)), later()).await;
    r.unwrap();
    assert_eq!((s.filters_deleted, s.alarms_deleted), (1, 1));
    let st = cloud.state.lock().unwrap().clone();
    assert_eq!(st.alarms.len(), 1);
    assert!(st.alarms[0].name.starts_with("logpipe-u-alert-"));
    assert_eq!(rec.sent.lock().unwrap()[1].1.status, "SUCCESS");

    // A resource that never had a valid prefix deletes nothing, and succeeds.
    let (r, _) = handle(
        &f,
        &cloud,
        &rec,
        &request("Delete", serde_json::json!({"AlertNamePrefix": "x"})),
        later(),
    )
    .await;
    r.unwrap();
    assert_eq!(cloud.state.lock().unwrap().alarms.len(), 1);
    assert_eq!(rec.sent.lock().unwrap()[2].1.status, "SUCCESS");
}

#[tokio::test]
async fn the_schedule_syncs_the_environments_rules_and_unsent_answers_fail_the_invocation() {
    let cloud = MemCloud {
        groups: vec!["/a1".into()],
        ..MemCloud::default()
    };
    let rec = Recorder::default();
    let schedule =
        serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    let f = function(&[
        ("ALERT_NAME_PREFIX", "logpipe-t-alert-"),
        ("ALERT_RULES", RULES),
    ]);
    let (r, s) = handle(&f, &cloud, &rec, &schedule, later()).await;
    r.unwrap();
    assert_eq!(s.alarms_put, 1);
    assert!(rec.sent.lock().unwrap().is_empty());

    // An invalid environment fails the scheduled run, with the reason.
    let e = handle(&function(&[]), &cloud, &rec, &schedule, later())
        .await
        .0
        .unwrap_err();
    assert!(e.to_string().contains("ALERT_NAME_PREFIX"), "{e}");

    let refusing = Recorder {
        refuse: true,
        ..Recorder::default()
    };
    let e = handle(
        &f,
        &cloud,
        &refusing,
        &request("Update", props(RULES)),
        later(),
    )
    .await
    .0
    .unwrap_err();
    assert!(
        e.to_string().contains("AlertSync") && e.to_string().contains("403"),
        "{e}"
    );
}

#[tokio::test]
async fn a_sync_that_cannot_list_counts_one_failure_for_every_caller() {
    let cloud = MemCloud {
        groups: vec!["/a1".into()],
        unlisted: true,
        ..MemCloud::default()
    };
    let u = sync(&cloud, &parse(RULES).unwrap(), &naming(), false)
        .await
        .unwrap_err();
    assert_eq!(u.summary.failed, 1);
    assert!(u.to_string().contains("ThrottlingException"), "{u}");
    assert!(cloud.calls.lock().unwrap().is_empty());

    let f = function(&[
        ("ALERT_NAME_PREFIX", "logpipe-t-alert-"),
        ("ALERT_RULES", RULES),
    ]);
    let rec = Recorder::default();
    let schedule = serde_json::json!({"source": "aws.events", "detail": {}});
    let (r, s) = handle(&f, &cloud, &rec, &schedule, later()).await;
    assert!(r.unwrap_err().to_string().contains("Rate exceeded"));
    assert_eq!(s.failed, 1);

    // Create answers FAILED with the reason; Delete still answers SUCCESS, and counts what it could not do.
    let (r, s) = handle(&f, &cloud, &rec, &request("Create", props(RULES)), later()).await;
    r.unwrap();
    assert_eq!(s.failed, 1);
    let (r, s) = handle(&f, &cloud, &rec, &request("Delete", props(RULES)), later()).await;
    r.unwrap();
    assert_eq!(s.failed, 1);
    let sent = rec.sent.lock().unwrap().clone();
    assert_eq!(sent[0].1.status, "FAILED");
    assert!(sent[0]
        .1
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("ThrottlingException")));
    assert_eq!(sent[1].1.status, "SUCCESS");
}

/// A deadline well ahead: these invocations never come near theirs.
fn later() -> logpipe_io::lambda::Deadline {
    logpipe_io::lambda::Deadline::after(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(2),
    )
}
