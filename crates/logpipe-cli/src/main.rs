//! `logpipe`: the command line of [`logpipe_cli`]'s commands (wiring only).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use firehose_transform::{Audit, Documents};
use logcore::synth::{self, SourceKind};
use logpipe_cli::transform::transform;
use logpipe_cli::{
    alerts, bench, bulk_sink, forward, reconcile, redrive, reindex, replay, samples, search,
    subscribe, trace, verify,
};

#[derive(Parser)]
#[command(
    name = "logpipe",
    version,
    about = "logpipe: serverless log pipeline for AWS, run locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum SourceArg {
    /// DirectPut delivery stream (subscription filter → Firehose).
    Direct,
    /// Delivery stream reading a Kinesis data stream (cross-account destination).
    Kinesis,
}

impl From<SourceArg> for SourceKind {
    fn from(s: SourceArg) -> Self {
        match s {
            SourceArg::Direct => SourceKind::DirectPut,
            SourceArg::Kinesis => SourceKind::Kinesis,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FunctionArg {
    /// functions/firehose-cwl-transform: one document per CloudWatch Logs event.
    Cwl,
    /// functions/aurora-audit-transform: MySQL audit and pgaudit lines to structured, redacted documents.
    Audit,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Firehose transform on Firehose event files and print the documents.
    ///
    /// Configuration comes from the same environment variables as the Lambda (OUTPUT_FORMAT,
    /// INCLUDE_PATTERN, EXCLUDE_PATTERN, PARTITION_KEYS, AUDIT_ENGINE, REDACT_PATTERNS, ...). Records the
    /// handler re-ingests are fed back to it as a new event, as Firehose would deliver them again.
    Transform {
        /// Firehose transformation events (JSON), e.g. events/firehose-cwl-direct-put.json.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Which transform to run.
        #[arg(long, value_enum, default_value_t = FunctionArg::Cwl)]
        function: FunctionArg,
        /// Print the raw Lambda response instead of the decoded documents.
        #[arg(long)]
        response: bool,
        /// Print only the summary.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Write the sample events of events/ (deterministic).
    SampleEvents {
        #[arg(long, default_value = "events")]
        dir: PathBuf,
        /// Only compare with what is there; exit 1 on a difference.
        #[arg(long)]
        check: bool,
    },
    /// Write a generated Firehose event of realistic CloudWatch Logs records to stdout (benchmark input that
    /// other implementations can be fed).
    GenBatch {
        /// Total compressed payload bytes (Firehose buffers at most 3 MB).
        #[arg(long, default_value_t = 3_000_000)]
        compressed_bytes: usize,
        #[arg(long, default_value_t = 100)]
        events_per_record: usize,
        #[arg(long, value_enum, default_value_t = SourceArg::Direct)]
        source: SourceArg,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Forward local log objects to a search engine's `_bulk` endpoint (or to a file of bulk bodies) with
    /// the search forwarder's code: the same framing, documents, ids, retries and dead letters.
    ///
    /// Configuration comes from the Lambda's environment variables (INDEX, BULK_MAX_BYTES, SEARCH_AUTH,
    /// ...), except the URL.
    Forward(forward::ForwardArgs),
    /// Replay a log file through the whole chain locally: subscription payloads, the Firehose transform, an
    /// S3 directory, the search forwarder (to --search-url or a file of bulk bodies) and the Slack notifier
    /// (to --slack-webhook or printed). Prints what each hop did; fails if anything is unaccounted for.
    ///
    /// Each function is configured by its Lambda environment variables (INCLUDE_PATTERN, INDEX,
    /// ALERT_LEVELS, ...).
    Replay(replay::ReplayArgs),
    /// Attach logpipe's subscription filters to existing log groups (backfill) with the log subscriber's
    /// code, or detach them (--remove); --dry-run prints the plan. AWS credentials and region from the
    /// environment; rules from --rules or SUBSCRIPTIONS.
    Subscribe(subscribe::SubscribeArgs),
    /// Keep the CloudWatch metric filters and alarms of the threshold and absence alert rules.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// Manage what logpipe installs in the search engine (templates, mappings, retention).
    #[command(subcommand)]
    Search(search::SearchCommand),
    /// Follow one event through the pipeline (CloudWatch Logs, S3 objects, search index) by event id or
    /// text, and name the last hop that saw it: the canary's lookup on demand. Exit 1 when not delivered.
    /// AWS credentials and region from the environment.
    Trace(trace::TraceArgs),
    /// Count every event of the named log groups per hour where CloudWatch Logs holds it and where the
    /// search engine indexed it; print what is missing or duplicated and the hop where the counts first
    /// fall short. Exit 1 when anything settled is missing or duplicated, or a count could not be made.
    /// AWS credentials and region from the environment.
    Reconcile(reconcile::ReconcileArgs),
    /// Check every event id CloudWatch Logs holds for one log group in a window against the search index,
    /// and list each missing id with the last hop that saw it (S3 or CloudWatch Logs): exact where
    /// reconcile counts. Exit 1 on any missing or duplicated id. AWS credentials and region from the
    /// environment.
    Verify(verify::VerifyArgs),
    /// Re-index part of the S3 archive by sending its objects to the search forwarder's queue as the S3
    /// notifications it reads: selected by time range, kind, and log group (partitioned layout), paced,
    /// resumable (a re-run with the same arguments goes on where the last stopped), into the live indices or
    /// restore indices (--restore-index); archived objects (Glacier) are reported and, with --restore,
    /// restored. AWS credentials and region from the environment.
    Reindex(reindex::command::ReindexArgs),
    /// Show what the search forwarder's dead letters are (counts by status, error type, cause, reason) and,
    /// after the cause is fixed, index their documents again with their original ids and indices: through
    /// the forwarder's queue (--queue-url) or from here (--search-url); objects whose documents are all
    /// indexed leave failed/ (moved to failed-redriven/, or --delete). --dlq moves the forwarder's
    /// dead-letter queue back to its queue. AWS credentials and region from the environment.
    Redrive(redrive::RedriveArgs),
    /// Benchmark the handlers (build with --release): throughput, peak RSS, process start to ready.
    Bench(bench::BenchArgs),
    /// (internal) A `_bulk` endpoint on 127.0.0.1 that takes everything (the forwarder benchmark's sink).
    #[command(hide = true)]
    BulkSink,
    /// (internal) Run the handler once on a file and print the peak RSS of this process, in bytes.
    #[command(hide = true)]
    RssProbe { file: PathBuf },
}

fn main() -> ExitCode {
    // The same allocator settings as the Lambda functions, so that memory figures match.
    firehose_transform::lambda::tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Transform {
            files,
            function,
            response,
            quiet,
        } => match function {
            FunctionArg::Cwl => transform::<Documents>(&files, response, quiet),
            FunctionArg::Audit => transform::<Audit>(&files, response, quiet),
        },
        Command::SampleEvents { dir, check } => samples::sample_events(&dir, check),
        Command::GenBatch {
            compressed_bytes,
            events_per_record,
            source,
            seed,
        } => {
            let ev = synth::batch(
                source.into(),
                compressed_bytes,
                events_per_record.max(1),
                seed,
            );
            serde_json::to_writer(std::io::stdout().lock(), &ev)
                .map_err(|e| format!("writing the batch: {e}"))
        }
        Command::Forward(args) => forward::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Subscribe(args) => subscribe::run(args),
        Command::Alerts(cmd) => alerts::run(cmd),
        Command::Search(cmd) => search::run(cmd),
        Command::Trace(args) => trace::run(args),
        Command::Reconcile(args) => reconcile::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Reindex(args) => reindex::command::run(args),
        Command::Redrive(args) => redrive::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BulkSink => bulk_sink::bulk_sink(),
        Command::RssProbe { file } => bench::rss_probe(&file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logpipe: {e}");
            ExitCode::FAILURE
        }
    }
}
