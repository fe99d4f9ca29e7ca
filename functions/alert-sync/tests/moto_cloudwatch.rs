//! The sync with its real I/O: CloudWatch Logs metric filters and CloudWatch alarms on moto. A threshold
//! rule creates its filter and alarm, a second sync changes nothing, a changed rule puts only what changed,
//! and a removed rule deletes only logpipe's, leaving a team's own filter and alarm in place.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use alert_sync::aws::AwsCloud;
use alert_sync::sync;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
use logcore::alert::watch::{parse, Marker, Naming};
use test_support::{moto_url, sdk_config, unique, ACCOUNT, REGION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_become_filters_and_alarms_and_only_ours_are_removed() {
    let Some(moto) = moto_url() else { return };
    let sdk = sdk_config(&moto).await;
    let cloud = AwsCloud::new(&sdk);
    let (logs, cw) = (&cloud.logs, &cloud.cloudwatch);
    let p = format!("/{}", unique("alerts"));
    for g in ["checkout-api", "checkout-worker", "billing"] {
        logs.create_log_group()
            .log_group_name(format!("{p}/{g}"))
            .send()
            .await
            .unwrap();
    }
    let env = unique("e");
    let naming = Naming {
        prefix: format!("logpipe-{env}-alert-"),
        namespace: "logpipe/alerts".into(),
        actions: vec![format!(
            "arn:aws:sns:{REGION}:{ACCOUNT}:logpipe-{env}-alarms"
        )],
    };
    // A team's own filter and alarm, in the same groups and namespace: never touched.
    logs.put_metric_filter()
        .log_group_name(format!("{p}/checkout-api"))
        .filter_name(format!("logpipe-{env}-team"))
        .filter_pattern("ERROR")
        .metric_transformations(
            aws_sdk_cloudwatchlogs::types::MetricTransformation::builder()
                .metric_name("TeamErrors")
                .metric_namespace("logpipe/alerts")
                .metric_value("1")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    cw.put_metric_alarm()
        .alarm_name(format!("logpipe-{env}-dead-letters"))
        .namespace("logpipe")
        .metric_name("DeadLetters")
        .statistic(Statistic::Sum)
        .period(300)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();

    let rules = format!(
        r#"[{{"name":"checkout-errors","kind":"threshold","log_groups":["{p}/checkout*"],"levels":"ERROR","count":10,"minutes":5}},
            {{"name":"billing-silent","kind":"absence","log_groups":["{p}/billing"],"minutes":30}}]"#
    );
    let w = parse(&rules).unwrap();
    let first = sync(&cloud, &w, &naming, false).await.unwrap();
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert_eq!(
        (first.summary.filters_put, first.summary.alarms_put),
        (2, 3)
    );

    let f = logs
        .describe_metric_filters()
        .log_group_name(format!("{p}/checkout-api"))
        .send()
        .await
        .unwrap();
    let ours = f
        .metric_filters()
        .iter()
        .find(|f| f.filter_name() == Some(&format!("logpipe-{env}-alert-checkout-errors")[..]))
        .expect("the rule's metric filter");
    assert_eq!(ours.filter_pattern(), Some(r#"?"ERROR" ?"error" ?"Error""#));
    let t = &ours.metric_transformations()[0];
    assert_eq!(
        (t.metric_namespace(), t.metric_value()),
        ("logpipe/alerts", "1")
    );
    assert_eq!(t.metric_name(), format!("checkout-errors@{p}/checkout-api"));

    let alarms = cw
        .describe_alarms()
        .alarm_name_prefix(&naming.prefix)
        .send()
        .await
        .unwrap();
    let a = alarms
        .metric_alarms()
        .iter()
        .find(|a| {
            a.alarm_name()
                == Some(&format!("{}checkout-errors@{p}/checkout-api", naming.prefix)[..])
        })
        .expect("the rule's alarm");
    assert_eq!(
        (a.period(), a.threshold(), a.evaluation_periods()),
        (Some(300), Some(10.0), Some(1))
    );
    assert_eq!(
        a.comparison_operator(),
        Some(&ComparisonOperator::GreaterThanOrEqualToThreshold)
    );
    assert_eq!(a.alarm_actions(), naming.actions.as_slice());
    assert_eq!(a.ok_actions(), naming.actions.as_slice());
    let marker = Marker::read(a.alarm_description().unwrap()).unwrap();
    assert_eq!(marker.rule, "checkout-errors");
    let silent = alarms
        .metric_alarms()
        .iter()
        .find(|a| {
            a.alarm_name() == Some(&format!("{}billing-silent@{p}/billing", naming.prefix)[..])
        })
        .expect("the absence rule's alarm");
    assert_eq!(
        (silent.namespace(), silent.metric_name()),
        (Some("AWS/Logs"), Some("IncomingLogEvents"))
    );
    assert_eq!(silent.treat_missing_data(), Some("breaching"));
    assert_eq!(
        silent.dimensions()[0].value(),
        Some(&format!("{p}/billing")[..])
    );

    let second = sync(&cloud, &w, &naming, false).await.unwrap();
    assert!(
        second.changes.is_empty(),
        "a second sync changes nothing: {:?}",
        second.changes
    );

    let changed = rules.replace(r#""count":10"#, r#""count":25"#);
    let third = sync(&cloud, &parse(&changed).unwrap(), &naming, false)
        .await
        .unwrap();
    assert_eq!(
        (third.summary.alarms_put, third.summary.filters_put),
        (2, 0),
        "{:?}",
        third.changes
    );

    let fewer = format!(
        r#"[{{"name":"billing-silent","kind":"absence","log_groups":["{p}/billing"],"minutes":30}}]"#
    );
    let fourth = sync(&cloud, &parse(&fewer).unwrap(), &naming, false)
        .await
        .unwrap();
    assert_eq!(
        (
            fourth.summary.alarms_deleted,
            fourth.summary.filters_deleted
        ),
        (2, 2)
    );
    let left = logs
        .describe_metric_filters()
        .log_group_name(format!("{p}/checkout-api"))
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = left
        .metric_filters()
        .iter()
        .filter_map(|f| f.filter_name())
        .collect();
    assert_eq!(names, vec![format!("logpipe-{env}-team")]);
    let all = cw
        .describe_alarms()
        .alarm_name_prefix(format!("logpipe-{env}-"))
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = all
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            format!("{}billing-silent@{p}/billing", naming.prefix),
            format!("logpipe-{env}-dead-letters"),
        ]
    );
}
