//! The ledger: what every hop counted for one log group and one hour, and what follows from it — the events
//! missing, the events indexed more than once, and the hop where the counts first fall short.
//!
//! Every hop buckets events by their own timestamp (UTC hours), so that the same events land in the same
//! row whichever hop counts them: CloudWatch Logs (`source`), the transforms (`received`, and of those
//! `dropped` on purpose by reason, `joined` into another event's document, `failed` back to Firehose), the
//! archive in S3 (`archived`, of which `written_directly` by the transform itself), and the search engine
//! (`indexed`, and `dead_lettered` by reason under the forwarder's dead-letter prefix). A count a hop could
//! not give is `None` and the row says so; it is never taken for zero.
//!
//! An hour is judged only once it has settled (its end plus the settle time: Firehose buffering, the queue,
//! the retries), so that a normal delay is never reported as a loss. Pure: the counts are gathered by the
//! CLI and the scheduled run, from the services.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

mod tally;
#[cfg(test)]
mod tests;

pub use tally::{Seen, Tally, TallyRow};

/// One hour in milliseconds: the ledger's bucket.
pub const HOUR_MS: i64 = 3_600_000;

/// The start of the UTC hour an event of timestamp `ts_ms` belongs to.
pub fn hour_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// One row of the ledger: a log group and an hour (its start, in ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Key {
    pub group: String,
    pub hour_ms: i64,
}

impl Key {
    pub fn new(group: &str, ts_ms: i64) -> Self {
        Key {
            group: group.to_string(),
            hour_ms: hour_of(ts_ms),
        }
    }
}

/// The hops an event passes, in order; a shortfall is named by the first hop whose count is lower than
/// what the hop before it passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hop {
    /// CloudWatch Logs to the transform: the subscription filter (or account policy), its delivery to
    /// Firehose or Kinesis.
    Subscription,
    /// The transform: records answered `ProcessingFailed` (Firehose writes them to its error prefix).
    Transform,
    /// The transform's output to the S3 archive: Firehose's delivery, the objects kept.
    Archive,
    /// The archive to the search engine: the forwarder, the index.
    Search,
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hop::Subscription => "subscription",
            Hop::Transform => "transform",
            Hop::Archive => "archive",
            Hop::Search => "search",
        })
    }
}

/// What each hop counted for one row. `None`: the hop was not counted (not configured, or its query
/// failed; the ledger's `problems` say why).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Events CloudWatch Logs holds.
    pub source: Option<u64>,
    /// Events the transforms received, each once (a record put back into the stream is counted where it
    /// is finally answered).
    pub received: Option<u64>,
    /// Of those, dropped on purpose, by reason (`excluded`: the transform's include/exclude filter, …);
    /// `None`: not counted.
    pub dropped: Option<BTreeMap<String, u64>>,
    /// Of those, merged into another event's document (multiline joining).
    pub joined: u64,
    /// Of those, in records Firehose could not have transformed (answered `ProcessingFailed`, or of an
    /// invocation that failed): its error prefix holds them. `None`: not counted.
    pub failed: Option<u64>,
    /// Of `failed`, those the transform had received and failed itself (its own count); the others were
    /// of invocations that failed as a whole, which it never counted as received.
    pub failed_seen: u64,
    /// Distinct documents in the archive (by event id: a batch Firehose delivered twice counts once): one
    /// an event, one for the events joined into it.
    pub archived: Option<u64>,
    /// Of those, written to S3 by the transform itself (documents no Firehose response could carry).
    pub written_directly: u64,
    /// Documents in the search engine (each once per index it is in).
    pub indexed: Option<u64>,
    /// Documents the forwarder wrote to its dead-letter prefix instead, by cause (`None`: not counted).
    pub dead_lettered: Option<BTreeMap<String, u64>>,
}

impl Counts {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().flat_map(|m| m.values()).sum()
    }

    pub fn dead_lettered_total(&self) -> u64 {
        self.dead_lettered.iter().flat_map(|m| m.values()).sum()
    }

    /// What a transform counted of this row (its report lines' `ledger`): received, dropped by its filter
    /// (`excluded`), joined into another event's document, written directly, and of Firehose's failed,
    /// those it had received.
    pub fn add_transform(&mut self, seen: &Seen) {
        *self.received.get_or_insert(0) += seen.received;
        *self
            .dropped
            .get_or_insert_with(BTreeMap::new)
            .entry("excluded".to_string())
            .or_default() += seen.excluded;
        self.joined += seen.joined;
        self.written_directly += seen.written_directly;
        self.failed_seen += seen.failed;
    }

    /// Add `other`'s counts to these (a hop counted in several parts: several queries, several indices).
    /// A count known on either side is known.
    pub fn add(&mut self, other: &Counts) {
        fn opt(a: &mut Option<u64>, b: Option<u64>) {
            if let Some(b) = b {
                *a = Some(a.unwrap_or(0) + b);
            }
        }
        opt(&mut self.source, other.source);
        opt(&mut self.received, other.received);
        opt(&mut self.archived, other.archived);
        opt(&mut self.indexed, other.indexed);
        opt(&mut self.failed, other.failed);
        merge(&mut self.dropped, &other.dropped);
        merge(&mut self.dead_lettered, &other.dead_lettered);
        self.joined += other.joined;
        self.failed_seen += other.failed_seen;
        self.written_directly += other.written_directly;
    }
}

