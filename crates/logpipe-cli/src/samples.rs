//! The sample events under `events/`, generated so that they stay real-shaped and in sync with the code:
//! Firehose transformation events for the transforms, and S3 object-created notifications (direct, through
//! SNS, through SQS, from EventBridge) for the search forwarder, a CloudWatch alarm state change for the
//! notifier and a custom resource request for the alert sync. All in the shape `sam local generate-event`
//! produces (and CloudWatch and CloudFormation send), so `sam local invoke -e events/….json` takes them too.

use std::path::Path;

use logcore::synth::{self, SourceKind};
use serde_json::{json, Value};

/// The log bucket, key and object the forwarder samples announce (a gzip object of transform documents, as
/// Firehose writes it under the stream's prefix).
pub const SAMPLE_BUCKET: &str = "logpipe-logs-123456789012-eu-west-1";
pub const SAMPLE_KEY: &str =
    "app-logs/2025/11/21/10/logpipe-app-logs-1-2025-11-21-10-00-00-8f5a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b.gz";
/// A second object, whose key needs URL-encoding in notifications (a dynamic-partitioning prefix).
pub const SAMPLE_KEY_PARTITIONED: &str =
    "app-logs/log_group=/ecs/shop-api/2025/11/21/10/logpipe-app-logs-1-2025-11-21-10-01-00-0a1b2c3d.gz";

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:logpipe-new-objects";
const ALARM_TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:logpipe-dev-alarms";
/// The threshold rule of the alarm and custom resource samples.
const SAMPLE_RULES: &str = r#"[{"name":"checkout-errors","kind":"threshold","log_groups":["/ecs/shop-api"],"count":10,"minutes":5}]"#;

/// The sample files: name and pretty-printed JSON.
pub fn sample_event_files() -> Result<Vec<(&'static str, String)>, String> {
    let transform = |ev: &logcore::transform::firehose::TransformEvent| pretty(ev);
    let cwl_direct = cwl_event(SourceKind::DirectPut);
    let cwl_kinesis = cwl_event(SourceKind::Kinesis);
    Ok(vec![
        ("firehose-cwl-direct-put.json", transform(&cwl_direct)?),
        ("firehose-cwl-kinesis.json", transform(&cwl_kinesis)?),
        (
            "aurora-mysql-audit.json",
            transform(&audit_event(synth::AuditKind::Mysql, 3))?,
        ),
        (
            "aurora-postgresql-audit.json",
            transform(&audit_event(synth::AuditKind::Postgres, 3))?,
        ),
        (
            "cloudwatch-logs-subscription.json",
            pretty(&cwl_subscription())?,
        ),
        ("s3-object-created.json", pretty(&s3_direct())?),
        ("sns-s3-object-created.json", pretty(&sns_s3())?),
        ("sqs-s3-object-created.json", pretty(&sqs_s3())?),
        (
            "eventbridge-s3-object-created.json",
            pretty(&eventbridge_s3())?,
        ),
        (
            "eventbridge-create-log-group.json",
            pretty(&create_log_group())?,
        ),
        ("eventbridge-scheduled.json", pretty(&scheduled())?),
        ("sns-cloudwatch-alarm.json", pretty(&sns_alarm()?)?),
        (
            "cloudformation-alert-sync-create.json",
            pretty(&alert_sync_create())?,
        ),
    ])
}

fn pretty<T: serde::Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string_pretty(v)
        .map(|t| t + "\n")
        .map_err(|e| e.to_string())
}

/// `logpipe sample-events`: write them, or with `check` only compare.
pub fn sample_events(dir: &Path, check: bool) -> Result<(), String> {
    let mut differ = Vec::new();
    for (name, text) in sample_event_files()? {
        let path = dir.join(name);
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                differ.push(path.display().to_string());
            }
        } else {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "sample events differ from the generator: {} (run `logpipe sample-events`)",
            differ.join(", ")
        ))
    }
}

