use proptest::prelude::*;

use super::*;
use crate::tests::FakeLogs;

/// 2026-11-23T08:00:00Z, an hour's start.
const H: i64 = 1_795_420_800_000;
const MIN: i64 = 60_000;

fn row(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect()
}

fn names(groups: &[&str]) -> Vec<String> {
    groups.iter().map(|g| g.to_string()).collect()
}

/// `n` events of each group at each of `at`.
fn logs_with(groups: &[String], at: &[i64], n: usize) -> FakeLogs {
    let events: Vec<(&str, i64, usize)> = groups
        .iter()
        .flat_map(|g| at.iter().map(move |&t| (g.as_str(), t, n)))
        .collect();
    crate::reconcile::tests::logs_with(&events)
}

#[test]
fn rows_are_read_whatever_the_order_of_their_fields_and_the_form_of_their_bin() {
    let groups = names(&["/ecs/api", "/ecs/web"]);
    let rows = vec![
        row(&[
            ("@log", "123456789012:/ecs/api"),
            ("hour", "2026-11-23 08:00:00.000"),
            ("events", "12"),
        ]),
        row(&[
            ("events", "3"),
            ("hour", "2026-11-23T09:00:00.000Z"),
            ("@log", "210987654321:/ecs/web"),
        ]),
        // The bin of the window's end (its last second is queried, and counted here): left out.
        row(&[
            ("hour", "2026-11-23 10:00:00.000"),
            ("@log", "123456789012:/ecs/api"),
            ("events", "1"),
        ]),
    ];
    let counted = parse_rows(&rows, &groups, H, H + 2 * HOUR_MS).unwrap();
    assert_eq!(
        counted,
        BTreeMap::from([
            (("/ecs/api".to_string(), H), 12),
            (("/ecs/web".to_string(), H + HOUR_MS), 3),
        ])
    );
}

#[test]
fn a_row_that_cannot_be_read_is_an_error_naming_it() {
    let groups = names(&["/ecs/api"]);
    let ok = [
        ("@log", "123456789012:/ecs/api"),
        ("hour", "2026-11-23 08:00:00.000"),
        ("events", "12"),
    ];
    let with = |i: usize, v: &str| {
        let mut r = ok;
        r[i].1 = v;
        vec![row(&r)]
    };
    let err =
        |rows: Vec<Vec<(String, String)>>| parse_rows(&rows, &groups, H, H + HOUR_MS).unwrap_err();
    assert!(err(vec![row(&ok[..2])]).contains("without events"));
    assert!(err(with(0, "123456789012:/ecs/other")).contains("did not name"));
    assert!(err(with(1, "08:00")).contains("hour is \"08:00\""));
    assert!(err(with(1, "2026-11-23 08:30:00.000")).contains("not an hour's start"));
    assert!(err(with(2, "12.5")).contains("count is \"12.5\""));
    assert!(err(with(2, "-1")).contains("count is"));
    let full: Vec<_> = (0..MAX_ROWS).map(|_| row(&ok)).collect();
    assert!(err(full).contains("cut off"));
}

#[test]
fn queries_hold_at_most_50_groups_and_fewer_rows_than_the_limit() {
    let groups: Vec<String> = (0..120).map(|i| format!("/g/{i}")).collect();
    let sizes = |hours| -> Vec<usize> {
        batches(&groups, hours)
            .unwrap()
            .iter()
            .map(Vec::len)
            .collect()
    };
    assert_eq!(sizes(1), [50, 50, 20]);
    assert_eq!(sizes(24), [50, 50, 20]);
    // 500 hours: 19 groups a query (9,500 rows).
    assert!(sizes(500).iter().all(|&n| n <= 19));
    assert_eq!(sizes(500).iter().sum::<usize>(), 120);
    assert!(batches(&groups, MAX_ROWS)
        .unwrap_err()
        .contains("shorter window"));
}

#[test]
fn the_source_counter_is_named_in_words() {
    assert_eq!("insights".parse(), Ok(SourceCounter::Insights));
    assert_eq!(" filter ".parse(), Ok(SourceCounter::Filter));
    assert!("athena"
        .parse::<SourceCounter>()
        .unwrap_err()
        .contains("`insights`"));
}

