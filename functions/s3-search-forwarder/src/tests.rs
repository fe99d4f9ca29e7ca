//! The handler against in-memory S3 and a scripted `_bulk` endpoint that keeps an index and injects faults.

use logpipe_io::lambda::Deadline;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logcore::logs::s3event::ObjectRef;
use serde_json::{json, Value};

use logpipe_io::store::MemStore;

use super::*;

/// Dead-letter records under `prefix`, in key order.
fn dead_letters(store: &MemStore, prefix: &str) -> Vec<Value> {
    store
        .keys(prefix)
        .iter()
        .flat_map(|(bucket, key)| {
            let body = store.body(bucket, key).unwrap();
            String::from_utf8(body)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// What the fake engine does to a request.
#[derive(Debug, Clone, PartialEq)]
enum Fault {
    /// Answer the whole request with this status.
    Status(u16),
    /// Answer 429 to every other item (the rest are processed).
    ItemStorm,
    /// Take longer than the request timeout, without indexing anything.
    Slow,
    /// Reset the connection before answering, after indexing (the client cannot know).
    ResetAfterIndexing,
    /// Refuse every item with this status, error type and reason (nothing indexed).
    Refuse(u16, &'static str, &'static str),
}

#[derive(Default)]
struct FakeSearch {
    /// Indexed documents by (index, id).
    index: Mutex<test_support::BulkIndex>,
    /// Faults for the next requests, in order.
    faults: Mutex<Vec<Fault>>,
    requests: Mutex<u64>,
    /// How long every request takes (a slow but healthy cluster).
    delay: Duration,
}

impl FakeSearch {
    fn with_faults(faults: Vec<Fault>) -> Self {
        FakeSearch {
            faults: Mutex::new(faults),
            ..Default::default()
        }
    }
    fn docs(&self) -> Vec<Value> {
        self.index.lock().unwrap().values().cloned().collect()
    }
}

impl Search for FakeSearch {
    async fn bulk(&self, body: Vec<u8>, gzip: bool) -> Result<Reply, CallError> {
        *self.requests.lock().unwrap() += 1;
        tokio::time::sleep(self.delay).await;
        let fault = {
            let mut f = self.faults.lock().unwrap();
            (!f.is_empty()).then(|| f.remove(0))
        };
        let body = if gzip {
            logcore::base::codec::gunzip_capped(&body, 1 << 30).expect("gzip body")
        } else {
            body
        };
        match &fault {
            Some(Fault::Status(s)) => {
                return Ok(Reply {
                    status: *s,
                    body: br#"{"error":"injected"}"#.to_vec(),
                    retry_after: (*s == 429).then_some(Duration::from_millis(1)),
                })
            }
            Some(Fault::Slow) => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Some(Fault::Refuse(status, kind, reason)) => {
                let items: Vec<Value> = body
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .step_by(2)
                    .map(|_| json!({"create": {"_index": "i", "status": status, "error": {"type": kind, "reason": reason}}}))
                    .collect();
                return Ok(Reply {
                    status: 200,
                    body: serde_json::to_vec(&json!({"errors": true, "items": items})).unwrap(),
                    retry_after: None,
                });
            }
            _ => {}
        }
        let answer = test_support::index_bulk(
            &mut self.index.lock().unwrap(),
            &body,
            fault == Some(Fault::ItemStorm),
        );
        if fault == Some(Fault::ResetAfterIndexing) {
            return Err(CallError::retryable("connection reset by peer"));
        }
        Ok(Reply {
            status: 200,
            body: serde_json::to_vec(&answer).unwrap(),
            retry_after: None,
        })
    }
}

fn cfg() -> Config {
    let mut c = Config::new("http://search.invalid");
    c.bulk_max_actions = 7;
    c.request_timeout = Duration::from_millis(200);
    c.backoff.base = Duration::from_millis(1);
    c.backoff.max_delay = Duration::from_millis(5);
    c.common.deadline_margin = Duration::ZERO;
    c
}

fn s3_event(keys: &[&str]) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .map(|k| json!({"eventSource":"aws:s3","eventName":"ObjectCreated:Put","eventTime":"2026-11-21T10:00:00.000Z",
            "s3":{"bucket":{"name":"logs"},"object":{"key": k, "size": 1}}}))
        .collect();
    json!({ "Records": records })
}

/// 50 lines: documents from our transforms, foreign JSON, text, broken JSON, a mapping conflict, and a
/// line that is not UTF-8; gzip in two members.
fn object() -> (Vec<u8>, usize) {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for i in 0..50 {
        let line = match i % 6 {
            0 => format!(
                r#"{{"@timestamp":"2026-11-21T09:00:{:02}.000Z","message":"m{i}","event":{{"id":"ev{i}"}},"log":{{"group":"/ecs/api"}}}}"#,
                i % 60
            ),
            1 => format!(r#"{{"level":"info","n":{i}}}"#),
            2 => format!("plain text line {i}"),
            3 => format!("{{\"broken\": {i}"),
            4 => format!(
                r#"{{"@timestamp":"2026-11-21T09:00:00Z","message":"MAPPING-CONFLICT {i}"}}"#
            ),
            _ => format!(r#"{{"a":{i}}}{{"b":{i}}}"#),
        };
        lines.push(line.into_bytes());
    }
    lines.push(b"caf\xe9".to_vec());
    // Units: the `{a}{b}` lines are two each.
    let units = lines.len() + (0..50).filter(|i| i % 6 == 5).count();
    let plain: Vec<u8> = lines.join(&b'\n');
    let mut gz = logcore::base::codec::gzip(&plain[..plain.len() / 2], 6);
    gz.extend(logcore::base::codec::gzip(&plain[plain.len() / 2..], 6));
    (gz, units)
}

async fn run(
    cfg: &Config,
    store: &Arc<MemStore>,
    search: &Arc<FakeSearch>,
    event: &Value,
) -> (Result<Response, InvocationError>, Summary) {
    let deadline =
        logpipe_io::lambda::Deadline::after(Duration::from_secs(30), cfg.common.deadline_margin);
    handle(cfg, store, search, event, deadline).await
}

/// Every unit is indexed once or dead-lettered once, whatever the faults, and a redelivery changes
/// nothing.
#[tokio::test]
async fn every_line_indexed_or_dead_lettered_under_faults() {
    let scenarios: Vec<(&str, Vec<Fault>)> = vec![
        ("clean", vec![]),
        ("429 storm", vec![Fault::Status(429); 6]),
        ("503", vec![Fault::Status(503), Fault::Status(503)]),
        ("item-level 429", vec![Fault::ItemStorm; 5]),
        ("slow past the timeout", vec![Fault::Slow, Fault::Slow]),
        (
            "connection resets",
            vec![Fault::ResetAfterIndexing, Fault::ResetAfterIndexing],
        ),
    ];
    for (name, faults) in scenarios {
        let store = Arc::new(MemStore::default());
        let (obj, units) = object();
        store.insert("logs", "app/x.gz", obj);
        let search = Arc::new(FakeSearch::with_faults(faults));
        let ev = s3_event(&["app/x.gz"]);
        let (res, s) = run(&cfg(), &store, &search, &ev).await;
        assert!(res.is_ok(), "{name}: {res:?}");
        let dead = dead_letters(&store, "failed/");
        let indexed = search.docs().len();
        assert_eq!(s.forwarded.units as usize, units, "{name}");
        assert_eq!(
            indexed + dead.len(),
            units,
            "{name}: {indexed} indexed + {} dead letters",
            dead.len()
        );
        assert_eq!(s.forwarded.dead_lettered as usize, dead.len(), "{name}");
        assert_eq!(
            (s.forwarded.indexed + s.forwarded.already_indexed) as usize,
            indexed,
            "{name}"
        );
        // Dead letters: the 8 mapping conflicts (with the engine's reason) and the non-UTF-8 line.
        assert_eq!(dead.len(), 9, "{name}");
        assert!(dead
            .iter()
            .any(|d| d["error_type"] == "mapper_parsing_exception" && d["status"] == 400));
        assert!(dead
            .iter()
            .any(|d| d["reason"].as_str().unwrap().contains("UTF-8") && d["base64"].is_string()));

        // A forced redelivery: nothing new is indexed or dead-lettered.
        let keys_before = store.keys("").len();
        let (res, s2) = run(&cfg(), &store, &search, &ev).await;
        assert!(res.is_ok(), "{name}: {res:?}");
        assert_eq!(
            search.docs().len(),
            indexed,
            "{name}: duplicates after redelivery"
        );
        assert_eq!(s2.forwarded.indexed, 0, "{name}");
        assert_eq!(s2.forwarded.already_indexed as usize, indexed, "{name}");
        assert_eq!(
            store.keys("").len(),
            keys_before,
            "{name}: same dead-letter keys"
        );
        assert_eq!(dead_letters(&store, "failed/").len(), dead.len(), "{name}");
    }
}

#[tokio::test]
async fn documents_as_indexed() {
    let store = Arc::new(MemStore::default());
    store.insert("logs", "app/x.gz", object().0);
    let search = Arc::new(FakeSearch::default());
    run(&cfg(), &store, &search, &s3_event(&["app/x.gz"]))
        .await
        .0
        .unwrap();
    let index = search.index.lock().unwrap();
    let ours = &index[&("logs-app-2026.11.21".to_string(), "ev0".to_string())];
    assert_eq!(ours["message"], "m0");
    let wrapped = index
        .values()
        .find(|d| d["json"]["level"] == "info")
        .expect("wrapped JSON");
    assert_eq!(wrapped["@timestamp"], "2026-11-21T10:00:00Z");
    // log.level, read as the notifier reads it, on wrapped documents too.
    assert_eq!(wrapped["log"]["level"], "info");
    assert_eq!(wrapped["log"]["file"]["path"], "s3://logs/app/x.gz");
    assert!(index.values().any(|d| d["message"] == "plain text line 2"));
    assert!(index.values().any(|d| d["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("not valid JSON"))));
    assert!(index.values().any(|d| d["json"]["b"] == 5));
}

#[tokio::test]
async fn deadline_fails_the_invocation_and_sqs_reports_the_message() {
    let store = Arc::new(MemStore::default());
    store.insert("logs", "a.gz", object().0);
    store.insert("logs", "b.gz", object().0);
    // Every request answers 503: attempts run out.
    let search = Arc::new(FakeSearch::with_faults(vec![Fault::Status(503); 1000]));
    let mut c = cfg();
    c.backoff.max_attempts = 3;
    let (res, s) = run(&c, &store, &search, &s3_event(&["a.gz"])).await;
    let err = res.unwrap_err();
    assert!(
        err.0
            .contains("1 of 1 objects not fully indexed; first: s3://logs/a.gz")
            && err.0.contains("503"),
        "{err}"
    );
    assert_eq!(s.objects_failed, 1);

    // SQS: only the message whose object failed comes back; an unreadable message too.
    let ok_store = Arc::new(MemStore::default());
    ok_store.insert("logs", "a.gz", object().0);
    let sqs = json!({"Records":[
        {"eventSource":"aws:sqs","messageId":"m1","body": s3_event(&["a.gz"]).to_string()},
        {"eventSource":"aws:sqs","messageId":"m2","body": s3_event(&["gone.gz"]).to_string()},
        {"eventSource":"aws:sqs","messageId":"m3","body": "{oops"}]});
    let healthy = Arc::new(FakeSearch::default());
    let (res, s) = run(&cfg(), &ok_store, &healthy, &sqs).await;
    assert_eq!(
        res.unwrap(),
        Response::Sqs {
            batch_item_failures: vec![ItemFailure {
                item_identifier: "m3".into()
            }]
        }
    );
    // A missing object is not a failure (nothing to index), and is counted.
    assert_eq!((s.objects_missing, s.messages_failed), (1, 1));

    let failing = Arc::new(FakeSearch::with_faults(vec![Fault::Status(503); 1000]));
    let (res, _) = run(&c, &ok_store, &failing, &sqs).await;
    let Response::Sqs {
        batch_item_failures,
    } = res.unwrap()
    else {
        panic!("sqs")
    };
    let ids: Vec<_> = batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(ids, ["m1", "m3"]);
}

#[tokio::test]
async fn auth_errors_fail_without_dead_letters_and_413_splits() {
    let store = Arc::new(MemStore::default());
    store.insert("logs", "a.gz", object().0);
    // One request at a time: the 403 stops the object before any other batch is sent.
    let mut one = cfg();
    one.in_flight = 1;
    let search = Arc::new(FakeSearch::with_faults(vec![Fault::Status(403)]));
    let (res, s) = run(&one, &store, &search, &s3_event(&["a.gz"])).await;
    assert!(res.unwrap_err().0.contains("403"));
    assert_eq!(s.forwarded.dead_lettered, 0);
    assert!(dead_letters(&store, "failed/").is_empty());
    // Several in flight: batches sent beside the refused one may come back and have their rejected
    // documents dead-lettered (the same keys again on redelivery), but never the refused batch's.
    let search = Arc::new(FakeSearch::with_faults(vec![Fault::Status(403)]));
    let (res, _) = run(&cfg(), &store, &search, &s3_event(&["a.gz"])).await;
    assert!(res.unwrap_err().0.contains("403"));
    for d in dead_letters(&store, "failed/") {
        assert_eq!(d["error_type"], "mapper_parsing_exception", "{d}");
    }

    // 413 twice: the batch is split in halves, then quarters, and everything still arrives.
    let store = Arc::new(MemStore::default());
    let (obj, units) = object();
    store.insert("logs", "a.gz", obj);
    let search = Arc::new(FakeSearch::with_faults(vec![
        Fault::Status(413),
        Fault::Status(413),
    ]));
    let (res, _) = run(&cfg(), &store, &search, &s3_event(&["a.gz"])).await;
    res.unwrap();
    assert_eq!(
        search.docs().len() + dead_letters(&store, "failed/").len(),
        units
    );
}

#[tokio::test]
async fn own_dead_letters_and_read_errors() {
    let store = Arc::new(MemStore::default());
    let search = Arc::new(FakeSearch::default());
    // Our own dead-letter objects are never indexed (no loop through the bucket notification).
    store.insert("logs", "failed/x.ndjson", b"{\"reason\":\"x\"}\n".to_vec());
    let (res, s) = run(&cfg(), &store, &search, &s3_event(&["failed/x.ndjson"])).await;
    res.unwrap();
    assert_eq!((s.notifications_ignored, search.docs().len()), (1, 0));
    // A GetObject error fails the object (delivered again); a corrupt object is dead-lettered from the
    // point where it breaks.
    store.fail_gets(1);
    store.insert("logs", "a.gz", object().0);
    assert!(run(&cfg(), &store, &search, &s3_event(&["a.gz"]))
        .await
        .0
        .is_err());
    let mut corrupt = logcore::base::codec::gzip(b"line one\nline two\n", 6);
    let n = corrupt.len();
    corrupt[n / 2] ^= 0xff;
    corrupt.truncate(n - 3);
    store.insert("logs", "bad.gz", corrupt);
    let (res, s) = run(&cfg(), &store, &search, &s3_event(&["bad.gz"])).await;
    res.unwrap();
    let dead = dead_letters(&store, "failed/logs/bad.gz");
    assert_eq!(s.forwarded.dead_lettered, 1);
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("unreadable"),
        "{dead:?}"
    );
}

/// `n` documents as the transform writes them, one gzip member.
fn transform_documents(n: usize) -> Vec<u8> {
    let mut plain = String::new();
    for i in 0..n {
        plain.push_str(&format!(
            r#"{{"@timestamp":"2026-11-21T09:{:02}:{:02}.000Z","message":"request {i} served","event":{{"id":"ev{i}"}},"log":{{"group":"/ecs/api"}}}}"#,
            i / 60 % 60,
            i % 60
        ));
        plain.push('\n');
    }
    logcore::base::codec::gzip(plain.as_bytes(), 6)
}

/// A cluster that answers every request correctly, after 100 ms: an object that needs 15 requests cannot
/// be done in one invocation of 750 ms. No request starts that could not finish before the deadline, the
/// invocation reports the message failed before its deadline, and each redelivery resumes at its checkpoint:
/// every document is sent once (no 409), and the object is done in about four invocations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_cluster_never_runs_past_the_deadline_and_redeliveries_resume() {
    let store = Arc::new(MemStore::default());
    store.insert("logs", "app/slow.gz", transform_documents(300));
    let search = Arc::new(FakeSearch {
        delay: Duration::from_millis(100),
        ..FakeSearch::default()
    });
    let mut c = cfg();
    c.in_flight = 1;
    c.bulk_max_actions = 20;
    c.request_timeout = Duration::from_millis(300);
    c.common.deadline_margin = Duration::from_millis(100);
    let budget = Duration::from_millis(750);
    let sqs = json!({"Records":[{"eventSource":"aws:sqs","messageId":"m1","body": s3_event(&["app/slow.gz"]).to_string()}]});
    let mut total = Summary::default();
    let mut invocations = 0;
    loop {
        invocations += 1;
        assert!(invocations <= 10, "the object never finished: {total:?}");
        let start = tokio::time::Instant::now();
        let (res, s) = handle(
            &c,
            &store,
            &search,
            &sqs,
            Deadline::new(start + budget, c.common.deadline_margin),
        )
        .await;
        let took = start.elapsed();
        assert!(
            took < budget,
            "invocation {invocations} answered after {took:?}"
        );
        let Response::Sqs {
            batch_item_failures,
        } = res.unwrap()
        else {
            panic!("an SQS answer")
        };
        total.forwarded.indexed += s.forwarded.indexed;
        total.forwarded.already_indexed += s.forwarded.already_indexed;
        total.forwarded.bulk_requests += s.forwarded.bulk_requests;
        total.forwarded.units_resumed += s.forwarded.units_resumed;
        if batch_item_failures.is_empty() {
            break;
        }
        assert_eq!(s.checkpoints_written, 1, "invocation {invocations}: {s:?}");
        let ck = checkpoint::key(
            "checkpoints/",
            &logcore::search::bulk::Origin::new("logs", "app/slow.gz", "etag-1", ""),
        );
        let saved = store.body("logs", &ck).unwrap();
        let saved = checkpoint::Checkpoint::parse(&saved).unwrap();
        // Exactly what was acknowledged: the units read ahead but not indexed are not in it.
        assert_eq!(
            saved.units,
            s.forwarded.units_resumed + s.forwarded.indexed,
            "{s:?}"
        );
    }
    assert!((3..=6).contains(&invocations), "{invocations} invocations");
    assert_eq!(search.docs().len(), 300);
    assert_eq!(
        (total.forwarded.indexed, total.forwarded.already_indexed),
        (300, 0),
        "{total:?}"
    );
    assert_eq!(
        total.forwarded.bulk_requests, 15,
        "each batch sent once: {total:?}"
    );
    assert!(total.forwarded.units_resumed > 0);
    assert!(
        store.keys("checkpoints/").is_empty(),
        "the checkpoint is deleted once the object is done"
    );
}

/// Not enough time for one request: nothing is sent, nothing read, the object is failed at once.
#[tokio::test]
async fn no_request_starts_without_time_to_finish() {
    let store = Arc::new(MemStore::default());
    store.insert("logs", "a.gz", transform_documents(10));
    let search = Arc::new(FakeSearch::default());
    let c = cfg();
    let deadline =
        logpipe_io::lambda::Deadline::after(c.request_timeout / 2, c.common.deadline_margin);
    let (res, s) = handle(&c, &store, &search, &s3_event(&["a.gz"]), deadline).await;
    let e = res.unwrap_err();
    assert!(e.0.contains("not started"), "{e}");
    assert_eq!(
        (s.forwarded.bulk_requests, *search.requests.lock().unwrap()),
        (0, 0)
    );
}

/// A checkpoint that does not describe the object's bytes is never trusted: it is removed, and the next
/// delivery reads the object from the start. One that cannot be parsed is ignored.
#[tokio::test]
async fn stale_or_broken_checkpoints_cost_nothing_but_409s() {
    let store = Arc::new(MemStore::default());
    store.insert("logs", "a.gz", transform_documents(30));
    let ck = checkpoint::key(
        "checkpoints/",
        &logcore::search::bulk::Origin::new("logs", "a.gz", "etag-1", ""),
    );
    let search = Arc::new(FakeSearch::default());
    store.insert(
        "logs",
        &ck,
        checkpoint::Checkpoint {
            units: 10,
            offset: 7,
            after_cap: false,
        }
        .to_json(),
    );
    let (res, _) = run(&cfg(), &store, &search, &s3_event(&["a.gz"])).await;
    assert!(res.unwrap_err().0.contains("does not match the object"));
    assert!(store.body("logs", &ck).is_none());
    let (res, s) = run(&cfg(), &store, &search, &s3_event(&["a.gz"])).await;
    res.unwrap();
    assert_eq!((s.forwarded.units, s.forwarded.indexed), (30, 30));
    store.insert("logs", &ck, b"{not json".to_vec());
    let (res, s) = run(&cfg(), &store, &search, &s3_event(&["a.gz"])).await;
    res.unwrap();
    assert_eq!(
        (
            s.forwarded.units,
            s.forwarded.already_indexed,
            s.forwarded.units_resumed
        ),
        (30, 30, 0)
    );
    assert!(store.body("logs", &ck).is_none());
}

/// Documents the cluster refuses for its own reasons (shard limit, write block) are dead-lettered with
/// that cause and counted apart from mapping errors.
#[tokio::test]
async fn cluster_level_refusals_are_named_in_dead_letters_and_counted() {
    let store = Arc::new(MemStore::default());
    store.insert("logs", "a.gz", transform_documents(5));
    let shard_limit = "Validation Failed: 1: this action would add [2] total shards, but this cluster currently has [1000]/[1000] maximum shards open;";
    let search = Arc::new(FakeSearch::with_faults(vec![Fault::Refuse(
        400,
        "validation_exception",
        shard_limit,
    )]));
    let (res, s) = run(&cfg(), &store, &search, &s3_event(&["a.gz"])).await;
    res.unwrap();
    assert_eq!(
        (s.forwarded.dead_lettered, s.forwarded.refused_by_cluster),
        (5, 5)
    );
    let dead = dead_letters(&store, "failed/");
    assert!(
        dead.iter()
            .all(|d| d["cause"] == "shard_limit" && d["status"] == 400),
        "{dead:?}"
    );
    // A mapping error is the document's: counted as dead-lettered only.
    store.insert("logs", "b.gz", object().0);
    let (res, s) = run(
        &cfg(),
        &store,
        &Arc::new(FakeSearch::default()),
        &s3_event(&["b.gz"]),
    )
    .await;
    res.unwrap();
    assert_eq!(
        (s.forwarded.dead_lettered, s.forwarded.refused_by_cluster),
        (9, 0)
    );
    let dead = dead_letters(&store, "failed/logs/b.gz");
    assert!(dead.iter().any(|d| d["cause"] == "document"));
    assert!(dead.iter().any(|d| d["cause"] == "unreadable"));
}

/// An object whose body never delivers a byte: the invocation still answers before its deadline, with the
/// object failed (delivered again), instead of waiting for the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_object_body_fails_before_the_deadline() {
    struct Stalled(Mutex<Vec<tokio::io::DuplexStream>>);
    impl Store for Stalled {
        async fn get(&self, obj: &ObjectRef) -> Result<Opened, CallError> {
            if obj.key.starts_with("checkpoints/") {
                return Err(CallError::not_found("NoSuchKey"));
            }
            let (keep, body) = tokio::io::duplex(64);
            self.0.lock().unwrap().push(keep);
            Ok(Opened {
                body: Box::pin(body),
                last_modified: None,
                etag: Some("e".into()),
                version_id: None,
            })
        }
        async fn put(&self, _: &str, _: &str, _: Vec<u8>) -> Result<(), CallError> {
            Ok(())
        }
        async fn delete(&self, _: &str, _: &str) -> Result<(), CallError> {
            Ok(())
        }
    }
    let store = Arc::new(Stalled(Mutex::default()));
    let search = Arc::new(FakeSearch::default());
    let mut c = cfg();
    c.request_timeout = Duration::from_millis(100);
    c.common.deadline_margin = Duration::from_millis(200);
    let budget = Duration::from_millis(800);
    let start = tokio::time::Instant::now();
    let (res, _) = handle(
        &c,
        &store,
        &search,
        &s3_event(&["a.gz"]),
        Deadline::new(start + budget, c.common.deadline_margin),
    )
    .await;
    let took = start.elapsed();
    assert!(took < budget, "answered after {took:?}");
    assert!(res.unwrap_err().0.contains("while reading the object"));
}

/// A message with a restore label (`logpipe reindex --restore-index`) indexes its objects under the label's
/// names with the live ids; the live indices get nothing; a label no index name could carry fails its
/// message alone.
#[tokio::test]
async fn restore_labels_index_into_their_own_indices() {
    let store = Arc::new(MemStore::default());
    store.insert("logs", "a.gz", object().0);
    let live = Arc::new(FakeSearch::default());
    let body = s3_event(&["a.gz"]).to_string();
    let plain = json!({"Records":[{"eventSource":"aws:sqs","messageId":"m1","body": body}]});
    let (res, s) = run(&cfg(), &store, &live, &plain).await;
    assert!(
        matches!(res, Ok(Response::Sqs { ref batch_item_failures }) if batch_item_failures.is_empty())
    );
    let live_keys: Vec<(String, String)> = live.index.lock().unwrap().keys().cloned().collect();

    let restored = Arc::new(FakeSearch::default());
    let attr =
        |label: &str| json!({"logpipe.restore": {"stringValue": label, "dataType": "String"}});
    let sqs = json!({"Records":[
        {"eventSource":"aws:sqs","messageId":"r1","body": body, "messageAttributes": attr("audit-q1")},
        {"eventSource":"aws:sqs","messageId":"r2","body": body, "messageAttributes": attr("../x")}]});
    let (res, r) = run(&cfg(), &store, &restored, &sqs).await;
    assert_eq!(
        res.unwrap(),
        Response::Sqs {
            batch_item_failures: vec![ItemFailure {
                item_identifier: "r2".into()
            }]
        }
    );
    assert_eq!(
        (r.forwarded.indexed, r.messages_failed),
        (s.forwarded.indexed, 1)
    );
    let restored_keys: Vec<(String, String)> =
        restored.index.lock().unwrap().keys().cloned().collect();
    let want: Vec<(String, String)> = live_keys
        .iter()
        .map(|(i, id)| (format!("restore-audit-q1-{i}"), id.clone()))
        .collect();
    assert_eq!(restored_keys, want);
    assert!(!want.is_empty());
}

/// The SQS event of messages asking for a redrive of these dead-letter objects.
fn redrive_event(keys: &[String], disposal: &str) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let body = json!({"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put",
                "s3":{"bucket":{"name":"logs"},"object":{"key": k.replace(' ', "+"), "size": 1}}}]});
            json!({"eventSource":"aws:sqs","messageId": format!("d{i}"), "body": body.to_string(),
                   "messageAttributes":{"logpipe.redrive":{"stringValue": disposal, "dataType":"String"}}})
        })
        .collect();
    json!({ "Records": records })
}

