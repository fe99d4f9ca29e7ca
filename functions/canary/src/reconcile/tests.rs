use std::sync::Mutex;

use logcore::ledger::{Hop, Judged, Key};
use proptest::prelude::*;

use super::*;
use crate::tests::{FakeLogs, FakeObjects};
use crate::{LogEvent, Logs};
use logcore::transform::filter::MessageFilter;

/// 2026-11-23T08:00:00Z, an hour's start.
const H: i64 = 1_795_420_800_000;
const MIN: i64 = 60_000;
const SETTLE: i64 = 30 * MIN;

/// An engine that answers composite aggregations over its documents (group, timestamp) as the
/// Elasticsearch and OpenSearch documentation describe them: buckets ordered by their sources, `size` at
/// a time, from after `after`, with the last bucket's key as `after_key`. Its documents sit in two indices:
/// `logs-app-new`, where logpipe's template mapped `log.group` as a keyword, and (`old`) `logs-app-old`,
/// which dynamic mapping created (`log.group` text, `log.group.keyword` a keyword): a field an index does
/// not have as a keyword gives no bucket there.
#[derive(Default)]
pub(crate) struct FakeEngine {
    pub(crate) docs: Mutex<Vec<(String, i64)>>,
    pub(crate) old: Vec<(String, i64)>,
    pub(crate) calls: Mutex<u32>,
    pub(crate) fail: Option<CallError>,
}

const NEW: &str = "logs-app-new";
const OLD: &str = "logs-app-old";

impl Aggregations for FakeEngine {
    async fn aggregate(&self, index: &str, body: Value) -> Result<Value, CallError> {
        assert_eq!(index, "logs-app-*");
        *self.calls.lock().unwrap() += 1;
        if let Some(e) = &self.fail {
            return Err(e.clone());
        }
        let filter = body["query"]["bool"]["filter"].as_array().unwrap();
        let range = &filter[0]["range"]["@timestamp"];
        let (gte, lt) = (
            range["gte"].as_i64().unwrap(),
            range["lt"].as_i64().unwrap(),
        );
        let (field, groups) = filter[1]["terms"]
            .as_object()
            .unwrap()
            .iter()
            .next()
            .unwrap();
        let groups: Vec<&str> = groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        let only: Option<Vec<&str>> = filter.get(2).map(|f| {
            f["terms"]["_index"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap())
                .collect()
        });
        let composite = &body["aggs"]["rows"]["composite"];
        assert_eq!(composite["sources"][0]["group"]["terms"]["field"], *field);
        let size = composite["size"].as_u64().unwrap() as usize;
        let new = self.docs.lock().unwrap().clone();
        let searched = [
            (NEW, "log.group", &new),
            (OLD, "log.group.keyword", &self.old),
        ];
        let mut buckets: BTreeMap<(String, i64), u64> = BTreeMap::new();
        for (name, keyword, docs) in searched {
            if keyword != field || only.as_ref().is_some_and(|o| !o.contains(&name)) {
                continue;
            }
            for (g, ts) in docs.iter() {
                if groups.contains(&g.as_str()) && (gte..lt).contains(ts) {
                    *buckets.entry((g.clone(), hour_of(*ts))).or_default() += 1;
                }
            }
        }
        let after = composite.get("after").map(|a| {
            (
                a["group"].as_str().unwrap().to_string(),
                a["hour"].as_i64().unwrap(),
            )
        });
        let page: Vec<Value> = buckets
            .into_iter()
            .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
            .take(size)
            .map(|((g, h), n)| json!({"key": {"group": g, "hour": h}, "doc_count": n}))
            .collect();
        let mut rows = json!({ "buckets": page });
        if let Some(last) = page.last() {
            rows["after_key"] = last["key"].clone();
        }
        Ok(json!({"hits": {"hits": []}, "aggregations": {"rows": rows}}))
    }

    async fn field_mapping(&self, index: &str, fields: &str) -> Result<Value, CallError> {
        assert_eq!(index, "logs-app-*");
        assert_eq!(fields, "log.group,log.group.keyword");
        if let Some(e) = &self.fail {
            return Err(e.clone());
        }
        let mut answer = json!({ NEW: {"mappings": {"log.group": {"full_name": "log.group",
            "mapping": {"group": {"type": "keyword", "ignore_above": 1024}}}}}});
        if !self.old.is_empty() {
            answer[OLD] = old_mapping();
        }
        Ok(answer)
    }
}

