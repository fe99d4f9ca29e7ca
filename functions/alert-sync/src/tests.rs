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
}

impl Cloud for MemCloud {
    async fn groups(&self) -> Result<Vec<String>, CallError> {
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
    let from = |v: &[(&str, &str)]| Config::from_env(logcore::env::pairs(v));
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
