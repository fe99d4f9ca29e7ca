//! `logpipe reconcile`: every event of the named log groups, counted per hour where CloudWatch Logs holds it
//! and where the search engine indexed it, with what is missing or duplicated and the hop where the counts
//! first fall short (`canary::reconcile`, `logcore::ledger`). Exit 1 when anything settled is missing or
//! duplicated, or a count could not be made.

use std::collections::BTreeMap;

use canary::config::parse_prefixes;
use canary::reconcile::hourly::{expand_groups, filter_patterns};
use canary::reconcile::processing_failed::DEFAULT_PREFIX;
use canary::reconcile::{reconcile, DeadLetterPlace, FailedPlace, ReconcileConfig, SourceCounter};
use logcore::ledger::plural;
use logcore::logs::glob::GroupPattern;
use logcore::transform::filter::MessageFilter;
use logpipe_io::HttpSearch;

use crate::trace::parse_since;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A line per group and hour, then the total.
    Table,
    /// The rows, the total and what was not counted, as one JSON object.
    Json,
}

#[derive(clap::Args)]
pub struct ReconcileArgs {
    /// Log groups to reconcile: names, globs (`/ecs/*`) or `re:` and a regular expression; repeat for
    /// several.
    #[arg(long = "group", short = 'g', required = true)]
    groups: Vec<String>,
    /// How far back, from the start of that hour: 90m, 6h, 2d.
    #[arg(long, default_value = "24h")]
    since: String,
    /// How long after an hour ends its events may still be on their way (Firehose buffering, the
    /// forwarder's queue, retries): younger hours are shown, not judged.
    #[arg(long, default_value = "30m")]
    settle: String,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// The search engine's base URL; authentication as the forwarder's (SEARCH_AUTH, SEARCH_SECRET_ARN).
    /// Without it the index is not counted.
    #[arg(long, env = "SEARCH_URL")]
    search_url: Option<String>,
    /// Index pattern to count in (default: every index the forwarder's INDEX template makes).
    #[arg(long)]
    index: Option<String>,
    /// Where the source is counted: `insights` (Logs Insights, 50 groups a query, for every group whose
    /// subscription has no filter pattern and whose events no include/exclude pattern drops;
    /// FilterLogEvents for the others) or `filter` (FilterLogEvents for every group).
    #[arg(long, default_value = "insights")]
    source: SourceCounter,
    /// Events read at most per group by FilterLogEvents (pages of up to 10,000); a group holding more in
    /// the window is reported not counted.
    #[arg(long, default_value_t = 1_000_000)]
    max_events: u64,
    /// The log bucket Firehose writes to: its dead letters are counted (without it they are not).
    #[arg(long, env = "BUCKET")]
    bucket: Option<String>,
    /// Where Firehose writes the objects: key prefixes with %Y %m %d %H (UTC), comma-separated.
    #[arg(long, env = "KEY_PREFIXES", default_value = "logs/%Y/%m/%d/%H/")]
    prefixes: String,
    /// The forwarder's dead-letter bucket (default: --bucket).
    #[arg(long, env = "DEAD_LETTER_BUCKET")]
    dead_letter_bucket: Option<String>,
    /// The forwarder's dead-letter prefix.
    #[arg(long, env = "DEAD_LETTER_PREFIX", default_value = "failed/")]
    dead_letter_prefix: String,
    /// Where Firehose writes the records it could not have transformed (in --bucket), with %Y %m %d %H:
    /// their events are counted as failed at the transform.
    #[arg(long, env = "PROCESSING_FAILED_PREFIX", default_value = DEFAULT_PREFIX)]
    processing_failed_prefix: String,
    /// Read the archive's objects (in --bucket, under --prefixes) to count their documents, up to this many
    /// MB of them (compressed); 0: the archive is not counted. A window weighing more is said not counted.
    #[arg(long, default_value_t = 0)]
    archive_max_mb: u64,
    /// The transform's log group (the stack's `/logpipe/ENV/…-transform`; repeat for several): its report
    /// lines say what it received and dropped per group and hour, so that a loss before it is named at the
    /// subscription and its filter's drops are counted without reading the messages.
    #[arg(long = "transform-log-group")]
    transform_logs: Vec<String>,
    /// The subscription filter that sends the groups to the pipeline (logpipe's: `logpipe-ENV-app`): its
    /// pattern says which events are to be delivered. Without it, or for a group without that filter
    /// (account policies), every event is.
    #[arg(long)]
    subscription_filter: Option<String>,
    /// The transform's INCLUDE_PATTERN: events it does not match are dropped on purpose, not missing.
    #[arg(long, env = "INCLUDE_PATTERN")]
    include_pattern: Option<String>,
    /// The transform's EXCLUDE_PATTERN: events it matches are dropped on purpose, not missing. Without
    /// either pattern, what the transform drops is not counted.
    #[arg(long, env = "EXCLUDE_PATTERN")]
    exclude_pattern: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: ReconcileArgs) -> Result<(), String> {
    let now = logcore::base::time::now_ms();
    let since = parse_since(&args.since)?;
    let settle = parse_since(&args.settle).map_err(|e| e.replace("--since", "--settle"))?;
    let index = crate::index_pattern(args.index.as_deref())?;
    let endpoint = crate::search_endpoint(args.search_url.as_deref())?;
    let rt = crate::runtime()?;
    let sdk = rt.block_on(aws_config::load_defaults(
        aws_config::BehaviorVersion::latest(),
    ));
    let logs = canary::aws::AwsLogs::new(&sdk);
    let wanted = args
        .groups
        .iter()
        .filter(|g| !g.trim().is_empty())
        .map(|g| GroupPattern::parse(g))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| format!("--group: {e}"))?;
    let groups = rt
        .block_on(expand_groups(&logs, &wanted))
        .map_err(|e| format!("listing the log groups: {e}"))?;
    if groups.is_empty() {
        return Err(format!("no log group matches {}", args.groups.join(", ")));
    }
    let patterns = match &args.subscription_filter {
        Some(name) => rt
            .block_on(filter_patterns(&logs, &groups, name))
            .map_err(|e| format!("reading the subscription filters: {e}"))?,
        None => BTreeMap::new(),
    };
    let transform_filter = match (&args.include_pattern, &args.exclude_pattern) {
        (None, None) => None,
        (include, exclude) => Some(
            MessageFilter::new(include.as_deref(), exclude.as_deref())
                .map_err(|e| format!("--{}-pattern: {e}", e.which))?,
        ),
    };
    let search = match &endpoint {
        Some(ep) => Some(rt.block_on(HttpSearch::connect(ep, 1, &sdk))?),
        None => None,
    };
    let cfg = ReconcileConfig {
        groups,
        from_ms: now - since,
        to_ms: now,
        index_pattern: search.as_ref().map(|_| index),
        max_events: args.max_events,
        patterns,
        transform_filter,
        // The built-in rules, as a stack deployed with `Multiline=builtin` (the default) joins.
        transform_multiline: Some(logcore::logs::multiline::Rules::builtin()),
        stop: None,
        source: args.source,
        transform_logs: args.transform_logs.clone(),
        archive: match &args.bucket {
            Some(bucket) if args.archive_max_mb > 0 => Some(canary::reconcile::ArchivePlace {
                bucket: bucket.clone(),
                key_prefixes: parse_prefixes(&args.prefixes)
                    .map_err(|e| format!("--prefixes: {e}"))?,
                max_bytes: args.archive_max_mb << 20,
            }),
            _ => None,
        },
        processing_failed: match &args.bucket {
            Some(bucket) => Some(FailedPlace {
                bucket: bucket.clone(),
                prefix: args
                    .processing_failed_prefix
                    .parse()
                    .map_err(|e| format!("--processing-failed-prefix: {e}"))?,
            }),
            None => None,
        },
        dead_letters: match &args.bucket {
            Some(bucket) => Some(DeadLetterPlace {
                bucket: args
                    .dead_letter_bucket
                    .clone()
                    .filter(|b| !b.is_empty())
                    .unwrap_or_else(|| bucket.clone()),
                prefix: args.dead_letter_prefix.clone(),
                source_bucket: bucket.clone(),
                key_prefixes: parse_prefixes(&args.prefixes)
                    .map_err(|e| format!("--prefixes: {e}"))?,
            }),
            None => None,
        },
    };
    let objects = cfg
        .dead_letters
        .as_ref()
        .map(|_| logpipe_io::store::S3Store::from_env(&sdk));
    let bar = (!args.quiet && args.format == Format::Table).then(|| {
        crate::progress_bar(
            cfg.groups.len() as u64,
            "{bar:30} {pos}/{len} log groups counted {msg}",
        )
    });
    let ledger = rt.block_on(reconcile(
        &cfg,
        &logs,
        search.as_ref(),
        objects.as_ref(),
        |_| {
            if let Some(b) = &bar {
                b.inc(1);
            }
        },
    ));
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = ledger.judge(now, settle);
    match args.format {
        Format::Table => print!("{}", report.table()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        ),
    }
    if report.clean() {
        Ok(())
    } else {
        let t = &report.total;
        Err(format!(
            "{} missing, {} duplicated, {} not checked, {} failed",
            plural(t.missing, "event"),
            plural(t.duplicated, "event"),
            plural(t.rows_unchecked, "hour"),
            plural(report.problems.len() as u64, "count")
        ))
    }
}