/// An index dynamic mapping created, as `_mapping/field/log.group,log.group.keyword` describes it.
fn old_mapping() -> Value {
    json!({"mappings": {
        "log.group": {"full_name": "log.group", "mapping": {"group": {"type": "text",
            "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}}},
        "log.group.keyword": {"full_name": "log.group.keyword",
            "mapping": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    }})
}

/// CloudWatch Logs holding, for each (group, time, n), `n` events a millisecond apart from `time`.
pub(crate) fn logs_with(events: &[(&str, i64, usize)]) -> FakeLogs {
    let logs = FakeLogs::default();
    let mut all = logs.events.lock().unwrap();
    for (group, ts, n) in events {
        for i in 0..*n {
            let id = all.len() + 1;
            all.push(LogEvent {
                event_id: format!("{id:056}"),
                group: group.to_string(),
                stream: "web/1".into(),
                timestamp_ms: ts + i as i64,
                ingestion_ms: ts + i as i64 + 1_000,
                message: format!("event {i}"),
            });
        }
    }
    drop(all);
    logs
}

/// The engine holding a document for every event of `logs` but the first `lose` of `group`.
fn engine_for(logs: &FakeLogs, group: &str, lose: usize) -> FakeEngine {
    let mut skipped = 0;
    let docs = logs
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            let skip = e.group == group && skipped < lose;
            skipped += usize::from(skip);
            !skip
        })
        .map(|e| (e.group.clone(), e.timestamp_ms))
        .collect();
    FakeEngine {
        docs: Mutex::new(docs),
        ..FakeEngine::default()
    }
}

fn cfg(groups: &[&str]) -> ReconcileConfig {
    ReconcileConfig {
        groups: groups.iter().map(|g| g.to_string()).collect(),
        from_ms: H + 10 * MIN,
        to_ms: H + 3 * HOUR_MS,
        index_pattern: Some("logs-app-*".into()),
        max_events: 10_000,
        dead_letters: None,
        processing_failed: None,
        transform_logs: Vec::new(),
        archive: None,
        patterns: BTreeMap::new(),
        transform_filter: None,
        transform_multiline: Some(logcore::logs::multiline::Rules::builtin()),
        stop: None,
        source: SourceCounter::Filter,
    }
}

/// The source and the index counted, no dead letters.
async fn run(c: &ReconcileConfig, logs: &(impl Logs + Insights), engine: &FakeEngine) -> Ledger {
    reconcile(c, logs, Some(engine), None::<&FakeObjects>, |_| {}).await
}

fn judged(ledger: &Ledger, group: &str, hour: i64) -> Judged {
    let key = Key {
        group: group.into(),
        hour_ms: hour,
    };
    let c = ledger.rows.get(&key).expect("a row for the group and hour");
    logcore::ledger::judge(&key, c, H + 10 * HOUR_MS, SETTLE)
}

#[tokio::test]
async fn documents_deleted_from_the_index_are_missing_at_the_search_hop() {
    let logs = logs_with(&[
        ("/ecs/api", H + 5 * MIN, 40),
        ("/ecs/api", H + HOUR_MS + 5 * MIN, 25),
        ("/ecs/web", H + 20 * MIN, 10),
    ]);
    let engine = engine_for(&logs, "/ecs/web", 3);
    let mut seen = Vec::new();
    let ledger = reconcile(
        &cfg(&["/ecs/api", "/ecs/web"]),
        &logs,
        Some(&engine),
        None::<&FakeObjects>,
        |g| seen.push(g.to_string()),
    )
    .await;
    assert_eq!(seen, ["/ecs/api", "/ecs/web"], "progress sees every group");
    assert!(ledger.problems.is_empty(), "{:?}", ledger.problems);
    // The window starts at its hour's start: the events before `from_ms` in that hour are counted too.
    let Judged::Settled(v) = judged(&ledger, "/ecs/api", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.duplicated), (0, 0));
    assert_eq!(ledger.rows[&Key::new("/ecs/api", H)].source, Some(40));
    assert_eq!(
        ledger.rows[&Key::new("/ecs/api", H + HOUR_MS)].indexed,
        Some(25)
    );
    let Judged::Settled(v) = judged(&ledger, "/ecs/web", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.short_at), (3, Some(Hop::Search)));
}

#[tokio::test]
async fn an_hour_one_hop_saw_nothing_of_is_a_zero_there_not_a_gap() {
    // Nothing indexed at all for /ecs/web; and a document of an hour CloudWatch Logs holds nothing for.
    let logs = logs_with(&[("/ecs/web", H + 20 * MIN, 10)]);
    let engine = FakeEngine::default();
    engine
        .docs
        .lock()
        .unwrap()
        .push(("/ecs/web".into(), H + HOUR_MS + 1));
    let ledger = run(&cfg(&["/ecs/web"]), &logs, &engine).await;
    let Judged::Settled(v) = judged(&ledger, "/ecs/web", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.short_at), (10, Some(Hop::Search)));
    let Judged::Settled(v) = judged(&ledger, "/ecs/web", H + HOUR_MS) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.duplicated), (0, 1));
}

#[tokio::test]
async fn many_groups_and_hours_are_counted_over_every_page() {
    let groups: Vec<String> = (0..600).map(|i| format!("/ecs/svc-{i:03}")).collect();
    let mut events = Vec::new();
    for g in &groups {
        events.push((g.as_str(), H + MIN, 2));
        events.push((g.as_str(), H + HOUR_MS + MIN, 1));
    }
    let logs = logs_with(&events);
    let engine = engine_for(&logs, "/ecs/svc-599", 1);
    let names: Vec<&str> = groups.iter().map(String::as_str).collect();
    let ledger = run(&cfg(&names), &logs, &engine).await;
    assert!(
        *engine.calls.lock().unwrap() >= 2,
        "1,200 buckets take two pages"
    );
    let report = ledger.judge(H + 10 * HOUR_MS, SETTLE);
    assert_eq!(report.total.rows_settled, 1_200);
    assert_eq!(
        report.total.missing, 1,
        "the one document lost, on the last page"
    );
    let lost: Vec<&str> = report.findings().map(|r| r.group.as_str()).collect();
    assert_eq!(lost, ["/ecs/svc-599"]);
}

