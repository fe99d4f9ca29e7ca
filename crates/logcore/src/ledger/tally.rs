//! What a transform counts of the events it is the first to see, per log group and hour of their own
//! timestamps: `received` (every event of a DATA_MESSAGE record straight from CloudWatch Logs), of those
//! `excluded` (dropped on purpose by its include/exclude filter), `joined` (events delivered inside another
//! event's document: the lines of a stack trace after its first, counted where the document is delivered,
//! so a re-ingested record's are counted once, when it comes back), `written_directly` (events whose
//! documents it wrote to S3 itself) and `failed` (events it had received and answered `ProcessingFailed`,
//! at whatever hop: Firehose writes them to its error prefix). Records it re-ingested come back with a hop count and are not counted
//! again, so each event is received once. It travels in the transform's report line (`ledger`), where the
//! reconciliation reads it back.

use std::collections::BTreeMap;

use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize};

use super::{hour_of, HOUR_MS};

/// One group and hour's counts in a transform's invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    #[serde(default)]
    pub received: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub excluded: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub joined: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub written_directly: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Seen {
    fn add(&mut self, other: &Seen) {
        self.received += other.received;
        self.excluded += other.excluded;
        self.joined += other.joined;
        self.written_directly += other.written_directly;
        self.failed += other.failed;
    }
}

/// One row of a report line's `ledger`: `{"group", "hour" (ms), "received", "excluded", "joined",
/// "written_directly", "failed"}` (zeros left out but `received`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TallyRow {
    pub group: String,
    pub hour: i64,
    #[serde(flatten)]
    pub seen: Seen,
}

/// An invocation's counts, per group and hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    groups: BTreeMap<String, BTreeMap<i64, Seen>>,
}

impl Tally {
    fn hours(&mut self, group: &str) -> &mut BTreeMap<i64, Seen> {
        if !self.groups.contains_key(group) {
            self.groups.insert(group.to_string(), BTreeMap::new());
        }
        self.groups
            .get_mut(group)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    /// A record's events received: their timestamps in order, and the indices (ascending) of those the
    /// filter kept; the others are excluded. Events of one hour in a row are added at once, and the hour is
    /// only worked out again when an event falls outside the current one: a record's events are usually
    /// all of one hour.
    pub fn received(
        &mut self,
        group: &str,
        timestamps: impl IntoIterator<Item = i64>,
        kept: &[usize],
    ) {
        let hours = self.hours(group);
        let mut next_kept = kept.iter().copied().peekable();
        // The current hour, [hour, end); empty at first.
        let (mut hour, mut end) = (0, 0);
        let mut seen = Seen::default();
        for (i, ts) in timestamps.into_iter().enumerate() {
            if ts < hour || ts >= end {
                if seen.received > 0 {
                    hours.entry(hour).or_default().add(&seen);
                }
                hour = hour_of(ts);
                end = hour.saturating_add(HOUR_MS);
                seen = Seen::default();
            }
            seen.received += 1;
            if next_kept.peek() == Some(&i) {
                next_kept.next();
            } else {
                seen.excluded += 1;
            }
        }
        if seen.received > 0 {
            hours.entry(hour).or_default().add(&seen);
        }
    }

    /// Events whose documents the transform wrote to S3 itself, by their timestamps.
    pub fn written_directly(&mut self, group: &str, timestamps: impl IntoIterator<Item = i64>) {
        let hours = self.hours(group);
        for ts in timestamps {
            hours.entry(hour_of(ts)).or_default().written_directly += 1;
        }
    }

    /// Events delivered inside another event's document (multiline joining), by their own timestamps: the
    /// index holds one document fewer for each, in their hour.
    pub fn joined(&mut self, group: &str, timestamps: impl IntoIterator<Item = i64>) {
        let mut timestamps = timestamps.into_iter().peekable();
        if timestamps.peek().is_none() {
            return;
        }
        let hours = self.hours(group);
        for ts in timestamps {
            hours.entry(hour_of(ts)).or_default().joined += 1;
        }
    }

    /// Events the transform answered `ProcessingFailed` (their records), by their timestamps.
    pub fn failed(&mut self, group: &str, timestamps: impl IntoIterator<Item = i64>) {
        let hours = self.hours(group);
        for ts in timestamps {
            hours.entry(hour_of(ts)).or_default().failed += 1;
        }
    }

    /// The rows, by group and hour.
    pub fn rows(&self) -> impl Iterator<Item = TallyRow> + '_ {
        self.groups.iter().flat_map(|(group, hours)| {
            hours.iter().map(|(hour, seen)| TallyRow {
                group: group.clone(),
                hour: *hour,
                seen: *seen,
            })
        })
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Add a row (read back from a report line).
    pub fn add_row(&mut self, row: &TallyRow) {
        self.hours(&row.group)
            .entry(row.hour)
            .or_default()
            .add(&row.seen);
    }
}

impl Serialize for Tally {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.groups.values().map(BTreeMap::len).sum();
        let mut seq = s.serialize_seq(Some(n))?;
        for row in self.rows() {
            seq.serialize_element(&row)?;
        }
        seq.end()
    }
}

