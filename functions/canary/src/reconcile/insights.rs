//! The source counted by CloudWatch Logs Insights: one `stats count(*) by @log, bin(1h)` query for up to
//! 50 groups, several queries at once, so that an hour of 100 GB a day is counted in the time a query
//! takes rather than at FilterLogEvents' 5 pages a second. Insights counts by the events' own timestamps
//! (`@timestamp`), the ledger's time base.
//!
//! It counts every event of a group: a group whose subscription has a filter pattern, or whose events the
//! transform's include/exclude filter may drop, is counted by FilterLogEvents instead (which reads the
//! pattern's syntax and the messages), see [`eligible`].
//!
//! The service's limits, from its API reference: 50 log groups a query (`StartQuery`), 10,000 result rows
//! a query (`limit`), 30 queries at once in an account (a query over that answers `LimitExceededException`,
//! and is started again once one of ours has finished), 60 minutes a query (`Timeout`). A query's status is
//! polled (`GetQueryResults`) until `Complete`; rows of a query still `Running` are partial and never read.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use logcore::base::time::parse_rfc3339_ms;
use logcore::ledger::{hour_of, HOUR_MS};
use logcore::transform::filter::MessageFilter;
use tokio::time::Instant;

use crate::CallError;
use logpipe_io::error::ErrorKind;

/// The query: events per group and hour. `@log` is `account-id:log-group-name`.
pub const COUNT_QUERY: &str = "stats count(*) as events by @log, bin(1h) as hour";
/// Log groups a query names at most (StartQuery's `logGroupNames`).
pub const MAX_GROUPS: usize = 50;
/// Result rows a query returns at most (StartQuery's `limit`).
pub const MAX_ROWS: usize = 10_000;
/// Our queries running at once: a share of the account's 30, which dashboards and people use too.
pub const CONCURRENT: usize = 5;
/// How long a run without a deadline (the CLI) waits for its queries: the service's own 60 minutes, and a
/// margin.
pub const MAX_WAIT: Duration = Duration::from_secs(65 * 60);
/// The first wait between polls, doubled up to [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(500);
const POLL_MAX: Duration = Duration::from_secs(5);

/// Where the source is counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SourceCounter {
    /// Logs Insights for the groups it counts exactly ([`eligible`]), FilterLogEvents for the others.
    #[default]
    Insights,
    /// FilterLogEvents for every group.
    Filter,
}

impl std::str::FromStr for SourceCounter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "insights" => Ok(SourceCounter::Insights),
            "filter" => Ok(SourceCounter::Filter),
            other => Err(format!(
                "{other:?} is no source counter: `insights` (Logs Insights where it counts exactly, \
                 FilterLogEvents elsewhere) or `filter` (FilterLogEvents for every group)"
            )),
        }
    }
}

/// Whether Logs Insights counts the group exactly: its subscription takes every event (no filter
/// pattern) and the transform drops none on purpose (no include/exclude filter, or it is not known).
pub fn eligible(pattern: &str, transform: Option<&MessageFilter>) -> bool {
    pattern.trim().is_empty() && transform.is_none_or(MessageFilter::is_noop)
}

/// One `StartQuery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsightsQuery {
    pub groups: Vec<String>,
    /// Epoch seconds, both included.
    pub start_s: i64,
    pub end_s: i64,
    pub query: String,
    pub limit: usize,
}

/// One `GetQueryResults` answer: the query's status and its rows, each a list of (field, value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryAnswer {
    pub status: String,
    pub rows: Vec<Vec<(String, String)>>,
}

