//! The scheduled reconciliation: in the stack nobody runs `logpipe reconcile` by hand. Each hourly run of the
//! canary reconciles every hour that has settled since the last one it reconciled (its state object), for
//! the log groups the app subscription names, and reports the events missing and duplicated as metrics
//! (overall, not one metric per group), with a log line per group and hour that names the counts, the hop
//! where they diverge and the command to drill down. A clean hour says nothing.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use logcore::base::time::DateTimeParts;
use logcore::ledger::{hour_of, Judged, Report, Row, Verdict, HOUR_MS};
use logcore::logs::glob::GroupPattern;
use logcore::transform::filter::MessageFilter;
use logpipe_io::lambda::Deadline;
use serde::{Deserialize, Serialize};

use super::{reconcile, Aggregations, DeadLetterPlace, ReconcileConfig};
use crate::{CallError, Config, Logs, Objects};

/// The state object's key, beside the heartbeats' state.
pub const STATE_KEY: &str = "canary/reconcile.json";

/// What the scheduled reconciliation reads (from the canary's variables).
#[derive(Debug, Clone)]
pub struct Hourly {
    /// The log groups: names, globs or `re:` patterns (`RECONCILE_GROUPS`).
    pub groups: Vec<GroupPattern>,
    /// The subscription filter that sends them to the pipeline (`RECONCILE_FILTER_NAME`).
    pub filter_name: Option<String>,
    /// How long after an hour ends its events may still be on their way (`RECONCILE_SETTLE_MINUTES`).
    pub settle_ms: i64,
    /// The app transform's include/exclude filter (`INCLUDE_PATTERN`, `EXCLUDE_PATTERN`).
    pub transform_filter: MessageFilter,
    /// The app transform's multiline rules (`MULTILINE`, `MULTILINE_RULES`).
    pub transform_multiline: Option<logcore::logs::multiline::Rules>,
    /// The forwarder's dead-letter prefix (`DEAD_LETTER_PREFIX`).
    pub dead_letter_prefix: String,
    /// Where the app stream writes every group's objects (`RECONCILE_KEY_PREFIXES`): the dead letters'
    /// keys follow them.
    pub key_prefixes: Vec<crate::scan::KeyPrefix>,
    /// Events read at most per group and run (`RECONCILE_MAX_EVENTS`).
    pub max_events: u64,
    /// Hours reconciled at most per run: a run after a long pause catches up on the most recent ones.
    pub max_hours: i64,
    /// Where the source is counted (`RECONCILE_SOURCE`).
    pub source: super::SourceCounter,
    /// Where the app stream writes the records it could not have transformed
    /// (`PROCESSING_FAILED_PREFIX`).
    pub failed_prefix: crate::scan::KeyPrefix,
    /// The transforms' log groups, whose report lines say what they received (`TRANSFORM_LOG_GROUPS`).
    pub transform_logs: Vec<String>,
    /// Compressed bytes of the archive's objects a run may read to count them
    /// (`RECONCILE_ARCHIVE_MAX_MB`; 0: the archive is not counted).
    pub archive_max_bytes: u64,
}

