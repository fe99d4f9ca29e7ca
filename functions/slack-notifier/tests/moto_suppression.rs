//! Repeat suppression shared by containers, against DynamoDB on moto through the real SDK: a table made as
//! the template makes it (on-demand, key `pk`, TTL on `expires_at`), two notifiers posting over HTTP to one
//! Slack stand-in that answers slowly (so they really race), and a cold start inside the window.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use logpipe_io::lambda::Deadline;
use logpipe_io::store::S3Store;
use serde_json::{json, Value};
use slack_notifier::aws::HttpSlack;
use slack_notifier::config::{SecretSource, Target};
use slack_notifier::memory::dynamodb::DynamoTable;
use slack_notifier::memory::{Claim, SharedMemory};
use slack_notifier::{Config, Notifier};
use test_support::slack_server::{Answer, SlackServer};
use test_support::{moto_url, sdk_config, unique};

async fn table(sdk: &aws_config::SdkConfig) -> (aws_sdk_dynamodb::Client, String) {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let name = unique("logpipe-suppress");
    let created = ddb
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await;
    // The name is this test's own: a table that already exists is the one an earlier attempt of this
    // very call created, when the SDK retried it after losing the answer (moto under load).
    if let Err(e) = created {
        let code = aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e);
        assert_eq!(
            code,
            Some("ResourceInUseException"),
            "CreateTable {name}: {e:?}"
        );
    }
    ddb.update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (ddb, name)
}

fn awslogs(group: &str, message: &str) -> Value {
    let events = vec![logcore::synth::Event {
        id: logcore::synth::event_id(1_763_719_200_000, 0),
        timestamp: 1_763_719_200_000,
        message: message.to_string(),
    }];
    let p = logcore::synth::data_payload(group, "web/1", &events);
    json!({"awslogs": {"data": logcore::synth::record_data(&p)}})
}

const NOW: i64 = 1_763_719_300_000;

async fn claim(t: &DynamoTable, key: &str, owner: &str, now: i64, until: i64) -> Claim {
    t.claim(key, owner, now, until).await.unwrap()
}