/// Application (ECS) and Lambda log events and a control message, as one Firehose event.
fn cwl_event(source: SourceKind) -> logcore::transform::firehose::TransformEvent {
    use synth::{control_payload, data_payload, event, record, record_data, record_id, Event};
    let json_events = vec![
        Event { id: synth::event_id(1_763_719_200_000, 1), timestamp: 1_763_719_200_000, message: r#"{"level":"info","msg":"request completed","http":{"method":"GET","path":"/api/v1/orders","status":200},"duration_ms":12.5,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#.into() },
        Event { id: synth::event_id(1_763_719_200_120, 2), timestamp: 1_763_719_200_120, message: r#"{"level":"error","msg":"payment declined","order_id":"o-1042","error":{"type":"CardDeclined","code":"insufficient_funds"}}"#.into() },
        Event { id: synth::event_id(1_763_719_201_003, 3), timestamp: 1_763_719_201_003, message: "10.0.3.17 - - [21/Nov/2025:10:00:01 +0000] \"GET /health HTTP/1.1\" 200 2 \"-\" \"ELB-HealthChecker/2.0\"".into() },
        Event { id: synth::event_id(1_763_719_202_450, 4), timestamp: 1_763_719_202_450, message: "ERROR Unhandled exception: java.lang.IllegalStateException: order o-1042 is \"CLOSED\"\n\tat com.example.shop.OrderService.process(OrderService.java:88)\n\tat com.example.shop.CartController.checkout(CartController.java:41)\n".into() },
    ];
    let lambda_events = vec![
        Event { id: synth::event_id(1_763_719_260_000, 5), timestamp: 1_763_719_260_000, message: "START RequestId: 8f5a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b Version: $LATEST\n".into() },
        Event { id: synth::event_id(1_763_719_260_015, 6), timestamp: 1_763_719_260_015, message: "2025-11-21T10:01:00.015Z\t8f5a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b\tINFO\tprocessing 3 messages\n".into() },
        Event { id: synth::event_id(1_763_719_260_230, 7), timestamp: 1_763_719_260_230, message: "END RequestId: 8f5a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b\n".into() },
    ];
    let app = data_payload(
        "/ecs/shop-api",
        "ecs/shop-api/5f1c0e7d9a8b4c3d2e1f0a9b8c7d6e5f",
        &json_events,
    );
    let lambda = data_payload(
        "/aws/lambda/checkout",
        "2025/11/21/[$LATEST]0123456789abcdef0123456789abcdef",
        &lambda_events,
    );
    let control = control_payload();
    event(
        source,
        vec![
            record(record_id(0), record_data(&app), source, "ecs/shop-api", 0),
            record(record_id(1), record_data(&control), source, "control", 1),
            record(
                record_id(2),
                record_data(&lambda),
                source,
                "aws/lambda/checkout",
                2,
            ),
        ],
    )
}

/// A CloudWatch Logs subscription filter with an error pattern invoking a Lambda (the Slack notifier):
/// `{"awslogs": {"data": base64(gzip(payload))}}`.
fn cwl_subscription() -> Value {
    use synth::{data_payload, record_data, Event};
    let t = 1_763_719_200_000;
    let events = vec![
        Event { id: synth::event_id(t + 120, 2), timestamp: t + 120, message: r#"{"level":"error","msg":"payment declined","order_id":"o-1042","error":{"type":"CardDeclined","code":"insufficient_funds"}}"#.into() },
        Event { id: synth::event_id(t + 2_450, 4), timestamp: t + 2_450, message: "ERROR Unhandled exception: java.lang.IllegalStateException: order o-1042 is \"CLOSED\"\n\tat com.example.shop.OrderService.process(OrderService.java:88)\n\tat com.example.shop.CartController.checkout(CartController.java:41)\n".into() },
        Event { id: synth::event_id(t + 3_010, 5), timestamp: t + 3_010, message: "ERROR Unhandled exception: java.lang.IllegalStateException: order o-1043 is \"CLOSED\"\n\tat com.example.shop.OrderService.process(OrderService.java:88)\n\tat com.example.shop.CartController.checkout(CartController.java:41)\n".into() },
        Event { id: synth::event_id(t + 4_200, 6), timestamp: t + 4_200, message: r#"{"level":"info","msg":"retrying after error","attempt":2}"#.into() },
    ];
    let mut p = data_payload(
        "/ecs/shop-api",
        "ecs/shop-api/5f1c0e7d9a8b4c3d2e1f0a9b8c7d6e5f",
        &events,
    );
    p.subscription_filters = vec!["logpipe-errors".into()];
    json!({"awslogs": {"data": record_data(&p)}})
}

/// Twelve generated audit lines of one engine and a control message.
fn audit_event(kind: synth::AuditKind, seed: u64) -> logcore::transform::firehose::TransformEvent {
    use synth::{control_payload, data_payload, event, record, record_data, record_id};
    let events = synth::audit_events(kind, 12, 1_763_719_200_000, seed);
    let mut p = data_payload(kind.log_group(), "shop-db-instance-1", &events);
    p.subscription_filters = vec!["logpipe-audit".into()];
    let control = control_payload();
    event(
        SourceKind::DirectPut,
        vec![
            record(record_id(0), record_data(&p), SourceKind::DirectPut, "", 0),
            record(
                record_id(1),
                record_data(&control),
                SourceKind::DirectPut,
                "",
                1,
            ),
        ],
    )
}

/// S3's encoding of a key in notifications: `%XX` for what is not unreserved or `/`, as S3 writes them.
pub(crate) fn encode_key(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string()
}

/// One S3 `ObjectCreated:Put` record, as S3 sends it.
fn s3_record(key: &str, size: u64, etag: &str, time: &str, sequencer: &str) -> Value {
    json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": time,
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROA3EXAMPLEFIREHOSE:AWSFirehoseToS3"},
        "requestParameters": {"sourceIPAddress": "10.0.12.34"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "logpipe-new-objects",
            "bucket": {
                "name": SAMPLE_BUCKET,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": format!("arn:aws:s3:::{SAMPLE_BUCKET}")
            },
            "object": {"key": encode_key(key), "size": size, "eTag": etag, "sequencer": sequencer}
        }
    })
}

fn s3_notification() -> Value {
    json!({"Records": [s3_record(
        SAMPLE_KEY, 1843, "0f4e7d6a2b1c3d5e8f9a0b1c2d3e4f5a", "2025-11-21T10:05:03.512Z", "00691F3A1B2C3D4E5F",
    )]})
}

fn s3_notification_partitioned() -> Value {
    json!({"Records": [s3_record(
        SAMPLE_KEY_PARTITIONED, 1843, "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b", "2025-11-21T10:06:03.207Z", "00691F3A5F6E7D8C9B",
    )]})
}

/// S3 notification straight to the Lambda.
fn s3_direct() -> Value {
    s3_notification()
}

/// The SNS message of an S3 notification published to the fan-out topic. The Lambda event spells two
/// fields `…Url`; the envelope SNS delivers to SQS (without raw delivery) spells them `…URL`.
fn sns_message(message: &Value, id: &str, lambda: bool) -> Value {
    let (cert, unsubscribe) = if lambda {
        ("SigningCertUrl", "UnsubscribeUrl")
    } else {
        ("SigningCertURL", "UnsubscribeURL")
    };
    json!({
        "Type": "Notification",
        "MessageId": id,
        "TopicArn": TOPIC,
        "Subject": "Amazon S3 Notification",
        "Message": message.to_string(),
        "Timestamp": "2025-11-21T10:05:03.640Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        cert: "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
        unsubscribe: format!("https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={TOPIC}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"),
        "MessageAttributes": {}
    })
}

/// The topic invoking the Lambda (the Slack notifier's and a direct forwarder's trigger).
fn sns_s3() -> Value {
    json!({"Records": [{
        "EventVersion": "1.0",
        "EventSubscriptionArn": format!("{TOPIC}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"),
        "EventSource": "aws:sns",
        "Sns": sns_message(&s3_notification(), "95df01b4-ee98-5cb9-9903-4c221d41eb5e", true)
    }]})
}

/// The search queue: one message from the topic without raw delivery (an SNS envelope in the body), one
/// with raw delivery (the S3 notification itself), and the bucket's one-off `s3:TestEvent`.
fn sqs_s3() -> Value {
    let msg = |id: &str, body: String, sent: u64| {
        json!({
            "messageId": id,
            "receiptHandle": format!("AQEB{}", id.replace('-', "")),
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": sent.to_string(),
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": (sent + 12).to_string()
            },
            "messageAttributes": {},
            "md5OfBody": md5_hex(body.as_bytes()),
            "eventSource": "aws:sqs",
            "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:logpipe-search"),
            "awsRegion": REGION
        })
    };
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent",
        "Time": "2025-11-21T09:58:00.000Z", "Bucket": SAMPLE_BUCKET,
        "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"});
    json!({"Records": [
        msg("19dd0b57-b21e-4ac1-bd88-01bbb068cb78",
            sns_message(&s3_notification(), "95df01b4-ee98-5cb9-9903-4c221d41eb5e", false).to_string(),
            1_763_719_503_640),
        msg("2e1424d4-f796-459a-8184-9c92662be6da", s3_notification_partitioned().to_string(),
            1_763_719_563_207),
        msg("7a3f5c1e-4b2d-4e8f-9a6b-0c1d2e3f4a5b", test_event.to_string(), 1_763_719_080_000),
    ]})
}