#[tokio::test]
async fn a_count_that_cannot_be_made_fails_the_run_and_is_not_taken_for_zero() {
    let logs = logs_with(&[("/ecs/api", H + MIN, 5), ("/ecs/big", H + MIN, 50)]);
    let engine = FakeEngine {
        fail: Some(CallError::throttled("HTTP 429: too many requests")),
        ..engine_for(&logs, "", 0)
    };
    let mut c = cfg(&["/ecs/api", "/ecs/big"]);
    c.max_events = 20;
    let ledger = run(&c, &logs, &engine).await;
    let report = ledger.judge(H + 10 * HOUR_MS, SETTLE);
    assert!(!report.clean());
    assert!(
        ledger
            .problems
            .iter()
            .any(|p| p.contains("/ecs/big") && p.contains("more than 20 events")),
        "{:?}",
        ledger.problems
    );
    assert!(
        ledger.problems.iter().any(|p| p.contains("429")),
        "{:?}",
        ledger.problems
    );
    // Neither hop's count of /ecs/big is known, nor the index's of /ecs/api: nothing is judged missing.
    assert_eq!(report.total.missing, 0);
    assert_eq!(
        ledger.rows[&Key::new("/ecs/api", H)].indexed,
        None,
        "not taken for zero"
    );
    assert!(!ledger.rows.contains_key(&Key::new("/ecs/big", H)));
}

#[tokio::test]
async fn without_a_search_engine_the_index_is_said_not_counted() {
    let logs = logs_with(&[("/ecs/api", H + MIN, 5)]);
    let mut c = cfg(&["/ecs/api"]);
    c.index_pattern = None;
    let ledger = reconcile(&c, &logs, None::<&FakeEngine>, None::<&FakeObjects>, |_| {}).await;
    assert!(ledger.problems.is_empty());
    assert!(ledger.not_counted.iter().any(|n| n.starts_with("search")));
    assert_eq!(judged(&ledger, "/ecs/api", H), Judged::Unchecked);
}

#[tokio::test]
async fn indices_dynamic_mapping_created_are_counted_by_the_keyword_sub_field() {
    // The first hour's documents went into an index created before logpipe's template (dynamic mapping),
    // the second hour's into one the template mapped.
    let logs = logs_with(&[
        ("/ecs/api", H + 5 * MIN, 6),
        ("/ecs/api", H + HOUR_MS + 5 * MIN, 4),
    ]);
    let all = engine_for(&logs, "", 0).docs.into_inner().unwrap();
    let (old, new): (Vec<_>, Vec<_>) = all.into_iter().partition(|(_, ts)| *ts < H + HOUR_MS);
    let engine = FakeEngine {
        docs: Mutex::new(new),
        old: old[1..].to_vec(),
        ..FakeEngine::default()
    };
    let ledger = run(&cfg(&["/ecs/api"]), &logs, &engine).await;
    assert!(ledger.problems.is_empty(), "{:?}", ledger.problems);
    assert_eq!(ledger.rows[&Key::new("/ecs/api", H)].indexed, Some(5));
    assert_eq!(
        ledger.rows[&Key::new("/ecs/api", H + HOUR_MS)].indexed,
        Some(4)
    );
    assert_eq!(
        *engine.calls.lock().unwrap(),
        2,
        "one aggregation per field"
    );
}

#[test]
fn each_index_is_counted_by_the_field_that_is_a_keyword_there() {
    let keyword = json!({"mappings": {"log.group": {"full_name": "log.group",
        "mapping": {"group": {"type": "keyword"}}}}});
    // One mapping for all: the pattern's indices, no list.
    let plans = group_fields(&json!({"a-1": keyword, "a-2": keyword})).unwrap();
    assert_eq!(
        plans,
        [FieldPlan {
            field: GROUP_FIELD,
            indices: None
        }]
    );
    let plans =
        group_fields(&json!({"a-1": keyword, "a-0": old_mapping(), "a-9": {"mappings": {}}}))
            .unwrap();
    assert_eq!(
        plans,
        [
            FieldPlan {
                field: GROUP_FIELD,
                indices: Some(vec!["a-1".into()])
            },
            FieldPlan {
                field: GROUP_KEYWORD_FIELD,
                indices: Some(vec!["a-0".into()])
            },
        ]
    );
    assert_eq!(group_fields(&json!({})).unwrap(), []);
    let text = json!({"mappings": {"log.group": {"full_name": "log.group",
        "mapping": {"group": {"type": "text"}}}}});
    let e = group_fields(&json!({"a-1": keyword, "a-3": text})).unwrap_err();
    assert!(e.contains("a-3 (log.group is text)"), "{e}");
    assert!(!e.contains("a-1"), "{e}");
    assert!(group_fields(&json!([])).is_err());
    let q = indexed_query(
        &Window {
            groups: &["/ecs/api".into()],
            from_ms: H,
            to_ms: H + HOUR_MS,
            plan: &plans[1],
        },
        None,
    );
    assert_eq!(
        q["aggs"]["rows"]["composite"]["sources"][0]["group"]["terms"]["field"],
        "log.group.keyword"
    );
    assert_eq!(
        q["query"]["bool"]["filter"][1]["terms"]["log.group.keyword"][0],
        "/ecs/api"
    );
    assert_eq!(q["query"]["bool"]["filter"][2]["terms"]["_index"][0], "a-0");
}