/// CloudWatch Logs Insights.
pub trait Insights: Send + Sync {
    /// `StartQuery`: the query's id. A query over the account's concurrency answers a throttled error.
    fn start_query(
        &self,
        query: &InsightsQuery,
    ) -> impl Future<Output = Result<String, CallError>> + Send;
    /// `GetQueryResults`.
    fn query_results(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<QueryAnswer, CallError>> + Send;
    /// `StopQuery`: a query whose answer is no longer awaited, so that it frees its place.
    fn stop_query(&self, id: &str) -> impl Future<Output = Result<(), CallError>> + Send;
}

/// The groups of each query: at most [`MAX_GROUPS`], and few enough that their rows (a row a group and
/// hour) stay under [`MAX_ROWS`]. An error when one group's hours alone are too many.
pub fn batches(groups: &[String], hours: usize) -> Result<Vec<Vec<String>>, String> {
    // One row more than the window could hold, so that a full answer is known to be cut off.
    let per_query = (MAX_ROWS - 1) / hours.max(1);
    if per_query == 0 {
        return Err(format!(
            "{hours} hours are more rows than a Logs Insights query returns ({MAX_ROWS}): reconcile a \
             shorter window"
        ));
    }
    Ok(groups
        .chunks(per_query.min(MAX_GROUPS))
        .map(<[String]>::to_vec)
        .collect())
}

/// The query for `groups` from `from_ms` (an hour's start) to `to_ms` (exclusive).
pub fn query(groups: &[String], from_ms: i64, to_ms: i64) -> InsightsQuery {
    InsightsQuery {
        groups: groups.to_vec(),
        start_s: from_ms.div_euclid(1000),
        // The end second is included: events of its hour are counted in the bin past the window, and
        // left out by `parse_rows`.
        end_s: to_ms.div_euclid(1000),
        query: COUNT_QUERY.to_string(),
        limit: MAX_ROWS,
    }
}

/// A bin's time: Logs Insights writes `2026-12-07 14:00:00.000` (UTC); RFC 3339 is read too.
pub fn parse_bin(value: &str) -> Option<i64> {
    parse_rfc3339_ms(value).or_else(|| parse_rfc3339_ms(&format!("{}Z", value.trim())))
}

/// Events per (group, hour) of a complete answer for `groups`, hours from `from_ms` to `to_ms` (exclusive).
pub fn parse_rows(
    rows: &[Vec<(String, String)>],
    groups: &[String],
    from_ms: i64,
    to_ms: i64,
) -> Result<BTreeMap<(String, i64), u64>, String> {
    if rows.len() >= MAX_ROWS {
        return Err(format!(
            "the answer holds {} rows, the query's limit: some may have been cut off",
            rows.len()
        ));
    }
    let mut out = BTreeMap::new();
    for row in rows {
        let field = |name: &str| {
            row.iter()
                .find(|(f, _)| f == name)
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| format!("a row without {name}: {row:?}"))
        };
        let log = field("@log")?;
        // `account-id:log-group-name`; a group's name holds no colon.
        let group = log.split_once(':').map_or(log, |(_, g)| g);
        if !groups.iter().any(|g| g == group) {
            return Err(format!("a row for {log:?}, a group the query did not name"));
        }
        let bin = field("hour")?;
        let hour = parse_bin(bin).ok_or_else(|| format!("a row whose hour is {bin:?}"))?;
        if hour_of(hour) != hour {
            return Err(format!("a row whose hour {bin:?} is not an hour's start"));
        }
        let events = field("events")?;
        let n = events
            .parse::<u64>()
            .map_err(|_| format!("a row whose count is {events:?}"))?;
        if (hour_of(from_ms)..to_ms).contains(&hour) {
            *out.entry((group.to_string(), hour)).or_default() += n;
        }
    }
    Ok(out)
}

/// One query's outcome: its groups, and their counts or why there are none.
pub type Counted = (Vec<String>, Result<BTreeMap<(String, i64), u64>, String>);

