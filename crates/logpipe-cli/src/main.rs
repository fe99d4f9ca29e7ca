//! `logpipe`: run logpipe's Lambda handlers locally (no AWS account, no Docker), make sample and benchmark
//! data, and benchmark.

mod bench;
mod local;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use firehose_transform::{Audit, Config, Documents, Render, Summary};
use logcore::firehose::TransformEvent;
use logcore::gen::{self, SourceKind};

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
    /// Benchmark the transform (build with --release): throughput, peak RSS, process start to ready.
    Bench(bench::BenchArgs),
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
        Command::SampleEvents { dir, check } => sample_events(&dir, check),
        Command::GenBatch {
            compressed_bytes,
            events_per_record,
            source,
            seed,
        } => {
            let ev = gen::batch(
                source.into(),
                compressed_bytes,
                events_per_record.max(1),
                seed,
            );
            serde_json::to_writer(std::io::stdout().lock(), &ev)
                .map_err(|e| format!("writing the batch: {e}"))
        }
        Command::Bench(args) => bench::run(args),
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

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting tokio: {e}"))
}

pub fn read_event(path: &Path) -> Result<TransformEvent, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| {
        format!(
            "{}: not a Firehose transformation event: {e}",
            path.display()
        )
    })
}

fn transform<R: Render + Default>(
    files: &[PathBuf],
    print_response: bool,
    quiet: bool,
) -> Result<(), String> {
    let cfg = Config::<R>::from_env(|k| std::env::var(k).ok()).map_err(|e| e.to_string())?;
    let rt = runtime()?;
    let mut out = std::io::stdout().lock();
    let mut lost = false;
    for file in files {
        let event = read_event(file)?;
        let passes = rt.block_on(local::run_to_completion(event, &cfg))?;
        for (i, pass) in passes.iter().enumerate() {
            if !quiet {
                let w = if print_response {
                    writeln!(out, "{}", pass.outcome.response.as_str())
                } else {
                    out.write_all(&pass.documents)
                };
                w.map_err(|e| format!("writing output: {e}"))?;
            }
            for f in &pass.outcome.failures {
                eprintln!(
                    "logpipe: {}: ProcessingFailed: {}",
                    file.display(),
                    f.reason
                );
            }
            let label = if i == 0 {
                file.display().to_string()
            } else {
                format!("{} (re-ingested, hop {i})", file.display())
            };
            eprintln!("{}", summary_table::<R>(&label, &pass.outcome.summary));
            lost |= pass.outcome.summary.failed > 0;
        }
    }
    if lost {
        eprintln!("logpipe: some records were answered ProcessingFailed (in AWS they go to the Firehose error prefix)");
    }
    Ok(())
}

fn summary_table<R: Render>(label: &str, s: &Summary<R::Stats>) -> String {
    let counters: Vec<String> = R::counters(&s.render)
        .into_iter()
        .map(|(name, _, v)| format!("{v} {}", name.replace('_', " ")))
        .collect();
    format!(
        "{label}\n  records: {} in, {} ok, {} dropped ({} control, {} re-ingested), {} failed\n  events:  {} in, {} out, {} excluded, {} re-ingested, {} failed; {}\n  bytes:   {} compressed in, {} decompressed, {} NDJSON out, {} response",
        s.records_in, s.ok, s.dropped, s.control_messages, s.reingested_records, s.failed,
        s.events_in, s.events_out, s.events_excluded, s.events_reingested, s.events_failed, counters.join(", "),
        s.bytes_in, s.bytes_decompressed, s.bytes_out, s.response_bytes
    )
}

