//! Reconciliation of all traffic, where the canary proves one heartbeat: every event of the named log
//! groups, counted hour by hour (UTC, by the events' own timestamps) where CloudWatch Logs holds it and where
//! the search engine indexed it, into a [`Ledger`] that says what is missing, what is duplicated and the hop
//! where the counts first fall short.
//!
//! What this run counts: the source (Logs Insights queries, [`insights`], or FilterLogEvents pages counted
//! without keeping the events where Insights cannot count exactly), the index (one composite aggregation by `log.group` and hourly `@timestamp`, page by page) and the dead
//! letters (the forwarder's `failed/` records, [`dead_letters`]). What it does not count yet is said in the
//! ledger's `not_counted`: the transforms' own counts (events dropped on purpose by an exclude filter show
//! as missing until they are) and the archive.

use std::collections::BTreeMap;
use std::future::Future;

use logcore::ledger::{hour_of, Ledger, HOUR_MS};
use logcore::transform::filter::MessageFilter;
use serde_json::{json, Value};

use tokio::time::Instant;

use crate::{CallError, Logs, Objects};

pub mod archive;
pub mod dead_letters;
pub mod hourly;
pub mod insights;
pub mod processing_failed;
pub mod transform_counts;

pub use archive::ArchivePlace;
pub use dead_letters::DeadLetterPlace;
pub use insights::{Insights, SourceCounter};
pub use processing_failed::FailedPlace;

/// Groups and buckets the engine answers at most per aggregation page.
const PAGE: usize = 1_000;

/// What one reconciliation reads.
#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// Log group names (globs are expanded before).
    pub groups: Vec<String>,
    /// The window, from the start of an hour (`from_ms` is rounded down) to `to_ms` (exclusive).
    pub from_ms: i64,
    pub to_ms: i64,
    /// The indices to count in (`None`: the search engine is not counted).
    pub index_pattern: Option<String>,
    /// Events read at most per group from CloudWatch Logs, so that a run is bounded: a group holding more
    /// is not counted (the run says so) rather than counted short.
    pub max_events: u64,
    /// Where the forwarder's dead letters are (`None`: not counted).
    pub dead_letters: Option<DeadLetterPlace>,
    /// Where Firehose writes the records it could not have transformed (`None`: not counted).
    pub processing_failed: Option<FailedPlace>,
    /// Where the stream writes its objects, and how much of them a run may read (`None`: the archive is
    /// not counted).
    pub archive: Option<ArchivePlace>,
    /// The transforms' log groups, whose report lines carry what they received and dropped (empty: not
    /// counted; what the transform's filter drops is then counted from the source's messages).
    pub transform_logs: Vec<String>,
    /// Each group's subscription filter pattern (a group not named: every event).
    pub patterns: BTreeMap<String, String>,
    /// The transform's include/exclude filter (`None`: not known; what it drops is not counted).
    pub transform_filter: Option<MessageFilter>,
    /// The transform's multiline rules (`MULTILINE`, `MULTILINE_RULES`): its filter judges a stack trace's
    /// lines together, and so does the count of Firehose's failed records.
    pub transform_multiline: Option<logcore::logs::multiline::Rules>,
    /// When to start no new count (the scheduled run's deadline): a count not made by then is a problem
    /// named, never a zero (`None`: no bound).
    pub stop: Option<Instant>,
    /// Where the source is counted.
    pub source: SourceCounter,
}

impl ReconcileConfig {
    /// Whether a hop's row (a group and an hour start) is one this run reconciles: one of its groups, an
    /// hour of its window.
    pub fn reconciles(&self, group: &str, hour_ms: i64) -> bool {
        self.groups.iter().any(|g| g == group)
            && (hour_of(self.from_ms)..self.to_ms).contains(&hour_ms)
    }
}

/// `count`'s result, unless `stop` comes first; either error in words.
async fn in_time<T, E: std::fmt::Display>(
    stop: Option<Instant>,
    count: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    let done = match stop {
        Some(at) => tokio::time::timeout_at(at, count)
            .await
            .map_err(|_| "not counted: the run's time ran out".to_string())?,
        None => count.await,
    };
    done.map_err(|e| e.to_string())
}

