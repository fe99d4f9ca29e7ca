use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::tests::{FakeFinder, FakeLogs, FakeObjects};
use crate::Hit;

/// 2026-11-23T08:00:00Z
const T0: i64 = 1_795_420_800_000;
const MIN: i64 = 60_000;
const GROUP: &str = "/ecs/api";

fn cfg() -> VerifyConfig {
    VerifyConfig {
        group: GROUP.into(),
        from_ms: T0,
        to_ms: T0 + 60 * MIN,
        index_pattern: "logs-app-*.*.*".into(),
        max_events: 1_000,
        batch: 3,
        bucket: Some("logs-bucket".into()),
        key_prefixes: vec!["logs/%Y/%m/%d/%H/".parse().unwrap()],
        max_scan_bytes: 1 << 20,
    }
}

/// `n` events of the group a minute apart, and one of another group.
async fn logs_with(n: usize) -> FakeLogs {
    let logs = FakeLogs::default();
    for i in 0..n {
        logs.put(GROUP, "web/1", T0 + i as i64 * MIN, &format!("request {i}"))
            .await
            .unwrap();
    }
    logs.put("/ecs/web", "web/1", T0, "elsewhere")
        .await
        .unwrap();
    logs
}

fn id(n: usize) -> String {
    format!("{n:056}")
}

fn index(finder: &FakeFinder, ids: impl IntoIterator<Item = usize>, index: &str) {
    let mut docs = finder.docs.lock().unwrap();
    for n in ids {
        docs.push(Hit {
            index: index.into(),
            id: id(n),
            source: json!({"event": {"id": id(n)}}),
        });
    }
}

#[tokio::test]
async fn a_window_delivered_whole_is_clean_and_checked_in_batches() {
    let logs = logs_with(7).await;
    let finder = FakeFinder::default();
    index(&finder, 1..=8, "logs-app-2026.11.23");
    let mut seen = Vec::new();
    let v = verify(&cfg(), &logs, None::<&FakeObjects>, &finder, |d, t| {
        seen.push((d, t))
    })
    .await
    .unwrap();
    assert!(v.clean(), "{}", v.render());
    assert_eq!((v.events, v.indexed), (7, 7));
    assert_eq!(seen, [(3, 7), (6, 7), (7, 7)]);
    assert!(
        v.notes.is_empty(),
        "nothing to look for in S3: {:?}",
        v.notes
    );
    assert!(v
        .render()
        .ends_with("7 events in CloudWatch Logs, 7 indexed, 0 missing, 0 duplicated\n"));
}

/// A stack trace joined into one document: the events after its first are found under its
/// `event.joined.ids`, checked in batches too; one also indexed alone is a duplicate.
#[tokio::test]
async fn events_joined_into_another_document_are_found_by_its_joined_ids() {
    let logs = logs_with(7).await;
    let finder = FakeFinder::default();
    index(&finder, [1, 2, 6, 7], "logs-app-2026.11.23");
    finder.docs.lock().unwrap().push(Hit {
        index: "logs-app-2026.11.23".into(),
        id: id(2),
        source: json!({"event": {"id": id(2), "joined": {"count": 3, "ids": [id(3), id(4), id(5)]}}}),
    });
    // The hit above replaced the plain document of 2.
    finder
        .docs
        .lock()
        .unwrap()
        .retain(|h| h.id != id(2) || h.source["event"].get("joined").is_some());
    let v = verify(&cfg(), &logs, None::<&FakeObjects>, &finder, |_, _| {})
        .await
        .unwrap();
    assert!(v.clean(), "{}", v.render());
    assert_eq!((v.events, v.indexed), (7, 7));
    // 4 indexed on its own as well: twice.
    index(&finder, [4], "logs-app-2026.11.23");
    let v = verify(&cfg(), &logs, None::<&FakeObjects>, &finder, |_, _| {})
        .await
        .unwrap();
    assert_eq!(v.duplicated.keys().collect::<Vec<_>>(), [&id(4)]);
    assert!(v.missing.is_empty());
}