/// What a settled row comes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Events CloudWatch Logs holds that no hop accounts for: not indexed, not dropped on purpose, not
    /// joined, not dead-lettered.
    pub missing: u64,
    /// Events accounted for more often than CloudWatch Logs holds them (indexed twice, in two indices).
    pub duplicated: u64,
    /// The first hop whose count falls short of what the hop before passed on.
    pub short_at: Option<Hop>,
}

/// The state of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Judged {
    /// The hour has not settled yet: events may still be on their way. Nothing is concluded.
    Settling,
    /// Neither the source nor the search count is known: nothing to compare.
    Unchecked,
    /// Settled and compared.
    Settled(Verdict),
}

/// Judge one row at `now_ms`, with `settle_ms` for events to reach the last hop after their hour ends.
pub fn judge(key: &Key, c: &Counts, now_ms: i64, settle_ms: i64) -> Judged {
    if key
        .hour_ms
        .saturating_add(HOUR_MS)
        .saturating_add(settle_ms)
        > now_ms
    {
        return Judged::Settling;
    }
    let Some(source) = c.source else {
        return Judged::Unchecked;
    };
    let dropped = c.dropped_total();
    let dead = c.dead_lettered_total();
    // What the last hop counted reached: the search engine, else the archive, else the transform.
    let accounted = match (c.indexed, c.archived, c.received) {
        (Some(indexed), _, _) => indexed + dead + dropped + c.joined,
        (None, Some(archived), _) => archived + dropped + c.joined,
        (None, None, Some(received)) => received,
        (None, None, None) => return Judged::Unchecked,
    };
    Judged::Settled(Verdict {
        missing: source.saturating_sub(accounted),
        duplicated: accounted.saturating_sub(source),
        short_at: short_at(source, c),
    })
}

/// The first hop whose count is lower than what the hop before passed on (hops not counted are passed
/// over: the next counted one is compared with the last counted one).
fn short_at(source: u64, c: &Counts) -> Option<Hop> {
    let dropped = c.dropped_total();
    // What each hop should hold, given what the one before it held.
    let mut expected = source;
    if let Some(received) = c.received {
        // What reached the transform: what it received, and what Firehose failed without its seeing it.
        let reached = received + c.failed.unwrap_or(0).saturating_sub(c.failed_seen);
        if reached < expected {
            return Some(Hop::Subscription);
        }
        expected = reached;
    }
    if c.failed.is_some_and(|n| n > 0) {
        return Some(Hop::Transform);
    }
    expected = expected.saturating_sub(dropped + c.joined);
    // The archive holding more than expected is no loss (a count of copies rather than of distinct
    // documents: the search engine takes each document once).
    if c.archived.is_some_and(|archived| archived < expected) {
        return Some(Hop::Archive);
    }
    if let Some(indexed) = c.indexed {
        if indexed + c.dead_lettered_total() < expected {
            return Some(Hop::Search);
        }
    }
    None
}

/// A whole ledger: rows by group and hour, and why any hop could not be counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub rows: BTreeMap<Key, Counts>,
    /// Counts that should have been made and could not (a query failed, a limit was reached): the run
    /// fails.
    pub problems: Vec<String>,
    /// Hops this run does not count (not configured, or not counted by this kind of run): said, not failed.
    pub not_counted: Vec<String>,
}

impl Ledger {
    /// The row of `group` at the hour of `ts_ms`, created empty.
    pub fn row(&mut self, group: &str, ts_ms: i64) -> &mut Counts {
        self.rows.entry(Key::new(group, ts_ms)).or_default()
    }

    /// Every row judged at `now_ms`, with the total of the settled ones.
    pub fn judge(&self, now_ms: i64, settle_ms: i64) -> Report {
        let mut rows = Vec::with_capacity(self.rows.len());
        let mut total = Total::default();
        for (key, counts) in &self.rows {
            let judged = judge(key, counts, now_ms, settle_ms);
            total.add(counts, &judged);
            rows.push(Row {
                group: key.group.clone(),
                hour_ms: key.hour_ms,
                counts: counts.clone(),
                judged,
            });
        }
        Report {
            rows,
            total,
            problems: self.problems.clone(),
            not_counted: self.not_counted.clone(),
        }
    }
}

/// One judged row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub group: String,
    pub hour_ms: i64,
    #[serde(flatten)]
    pub counts: Counts,
    pub judged: Judged,
}

/// The sums over the settled rows, and how many rows are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Total {
    pub rows_settled: u64,
    pub rows_settling: u64,
    pub rows_unchecked: u64,
    pub source: u64,
    pub dropped: u64,
    pub failed: u64,
    pub archived: u64,
    pub indexed: u64,
    pub dead_lettered: u64,
    pub missing: u64,
    pub duplicated: u64,
}

