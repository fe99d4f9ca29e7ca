use super::*;
use proptest::prelude::*;

const H: i64 = 1_763_719_200_000; // 2025-11-21T10:00:00Z, an hour's start
const SETTLE: i64 = 30 * 60_000;
/// Long after every hour of these tests has settled.
const LATER: i64 = H + 10 * HOUR_MS;

fn key() -> Key {
    Key::new("/ecs/api", H)
}

/// A pipeline where every hop passed everything on: `n` events, none dropped.
fn whole(n: u64) -> Counts {
    Counts {
        source: Some(n),
        received: Some(n),
        archived: Some(n),
        indexed: Some(n),
        dropped: Some(BTreeMap::new()),
        dead_lettered: Some(BTreeMap::new()),
        ..Counts::default()
    }
}

fn verdict(c: &Counts) -> Verdict {
    match judge(&key(), c, LATER, SETTLE) {
        Judged::Settled(v) => v,
        other => panic!("not settled: {other:?}"),
    }
}

fn reasons(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn events_are_bucketed_by_their_own_utc_hour() {
    assert_eq!(hour_of(H), H);
    assert_eq!(hour_of(H + HOUR_MS - 1), H);
    assert_eq!(hour_of(H + HOUR_MS), H + HOUR_MS);
    assert_eq!(hour_of(-1), -HOUR_MS, "before the epoch, the hour before");
    let mut l = Ledger::default();
    l.row("/ecs/api", H + HOUR_MS - 1).source = Some(1);
    l.row("/ecs/api", H + HOUR_MS).source = Some(2);
    assert_eq!(l.rows.len(), 2, "an hour boundary splits the rows");
}

#[test]
fn an_hour_is_judged_only_once_it_has_settled() {
    let c = whole(10);
    let end = H + HOUR_MS;
    assert_eq!(judge(&key(), &c, end, SETTLE), Judged::Settling);
    assert_eq!(
        judge(&key(), &c, end + SETTLE - 1, SETTLE),
        Judged::Settling
    );
    assert!(matches!(
        judge(&key(), &c, end + SETTLE, SETTLE),
        Judged::Settled(_)
    ));
    // A late event (its hour long past) still in flight: the unsettled hour does not report it missing.
    let mut late = whole(10);
    late.indexed = Some(9);
    assert_eq!(judge(&key(), &late, end + 60_000, SETTLE), Judged::Settling);
}

#[test]
fn a_whole_pipeline_is_clean() {
    assert_eq!(verdict(&whole(100)), Verdict::default());
}

#[test]
fn dropped_joined_and_dead_lettered_events_are_accounted_for() {
    let c = Counts {
        source: Some(100),
        received: Some(100),
        dropped: Some(reasons(&[("control_message", 1), ("excluded", 9)])),
        joined: 20,
        archived: Some(70),
        written_directly: 1,
        indexed: Some(65),
        dead_lettered: Some(reasons(&[("rejected", 4), ("unreadable", 1)])),
        ..Counts::default()
    };
    assert_eq!(verdict(&c), Verdict::default());
}

#[test]
fn a_batch_firehose_delivered_twice_is_no_loss_and_no_duplicate() {
    // The second copy's documents answer 409 at the forwarder: the index holds each once.
    let mut c = whole(100);
    c.archived = Some(150);
    assert_eq!(verdict(&c), Verdict::default());
}

#[test]
fn documents_in_two_indices_are_duplicated() {
    let mut c = whole(100);
    c.indexed = Some(103);
    let v = verdict(&c);
    assert_eq!((v.missing, v.duplicated, v.short_at), (0, 3, None));
}

#[test]
fn each_loss_is_named_by_its_hop() {
    // A subscription removed mid-hour: the transform never saw 40 events.
    let mut c = whole(60);
    c.source = Some(100);
    let v = verdict(&c);
    assert_eq!((v.missing, v.short_at), (40, Some(Hop::Subscription)));

    // A record the transform answered ProcessingFailed.
    let mut c = whole(90);
    (c.source, c.received, c.failed) = (Some(100), Some(100), Some(10));
    let v = verdict(&c);
    assert_eq!((v.missing, v.short_at), (10, Some(Hop::Transform)));

    // An object deleted before it was indexed: neither the archive nor the index has its documents.
    let mut c = whole(80);
    (c.source, c.received) = (Some(100), Some(100));
    let v = verdict(&c);
    assert_eq!((v.missing, v.short_at), (20, Some(Hop::Archive)));

    // Documents deleted from the index.
    let mut c = whole(100);
    c.indexed = Some(97);
    let v = verdict(&c);
    assert_eq!((v.missing, v.short_at), (3, Some(Hop::Search)));
}

#[test]
fn a_hop_not_counted_is_passed_over_not_taken_for_zero() {
    let c = Counts {
        source: Some(100),
        indexed: Some(100),
        ..Counts::default()
    };
    assert_eq!(verdict(&c), Verdict::default());
    let c = Counts {
        source: Some(100),
        indexed: Some(90),
        ..Counts::default()
    };
    let v = verdict(&c);
    assert_eq!((v.missing, v.short_at), (10, Some(Hop::Search)));
    // Without the search engine, the archive is the last hop.
    let c = Counts {
        source: Some(100),
        received: Some(100),
        archived: Some(95),
        ..Counts::default()
    };
    let v = verdict(&c);
    assert_eq!((v.missing, v.short_at), (5, Some(Hop::Archive)));
    // Without the source, or with nothing past it, nothing is concluded.
    let c = Counts {
        indexed: Some(100),
        ..Counts::default()
    };
    assert_eq!(judge(&key(), &c, LATER, SETTLE), Judged::Unchecked);
    let c = Counts {
        source: Some(100),
        ..Counts::default()
    };
    assert_eq!(judge(&key(), &c, LATER, SETTLE), Judged::Unchecked);
}

#[test]
fn counts_in_parts_add_up_and_a_known_part_makes_the_count_known() {
    let mut a = Counts {
        indexed: Some(3),
        dropped: Some(reasons(&[("excluded", 1)])),
        ..Counts::default()
    };
    let b = Counts {
        source: Some(5),
        indexed: Some(2),
        dropped: Some(reasons(&[("excluded", 1), ("control_message", 1)])),
        failed: Some(1),
        ..Counts::default()
    };
    a.add(&b);
    assert_eq!(a.source, Some(5));
    assert_eq!(a.indexed, Some(5));
    assert_eq!(a.archived, None, "unknown on both sides stays unknown");
    assert_eq!(
        a.dropped,
        Some(reasons(&[("control_message", 1), ("excluded", 2)]))
    );
    assert_eq!(a.failed, Some(1));
}

#[test]
fn the_report_totals_settled_rows_and_says_what_was_not_checked() {
    let mut l = Ledger::default();
    *l.row("/ecs/api", H) = whole(100);
    let lossy = l.row("/ecs/web", H);
    *lossy = whole(50);
    lossy.indexed = Some(48);
    // The current hour: not judged.
    *l.row("/ecs/api", LATER) = whole(7);
    let r = l.judge(LATER + 60_000, SETTLE);
    assert_eq!(r.total.rows_settled, 2);
    assert_eq!(r.total.rows_settling, 1);
    assert_eq!((r.total.source, r.total.missing), (150, 2));
    assert!(!r.clean());
    let findings: Vec<&str> = r.findings().map(|f| f.group.as_str()).collect();
    assert_eq!(findings, ["/ecs/web"]);
    let table = r.table();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("group") && lines[0].contains("short at"),
        "{table}"
    );
    let web = lines.iter().find(|l| l.starts_with("/ecs/web")).unwrap();
    assert!(
        web.contains("2025-11-21 10:00") && web.ends_with("search"),
        "{web}"
    );
    assert!(table.contains("total (2 settled hours)"), "{table}");
    assert!(table.contains("1 hour not settled yet"), "{table}");

    // A run that counted the source and the index only: the other hops read `-`, not 0.
    let mut partial = Ledger::default();
    let row = partial.row("/ecs/api", H);
    (row.source, row.indexed) = (Some(5), Some(5));
    let table = partial.judge(LATER + 60_000, SETTLE).table();
    let api = table.lines().find(|l| l.starts_with("/ecs/api")).unwrap();
    let cells: Vec<&str> = api.split_whitespace().collect();
    assert_eq!(
        cells[3..],
        ["5", "-", "-", "-", "5", "-", "0", "0"],
        "{table}"
    );
    let total = table.lines().find(|l| l.starts_with("total")).unwrap();
    let cells: Vec<&str> = total.split_whitespace().collect();
    assert_eq!(
        cells,
        ["total", "(1", "settled", "hour)", "5", "-", "-", "-", "5", "-", "0", "0"],
        "{table}"
    );

    let mut clean = Ledger::default();
    *clean.row("/ecs/api", H) = whole(1);
    assert!(clean.judge(LATER, SETTLE).clean());
    clean
        .problems
        .push("search: the aggregation failed: 503".into());
    let r = clean.judge(LATER, SETTLE);
    assert!(!r.clean(), "a hop that could not be counted fails the run");
    assert!(r
        .table()
        .contains("not checked: search: the aggregation failed"));
    clean.problems.clear();
    clean
        .not_counted
        .push("archive: the transforms' counts".into());
    let r = clean.judge(LATER, SETTLE);
    assert!(
        r.clean(),
        "a hop the run does not count is said, not failed"
    );
    assert!(r.table().contains("not counted: archive"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["rows"][0]["judged"]["state"], "settled");
    assert_eq!(json["rows"][0]["source"], 1);
}

/// Losses at each hop of a simulated pipeline.
#[derive(Debug, Clone)]
struct Run {
    events: u64,
    lost_subscription: u64,
    dropped: u64,
    joined: u64,
    failed: u64,
    /// Events of an invocation that failed as a whole: Firehose failed them, the transform never counted them.
    failed_whole: u64,
    lost_archive: u64,
    dead_lettered: u64,
    lost_search: u64,
}

fn runs() -> impl Strategy<Value = Run> {
    (1u64..10_000, prop::array::uniform8(0u64..40)).prop_map(|(events, l)| Run {
        events: events + l.iter().sum::<u64>(),
        failed_whole: l[7],
        lost_subscription: l[0],
        dropped: l[1],
        joined: l[2],
        failed: l[3],
        lost_archive: l[4],
        dead_lettered: l[5],
        lost_search: l[6],
    })
}

impl Run {
    fn counts(&self) -> Counts {
        let received = self.events - self.lost_subscription - self.failed_whole;
        let documents = received - self.dropped - self.joined - self.failed;
        let archived = documents - self.lost_archive;
        Counts {
            source: Some(self.events),
            received: Some(received),
            dropped: Some(reasons(&[("excluded", self.dropped)])),
            joined: self.joined,
            failed: Some(self.failed + self.failed_whole),
            failed_seen: self.failed,
            archived: Some(archived),
            written_directly: 0,
            indexed: Some(archived - self.dead_lettered - self.lost_search),
            dead_lettered: Some(reasons(&[("rejected", self.dead_lettered)])),
        }
    }

    fn first_loss(&self) -> Option<Hop> {
        [
            (self.lost_subscription, Hop::Subscription),
            (self.failed + self.failed_whole, Hop::Transform),
            (self.lost_archive, Hop::Archive),
            (self.lost_search, Hop::Search),
        ]
        .into_iter()
        .find(|(n, _)| *n > 0)
        .map(|(_, h)| h)
    }
}

proptest! {
    /// Whatever each hop loses, the settled row reports the sum as missing, nothing duplicated, and the
    /// first hop that lost any.
    #[test]
    fn missing_is_the_sum_of_what_each_hop_lost(run in runs()) {
        let v = verdict(&run.counts());
        prop_assert_eq!(
            v.missing,
            run.lost_subscription + run.failed + run.failed_whole + run.lost_archive + run.lost_search
        );
        prop_assert_eq!(v.duplicated, 0);
        prop_assert_eq!(v.short_at, run.first_loss());
    }

    /// Counting a row in parts (several queries, several indices) judges as counting it whole.
    #[test]
    fn a_row_counted_in_parts_judges_as_one(run in runs(), cut in 0u64..10_000) {
        let whole = run.counts();
        let mut first = Counts::default();
        let mut second = Counts::default();
        let part = |n: Option<u64>| n.map(|n| n.min(cut));
        (first.source, first.indexed) = (part(whole.source), part(whole.indexed));
        (second.source, second.indexed) = (
            whole.source.map(|n| n - n.min(cut)),
            whole.indexed.map(|n| n - n.min(cut)),
        );
        let rest = Counts { source: None, indexed: None, ..whole.clone() };
        let mut sum = Counts::default();
        for c in [&first, &second, &rest] {
            sum.add(c);
        }
        prop_assert_eq!(&sum, &whole);
    }
}