/// The search engine's aggregations: the answer of one `_search` with `aggs` (an index that does not exist
/// is an answer without buckets), and of `GET /{index}/_mapping/field/{fields}` (no index: `{}`).
pub trait Aggregations: Send + Sync {
    fn aggregate(
        &self,
        index: &str,
        body: Value,
    ) -> impl Future<Output = Result<Value, CallError>> + Send;

    fn field_mapping(
        &self,
        index: &str,
        fields: &str,
    ) -> impl Future<Output = Result<Value, CallError>> + Send;
}

/// The group's field where logpipe's index template mapped it (a keyword).
pub const GROUP_FIELD: &str = "log.group";
/// The group's field in indices that dynamic mapping created (text, with a keyword sub-field).
pub const GROUP_KEYWORD_FIELD: &str = "log.group.keyword";

/// Which field to count the group by, and in which indices: all the pattern's indices (`None`), or, when
/// the indices are mapped differently, the ones named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPlan {
    pub field: &'static str,
    pub indices: Option<Vec<String>>,
}

/// The plans for a `_mapping/field/log.group,log.group.keyword` answer: `log.group` where it is a keyword
/// (logpipe's template), `log.group.keyword` where dynamic mapping made `log.group` text (indices created
/// before the template, or by another tool). An index without either field holds no document with a group;
/// an index where the group is text without a keyword sub-field cannot be counted, and is named.
pub fn group_fields(mapping: &Value) -> Result<Vec<FieldPlan>, String> {
    let indices = mapping
        .as_object()
        .ok_or_else(|| format!("the field mapping answer is not an object: {mapping}"))?;
    let mut by_field: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut uncountable = Vec::new();
    for (index, m) in indices {
        let fields = m.get("mappings").unwrap_or(m);
        let type_of = |field: &str| {
            let leaf = field.rsplit('.').next().unwrap_or(field);
            fields
                .get(field)
                .and_then(|f| f.pointer(&format!("/mapping/{leaf}/type")))
                .and_then(Value::as_str)
        };
        match (type_of(GROUP_FIELD), type_of(GROUP_KEYWORD_FIELD)) {
            (Some("keyword"), _) => by_field.entry(GROUP_FIELD).or_default().push(index.clone()),
            (_, Some("keyword")) => by_field
                .entry(GROUP_KEYWORD_FIELD)
                .or_default()
                .push(index.clone()),
            (None, None) => {}
            (Some(t), _) => uncountable.push(format!("{index} ({GROUP_FIELD} is {t})")),
            (None, Some(t)) => uncountable.push(format!("{index} ({GROUP_KEYWORD_FIELD} is {t})")),
        }
    }
    if !uncountable.is_empty() {
        return Err(format!(
            "the group is not a keyword in {}: reindex these indices with logpipe's template \
             (`logpipe search setup`)",
            uncountable.join(", ")
        ));
    }
    let single = by_field.len() == 1;
    Ok(by_field
        .into_iter()
        .map(|(field, indices)| FieldPlan {
            field,
            indices: (!single).then_some(indices),
        })
        .collect())
}