/// CloudWatch Logs' groups and subscription filters, as the reconciliation reads them.
pub trait Subscriptions: Send + Sync {
    /// Every log group name under `prefix` (all pages).
    fn groups(
        &self,
        prefix: Option<&str>,
    ) -> impl Future<Output = Result<Vec<String>, CallError>> + Send;
    /// The pattern of `group`'s subscription filter `name`, when it has one.
    fn filter_pattern(
        &self,
        group: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, CallError>> + Send;
}

/// The groups `patterns` name: a whole name as it is, a glob or a regex as the account's groups it matches
/// (listed from a glob's literal start).
pub async fn expand_groups<S: Subscriptions>(
    subs: &S,
    patterns: &[GroupPattern],
) -> Result<Vec<String>, CallError> {
    let mut out: Vec<String> = Vec::new();
    for p in patterns {
        if let Some(name) = p.name() {
            out.push(name.to_string());
            continue;
        }
        let listed = subs.groups(p.literal_prefix()).await?;
        out.extend(listed.into_iter().filter(|g| p.matches(g)));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The pattern of the subscription filter `name` of each group that has it.
pub async fn filter_patterns<S: Subscriptions>(
    subs: &S,
    groups: &[String],
    name: &str,
) -> Result<BTreeMap<String, String>, CallError> {
    let mut out = BTreeMap::new();
    for group in groups {
        if let Some(pattern) = subs.filter_pattern(group, name).await? {
            out.insert(group.clone(), pattern);
        }
    }
    Ok(out)
}

logcore::counts! {
    /// Counts of one scheduled reconciliation: its report line (summary and EMF metrics).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct ReconcileSummary {
        pub hours: u64 => "HoursReconciled",
        pub groups: u64,
        pub rows: u64,
        pub events: u64 => "EventsReconciled",
        pub missing: u64 => "EventsMissing",
        pub duplicated: u64 => "EventsDuplicated",
        /// Counts that could not be made (a query failed, a group over the limit): those hours are not
        /// checked, and are not tried again.
        pub problems: u64 => "ReconcileProblems",
    }
}

/// What a run did: its counts, the window it reconciled and the report (`None`: nothing had settled since
/// the last run).
#[derive(Debug)]
pub struct HourlyOutcome {
    pub summary: ReconcileSummary,
    pub from_ms: i64,
    pub to_ms: i64,
    pub report: Option<Report>,
}

/// The state: every hour before `reconciled_through_ms` has been reconciled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileState {
    pub reconciled_through_ms: i64,
}

/// Time kept after the last count to save the state and write the report line.
pub const RESERVE: Duration = Duration::from_secs(15);

/// Reconcile the hours settled since the last run, and move the state past them. With a `deadline`, no
/// count starts after it less [`RESERVE`]: what is left is a problem named (`ReconcileProblems`), so a run
/// too short for the traffic is seen, not killed silently by the Lambda timeout.
pub async fn run_hourly<L, A, O>(
    cfg: &Config,
    hourly: &Hourly,
    (logs, search, objects): (&L, Option<&A>, &O),
    now_ms: i64,
    deadline: Option<&Deadline>,
) -> Result<HourlyOutcome, CallError>
where
    L: Logs + Subscriptions + super::Insights,
    A: Aggregations,
    O: Objects,
{
    let state = match objects.read(&cfg.bucket, STATE_KEY).await? {
        Some(bytes) => serde_json::from_slice::<ReconcileState>(&bytes)
            .map_err(|e| CallError::permanent(format!("s3://{}/{STATE_KEY}: {e}", cfg.bucket)))?,
        None => ReconcileState::default(),
    };
    let to_ms = hour_of(now_ms - hourly.settle_ms);
    // The first run reconciles the last settled hour; later runs every hour since, up to `max_hours`.
    let from_ms = match state.reconciled_through_ms {
        0 => to_ms - HOUR_MS,
        through => through.max(to_ms - hourly.max_hours * HOUR_MS),
    };
    let mut outcome = HourlyOutcome {
        summary: ReconcileSummary::default(),
        from_ms,
        to_ms,
        report: None,
    };
    if from_ms >= to_ms {
        return Ok(outcome);
    }
    let groups = expand_groups(logs, &hourly.groups).await?;
    let patterns = match &hourly.filter_name {
        Some(name) => filter_patterns(logs, &groups, name).await?,
        None => BTreeMap::new(),
    };
    let rcfg = ReconcileConfig {
        groups,
        from_ms,
        to_ms,
        index_pattern: search.map(|_| cfg.index_pattern.clone()),
        max_events: hourly.max_events,
        dead_letters: Some(DeadLetterPlace {
            bucket: cfg.bucket.clone(),
            prefix: hourly.dead_letter_prefix.clone(),
            source_bucket: cfg.bucket.clone(),
            key_prefixes: hourly.key_prefixes.clone(),
        }),
        transform_logs: hourly.transform_logs.clone(),
        archive: (hourly.archive_max_bytes > 0).then(|| super::ArchivePlace {
            bucket: cfg.bucket.clone(),
            key_prefixes: hourly.key_prefixes.clone(),
            max_bytes: hourly.archive_max_bytes,
        }),
        processing_failed: Some(super::FailedPlace {
            bucket: cfg.bucket.clone(),
            prefix: hourly.failed_prefix.clone(),
        }),
        patterns,
        transform_filter: Some(hourly.transform_filter.clone()),
        transform_multiline: hourly.transform_multiline.clone(),
        stop: deadline.map(|d| d.stop.checked_sub(RESERVE).unwrap_or(d.stop)),
        source: hourly.source,
    };
    let ledger = reconcile(&rcfg, logs, search, Some(objects), |_| {}).await;
    let report = ledger.judge(now_ms, hourly.settle_ms);
    let s = &mut outcome.summary;
    s.hours = ((to_ms - from_ms) / HOUR_MS) as u64;
    s.groups = rcfg.groups.len() as u64;
    s.rows = report.rows.len() as u64;
    s.events = report.total.source;
    s.missing = report.total.missing;
    s.duplicated = report.total.duplicated;
    s.problems = report.problems.len() as u64;
    // Each hour is reconciled once: a count that could not be made is reported (ReconcileProblems), not
    // retried by every later run.
    let next = ReconcileState {
        reconciled_through_ms: to_ms,
    };
    let body = serde_json::to_vec(&next).map_err(|e| CallError::permanent(e.to_string()))?;
    objects.write(&cfg.bucket, STATE_KEY, body).await?;
    outcome.report = Some(report);
    Ok(outcome)
}

/// The command that lists the lost ids of one group and hour.
pub fn drill_down(group: &str, hour_ms: i64) -> String {
    let at = |ms: i64| DateTimeParts::from_millis(ms).rfc3339();
    format!(
        "logpipe verify -g '{group}' --from {} --to {}",
        at(hour_ms),
        at(hour_ms + HOUR_MS)
    )
}

/// The sentence of one finding, what the Slack notifier shows first: the group and hour, the events
/// missing or duplicated, each hop's count (`-`: not counted), the hop where they diverge, and the command
/// that lists the ids.
pub fn finding(row: &Row, v: &Verdict) -> String {
    let c = &row.counts;
    let n = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
    let what = match (v.missing, v.duplicated) {
        (0, d) => format!("{d} events duplicated"),
        (m, 0) => format!("{m} events missing"),
        (m, d) => format!("{m} events missing and {d} duplicated"),
    };
    let short = v
        .short_at
        .map_or_else(String::new, |h| format!(", short at {h}"));
    format!(
        "reconcile: {what} in {} {} (source {}, dropped {}, failed {}, indexed {}, dead-lettered {}){short}; \
         list them: {}",
        row.group,
        DateTimeParts::from_millis(row.hour_ms).rfc3339(),
        n(c.source),
        n(c.dropped.as_ref().map(|_| c.dropped_total())),
        n(c.failed),
        n(c.indexed),
        n(c.dead_lettered.as_ref().map(|_| c.dead_lettered_total())),
        drill_down(&row.group, row.hour_ms)
    )
}

/// The run's lines: one error line a finding (group and hour with events missing or duplicated) and a
/// problem (a count not made), which the template also sends to the Slack notifier, then the report line.
pub fn report_hourly(cfg: &Config, request_id: &str, outcome: &HourlyOutcome) {
    if let Some(report) = &outcome.report {
        for row in report.findings() {
            let Judged::Settled(v) = &row.judged else {
                continue;
            };
            let c = &row.counts;
            tracing::error!(
                group = %row.group,
                hour = %DateTimeParts::from_millis(row.hour_ms).rfc3339(),
                source = c.source,
                dropped = c.dropped_total(),
                failed = c.failed,
                indexed = c.indexed,
                dead_lettered = c.dead_lettered_total(),
                missing = v.missing,
                duplicated = v.duplicated,
                short_at = v.short_at.map(|h| h.to_string()),
                drill_down = %drill_down(&row.group, row.hour_ms),
                "{}",
                finding(row, v)
            );
        }
        for p in &report.problems {
            tracing::error!(problem = %p, "reconcile: a count could not be made: {p}");
        }
    }
    cfg.common
        .report(request_id, "canary reconcile summary", &outcome.summary);
}

#[cfg(test)]
mod tests;
