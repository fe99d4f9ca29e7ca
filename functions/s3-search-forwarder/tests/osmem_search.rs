//! The forwarder against a search engine that speaks the OpenSearch API (osmem-server, started by
//! `scripts/test.sh`), with the object in a local moto S3: documents land in the templated indices with
//! their ids and are searchable, the engine's own mapping errors go to the dead-letter prefix with its
//! reasons, and a redelivery of the same notification adds nothing.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use test_support as support;

use std::sync::Arc;

use logpipe_io::store::S3Store;
use s3_search_forwarder::{handle, Config, Response};
use serde_json::{json, Value};

async fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
    let client = reqwest::Client::new();
    let mut req = client.request(method, url);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {bytes:?}");
    serde_json::from_slice(&bytes).unwrap()
}

async fn count(search: &str, pattern: &str) -> u64 {
    call(
        reqwest::Method::POST,
        &format!("{search}/{pattern}/_refresh"),
        None,
    )
    .await;
    call(
        reqwest::Method::GET,
        &format!("{search}/{pattern}/_count"),
        None,
    )
    .await["count"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_indexed_searchable_and_never_twice() {
    let (Some(moto), Some(search)) = (support::moto_url(), support::search_url()) else {
        return;
    };
    let prefix = support::unique("lp");
    // The users' index template: http.status is a number, so a document with a string there is refused.
    call(
        reqwest::Method::PUT,
        &format!("{search}/_index_template/{prefix}"),
        Some(json!({"index_patterns":[format!("{prefix}-*")],
            "template":{"mappings":{"properties":{"http":{"properties":{"status":{"type":"long"}}}}}}})),
    )
    .await;

    // 200 documents as the transforms write them (every 25th refused by the mapping), 10 text lines, 5
    // foreign JSON lines, 1 line of invalid UTF-8.
    let mut body = Vec::new();
    for i in 0..200 {
        let status = if i % 25 == 0 {
            json!("n/a")
        } else {
            json!(200)
        };
        body.extend(
            json!({"@timestamp": format!("2026-11-22T10:{:02}:00.000Z", i % 60),
                "event": {"id": format!("37516444594521586592812186580224494765210{i:05}")},
                "log": {"group": "/ecs/Shop-API", "stream": "web/1"},
                "message": format!("GET /api/orders/{i} completed"), "http": {"status": status}})
            .to_string()
            .bytes(),
        );
        body.push(b'\n');
    }
    for i in 0..10 {
        body.extend(format!("2026-11-22 10:00:00 ERROR worker-{i} lost its lease\n").bytes());
    }
    for i in 0..5 {
        body.extend(format!("{{\"level\":\"warn\",\"msg\":\"slow query\",\"ms\":{i}}}\n").bytes());
    }
    body.extend(b"caf\xe9 latin-1 line\n");
    let units = 216u64;

    let bucket = support::unique("osmem");
    let key = "2026/11/22/10/app-logs-1.gz";
    let sdk = support::sdk_config(&moto).await;
    let s3 = support::s3_client(&sdk);
    support::bucket_with(&s3, &bucket, key, logcore::base::codec::gzip(&body, 6)).await;

    let mut cfg = Config::new(&search);
    cfg.index = format!("{prefix}-{{log.group}}-%Y.%m.%d").parse().unwrap();
    cfg.bulk_max_actions = 50;
    let store = Arc::new(S3Store::new(&sdk, true));
    let engine = Arc::new(s3_search_forwarder::aws::connect(&cfg, &sdk).await.unwrap());
    let event = json!({"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put",
        "eventTime":"2026-11-22T10:05:00.000Z",
        "s3":{"bucket":{"name":bucket},"object":{"key":key,"size":1}}}]});
    let deadline = || {
        logpipe_io::lambda::Deadline::after(
            std::time::Duration::from_secs(60),
            cfg.common.deadline_margin,
        )
    };

    let (result, first) = handle(&cfg, &store, &engine, &event, deadline()).await;
    assert_eq!(result, Ok(Response::Done { objects: 1 }), "{first:?}");
    assert_eq!(first.forwarded.units, units);
    assert_eq!(first.forwarded.dead_lettered, 8 + 1, "{first:?}");
    assert_eq!(
        first.forwarded.indexed + first.forwarded.dead_lettered,
        units
    );
    assert_eq!(
        count(&search, &format!("{prefix}-*")).await,
        first.forwarded.indexed
    );
    // The log group, lower-cased and sanitised, names the index; lines without one go to `unknown`.
    assert_eq!(
        count(&search, &format!("{prefix}-ecs-shop-api-2026.11.22")).await,
        192
    );

    // A document is found by its id (its event.id), with its fields.
    let hit = call(
        reqwest::Method::POST,
        &format!("{search}/{prefix}-*/_search"),
        Some(
            json!({"query":{"ids":{"values":["3751644459452158659281218658022449476521000007"]}}}),
        ),
    )
    .await;
    let hits = hit["hits"]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{hit}");
    assert_eq!(hits[0]["_source"]["message"], "GET /api/orders/7 completed");
    // Text lines are searchable by their words.
    let text = call(
        reqwest::Method::POST,
        &format!("{search}/{prefix}-*/_search"),
        Some(json!({"query":{"match":{"message":"lease"}}})),
    )
    .await;
    assert_eq!(text["hits"]["total"]["value"], 10, "{text}");

    // The dead letters carry the engine's reasons.
    let list = support::keys(&s3, &bucket, "failed/").await;
    let mut dead = Vec::new();
    for key in &list {
        let b = support::body(&s3, &bucket, key).await;
        for l in String::from_utf8(b).unwrap().lines() {
            dead.push(serde_json::from_str::<Value>(l).unwrap());
        }
    }
    assert_eq!(dead.len(), 9);
    let mapping: Vec<&Value> = dead
        .iter()
        .filter(|d| d.to_string().contains("mapper_parsing_exception"))
        .collect();
    assert_eq!(mapping.len(), 8, "{dead:?}");

    // The same notification again: nothing new, everything answered 409, the dead letters rewritten in place.
    let (result, again) = handle(&cfg, &store, &engine, &event, deadline()).await;
    assert_eq!(result, Ok(Response::Done { objects: 1 }));
    assert_eq!(again.forwarded.indexed, 0, "{again:?}");
    assert_eq!(again.forwarded.already_indexed, first.forwarded.indexed);
    assert_eq!(
        count(&search, &format!("{prefix}-*")).await,
        first.forwarded.indexed
    );
    assert_eq!(support::keys(&s3, &bucket, "failed/").await, list);
}

