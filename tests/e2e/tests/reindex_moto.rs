//! `logpipe reindex` on real wire protocols — S3 and SQS on a local moto server, the search engine on
//! osmem-server — with the real CloudWatch Logs transform making the archive's objects and the real search
//! forwarder consuming the queue as its Lambda would (batches of five, `batchItemFailures`): the live
//! indices are deleted, a reindex of one group and two hours sends exactly that group's objects, an
//! interrupted reindex of the whole range resumes, every document comes back once with its id (the counts
//! by group and hour are those before the deletion), a second reindex indexes nothing new (409s only), an
//! archived object is reported, restored on request and sent once readable, and a restore label fills its
//! own indices and leaves the live ones untouched.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use test_support as support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;
use logcore::base::retry::Backoff;
use logcore::ledger::{hour_of, HOUR_MS};
use logcore::synth;
use logpipe_cli::reindex::aws::SqsQueue;
use logpipe_cli::reindex::select::KeyLayout;
use logpipe_cli::reindex::{self, Job, Outgoing, Pace, Queue};
use logpipe_e2e::carry::{self, Consumed};
use logpipe_e2e::local::Local;
use logpipe_io::CallError;
use serde_json::{json, Value};

/// A queue that takes `batches` batches, then fails: a run cut short.
struct CutQueue<'q> {
    inner: &'q SqsQueue,
    batches: std::sync::Mutex<usize>,
}

impl Queue for CutQueue<'_> {
    async fn send(&self, messages: &[Outgoing]) -> Result<Vec<(String, String)>, CallError> {
        {
            let mut left = self.batches.lock().unwrap();
            if *left == 0 {
                return Err(CallError::permanent("the network went away"));
            }
            *left -= 1;
        }
        self.inner.send(messages).await
    }
    async fn depth(&self) -> Result<u64, CallError> {
        self.inner.depth().await
    }
}

struct World {
    local: Local,
    queue: SqsQueue,
}

impl std::ops::Deref for World {
    type Target = Local;
    fn deref(&self) -> &Local {
        &self.local
    }
}

