//! Re-ingestion through the real Firehose and Kinesis APIs (moto on 127.0.0.1, behind a fault-injecting
//! proxy), with the real AWS SDK clients the Lambda uses.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use firehose_transform::aws::AwsReingest;
use firehose_transform::config::Oversize;
use firehose_transform::{handle, Config};
use logcore::base::codec::decode_base64;
use logcore::logs::cwl::{decompress, Payload};
use logcore::synth::{self, SourceKind};
use logcore::transform::firehose::{ParsedResponse, TransformEvent, RESPONSE_LIMIT};
use logpipe_io::store::{MemStore, S3Store};
use test_support::fault_proxy::{FaultProxy, Faults};
use test_support::{moto_url, sdk_config, unique, ACCOUNT, REGION};

/// Event ids (with how often each was seen) in the `Ok` records of a response.
fn response_ids(response: &str, seen: &mut HashMap<String, usize>) {
    let parsed: ParsedResponse = serde_json::from_str(response).unwrap();
    for r in parsed.records.iter().filter(|r| r.result == "Ok") {
        let data = decode_base64(r.data.as_ref().unwrap().as_bytes()).unwrap();
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let doc: serde_json::Value = serde_json::from_slice(line).unwrap();
            *seen
                .entry(doc["event"]["id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
}

/// Event ids in concatenated gzip payloads (moto writes a PutRecordBatch as one S3 object of the records
/// joined together); checks the hop counter.
fn payload_ids(gz: &[u8], seen: &mut HashMap<String, usize>) -> usize {
    let json = decompress(gz, usize::MAX).unwrap();
    let mut n = 0;
    for v in serde_json::Deserializer::from_slice(&json).into_iter::<serde_json::Value>() {
        let text = serde_json::to_vec(&v.unwrap()).unwrap();
        let p = Payload::parse(&text).unwrap();
        assert_eq!(p.hops, 1, "re-ingested payloads carry the hop counter");
        for e in &p.log_events {
            *seen.entry(e.id.to_string()).or_default() += 1;
        }
        n += 1;
    }
    n
}

fn all_ids(event: &TransformEvent) -> Vec<String> {
    let mut ids = Vec::new();
    for r in &event.records {
        let json = decompress(&decode_base64(r.data.as_bytes()).unwrap(), usize::MAX).unwrap();
        ids.extend(
            Payload::parse(&json)
                .unwrap()
                .log_events
                .iter()
                .map(|e| e.id.to_string()),
        );
    }
    ids
}

fn assert_exactly_once(expected: &[String], seen: &HashMap<String, usize>) {
    assert_eq!(
        seen.len(),
        expected.len(),
        "distinct events seen vs generated"
    );
    for id in expected {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "event {id} must be delivered exactly once"
        );
    }
}

/// A DirectPut batch whose documents are well over 6 MB: what does not fit is put back with
/// PutRecordBatch; the first two calls have partial failures, which are retried alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firehose_reingest_of_batch_over_6mb_with_partial_failures() {
    let Some(moto) = moto_url() else { return };
    let proxy = FaultProxy::start(
        moto.clone(),
        Faults {
            partial_calls: 2,
            every: 3,
            throttle_calls: 1,
            throttle_target: None,
        },
    )
    .await;
    let direct = sdk_config(&moto).await;
    let s3 = aws_sdk_s3::Client::new(&direct);
    let firehose = aws_sdk_firehose::Client::new(&direct);
    let bucket = unique("reingest");
    let stream = unique("app-logs");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    firehose
        .create_delivery_stream()
        .delivery_stream_name(&stream)
        .delivery_stream_type(aws_sdk_firehose::types::DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(
            aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
                .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/firehose"))
                .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                .prefix("reingested/")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let mut event = synth::batch(SourceKind::DirectPut, 1_500_000, 200, 42);
    event.delivery_stream_arn =
        format!("arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{stream}");
    let expected = all_ids(&event);

    let sink = AwsReingest::new(&sdk_config(&proxy.url).await, Duration::from_secs(10));
    let cfg: Config = Config::default();
    let out = handle(
        &event,
        &cfg,
        &sink,
        &MemStore::default(),
        logpipe_io::lambda::Deadline::after(Duration::from_secs(120), cfg.common.deadline_margin),
    )
    .await
    .unwrap();
    let s = &out.summary;
    assert!(
        s.bytes_out > 0 && s.bytes_decompressed > 8 * 1024 * 1024,
        "decoded input (and so output) well over 6 MB: {s:?}"
    );
    assert!(out.response.len() <= RESPONSE_LIMIT);
    assert_eq!(
        serde_json::to_vec(&out.response).unwrap().len(),
        out.response.len()
    );
    assert_eq!((s.failed, s.reingest_partial), (0, 0), "{:?}", out.failures);
    assert!(s.reingested_records > 0);
    let stats = proxy.stats.lock().unwrap().clone();
    assert_eq!(stats.throttled, 1);
    assert!(stats.withheld > 0);
    assert!(s.put_retried_entries >= stats.withheld as u64);

    let mut seen = HashMap::new();
    response_ids(out.response.as_str(), &mut seen);
    let mut objects = 0;
    for key in test_support::keys(&s3, &bucket, "").await {
        objects += payload_ids(&test_support::body(&s3, &bucket, &key).await, &mut seen);
    }
    assert_eq!(objects as u64, s.reingested_parts);
    assert_exactly_once(&expected, &seen);
}

/// A Kinesis-sourced batch: PutRecords with the original partition keys, partial failures retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_reingest_keeps_partition_keys_and_retries_failed_entries() {
    let Some(moto) = moto_url() else { return };
    let proxy = FaultProxy::start(
        moto.clone(),
        Faults {
            partial_calls: 1,
            every: 2,
            throttle_calls: 0,
            throttle_target: None,
        },
    )
    .await;
    let direct = sdk_config(&moto).await;
    let kinesis = aws_sdk_kinesis::Client::new(&direct);
    let stream = unique("central");
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(1)
        .send()
        .await
        .unwrap();

    let mut event = synth::batch(SourceKind::Kinesis, 700_000, 200, 7);
    let arn = format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}");
    event.source_kinesis_stream_arn = Some(arn.clone());
    let expected = all_ids(&event);
    let keys: HashMap<String, String> = event
        .records
        .iter()
        .map(|r| {
            let json = decompress(&decode_base64(r.data.as_bytes()).unwrap(), usize::MAX).unwrap();
            let first = Payload::parse(&json).unwrap().log_events[0].id.to_string();
            (
                first,
                r.kinesis_record_metadata
                    .as_ref()
                    .unwrap()
                    .partition_key
                    .clone()
                    .unwrap(),
            )
        })
        .collect();

    let sink = AwsReingest::new(&sdk_config(&proxy.url).await, Duration::from_secs(10));
    let out = handle(
        &event,
        &Config::<firehose_transform::Documents>::default(),
        &sink,
        &MemStore::default(),
        logpipe_io::lambda::Deadline::after(Duration::from_secs(120), Duration::from_millis(500)),
    )
    .await
    .unwrap();
    let s = &out.summary;
    assert_eq!(s.failed, 0, "{:?}", out.failures);
    assert!(
        s.reingested_records > 0 && s.put_retried_entries > 0,
        "{s:?}"
    );

    let mut seen = HashMap::new();
    response_ids(out.response.as_str(), &mut seen);
    let shard = kinesis
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .unwrap()
        .shards()[0]
        .shard_id()
        .to_string();
    let mut it = kinesis
        .get_shard_iterator()
        .stream_name(&stream)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .map(str::to_string);
    let mut got = 0u64;
    while let Some(iter) = it {
        let page = kinesis
            .get_records()
            .shard_iterator(iter)
            .send()
            .await
            .unwrap();
        if page.records().is_empty() {
            break;
        }
        for r in page.records() {
            let json = decompress(r.data().as_ref(), usize::MAX).unwrap();
            let p = Payload::parse(&json).unwrap();
            if let Some(key) = keys.get(p.log_events[0].id.as_ref()) {
                assert_eq!(
                    r.partition_key(),
                    Some(key.as_str()),
                    "whole records keep their original partition key"
                );
            }
            got += 1;
            payload_ids(r.data().as_ref(), &mut seen);
        }
        it = page.next_shard_iterator().map(str::to_string);
    }
    assert_eq!(got, s.reingested_parts);
    assert_exactly_once(&expected, &seen);
}

/// A delivery stream that does not exist: ResourceNotFoundException is permanent, so the records are
/// answered ProcessingFailed after one call instead of being retried until the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_stream_fails_records_without_retrying() {
    let Some(moto) = moto_url() else { return };
    let mut event = synth::batch(SourceKind::DirectPut, 300_000, 200, 3);
    event.delivery_stream_arn = format!(
        "arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{}",
        unique("missing")
    );
    let sink = AwsReingest::new(&sdk_config(&moto).await, Duration::from_secs(10));
    let cfg: Config = Config {
        response_limit: 200_000,
        ..Config::default()
    };
    let out = handle(
        &event,
        &cfg,
        &sink,
        &MemStore::default(),
        logpipe_io::lambda::Deadline::after(Duration::from_secs(60), cfg.common.deadline_margin),
    )
    .await
    .unwrap();
    assert!(out.summary.failed > 0);
    assert_eq!(out.summary.put_calls, 1, "permanent errors are not retried");
    assert!(
        out.failures[0].reason.contains("ResourceNotFoundException"),
        "{}",
        out.failures[0].reason
    );
}