#[test]
fn the_query_counts_by_group_and_hour_after_the_last_page() {
    let plan = FieldPlan {
        field: GROUP_FIELD,
        indices: None,
    };
    let window = Window {
        groups: &["/ecs/api".into()],
        from_ms: H,
        to_ms: H + HOUR_MS,
        plan: &plan,
    };
    let q = indexed_query(&window, None);
    assert_eq!(q["query"]["bool"]["filter"].as_array().unwrap().len(), 2);
    assert_eq!(q["size"], 0);
    assert_eq!(
        q["aggs"]["rows"]["composite"]["sources"][0]["group"]["terms"]["field"],
        "log.group"
    );
    assert_eq!(
        q["aggs"]["rows"]["composite"]["sources"][1]["hour"]["date_histogram"]["fixed_interval"],
        "1h"
    );
    assert!(q["aggs"]["rows"]["composite"].get("after").is_none());
    let after = json!({"group": "/ecs/api", "hour": H});
    let q = indexed_query(&window, Some(&after));
    assert_eq!(q["aggs"]["rows"]["composite"]["after"], after);
}

#[test]
fn answers_are_read_or_refused_by_name() {
    let ok = json!({"aggregations": {"rows": {"after_key": {"group": "a", "hour": H},
        "buckets": [{"key": {"group": "a", "hour": H}, "doc_count": 3},
                    {"key": {"group": "a", "hour": (H + HOUR_MS) as f64}, "doc_count": 1}]}}});
    let page = parse_indexed(&ok).unwrap();
    assert_eq!(
        page.buckets,
        [("a".into(), H, 3), ("a".into(), H + HOUR_MS, 1)]
    );
    assert_eq!(page.after_key, Some(json!({"group": "a", "hour": H})));
    // No index matched the pattern: no aggregation in the answer, no documents.
    assert_eq!(
        parse_indexed(&json!({"hits": {"hits": []}})).unwrap(),
        IndexedPage {
            buckets: vec![],
            after_key: None
        }
    );
    let e = parse_indexed(
        &json!({"aggregations": {"rows": {"buckets": [{"key": {"group": "a"}, "doc_count": 1}]}}}),
    )
    .unwrap_err();
    assert!(e.contains("key.hour"), "{e}");
    assert!(parse_indexed(&json!({"error": "x"})).is_err());
}

fn json_values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("aggregations".to_string()),
                    Just("rows".to_string()),
                    Just("buckets".to_string()),
                    Just("key".to_string()),
                    Just("group".to_string()),
                    Just("hour".to_string()),
                    Just("doc_count".to_string()),
                    Just("mappings".to_string()),
                    Just("log.group".to_string()),
                    Just("mapping".to_string()),
                    Just("type".to_string()),
                    Just("hits".to_string()),
                    "[a-z]{1,3}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Whatever the engine answers, the reader answers rows or an error: never a panic.
    #[test]
    fn any_answer_is_read_or_refused(v in json_values()) {
        let _ = parse_indexed(&v);
        let _ = group_fields(&v);
    }
}

/// A dead-letter record as the forwarder writes it, of a document of `group` at `ts`.
fn dead_letter(group: &str, ts: i64, error_type: Option<&str>) -> Vec<u8> {
    use logcore::search::bulk::{DeadLetter, Origin};
    let src = Origin::new(
        "logs-bucket",
        "logs/2026/11/23/08/app-1.gz",
        "v1",
        "2026-11-23T08:05:00Z",
    );
    let doc = json!({"@timestamp": logcore::base::time::DateTimeParts::from_millis(ts).rfc3339(),
        "message": "m", "log": {"group": group}})
    .to_string();
    let mut out = Vec::new();
    DeadLetter {
        src: &src,
        offset: 0,
        len: doc.len() as u64,
        reason: "failed to parse field [status]",
        status: error_type.map(|_| 400),
        error_type,
        action: error_type.map(|_| &b"{\"create\":{}}"[..]),
        data: doc.as_bytes(),
    }
    .write(&mut out);
    out
}

fn place() -> DeadLetterPlace {
    DeadLetterPlace {
        bucket: "logs-bucket".into(),
        prefix: "failed/".into(),
        source_bucket: "logs-bucket".into(),
        key_prefixes: vec!["logs/%Y/%m/%d/%H/".parse().unwrap()],
    }
}