/// Count the window's events of every group at every hop this run reaches (a hop whose service is `None`
/// is said not counted); `progress` sees each group once its source is counted.
pub async fn reconcile<L: Logs + Insights, A: Aggregations, O: Objects>(
    cfg: &ReconcileConfig,
    logs: &L,
    search: Option<&A>,
    objects: Option<&O>,
    mut progress: impl FnMut(&str),
) -> Ledger {
    let mut ledger = Ledger::default();
    let from = hour_of(cfg.from_ms);
    let mut counted = Vec::new();
    let pattern = |group: &str| cfg.patterns.get(group).cloned().unwrap_or_default();
    // The transforms' own counts say what their filter dropped: the source need not read the messages.
    let transform_counted = !cfg.transform_logs.is_empty();
    let filter_at_source = cfg.transform_filter.as_ref().filter(|_| !transform_counted);
    let (by_insights, by_filter): (Vec<String>, Vec<String>) =
        cfg.groups.iter().cloned().partition(|g| {
            cfg.source == SourceCounter::Insights
                && insights::eligible(&pattern(g), filter_at_source)
        });
    if !by_insights.is_empty() {
        for (batch, result) in insights::count(logs, &by_insights, from, cfg.to_ms, cfg.stop).await
        {
            match result {
                Ok(rows) => {
                    for ((group, hour), n) in rows {
                        ledger.row(&group, hour).source = Some(n);
                    }
                    counted.extend(batch.iter().cloned());
                }
                Err(e) => ledger
                    .problems
                    .push(format!("source of {}: {e}", batch.join(", "))),
            }
            batch.iter().for_each(|g| progress(g));
        }
    }
    for group in &by_filter {
        let selection = Selection {
            pattern: pattern(group),
            transform: filter_at_source.cloned(),
        };
        let count = logs.count_by_hour(group, from, cfg.to_ms, cfg.max_events, &selection);
        match in_time(cfg.stop, count).await {
            Ok(hours) => {
                for (hour, n) in hours {
                    let row = ledger.row(group, hour);
                    row.source = Some(n.events);
                    if selection.transform.is_some() {
                        row.dropped = Some([("excluded".to_string(), n.excluded)].into());
                    }
                }
                counted.push(group.clone());
            }
            Err(e) => ledger.problems.push(format!("source of {group}: {e}")),
        }
        progress(group);
    }
    let indexed = count_indexed(cfg, search, &mut ledger).await;
    let dead = count_dead_letters(cfg, objects, &mut ledger).await;
    count_failed(cfg, objects, &mut ledger).await;
    let received = count_received(cfg, logs, &mut ledger).await;
    let archived = count_archive(cfg, objects, &mut ledger).await;
    // A hop that counted a group's whole window counted zero where it saw nothing.
    for (key, c) in ledger.rows.iter_mut() {
        if c.source.is_none() && counted.contains(&key.group) {
            c.source = Some(0);
        }
        if archived {
            c.archived.get_or_insert(0);
        }
        if received && counted.contains(&key.group) {
            c.received.get_or_insert(0);
            c.dropped.get_or_insert_with(BTreeMap::new);
        }
        // What the transform's filter dropped is known where it is known, or where it drops nothing.
        if c.source.is_some() && c.dropped.is_none() && filter_at_source.is_some() {
            c.dropped = Some(BTreeMap::new());
        }
        if c.indexed.is_none() && indexed {
            c.indexed = Some(0);
        }
        if c.dead_lettered.is_none() && dead {
            c.dead_lettered = Some(BTreeMap::new());
        }
    }
    if cfg.transform_filter.is_none() && !transform_counted {
        ledger.not_counted.push(
            "dropped: the transform's INCLUDE_PATTERN and EXCLUDE_PATTERN not given (events they drop on \
             purpose show as missing)"
                .into(),
        );
    }
    if !transform_counted {
        ledger.not_counted.push(
            "received: no transform log group given (a loss before the transform is named at the \
             next hop counted)"
                .into(),
        );
    }
    ledger
}

/// The archive's documents of the window's groups and hours into the ledger; whether counted.
async fn count_archive<O: Objects>(
    cfg: &ReconcileConfig,
    objects: Option<&O>,
    ledger: &mut Ledger,
) -> bool {
    let (Some(objects), Some(place)) = (objects, &cfg.archive) else {
        ledger
            .not_counted
            .push("archive: not read (no bucket, or no size allowed to read)".into());
        return false;
    };
    let from = hour_of(cfg.from_ms);
    let count = archive::count(objects, place, from, cfg.to_ms);
    let counts = match in_time(cfg.stop, count).await {
        Ok(c) => c,
        Err(e) => {
            ledger.problems.push(format!("archive: {e}"));
            return false;
        }
    };
    // A bound the operator set, like a hop not configured: said, and the hop passed over.
    if let Some(why) = counts.too_heavy {
        ledger.not_counted.push(format!("archive: {why}"));
        return false;
    }
    if let Some(first) = &counts.first_unreadable {
        ledger.problems.push(format!(
            "archive: {} lines or objects without a document's group and time (first: {first}): the \
             hours they belong to may show events missing at the archive",
            counts.unreadable
        ));
    }
    for ((group, hour), n) in counts.rows {
        if cfg.reconciles(&group, hour) {
            ledger.row(&group, hour).archived = Some(n);
        }
    }
    true
}

