//! The replay's reconciliation, the table the quickstart ends with: what it read, per log group and UTC
//! hour (counted as it read), what the transform counted itself (received, dropped by its filter, failed:
//! its report lines' `ledger`), against what was indexed (the bulk bodies written, or the search engine's
//! aggregation) and dead-lettered (the `failed/` records), judged with `logcore::ledger` as `logpipe
//! reconcile` judges a deployed pipeline.

use std::collections::BTreeMap;
use std::path::Path;

use canary::reconcile::dead_letters::{group_and_time, DeadLetterCounts};
use logcore::ledger::{hour_of, Ledger, Tally};
use serde_json::Value;

/// One event read: counted at the source.
pub(super) fn count_source(ledger: &mut Ledger, group: &str, ts: i64) {
    *ledger.row(group, hour_of(ts)).source.get_or_insert(0) += 1;
}

/// What the transform counted into the ledger's rows: received, dropped by its filter, and failed (in a
/// deployed pipeline Firehose would write those records to its error prefix). It saw the whole replay: a
/// row it has nothing for is a zero there.
pub(super) fn fill_transform(ledger: &mut Ledger, tally: &Tally) {
    for row in tally.rows() {
        let c = ledger.row(&row.group, row.hour);
        c.add_transform(&row.seen);
        *c.failed.get_or_insert(0) += row.seen.failed;
    }
    for c in ledger.rows.values_mut() {
        c.received.get_or_insert(0);
        c.dropped.get_or_insert_with(BTreeMap::new);
        c.failed.get_or_insert(0);
    }
}

/// The group and hour of a document (`log.group`, `@timestamp`), as the reconciliation reads them.
fn group_hour(doc: &Value) -> Option<(String, i64)> {
    match group_and_time(doc) {
        (Some(group), Some(ts)) => Some((group, hour_of(ts))),
        _ => None,
    }
}

/// Documents per group and hour in bulk bodies (an action line, then its document); an error names a line
/// that is not JSON or a document without a group or time.
pub(super) fn indexed_in_bulk(bodies: &[u8]) -> Result<BTreeMap<(String, i64), u64>, String> {
    let mut out = BTreeMap::new();
    let mut lines = bodies
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    while let Some((n, action)) = lines.next() {
        let action: Value = serde_json::from_slice(action)
            .map_err(|e| format!("line {}: not a bulk action: {e}", n + 1))?;
        if action.get("delete").is_some() {
            continue;
        }
        let (n, doc) = lines
            .next()
            .ok_or_else(|| format!("line {}: an action without its document", n + 1))?;
        let doc: Value = serde_json::from_slice(doc)
            .map_err(|e| format!("line {}: not a document: {e}", n + 1))?;
        let key = group_hour(&doc)
            .ok_or_else(|| format!("line {}: a document without log.group or @timestamp", n + 1))?;
        *out.entry(key).or_default() += 1;
    }
    Ok(out)
}

/// Every dead-letter record under `dir` (the local stand-in for `failed/`).
pub(super) fn dead_letters_in_dir(dir: &Path) -> Result<DeadLetterCounts, String> {
    let mut counts = DeadLetterCounts::default();
    if !dir.exists() {
        return Ok(counts);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let path = entry.map_err(|e| format!("{}: {e}", d.display()))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let body = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                counts.add_object(&body);
            }
        }
    }
    Ok(counts)
}

/// The indexed and dead-lettered counts into the ledger's rows (a hop counted is zero where it saw none).
/// A replay reads one log group: dead letters whose group was cut off with the end of their document are
/// that group's.
pub(super) fn fill(
    ledger: &mut Ledger,
    group: &str,
    indexed: Option<&BTreeMap<(String, i64), u64>>,
    dead: Option<&DeadLetterCounts>,
) {
    if let Some(indexed) = indexed {
        for ((group, hour), n) in indexed {
            ledger.row(group, *hour).indexed = Some(*n);
        }
    }
    if let Some(dead) = dead {
        let rows = dead.rows.iter().map(|((g, h), c)| (g.as_str(), *h, c));
        let cut = dead.without_group.iter().map(|(h, c)| (group, *h, c));
        for (g, hour, causes) in rows.chain(cut) {
            let ours = ledger
                .row(g, hour)
                .dead_lettered
                .get_or_insert_with(BTreeMap::new);
            for (cause, n) in causes {
                *ours.entry(cause.clone()).or_default() += n;
            }
        }
        if dead.unattributed > 0 {
            ledger.problems.push(format!(
                "dead letters: {} records whose events cannot be told",
                dead.unattributed
            ));
        }
    }
    for c in ledger.rows.values_mut() {
        if indexed.is_some() {
            c.indexed.get_or_insert(0);
        }
        if dead.is_some() {
            c.dead_lettered.get_or_insert_with(BTreeMap::new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 1_795_420_800_000;

    #[test]
    fn bulk_bodies_count_by_group_and_hour_and_bad_ones_are_named() {
        let bodies = concat!(
            "{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n",
            "{\"@timestamp\":\"2026-11-23T08:10:00Z\",\"log\":{\"group\":\"/g\"}}\n",
            "\n",
            "{\"create\":{\"_index\":\"a\",\"_id\":\"2\"}}\n",
            "{\"@timestamp\":\"2026-11-23T09:00:00.000Z\",\"log\":{\"group\":\"/g\"}}\n",
            "{\"delete\":{\"_index\":\"a\",\"_id\":\"3\"}}\n",
        );
        let got = indexed_in_bulk(bodies.as_bytes()).unwrap();
        assert_eq!(
            got,
            BTreeMap::from([
                (("/g".to_string(), H), 1),
                (("/g".to_string(), H + 3_600_000), 1)
            ])
        );
        let e = indexed_in_bulk(b"{\"create\":{}}\n{\"message\":\"x\"}\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("log.group"), "{e}");
        let e = indexed_in_bulk(b"{\"create\":{}}\n").unwrap_err();
        assert!(e.contains("without its document"), "{e}");
        assert!(indexed_in_bulk(b"not json\n").is_err());
    }

    #[test]
    fn the_ledger_of_a_replay_accounts_for_every_event() {
        let mut l = Ledger::default();
        for i in 0..5 {
            count_source(&mut l, "/g", H + i);
        }
        // The transform received the five and its filter dropped the first.
        let mut tally = Tally::default();
        tally.received("/g", (0..5).map(|i| H + i), &[1, 2, 3, 4]);
        fill_transform(&mut l, &tally);
        let indexed = BTreeMap::from([(("/g".to_string(), H), 3)]);
        let mut dead = DeadLetterCounts::default();
        dead.rows.insert(
            ("/g".into(), H),
            BTreeMap::from([("document".to_string(), 1)]),
        );
        fill(&mut l, "/g", Some(&indexed), Some(&dead));
        let report = l.judge(i64::MAX, 0);
        assert!(report.clean(), "{}", report.table());
        assert_eq!((report.total.source, report.total.dropped), (5, 1));
        fill(
            &mut l,
            "/g",
            Some(&BTreeMap::from([(("/g".to_string(), H), 2)])),
            None,
        );
        assert_eq!(l.judge(i64::MAX, 0).total.missing, 1);
    }

    proptest::proptest! {
        /// Any bytes are counted or refused, never a panic.
        #[test]
        fn any_bulk_bodies_are_read_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = indexed_in_bulk(&bytes);
        }
    }
}
