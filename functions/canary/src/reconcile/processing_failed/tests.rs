use std::io::Write;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::tests::FakeObjects;

/// 2026-11-23T08:00:00Z, an hour's start.
const H: i64 = 1_795_420_800_000;
const MIN: i64 = 60_000;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn b64(bytes: &[u8]) -> String {
    logcore::base::codec::encode_base64(bytes)
}

/// A Firehose record of a CloudWatch Logs payload: base64 of its gzip JSON.
pub(crate) fn raw_data(group: &str, events: &[(i64, &str)]) -> String {
    let events: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, (ts, m))| json!({"id": format!("{i:056}"), "timestamp": ts, "message": m}))
        .collect();
    let payload = json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
        "logStream": "web/1", "subscriptionFilters": ["logpipe-prod-app"], "logEvents": events,
    });
    b64(&gzip(payload.to_string().as_bytes()))
}

/// One processing-failed record as the Firehose developer guide shows it.
pub(crate) fn failed_record(raw: &str) -> String {
    json!({
        "attemptsMade": 4, "arrivalTimestamp": H + 5 * MIN, "errorCode": "Lambda.ProcessingFailed",
        "errorMessage": "record 1: decompressed size over the cap", "attemptEndingTimestamp": H + 9 * MIN,
        "rawData": raw, "lambdaArn": "arn:aws:lambda:eu-west-1:123456789012:function:logpipe-prod-app-transform:$LATEST",
    })
    .to_string()
}

fn control() -> String {
    let payload = json!({
        "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
        "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": H, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}],
    });
    b64(&gzip(payload.to_string().as_bytes()))
}

#[test]
fn each_failed_records_events_are_counted_by_group_and_their_own_hour() {
    let body = [
        failed_record(&raw_data(
            "/ecs/api",
            &[
                (H + MIN, "GET /a"),
                (H + 2 * MIN, "GET /b"),
                (H + HOUR_MS + MIN, "GET /c"),
            ],
        )),
        "\n".into(),
        // The next record follows without a newline.
        failed_record(&raw_data("/ecs/web", &[(H + 3 * MIN, "GET /health")])),
        failed_record(&control()),
        "\n".into(),
        failed_record("not base64 !"),
        "\n".into(),
        json!({"attemptsMade": 1}).to_string(),
    ]
    .concat();
    let mut c = FailedCounts::default();
    c.add_object(
        "errors/logs/processing-failed/2026/11/23/f-1.gz",
        &gzip(body.as_bytes()),
        None,
        None,
    );
    assert_eq!(
        c.rows,
        BTreeMap::from([
            (("/ecs/api".to_string(), H), 2),
            (("/ecs/api".to_string(), H + HOUR_MS), 1),
            (("/ecs/web".to_string(), H), 1),
        ])
    );
    assert_eq!(c.records, 5);
    assert_eq!(c.unreadable.len(), 2, "{:?}", c.unreadable);
    assert!(c.unreadable[0]
        .starts_with("errors/logs/processing-failed/2026/11/23/f-1.gz, record 4: rawData"));
    assert!(c.unreadable[1].ends_with("record 5: no rawData"));
    // What the transform's filter drops was dropped on purpose, not lost by the failure.
    let health = MessageFilter::new(None, Some("health")).unwrap();
    let mut c = FailedCounts::default();
    c.add_object("k", body.as_bytes(), Some(&health), None);
    assert_eq!(c.rows.get(&("/ecs/web".to_string(), H)), None);
}

/// With the transform's multiline rules its filter judges a stack trace whole: a frame that matches the
/// exclude pattern drops the trace's every line, as the transform drops them, and none is counted failed.
#[test]
fn a_failed_records_trace_is_filtered_whole_as_the_transform_does() {
    let raw = raw_data(
        "/ecs/api",
        &[
            (H, "java.lang.IllegalStateException: closed"),
            (H, "\tat com.example.Health.check(Health.java:1)"),
            (H, "\tat a.B.c(B.java:2)"),
            (H, "ERROR payment declined"),
        ],
    );
    let body = failed_record(&raw);
    let health = MessageFilter::new(None, Some("Health")).unwrap();
    let rules = logcore::logs::multiline::Rules::builtin();
    let mut joined = FailedCounts::default();
    joined.add_object("k", body.as_bytes(), Some(&health), Some(&rules));
    assert_eq!(joined.rows.values().sum::<u64>(), 1);
    let mut alone = FailedCounts::default();
    alone.add_object("k", body.as_bytes(), Some(&health), None);
    assert_eq!(alone.rows.values().sum::<u64>(), 3);
}

#[test]
fn an_object_that_is_not_records_is_named_once() {
    let mut c = FailedCounts::default();
    let body = format!(
        "{}\n{{\"rawData\": tru",
        failed_record(&raw_data("/ecs/api", &[(H, "x")]))
    );
    c.add_object("k", body.as_bytes(), None, None);
    assert_eq!(c.rows.values().sum::<u64>(), 1);
    assert_eq!(c.unreadable.len(), 1);
    assert!(c.unreadable[0].starts_with("k, from record 2: not JSON"));
    let mut c = FailedCounts::default();
    c.add_object("k", &[0x1f, 0x8b, 0, 1, 2], None, None);
    assert_eq!(c.unreadable.len(), 1);
}

#[tokio::test]
async fn failures_are_listed_by_day_from_the_window_to_two_hours_after_it() {
    let place = FailedPlace {
        bucket: "logs".into(),
        prefix: DEFAULT_PREFIX.parse().unwrap(),
    };
    // A window ending at 23:00 lists the next day too.
    let end = H + 15 * HOUR_MS;
    let prefixes = listing_prefixes(&place, H, end);
    assert_eq!(
        prefixes,
        [
            "errors/logs/processing-failed/2026/11/23/",
            "errors/logs/processing-failed/2026/11/24/"
        ]
    );
    let objects = FakeObjects::default();
    let late = failed_record(&raw_data(
        "/ecs/api",
        &[(H + 14 * HOUR_MS + 50 * MIN, "late")],
    ));
    objects.put(
        "logs",
        "errors/logs/processing-failed/2026/11/24/f-2",
        late.into_bytes(),
        0,
    );
    let elsewhere = failed_record(&raw_data("/ecs/api", &[(H, "another stream's")]));
    objects.put(
        "logs",
        "errors/audit/processing-failed/2026/11/23/f-3",
        elsewhere.into_bytes(),
        0,
    );
    let c = count(&objects, &place, H, end, None, None).await.unwrap();
    assert_eq!(
        c.rows,
        BTreeMap::from([(("/ecs/api".to_string(), H + 14 * HOUR_MS), 1)])
    );
}

proptest! {
    #[test]
    fn any_object_is_counted_or_named_never_a_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut c = FailedCounts::default();
        c.add_object("k", &body, None, None);
        prop_assert!(c.unreadable.len() as u64 <= c.records + 1);
    }

    #[test]
    fn every_event_of_a_readable_record_is_counted_once(
        events in prop::collection::vec((0i64..48 * HOUR_MS, "[a-z ]{0,12}"), 1..20)
    ) {
        let evs: Vec<(i64, &str)> = events.iter().map(|(t, m)| (H + t, m.as_str())).collect();
        let mut c = FailedCounts::default();
        c.add_object("k", failed_record(&raw_data("/ecs/api", &evs)).as_bytes(), None, None);
        prop_assert!(c.unreadable.is_empty());
        prop_assert_eq!(c.rows.values().sum::<u64>(), evs.len() as u64);
    }
}