/// What the transforms received and dropped, from their report lines, into the ledger; whether counted.
async fn count_received<L: Logs>(cfg: &ReconcileConfig, logs: &L, ledger: &mut Ledger) -> bool {
    if cfg.transform_logs.is_empty() {
        return false;
    }
    let from = hour_of(cfg.from_ms);
    let count = transform_counts::count(logs, &cfg.transform_logs, from, cfg.to_ms);
    let counts = match in_time(cfg.stop, count).await {
        Ok(c) => c,
        Err(e) => {
            let logs = cfg.transform_logs.join(", ");
            ledger
                .problems
                .push(format!("received: the report lines of {logs}: {e}"));
            return false;
        }
    };
    if let Some(first) = &counts.first_unreadable {
        ledger.problems.push(format!(
            "received: {} of {} transform report lines have no ledger to read (first: {first}): what \
             they received is not counted, and shows as lost at the subscription",
            counts.unreadable, counts.lines
        ));
    }
    for row in counts.tally.rows() {
        if cfg.reconciles(&row.group, row.hour) {
            ledger.row(&row.group, row.hour).add_transform(&row.seen);
        }
    }
    true
}

/// The events of the records Firehose could not have transformed into the ledger (`failed`).
async fn count_failed<O: Objects>(cfg: &ReconcileConfig, objects: Option<&O>, ledger: &mut Ledger) {
    let (Some(objects), Some(place)) = (objects, &cfg.processing_failed) else {
        ledger
            .not_counted
            .push("failed (Firehose's processing-failed records): no bucket given".into());
        return;
    };
    let from = hour_of(cfg.from_ms);
    let filter = cfg.transform_filter.as_ref();
    let rules = cfg.transform_multiline.as_ref();
    let count = processing_failed::count(objects, place, from, cfg.to_ms, filter, rules);
    let where_ = || format!("s3://{}/{}", place.bucket, place.prefix.as_str());
    let counts = match in_time(cfg.stop, count).await {
        Ok(c) => c,
        Err(e) => {
            let problem = format!("failed records under {}: {e}", where_());
            return ledger.problems.push(problem);
        }
    };
    if let Some(first) = counts.unreadable.first() {
        ledger.problems.push(format!(
            "failed records under {}: {} cannot be read (first: {first}): their events are not counted \
             as failed, and show as missing at the hop after",
            where_(),
            counts.unreadable.len()
        ));
    }
    for ((group, hour), n) in counts.rows {
        if cfg.reconciles(&group, hour) {
            ledger.row(&group, hour).failed = Some(n);
        }
    }
    // Every hour of the window was listed: where nothing failed, nothing did.
    for c in ledger.rows.values_mut() {
        c.failed.get_or_insert(0);
    }
}

/// The index's counts into the ledger; whether they were made.
async fn count_indexed<A: Aggregations>(
    cfg: &ReconcileConfig,
    search: Option<&A>,
    ledger: &mut Ledger,
) -> bool {
    let (Some(search), Some(index)) = (search, &cfg.index_pattern) else {
        ledger
            .not_counted
            .push("search: no search engine given".into());
        return false;
    };
    let from = hour_of(cfg.from_ms);
    let count = indexed_counts(search, index, &cfg.groups, from, cfg.to_ms);
    match in_time(cfg.stop, count).await {
        Ok(rows) => {
            for ((group, hour), n) in rows {
                ledger.row(&group, hour).indexed = Some(n);
            }
            true
        }
        Err(e) => {
            ledger
                .problems
                .push(format!("search: the aggregation over {index}: {e}"));
            false
        }
    }
}

