//! `logpipe reindex`'s command line: arguments, the AWS clients, what is printed.

use std::path::PathBuf;

use canary::scan::KeyPrefix;
use logpipe_io::store::S3Store;

use super::aws::SqsQueue;
use super::select::{parse_time, KeyLayout};
use super::{Job, Outcome, Pace};

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Kind {
    /// Application logs (the app stream: `logs/…`).
    App,
    /// Database audit logs (the audit stream: `audit/…`, always in the time layout).
    Audit,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum LayoutArg {
    /// `logs/%Y/%m/%d/%H/`: the stack's default (EnableDynamicPartitioning=false).
    Time,
    /// `logs/<log group>/<YYYY-MM-DD>/`: dynamic partitioning (EnableDynamicPartitioning=true).
    Partitioned,
}

#[derive(clap::Args)]
pub struct ReindexArgs {
    /// The archive bucket (the stack's LogBucket; the audit bucket for --kind audit when audit logs are
    /// locked in a bucket of their own).
    #[arg(long, env = "BUCKET")]
    bucket: String,
    /// The forwarder's queue (the stack's output SearchQueueUrl). Not needed with --dry-run.
    #[arg(long, env = "SEARCH_QUEUE_URL")]
    queue_url: Option<String>,
    /// Start of the range: a UTC date (2026-03-01), an RFC 3339 time with any offset, or how long ago (6h).
    #[arg(long, visible_alias = "since")]
    from: String,
    /// End of the range (excluded), as --from; default now.
    #[arg(long, visible_alias = "until")]
    to: Option<String>,
    /// Which stream's objects.
    #[arg(long, value_enum, default_value_t = Kind::App)]
    kind: Kind,
    /// How the stream lays its objects out.
    #[arg(long, value_enum, default_value_t = LayoutArg::Time)]
    layout: LayoutArg,
    /// The layout's prefix, when not the stack's: with %Y %m %d %H for the time layout (`logs/%Y/%m/%d/%H/`),
    /// the root for the partitioned one (`logs/`).
    #[arg(long)]
    prefix: Option<String>,
    /// Log groups (names or globs such as '/ecs/*'; repeat for several): the partitioned layout only, where
    /// the group is in the key.
    #[arg(long = "group", short = 'g')]
    groups: Vec<String>,
    /// Index into restore indices of this label (a-z, 0-9, '-'), named by the forwarder under its
    /// RESTORE_INDEX_PREFIX (`restore-LABEL-logs-app-2026.03.01`), leaving the live indices untouched.
    #[arg(long = "restore-index")]
    restore_label: Option<String>,
    /// Objects sent a second at most.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Send nothing while the queue holds this many messages (waiting and in flight, live ones included);
    /// 0: not checked.
    #[arg(long, default_value_t = 100)]
    max_queued: u64,
    /// Ask S3 to restore archived objects (Glacier Flexible Retrieval, Deep Archive); run again once restored
    /// to send them.
    #[arg(long)]
    restore: bool,
    /// The restore's tier: Bulk, Standard or Expedited (Deep Archive: Bulk or Standard).
    #[arg(long, default_value = "Standard")]
    restore_tier: String,
    /// Days the restored copy is kept.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=30_000))]
    restore_days: u32,
    /// Print what would be sent (count, bytes, first keys, archived objects) and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where the run keeps its place (default: logpipe-reindex-<digest of the arguments>.json here).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Start from the beginning, forgetting an earlier run's place.
    #[arg(long)]
    restart: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: ReindexArgs) -> Result<(), String> {
    let now = logcore::base::time::now_ms();
    let from_ms = parse_time(&args.from, now, "--from")?;
    let to_ms = match &args.to {
        Some(t) => parse_time(t, now, "--to")?,
        None => now,
    };
    let layout = match (args.layout, args.kind) {
        (LayoutArg::Partitioned, Kind::Audit) => {
            return Err("--layout partitioned: the audit stream writes the time layout only".into())
        }
        (LayoutArg::Partitioned, Kind::App) => KeyLayout::Partitioned {
            root: args.prefix.clone().unwrap_or_else(|| "logs/".into()),
        },
        (LayoutArg::Time, kind) => {
            let default = match kind {
                Kind::App => "logs/%Y/%m/%d/%H/",
                Kind::Audit => "audit/%Y/%m/%d/%H/",
            };
            KeyLayout::Time(
                args.prefix
                    .as_deref()
                    .unwrap_or(default)
                    .parse::<KeyPrefix>()
                    .map_err(|e| format!("--prefix: {e}"))?,
            )
        }
    };
    if let Some(l) = &args.restore_label {
        logcore::search::bulk::restore_prefix("restore-", l)
            .map_err(|e| format!("--restore-index: {e}"))?;
    }
    if !args.rate.is_finite() || args.rate <= 0.0 {
        return Err(format!(
            "--rate {}: a positive number of objects a second",
            args.rate
        ));
    }
    if !["Bulk", "Standard", "Expedited"].contains(&args.restore_tier.as_str()) {
        return Err(format!(
            "--restore-tier {:?}: Bulk, Standard or Expedited",
            args.restore_tier
        ));
    }
    let queue_url = match (&args.queue_url, args.dry_run) {
        (Some(q), _) => q.clone(),
        (None, true) => String::new(),
        (None, false) => {
            return Err(
                "--queue-url (SEARCH_QUEUE_URL): the forwarder's queue, the stack's output \
                        SearchQueueUrl"
                    .into(),
            )
        }
    };
    let arguments = format!(
        "bucket={} queue={} kind={:?} layout={:?} prefix={:?} groups={:?} from={} to={} restore-index={:?}",
        args.bucket,
        queue_url,
        args.kind,
        args.layout,
        args.prefix,
        args.groups,
        args.from,
        args.to.as_deref().unwrap_or("now"),
        args.restore_label
    );
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| super::state::path_for(std::path::Path::new("."), &arguments));
    if args.restart && !args.dry_run {
        match std::fs::remove_file(&state_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", state_path.display())),
        }
    }
    let rt = crate::runtime()?;
    let sdk = rt.block_on(aws_config::load_defaults(
        aws_config::BehaviorVersion::latest(),
    ));
    let region = sdk
        .region()
        .map_or_else(|| "us-east-1".to_string(), ToString::to_string);
    let job = Job {
        bucket: args.bucket.clone(),
        region,
        layout,
        groups: args.groups.clone(),
        from_ms,
        to_ms,
        restore_label: args.restore_label.clone(),
        pace: Pace::new(args.rate, args.max_queued),
        restore: args
            .restore
            .then(|| (args.restore_days, args.restore_tier.clone())),
        dry_run: args.dry_run,
        state_path,
        arguments,
    };
    let archive = S3Store::from_env(&sdk);
    let queue = SqsQueue::new(&sdk, &queue_url);
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        crate::progress_bar(0, "{bar:30} {bytes}/{total_bytes} {msg} ({eta} left)")
    };
    let out = rt.block_on(super::run(&job, &archive, &queue, &bar));
    bar.finish_and_clear();
    let out = out?;
    print!("{}", report(&job, &queue_url, &out));
    Ok(())
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// What the run says at its end.
pub fn report(job: &Job, queue_url: &str, out: &Outcome) -> String {
    let mut s = String::new();
    let target = match &job.restore_label {
        Some(l) => format!("into the restore indices of {l:?}"),
        None => "into the live indices".to_string(),
    };
    s.push_str(&format!(
        "selected {} objects ({}) in s3://{} under {} prefixes, {target}\n",
        out.objects,
        mb(out.bytes),
        job.bucket,
        out.listings
    ));
    if job.dry_run {
        let todo = out.objects - out.resumed_objects;
        let secs = todo as f64 / job.pace.rate;
        s.push_str(&format!(
            "dry run: would send {todo} notifications, at {} a second at most: {:.0} s of sending; the \
             forwarder then indexes at its own pace (its concurrency and the cluster bound it)\n",
            job.pace.rate, secs
        ));
        for k in &out.first_keys {
            s.push_str(&format!("  {k}\n"));
        }
    } else {
        s.push_str(&format!(
            "sent {} objects ({}) to {queue_url}\n",
            out.sent_objects,
            mb(out.sent_bytes)
        ));
        if out.resumed_objects > 0 {
            s.push_str(&format!(
                "{} objects were sent by an earlier run of these arguments (resumed after them)\n",
                out.resumed_objects
            ));
        }
        s.push_str(
            "documents keep their ids: those already indexed answer 409 and are counted as \
             DocumentsAlreadyIndexed, never duplicated; watch the forwarder's report lines for progress\n",
        );
    }
    if !out.archived.is_empty() {
        let mut by_class = std::collections::BTreeMap::<&str, (u64, u64)>::new();
        for w in &out.archived {
            let e = by_class.entry(w.class.as_str()).or_default();
            e.0 += 1;
            e.1 += w.size;
        }
        for (class, (n, bytes)) in by_class {
            s.push_str(&format!(
                "not sent: {n} objects ({}) in storage class {class}, unreadable until restored\n",
                mb(bytes)
            ));
        }
        if out.restores_requested + out.restores_in_progress > 0 {
            s.push_str(&format!(
                "restores: {} requested now, {} under way; run again with the same arguments once \
                 they are done (Standard: 3-5 hours from Glacier Flexible Retrieval, 12 from Deep \
                 Archive) to send them\n",
                out.restores_requested, out.restores_in_progress
            ));
        } else {
            s.push_str(
                "pass --restore (--restore-tier, --restore-days) to ask S3 for readable copies, then run \
                 again with the same arguments\n",
            );
        }
    }
    if out.state_kept {
        s.push_str(&format!(
            "state kept in {} for the archived objects\n",
            job.state_path.display()
        ));
    }
    s
}