/// A 1 MB event of control characters (a 6.3 MB document, 8.4 MB in base64: no transformation response
/// can carry it) is written with the real S3 client to the bucket and prefix the delivery stream writes,
/// and the record is answered `Dropped`; a second invocation of the same record writes the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_documents_are_written_to_s3() {
    let Some(moto) = moto_url() else { return };
    let sdk = sdk_config(&moto).await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let bucket = unique("oversize");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let message = "\u{1}".repeat(logcore::logs::cwl::MAX_MESSAGE_BYTES);
    let event = synth::event_per_message([message.clone()], 1_763_700_000_000);
    let cfg: Config = Config {
        oversize: Some(Oversize {
            bucket: bucket.clone(),
            prefix: logcore::transform::s3prefix::S3Prefix::parse(
                "logs/!{timestamp:yyyy/MM/dd/HH}/",
            )
            .unwrap(),
        }),
        ..Config::default()
    };
    let store = S3Store::new(&sdk, true);
    let sink = AwsReingest::new(&sdk, Duration::from_secs(10));
    let mut keys = Vec::new();
    for _ in 0..2 {
        let out = handle(
            &event,
            &cfg,
            &sink,
            &store,
            logpipe_io::lambda::Deadline::after(
                Duration::from_secs(60),
                cfg.common.deadline_margin,
            ),
        )
        .await
        .unwrap();
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        let parsed: ParsedResponse = serde_json::from_str(out.response.as_str()).unwrap();
        assert_eq!(parsed.records[0].result, "Dropped");
        assert_eq!(out.summary.events_written, 1);
        keys.push(out.written[0].key.clone());
    }
    assert_eq!(
        keys[0], keys[1],
        "a retried invocation writes the same object"
    );
    assert_eq!(
        test_support::keys(&s3, &bucket, "logs/").await,
        [keys[0].clone()]
    );
    let body = test_support::body(&s3, &bucket, &keys[0]).await;
    let ndjson = decompress(&body, usize::MAX).unwrap();
    assert!(ndjson.len() > 6 * logcore::logs::cwl::MAX_MESSAGE_BYTES);
    let doc: serde_json::Value = serde_json::from_slice(&ndjson).unwrap();
    assert_eq!(doc["message"].as_str().unwrap(), message);
    assert_eq!(doc["event"]["id"], synth::event_id(1_763_700_000_000, 0));
}