#[tokio::test]
async fn dead_lettered_documents_are_accounted_for_not_missing() {
    let logs = logs_with(&[("/ecs/web", H + 20 * MIN, 10), ("/ecs/api", H + MIN, 2)]);
    // The engine refused 3 of /ecs/web's documents: they are in the dead letters, not the index.
    let engine = engine_for(&logs, "/ecs/web", 3);
    let objects = FakeObjects::default();
    let mut body = Vec::new();
    for i in 0..3 {
        body.extend(dead_letter(
            "/ecs/web",
            H + 20 * MIN + i,
            Some("mapper_parsing_exception"),
        ));
    }
    // Another group's, and one of an hour after the window: not this run's rows.
    body.extend(dead_letter(
        "/ecs/other",
        H + MIN,
        Some("mapper_parsing_exception"),
    ));
    body.extend(dead_letter(
        "/ecs/web",
        H + 5 * HOUR_MS,
        Some("mapper_parsing_exception"),
    ));
    objects.put(
        "logs-bucket",
        "failed/logs-bucket/logs/2026/11/23/09/app-1.gz/v1/0-rejected.ndjson",
        body,
        H + HOUR_MS,
    );
    // An unreadable unit: its events cannot be told.
    objects.put(
        "logs-bucket",
        "failed/logs-bucket/logs/2026/11/23/08/app-2.gz/v1/0-unreadable.ndjson",
        br#"{"reason":"invalid UTF-8","cause":"unreadable","source":{},"base64":"/w=="}"#.to_vec(),
        H + HOUR_MS,
    );
    let mut c = cfg(&["/ecs/web", "/ecs/api"]);
    c.dead_letters = Some(place());
    let ledger = reconcile(&c, &logs, Some(&engine), Some(&objects), |_| {}).await;
    let web = &ledger.rows[&Key::new("/ecs/web", H)];
    assert_eq!(web.dead_lettered.as_ref().unwrap()["document"], 3);
    let Judged::Settled(v) = judged(&ledger, "/ecs/web", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.short_at), (0, None));
    // Counted, none: a zero, not a gap.
    assert_eq!(
        ledger.rows[&Key::new("/ecs/api", H)].dead_lettered,
        Some(BTreeMap::new())
    );
    assert!(!ledger.rows.contains_key(&Key::new("/ecs/other", H)));
    assert!(!ledger
        .rows
        .contains_key(&Key::new("/ecs/web", H + 5 * HOUR_MS)));
    assert_eq!(ledger.problems.len(), 1, "{:?}", ledger.problems);
    assert!(
        ledger.problems[0].contains("1 records"),
        "{:?}",
        ledger.problems
    );
    assert!(!ledger
        .not_counted
        .iter()
        .any(|n| n.starts_with("dead letters")));

    // Without a bucket the dead letters are said not counted, and the 3 are missing at search.
    let ledger = run(&cfg(&["/ecs/web"]), &logs, &engine).await;
    assert!(ledger
        .not_counted
        .iter()
        .any(|n| n.starts_with("dead letters")));
    let Judged::Settled(v) = judged(&ledger, "/ecs/web", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.short_at), (3, Some(Hop::Search)));
}

#[test]
fn dead_letters_are_listed_from_the_window_to_two_hours_after() {
    let prefixes = dead_letters::listing_prefixes(&place(), H, H + HOUR_MS);
    assert_eq!(
        prefixes,
        [
            "failed/logs-bucket/logs/2026/11/23/08/",
            "failed/logs-bucket/logs/2026/11/23/09/",
            "failed/logs-bucket/logs/2026/11/23/10/",
            "failed/logs-bucket/logs/2026/11/23/11/",
        ]
    );
}

#[test]
fn a_dead_letter_tells_its_group_hour_and_cause() {
    let told = |group: Option<&str>, ts: Option<i64>, cause: &str| {
        Some(dead_letters::Attribution {
            group: group.map(String::from),
            ts,
            cause: cause.into(),
        })
    };
    let line = dead_letter("/ecs/web", H + 7, Some("mapper_parsing_exception"));
    assert_eq!(
        dead_letters::attribute(line.trim_ascii_end()),
        told(Some("/ecs/web"), Some(H + 7), "document")
    );
    // A unit over the size cap keeps its text: a whole document still tells.
    let line = dead_letter("/ecs/web", H + 7, None);
    assert_eq!(
        dead_letters::attribute(line.trim_ascii_end()),
        told(Some("/ecs/web"), Some(H + 7), "unreadable")
    );
    // Only its start kept: the time comes first, the group after the message may be cut off.
    let start = r#"{"cause":"unreadable","text":"{\"@timestamp\":\"2026-11-23T08:00:00.007Z\",\"message\":\"xxxx"}"#;
    assert_eq!(
        dead_letters::attribute(start.as_bytes()),
        told(None, Some(H + 7), "unreadable")
    );
    let start = r#"{"cause":"unreadable","text":"{\"@timestamp\":\"2026-11-23T08:00:00.007Z\",\"message\":\"m\",\"log\":{\"group\":\"/ecs/web\",\"str"}"#;
    assert_eq!(
        dead_letters::attribute(start.as_bytes()),
        told(Some("/ecs/web"), Some(H + 7), "unreadable")
    );
    assert_eq!(
        dead_letters::attribute(b"{\"cause\":\"unreadable\",\"text\":\"half a doc\"}"),
        told(None, None, "unreadable")
    );
    assert_eq!(
        dead_letters::attribute(b"{\"cause\":\"unreadable\",\"base64\":\"/w==\"}"),
        told(None, None, "unreadable")
    );
    assert_eq!(dead_letters::attribute(b"not json"), None);
    let mut counts = dead_letters::DeadLetterCounts::default();
    counts.add_object(start.as_bytes());
    counts.add_object(
        r#"{"cause":"unreadable","text":"{\"@timestamp\":\"2026-11-23T08:00:00.007Z\",\"mess"}"#
            .as_bytes(),
    );
    assert_eq!(counts.rows.len(), 1);
    assert_eq!(counts.without_group_total(), 1);
}

proptest! {
    /// Whatever a dead-letter object holds, every line is counted once, attributed or not: never a panic.
    #[test]
    fn every_dead_letter_line_is_counted_once(lines in prop::collection::vec(
        prop_oneof![
            "[ -~]{0,40}".prop_map(String::into_bytes),
            (0i64..5 * HOUR_MS).prop_map(|t| dead_letter("/ecs/web", H + t, Some("x")).trim_ascii_end().to_vec()),
        ],
        0..20,
    )) {
        let mut counts = dead_letters::DeadLetterCounts::default();
        let body = lines.join(&b'\n');
        counts.add_object(&body);
        let blank = lines.iter().filter(|l| l.iter().all(u8::is_ascii_whitespace)).count() as u64;
        let attributed: u64 = counts.rows.values().flat_map(|c| c.values()).sum();
        prop_assert_eq!(
            attributed + counts.without_group_total() + counts.unattributed + blank,
            lines.len() as u64
        );
    }
}