/// EventBridge "Object Created" (the bucket sends its events to EventBridge).
fn eventbridge_s3() -> Value {
    json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2025-11-21T10:05:03Z",
        "region": REGION,
        "resources": [format!("arn:aws:s3:::{SAMPLE_BUCKET}")],
        "detail": {
            "version": "0",
            "bucket": {"name": SAMPLE_BUCKET},
            "object": {"key": SAMPLE_KEY, "size": 1843, "etag": "0f4e7d6a2b1c3d5e8f9a0b1c2d3e4f5a",
                "sequencer": "00691F3A1B2C3D4E5F"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": format!("{ACCOUNT}"),
            "source-ip-address": "10.0.12.34",
            "reason": "PutObject"
        }
    })
}

/// CloudTrail's record of a `CreateLogGroup` call, as EventBridge gives it to the log subscriber.
fn create_log_group() -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.logs",
        "account": ACCOUNT,
        "time": "2025-11-21T10:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "AssumedRole", "accountId": ACCOUNT,
                "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/ecs-deployer/session")},
            "eventTime": "2025-11-21T10:00:00Z",
            "eventSource": "logs.amazonaws.com",
            "eventName": "CreateLogGroup",
            "awsRegion": REGION,
            "sourceIPAddress": "ecs.amazonaws.com",
            "requestParameters": {"logGroupName": "/ecs/shop-api"},
            "responseElements": null,
            "requestID": "3e1c2d0a-9b8f-4e7d-8c6b-5a4f3e2d1c0b",
            "eventID": "0f1e2d3c-4b5a-4968-8776-655443322110",
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management"
        }
    })
}