/// Count `groups` from `from_ms` to `to_ms`, [`CONCURRENT`] queries at a time, until `stop` (or
/// [`MAX_WAIT`]): a query not answered by then is stopped and its groups said not counted.
pub async fn count<I: Insights>(
    insights: &I,
    groups: &[String],
    from_ms: i64,
    to_ms: i64,
    stop: Option<Instant>,
) -> Vec<Counted> {
    let from_ms = hour_of(from_ms);
    let hours =
        usize::try_from(((to_ms - from_ms).max(0) + HOUR_MS - 1) / HOUR_MS).unwrap_or(usize::MAX);
    let batches = match batches(groups, hours) {
        Ok(b) => b,
        Err(e) => return vec![(groups.to_vec(), Err(e))],
    };
    let give_up = stop.unwrap_or_else(|| Instant::now() + MAX_WAIT);
    let mut run = Run {
        insights,
        from_ms,
        to_ms,
        waiting: batches.into(),
        running: Vec::new(),
        out: Vec::new(),
    };
    let mut wait = POLL_FIRST;
    loop {
        run.start_more().await;
        if run.running.is_empty() && run.waiting.is_empty() {
            return run.out;
        }
        if Instant::now() + wait > give_up {
            run.give_up().await;
            return run.out;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(POLL_MAX);
        run.poll().await;
    }
}

/// The queries of one count: waiting to start, running (with their ids), and the outcomes so far.
struct Run<'a, I> {
    insights: &'a I,
    from_ms: i64,
    to_ms: i64,
    waiting: VecDeque<Vec<String>>,
    running: Vec<(Vec<String>, String)>,
    out: Vec<Counted>,
}

impl<I: Insights> Run<'_, I> {
    /// Start waiting queries while fewer than [`CONCURRENT`] run; one the account has no place for waits.
    async fn start_more(&mut self) {
        while self.running.len() < CONCURRENT {
            let Some(batch) = self.waiting.pop_front() else {
                return;
            };
            let q = query(&batch, self.from_ms, self.to_ms);
            match self.insights.start_query(&q).await {
                Ok(id) => self.running.push((batch, id)),
                // The account's queries are at their limit: start it once one has finished.
                Err(e) if e.kind == ErrorKind::Throttled => {
                    self.waiting.push_front(batch);
                    return;
                }
                Err(e) => self.out.push((batch, Err(format!("StartQuery: {e}")))),
            }
        }
    }

    /// Ask each running query for its answer: a complete one is read, one still running kept.
    async fn poll(&mut self) {
        for (batch, id) in std::mem::take(&mut self.running) {
            match self.insights.query_results(&id).await {
                Ok(answer) => match answer.status.as_str() {
                    "Complete" => {
                        let counted = parse_rows(&answer.rows, &batch, self.from_ms, self.to_ms)
                            .map_err(|e| format!("Logs Insights query {id}: {e}"));
                        self.out.push((batch, counted));
                    }
                    "Scheduled" | "Running" | "Unknown" => self.running.push((batch, id)),
                    other => self.out.push((
                        batch,
                        Err(format!("Logs Insights query {id} ended {other}")),
                    )),
                },
                Err(e) if matches!(e.kind, ErrorKind::Throttled | ErrorKind::Retryable) => {
                    self.running.push((batch, id));
                }
                Err(e) => self
                    .out
                    .push((batch, Err(format!("GetQueryResults {id}: {e}")))),
            }
        }
    }

    /// Time is up: stop what runs (best effort: a query ends by itself within 60 minutes), and say every
    /// group not answered not counted.
    async fn give_up(&mut self) {
        for (batch, id) in std::mem::take(&mut self.running) {
            let _ = self.insights.stop_query(&id).await;
            let why = format!(
                "not counted: the run's time ran out (Logs Insights query {id} unanswered)"
            );
            self.out.push((batch, Err(why)));
        }
        let why =
            "not counted: the run's time ran out (Logs Insights busy: LimitExceededException)";
        self.out.extend(
            self.waiting
                .drain(..)
                .map(|batch| (batch, Err(why.to_string()))),
        );
    }
}

#[cfg(test)]
mod tests;
