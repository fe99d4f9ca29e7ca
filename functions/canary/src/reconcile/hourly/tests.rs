use std::sync::Mutex;

use logcore::ledger::HOUR_MS;
use logcore::logs::glob::GroupPattern;

use super::*;
use crate::reconcile::tests::FakeEngine;
use crate::tests::{FakeLogs, FakeObjects};

/// 2026-11-23T08:00:00Z, an hour's start.
const H: i64 = 1_795_420_800_000;
const MIN: i64 = 60_000;

impl Subscriptions for FakeLogs {
    async fn groups(&self, prefix: Option<&str>) -> Result<Vec<String>, CallError> {
        let mut out: Vec<String> = self
            .events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.group.clone())
            .filter(|g| prefix.is_none_or(|p| g.starts_with(p)))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn filter_pattern(&self, group: &str, name: &str) -> Result<Option<String>, CallError> {
        assert_eq!(name, "logpipe-test-app");
        Ok((group == "/ecs/web").then(|| "orders".to_string()))
    }
}

fn hourly() -> Hourly {
    Hourly {
        groups: vec![GroupPattern::parse("/ecs/*").unwrap()],
        filter_name: Some("logpipe-test-app".into()),
        settle_ms: 30 * MIN,
        transform_filter: MessageFilter::default(),
        transform_multiline: None,
        dead_letter_prefix: "failed/".into(),
        key_prefixes: vec!["logs/%Y/%m/%d/%H/".parse().unwrap()],
        max_events: 10_000,
        max_hours: 24,
        source: crate::reconcile::SourceCounter::Insights,
        transform_logs: Vec::new(),
        archive_max_bytes: 0,
        failed_prefix: crate::reconcile::processing_failed::DEFAULT_PREFIX
            .parse()
            .unwrap(),
    }
}

async fn world() -> (Config, FakeLogs, FakeEngine, FakeObjects) {
    let logs = FakeLogs::default();
    for hour in 0..4 {
        for i in 0..5 {
            let t = H + hour * HOUR_MS + i * MIN;
            logs.put("/ecs/api", "web/1", t, "GET /cart").await.unwrap();
            logs.put("/ecs/web", "web/1", t, "GET /orders")
                .await
                .unwrap();
            logs.put("/ecs/web", "web/1", t, "GET /health")
                .await
                .unwrap();
            logs.put("/other/x", "s", t, "not reconciled")
                .await
                .unwrap();
        }
    }
    // Indexed: everything the subscriptions carry, but one /ecs/api event of the second hour.
    let docs: Vec<(String, i64)> = logs
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.group == "/ecs/api" || e.message.contains("orders"))
        .filter(|e| !(e.group == "/ecs/api" && e.timestamp_ms == H + HOUR_MS + 2 * MIN))
        .map(|e| (e.group.clone(), e.timestamp_ms))
        .collect();
    let engine = FakeEngine {
        docs: Mutex::new(docs),
        ..FakeEngine::default()
    };
    let mut cfg = Config::new("/logpipe/test/heartbeat", "logs-bucket");
    cfg.index_pattern = "logs-app-*".into();
    (cfg, logs, engine, FakeObjects::default())
}

#[tokio::test]
async fn each_settled_hour_is_reconciled_once_and_a_loss_named() {
    let (cfg, logs, engine, objects) = world().await;
    let h = hourly();
    // 08:50: nothing has settled yet that was not... the first run takes the last settled hour (07:00).
    let first = run_hourly(
        &cfg,
        &h,
        (&logs, Some(&engine), &objects),
        H + 50 * MIN,
        None,
    )
    .await
    .unwrap();
    assert_eq!((first.from_ms, first.to_ms), (H - HOUR_MS, H));
    assert_eq!(first.summary.hours, 1);
    assert_eq!(first.summary.events, 0, "07:00 held nothing");
    // 10:40: 08:00 and 09:00 have settled (09:00 ended at 10:00, settled at 10:30).
    let second = run_hourly(
        &cfg,
        &h,
        (&logs, Some(&engine), &objects),
        H + 2 * HOUR_MS + 40 * MIN,
        None,
    )
    .await
    .unwrap();
    assert_eq!((second.from_ms, second.to_ms), (H, H + 2 * HOUR_MS));
    let s = &second.summary;
    assert_eq!((s.hours, s.groups), (2, 2));
    // /ecs/api 5 + 5, /ecs/web's subscription carries only its 5 + 5 orders.
    assert_eq!(s.events, 20);
    assert_eq!((s.missing, s.duplicated, s.problems), (1, 0, 0));
    let report = second.report.as_ref().unwrap();
    let lost: Vec<(&str, i64)> = report
        .findings()
        .map(|r| (r.group.as_str(), r.hour_ms))
        .collect();
    assert_eq!(lost, [("/ecs/api", H + HOUR_MS)]);
    // The same hour again: nothing to do.
    let again = run_hourly(
        &cfg,
        &h,
        (&logs, Some(&engine), &objects),
        H + 2 * HOUR_MS + 59 * MIN,
        None,
    )
    .await
    .unwrap();
    assert!(again.report.is_none());
    assert_eq!(again.summary, ReconcileSummary::default());
}