/// Documents of the largest events CloudWatch Logs accepts (1 MB), in the shapes JSON escapes worst (up to
/// 6.3 MB a document), are read under the default `MAX_DOC_BYTES`, indexed, and come back intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabyte_documents_are_indexed_intact() {
    let (Some(moto), Some(search)) = (support::moto_url(), support::search_url()) else {
        return;
    };
    let prefix = support::unique("lp1mb");
    let shapes = logcore::synth::worst_case_messages(logcore::logs::cwl::MAX_MESSAGE_BYTES);
    let events =
        logcore::synth::events_of(shapes.iter().map(|(_, m)| m.clone()), 1_763_800_000_000);
    let payload = logcore::synth::data_payload("/ecs/api", "web/1", &events);
    let cfg_doc = logcore::logs::document::DocumentConfig {
        json: Some(logcore::logs::document::JsonLimits::default()),
        ..Default::default()
    };
    let ctx = logcore::logs::document::PayloadContext::new(&payload, Some("eu-west-1"));
    let mut body = Vec::new();
    let mut stats = logcore::logs::document::DocStats::default();
    for ev in &payload.log_events {
        logcore::logs::document::write_event(&cfg_doc, &ctx, ev, &mut body, &mut stats);
    }
    assert!(body.len() > 10 << 20);

    let bucket = support::unique("osmem-1mb");
    let key = "logs/2026/11/22/10/logpipe-oversize-1.gz";
    let sdk = support::sdk_config(&moto).await;
    let store = Arc::new(S3Store::new(&sdk, true));
    let s3 = support::s3_client(&sdk);
    support::bucket_with(&s3, &bucket, key, logcore::base::codec::gzip(&body, 1)).await;
    let mut cfg = Config::new(&search);
    cfg.index = format!("{prefix}-%Y.%m.%d").parse().unwrap();
    let engine = Arc::new(s3_search_forwarder::aws::connect(&cfg, &sdk).await.unwrap());
    let event = json!({"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put",
        "eventTime":"2026-11-22T10:05:00.000Z",
        "s3":{"bucket":{"name":bucket},"object":{"key":key,"size":1}}}]});
    let deadline = logpipe_io::lambda::Deadline::after(
        std::time::Duration::from_secs(120),
        cfg.common.deadline_margin,
    );
    let (result, s) = handle(&cfg, &store, &engine, &event, deadline).await;
    assert_eq!(result, Ok(Response::Done { objects: 1 }), "{s:?}");
    assert_eq!(
        (s.forwarded.indexed, s.forwarded.dead_lettered),
        (shapes.len() as u64, 0),
        "{s:?}"
    );
    assert_eq!(
        count(&search, &format!("{prefix}-*")).await,
        shapes.len() as u64
    );
    for ((shape, message), ev) in shapes.iter().zip(&events) {
        let hit = call(
            reqwest::Method::POST,
            &format!("{search}/{prefix}-*/_search"),
            Some(json!({"query":{"ids":{"values":[ev.id]}}})),
        )
        .await;
        assert_eq!(
            hit["hits"]["hits"][0]["_source"]["message"].as_str(),
            Some(message.as_str()),
            "{shape}"
        );
    }
}
