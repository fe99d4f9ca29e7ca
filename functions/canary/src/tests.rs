//! The canary on in-memory CloudWatch Logs, S3 and search, with the pipeline played by hand.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use logcore::base::time::DateTimeParts;
use serde_json::{json, Value};

use super::*;

const MIN: i64 = 60_000;
/// 2026-11-23T08:00:00Z
const T0: i64 = 1_795_420_800_000;

#[derive(Default)]
pub struct FakeLogs {
    pub events: Mutex<Vec<LogEvent>>,
    pub fail_put: Mutex<bool>,
    pub fail_find: Mutex<bool>,
    /// Logs Insights' queries, by id.
    pub queries: Mutex<BTreeMap<String, FakeQuery>>,
    /// Queries the account runs at once (the service's 30; 0 here means 30).
    pub insights_slots: Mutex<usize>,
    /// The status every query ends with instead of `Complete` (`Timeout`, `Failed`).
    pub insights_end: Mutex<Option<String>>,
    /// Polls a query stays `Running` (partial rows) after its first `Scheduled`.
    pub insights_polls: Mutex<usize>,
    /// Queries started, each query's groups.
    pub started: Mutex<Vec<Vec<String>>>,
}

/// One Logs Insights query of [`FakeLogs`]: its answer once complete, and how far it has come.
#[derive(Debug, Clone)]
pub struct FakeQuery {
    pub rows: Vec<Vec<(String, String)>>,
    pub polls: usize,
    pub done: bool,
}

/// Logs Insights as its API reference describes it: at most 50 groups and 10,000 rows a query, 30 queries
/// at once (`LimitExceededException` past that), an answer `Scheduled`, then `Running` with partial rows,
/// then `Complete`; rows whose fields come in no set order, counts as strings, `@log` as
/// `account-id:log-group-name` and the bin as `2026-12-07 14:00:00.000`. It knows one query, the count.
impl reconcile::insights::Insights for FakeLogs {
    async fn start_query(
        &self,
        q: &reconcile::insights::InsightsQuery,
    ) -> Result<String, CallError> {
        if q.groups.is_empty() || q.groups.len() > 50 || q.limit > 10_000 {
            return Err(CallError::permanent(format!(
                "StartQuery: InvalidParameterException: {} log groups, limit {}",
                q.groups.len(),
                q.limit
            )));
        }
        assert_eq!(q.query, reconcile::insights::COUNT_QUERY);
        let mut queries = self.queries.lock().unwrap();
        let slots = match *self.insights_slots.lock().unwrap() {
            0 => 30,
            n => n,
        };
        if queries.values().filter(|q| !q.done).count() >= slots {
            return Err(CallError::throttled(
                "StartQuery: LimitExceededException: too many concurrent queries",
            ));
        }
        let (from, to) = (q.start_s * 1000, q.end_s * 1000 + 999);
        let mut counts: BTreeMap<(String, i64), u64> = BTreeMap::new();
        for e in self.events.lock().unwrap().iter() {
            if q.groups.contains(&e.group) && (from..=to).contains(&e.timestamp_ms) {
                let hour = e.timestamp_ms.div_euclid(3_600_000) * 3_600_000;
                *counts.entry((e.group.clone(), hour)).or_default() += 1;
            }
        }
        let mut rows: Vec<Vec<(String, String)>> = counts
            .into_iter()
            .enumerate()
            .map(|(i, ((group, hour), n))| {
                let bin = DateTimeParts::from_millis(hour).rfc3339().replace('T', " ");
                let mut row = vec![
                    ("hour".to_string(), bin.trim_end_matches('Z').to_string()),
                    ("@log".to_string(), format!("123456789012:{group}")),
                    ("events".to_string(), n.to_string()),
                ];
                row.rotate_left(i % 3);
                row
            })
            .collect();
        rows.truncate(q.limit);
        let id = format!("q-{:04}", queries.len() + 1);
        queries.insert(
            id.clone(),
            FakeQuery {
                rows,
                polls: 0,
                done: false,
            },
        );
        self.started.lock().unwrap().push(q.groups.clone());
        Ok(id)
    }

