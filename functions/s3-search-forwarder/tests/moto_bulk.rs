//! The forwarder with its real I/O: objects in a local moto S3, `_bulk` over HTTP to a fault-injecting
//! server, notifications in every envelope. For each fault: documents indexed + dead letters = lines in the
//! object, and a forced redelivery adds nothing.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use test_support as support;

use std::sync::Arc;
use std::time::Duration;

use logpipe_io::store::S3Store;
use s3_search_forwarder::{handle, Config, Response};
use serde_json::{json, Value};
use test_support::bulk_server::{BulkServer, Fault};

/// 300 lines of a realistic mix; every 37th has a field the index mapping refuses.
fn object_lines() -> Vec<String> {
    (0..300)
        .map(|i| match i % 4 {
            _ if i % 37 == 0 => format!(r#"{{"@timestamp":"2026-11-21T10:00:00Z","message":"MAPPING-CONFLICT {i}"}}"#),
            0 => format!(r#"{{"@timestamp":"2026-11-21T10:00:{:02}.000Z","message":"GET /api {i}","event":{{"id":"3751644459452158659281218658022449476521304095054{i:04}"}},"log":{{"group":"/ecs/api","stream":"web/1"}}}}"#, i % 60),
            1 => format!(r#"{{"level":"warn","msg":"slow query","ms":{i}}}"#),
            2 => format!("2026-11-21 10:00:00 ERROR worker {i}: java.lang.IllegalStateException"),
            _ => format!(r#"{{"a":{i}}}{{"b":{i}}}"#),
        })
        .collect()
}

fn units(lines: &[String]) -> usize {
    lines.iter().map(|l| 1 + l.matches("}{").count()).sum()
}

async fn setup(endpoint: &str, bucket: &str, key: &str, body: Vec<u8>) -> aws_config::SdkConfig {
    let sdk = support::sdk_config(endpoint).await;
    support::bucket_with(&support::s3_client(&sdk), bucket, key, body).await;
    sdk
}

/// An S3 notification for `key` as SNS delivers it to SQS (no raw delivery), with the key URL-encoded.
fn sqs_event(bucket: &str, key: &str) -> Value {
    let encoded: String = key
        .split('/')
        .map(|p| p.replace(' ', "+"))
        .collect::<Vec<_>>()
        .join("%2F");
    let s3 = json!({"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","eventTime":"2026-11-21T10:00:00.000Z",
        "s3":{"bucket":{"name":bucket},"object":{"key":encoded,"size":1}}}]});
    let sns = json!({"Type":"Notification","MessageId":"sns-1","TopicArn":"arn:aws:sns:us-east-1:123456789012:logs","Message":s3.to_string()});
    json!({"Records":[{"eventSource":"aws:sqs","messageId":"msg-1","body":sns.to_string()}]})
}

fn cfg(url: &str) -> Config {
    let mut c = Config::new(url);
    c.bulk_max_actions = 40;
    c.in_flight = 3;
    c.request_timeout = Duration::from_millis(500);
    c.backoff.base = Duration::from_millis(5);
    c.backoff.max_delay = Duration::from_millis(50);
    c.common.deadline_margin = Duration::ZERO;
    c
}

/// Dead-letter records in the bucket.
async fn dead_letters(sdk: &aws_config::SdkConfig, bucket: &str) -> Vec<Value> {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    let list = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("failed/")
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for o in list.contents() {
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(o.key().unwrap())
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        for l in String::from_utf8(body.to_vec()).unwrap().lines() {
            out.push(serde_json::from_str(l).unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_indexed_plus_dead_lettered_equals_lines() {
    let Some(endpoint) = support::moto_url() else {
        return;
    };
    let lines = object_lines();
    let expected = units(&lines);
    let plain = lines.join("\n") + "\n";
    // Firehose writes several gzip members into one object.
    let mut gz = logcore::base::codec::gzip(&plain.as_bytes()[..plain.len() / 3], 6);
    gz.extend(logcore::base::codec::gzip(
        &plain.as_bytes()[plain.len() / 3..],
        6,
    ));
    let storm = || vec![Fault::Status(429); 5];
    let scenarios: Vec<(&str, Vec<Fault>)> = vec![
        ("clean", vec![]),
        ("429 storm with Retry-After", storm()),
        (
            "503",
            vec![Fault::Status(503), Fault::Status(503), Fault::Status(503)],
        ),
        (
            "item-level 429 mixed with 201/409/400",
            vec![Fault::ItemStorm; 6],
        ),
        (
            "slow answers past the timeout",
            vec![Fault::Slow(Duration::from_secs(2)); 2],
        ),
        (
            "connection resets",
            vec![Fault::Reset, Fault::Reset, Fault::Reset],
        ),
    ];
    for (name, faults) in scenarios {
        let bucket = support::unique("fwd");
        let key = "app logs/2026/11/21/part-1.gz";
        let sdk = setup(&endpoint, &bucket, key, gz.clone()).await;
        let server = BulkServer::start(faults).await;
        let config = cfg(&server.url);
        let store = Arc::new(S3Store::new(&sdk, true));
        let search = Arc::new(
            s3_search_forwarder::aws::connect(&config, &sdk)
                .await
                .unwrap(),
        );
        let event = sqs_event(&bucket, key);
        let deadline = logpipe_io::lambda::Deadline::after(
            Duration::from_secs(60),
            config.common.deadline_margin,
        );
        let (res, s) = handle(&config, &store, &search, &event, deadline).await;
        assert_eq!(
            res.unwrap(),
            Response::Sqs {
                batch_item_failures: vec![]
            },
            "{name}"
        );
        let dead = dead_letters(&sdk, &bucket).await;
        assert_eq!(s.forwarded.units as usize, expected, "{name}");
        assert_eq!(
            server.docs() + dead.len(),
            expected,
            "{name}: {} indexed + {} dead letters",
            server.docs(),
            dead.len()
        );
        assert_eq!(
            dead.len(),
            lines
                .iter()
                .filter(|l| l.contains("MAPPING-CONFLICT"))
                .count(),
            "{name}"
        );
        assert!(dead.iter().all(|d| d["error_type"] == "mapper_parsing_exception"
            && d["source"]["key"] == key), "{name}");
        assert_eq!(server.lock().bad_headers, 0, "{name}");

        // Forced redelivery of the same notification.
        let (res, s2) = handle(&config, &store, &search, &event, deadline).await;
        res.unwrap();
        assert_eq!(
            server.docs() + dead.len(),
            expected,
            "{name}: duplicates after redelivery"
        );
        assert_eq!(s2.forwarded.indexed, 0, "{name}");
        assert_eq!(
            dead_letters(&sdk, &bucket).await.len(),
            dead.len(),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_objects_and_unreachable_search() {
    let Some(endpoint) = support::moto_url() else {
        return;
    };
    let bucket = support::unique("fwd-miss");
    let sdk = setup(&endpoint, &bucket, "present.log", b"one\ntwo\n".to_vec()).await;
    let store = Arc::new(S3Store::new(&sdk, true));
    // Nothing listens on this port: every request fails to connect, the message comes back.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = cfg(&format!("http://{dead_port}"));
    config.backoff.max_attempts = 2;
    let search = Arc::new(
        s3_search_forwarder::aws::connect(&config, &sdk)
            .await
            .unwrap(),
    );
    let deadline =
        logpipe_io::lambda::Deadline::after(Duration::from_secs(30), config.common.deadline_margin);
    let (res, s) = handle(
        &config,
        &store,
        &search,
        &sqs_event(&bucket, "present.log"),
        deadline,
    )
    .await;
    let Response::Sqs {
        batch_item_failures,
    } = res.unwrap()
    else {
        panic!("sqs")
    };
    assert_eq!(batch_item_failures.len(), 1);
    assert_eq!(s.objects_failed, 1);
    // A deleted object: nothing to index, not a failure.
    let (res, s) = handle(
        &config,
        &store,
        &search,
        &sqs_event(&bucket, "gone.log"),
        deadline,
    )
    .await;
    assert_eq!(
        res.unwrap(),
        Response::Sqs {
            batch_item_failures: vec![]
        }
    );
    assert_eq!(s.objects_missing, 1);
}
