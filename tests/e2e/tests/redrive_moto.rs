//! `logpipe redrive` on real wire protocols — S3 and SQS on moto, the search engine on osmem-server —
//! with the real transform and forwarder: documents a strict mapping refused are dead-lettered; the dead
//! letters are counted by status, type and reason; the mapping is fixed; a redrive through the
//! forwarder's queue indexes them with their original ids and indices, moves the dead-letter object out
//! of `failed/`, and keeps the documents refused again with their new reason; a redrive from here leaves
//! those as they are; the forwarder's dead-letter queue is moved back to its queue, attributes and all.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use test_support as support;

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use logcore::synth;
use logpipe_cli::redrive::{move_messages, redrive_here, send_for_redrive, table, tally, Tally};
use logpipe_cli::reindex::{Archive, Pace};
use logpipe_e2e::carry;
use logpipe_e2e::local::Local;
use logpipe_io::store::S3Store;
use s3_search_forwarder::redrive::Disposal;
use serde_json::{json, Value};

/// The records under `prefix`, every object's lines.
async fn records(s3: &S3Store, bucket: &str, prefix: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for o in s3.list(bucket, prefix).await.unwrap() {
        let body = s3
            .client()
            .get_object()
            .bucket(bucket)
            .key(&o.key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        for l in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            out.push(serde_json::from_slice(l).unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_documents_are_redriven_once_the_mapping_is_fixed() {
    let Some(local) = Local::start("lprd").await.unwrap() else {
        return;
    };
    let (name, s3, search, forwarder) = (
        local.name.as_str(),
        &local.s3,
        &local.search,
        &local.forwarder,
    );
    let search_q = local.queue("search").await.unwrap();
    let dlq = local.queue("dlq").await.unwrap();
    let call = |m: reqwest::Method, path: String, body: Option<Value>| {
        let local = &local;
        async move { local.call(m, &path, body).await.unwrap() }
    };
    let index = format!("{name}-app-2026.03.01");
    // A strict mapping of the applications' JSON fields: a field it does not name is refused.
    call(reqwest::Method::PUT,
        format!("/{index}"),
        Some(json!({"mappings": {"properties": {"json": {"dynamic": "strict", "properties": {"n": {"type": "long"}}}}}})),
    )
    .await;

    // Ten events: four the mapping takes, four with a field it does not know, two with another one that
    // the fix will map as a number they are not.
    let t0 = logcore::base::time::parse_rfc3339_ms("2026-03-01T10:00:00Z").unwrap();
    let group = format!("/rd/{name}/api");
    let events: Vec<synth::Event> = (0..10)
        .map(|i| synth::Event {
            id: format!("{}", 5_000_000 + i),
            timestamp: t0 + i64::from(i) * 1_000,
            message: match i {
                0..=3 => format!(r#"{{"n":{i}}}"#),
                4..=7 => format!(r#"{{"k":"value {i}"}}"#),
                _ => format!(r#"{{"m":"not a number {i}"}}"#),
            },
        })
        .collect();
    let docs = carry::documents(&group, "web/1", &events).await.unwrap();
    let key = format!("logs/2026/03/01/10/{name}-1.gz");
    s3.client()
        .put_object()
        .bucket(name)
        .key(&key)
        .body(ByteStream::from(logcore::base::codec::gzip(&docs, 1)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        carry::forward(forwarder, s3, search, name, &key)
            .await
            .unwrap(),
        4
    );

    // What the dead letters are: six documents, refused for the strict mapping.
    let dead = s3.list(name, "failed/").await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let mut t = Tally::new();
    for r in records(s3, name, "failed/").await {
        tally(format!("{r}\n").as_bytes(), &mut t);
    }
    let text = table(&t);
    let rows: Vec<(&str, &str, &str, u64)> = t
        .iter()
        .map(|(k, n)| (k.0.as_str(), k.1.as_str(), k.2.as_str(), *n))
        .collect();
    assert_eq!(
        rows,
        [
            ("rejected", "400", "strict_dynamic_mapping_exception", 4),
            ("rejected", "400", "strict_dynamic_mapping_exception", 2)
        ],
        "{text}"
    );
    assert!(
        text.contains("dynamic introduction of [k]") && text.contains("[m]"),
        "{text}"
    );

    // The mapping is fixed: `k` is a keyword; `m` a number, which two documents are not.
    call(reqwest::Method::PUT,
        format!("/{index}/_mapping"),
        Some(json!({"properties": {"json": {"properties": {"k": {"type": "keyword"}, "m": {"type": "long"}}}}})),
    )
    .await;

    // Redrive through the forwarder's queue.
    let pace = Pace::new(100.0, 0);
    let bar = indicatif::ProgressBar::hidden();
    let sent = send_for_redrive(
        &search_q,
        &pace,
        name,
        support::REGION,
        &dead,
        Disposal::Move,
        &bar,
    )
    .await
    .unwrap();
    assert_eq!(sent, 1);
    let got = carry::consume(&search_q, forwarder, s3, search)
        .await
        .unwrap();
    assert_eq!(
        (got.indexed, got.already, got.refused, got.redriven),
        (4, 0, 2, 1)
    );

    // Every document the mapping now takes is there once, with its event id, in its original index.
    call(reqwest::Method::POST, format!("/{index}/_refresh"), None).await;
    let hits = call(
        reqwest::Method::POST,
        format!("/{index}/_search"),
        Some(json!({"size": 100})),
    )
    .await;
    let mut ids: Vec<String> = hits["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let want: Vec<String> = events[..8].iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, want);

    // The two refused again stay under failed/ with their new reason; the object as it was is kept under
    // failed-redriven/.
    let left = records(s3, name, "failed/").await;
    assert_eq!(left.len(), 2);
    for r in &left {
        assert_eq!(r["error_type"], "mapper_parsing_exception", "{r}");
        assert!(r["reason"].as_str().unwrap().contains("[json.m]"), "{r}");
        assert_eq!(r["action"]["create"]["_index"], index.as_str());
    }
    assert_eq!(records(s3, name, "failed-redriven/").await.len(), 6);

    // From here, asking for deletion: nothing goes in, nothing refused is deleted.
    let keys: Vec<String> = s3
        .list(name, "failed/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    let deadline =
        logpipe_io::lambda::Deadline::after(Duration::from_secs(60), Duration::from_secs(1));
    let here = redrive_here(
        forwarder,
        s3,
        search,
        name,
        &keys,
        Disposal::Delete,
        deadline,
        &bar,
    )
    .await;
    assert_eq!((here.indexed, here.refused, here.rewritten), (0, 2, 1));
    assert!(here.failed.is_empty(), "{:?}", here.failed);
    assert_eq!(records(s3, name, "failed/").await.len(), 2);

    // The forwarder's dead-letter queue, moved back with its attributes.
    for i in 0..3 {
        dlq.client()
            .send_message()
            .queue_url(dlq.url())
            .message_body(format!(r#"{{"Records":[],"n":{i}}}"#))
            .message_attributes(
                "logpipe.restore",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("q1")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let moved = move_messages(&dlq, &search_q, &pace, u64::MAX, &bar)
        .await
        .unwrap();
    assert_eq!(moved, 3);
    let back = search_q
        .client()
        .receive_message()
        .queue_url(search_q.url())
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    assert_eq!(back.messages().len(), 3);
    for m in back.messages() {
        let a = m.message_attributes().unwrap();
        assert_eq!(a["logpipe.restore"].string_value(), Some("q1"));
    }
    let empty = dlq
        .client()
        .receive_message()
        .queue_url(dlq.url())
        .send()
        .await
        .unwrap();
    assert!(empty.messages().is_empty());
}
