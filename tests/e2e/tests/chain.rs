//! The whole chain under faults, each its own case, on the same generated mix (100,000 events by default;
//! `LOGPIPE_E2E_EVENTS` sets another size, see the README's soak run). Each case checks that every event
//! is indexed once, dead-lettered with its reason, or dropped on purpose; that no document is in the index
//! twice; that every Slack-worthy message was alerted exactly once; that its fault did fire; and that the
//! reconciliation of the run (per group and hour, with the transform's own counts) agrees: every event
//! received once, nothing duplicated, and nothing missing but what Firehose keeps under `errors/` (named at
//! the transform).

use std::sync::OnceLock;
use std::time::Duration;

use logpipe_e2e::mix::Mix;
use logpipe_e2e::{run, Faults, Report};
use test_support::bulk_server::Fault;
use test_support::slack_server::Answer;

fn events() -> usize {
    std::env::var("LOGPIPE_E2E_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// The mix without mapping conflicts, generated once for every case.
fn mix() -> &'static Mix {
    static MIX: OnceLock<Mix> = OnceLock::new();
    MIX.get_or_init(|| Mix::generate(events(), 42, false))
}

/// Run a case and check the invariants; the report is for the case's own checks.
async fn case(name: &str, mix: &Mix, faults: Faults) -> Option<Report> {
    let moto = test_support::moto_url()?;
    let started = std::time::Instant::now();
    let report = run(&moto, mix, &faults)
        .await
        .unwrap_or_else(|e| panic!("{name}: the run failed: {e}"));
    eprintln!(
        "{name}: {} events, {} objects, {} indexed ({} lines joined into them), {} dead letters, {} transform invocations, \
         {} forwarder invocations ({} messages given back), {} Slack posts ({} refused) in {:.1} s",
        report.generated,
        report.objects,
        report.indexed_ids.len(),
        report.joined_ids.len(),
        report.dead_letter_ids.len(),
        report.transform_invocations,
        report.forwarder_invocations,
        report.forwarder_redeliveries,
        report.slack_posts,
        report.slack_posts_refused,
        started.elapsed().as_secs_f64()
    );
    let problems = report.problems(mix);
    assert!(problems.is_empty(), "{name}: {problems:#?}\n{report:#?}");
    assert_eq!(
        report.bulk_faults_left, 0,
        "{name}: every bulk fault was met"
    );
    reconciles(name, mix, &report);
    Some(report)
}

/// The run's ledger: each event received by the transform exactly once, even when its record went round the
/// stream again; no hour duplicated; what is missing is exactly the events of records under `errors/` that
/// no other way delivered, at the transform hop.
fn reconciles(name: &str, mix: &Mix, report: &Report) {
    let ledger = report.ledger(mix).judge(i64::MAX, 0);
    let table = ledger.table();
    for row in &ledger.rows {
        assert_eq!(
            row.counts.received, row.counts.source,
            "{name}: {} at {}: received once\n{table}",
            row.group, row.hour_ms
        );
        let logcore::ledger::Judged::Settled(v) = &row.judged else {
            panic!("{name}: {row:?}")
        };
        assert_eq!(v.duplicated, 0, "{name}\n{table}");
        if v.missing > 0 {
            assert_eq!(
                v.short_at,
                Some(logcore::ledger::Hop::Transform),
                "{name}\n{table}"
            );
        }
    }
    let delivered: std::collections::BTreeSet<&str> = report
        .indexed_ids
        .0
        .iter()
        .chain(&report.joined_ids.0)
        .chain(&report.dead_letter_ids.0)
        .map(String::as_str)
        .collect();
    let only_failed = report
        .errors_event_ids
        .0
        .iter()
        .filter(|id| !delivered.contains(id.as_str()))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert_eq!(ledger.total.missing, only_failed as u64, "{name}\n{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fault_baseline() {
    let Some(r) = case("baseline", mix(), Faults::default()).await else {
        return;
    };
    assert!(r.generated >= events().min(100_000) * 99 / 100);
    // The large events push answers over 6 MB: the transform re-ingests, and those records come back.
    assert!(r.reingested_records > 0, "{r:#?}");
    // Without faults only the malformed records fail; nothing else reaches errors/ or failed/.
    assert_eq!(
        r.transform_failed_records,
        mix().malformed.len() as u64,
        "{r:#?}"
    );
    assert!(r.errors_event_ids.is_empty());
    assert_eq!(r.dead_letter_ids.len(), 0);
    assert_eq!(r.forwarder_redeliveries, 0);
    assert!(r.slack_worthy > 0 && r.notifier.alerts > 0);
    // The default layout: one daily index per family, whatever the number of log groups; audit documents
    // in the audit family, application documents in the app family.
    let families: Vec<&str> = r.indices.keys().map(String::as_str).collect();
    assert_eq!(
        families,
        ["app in logs-app", "audit in logs-audit"],
        "{:?}",
        r.indices
    );
}

/// The largest events CloudWatch Logs accepts (1 MB), in every shape that JSON escapes worst, among a
/// small mix: every one is indexed once and alerted, nothing is dead-lettered or failed, and those no
/// transformation response can carry reach S3 through the transform itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabyte_events() {
    let mix = Mix::generate(2_000, 44, false).with_megabyte_events();
    let Some(r) = case("1 MB events", &mix, Faults::default()).await else {
        return;
    };
    assert_eq!(
        r.transform_failed_records,
        mix.malformed.len() as u64,
        "{r:#?}"
    );
    assert!(r.errors_event_ids.is_empty(), "{r:#?}");
    assert_eq!(r.dead_letter_ids.len(), 0, "{r:#?}");
    // Application: the control characters and the nested JSON; audit: the control characters twice
    // (`message` and `db.statement`), of both engines.
    assert!(r.written_records >= 4, "{r:#?}");
    let big: Vec<&str> = mix
        .events()
        .filter(|(_, e)| e.message.len() > 1_000_000)
        .map(|(_, e)| e.id.as_str())
        .collect();
    assert_eq!(big.len(), 10);
    for id in big {
        assert!(r.indexed_ids.iter().any(|i| i == id), "{id} indexed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_429_storm() {
    let mut storm = vec![Fault::Status(429); 12];
    storm.extend([Fault::Status(503), Fault::Reset, Fault::Status(429)]);
    let Some(r) = case(
        "429 storm",
        mix(),
        Faults {
            bulk: storm,
            ..Faults::default()
        },
    )
    .await
    else {
        return;
    };
    assert!(r.forwarder.forwarded.bulk_retries >= 15, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_level_failures() {
    let faults = Faults {
        bulk: vec![Fault::ItemStorm; 10],
        ..Faults::default()
    };
    let Some(r) = case("item failures", mix(), faults).await else {
        return;
    };
    assert!(r.forwarder.forwarded.bulk_retries >= 10, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_errors_are_dead_lettered() {
    let mix = Mix::generate(events(), 43, true);
    let Some(r) = case("400 mapping", &mix, Faults::default()).await else {
        return;
    };
    let conflicts = mix
        .events()
        .filter(|(_, e)| e.message.contains(logpipe_e2e::mix::MAPPING_CONFLICT))
        .count();
    assert!(conflicts > 0);
    assert_eq!(r.dead_letter_ids.len(), conflicts, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_put_failures_during_reingestion() {
    let faults = Faults {
        reingest_partial_failures: 6,
        ..Faults::default()
    };
    let Some(r) = case("reingest partial failures", mix(), faults).await else {
        return;
    };
    let [firehose, kinesis] = r.injected_reingest_failures;
    assert!(firehose > 0 && kinesis > 0, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_read_errors() {
    // Two failed reads each: the forwarder's messages come back through SQS, the notifier's invocation is
    // retried by Lambda (twice at most, so two failures still end delivered).
    let faults = Faults {
        s3_read_errors: 2,
        ..Faults::default()
    };
    let Some(r) = case("S3 read errors", mix(), faults).await else {
        return;
    };
    assert_eq!(r.injected_read_errors, 4, "{r:#?}");
    assert!(r.forwarder_redeliveries >= 1, "{r:#?}");
    assert_eq!(r.notifier_failed_invocations, 2, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_429() {
    let faults = Faults {
        slack: vec![Answer(429, Some(0), "rate limited", Duration::ZERO); 8],
        ..Faults::default()
    };
    let Some(r) = case("Slack 429", mix(), faults).await else {
        return;
    };
    assert_eq!(r.slack_posts_refused, 8, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_notifications() {
    let faults = Faults {
        duplicate_notifications: 5,
        ..Faults::default()
    };
    let Some(r) = case("duplicate delivery", mix(), faults).await else {
        return;
    };
    assert!(r.forwarder.forwarded.already_indexed > 0, "{r:#?}");
    assert!(r.notifier.suppressed > 0, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_mid_object() {
    let faults = Faults {
        // A slow but healthy cluster: after the first answer every request takes 500 ms, and the first
        // invocation has 1.6 s with requests that may take 1 s. Objects go in batches of 50 documents, so
        // its first object needs 10 requests and only about 7 can start in time: the deadline comes
        // mid-object.
        forwarder_deadline: Some(Duration::from_millis(1600)),
        forwarder_request_timeout: Some(Duration::from_secs(1)),
        forwarder_bulk_max_actions: Some(50),
        bulk: std::iter::once(Fault::Pass)
            .chain(std::iter::repeat_n(
                Fault::Late(Duration::from_millis(500)),
                20,
            ))
            .collect(),
        ..Faults::default()
    };
    let Some(r) = case("deadline mid-object", mix(), faults).await else {
        return;
    };
    assert!(r.forwarder_redeliveries >= 1, "{r:#?}");
    // The first invocation stopped before its deadline with part of the object indexed and a checkpoint;
    // the redelivery resumed there instead of starting over.
    assert!(r.forwarder.checkpoints_written >= 1, "{r:#?}");
    assert!(r.forwarder.forwarded.units_resumed > 0, "{r:#?}");
}