/// The sample events under events/, generated so that they stay real-shaped and in sync with the code.
pub fn sample_event_files() -> Vec<(&'static str, TransformEvent)> {
    use logcore::gen::{
        control_payload, data_payload, event, record, record_data, record_id, Event,
    };
    let json_events = vec![
        Event { id: gen::event_id(1_763_719_200_000, 1), timestamp: 1_763_719_200_000, message: r#"{"level":"info","msg":"request completed","http":{"method":"GET","path":"/api/v1/orders","status":200},"duration_ms":12.5,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#.into() },
        Event { id: gen::event_id(1_763_719_200_120, 2), timestamp: 1_763_719_200_120, message: r#"{"level":"error","msg":"payment declined","order_id":"o-1042","error":{"type":"CardDeclined","code":"insufficient_funds"}}"#.into() },
        Event { id: gen::event_id(1_763_719_201_003, 3), timestamp: 1_763_719_201_003, message: "10.0.3.17 - - [21/Nov/2025:10:00:01 +0000] \"GET /health HTTP/1.1\" 200 2 \"-\" \"ELB-HealthChecker/2.0\"".into() },
        Event { id: gen::event_id(1_763_719_202_450, 4), timestamp: 1_763_719_202_450, message: "ERROR Unhandled exception: java.lang.IllegalStateException: order o-1042 is \"CLOSED\"\n\tat com.example.shop.OrderService.process(OrderService.java:88)\n\tat com.example.shop.CartController.checkout(CartController.java:41)\n".into() },
    ];
    let lambda_events = vec![
        Event { id: gen::event_id(1_763_719_260_000, 5), timestamp: 1_763_719_260_000, message: "START RequestId: 8f5a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b Version: $LATEST\n".into() },
        Event { id: gen::event_id(1_763_719_260_015, 6), timestamp: 1_763_719_260_015, message: "2025-11-21T10:01:00.015Z\t8f5a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b\tINFO\tprocessing 3 messages\n".into() },
        Event { id: gen::event_id(1_763_719_260_230, 7), timestamp: 1_763_719_260_230, message: "END RequestId: 8f5a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b\n".into() },
    ];
    let app = data_payload(
        "/ecs/shop-api",
        "ecs/shop-api/5f1c0e7d9a8b4c3d2e1f0a9b8c7d6e5f",
        &json_events,
    );
    let lambda = data_payload(
        "/aws/lambda/checkout",
        "2025/11/21/[$LATEST]0123456789abcdef0123456789abcdef",
        &lambda_events,
    );
    let control = control_payload();
    let make = |source: SourceKind| {
        event(
            source,
            vec![
                record(record_id(0), record_data(&app), source, "ecs/shop-api", 0),
                record(record_id(1), record_data(&control), source, "control", 1),
                record(
                    record_id(2),
                    record_data(&lambda),
                    source,
                    "aws/lambda/checkout",
                    2,
                ),
            ],
        )
    };
    let audit = |kind: gen::AuditKind, seed: u64| {
        let events = gen::audit_events(kind, 12, 1_763_719_200_000, seed);
        let mut p = data_payload(kind.log_group(), "shop-db-instance-1", &events);
        p.subscription_filters = vec!["logpipe-audit".into()];
        event(
            SourceKind::DirectPut,
            vec![
                record(record_id(0), record_data(&p), SourceKind::DirectPut, "", 0),
                record(
                    record_id(1),
                    record_data(&control),
                    SourceKind::DirectPut,
                    "",
                    1,
                ),
            ],
        )
    };
    vec![
        ("firehose-cwl-direct-put.json", make(SourceKind::DirectPut)),
        ("firehose-cwl-kinesis.json", make(SourceKind::Kinesis)),
        ("aurora-mysql-audit.json", audit(gen::AuditKind::Mysql, 3)),
        (
            "aurora-postgresql-audit.json",
            audit(gen::AuditKind::Postgres, 3),
        ),
    ]
}

fn sample_events(dir: &Path, check: bool) -> Result<(), String> {
    let mut differ = Vec::new();
    for (name, ev) in sample_event_files() {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&ev).map_err(|e| e.to_string())? + "\n";
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                differ.push(path.display().to_string());
            }
        } else {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "sample events differ from the generator: {} (run `logpipe sample-events`)",
            differ.join(", ")
        ))
    }
}