/// The alarm of [`SAMPLE_RULES`] going to ALARM, as the alarm topic delivers it to the notifier: CloudWatch's
/// own message (the description logpipe wrote, a `+0000` offset, the datapoints only in the reason).
fn sns_alarm() -> Result<Value, String> {
    use logcore::alert::watch;
    let rules = watch::parse(SAMPLE_RULES).map_err(|e| e.to_string())?;
    let naming = watch::Naming {
        prefix: "logpipe-dev-alert-".into(),
        namespace: "logpipe/dev/alerts".into(),
        actions: vec![ALARM_TOPIC.into()],
    };
    let desired = watch::desired(&rules, &["/ecs/shop-api".into()], &naming);
    let alarm = desired
        .alarms
        .first()
        .ok_or("the sample rule makes no alarm")?;
    let message = json!({
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": "2025-11-21T09:00:00.000+0000",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [14.0 (21/11/25 10:00:00)] was greater than or equal to the threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition).",
        "StateChangeTime": "2025-11-21T10:05:12.345+0000",
        "Region": "EU (Ireland)",
        "AlarmArn": format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{}", alarm.name),
        "OldStateValue": "OK",
        "OKActions": [ALARM_TOPIC],
        "AlarmActions": [ALARM_TOPIC],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": alarm.metric_name, "Namespace": alarm.namespace, "StatisticType": "Statistic",
            "Statistic": "SUM", "Unit": null, "Dimensions": [], "Period": alarm.period_seconds,
            "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
            "ComparisonOperator": alarm.comparison, "Threshold": f64::from(alarm.threshold),
            "TreatMissingData": "notBreaching", "EvaluateLowSampleCountPercentile": ""
        }
    });
    let sub = format!("{ALARM_TOPIC}:7d1f3a52-9c0e-4b8e-a4c1-2f6e8d9b0a13");
    Ok(json!({"Records": [{
        "EventVersion": "1.0",
        "EventSubscriptionArn": sub,
        "EventSource": "aws:sns",
        "Sns": {
            "Type": "Notification",
            "MessageId": "c2a4f6e8-0b1d-5f3a-9c7e-1d3b5f7a9c0e",
            "TopicArn": ALARM_TOPIC,
            "Subject": format!("ALARM: \"{}\" in EU (Ireland)", alarm.name),
            "Message": message.to_string(),
            "Timestamp": "2025-11-21T10:05:12.400Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
            "UnsubscribeUrl": format!("https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={sub}"),
            "MessageAttributes": {}
        }
    }]}))
}