    async fn query_results(&self, id: &str) -> Result<reconcile::insights::QueryAnswer, CallError> {
        let mut queries = self.queries.lock().unwrap();
        let Some(q) = queries.get_mut(id) else {
            return Err(CallError::permanent(format!(
                "GetQueryResults: ResourceNotFoundException: {id}"
            )));
        };
        q.polls += 1;
        let running = *self.insights_polls.lock().unwrap();
        let (status, rows) = if q.polls == 1 {
            ("Scheduled".to_string(), Vec::new())
        } else if q.polls <= 1 + running {
            ("Running".to_string(), q.rows[..q.rows.len() / 2].to_vec())
        } else {
            q.done = true;
            match self.insights_end.lock().unwrap().clone() {
                Some(end) => (end, Vec::new()),
                None => ("Complete".to_string(), q.rows.clone()),
            }
        };
        Ok(reconcile::insights::QueryAnswer { status, rows })
    }

    async fn stop_query(&self, id: &str) -> Result<(), CallError> {
        if let Some(q) = self.queries.lock().unwrap().get_mut(id) {
            q.done = true;
        }
        Ok(())
    }
}

impl Logs for FakeLogs {
    async fn put(
        &self,
        group: &str,
        stream: &str,
        ts: i64,
        message: &str,
    ) -> Result<(), CallError> {
        if *self.fail_put.lock().unwrap() {
            return Err(CallError::permanent("AccessDeniedException"));
        }
        let mut ev = self.events.lock().unwrap();
        let n = ev.len();
        ev.push(LogEvent {
            event_id: format!("{:056}", n + 1),
            group: group.into(),
            stream: stream.into(),
            timestamp_ms: ts,
            ingestion_ms: ts + 2_000,
            message: message.into(),
        });
        Ok(())
    }

    async fn find(
        &self,
        group: &str,
        pattern: &str,
        start: i64,
        end: i64,
        limit: usize,
    ) -> Result<Vec<LogEvent>, CallError> {
        if *self.fail_find.lock().unwrap() {
            return Err(CallError::throttled("ThrottlingException"));
        }
        let term = pattern.trim_matches('"');
        Ok(self
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.group == group && (start..=end).contains(&e.timestamp_ms))
            .filter(|e| e.message.contains(term))
            .take(limit)
            .cloned()
            .collect())
    }
}

/// (bucket, key) → (body, last modified).
type Stored = BTreeMap<(String, String), (Vec<u8>, i64)>;

#[derive(Default)]
pub struct FakeObjects {
    pub objects: Mutex<Stored>,
    pub reads: Mutex<Vec<String>>,
    pub fail_read: Mutex<Option<String>>,
    pub fail_write: Mutex<bool>,
}

impl FakeObjects {
    pub fn put(&self, bucket: &str, key: &str, body: Vec<u8>, modified: i64) {
        self.objects
            .lock()
            .unwrap()
            .insert((bucket.into(), key.into()), (body, modified));
    }
}