#[tokio::test]
async fn the_subscription_pattern_and_the_transforms_filter_say_what_was_to_be_delivered() {
    let logs = FakeLogs::default();
    for (i, path) in [
        "/health", "/orders", "/health", "/orders", "/orders", "/cart",
    ]
    .iter()
    .enumerate()
    {
        for group in ["/ecs/api", "/ecs/web"] {
            logs.put(group, "web/1", H + i as i64 * MIN, &format!("GET {path}"))
                .await
                .unwrap();
        }
    }
    // The transform excludes health checks; /ecs/web's subscription carries only what mentions orders.
    let carried = |e: &LogEvent| {
        !e.message.contains("health") && (e.group == "/ecs/api" || e.message.contains("orders"))
    };
    let docs = logs
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| carried(e))
        .map(|e| (e.group.clone(), e.timestamp_ms))
        .collect();
    let engine = FakeEngine {
        docs: Mutex::new(docs),
        ..FakeEngine::default()
    };
    let mut c = cfg(&["/ecs/api", "/ecs/web"]);
    c.patterns.insert("/ecs/web".into(), "orders".into());
    c.transform_filter = Some(MessageFilter::new(None, Some("health")).unwrap());
    let ledger = run(&c, &logs, &engine).await;
    let api = &ledger.rows[&Key::new("/ecs/api", H)];
    assert_eq!(api.source, Some(6));
    assert_eq!(api.dropped, Some([("excluded".to_string(), 2)].into()));
    let web = &ledger.rows[&Key::new("/ecs/web", H)];
    assert_eq!(web.source, Some(3), "only what the subscription carries");
    assert_eq!(web.dropped, Some([("excluded".to_string(), 0)].into()));
    for group in ["/ecs/api", "/ecs/web"] {
        let Judged::Settled(v) = judged(&ledger, group, H) else {
            panic!("not settled")
        };
        assert_eq!((v.missing, v.duplicated), (0, 0), "{group}");
    }
    assert!(!ledger.not_counted.iter().any(|n| n.starts_with("dropped")));

    // Without the transform's filter, the health checks it dropped show as missing, and the run says why.
    c.transform_filter = None;
    let ledger = run(&c, &logs, &engine).await;
    let Judged::Settled(v) = judged(&ledger, "/ecs/api", H) else {
        panic!("not settled")
    };
    assert_eq!(v.missing, 2);
    assert_eq!(ledger.rows[&Key::new("/ecs/api", H)].dropped, None);
    assert!(ledger.not_counted.iter().any(|n| n.starts_with("dropped")));
}

/// CloudWatch Logs that takes a minute per group.
struct SlowLogs(FakeLogs);

impl Insights for SlowLogs {
    async fn start_query(&self, q: &insights::InsightsQuery) -> Result<String, CallError> {
        self.0.start_query(q).await
    }
    async fn query_results(&self, id: &str) -> Result<insights::QueryAnswer, CallError> {
        self.0.query_results(id).await
    }
    async fn stop_query(&self, id: &str) -> Result<(), CallError> {
        self.0.stop_query(id).await
    }
}