/// The dead letters' counts of the window's groups and hours into the ledger; whether they were made.
async fn count_dead_letters<O: Objects>(
    cfg: &ReconcileConfig,
    objects: Option<&O>,
    ledger: &mut Ledger,
) -> bool {
    let (Some(objects), Some(place)) = (objects, &cfg.dead_letters) else {
        ledger
            .not_counted
            .push("dead letters: no bucket given".into());
        return false;
    };
    let from = hour_of(cfg.from_ms);
    let count = dead_letters::count(objects, place, from, cfg.to_ms);
    let counts = match in_time(cfg.stop, count).await {
        Ok(c) => c,
        Err(e) => {
            ledger.problems.push(format!(
                "dead letters under s3://{}/{}: {e}",
                place.bucket, place.prefix
            ));
            return false;
        }
    };
    let untold = counts.unattributed + counts.without_group_total();
    if untold > 0 {
        ledger.problems.push(format!(
            "dead letters: {} records under s3://{}/{} whose events cannot be told (unreadable units): \
             the hours they belong to may show events missing that were dead-lettered",
            untold, place.bucket, place.prefix
        ));
    }
    for ((group, hour), causes) in counts.rows {
        if cfg.reconciles(&group, hour) {
            ledger.row(&group, hour).dead_lettered = Some(causes);
        }
    }
    true
}

/// Documents per group and hour in `index` from `from_ms` to `to_ms` (exclusive), by the group's field of
/// each index (see [`group_fields`]).
pub async fn indexed_counts<A: Aggregations>(
    search: &A,
    index: &str,
    groups: &[String],
    from_ms: i64,
    to_ms: i64,
) -> Result<BTreeMap<(String, i64), u64>, CallError> {
    let mapping = search
        .field_mapping(index, &format!("{GROUP_FIELD},{GROUP_KEYWORD_FIELD}"))
        .await?;
    let plans = group_fields(&mapping).map_err(CallError::permanent)?;
    let mut out = BTreeMap::new();
    for plan in &plans {
        let window = Window {
            groups,
            from_ms,
            to_ms,
            plan,
        };
        count_pages(search, index, &window, &mut out).await?;
    }
    Ok(out)
}

/// What one aggregation counts.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub groups: &'a [String],
    pub from_ms: i64,
    pub to_ms: i64,
    pub plan: &'a FieldPlan,
}

/// Every page of the composite aggregation over `window`, added into `out`.
async fn count_pages<A: Aggregations>(
    search: &A,
    index: &str,
    window: &Window<'_>,
    out: &mut BTreeMap<(String, i64), u64>,
) -> Result<(), CallError> {
    let Window {
        groups,
        from_ms,
        to_ms,
        ..
    } = *window;
    let mut after: Option<Value> = None;
    // Each page is a step forward (the engine's `after_key`); a bound keeps a misbehaving one from looping.
    let pages =
        groups.len() * ((to_ms - from_ms).max(0) as usize / HOUR_MS as usize + 2) / PAGE + 2;
    for _ in 0..pages {
        let answer = search
            .aggregate(index, indexed_query(window, after.as_ref()))
            .await?;
        let IndexedPage {
            buckets,
            after_key: next,
        } = parse_indexed(&answer)
            .map_err(|e| CallError::permanent(format!("the engine's answer: {e}")))?;
        let full = buckets.len() >= PAGE;
        for (group, hour, n) in buckets {
            *out.entry((group, hour_of(hour))).or_default() += n;
        }
        match next {
            Some(key) if full && Some(&key) != after.as_ref() => after = Some(key),
            _ => return Ok(()),
        }
    }
    Err(CallError::permanent(format!(
        "the aggregation did not end after {pages} pages"
    )))
}

