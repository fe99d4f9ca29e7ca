//! Helpers shared by the integration tests of every crate (a dev-dependency only): the local services'
//! URLs, SDK configuration for moto, and the stand-ins we run ourselves (a fault-injecting `_bulk`
//! endpoint, Slack, a fault-injecting proxy in front of moto).

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

pub mod bulk_server;
pub mod engine_api;
pub mod fault_proxy;
pub mod http;
pub mod slack_server;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// The moto server's URL from `LOGPIPE_MOTO_URL` (set by `scripts/test.sh`, which starts moto).
///
/// Without it the test is skipped with a message, unless `LOGPIPE_REQUIRE_SERVICES=1` (as in CI), where a
/// missing server is a failure.
pub fn moto_url() -> Option<String> {
    service_url("LOGPIPE_MOTO_URL", "moto")
}

/// The local OpenSearch stand-in's URL (osmem-server) from `LOGPIPE_SEARCH_URL`, set by `scripts/test.sh`;
/// skipped or failing without it as [`moto_url`].
pub fn search_url() -> Option<String> {
    service_url("LOGPIPE_SEARCH_URL", "osmem-server")
}

fn service_url(var: &str, what: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|u| !u.is_empty()) {
        Some(u) => Some(u.trim_end_matches('/').to_string()),
        None if std::env::var("LOGPIPE_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{var} is not set but LOGPIPE_REQUIRE_SERVICES=1: run the tests with scripts/test.sh")
        }
        None => {
            eprintln!(
                "SKIPPED: {var} is not set; run scripts/test.sh to start {what} and run this test"
            );
            None
        }
    }
}

/// SDK configuration for the endpoint (moto, or a fault proxy in front of it) with test credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "logpipe-tests",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// An S3 client for moto: buckets addressed by path.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// Create a bucket and put one object in it.
pub async fn bucket_with(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateBucket {bucket}: {e:?}"));
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {bucket}/{key}: {e:?}"));
}

/// The keys under `prefix`, in S3's order (one page: tests keep to fewer than 1,000 objects).
pub async fn keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    s3.list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListObjectsV2 {bucket}/{prefix}: {e:?}"))
        .contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect()
}

/// An object's body.
pub async fn body(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap_or_else(|e| panic!("reading {bucket}/{key}: {e:?}"))
        .into_bytes()
        .to_vec()
}

/// A name unique to this test run (lower case, usable as an S3 bucket name).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

/// The documents a fake search engine holds, by `(_index, _id)`.
pub type BulkIndex = std::collections::BTreeMap<(String, String), serde_json::Value>;

/// What a fake `_bulk` endpoint does with a (decompressed) request body: each `create` is indexed (201),
/// refused as already there (409), refused by the mapping when the document holds `MAPPING-CONFLICT`
/// (400, `mapper_parsing_exception`), or, with `storm`, every other item is rejected with 429. Returns the
/// response body. Panics on a body that is not action/document line pairs of JSON.
pub fn index_bulk(index: &mut BulkIndex, body: &[u8], storm: bool) -> serde_json::Value {
    use serde_json::{json, Value};
    let text = std::str::from_utf8(body).expect("UTF-8 body");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() % 2, 0, "action and document lines pair up");
    let mut items = Vec::new();
    for (n, pair) in lines.chunks(2).enumerate() {
        let action: Value = serde_json::from_str(pair[0]).expect("action JSON");
        let doc: Value = serde_json::from_str(pair[1]).expect("document JSON");
        let a = &action["create"];
        let key = (
            a["_index"].as_str().expect("_index").to_string(),
            a["_id"].as_str().expect("_id").to_string(),
        );
        let status = if storm && n % 2 == 0 {
            429
        } else if doc.to_string().contains("MAPPING-CONFLICT") {
            400
        } else {
            match index.entry(key) {
                std::collections::btree_map::Entry::Occupied(_) => 409,
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(doc);
                    201
                }
            }
        };
        let mut item = json!({"_index": a["_index"], "_id": a["_id"], "status": status});
        if status == 400 {
            item["error"] =
                json!({"type":"mapper_parsing_exception","reason":"failed to parse field [n]"});
        } else if status == 429 {
            item["error"] = json!({"type":"es_rejected_execution_exception","reason":"queue full"});
        }
        items.push(json!({ "create": item }));
    }
    json!({"took": 1, "errors": true, "items": items})
}
