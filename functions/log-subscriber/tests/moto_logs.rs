//! The subscriber with its real I/O: CloudWatch Logs on moto, through a proxy that throttles
//! `PutSubscriptionFilter` the way CloudWatch Logs does (5 calls a second per account). New groups get
//! subscribed, excluded and unmatched ones do not, a foreign filter is left alone, a group with two foreign
//! filters is a reported conflict, a second run changes nothing, and `--remove` detaches only ours.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use log_subscriber::aws::AwsLogs;
use log_subscriber::config::parse_rules;
use log_subscriber::{handle, reconcile, Config, Mode, Run, Target};
use logpipe_io::lambda::Deadline;
use serde_json::json;
use test_support::fault_proxy::{FaultProxy, Faults};
use test_support::{moto_url, sdk_config, unique, ACCOUNT, REGION};

async fn filters(logs: &aws_sdk_cloudwatchlogs::Client, group: &str) -> Vec<(String, String)> {
    let out = logs
        .describe_subscription_filters()
        .log_group_name(group)
        .send()
        .await
        .unwrap();
    let mut v: Vec<(String, String)> = out
        .subscription_filters()
        .iter()
        .map(|f| {
            (
                f.filter_name().unwrap_or_default().to_string(),
                f.destination_arn().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribes_matching_groups_once_and_never_touches_foreign_filters() {
    let Some(moto) = moto_url() else { return };
    let direct = sdk_config(&moto).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&direct);
    let firehose = aws_sdk_firehose::Client::new(&direct);
    let p = format!("/{}", unique("sub"));
    let stream = unique("sub-app");
    firehose
        .create_delivery_stream()
        .delivery_stream_name(&stream)
        .extended_s3_destination_configuration(
            aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
                .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/firehose"))
                .bucket_arn("arn:aws:s3:::unused")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let dest = format!("arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{stream}");
    for g in [
        "ecs/api",
        "ecs/worker",
        "ecs/full",
        "ecs/tmp-1",
        "var/other",
    ] {
        logs.create_log_group()
            .log_group_name(format!("{p}/{g}"))
            .send()
            .await
            .unwrap();
    }
    for (g, names) in [
        ("ecs/worker", &["datadog"][..]),
        ("ecs/full", &["a", "b"][..]),
    ] {
        for name in names {
            logs.put_subscription_filter()
                .log_group_name(format!("{p}/{g}"))
                .filter_name(*name)
                .filter_pattern("")
                .destination_arn(&dest)
                .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/other"))
                .send()
                .await
                .unwrap();
        }
    }

    let proxy = FaultProxy::start(
        moto.clone(),
        Faults {
            throttle_calls: 2,
            throttle_target: Some(".PutSubscriptionFilter"),
            ..Faults::default()
        },
    )
    .await;
    let aws = AwsLogs::new(&sdk_config(&proxy.url).await);
    let rules = json!([{"filter_name": "logpipe-app", "include": [format!("{p}/ecs/*")],
        "exclude": [format!("{p}/ecs/tmp-*")], "destination_arn": dest,
        "role_arn": format!("arn:aws:iam::{ACCOUNT}:role/logpipe-cwl")}]);
    let mut cfg = Config::new(parse_rules(&rules.to_string()).unwrap());
    cfg.backoff.base = Duration::from_millis(20);
    // moto has no DescribeAccountPolicies (it answers 500): the policy path is tested at the trait seam.
    cfg.account_policies = false;
    let stop = || tokio::time::Instant::now() + Duration::from_secs(60);

    let s = reconcile(
        &cfg,
        &aws,
        &Run {
            prefix: Some(&p),
            ..Run::apply(&Target::All, stop())
        },
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!((s.groups, s.groups_matched), (5, 3), "{s:?}");
    assert_eq!((s.created, s.conflicts, s.failed), (2, 1, 0), "{s:?}");
    assert_eq!(proxy.stats.lock().unwrap().throttled, 2);
    assert!(s.retries >= 2, "throttling retried: {s:?}");
    let ours = ("logpipe-app".to_string(), dest.clone());
    assert_eq!(
        filters(&logs, &format!("{p}/ecs/api")).await,
        vec![ours.clone()]
    );
    assert_eq!(
        filters(&logs, &format!("{p}/ecs/worker")).await,
        [("datadog".to_string(), dest.clone()), ours.clone()]
    );
    let full = filters(&logs, &format!("{p}/ecs/full")).await;
    assert_eq!(
        full.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert!(filters(&logs, &format!("{p}/ecs/tmp-1")).await.is_empty());
    assert!(filters(&logs, &format!("{p}/var/other")).await.is_empty());

    // A second run changes nothing.
    let s = reconcile(
        &cfg,
        &aws,
        &Run {
            prefix: Some(&p),
            ..Run::apply(&Target::All, stop())
        },
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(
        (s.created, s.updated, s.up_to_date, s.conflicts),
        (0, 0, 2, 1),
        "{s:?}"
    );

    // A new group, as EventBridge reports its creation.
    let new = format!("{p}/ecs/new");
    logs.create_log_group()
        .log_group_name(&new)
        .send()
        .await
        .unwrap();
    let event = json!({"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.logs",
        "account": ACCOUNT, "region": REGION,
        "detail": {"eventSource": "logs.amazonaws.com", "eventName": "CreateLogGroup",
                   "requestParameters": {"logGroupName": new}}});
    let (r, s) = handle(
        &cfg,
        &aws,
        &event,
        Deadline::after(Duration::from_secs(60), cfg.common.deadline_margin),
    )
    .await;
    r.unwrap();
    assert_eq!(s.created, 1);
    assert_eq!(filters(&logs, &new).await, vec![ours.clone()]);

    // Remove: ours only.
    let s = reconcile(
        &cfg,
        &aws,
        &Run {
            prefix: Some(&p),
            mode: Mode::Remove,
            ..Run::apply(&Target::All, stop())
        },
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(s.removed, 3, "{s:?}");
    assert_eq!(
        filters(&logs, &format!("{p}/ecs/worker")).await,
        [("datadog".to_string(), dest.clone())]
    );
    assert_eq!(filters(&logs, &format!("{p}/ecs/full")).await.len(), 2);
    assert!(filters(&logs, &new).await.is_empty());
}