/// CloudFormation's Create request to the alert sync's custom resource (`AlertSync`): the resource's
/// properties as strings, and the pre-signed URL to answer at.
fn alert_sync_create() -> Value {
    let stack = format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/logpipe-dev/5b9a0c30-c6b9-11f0-9a1b-0a1b2c3d4e5f");
    let token =
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:logpipe-dev-AlertSyncFunction-EXAMPLE");
    json!({
        "RequestType": "Create",
        "ServiceToken": token,
        "ResponseURL": "https://cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com/arn%3Aaws%3Acloudformation%3Aeu-west-1%3A123456789012%3Astack/logpipe-dev/5b9a0c30-c6b9-11f0-9a1b-0a1b2c3d4e5f%7CAlertSync%7C0d7e6f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20251121T100000Z&X-Amz-SignedHeaders=host&X-Amz-Expires=7200&X-Amz-Credential=EXAMPLE%2F20251121%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Signature=EXAMPLE",
        "StackId": stack,
        "RequestId": "0d7e6f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6",
        "LogicalResourceId": "AlertSync",
        "ResourceType": "Custom::AlertSync",
        "ResourceProperties": {
            "ServiceToken": token,
            "ServiceTimeout": "1200",
            "AlertRules": SAMPLE_RULES,
            "AlertNamePrefix": "logpipe-dev-alert-",
            "AlertMetricNamespace": "logpipe/dev/alerts",
            "AlarmTopicArn": ALARM_TOPIC
        }
    })
}