impl Objects for FakeObjects {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, CallError> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .iter()
            .filter(|((b, k), _)| b == bucket && k.starts_with(prefix))
            .map(|((_, k), (body, m))| Listed {
                key: k.clone(),
                size: body.len() as u64,
                last_modified_ms: *m,
            })
            .collect())
    }

    async fn read(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, CallError> {
        if self.fail_read.lock().unwrap().as_deref() == Some(key) {
            return Err(CallError::retryable(format!(
                "GetObject {key}: InternalError"
            )));
        }
        self.reads.lock().unwrap().push(key.to_string());
        Ok(self
            .objects
            .lock()
            .unwrap()
            .get(&(bucket.to_string(), key.to_string()))
            .map(|(b, _)| b.clone()))
    }

    async fn write(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CallError> {
        if *self.fail_write.lock().unwrap() {
            return Err(CallError::permanent("PutObject: AccessDenied"));
        }
        self.put(bucket, key, body, 0);
        Ok(())
    }
}

/// Documents by `_id`, with their index.
#[derive(Default)]
pub struct FakeFinder {
    pub docs: Mutex<Vec<Hit>>,
}

/// Whether the fake's query (`ids`, `terms` on `event.joined.ids`, `bool.should` of those, or
/// `match_phrase` on `message`) matches a document.
fn fake_matches(query: &Value, h: &Hit) -> bool {
    if let Some(clauses) = query.pointer("/bool/should").and_then(Value::as_array) {
        clauses.iter().any(|q| fake_matches(q, h))
    } else if let Some(ids) = query.pointer("/ids/values").and_then(Value::as_array) {
        ids.iter().any(|i| i.as_str() == Some(h.id.as_str()))
    } else if let Some(ids) = query
        .pointer("/terms/event.joined.ids")
        .and_then(Value::as_array)
    {
        let joined = h
            .source
            .pointer("/event/joined/ids")
            .and_then(Value::as_array);
        joined.is_some_and(|j| j.iter().any(|x| ids.contains(x)))
    } else {
        let text = query["match_phrase"]["message"].as_str().unwrap_or("\u{0}");
        h.source["message"].as_str().unwrap_or("").contains(text)
    }
}

impl Finder for FakeFinder {
    async fn search(&self, index: &str, query: Value, size: usize) -> Result<Vec<Hit>, CallError> {
        assert_eq!(index, "logs-app-*.*.*");
        let docs = self.docs.lock().unwrap();
        let hits = docs.iter().filter(|h| fake_matches(&query, h));
        Ok(hits.take(size).cloned().collect())
    }
}

pub(crate) fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

struct World {
    cfg: Config,
    logs: FakeLogs,
    objects: FakeObjects,
    finder: FakeFinder,
}

impl World {
    fn new() -> Self {
        World {
            cfg: Config::new("/logpipe/test/canary", "logs-bucket"),
            logs: FakeLogs::default(),
            objects: FakeObjects::default(),
            finder: FakeFinder::default(),
        }
    }

    async fn run(&self, now: i64) -> (Summary, Vec<Outcome>) {
        run(
            &self.cfg,
            &self.logs,
            &self.objects,
            Some(&self.finder),
            now,
        )
        .await
        .unwrap()
    }

    fn state(&self) -> State {
        let o = self.objects.objects.lock().unwrap();
        let (b, _) = &o[&("logs-bucket".to_string(), "canary/state.json".to_string())];
        State::parse(b, "state").unwrap()
    }

    /// Firehose: every event not yet delivered goes into one object written at `at`, with other traffic.
    fn to_s3(&self, at: i64) -> String {
        let key = format!(
            "{}logpipe-test-app-1-{at}",
            scan::KeyPrefix::default().at(at)
        );
        let mut text = String::from("{\"message\":\"GET /health 200\"}\n");
        for e in self.logs.events.lock().unwrap().iter() {
            let doc = json!({"message": e.message, "event": {"id": e.event_id}});
            text.push_str(&format!("{doc}\n"));
        }
        self.objects.put("logs-bucket", &key, gzip(&text), at);
        key
    }

    /// The forwarder: every event is indexed by its id.
    fn to_search(&self) {
        let mut docs = self.finder.docs.lock().unwrap();
        for e in self.logs.events.lock().unwrap().iter() {
            if !docs.iter().any(|d| d.id == e.event_id) {
                docs.push(Hit {
                    index: "logs-logpipe-test-canary-2026.11.23".into(),
                    id: e.event_id.clone(),
                    source: json!({"message": e.message}),
                });
            }
        }
    }
}

#[tokio::test]
async fn delivered_heartbeat_with_latencies_per_hop() {
    let w = World::new();
    let (s, out) = w.run(T0).await;
    assert_eq!((s.written, s.pending, s.delivered), (1, 1, 0));
    assert!(out.is_empty());
    let hb = w.state().pending[0].clone();
    assert!(hb.id.starts_with(&format!("lpcanary-{T0}-")));
    assert!(w.logs.events.lock().unwrap()[0].message.contains(&hb.id));

    let key = w.to_s3(T0 + 4 * MIN);
    w.to_search();
    let (s, out) = w.run(T0 + 5 * MIN).await;
    assert_eq!((s.written, s.delivered, s.late, s.missing), (1, 1, 0, 0));
    assert_eq!(s.pending, 1, "only the new heartbeat waits");
    let Outcome::Delivered { heartbeat, late } = &out[0] else {
        panic!("{out:?}")
    };
    assert!(!late);
    assert_eq!(heartbeat.id, hb.id);
    assert_eq!(heartbeat.s3.as_ref().unwrap().key, key);
    assert_eq!(
        heartbeat.latencies(),
        vec![
            (Hop::CloudWatchLogs, 2_000),
            (Hop::S3, 4 * MIN),
            (Hop::Search, 5 * MIN)
        ]
    );
    assert_eq!(
        heartbeat.search.as_ref().unwrap().index,
        "logs-logpipe-test-canary-2026.11.23"
    );
    // Delivered heartbeats leave the state; the scanned object is remembered while it may matter.
    let st = w.state();
    assert_eq!(st.pending.len(), 1);
    assert_ne!(st.pending[0].id, hb.id);
}

#[tokio::test]
async fn late_heartbeat_is_delivered_and_counted_late() {
    let w = World::new();
    w.run(T0).await;
    for m in [5, 10] {
        let (s, _) = w.run(T0 + m * MIN).await;
        assert_eq!((s.delivered, s.missing), (0, 0), "minute {m}");
    }
    w.to_s3(T0 + 13 * MIN);
    w.to_search();
    let (s, out) = w.run(T0 + 15 * MIN).await;
    // All four heartbeats so far (T0, +5, +10 in that object; +15 just written) …
    assert_eq!((s.delivered, s.late, s.missing), (3, 1, 0), "{out:?}");
    let late: Vec<bool> = out
        .iter()
        .map(|o| match o {
            Outcome::Delivered { late, .. } => *late,
            other => panic!("{other:?}"),
        })
        .collect();
    // … written 15, 10 and 5 minutes before the run that found them in search (threshold 10 minutes).
    assert_eq!(late, vec![true, false, false]);
}

#[tokio::test]
async fn missing_heartbeats_name_the_last_hop_that_saw_them() {
    // Not in search: last seen in S3.
    let w = World::new();
    w.run(T0).await;
    w.to_s3(T0 + 5 * MIN);
    let (s, _) = w.run(T0 + 10 * MIN).await;
    assert_eq!((s.missing, s.pending), (0, 2));
    let (s, out) = w.run(T0 + 20 * MIN).await;
    assert_eq!((s.missing, s.missing_after_s3), (1, 1), "{out:?}");
    let Outcome::Missing {
        heartbeat,
        last_hop,
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(*last_hop, Some(Hop::S3));
    assert_eq!(heartbeat.written_ms, T0);
    let why = missing_reason(&w.cfg, heartbeat, *last_hop);
    assert!(why.contains("not in search index logs-app-*.*.*"), "{why}");
    assert!(
        why.contains("s3://logs-bucket/logs/2026/11/23/08/"),
        "{why}"
    );
    // Counted once: the next run does not report it again.
    let (s, out) = w.run(T0 + 30 * MIN).await;
    assert_eq!(
        s.missing, 1,
        "the heartbeat of +10 min, not the first again"
    );
    assert!(
        matches!(&out[0], Outcome::Missing { heartbeat, last_hop: Some(Hop::CloudWatchLogs) } if heartbeat.written_ms == T0 + 10 * MIN),
        "{out:?}"
    );

    // Never left CloudWatch Logs.
    let w = World::new();
    w.run(T0).await;
    let (s, out) = w.run(T0 + 20 * MIN).await;
    assert_eq!((s.missing, s.missing_after_cloudwatch_logs), (1, 1));
    let Outcome::Missing {
        heartbeat,
        last_hop,
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(*last_hop, Some(Hop::CloudWatchLogs));
    let why = missing_reason(&w.cfg, heartbeat, *last_hop);
    assert!(why.contains("event 000"), "{why}");
    assert!(why.contains("Firehose"), "{why}");

    // Not even in CloudWatch Logs (the events expired, or someone deleted the stream).
    let w = World::new();
    w.run(T0).await;
    w.logs.events.lock().unwrap().clear();
    let (s, out) = w.run(T0 + 21 * MIN).await;
    assert_eq!((s.missing, s.missing_unseen), (1, 1));
    assert!(matches!(&out[0], Outcome::Missing { last_hop: None, .. }));
}

#[tokio::test]
async fn without_search_s3_is_the_last_hop() {
    let w = World::new();
    let none: Option<&FakeFinder> = None;
    run(&w.cfg, &w.logs, &w.objects, none, T0).await.unwrap();
    w.to_s3(T0 + 3 * MIN);
    let (s, out) = run(&w.cfg, &w.logs, &w.objects, none, T0 + 5 * MIN)
        .await
        .unwrap();
    assert_eq!(s.delivered, 1);
    let Outcome::Delivered { heartbeat, .. } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(heartbeat.last_hop(), Some(Hop::S3));
}

#[tokio::test]
async fn each_object_is_read_once() {
    let w = World::new();
    w.run(T0).await;
    // An object without the heartbeat, then one with it, a run apart.
    w.objects.put(
        "logs-bucket",
        "logs/2026/11/23/08/other",
        gzip("{\"message\":\"x\"}\n"),
        T0 + MIN,
    );
    w.run(T0 + 5 * MIN).await;
    w.run(T0 + 10 * MIN).await;
    let reads = |k: &str| {
        w.objects
            .reads
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.ends_with(k))
            .count()
    };
    assert_eq!(reads("/other"), 1);
    w.to_s3(T0 + 11 * MIN);
    w.to_search();
    let (s, _) = w.run(T0 + 15 * MIN).await;
    assert_eq!(s.delivered, 3);
    assert_eq!(reads("/other"), 1);
    // Once no pending heartbeat is as old as an object, it is forgotten.
    let st = w.state();
    assert!(
        !st.scanned.contains_key("logs/2026/11/23/08/other"),
        "{st:?}"
    );
}

#[tokio::test]
async fn budget_and_unreadable_objects() {
    let mut w = World::new();
    w.cfg.max_scan_bytes = 10;
    w.run(T0).await;
    for i in 0..3 {
        w.objects.put(
            "logs-bucket",
            &format!("logs/2026/11/23/08/n{i}"),
            gzip("{\"message\":\"nothing here\"}\n"),
            T0 + MIN + i,
        );
    }
    *w.objects.fail_read.lock().unwrap() = Some("logs/2026/11/23/08/n0".into());
    let (s, _) = w.run(T0 + 5 * MIN).await;
    // n0 fails (counted, tried again next run); n1 is read; n2 waits for the budget.
    assert_eq!(
        (s.objects_unreadable, s.objects_scanned, s.objects_left),
        (1, 1, 1)
    );
    *w.objects.fail_read.lock().unwrap() = None;
    let (s, _) = w.run(T0 + 6 * MIN).await;
    assert_eq!(s.objects_scanned, 1, "n0, then the budget is spent again");
    let (s, _) = w.run(T0 + 7 * MIN).await;
    assert_eq!(s.objects_scanned, 1, "n2");
    let (s, _) = w.run(T0 + 8 * MIN).await;
    assert_eq!(s.objects_scanned, 0, "all read");
}

#[tokio::test]
async fn failures_of_the_canary_itself() {
    // The write fails: counted, nothing pending.
    let w = World::new();
    *w.logs.fail_put.lock().unwrap() = true;
    let (s, _) = w.run(T0).await;
    assert_eq!((s.written, s.write_failed, s.pending), (0, 1, 0));

    // Lookups fail: counted, the heartbeat stays pending until its time is up.
    let w = World::new();
    w.run(T0).await;
    *w.logs.fail_find.lock().unwrap() = true;
    let (s, _) = w.run(T0 + 5 * MIN).await;
    assert_eq!((s.lookup_errors, s.pending, s.missing), (1, 2, 0));

    // State unreadable or unsaved: the run fails, naming the object.
    let w = World::new();
    w.objects
        .put("logs-bucket", "canary/state.json", b"<html>".to_vec(), 0);
    let e = run(&w.cfg, &w.logs, &w.objects, Some(&w.finder), T0)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("reading the canary state s3://logs-bucket/canary/state.json"),
        "{e}"
    );
    let w = World::new();
    *w.objects.fail_write.lock().unwrap() = true;
    let e = run(&w.cfg, &w.logs, &w.objects, Some(&w.finder), T0)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("saving the canary state"), "{e}");
}

#[test]
fn heartbeat_message_and_state_round_trip() {
    let hb = Heartbeat {
        id: new_id(T0),
        written_ms: T0,
        cloudwatch_logs: Some(SeenLog {
            event_id: "1".into(),
            ingestion_ms: T0 + 1,
        }),
        s3: None,
        search: None,
    };
    let m: Value = serde_json::from_str(&hb.message()).unwrap();
    assert_eq!(m["logpipe_canary"], hb.id.as_str());
    assert_eq!(m["written_at"], "2026-11-23T08:00:00.000Z");
    let st = State {
        pending: vec![hb],
        scanned: BTreeMap::from([("k".to_string(), 5)]),
    };
    let back = State::parse(&serde_json::to_vec(&st).unwrap(), "x").unwrap();
    assert_eq!(back, st);
    assert_eq!(State::parse(b"{}", "x").unwrap(), State::default());
    assert!(State::parse(b"[1]", "s3://b/k")
        .unwrap_err()
        .contains("s3://b/k"));
}