fn failures(res: Result<Response, InvocationError>) -> Vec<String> {
    match res.unwrap() {
        Response::Sqs {
            batch_item_failures,
        } => batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// Documents a cluster refused are redriven once it takes them: each indexed with its original index and
/// id, the dead-letter objects whose documents all went in moved (or deleted), those with documents
/// refused again rewritten with just them and their new reason; unreadable lines are kept; an object
/// that is not a dead letter is refused; a second redrive changes nothing.
#[tokio::test]
async fn refused_documents_are_redriven_with_their_ids_and_outcomes() {
    let store = Arc::new(MemStore::default());
    store.insert("logs", "a.gz", object().0);
    let c = cfg();
    // The cluster refuses every document (a mapping, a closed index), then is fixed.
    let search = Arc::new(FakeSearch::with_faults(vec![
        Fault::Refuse(
            400,
            "mapper_parsing_exception",
            "failed to parse field [json.n] of type [date]",
        );
        100
    ]));
    let (res, first) = run(&c, &store, &search, &s3_event(&["a.gz"])).await;
    res.unwrap();
    assert_eq!(first.forwarded.indexed, 0);
    search.faults.lock().unwrap().clear();
    let rejected: Vec<String> = store
        .keys("failed/")
        .into_iter()
        .map(|(_, k)| k)
        .filter(|k| k.ends_with("-rejected.ndjson"))
        .collect();
    let unreadable: Vec<String> = store
        .keys("failed/")
        .into_iter()
        .map(|(_, k)| k)
        .filter(|k| k.ends_with("-unreadable.ndjson"))
        .collect();
    assert!(rejected.len() > 2 && !unreadable.is_empty());
    let dead_before = dead_letters(&store, "failed/");
    let conflicts = dead_before
        .iter()
        .filter(|d| d["document"].to_string().contains("MAPPING-CONFLICT"))
        .count();
    assert!(conflicts > 0);

    // Redrive every dead-letter object, the unreadable ones too.
    let mut all = rejected.clone();
    all.extend(unreadable.clone());
    let (res, s) = run(&c, &store, &search, &redrive_event(&all, "move")).await;
    assert_eq!(failures(res), Vec::<String>::new());
    let refused = first.forwarded.dead_lettered - unreadable_count(&dead_before);
    assert_eq!(s.forwarded.indexed, refused - conflicts as u64);
    assert_eq!(s.forwarded.dead_lettered, conflicts as u64);
    assert_eq!(s.dead_letter_objects_redriven, all.len() as u64);
    // Indexed as the refused action said: the original index and id.
    let docs = search.index.lock().unwrap().clone();
    for d in dead_before.iter().filter(|d| d.get("action").is_some()) {
        let (index, id) = (
            &d["action"]["create"]["_index"],
            &d["action"]["create"]["_id"],
        );
        let there =
            docs.contains_key(&(index.as_str().unwrap().into(), id.as_str().unwrap().into()));
        let conflict = d["document"].to_string().contains("MAPPING-CONFLICT");
        assert_eq!(there, !conflict, "{d}");
    }
    // What is left under failed/: the conflicts with their new reason, and the unreadable lines as they
    // were; everything redriven is kept under failed-redriven/.
    let left = dead_letters(&store, "failed/");
    assert_eq!(
        left.len(),
        conflicts + unreadable_count(&dead_before) as usize
    );
    for d in &left {
        if d.get("action").is_some() {
            assert_eq!(d["reason"], "failed to parse field [n]", "{d}");
            assert_eq!(d["error_type"], "mapper_parsing_exception");
        }
    }
    for k in &unreadable {
        assert!(store.body("logs", k).is_some(), "{k} kept");
        assert!(store
            .body("logs", &k.replace("failed/", "failed-redriven/"))
            .is_none());
    }
    let moved: Vec<String> = rejected
        .iter()
        .filter(|k| store.body("logs", k).is_none())
        .cloned()
        .collect();
    assert!(!moved.is_empty() && moved.len() < rejected.len());
    for k in &rejected {
        assert!(store
            .body("logs", &k.replace("failed/", "failed-redriven/"))
            .is_some());
    }

    // Again: the conflicts are refused again and stay; nothing else changes.
    let still: Vec<String> = rejected
        .iter()
        .filter(|k| store.body("logs", k).is_some())
        .cloned()
        .collect();
    let (res, s) = run(&c, &store, &search, &redrive_event(&still, "delete")).await;
    assert_eq!(failures(res), Vec::<String>::new());
    assert_eq!(
        (s.forwarded.indexed, s.forwarded.dead_lettered),
        (0, conflicts as u64)
    );
    assert_eq!(dead_letters(&store, "failed/").len(), left.len());

    // Not a dead letter, or a disposal nobody knows: the message fails, nothing is touched.
    let (res, s) = run(
        &c,
        &store,
        &search,
        &redrive_event(&["a.gz".to_string()], "move"),
    )
    .await;
    assert_eq!(failures(res), ["d0"]);
    assert_eq!(s.dead_letter_objects_failed, 1);
    let (res, _) = run(&c, &store, &search, &redrive_event(&still, "shred")).await;
    assert_eq!(failures(res).len(), still.len());
    assert!(store.body("logs", "a.gz").is_some());
}

#[tokio::test]
async fn a_redrive_with_every_document_indexed_deletes_when_asked() {
    let store = Arc::new(MemStore::default());
    let line = r#"{"@timestamp":"2026-11-21T09:00:00.000Z","message":"m","event":{"id":"e1"},"log":{"group":"/g"}}"#;
    store.insert("logs", "b.gz", format!("{line}\n").into_bytes());
    let c = cfg();
    let search = Arc::new(FakeSearch::with_faults(vec![Fault::Refuse(
        403,
        "cluster_block_exception",
        "index [logs-app-2026.11.21] blocked by: [FORBIDDEN/8/index write (api)]",
    )]));
    run(&c, &store, &search, &s3_event(&["b.gz"]))
        .await
        .0
        .unwrap();
    let keys: Vec<String> = store.keys("failed/").into_iter().map(|(_, k)| k).collect();
    assert_eq!(keys.len(), 1);
    // A record naming an index this forwarder does not write is kept, not sent.
    let body = store.body("logs", &keys[0]).unwrap();
    let foreign = String::from_utf8(body.clone())
        .unwrap()
        .replace("logs-app-2026.11.21", ".kibana")
        .replace("\"e1\"", "\"e2\"");
    let foreign_key = keys[0].replace("-rejected", "-foreign-rejected");
    store.insert("logs", &foreign_key, foreign.into_bytes());
    let (res, s) = run(&c, &store, &search, &redrive_event(&keys, "delete")).await;
    assert_eq!(failures(res), Vec::<String>::new());
    assert_eq!(s.forwarded.indexed, 1);
    assert!(store.keys("failed-redriven/").is_empty());
    assert!(store.body("logs", &keys[0]).is_none());
    let (res, s) = run(
        &c,
        &store,
        &search,
        &redrive_event(std::slice::from_ref(&foreign_key), "move"),
    )
    .await;
    assert_eq!(failures(res), Vec::<String>::new());
    assert_eq!(s.forwarded.indexed, 0);
    assert!(store.body("logs", &foreign_key).is_some());
    assert!(!search
        .index
        .lock()
        .unwrap()
        .keys()
        .any(|(i, _)| i == ".kibana"));
}

fn unreadable_count(dead: &[Value]) -> u64 {
    dead.iter().filter(|d| d.get("action").is_none()).count() as u64
}

/// A plain-text object of the example traces of every runtime (`examples/stack-traces.log`, its lines
/// between transform documents `times` over): each trace one document of its first line.
fn trace_object(times: usize) -> Vec<u8> {
    let traces = include_str!("../../../examples/stack-traces.log");
    let mut plain = String::new();
    for i in 0..times {
        plain.push_str(&format!(
            r#"{{"@timestamp":"2026-11-21T09:00:{:02}.000Z","message":"m{i}","event":{{"id":"ev{i}"}},"log":{{"group":"/ecs/api"}}}}"#,
            i % 60
        ));
        plain.push('\n');
        plain.push_str(traces);
    }
    logcore::base::codec::gzip(plain.as_bytes(), 6)
}

/// Text lines of a stack trace in a plain-text object are one document: the first line's (its id, its
/// offset), the lines joined, `event.joined.count`; the units still add up (indexed + joined), and with
/// `MULTILINE=false` every line is a document as before, the first lines under the same ids.
#[tokio::test]
async fn a_stack_trace_in_a_plain_text_object_is_one_document() {
    let store = Arc::new(MemStore::default());
    store.insert("logs", "app/traces.log.gz", trace_object(1));
    let search = Arc::new(FakeSearch::default());
    let (res, s) = run(&cfg(), &store, &search, &s3_event(&["app/traces.log.gz"])).await;
    assert!(res.is_ok(), "{res:?}");
    let f = &s.forwarded;
    assert_eq!(f.units, f.indexed + f.lines_joined, "{f:?}");
    let index = search.index.lock().unwrap().clone();
    let java = index
        .values()
        .find(|d| {
            d["message"]
                .as_str()
                .unwrap()
                .starts_with("2025-11-21T11:00:01.101Z org.springframework")
        })
        .expect("the Java trace");
    assert_eq!(java["event"]["joined"]["count"], 7, "{java}");
    assert!(java["message"]
        .as_str()
        .unwrap()
        .ends_with("\t... 87 common frames omitted"));
    let go = index
        .values()
        .find(|d| {
            d["message"]
                .as_str()
                .unwrap()
                .starts_with("panic: runtime error")
        })
        .expect("the Go panic");
    assert_eq!(go["event"]["joined"]["count"], 7, "{go}");
    assert!(go["message"].as_str().unwrap().ends_with("exit status 2"));
    // One document a trace: five traces, the rest lines alone.
    let joined: Vec<&Value> = index
        .values()
        .filter(|d| d["event"]["joined"].is_object())
        .collect();
    assert_eq!(joined.len(), 5, "{joined:?}");
    // Without joining: every line a document; the traces' first lines under the same ids.
    let mut off = cfg();
    off.multiline = None;
    let plain = Arc::new(FakeSearch::default());
    let (res, s) = run(&off, &store, &plain, &s3_event(&["app/traces.log.gz"])).await;
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(
        (s.forwarded.indexed, s.forwarded.lines_joined),
        (f.units, 0)
    );
    let lines = plain.index.lock().unwrap().clone();
    for (key, doc) in index
        .iter()
        .filter(|(_, d)| d["event"]["joined"].is_object())
    {
        let first = doc["message"].as_str().unwrap().split('\n').next().unwrap();
        assert_eq!(lines[key]["message"], first, "{key:?}");
    }
}

/// An object of traces that needs several invocations: a checkpoint never falls inside a trace (the lines
/// held back are sent by the next delivery), so every document is sent once, and the index is the one a
/// single delivery makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_resumed_mid_trace_index_what_one_delivery_does() {
    let store = Arc::new(MemStore::default());
    store.insert("logs", "app/traces.log.gz", trace_object(12));
    let whole = Arc::new(FakeSearch::default());
    let (res, _) = run(&cfg(), &store, &whole, &s3_event(&["app/traces.log.gz"])).await;
    assert!(res.is_ok(), "{res:?}");
    let search = Arc::new(FakeSearch {
        delay: Duration::from_millis(60),
        ..FakeSearch::default()
    });
    let mut c = cfg();
    c.in_flight = 1;
    c.bulk_max_actions = 9;
    c.request_timeout = Duration::from_millis(200);
    c.common.deadline_margin = Duration::from_millis(60);
    let sqs = json!({"Records":[{"eventSource":"aws:sqs","messageId":"m1","body": s3_event(&["app/traces.log.gz"]).to_string()}]});
    let (mut invocations, mut already, mut resumed) = (0, 0, 0);
    loop {
        invocations += 1;
        assert!(invocations <= 40, "the object never finished");
        let start = tokio::time::Instant::now();
        let (res, s) = handle(
            &c,
            &store,
            &search,
            &sqs,
            Deadline::new(start + Duration::from_millis(450), c.common.deadline_margin),
        )
        .await;
        already += s.forwarded.already_indexed;
        resumed += s.forwarded.units_resumed;
        let Response::Sqs {
            batch_item_failures,
        } = res.unwrap()
        else {
            panic!("an SQS answer")
        };
        if batch_item_failures.is_empty() {
            break;
        }
    }
    assert!(invocations > 2 && resumed > 0, "{invocations} invocations");
    assert_eq!(already, 0, "a document sent twice");
    let (a, b) = (
        whole.index.lock().unwrap().clone(),
        search.index.lock().unwrap().clone(),
    );
    assert_eq!(a.len(), b.len());
    assert_eq!(a, b);
}

/// Continuation lines that open an object (its trace's head in an earlier file) are one document flagged
/// `orphan`; the same lines after a JSON line are lines on their own, as a run grouped whole has them.
#[tokio::test]
async fn continuation_lines_are_an_orphan_only_where_the_object_begins() {
    let frames = "\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)\n";
    let store = Arc::new(MemStore::default());
    store.insert("logs", "app/head.log", frames.as_bytes().to_vec());
    store.insert(
        "logs",
        "app/after-json.log",
        format!("{{\"level\":\"info\"}}\n{frames}").into_bytes(),
    );
    let search = Arc::new(FakeSearch::default());
    let (res, s) = run(&cfg(), &store, &search, &s3_event(&["app/head.log"])).await;
    assert!(res.is_ok(), "{res:?}");
    assert_eq!((s.forwarded.indexed, s.forwarded.lines_joined), (1, 1));
    let doc = search
        .index
        .lock()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(
        doc["event"]["joined"],
        json!({"count": 1, "continuation": "orphan"})
    );
    let search = Arc::new(FakeSearch::default());
    let (res, s) = run(&cfg(), &store, &search, &s3_event(&["app/after-json.log"])).await;
    assert!(res.is_ok(), "{res:?}");
    assert_eq!((s.forwarded.indexed, s.forwarded.lines_joined), (3, 0));
}