impl Logs for SlowLogs {
    async fn put(&self, g: &str, s: &str, t: i64, m: &str) -> Result<(), CallError> {
        self.0.put(g, s, t, m).await
    }
    async fn find(
        &self,
        g: &str,
        p: &str,
        a: i64,
        b: i64,
        n: usize,
    ) -> Result<Vec<LogEvent>, CallError> {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        self.0.find(g, p, a, b, n).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_count_the_time_runs_out_for_is_a_problem_named_not_a_zero() {
    let logs = SlowLogs(logs_with(&[
        ("/ecs/api", H + MIN, 5),
        ("/ecs/web", H + MIN, 5),
    ]));
    let engine = engine_for(&logs.0, "", 0);
    let mut c = cfg(&["/ecs/api", "/ecs/web"]);
    // Time for one group's count, not two.
    c.stop = Some(tokio::time::Instant::now() + std::time::Duration::from_secs(90));
    let ledger = run(&c, &logs, &engine).await;
    assert_eq!(ledger.rows[&Key::new("/ecs/api", H)].source, Some(5));
    assert!(
        ledger
            .problems
            .iter()
            .any(|p| p.starts_with("source of /ecs/web") && p.contains("time ran out")),
        "{:?}",
        ledger.problems
    );
    let report = ledger.judge(H + 10 * HOUR_MS, SETTLE);
    assert_eq!(report.total.missing, 0, "not taken for zero");
    assert!(!report.clean());
}

#[tokio::test(start_paused = true)]
async fn logs_insights_and_filter_log_events_make_the_same_ledger() {
    let logs = logs_with(&[
        ("/ecs/api", H + 5 * MIN, 40),
        ("/ecs/api", H + HOUR_MS + 59 * MIN, 25),
        ("/ecs/web", H + 20 * MIN, 10),
        ("/ecs/jobs", H + 2 * HOUR_MS + 30 * MIN, 7),
    ]);
    let engine = engine_for(&logs, "/ecs/web", 3);
    let mut c = cfg(&["/ecs/api", "/ecs/jobs", "/ecs/web"]);
    let by_filter = run(&c, &logs, &engine).await;
    assert!(logs.started.lock().unwrap().is_empty());
    c.source = SourceCounter::Insights;
    let by_insights = run(&c, &logs, &engine).await;
    // One query for the three groups; no FilterLogEvents.
    assert_eq!(logs.started.lock().unwrap().len(), 1);
    assert_eq!(by_insights, by_filter);
    let Judged::Settled(v) = judged(&by_insights, "/ecs/web", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.short_at), (3, Some(Hop::Search)));
}

#[tokio::test(start_paused = true)]
async fn a_group_whose_events_are_filtered_is_counted_by_filter_log_events() {
    let logs = FakeLogs::default();
    for (i, m) in ["GET /orders", "GET /health", "POST /orders"]
        .iter()
        .enumerate()
    {
        for group in ["/ecs/api", "/ecs/web"] {
            logs.put(group, "web/1", H + i as i64 * MIN, m)
                .await
                .unwrap();
        }
    }
    let mut c = cfg(&["/ecs/api", "/ecs/web"]);
    c.source = SourceCounter::Insights;
    c.patterns.insert("/ecs/web".into(), "POST".into());
    let engine = FakeEngine::default();
    let ledger = run(&c, &logs, &engine).await;
    // /ecs/api by Logs Insights, every event; /ecs/web by its subscription's pattern.
    assert_eq!(
        *logs.started.lock().unwrap(),
        [vec!["/ecs/api".to_string()]]
    );
    assert_eq!(ledger.rows[&Key::new("/ecs/api", H)].source, Some(3));
    assert_eq!(ledger.rows[&Key::new("/ecs/web", H)].source, Some(1));
    // The transform drops health checks: only the messages tell which, so no query at all.
    c.transform_filter = Some(MessageFilter::new(None, Some("health")).unwrap());
    let ledger = run(&c, &logs, &engine).await;
    assert_eq!(logs.started.lock().unwrap().len(), 1);
    let api = &ledger.rows[&Key::new("/ecs/api", H)];
    assert_eq!(api.dropped, Some([("excluded".to_string(), 1)].into()));
}

#[tokio::test(start_paused = true)]
async fn a_query_that_fails_names_its_groups_and_counts_them_not() {
    let logs = logs_with(&[("/ecs/api", H + MIN, 4), ("/ecs/web", H + MIN, 4)]);
    *logs.insights_end.lock().unwrap() = Some("Failed".into());
    let engine = engine_for(&logs, "", 0);
    let mut c = cfg(&["/ecs/api", "/ecs/web"]);
    c.source = SourceCounter::Insights;
    let ledger = run(&c, &logs, &engine).await;
    assert!(
        ledger
            .problems
            .iter()
            .any(|p| p.starts_with("source of /ecs/api, /ecs/web: ") && p.contains("ended Failed")),
        "{:?}",
        ledger.problems
    );
    assert_eq!(ledger.rows[&Key::new("/ecs/api", H)].source, None);
    assert!(!ledger.judge(H + 10 * HOUR_MS, SETTLE).clean());
}

#[tokio::test]
async fn events_of_records_firehose_failed_are_missing_at_the_transform() {
    use processing_failed::tests::{failed_record, raw_data};
    let logs = logs_with(&[("/ecs/api", H + 5 * MIN, 10), ("/ecs/web", H + 5 * MIN, 4)]);
    // The forwarder indexed all but the three events whose record the transform failed.
    let engine = engine_for(&logs, "/ecs/api", 3);
    let failed: Vec<(i64, String)> = logs.events.lock().unwrap()[..3]
        .iter()
        .map(|e| (e.timestamp_ms, e.message.clone()))
        .collect();
    let failed: Vec<(i64, &str)> = failed.iter().map(|(t, m)| (*t, m.as_str())).collect();
    let objects = FakeObjects::default();
    let key = "errors/logs/processing-failed/2026/11/23/logpipe-prod-app-1-2026-11-23-08-09-00-x";
    let body = failed_record(&raw_data("/ecs/api", &failed));
    objects.put("logs", key, body.into_bytes(), H + 9 * MIN);
    let mut c = cfg(&["/ecs/api", "/ecs/web"]);
    c.processing_failed = Some(FailedPlace {
        bucket: "logs".into(),
        prefix: processing_failed::DEFAULT_PREFIX.parse().unwrap(),
    });
    let ledger = reconcile(&c, &logs, Some(&engine), Some(&objects), |_| {}).await;
    assert!(ledger.problems.is_empty(), "{:?}", ledger.problems);
    assert_eq!(ledger.rows[&Key::new("/ecs/api", H)].failed, Some(3));
    let Judged::Settled(v) = judged(&ledger, "/ecs/api", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.short_at), (3, Some(Hop::Transform)));
    let Judged::Settled(v) = judged(&ledger, "/ecs/web", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.short_at), (0, None));
    // Without the bucket, the same loss is seen at the next hop counted, and the run says so.
    c.processing_failed = None;
    let ledger = run(&c, &logs, &engine).await;
    let Judged::Settled(v) = judged(&ledger, "/ecs/api", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.short_at), (3, Some(Hop::Search)));
    assert!(ledger.not_counted.iter().any(|n| n.starts_with("failed")));
}

/// A transform's report line with its ledger, as `logcore::base::report::line` prints it.
fn transform_report(rows: &[(&str, i64, u64, u64)]) -> String {
    let mut tally = logcore::ledger::Tally::default();
    for (group, hour, received, excluded) in rows {
        tally.add_row(&logcore::ledger::TallyRow {
            group: group.to_string(),
            hour: *hour,
            seen: logcore::ledger::Seen {
                received: *received,
                excluded: *excluded,
                ..Default::default()
            },
        });
    }
    json!({"level": "INFO", "fields": {"message": "transform summary", "request_id": "r", "ledger": tally}})
        .to_string()
}