#[tokio::test]
async fn each_missing_id_is_listed_with_the_last_hop_that_saw_it() {
    let logs = logs_with(6).await;
    let finder = FakeFinder::default();
    // 2 and 5 are not indexed; 3 is indexed twice.
    index(&finder, [1, 3, 4, 6], "logs-app-2026.11.23");
    index(&finder, [3], "logs-app-2026.11.24");
    // 2 reached S3 (Firehose wrote it, the forwarder never indexed it); 5 never left CloudWatch Logs.
    let objects = FakeObjects::default();
    let body = format!(
        "{{\"event\":{{\"id\":\"{}\"}},\"message\":\"request 1\"}}\n",
        id(2)
    );
    objects.put(
        "logs-bucket",
        "logs/2026/11/23/08/firehose-1.gz",
        crate::tests::gzip(&body),
        T0 + 5 * MIN,
    );
    let v = verify(&cfg(), &logs, Some(&objects), &finder, |_, _| {})
        .await
        .unwrap();
    assert!(!v.clean());
    assert_eq!((v.events, v.indexed), (6, 4));
    let missing: Vec<(&str, Hop, Option<&str>)> = v
        .missing
        .iter()
        .map(|m| (m.event_id.as_str(), m.last_hop, m.object.as_deref()))
        .collect();
    assert_eq!(
        missing,
        [
            (
                id(2).as_str(),
                Hop::S3,
                Some("logs/2026/11/23/08/firehose-1.gz")
            ),
            (id(5).as_str(), Hop::CloudWatchLogs, None)
        ]
    );
    assert_eq!(
        v.duplicated[&id(3)],
        ["logs-app-2026.11.23", "logs-app-2026.11.24"]
    );
    let text = v.render();
    assert!(
        text.contains(&format!("missing     {}  2026-11-23T08:01:00.000Z  stream web/1  last seen in S3 (logs/2026/11/23/08/firehose-1.gz)", id(2))),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "duplicated  {}  in logs-app-2026.11.23, logs-app-2026.11.24",
            id(3)
        )),
        "{text}"
    );
    assert!(
        text.ends_with("6 events in CloudWatch Logs, 4 indexed, 2 missing, 1 duplicated\n"),
        "{text}"
    );
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["missing"][1]["last_hop"], "cloudwatch_logs");
}

#[tokio::test]
async fn without_a_bucket_the_last_hop_is_cloudwatch_logs_and_said_so() {
    let logs = logs_with(2).await;
    let finder = FakeFinder::default();
    let mut c = cfg();
    c.bucket = None;
    let v = verify(&c, &logs, Some(&FakeObjects::default()), &finder, |_, _| {})
        .await
        .unwrap();
    assert_eq!(v.missing.len(), 2);
    assert!(v.missing.iter().all(|m| m.last_hop == Hop::CloudWatchLogs));
    assert_eq!(v.notes, ["S3 not checked (no bucket given)"]);
}

#[tokio::test]
async fn a_window_too_large_or_an_answer_cut_short_is_refused_not_checked_in_part() {
    let logs = logs_with(5).await;
    let finder = FakeFinder::default();
    let mut c = cfg();
    c.max_events = 4;
    let e = verify(&c, &logs, None::<&FakeObjects>, &finder, |_, _| {})
        .await
        .unwrap_err();
    assert!(
        e.message.contains("/ecs/api holds more than 4 events"),
        "{e}"
    );

    // Event 1 in three indices: a batch of one asks for three hits and gets three.
    index(&finder, [1], "logs-app-2026.11.23");
    index(&finder, [1], "logs-app-2026.11.24");
    index(&finder, [1], "logs-app-2026.11.25");
    let mut c = cfg();
    c.batch = 1;
    let e = verify(&c, &logs, None::<&FakeObjects>, &finder, |_, _| {})
        .await
        .unwrap_err();
    assert!(e.message.contains("cut short"), "{e}");

    *logs.fail_find.lock().unwrap() = true;
    let e = verify(&cfg(), &logs, None::<&FakeObjects>, &finder, |_, _| {})
        .await
        .unwrap_err();
    assert!(e.message.contains("FilterLogEvents on /ecs/api"), "{e}");
}

#[tokio::test]
async fn the_window_ends_before_to_ms() {
    // An event at exactly `to_ms` belongs to the next window.
    let logs = logs_with(61).await;
    let finder = FakeFinder::default();
    let v = verify(&cfg(), &logs, None::<&FakeObjects>, &finder, |_, _| {})
        .await
        .unwrap();
    assert_eq!(v.events, 60);
}

proptest! {
    /// Whatever the index holds of the window, the missing ids are exactly the ones it lacks and the
    /// duplicates exactly the ones it holds twice.
    #[test]
    fn missing_and_duplicated_are_exact(
        held in prop::collection::vec(0u8..3, 1..40),
        batch in 1usize..8,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let logs = logs_with(held.len()).await;
            let finder = FakeFinder::default();
            for (i, copies) in held.iter().enumerate() {
                for c in 0..*copies {
                    index(&finder, [i + 1], &format!("logs-app-2026.11.2{c}"));
                }
            }
            let mut c = cfg();
            c.batch = batch;
            c.bucket = None;
            let v = verify(&c, &logs, None::<&FakeObjects>, &finder, |_, _| {}).await.unwrap();
            let want_missing: Vec<String> =
                (0..held.len()).filter(|i| held[*i] == 0).map(|i| id(i + 1)).collect();
            let got: Vec<String> = v.missing.iter().map(|m| m.event_id.clone()).collect();
            prop_assert_eq!(got, want_missing);
            let want_dup: Vec<String> =
                (0..held.len()).filter(|i| held[*i] == 2).map(|i| id(i + 1)).collect();
            prop_assert_eq!(v.duplicated.keys().cloned().collect::<Vec<_>>(), want_dup);
            prop_assert_eq!(v.indexed + v.missing.len() as u64, v.events);
            Ok(())
        })?;
    }
}