#[tokio::test]
async fn a_long_pause_catches_up_on_the_most_recent_hours_only() {
    let (cfg, logs, engine, objects) = world().await;
    let mut h = hourly();
    h.max_hours = 2;
    objects.put(
        "logs-bucket",
        STATE_KEY,
        br#"{"reconciled_through_ms":1}"#.to_vec(),
        0,
    );
    let run = run_hourly(
        &cfg,
        &h,
        (&logs, Some(&engine), &objects),
        H + 4 * HOUR_MS + 31 * MIN,
        None,
    )
    .await
    .unwrap();
    assert_eq!((run.from_ms, run.to_ms), (H + 2 * HOUR_MS, H + 4 * HOUR_MS));
    let state = objects.objects.lock().unwrap()
        [&("logs-bucket".to_string(), STATE_KEY.to_string())]
        .0
        .clone();
    assert_eq!(
        serde_json::from_slice::<ReconcileState>(&state).unwrap(),
        ReconcileState {
            reconciled_through_ms: H + 4 * HOUR_MS
        }
    );
    objects.put("logs-bucket", STATE_KEY, b"{not json".to_vec(), 0);
    let e = run_hourly(
        &cfg,
        &h,
        (&logs, Some(&engine), &objects),
        H + 5 * HOUR_MS,
        None,
    )
    .await
    .unwrap_err();
    assert!(e.message.contains("canary/reconcile.json"), "{e}");
}

#[tokio::test]
async fn a_count_that_fails_is_a_problem_and_the_hour_is_not_tried_again() {
    let (cfg, logs, mut engine, objects) = world().await;
    engine.fail = Some(CallError::throttled("HTTP 429"));
    let run = run_hourly(
        &cfg,
        &hourly(),
        (&logs, Some(&engine), &objects),
        H + HOUR_MS + 31 * MIN,
        None,
    )
    .await
    .unwrap();
    assert_eq!(run.summary.problems, 1);
    assert_eq!(run.summary.missing, 0, "not taken for zero");
    let again = run_hourly(
        &cfg,
        &hourly(),
        (&logs, Some(&engine), &objects),
        H + HOUR_MS + 50 * MIN,
        None,
    )
    .await
    .unwrap();
    assert!(again.report.is_none());
}

#[test]
fn the_drill_down_names_the_group_and_the_hour() {
    assert_eq!(
        drill_down("/ecs/api", H),
        "logpipe verify -g '/ecs/api' --from 2026-11-23T08:00:00.000Z --to 2026-11-23T09:00:00.000Z"
    );
}

#[test]
fn a_finding_says_what_is_lost_where_and_how_to_list_it_in_one_sentence() {
    let row = Row {
        group: "/ecs/web".into(),
        hour_ms: H,
        counts: logcore::ledger::Counts {
            source: Some(1502),
            dropped: Some(BTreeMap::new()),
            failed: Some(3),
            indexed: Some(1498),
            ..Default::default()
        },
        judged: Judged::Unchecked,
    };
    let v = Verdict {
        missing: 4,
        duplicated: 0,
        short_at: Some(logcore::ledger::Hop::Transform),
    };
    assert_eq!(
        finding(&row, &v),
        "reconcile: 4 events missing in /ecs/web 2026-11-23T08:00:00.000Z (source 1502, dropped 0, \
         failed 3, indexed 1498, dead-lettered -), short at transform; list them: logpipe verify -g \
         '/ecs/web' --from 2026-11-23T08:00:00.000Z --to 2026-11-23T09:00:00.000Z"
    );
    let v = Verdict {
        missing: 0,
        duplicated: 2,
        short_at: None,
    };
    assert!(finding(&row, &v).starts_with("reconcile: 2 events duplicated in /ecs/web "));
}

#[tokio::test]
async fn globs_regexes_and_names_expand_to_the_accounts_groups() {
    let (_, logs, _, _) = world().await;
    let patterns =
        ["/ecs/w*", "re:^/other/", "/named/only"].map(|p| GroupPattern::parse(p).unwrap());
    let groups = expand_groups(&logs, &patterns).await.unwrap();
    assert_eq!(groups, ["/ecs/web", "/named/only", "/other/x"]);
    let p = filter_patterns(&logs, &groups, "logpipe-test-app")
        .await
        .unwrap();
    assert_eq!(
        p,
        BTreeMap::from([("/ecs/web".to_string(), "orders".to_string())])
    );
}