/// In a `counts!` summary: no metric (a metric per group costs money per group), and added row by row.
impl crate::base::report::Metrics for Tally {
    fn metrics(&self, _: &mut Vec<crate::base::report::Metric>) {}

    fn add(&mut self, other: &Self) {
        for row in other.rows() {
            self.add_row(&row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::report::Metrics;
    use proptest::prelude::*;

    const H: i64 = 1_795_420_800_000;
    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_records_events_are_counted_by_hour_and_by_what_the_filter_kept() {
        let mut t = Tally::default();
        // Five events across an hour boundary; the filter kept the first, third and fifth.
        let ts = [H + 10, H + HOUR - 1, H + HOUR, H + HOUR + 5, H + 20];
        t.received("/ecs/api", ts, &[0, 2, 4]);
        t.written_directly("/ecs/api", [H + HOUR]);
        let rows: Vec<TallyRow> = t.rows().collect();
        let seen = |received, excluded, written_directly| Seen {
            received,
            excluded,
            written_directly,
            ..Seen::default()
        };
        assert_eq!(rows[0].seen, seen(3, 1, 0));
        assert_eq!((rows[1].hour, rows[1].seen), (H + HOUR, seen(2, 1, 1)));
        let line = serde_json::to_string(&t).unwrap();
        assert_eq!(
            line,
            format!(
                r#"[{{"group":"/ecs/api","hour":{H},"received":3,"excluded":1}},{{"group":"/ecs/api","hour":{},"received":2,"excluded":1,"written_directly":1}}]"#,
                H + HOUR
            )
        );
        let back: Vec<TallyRow> = serde_json::from_str(&line).unwrap();
        assert_eq!(back, rows);
    }

    #[test]
    fn joined_events_are_counted_in_their_own_hours() {
        let mut t = Tally::default();
        // A trace whose first line is in one hour and whose two others are in the next.
        t.received(
            "/ecs/api",
            [H + HOUR - 1, H + HOUR, H + HOUR + 1],
            &[0, 1, 2],
        );
        t.joined("/ecs/api", [H + HOUR, H + HOUR + 1]);
        t.joined("/ecs/other", []);
        let rows: Vec<TallyRow> = t.rows().collect();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!((rows[0].seen.received, rows[0].seen.joined), (1, 0));
        assert_eq!((rows[1].seen.received, rows[1].seen.joined), (2, 2));
        let line = serde_json::to_string(&t).unwrap();
        assert!(line.contains(r#""received":2,"joined":2"#), "{line}");
        let back: Vec<TallyRow> = serde_json::from_str(&line).unwrap();
        assert_eq!(back, rows);
    }

    proptest! {
        #[test]
        fn every_event_is_received_once_and_excluded_unless_kept(
            events in prop::collection::vec((0i64..3 * HOUR, any::<bool>()), 0..200),
            split in 0usize..200,
        ) {
            let ts: Vec<i64> = events.iter().map(|(t, _)| H + t).collect();
            let kept: Vec<usize> = events.iter().enumerate().filter(|(_, (_, k))| *k).map(|(i, _)| i).collect();
            let mut whole = Tally::default();
            whole.received("/g", ts.iter().copied(), &kept);
            let total: u64 = whole.rows().map(|r| r.seen.received).sum();
            let excluded: u64 = whole.rows().map(|r| r.seen.excluded).sum();
            prop_assert_eq!(total, events.len() as u64);
            prop_assert_eq!(excluded, (events.len() - kept.len()) as u64);
            // Two invocations' tallies add up to one's.
            let at = split.min(ts.len());
            let (mut a, mut b) = (Tally::default(), Tally::default());
            let kept_a: Vec<usize> = kept.iter().copied().filter(|&i| i < at).collect();
            let kept_b: Vec<usize> = kept.iter().filter(|&&i| i >= at).map(|i| i - at).collect();
            a.received("/g", ts[..at].iter().copied(), &kept_a);
            b.received("/g", ts[at..].iter().copied(), &kept_b);
            a.add(&b);
            prop_assert_eq!(a, whole);
        }

        #[test]
        fn any_timestamps_are_counted_in_their_hours(ts in prop::collection::vec(any::<i64>(), 0..50)) {
            let mut t = Tally::default();
            t.received("/g", ts.iter().copied(), &[]);
            prop_assert_eq!(t.rows().map(|r| r.seen.received).sum::<u64>(), ts.len() as u64);
            prop_assert!(t.rows().all(|r| ts.iter().any(|&x| hour_of(x) == r.hour)));
        }

        #[test]
        fn any_ledger_text_reads_or_is_refused(text in ".{0,200}") {
            let _ = serde_json::from_str::<Vec<TallyRow>>(&text);
        }
    }
}