impl Total {
    fn add(&mut self, c: &Counts, judged: &Judged) {
        match judged {
            Judged::Settling => self.rows_settling += 1,
            Judged::Unchecked => self.rows_unchecked += 1,
            Judged::Settled(v) => {
                self.rows_settled += 1;
                self.source += c.source.unwrap_or(0);
                self.dropped += c.dropped_total();
                self.failed += c.failed.unwrap_or(0);
                self.archived += c.archived.unwrap_or(0);
                self.indexed += c.indexed.unwrap_or(0);
                self.dead_lettered += c.dead_lettered_total();
                self.missing += v.missing;
                self.duplicated += v.duplicated;
            }
        }
    }
}

/// A judged ledger: what `logpipe reconcile` prints and the scheduled run publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    pub total: Total,
    pub problems: Vec<String>,
    pub not_counted: Vec<String>,
}

impl Report {
    /// Whether everything settled is accounted for and every hop could be counted: the exit status.
    pub fn clean(&self) -> bool {
        self.total.missing == 0
            && self.total.duplicated == 0
            && self.total.rows_unchecked == 0
            && self.problems.is_empty()
    }

    /// The rows that are not clean (missing, duplicated or not checked), for a short report.
    pub fn findings(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| match &r.judged {
            Judged::Settled(v) => v.missing > 0 || v.duplicated > 0,
            Judged::Unchecked => true,
            Judged::Settling => false,
        })
    }

    /// The table: a line a row, then the total and the problems.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let head = [
            "group",
            "hour (UTC)",
            "source",
            "dropped",
            "failed",
            "archived",
            "indexed",
            "dead-lettered",
            "missing",
            "duplicated",
            "short at",
        ];
        let mut lines: Vec<[String; 11]> = vec![head.map(String::from)];
        for r in &self.rows {
            let (missing, duplicated, short) = match &r.judged {
                Judged::Settling => ("settling".into(), String::new(), String::new()),
                Judged::Unchecked => ("unchecked".into(), String::new(), String::new()),
                Judged::Settled(v) => (
                    v.missing.to_string(),
                    v.duplicated.to_string(),
                    v.short_at.map(|h| h.to_string()).unwrap_or_default(),
                ),
            };
            let c = &r.counts;
            lines.push([
                r.group.clone(),
                crate::base::time::DateTimeParts::from_millis(r.hour_ms).rfc3339()[..16]
                    .replace('T', " "),
                opt(c.source),
                known(c.dropped_total(), c.dropped.is_some()),
                opt(c.failed),
                opt(c.archived),
                opt(c.indexed),
                known(c.dead_lettered_total(), c.dead_lettered.is_some()),
                missing,
                duplicated,
                short,
            ]);
        }
        let t = &self.total;
        // A total of a hop no settled row counted is not a zero.
        let settled = || {
            self.rows
                .iter()
                .filter(|r| matches!(r.judged, Judged::Settled(_)))
        };
        let any = |hop: fn(&Counts) -> bool| settled().any(|r| hop(&r.counts));
        lines.push([
            format!("total ({})", plural(t.rows_settled, "settled hour")),
            String::new(),
            known(t.source, any(|c| c.source.is_some())),
            known(t.dropped, any(|c| c.dropped.is_some())),
            known(t.failed, any(|c| c.failed.is_some())),
            known(t.archived, any(|c| c.archived.is_some())),
            known(t.indexed, any(|c| c.indexed.is_some())),
            known(t.dead_lettered, any(|c| c.dead_lettered.is_some())),
            t.missing.to_string(),
            t.duplicated.to_string(),
            String::new(),
        ]);
        let widths: Vec<usize> = (0..head.len())
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for l in &lines {
            let cells: Vec<String> = l
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, w))| match i {
                    0 | 1 | 10 => format!("{cell:<w$}"),
                    _ => format!("{cell:>w$}"),
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        if t.rows_settling > 0 {
            out.push_str(&format!(
                "{} not settled yet: not judged\n",
                plural(t.rows_settling, "hour")
            ));
        }
        for p in &self.problems {
            out.push_str(&format!("not checked: {p}\n"));
        }
        for n in &self.not_counted {
            out.push_str(&format!("not counted: {n}\n"));
        }
        out
    }
}

/// Counts by reason added into `ours`; a side counted on either side is counted.
fn merge(ours: &mut Option<BTreeMap<String, u64>>, theirs: &Option<BTreeMap<String, u64>>) {
    if let Some(theirs) = theirs {
        let ours = ours.get_or_insert_with(BTreeMap::new);
        for (k, v) in theirs {
            *ours.entry(k.clone()).or_default() += v;
        }
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// `n`, or `-` where the hop was not counted.
fn known(n: u64, counted: bool) -> String {
    opt(counted.then_some(n))
}

/// "1 hour", "2 hours".
pub fn plural(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