/// The `_search` body: documents of the window's groups from `from_ms` to `to_ms` (exclusive), counted by
/// group (the plan's field, in the plan's indices) and hour in pages of [`PAGE`] buckets, after `after`
/// (the previous page's `after_key`).
pub fn indexed_query(window: &Window<'_>, after: Option<&Value>) -> Value {
    let Window {
        groups,
        from_ms,
        to_ms,
        plan,
    } = *window;
    let mut composite = json!({
        "size": PAGE,
        "sources": [
            {"group": {"terms": {"field": plan.field}}},
            {"hour": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}}}
        ]
    });
    if let Some(a) = after {
        composite["after"] = a.clone();
    }
    let mut filter = vec![
        json!({"range": {"@timestamp": {"gte": from_ms, "lt": to_ms, "format": "epoch_millis"}}}),
        json!({"terms": {plan.field: groups}}),
    ];
    if let Some(indices) = &plan.indices {
        filter.push(json!({"terms": {"_index": indices}}));
    }
    json!({
        "size": 0,
        "track_total_hits": false,
        "query": {"bool": {"filter": filter}},
        "aggs": {"rows": {"composite": composite}}
    })
}

/// One page of a composite aggregation's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedPage {
    /// Group, hour start in ms, documents.
    pub buckets: Vec<(String, i64, u64)>,
    /// Where the next page starts (`None`: the engine gave no `after_key`).
    pub after_key: Option<Value>,
}

/// The buckets of a composite aggregation answer and its `after_key`.
pub fn parse_indexed(answer: &Value) -> Result<IndexedPage, String> {
    let Some(rows) = answer.pointer("/aggregations/rows") else {
        // An index pattern that matches no index: no aggregation, no documents.
        return match answer.get("hits") {
            Some(_) => Ok(IndexedPage {
                buckets: Vec::new(),
                after_key: None,
            }),
            None => Err("no aggregations and no hits".into()),
        };
    };
    let buckets = rows
        .get("buckets")
        .and_then(Value::as_array)
        .ok_or("aggregations.rows has no buckets")?;
    let mut out = Vec::with_capacity(buckets.len());
    for b in buckets {
        let group = b
            .pointer("/key/group")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("a bucket without key.group: {b}"))?;
        let hour = b
            .pointer("/key/hour")
            .and_then(|h| h.as_i64().or_else(|| h.as_f64().map(|f| f as i64)))
            .ok_or_else(|| format!("a bucket without a numeric key.hour: {b}"))?;
        let n = b
            .get("doc_count")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("a bucket without doc_count: {b}"))?;
        out.push((group.to_string(), hour, n));
    }
    Ok(IndexedPage {
        buckets: out,
        after_key: rows.get("after_key").cloned(),
    })
}

/// Which of a group's events the pipeline is asked to carry, and which of those it drops on purpose.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The subscription filter's pattern (`""`: every event); FilterLogEvents reads the same syntax.
    pub pattern: String,
    /// The transform's include/exclude filter (`INCLUDE_PATTERN`, `EXCLUDE_PATTERN`), the very code it
    /// runs; `None`: not known, and the events it drops are not counted.
    pub transform: Option<MessageFilter>,
}

/// One hour of a group's source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceHour {
    /// Events matching the subscription's pattern.
    pub events: u64,
    /// Of those, the ones the transform's filter does not keep.
    pub excluded: u64,
}

/// A group's source counted page by page, at most `limit` events.
#[derive(Debug)]
pub struct Tally<'a> {
    pub hours: BTreeMap<i64, SourceHour>,
    seen: u64,
    limit: u64,
    group: &'a str,
    transform: Option<&'a MessageFilter>,
}

impl<'a> Tally<'a> {
    pub fn new(group: &'a str, limit: u64, selection: &'a Selection) -> Self {
        Tally {
            hours: BTreeMap::new(),
            seen: 0,
            limit,
            group,
            transform: selection.transform.as_ref().filter(|f| !f.is_noop()),
        }
    }

    /// Add a page's (timestamp, message) events.
    pub fn add<'m>(
        &mut self,
        events: impl IntoIterator<Item = (i64, &'m str)>,
    ) -> Result<(), CallError> {
        for (ts, message) in events {
            self.seen += 1;
            if self.seen > self.limit {
                return Err(CallError::permanent(format!(
                    "{} holds more than {} events in the window: reconcile a shorter window, or raise \
                     the limit",
                    self.group, self.limit
                )));
            }
            let hour = self.hours.entry(hour_of(ts)).or_default();
            hour.events += 1;
            if self.transform.is_some_and(|f| !f.keep(message)) {
                hour.excluded += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