/// The hourly schedule's event (EventBridge Scheduler rule), for the log subscriber's reconciliation.
fn scheduled() -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2025-11-21T11:00:00Z",
        "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/logpipe-dev-reconcile")],
        "detail": {}
    })
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    logcore::base::codec::hex(&md5::Md5::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use logpipe_io::store::DirStore;
    use s3_search_forwarder::local::NdjsonSink;
    use s3_search_forwarder::{handle, Config, Response};
    use std::sync::{Arc, Mutex};

    fn events_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
    }

    /// What the sink received, shared with the test.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Posts nothing; keeps the messages.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Value>>);
    impl slack_notifier::Slack for Recorder {
        async fn post(
            &self,
            m: &Value,
        ) -> Result<slack_notifier::Reply, slack_notifier::CallError> {
            self.0.lock().unwrap().push(m.clone());
            Ok(slack_notifier::Reply {
                status: 200,
                body: b"ok".to_vec(),
                retry_after: None,
            })
        }
    }

    /// The notifier's samples are accepted by its handler: the subscription event's errors make one
    /// message (a repeat counted, the INFO line left out); the SNS fan-out's object is read and alerted.
    #[tokio::test]
    async fn notifier_samples_are_accepted_by_the_handler() {
        let root = std::env::temp_dir().join(format!(
            "logpipe-samples-n-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let store = Arc::new(DirStore::new(&root));
        let doc = json!({"@timestamp": "2025-11-21T10:00:02.450Z", "message": "ERROR Unhandled exception",
            "log": {"group": "/ecs/shop-api", "stream": "s"}});
        logpipe_io::Store::put(
            &*store,
            SAMPLE_BUCKET,
            SAMPLE_KEY,
            logcore::base::codec::gzip(format!("{doc}\n").as_bytes(), 6),
        )
        .await
        .unwrap();
        let mut cfg =
            slack_notifier::Config::new(slack_notifier::config::SecretSource::Ssm("/x".into()));
        cfg.min_interval = std::time::Duration::ZERO;
        for (name, events, alerts, suppressed) in [
            ("cloudwatch-logs-subscription.json", 4, 3, 1),
            ("sns-s3-object-created.json", 1, 1, 0),
        ] {
            let slack = Arc::new(Recorder::default());
            let n =
                slack_notifier::Notifier::new(cfg.clone(), Arc::clone(&store), Arc::clone(&slack));
            let text = std::fs::read_to_string(events_dir().join(name)).unwrap();
            let event: Value = serde_json::from_str(&text).unwrap();
            let deadline = logpipe_io::lambda::Deadline::after(
                std::time::Duration::from_secs(30),
                std::time::Duration::from_secs(2),
            );
            let (r, s) = n.handle(&event, deadline, 1_763_719_300_000).await;
            assert!(r.is_ok(), "{name}: {r:?}");
            assert_eq!(
                (s.events, s.alerts, s.suppressed, s.messages_sent),
                (events, alerts, suppressed, 1),
                "{name}"
            );
            let posted = slack.0.lock().unwrap();
            assert_eq!(posted.len(), 1);
            assert!(
                posted[0]["text"]
                    .as_str()
                    .unwrap()
                    .contains("/ecs/shop-api"),
                "{name}"
            );
        }
        std::fs::remove_dir_all(root).unwrap();
    }

    /// The alarm sample posts one alarm message naming its rule; the custom resource sample is a request
    /// whose properties the alert sync reads as its configuration.
    #[tokio::test]
    async fn alarm_and_custom_resource_samples_are_accepted() {
        let read = |name: &str| -> Value {
            serde_json::from_str(&std::fs::read_to_string(events_dir().join(name)).unwrap())
                .unwrap()
        };
        let mut cfg =
            slack_notifier::Config::new(slack_notifier::config::SecretSource::Ssm("/x".into()));
        cfg.min_interval = std::time::Duration::ZERO;
        cfg.rules =
            logcore::alert::Rules::new("", "", "ERROR", None, None, Some(SAMPLE_RULES)).unwrap();
        let slack = Arc::new(Recorder::default());
        let store = Arc::new(DirStore::new(std::env::temp_dir()));
        let n = slack_notifier::Notifier::new(cfg, store, Arc::clone(&slack));
        let deadline = logpipe_io::lambda::Deadline::after(
            std::time::Duration::from_secs(30),
            std::time::Duration::from_secs(2),
        );
        let (r, s) = n
            .handle(
                &read("sns-cloudwatch-alarm.json"),
                deadline,
                1_763_719_300_000,
            )
            .await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!((s.alarm_changes, s.messages_sent), (1, 1));
        let text = slack.0.lock().unwrap()[0].to_string();
        assert!(
            text.contains("checkout-errors") && text.contains("/ecs/shop-api"),
            "{text}"
        );

        let request =
            logcore::base::cfn::Request::from_event(&read("cloudformation-alert-sync-create.json"))
                .unwrap()
                .unwrap();
        let sync = alert_sync::Config::from_request(&request).unwrap();
        assert_eq!(sync.watches.len(), 1);
        assert_eq!(sync.naming.prefix, "logpipe-dev-alert-");
        assert_eq!(sync.naming.actions, [ALARM_TOPIC]);
    }

    #[test]
    fn events_dir_matches_the_generator() {
        sample_events(&events_dir(), true).unwrap();
    }

    #[test]
    fn keys_are_encoded_as_s3_encodes_them_and_decode_back() {
        let enc = encode_key(SAMPLE_KEY_PARTITIONED);
        assert!(enc.contains("log_group%3D/ecs/shop-api/"), "{enc}");
        assert_eq!(
            logcore::logs::s3event::decode_key(&enc).unwrap(),
            SAMPLE_KEY_PARTITIONED
        );
        assert_eq!(encode_key("a b+c/ü"), "a%20b%2Bc/%C3%BC");
    }

    /// The log subscriber reads its samples: a new group, and every group.
    #[test]
    fn subscriber_samples_name_their_targets() {
        use log_subscriber::Target;
        let read = |name: &str| -> Value {
            serde_json::from_str(&std::fs::read_to_string(events_dir().join(name)).unwrap())
                .unwrap()
        };
        assert_eq!(
            log_subscriber::target_of(&read("eventbridge-create-log-group.json")),
            Ok(Target::Groups(vec!["/ecs/shop-api".into()]))
        );
        assert_eq!(
            log_subscriber::target_of(&read("eventbridge-scheduled.json")),
            Ok(Target::All)
        );
    }

    /// Every forwarder sample is accepted by the forwarder's handler: the objects it names (here, the
    /// documents the transform makes of the CloudWatch Logs sample, gzipped, in a directory standing for
    /// the bucket) are read and every document is indexed.
    #[tokio::test]
    async fn forwarder_samples_are_accepted_by_the_handler() {
        let cwl: logcore::transform::firehose::TransformEvent =
            serde_json::from_str(&pretty(&cwl_event(SourceKind::DirectPut)).unwrap()).unwrap();
        let cfg = firehose_transform::Config::<firehose_transform::Documents>::default();
        let passes = crate::local::run_to_completion(cwl, &cfg).await.unwrap();
        let docs: Vec<u8> = passes.into_iter().flat_map(|p| p.documents).collect();
        let per_object = docs.iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(per_object, 7);

        let root = std::env::temp_dir().join(format!(
            "logpipe-samples-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let store = Arc::new(DirStore::new(&root));
        for key in [SAMPLE_KEY, SAMPLE_KEY_PARTITIONED] {
            logpipe_io::Store::put(
                &*store,
                SAMPLE_BUCKET,
                key,
                logcore::base::codec::gzip(&docs, 6),
            )
            .await
            .unwrap();
        }
        let fcfg = Config::new("http://127.0.0.1:9");
        for (name, objects, ignored, sqs) in [
            ("s3-object-created.json", 1, 0, false),
            ("sns-s3-object-created.json", 1, 0, false),
            ("eventbridge-s3-object-created.json", 1, 0, false),
            ("sqs-s3-object-created.json", 2, 1, true),
        ] {
            let text = std::fs::read_to_string(events_dir().join(name)).unwrap();
            let event: Value = serde_json::from_str(&text).unwrap();
            let out = Shared::default();
            let sink = Arc::new(NdjsonSink::new(Box::new(out.clone())));
            // The forwarder's Lambda timeout in the template: no request starts without REQUEST_TIMEOUT_MS (30 s) left.
            let deadline = logpipe_io::lambda::Deadline::after(
                std::time::Duration::from_secs(300),
                fcfg.common.deadline_margin,
            );
            let (result, summary) = handle(&fcfg, &store, &sink, &event, deadline).await;
            let want = if sqs {
                Response::Sqs {
                    batch_item_failures: vec![],
                }
            } else {
                Response::Done { objects }
            };
            assert_eq!(result, Ok(want), "{name}");
            assert_eq!(summary.objects, objects, "{name}");
            assert_eq!(summary.notifications_ignored, ignored, "{name}");
            assert_eq!(
                summary.forwarded.indexed,
                per_object * objects,
                "{name}: {summary:?}"
            );
            assert_eq!(summary.forwarded.dead_lettered, 0, "{name}");
            // The bulk bodies carry the transform's documents with their event ids.
            let bodies = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            assert_eq!(
                bodies.matches("\"create\"").count() as u64,
                per_object * objects
            );
            assert!(bodies.contains("payment declined"), "{name}");
        }
        std::fs::remove_dir_all(root).unwrap();
    }
}