impl World {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.local.call(method, path, body).await.unwrap()
    }

    /// Documents by (index family, group, hour), with every id once: duplicates fail the test.
    async fn counts(&self, pattern: &str) -> BTreeMap<(String, i64), u64> {
        self.call(reqwest::Method::POST, &format!("/{pattern}/_refresh"), None)
            .await;
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/{pattern}/_search"),
                Some(json!({"size": 10_000, "query": {"match_all": {}}})),
            )
            .await;
        let mut ids = std::collections::BTreeSet::new();
        let mut out = BTreeMap::new();
        for h in v["hits"]["hits"].as_array().unwrap() {
            assert!(
                ids.insert(h["_id"].as_str().unwrap().to_string()),
                "duplicate {h}"
            );
            let group = h["_source"]["log"]["group"].as_str().unwrap().to_string();
            let ts =
                logcore::base::time::parse_rfc3339_ms(h["_source"]["@timestamp"].as_str().unwrap())
                    .unwrap();
            *out.entry((group, hour_of(ts))).or_default() += 1;
        }
        out
    }

    async fn consume(&self) -> Consumed {
        carry::consume(&self.queue, &self.forwarder, &self.s3, &self.search)
            .await
            .unwrap()
    }

    fn job(&self, groups: &[&str], from_ms: i64, to_ms: i64, dir: &std::path::Path) -> Job {
        Job {
            bucket: self.name.clone(),
            region: support::REGION.into(),
            layout: KeyLayout::Partitioned {
                root: "logs/".into(),
            },
            groups: groups.iter().map(|g| g.to_string()).collect(),
            from_ms,
            to_ms,
            restore_label: None,
            pace: Pace {
                rate: 1_000.0,
                max_queued: 1_000,
                queue_poll: Duration::from_millis(50),
                backoff: Backoff {
                    base: Duration::from_millis(10),
                    max_delay: Duration::from_millis(100),
                    max_attempts: 3,
                },
            },
            restore: None,
            dry_run: false,
            state_path: reindex::state::path_for(dir, &format!("{groups:?} {from_ms} {to_ms}")),
            arguments: format!("{groups:?} {from_ms} {to_ms}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_the_index_reindex_from_the_archive_and_every_document_is_back_once() {
    let Some(local) = Local::start("lpri").await.unwrap() else {
        return;
    };
    let name = local.name.clone();
    let w = World {
        queue: local.queue("search").await.unwrap(),
        local,
    };
    let dir = std::env::temp_dir().join(format!("logpipe-{name}"));
    std::fs::create_dir_all(&dir).unwrap();

    // The archive, as dynamic partitioning writes it: three groups, four hours across midnight (two
    // dates), an object an hour and group of five events the real transform made.
    let day = logcore::base::time::parse_rfc3339_ms("2026-03-01T00:00:00Z").unwrap();
    let groups = [
        format!("/ri/{name}/api"),
        format!("/ri/{name}/web"),
        format!("/ri/{name}/batch#2"),
    ];
    let hours: Vec<i64> = (21..25).map(|h| day + h * HOUR_MS).collect();
    let mut keys = Vec::new();
    for g in &groups {
        for (n, h) in hours.iter().enumerate() {
            let events: Vec<synth::Event> = (0..5)
                .map(|i| synth::Event {
                    id: format!("{}{n}{i:02}", 3_000_000 + keys.len()),
                    timestamp: h + 60_000 * i64::from(i) + 1,
                    message: format!("{g} hour {n} line {i}"),
                })
                .collect();
            let docs = carry::documents(g, "web/1", &events).await.unwrap();
            let date = logcore::base::time::DateTimeParts::from_millis(*h).date();
            let key = format!(
                "logs/{}/{date}/{name}-part-{n}.gz",
                g.trim_start_matches('/')
            );
            let gz = logcore::base::codec::gzip(&docs, 1);
            w.s3.client()
                .put_object()
                .bucket(&name)
                .key(&key)
                .body(ByteStream::from(gz))
                .send()
                .await
                .unwrap();
            keys.push(key);
        }
    }
    // The live delivery.
    for k in &keys {
        carry::forward(&w.forwarder, &w.s3, &w.search, &name, k)
            .await
            .unwrap();
    }
    let live = format!("{name}-app-*");
    let before = w.counts(&live).await;
    assert_eq!(before.values().sum::<u64>(), 60);
    assert_eq!(before.len(), 12);
    // An older object gone to Glacier Flexible Retrieval: five more events of the api group's first hour.
    let cold_events: Vec<synth::Event> = (0..5)
        .map(|i| synth::Event {
            id: format!("{}{i:02}", 4_000_000),
            timestamp: hours[0] + 30 * 60_000 + i64::from(i),
            message: format!("cold {i}"),
        })
        .collect();
    let cold_docs = carry::documents(&groups[0], "web/1", &cold_events)
        .await
        .unwrap();
    let cold_key = format!("logs/ri/{name}/api/2026-03-01/{name}-part-cold.gz");
    w.s3.client()
        .put_object()
        .bucket(&name)
        .key(&cold_key)
        .storage_class(StorageClass::Glacier)
        .body(ByteStream::from(logcore::base::codec::gzip(&cold_docs, 1)))
        .send()
        .await
        .unwrap();

    // The live indices are deleted (retention, a hand).
    let hits = w
        .call(
            reqwest::Method::POST,
            &format!("/{live}/_search"),
            Some(json!({"size": 10_000, "_source": false})),
        )
        .await;
    let indices: std::collections::BTreeSet<&str> = hits["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_index"].as_str().unwrap())
        .collect();
    assert_eq!(indices.len(), 2, "{indices:?}");
    for index in indices {
        w.call(reqwest::Method::DELETE, &format!("/{index}"), None)
            .await;
    }
    assert!(w.counts(&live).await.is_empty());

    // One group, two hours (22:00 to midnight): exactly its two objects of that date; the archived one is
    // reported, not sent.
    let bar = indicatif::ProgressBar::hidden();
    let api = w.job(&[groups[0].as_str()], hours[1], hours[3], &dir);
    let out = reindex::run(&api, w.s3.as_ref(), &w.queue, &bar)
        .await
        .unwrap();
    assert_eq!(out.archived.len(), 1);
    assert_eq!(out.archived[0].class, "GLACIER");
    let got = w.consume().await;
    // The partitioned layout selects whole days: 21:00 and 22:00 and 23:00 are of 2026-03-01.
    let mut want: Vec<String> = keys[..3].to_vec();
    want.sort();
    assert_eq!(got.keys, want);
    assert_eq!((got.indexed, got.already), (15, 0));

    // Every group, both days, cut after one batch of ten, then resumed: the other two objects only.
    let all = w.job(&["/ri/*"], hours[0], hours[3] + HOUR_MS, &dir);
    let cut = CutQueue {
        inner: &w.queue,
        batches: std::sync::Mutex::new(1),
    };
    let e = reindex::run(&all, w.s3.as_ref(), &cut, &bar)
        .await
        .unwrap_err();
    assert!(e.contains("the network went away"), "{e}");
    assert!(all.state_path.exists());
    let out = reindex::run(&all, w.s3.as_ref(), &w.queue, &bar)
        .await
        .unwrap();
    assert_eq!((out.resumed_objects, out.sent_objects), (10, 2));
    let got = w.consume().await;
    assert_eq!(got.keys.len(), 12);
    assert_eq!((got.indexed, got.already), (45, 15));
    assert_eq!(
        w.counts(&live).await,
        before,
        "the counts by group and hour are back"
    );

    // Again (--restart: the state kept for the archived object is set aside): nothing new, 409s only.
    std::fs::remove_file(&all.state_path).unwrap();
    let out = reindex::run(&all, w.s3.as_ref(), &w.queue, &bar)
        .await
        .unwrap();
    assert_eq!((out.resumed_objects, out.sent_objects), (0, 12));
    let got = w.consume().await;
    assert_eq!((got.indexed, got.already), (0, 60));

    // The archived object: restored on request; sent once S3 says the copy is there.
    let mut cold = all.clone();
    cold.restore = Some((1, "Standard".into()));
    let out = reindex::run(&cold, w.s3.as_ref(), &w.queue, &bar)
        .await
        .unwrap();
    assert_eq!(out.restores_requested + out.restores_in_progress, 1);
    assert_eq!((out.resumed_objects, out.sent_objects), (12, 0));
    assert_eq!(w.consume().await, Consumed::default());
    let out = reindex::run(&cold, w.s3.as_ref(), &w.queue, &bar)
        .await
        .unwrap();
    assert!(out.archived.is_empty(), "{out:?}");
    let got = w.consume().await;
    assert!(got.keys.contains(&cold_key), "{got:?}");
    assert_eq!(got.indexed, 5);

    // A restore label: the same documents in indices of their own, the live ones untouched.
    let live_now = w.counts(&live).await;
    let mut restore = w.job(&[groups[1].as_str()], hours[0], hours[3] + HOUR_MS, &dir);
    restore.restore_label = Some("audit-q1".into());
    reindex::run(&restore, w.s3.as_ref(), &w.queue, &bar)
        .await
        .unwrap();
    let got = w.consume().await;
    assert_eq!((got.indexed, got.already), (20, 0));
    let restored = w.counts(&format!("restore-audit-q1-{name}-app-*")).await;
    let want: BTreeMap<(String, i64), u64> = before
        .iter()
        .filter(|((g, _), _)| *g == groups[1])
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(restored, want);
    assert_eq!(w.counts(&live).await, live_now);
    std::fs::remove_dir_all(&dir).unwrap();
}