/// A container: its own Slack client for `target`, its own memory, the shared table.
fn container(
    sdk: &aws_config::SdkConfig,
    table: &str,
    target: Target,
) -> Notifier<S3Store, HttpSlack, DynamoTable> {
    let cfg = Config::new(SecretSource::Ssm("unused".into()));
    let http = Arc::new(HttpSlack::new(target, Duration::from_secs(5)).unwrap());
    Notifier::with_memory(
        cfg,
        Arc::new(S3Store::new(sdk, true)),
        http,
        DynamoTable::new(sdk, table),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_confirm_and_release_with_dynamodbs_conditions() {
    let Some(moto) = moto_url() else { return };
    let sdk = sdk_config(&moto).await;
    let (ddb, name) = table(&sdk).await;
    let t = DynamoTable::new(&sdk, &name);
    assert_eq!(claim(&t, "k", "a", NOW, NOW + 60_000).await, Claim::Ours);
    assert_eq!(
        claim(&t, "k", "b", NOW + 1, NOW + 60_000).await,
        Claim::Held
    );
    // Its own unconfirmed claim: the retry of the same invocation takes it again.
    assert_eq!(
        claim(&t, "k", "a", NOW + 2, NOW + 60_000).await,
        Claim::Ours
    );
    t.confirm("k", "a", NOW + 600_000).await.unwrap();
    // Confirmed: nobody, not even its owner, claims it inside the window.
    assert_eq!(
        claim(&t, "k", "a", NOW + 3, NOW + 60_000).await,
        Claim::Held
    );
    assert_eq!(
        claim(&t, "k", "b", NOW + 599_999, NOW + 700_000).await,
        Claim::Held
    );
    assert_eq!(
        claim(&t, "k", "b", NOW + 600_001, NOW + 700_000).await,
        Claim::Ours
    );
    // The item as DynamoDB keeps it: the TTL attribute is a number of seconds.
    let item = ddb
        .get_item()
        .table_name(&name)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("k".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let num = |k: &str| item[k].as_n().unwrap().parse::<i64>().unwrap();
    assert_eq!(item["owner"].as_s().unwrap(), "b");
    assert_eq!(item["state"].as_s().unwrap(), "claimed");
    assert_eq!(num("until_ms"), NOW + 700_000);
    assert_eq!(num("expires_at"), (NOW + 700_000) / 1000 + 1);
    // Released by its owner only, and only while unconfirmed.
    t.release("k", "a").await.unwrap();
    assert_eq!(
        claim(&t, "k", "c", NOW + 600_002, NOW + 700_000).await,
        Claim::Held
    );
    t.release("k", "b").await.unwrap();
    assert_eq!(
        claim(&t, "k", "c", NOW + 600_003, NOW + 700_000).await,
        Claim::Ours
    );
    let ttl = ddb
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let spec = ttl.time_to_live_description.unwrap();
    assert_eq!(spec.attribute_name(), Some("expires_at"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_notifiers_on_one_table_post_once_and_a_cold_start_posts_nothing() {
    let Some(moto) = moto_url() else { return };
    let sdk = sdk_config(&moto).await;
    let (_, name) = table(&sdk).await;
    // Slack answers each post after 1.5 s: the second notifier claims while the first is posting.
    let slow = || Answer(200, None, "ok", Duration::from_millis(1500));
    let slack = SlackServer::start(vec![slow(), slow(), slow()]).await;
    let container = || {
        let url = format!("{}/services/T0/B0/xyz", slack.url);
        container(&sdk, &name, Target::Webhook { url })
    };
    let (a, b) = (container(), container());
    let ev = awslogs("/ecs/api", "ERROR payment 1042 declined");
    let deadline = Deadline::after(Duration::from_secs(30), Duration::from_secs(2));
    let ((ra, sa), (rb, sb)) = tokio::join!(
        a.handle_as("req-a", &ev, deadline, NOW),
        b.handle_as("req-b", &ev, deadline, NOW)
    );
    ra.unwrap();
    rb.unwrap();
    assert_eq!(
        slack.received().len(),
        1,
        "one post from two racing notifiers"
    );
    assert_eq!(sa.messages_sent + sb.messages_sent, 1);
    assert_eq!(sa.claimed_elsewhere + sb.claimed_elsewhere, 1);
    assert_eq!(sa.memory_errors + sb.memory_errors, 0);

    // A cold start (a new container, empty memory) inside the window: nothing posted.
    let cold = container();
    let again = awslogs("/ecs/api", "ERROR payment 1043 declined");
    let (r, s) = cold
        .handle_as("req-c", &again, deadline, NOW + 120_000)
        .await;
    assert_eq!(
        r.unwrap(),
        json!({"alerts": 1, "suppressed": 1, "messages_sent": 0})
    );
    assert_eq!(s.claimed_elsewhere, 1);
    assert_eq!(slack.received().len(), 1);
    // After the window, the same container posts it.
    let (r, s) = cold
        .handle_as("req-d", &again, deadline, NOW + 600_001)
        .await;
    r.unwrap();
    assert_eq!(s.messages_sent, 1);
    assert_eq!(slack.received().len(), 2);
}

fn alarm(state: &str) -> Value {
    let name = "logpipe-dev-alert-checkout-errors@/ecs/checkout-api";
    let message = json!({
        "AlarmName": name,
        "AlarmDescription": "logpipe alert",
        "AWSAccountId": "123456789012",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [14.0 (21/11/25 10:00:00)] was greater than or equal to the threshold (10.0).",
        "StateChangeTime": "2025-11-21T10:05:00.000+0000",
        "Region": "EU (Ireland)",
        "AlarmArn": format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"),
        "OldStateValue": if state == "OK" { "ALARM" } else { "OK" },
        "Trigger": {"MetricName": "checkout-errors@/ecs/checkout-api", "Namespace": "logpipe/dev/alerts",
            "Statistic": "SUM", "Dimensions": [], "Period": 300, "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 10.0}
    });
    json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
        "Sns": {"Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:123456789012:logpipe-dev-alarms",
            "Message": message.to_string(), "Timestamp": "2025-11-21T10:05:00.100Z"}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_reaches_the_alarms_thread_from_a_cold_container() {
    let Some(moto) = moto_url() else { return };
    let sdk = sdk_config(&moto).await;
    let (_, name) = table(&sdk).await;
    let slack = SlackServer::start(vec![]).await;
    let container = || {
        let target = Target::Bot {
            api_url: format!("{}/api/chat.postMessage", slack.url),
            token: "xoxb-test".into(),
            channel: "#alerts".into(),
        };
        container(&sdk, &name, target)
    };
    let deadline = Deadline::after(Duration::from_secs(30), Duration::from_secs(2));
    let (r, _) = container()
        .handle_as("req-1", &alarm("ALARM"), deadline, NOW)
        .await;
    r.unwrap();
    let (r, s) = container()
        .handle_as("req-2", &alarm("OK"), deadline, NOW + 3_600_000)
        .await;
    r.unwrap();
    assert_eq!(s.threaded, 1);
    let got = slack.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].auth.as_deref(), Some("Bearer xoxb-test"));
    assert_eq!(got[0].body["channel"], "#alerts");
    assert!(got[0].body.get("thread_ts").is_none());
    // The stand-in answered the first post with the channel's id and a ts: the recovery replies there.
    assert_eq!(got[1].body["channel"], "C0ALERTS");
    let first: Value = serde_json::from_str(&got[0].answer).unwrap();
    assert_eq!(got[1].body["thread_ts"], first["ts"]);
}
