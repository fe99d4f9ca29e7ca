//! The canary's readers on arbitrary bytes: its state object, the object scanner, key prefixes, trace
//! queries, `_search` answers, and the reconciliation's aggregation and field mapping answers, Logs
//! Insights rows, Firehose's processing-failed records, the transforms' report lines, archive objects and
//! dead-letter objects. Never a panic; the state round-trips; in plain text a needle is found
//! exactly when it occurs.
#![no_main]

use canary::aws::parse_hits;
use canary::reconcile::dead_letters::DeadLetterCounts;
use canary::reconcile::insights::{parse_bin, parse_rows};
use canary::reconcile::archive::ArchiveCounts;
use canary::reconcile::processing_failed::FailedCounts;
use canary::reconcile::transform_counts::parse_line;
use canary::reconcile::{group_fields, parse_indexed};
use canary::scan::{scan, KeyPrefix};
use canary::trace::Query;
use canary::State;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = State::parse(data, "fuzz") {
        let bytes = serde_json::to_vec(&state).expect("a state serializes");
        assert_eq!(State::parse(&bytes, "again").expect("round trip"), state);
    }
    // An archive object: each line a document counted, or named.
    let mut archive = ArchiveCounts::default();
    archive.add_object("fuzz", data);
    // Firehose's processing-failed records: each counted, or named unreadable.
    let mut failed = FailedCounts::default();
    failed.add_object("fuzz", data, None, None);
    assert!(failed.unreadable.len() as u64 <= failed.records + 1);
    // The same records counted as a transform with a filter and the multiline rules keeps them: never
    // more events than without the filter.
    let filter = logcore::transform::filter::MessageFilter::new(None, Some("health"))
        .expect("a valid pattern");
    let rules = logcore::logs::multiline::Rules::builtin();
    let mut filtered = FailedCounts::default();
    filtered.add_object("fuzz", data, Some(&filter), Some(&rules));
    assert!(filtered.rows.values().sum::<u64>() <= failed.rows.values().sum::<u64>());
    let _ = parse_hits(200, data);
    let _ = parse_hits(404, data);
    // Every line of a dead-letter object is counted once, attributed or not.
    let mut dead = DeadLetterCounts::default();
    dead.add_object(data);
    let lines = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count() as u64;
    let attributed: u64 = dead.rows.values().flat_map(|c| c.values()).sum();
    assert_eq!(
        attributed + dead.without_group_total() + dead.unattributed,
        lines
    );
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(page) = parse_indexed(&v) {
            assert!(page.buckets.len() <= v.to_string().len());
        }
        // Logs Insights rows: an array of rows, each an array of [field, value].
        if let Ok(rows) = serde_json::from_value::<Vec<Vec<(String, String)>>>(v.clone()) {
            let groups = ["/ecs/api".to_string()];
            if let Ok(counted) = parse_rows(&rows, &groups, 0, 24 * 3_600_000) {
                assert!(counted.keys().all(|(g, h)| g == "/ecs/api" && h % 3_600_000 == 0));
            }
        }
        if let Ok(plans) = group_fields(&v) {
            // Each index is counted by one field at most.
            let named: usize = plans
                .iter()
                .filter_map(|p| p.indices.as_ref())
                .map(Vec::len)
                .sum();
            assert!(named <= v.as_object().map_or(0, |o| o.len()));
        }
    }

    let text = String::from_utf8_lossy(data);
    let (head, rest) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(p) = head.parse::<KeyPrefix>() {
        // Any second from 1970 to 2106.
        let secs = data
            .iter()
            .take(4)
            .fold(0u32, |a, &b| a << 8 | u32::from(b));
        let from = i64::from(secs) * 1000;
        let _ = p.at(from);
        assert!(p.between(from, from + 3 * 3_600_000).len() <= 4);
    }
    let _ = Query::parse(head);
    // A transform's report line: its ledger rows, or why there are none.
    let _ = parse_line(&text);
    if let Some(ms) = parse_bin(head) {
        assert!(head.len() >= 19, "{head:?} read as {ms}");
    }

    // The first line is a needle, the rest the object.
    let needle = head.as_bytes();
    let found = scan(rest.as_bytes(), &[needle], 1 << 20);
    if !rest.as_bytes().starts_with(&[0x1f, 0x8b]) && !needle.is_empty() && rest.len() <= 1 << 20 {
        let present = memchr_like(rest.as_bytes(), needle);
        assert_eq!(found, Ok(vec![present]));
    }
});

fn memchr_like(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
