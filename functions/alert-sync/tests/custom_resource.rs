//! The function as CloudFormation drives it, with its real I/O: a custom resource Create, Update and
//! Delete against CloudWatch Logs and CloudWatch on moto, each answered at a pre-signed S3 PUT URL (what
//! CloudFormation's `ResponseURL` is), read back from the bucket as CloudFormation would read it.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use alert_sync::aws::AwsCloud;
use alert_sync::{handle, Function};
use aws_sdk_s3::presigning::PresigningConfig;
use logpipe_io::cfn::HttpRespond;
use serde_json::{json, Value};
use test_support::{body, moto_url, s3_client, sdk_config, unique, ACCOUNT, REGION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_delete_are_synced_and_answered_at_the_presigned_url() {
    let Some(moto) = moto_url() else { return };
    let sdk = sdk_config(&moto).await;
    let s3 = s3_client(&sdk);
    let cloud = AwsCloud::new(&sdk);
    let bucket = unique("cfn-responses");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let p = format!("/{}", unique("svc"));
    for g in ["api", "worker"] {
        cloud
            .logs
            .create_log_group()
            .log_group_name(format!("{p}/{g}"))
            .send()
            .await
            .unwrap();
    }
    let env = unique("e");
    let prefix = format!("logpipe-{env}-alert-");
    let rules = |count: u32| {
        json!([{"name": "errors", "kind": "threshold", "log_groups": [format!("{p}/*")],
                "count": count, "minutes": 5}])
        .to_string()
    };
    let f = Function::from_env(|_| None).unwrap();
    let respond = HttpRespond::new().unwrap();
    let answer = |kind: &'static str, rules: String, physical: Option<String>| {
        let (s3, bucket, prefix, env) = (&s3, &bucket, &prefix, &env);
        async move {
            let key = format!("{kind}/{}", unique("r"));
            let url = s3
                .put_object()
                .bucket(bucket)
                .key(&key)
                .presigned(PresigningConfig::expires_in(Duration::from_secs(600)).unwrap())
                .await
                .unwrap()
                .uri()
                .to_string();
            let mut ev = json!({
                "RequestType": kind,
                "ServiceToken": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:alert-sync"),
                "ResponseURL": url,
                "StackId": format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/logpipe-{env}/1"),
                "RequestId": unique("req"),
                "LogicalResourceId": "AlertSync",
                "ResourceType": "Custom::AlertSync",
                "ResourceProperties": {
                    "ServiceToken": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:alert-sync"),
                    "AlertRules": rules,
                    "AlertNamePrefix": prefix,
                    "AlarmTopicArn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:logpipe-{env}-alarms"),
                },
            });
            if let Some(id) = physical {
                ev["PhysicalResourceId"] = Value::from(id);
            }
            (ev, key)
        }
    };

    let (ev, key) = answer("Create", rules(5), None).await;
    let (r, s) = handle(&f, &cloud, &respond, &ev, later()).await;
    r.unwrap();
    assert_eq!((s.filters_put, s.alarms_put, s.failed), (2, 2, 0));
    let got: Value = serde_json::from_slice(&body(&s3, &bucket, &key).await).unwrap();
    assert_eq!(got["Status"], "SUCCESS", "{got}");
    assert_eq!(got["PhysicalResourceId"], prefix.as_str());
    assert_eq!(got["RequestId"], ev["RequestId"]);
    assert_eq!(got["StackId"], ev["StackId"]);
    assert_eq!(got["LogicalResourceId"], "AlertSync");
    let physical = got["PhysicalResourceId"].as_str().unwrap().to_owned();

    let alarms = |cw: aws_sdk_cloudwatch::Client, prefix: String| async move {
        cw.describe_alarms()
            .alarm_name_prefix(prefix)
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .iter()
            .map(|a| (a.alarm_name().unwrap_or("").to_owned(), a.threshold()))
            .collect::<Vec<_>>()
    };
    let now = alarms(cloud.cloudwatch.clone(), prefix.clone()).await;
    assert_eq!(now.len(), 2, "{now:?}");

    // An Update with a new count changes the alarms in place.
    let (ev, key) = answer("Update", rules(9), Some(physical.clone())).await;
    handle(&f, &cloud, &respond, &ev, later()).await.0.unwrap();
    let got: Value = serde_json::from_slice(&body(&s3, &bucket, &key).await).unwrap();
    assert_eq!(got["Status"], "SUCCESS", "{got}");
    let now = alarms(cloud.cloudwatch.clone(), prefix.clone()).await;
    assert!(now.iter().all(|(_, t)| *t == Some(9.0)), "{now:?}");

    // An Update with rules that do not parse is FAILED, with the reason, and changes nothing.
    let (ev, key) = answer(
        "Update",
        "[{\"kind\":\"threshold\"}]".into(),
        Some(physical.clone()),
    )
    .await;
    handle(&f, &cloud, &respond, &ev, later()).await.0.unwrap();
    let got: Value = serde_json::from_slice(&body(&s3, &bucket, &key).await).unwrap();
    assert_eq!(got["Status"], "FAILED", "{got}");
    assert!(
        got["Reason"].as_str().unwrap().contains("ALERT_RULES"),
        "{got}"
    );
    assert_eq!(
        alarms(cloud.cloudwatch.clone(), prefix.clone()).await.len(),
        2
    );

    // Delete removes them all, and succeeds.
    let (ev, key) = answer("Delete", rules(9), Some(physical.clone())).await;
    handle(&f, &cloud, &respond, &ev, later()).await.0.unwrap();
    let got: Value = serde_json::from_slice(&body(&s3, &bucket, &key).await).unwrap();
    assert_eq!(got["Status"], "SUCCESS", "{got}");
    assert!(alarms(cloud.cloudwatch.clone(), prefix.clone())
        .await
        .is_empty());
    let filters = cloud
        .logs
        .describe_metric_filters()
        .filter_name_prefix(&prefix)
        .send()
        .await
        .unwrap();
    assert!(filters.metric_filters().is_empty());
}

/// A deadline well ahead: these invocations never come near theirs.
fn later() -> logpipe_io::lambda::Deadline {
    logpipe_io::lambda::Deadline::after(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(2),
    )
}