#[tokio::test(start_paused = true)]
async fn the_transforms_counts_name_a_loss_before_them_and_what_they_dropped() {
    let logs = FakeLogs::default();
    for i in 0..10 {
        let m = if i < 2 { "GET /health" } else { "GET /orders" };
        for group in ["/ecs/api", "/ecs/web"] {
            logs.put(group, "web/1", H + i * MIN, m).await.unwrap();
        }
    }
    // The transform received all of /ecs/api (dropping the 2 health checks) and 6 of /ecs/web: its
    // subscription was removed after the sixth event. Two invocations, one in the next hour.
    let app = "/logpipe/prod/app-transform";
    for (at, line) in [
        (
            H + 2 * MIN,
            transform_report(&[("/ecs/api", H, 6, 2), ("/ecs/web", H, 6, 2)]),
        ),
        (
            H + HOUR_MS + MIN,
            transform_report(&[("/ecs/api", H, 4, 0)]),
        ),
    ] {
        logs.put(app, "s", at, &line).await.unwrap();
    }
    let engine = FakeEngine::default();
    for (group, n) in [("/ecs/api", 8), ("/ecs/web", 4)] {
        for i in 0..n {
            engine
                .docs
                .lock()
                .unwrap()
                .push((group.to_string(), H + 2 * MIN + i));
        }
    }
    let mut c = cfg(&["/ecs/api", "/ecs/web"]);
    c.source = SourceCounter::Insights;
    c.transform_filter = Some(MessageFilter::new(None, Some("health")).unwrap());
    c.transform_logs = vec![app.to_string()];
    let ledger = run(&c, &logs, &engine).await;
    assert!(ledger.problems.is_empty(), "{:?}", ledger.problems);
    // The filter's drops come from the transform: the source is counted by Logs Insights all the same.
    assert_eq!(logs.started.lock().unwrap().len(), 1);
    let api = &ledger.rows[&Key::new("/ecs/api", H)];
    assert_eq!((api.source, api.received), (Some(10), Some(10)));
    assert_eq!(api.dropped, Some([("excluded".to_string(), 2)].into()));
    let Judged::Settled(v) = judged(&ledger, "/ecs/api", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.duplicated), (0, 0));
    let Judged::Settled(v) = judged(&ledger, "/ecs/web", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.short_at), (4, Some(Hop::Subscription)));
    // An hour the transform saw nothing of, for a group it counts: received 0, not unknown.
    logs.put("/ecs/web", "web/1", H + HOUR_MS + 5 * MIN, "GET /orders")
        .await
        .unwrap();
    let ledger = run(&c, &logs, &engine).await;
    let web = &ledger.rows[&Key::new("/ecs/web", H + HOUR_MS)];
    assert_eq!((web.source, web.received), (Some(1), Some(0)));
    // A report line of an older transform, without a ledger: named.
    logs.put(
        app,
        "s",
        H + 3 * MIN,
        r#"{"level":"INFO","fields":{"message":"transform summary"}}"#,
    )
    .await
    .unwrap();
    let ledger = run(&c, &logs, &engine).await;
    assert!(
        ledger
            .problems
            .iter()
            .any(|p| p.contains("1 of 3 transform report lines have no ledger")),
        "{:?}",
        ledger.problems
    );
}

#[tokio::test]
async fn an_archive_too_heavy_to_read_is_said_not_counted_and_one_read_names_its_hop() {
    let logs = logs_with(&[("/ecs/api", H + 5 * MIN, 4)]);
    // The forwarder never read the object: nothing indexed, all archived.
    let engine = FakeEngine::default();
    let objects = FakeObjects::default();
    let docs: String = logs
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| {
            let ts = logcore::base::time::DateTimeParts::from_millis(e.timestamp_ms).rfc3339();
            format!("{{\"@timestamp\":\"{ts}\",\"log\":{{\"group\":\"/ecs/api\"}}}}\n")
        })
        .collect();
    objects.put(
        "logs",
        "logs/2026/11/23/08/o.gz",
        logcore::base::codec::gzip(docs.as_bytes(), 1),
        0,
    );
    let mut c = cfg(&["/ecs/api"]);
    c.archive = Some(ArchivePlace {
        bucket: "logs".into(),
        key_prefixes: vec![crate::scan::KeyPrefix::default()],
        max_bytes: 1 << 20,
    });
    let ledger = reconcile(&c, &logs, Some(&engine), Some(&objects), |_| {}).await;
    assert_eq!(ledger.rows[&Key::new("/ecs/api", H)].archived, Some(4));
    let Judged::Settled(v) = judged(&ledger, "/ecs/api", H) else {
        panic!("not settled")
    };
    assert_eq!((v.missing, v.short_at), (4, Some(Hop::Search)));
    c.archive.as_mut().unwrap().max_bytes = 8;
    let ledger = reconcile(&c, &logs, Some(&engine), Some(&objects), |_| {}).await;
    assert_eq!(ledger.rows[&Key::new("/ecs/api", H)].archived, None);
    assert!(ledger.problems.is_empty(), "{:?}", ledger.problems);
    assert!(ledger
        .not_counted
        .iter()
        .any(|n| n.starts_with("archive: ") && n.contains("over the")));
}