#[test]
fn insights_counts_a_group_only_where_it_counts_every_event_the_pipeline_carries() {
    let noop = MessageFilter::default();
    let exclude = MessageFilter::new(None, Some("health")).unwrap();
    assert!(eligible("", None));
    assert!(eligible(" ", Some(&noop)));
    assert!(!eligible("ERROR", None));
    assert!(!eligible("", Some(&exclude)));
}

#[tokio::test(start_paused = true)]
async fn sixty_groups_are_counted_in_two_queries_polled_until_complete() {
    let groups: Vec<String> = (0..60).map(|i| format!("/ecs/svc-{i:02}")).collect();
    let logs = logs_with(&groups, &[H + MIN, H + HOUR_MS + 59 * MIN], 3);
    *logs.insights_polls.lock().unwrap() = 3;
    let out = count(&logs, &groups, H + 10 * MIN, H + 2 * HOUR_MS, None).await;
    assert_eq!(out.len(), 2);
    let started = logs.started.lock().unwrap().clone();
    assert_eq!(started.iter().map(Vec::len).collect::<Vec<_>>(), [50, 10]);
    let mut all = BTreeMap::new();
    for (_, counted) in out {
        all.extend(counted.unwrap());
    }
    // Every group, both hours, each 3 events: the partial rows of `Running` were never read.
    assert_eq!(all.len(), 120);
    assert!(all.values().all(|&n| n == 3));
}

#[tokio::test(start_paused = true)]
async fn queries_over_the_accounts_limit_wait_for_a_place_and_then_run() {
    let groups: Vec<String> = (0..300).map(|i| format!("/ecs/svc-{i:03}")).collect();
    let logs = logs_with(&groups, &[H + MIN], 1);
    // Others' queries leave two places.
    *logs.insights_slots.lock().unwrap() = 2;
    let out = count(&logs, &groups, H, H + HOUR_MS, None).await;
    assert_eq!(out.len(), 6);
    let total: u64 = out
        .into_iter()
        .flat_map(|(_, c)| c.unwrap().into_values())
        .sum();
    assert_eq!(total, 300);
}

#[tokio::test(start_paused = true)]
async fn a_query_that_ends_otherwise_than_complete_leaves_its_groups_not_counted() {
    let groups = names(&["/ecs/api", "/ecs/web"]);
    let logs = logs_with(&groups, &[H + MIN], 2);
    *logs.insights_end.lock().unwrap() = Some("Timeout".into());
    let out = count(&logs, &groups, H, H + HOUR_MS, None).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, groups);
    let why = out[0].1.as_ref().unwrap_err();
    assert!(why.contains("ended Timeout"), "{why}");
}

#[tokio::test(start_paused = true)]
async fn a_query_unanswered_at_the_runs_stop_is_stopped_and_said_not_counted() {
    let groups = names(&["/ecs/api"]);
    let logs = logs_with(&groups, &[H + MIN], 2);
    *logs.insights_polls.lock().unwrap() = 1_000;
    let stop = Instant::now() + Duration::from_secs(30);
    let out = count(&logs, &groups, H, H + HOUR_MS, Some(stop)).await;
    let why = out[0].1.as_ref().unwrap_err();
    assert!(why.contains("time ran out"), "{why}");
    assert!(Instant::now() <= stop);
    // StopQuery freed its place.
    assert!(logs.queries.lock().unwrap().values().all(|q| q.done));
}

proptest! {
    #[test]
    fn a_bin_reads_back_as_the_hour_it_names(hours in 0i64..2_000_000) {
        let hour = hours * HOUR_MS;
        let text = logcore::base::time::DateTimeParts::from_millis(hour).rfc3339();
        prop_assert_eq!(parse_bin(&text), Some(hour));
        let insights = text.replace('T', " ");
        prop_assert_eq!(parse_bin(insights.trim_end_matches('Z')), Some(hour));
    }

    #[test]
    fn any_rows_are_read_or_refused_never_a_panic(
        rows in prop::collection::vec(
            prop::collection::vec(("[@a-z]{0,6}", "[-0-9 :.TZa-z/]{0,24}"), 0..4),
            0..8,
        )
    ) {
        let groups = names(&["/ecs/api"]);
        if let Ok(counted) = parse_rows(&rows, &groups, H, H + 24 * HOUR_MS) {
            prop_assert!(counted.keys().all(|(g, h)| g == "/ecs/api" && hour_of(*h) == *h));
        }
    }
}
