//! `logpipe replay`: a log file through the whole chain in process, with the Lambdas' own code and local
//! adapters: CloudWatch Logs subscription payloads → Firehose transform → S3 stand-in (a directory) → search
//! forwarder (a `_bulk` endpoint, or a file of the bulk bodies) → Slack notifier (a webhook, or printed).
//! It prints what each hop did and fails when anything is unaccounted for.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use firehose_transform::{Audit, Config as TransformConfig, Documents, Render};
use logcore::logs::s3event::ObjectRef;
use logcore::synth::{self, Event, SourceKind};
use logcore::transform::firehose::TransformRecord;
use logpipe_io::store::DirStore;
use s3_search_forwarder::forward::forward_object;
use s3_search_forwarder::{Config as ForwarderConfig, Search, Store};
use serde_json::{json, Value};

/// The bucket name the replay's objects are written under (the directory stands for it).
pub const BUCKET: &str = "logpipe-replay";

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The log file: text lines, JSON lines, or an Aurora audit log (with --engine). `-` reads stdin.
    file: PathBuf,
    /// The log group the events appear to come from.
    #[arg(long, default_value = "/logpipe/replay")]
    log_group: String,
    /// The log stream (default: the file's name).
    #[arg(long)]
    log_stream: Option<String>,
    /// The file is a database audit log of this engine: the audit transform handles it.
    #[arg(long, value_enum)]
    engine: Option<Engine>,
    /// The directory standing for the S3 bucket: objects under `logs/` (or `audit/`), dead letters under
    /// `failed/`, and `bulk.ndjson` when there is no --search-url. Emptied first.
    #[arg(long, default_value = ".logpipe/replay")]
    out_dir: PathBuf,
    /// Write the objects to this S3 bucket instead of --out-dir (credentials and endpoint from the
    /// environment, e.g. AWS_ENDPOINT_URL for a local stand-in); dead letters go there too.
    #[arg(long)]
    s3_bucket: Option<String>,
    /// Index into this Elasticsearch/OpenSearch (configured by the forwarder's variables, SEARCH_AUTH, INDEX…).
    #[arg(long)]
    search_url: Option<String>,
    /// Post alerts to this Slack incoming webhook instead of printing them.
    #[arg(long)]
    slack_webhook: Option<String>,
    /// Firehose's buffer towards the transform, in bytes of records (the template uses 1 MB).
    #[arg(long, default_value_t = 1_000_000)]
    buffer_bytes: usize,
    /// Decompressed bytes per S3 object (Firehose's S3 buffer; the template uses 32 MB).
    #[arg(long, default_value_t = 32_000_000)]
    object_bytes: usize,
    /// Events per subscription payload (CloudWatch Logs puts up to 10,000, and about 1 MB, in one).
    #[arg(long, default_value_t = 10_000)]
    events_per_payload: usize,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Engine {
    Mysql,
    Postgresql,
}

/// The counts of every hop.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub lines: u64,
    pub blank_lines: u64,
    pub events: u64,
    pub transform_records: u64,
    pub transform_invocations: u64,
    pub documents: u64,
    /// Documents no Firehose response could carry, written to S3 by the transform itself (part of
    /// `documents`).
    pub written_directly: u64,
    pub excluded: u64,
    pub events_failed: u64,
    pub records_failed: u64,
    pub objects: u64,
    pub indexed: u64,
    pub already_indexed: u64,
    pub dead_lettered: u64,
    pub objects_failed: u64,
    pub alerts: u64,
    pub suppressed: u64,
    pub slack_messages: u64,
    pub slack_failed: u64,
}

impl Totals {
    /// What went missing between hops, if anything.
    pub fn lost(&self) -> Vec<String> {
        let mut lost = Vec::new();
        let accounted = self.documents + self.excluded + self.events_failed;
        if accounted != self.events {
            lost.push(format!(
                "transform: {} events in, {} out + {} excluded + {} failed",
                self.events, self.documents, self.excluded, self.events_failed
            ));
        }
        if self.events_failed > 0 || self.records_failed > 0 {
            lost.push(format!(
                "transform: {} records ({} events) failed (Firehose would write them to errors/)",
                self.records_failed, self.events_failed
            ));
        }
        let forwarded = self.indexed + self.already_indexed + self.dead_lettered;
        if forwarded != self.documents || self.objects_failed > 0 {
            lost.push(format!(
                "search: {} documents, {} indexed + {} already indexed + {} dead-lettered; {} objects not fully forwarded",
                self.documents, self.indexed, self.already_indexed, self.dead_lettered, self.objects_failed
            ));
        }
        if self.slack_failed > 0 {
            lost.push(format!(
                "slack: {} messages not delivered",
                self.slack_failed
            ));
        }
        lost
    }

    pub fn table(&self) -> String {
        let rows = [
            ("hop", "in".to_string(), "out".to_string()),
            (
                "read",
                format!("{} lines", self.lines),
                format!(
                    "{} events, {} blank lines skipped",
                    self.events, self.blank_lines
                ),
            ),
            (
                "transform",
                format!(
                    "{} events, {} invocations",
                    self.events, self.transform_invocations
                ),
                format!(
                    "{} documents ({} too large for a response, written to S3 directly), {} excluded by filters, {} failed",
                    self.documents, self.written_directly, self.excluded, self.events_failed
                ),
            ),
            (
                "s3",
                format!("{} documents", self.documents),
                format!("{} objects", self.objects),
            ),
            (
                "search",
                format!("{} documents", self.documents),
                format!(
                    "{} indexed, {} already indexed, {} dead-lettered (failed/)",
                    self.indexed, self.already_indexed, self.dead_lettered
                ),
            ),
            (
                "slack",
                format!("{} documents", self.documents),
                format!(
                    "{} alerts ({} repeats suppressed), {} messages, {} undelivered",
                    self.alerts, self.suppressed, self.slack_messages, self.slack_failed
                ),
            ),
        ];
        let w = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(hop, i, o)| format!("{hop:<10} {i:<w$}  {o}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Prints Slack messages instead of posting them.
struct PrintSlack;

impl slack_notifier::Slack for PrintSlack {
    async fn post(
        &self,
        message: &Value,
    ) -> Result<slack_notifier::Reply, slack_notifier::CallError> {
        let text = message["text"].as_str().unwrap_or_default();
        println!("--- slack ---\n{text}");
        Ok(slack_notifier::Reply {
            status: 200,
            body: b"ok".to_vec(),
            retry_after: None,
        })
    }
}

pub fn run(args: ReplayArgs) -> Result<(), String> {
    let env = |k: &str| std::env::var(k).ok();
    let totals = match args.engine {
        None => replay::<Documents>(&args, TransformConfig::from_env(env)),
        Some(engine) => {
            let name = match engine {
                Engine::Mysql => "mysql",
                Engine::Postgresql => "postgresql",
            };
            replay::<Audit>(
                &args,
                TransformConfig::from_env(|k| {
                    if k == "AUDIT_ENGINE" {
                        Some(name.into())
                    } else {
                        env(k)
                    }
                }),
            )
        }
    }?;
    eprintln!("{}", totals.table());
    let lost = totals.lost();
    if lost.is_empty() {
        eprintln!(
            "nothing lost: every event is indexed, excluded on purpose, or dead-lettered with its reason under {}",
            match &args.s3_bucket {
                Some(b) => format!("s3://{b}/failed/"),
                None => args.out_dir.join("failed").display().to_string(),
            }
        );
        Ok(())
    } else {
        Err(format!("unaccounted for: {}", lost.join("; ")))
    }
}

fn replay<R: Render>(
    args: &ReplayArgs,
    tcfg: Result<TransformConfig<R>, logcore::base::env::ConfigError>,
) -> Result<Totals, String> {
    let mut tcfg = tcfg.map_err(|e| e.to_string())?;
    if args.out_dir.exists() {
        std::fs::remove_dir_all(&args.out_dir)
            .map_err(|e| format!("emptying {}: {e}", args.out_dir.display()))?;
    }
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| format!("{}: {e}", args.out_dir.display()))?;
    let fcfg = crate::forward::config_with_url(args.search_url.as_deref())?;
    let ncfg = slack_notifier::Config::from_env(|k| match k {
        // The target is given here, not read from a secret.
        "SLACK_SECRET_ARN" => None,
        "SLACK_SSM_PARAMETER" => Some("/logpipe/replay".into()),
        _ => std::env::var(k).ok(),
    })
    .map_err(|e| e.to_string())?;
    let rt = crate::runtime()?;
    let prefix = if args.engine.is_some() {
        "audit"
    } else {
        "logs"
    };
    if tcfg.oversize.is_none() {
        // As the template sets it: documents no response can carry go where the stream writes.
        let text = format!("{prefix}/!{{timestamp:yyyy/MM/dd/HH}}/");
        tcfg.oversize = Some(firehose_transform::config::Oversize {
            bucket: args.s3_bucket.clone().unwrap_or_else(|| BUCKET.to_string()),
            prefix: logcore::transform::s3prefix::S3Prefix::parse(&text)
                .map_err(|e| e.to_string())?,
        });
    }
    let input = Input::open(&args.file)?;
    let stream = args.log_stream.clone().unwrap_or_else(|| {
        args.file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "stdin".into())
    });
    let progress = (!args.quiet).then(|| input.progress_bar());
    match &args.s3_bucket {
        None => {
            let store = Arc::new(DirStore::single(BUCKET, &args.out_dir));
            let to = Target {
                store: &store,
                bucket: BUCKET,
                prefix,
                stream: &stream,
            };
            replay_to(args, &rt, &tcfg, fcfg, &ncfg, to, input, progress)
        }
        Some(bucket) => {
            let sdk = rt.block_on(aws_config::load_defaults(
                aws_config::BehaviorVersion::latest(),
            ));
            let store = Arc::new(logpipe_io::store::S3Store::from_env(&sdk));
            let to = Target {
                store: &store,
                bucket,
                prefix,
                stream: &stream,
            };
            replay_to(args, &rt, &tcfg, fcfg, &ncfg, to, input, progress)
        }
    }
}

/// Where the objects go and what they are named after.
struct Target<'a, S> {
    store: &'a Arc<S>,
    bucket: &'a str,
    prefix: &'a str,
    stream: &'a str,
}

#[allow(clippy::too_many_arguments)]
fn replay_to<R: Render, S: Store>(
    args: &ReplayArgs,
    rt: &tokio::runtime::Runtime,
    tcfg: &TransformConfig<R>,
    mut fcfg: ForwarderConfig,
    ncfg: &slack_notifier::Config,
    to: Target<'_, S>,
    input: Input,
    progress: Option<indicatif::ProgressBar>,
) -> Result<Totals, String> {
    let (prefix, stream) = (to.prefix, to.stream);
    let chain = Chain {
        tcfg,
        store: to.store,
        bucket: to.bucket,
        prefix,
        log_group: &args.log_group,
        log_stream: stream,
        buffer_bytes: args.buffer_bytes.max(1),
        object_bytes: args.object_bytes.max(1),
        payload_events: args.events_per_payload.clamp(1, 10_000),
    };
    let totals = match (&args.search_url, &args.slack_webhook) {
        (Some(_), hook) => {
            let search = Arc::new(rt.block_on(crate::forward::http_search(&fcfg))?);
            with_slack(rt, &chain, &fcfg, ncfg, &search, hook, input, progress)?
        }
        (None, hook) => {
            let path = args.out_dir.join("bulk.ndjson");
            let search = Arc::new(crate::forward::bulk_file(&mut fcfg, &path)?);
            let t = with_slack(rt, &chain, &fcfg, ncfg, &search, hook, input, progress)?;
            eprintln!("bulk bodies written to {}", path.display());
            t
        }
    };
    Ok(totals)
}

#[allow(clippy::too_many_arguments)]
fn with_slack<R: Render, S: Store, E: Search>(
    rt: &tokio::runtime::Runtime,
    chain: &Chain<'_, R, S>,
    fcfg: &ForwarderConfig,
    ncfg: &slack_notifier::Config,
    search: &Arc<E>,
    hook: &Option<String>,
    input: Input,
    progress: Option<indicatif::ProgressBar>,
) -> Result<Totals, String> {
    match hook {
        Some(url) => {
            let slack = slack_notifier::aws::HttpSlack::new(
                slack_notifier::Target::Webhook { url: url.clone() },
                ncfg.request_timeout,
            )?;
            let notifier = slack_notifier::Notifier::new(
                ncfg.clone(),
                Arc::clone(chain.store),
                Arc::new(slack),
            );
            rt.block_on(chain.run(fcfg, search, &notifier, input, progress))
        }
        None => {
            let mut ncfg = ncfg.clone();
            ncfg.min_interval = Duration::ZERO;
            let notifier =
                slack_notifier::Notifier::new(ncfg, Arc::clone(chain.store), Arc::new(PrintSlack));
            rt.block_on(chain.run(fcfg, search, &notifier, input, progress))
        }
    }
}

/// Where lines come from, and how far through it we are.
struct Input {
    reader: Box<dyn BufRead>,
    size: Option<u64>,
    /// Bytes read so far.
    read: u64,
}

impl Input {
    fn open(path: &Path) -> Result<Input, String> {
        if path.as_os_str() == "-" {
            return Ok(Input {
                reader: Box::new(BufReader::new(std::io::stdin())),
                size: None,
                read: 0,
            });
        }
        let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let size = f.metadata().ok().map(|m| m.len());
        Ok(Input {
            reader: Box::new(BufReader::with_capacity(1 << 20, f)),
            size,
            read: 0,
        })
    }

    fn progress_bar(&self) -> indicatif::ProgressBar {
        let bar = match self.size {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, {eta} left",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar
    }

    /// The next line without its line break (lossy UTF-8, as the CloudWatch agent sends it), or `None`.
    fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<Option<String>, String> {
        buf.clear();
        let n = self
            .reader
            .read_until(b'\n', buf)
            .map_err(|e| format!("reading the input: {e}"))?;
        if n == 0 {
            return Ok(None);
        }
        self.read += n as u64;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Ok(Some(String::from_utf8_lossy(buf).into_owned()))
    }
}

/// The event time of a line: a leading RFC 3339 timestamp, or a JSON line's `@timestamp`/`time`/
/// `timestamp`, else 1 ms after the previous one.
fn event_time(line: &str, previous: i64) -> i64 {
    let token = line.split_whitespace().next().unwrap_or_default();
    if let Some(t) = logcore::base::time::parse_rfc3339_ms(token.trim_matches(['[', ']'])) {
        return t;
    }
    if line.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            for k in ["@timestamp", "time", "timestamp"] {
                if let Some(t) = v[k]
                    .as_str()
                    .and_then(logcore::base::time::parse_rfc3339_ms)
                {
                    return t;
                }
            }
        }
    }
    previous + 1
}

struct Chain<'a, R: Render, S: Store> {
    tcfg: &'a TransformConfig<R>,
    store: &'a Arc<S>,
    bucket: &'a str,
    prefix: &'a str,
    log_group: &'a str,
    log_stream: &'a str,
    buffer_bytes: usize,
    object_bytes: usize,
    payload_events: usize,
}

/// CloudWatch Logs puts about 1 MB of events at most in one subscription payload.
const PAYLOAD_BYTES: usize = 1_000_000;

impl<R: Render, S: Store> Chain<'_, R, S> {
    async fn run<E: Search, K: slack_notifier::Slack>(
        &self,
        fcfg: &ForwarderConfig,
        search: &Arc<E>,
        notifier: &slack_notifier::Notifier<S, K>,
        mut input: Input,
        progress: Option<indicatif::ProgressBar>,
    ) -> Result<Totals, String> {
        let mut t = Totals::default();
        let mut buf = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        let mut event_bytes = 0usize;
        let mut records: Vec<TransformRecord> = Vec::new();
        let mut record_bytes = 0usize;
        let mut object: Vec<u8> = Vec::new();
        let mut clock = logcore::base::time::now_ms();
        loop {
            let line = input.next_line(&mut buf)?;
            if let Some(line) = &line {
                t.lines += 1;
                if line.trim().is_empty() {
                    t.blank_lines += 1;
                } else {
                    clock = event_time(line, clock);
                    event_bytes += line.len() + 26;
                    events.push(Event {
                        id: synth::event_id(clock, t.events),
                        timestamp: clock,
                        message: line.clone(),
                    });
                    t.events += 1;
                }
            }
            let end = line.is_none();
            if !events.is_empty()
                && (end || events.len() >= self.payload_events || event_bytes >= PAYLOAD_BYTES)
            {
                let payload = synth::data_payload(self.log_group, self.log_stream, &events);
                let data = synth::record_data(&payload);
                record_bytes += data.len();
                records.push(synth::record(
                    synth::record_id(t.transform_records),
                    data,
                    SourceKind::DirectPut,
                    self.log_stream,
                    t.transform_records,
                ));
                t.transform_records += 1;
                events.clear();
                event_bytes = 0;
            }
            if !records.is_empty() && (end || record_bytes >= self.buffer_bytes) {
                let ev = synth::event(SourceKind::DirectPut, std::mem::take(&mut records));
                record_bytes = 0;
                let written = self.transform(ev, &mut t, &mut object).await?;
                for (w, body) in written {
                    let size = w.bytes;
                    self.deliver(Some(w.key), body, size, fcfg, search, notifier, &mut t)
                        .await?;
                }
            }
            if !object.is_empty() && (end || object.len() >= self.object_bytes) {
                let body = std::mem::take(&mut object);
                let size = body.len() as u64;
                let gz = logcore::base::codec::gzip(&body, 6);
                self.deliver(None, gz, size, fcfg, search, notifier, &mut t)
                    .await?;
            }
            if let Some(bar) = &progress {
                bar.set_position(input.read);
            }
            if end {
                break;
            }
        }
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        Ok(t)
    }

    /// One Firehose invocation of the transform (and its re-ingested records, as Firehose delivers them
    /// again); the documents of `Ok` records go into the object being filled. Returns the objects the
    /// transform wrote itself (documents too large for a response), to be delivered.
    async fn transform(
        &self,
        ev: logcore::transform::firehose::TransformEvent,
        t: &mut Totals,
        object: &mut Vec<u8>,
    ) -> Result<Vec<(firehose_transform::Written, Vec<u8>)>, String> {
        let passes = crate::local::run_to_completion(ev, self.tcfg).await?;
        let mut written = Vec::new();
        for p in passes {
            let s = &p.outcome.summary;
            t.transform_invocations += 1;
            t.documents += s.events_out + s.events_written;
            t.written_directly += s.events_written;
            t.excluded += s.events_excluded;
            t.events_failed += s.events_failed;
            t.records_failed += s.failed;
            for f in &p.outcome.failures {
                eprintln!("logpipe: transform: ProcessingFailed: {}", f.reason);
            }
            for (w, _) in &p.written {
                eprintln!(
                    "logpipe: transform: record {}: {}; written to s3://{}/{}",
                    w.record_id, w.reason, w.bucket, w.key
                );
            }
            object.extend_from_slice(&p.documents);
            written.extend(p.written);
        }
        Ok(written)
    }

    /// Write one object (gzip, `size` bytes of NDJSON) as Firehose would, under `key` or the next name of
    /// the prefix, then give it to the forwarder and the notifier as the SNS fan-out would.
    #[allow(clippy::too_many_arguments)]
    async fn deliver<E: Search, K: slack_notifier::Slack>(
        &self,
        key: Option<String>,
        gz: Vec<u8>,
        size: u64,
        fcfg: &ForwarderConfig,
        search: &Arc<E>,
        notifier: &slack_notifier::Notifier<S, K>,
        t: &mut Totals,
    ) -> Result<(), String> {
        let now = logcore::base::time::now_ms();
        let stamp = logcore::base::time::DateTimeParts::from_millis(now).rfc3339();
        let key = key.unwrap_or_else(|| {
            format!(
                "{}/{}/{}/{}/{}/logpipe-replay-{:06}.gz",
                self.prefix,
                &stamp[0..4],
                &stamp[5..7],
                &stamp[8..10],
                &stamp[11..13],
                t.objects
            )
        });
        let bucket = self.bucket;
        self.store
            .put(bucket, &key, gz)
            .await
            .map_err(|e| format!("writing s3://{bucket}/{key}: {e}"))?;
        t.objects += 1;
        let obj = ObjectRef {
            bucket: bucket.into(),
            key: key.clone(),
            version_id: None,
            etag: None,
            size: Some(size),
            event_time: Some(stamp.clone()),
            region: None,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(86_400);
        let r = forward_object(fcfg, self.store, search, &obj, deadline).await;
        t.indexed += r.indexed;
        t.already_indexed += r.already_indexed;
        t.dead_lettered += r.dead_lettered;
        if let Some(e) = &r.error {
            t.objects_failed += 1;
            eprintln!("logpipe: search: {key}: {e}");
        }
        let event = json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventTime": stamp,
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                   "object": {"key": crate::samples::encode_key(&key), "size": size}}
        }]});
        let deadline = tokio::time::Instant::now() + Duration::from_secs(86_400);
        let (result, s) = notifier.handle(&event, deadline, now).await;
        t.alerts += s.alerts;
        t.suppressed += s.suppressed;
        t.slack_messages += s.messages_sent;
        t.slack_failed += s.messages_failed;
        if let Err(e) = result {
            eprintln!("logpipe: slack: {key}: {}", e.0);
        }
        Ok(())
    }
}

/// Replay the example logs (`examples/` of the checkout this was built from), each into its own directory
/// under `root` (`app`, `mysql`, `postgresql`), as the contract tests of the archive's tables read them.
/// Returns the three directories.
pub fn replay_examples(root: &Path) -> Result<[PathBuf; 3], String> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let dirs = [
        root.join("app"),
        root.join("mysql"),
        root.join("postgresql"),
    ];
    // The groups the engines export to (the audit transform reads the cluster from them); literals masked
    // in the MySQL trail, so that its documents carry every field.
    for (dir, (file, engine, group)) in dirs.iter().zip([
        ("app.log", None, "/ecs/shop-api"),
        (
            "aurora-mysql-audit.log",
            Some(Engine::Mysql),
            "/aws/rds/cluster/shop/audit",
        ),
        (
            "aurora-postgresql-audit.log",
            Some(Engine::Postgresql),
            "/aws/rds/cluster/shop/postgresql",
        ),
    ]) {
        let a = ReplayArgs {
            file: examples.join(file),
            log_group: group.into(),
            log_stream: None,
            engine,
            out_dir: dir.clone(),
            s3_bucket: None,
            search_url: None,
            slack_webhook: None,
            buffer_bytes: 1_000_000,
            object_bytes: 5_000_000,
            events_per_payload: 100,
            quiet: true,
        };
        let t = match engine {
            None => replay::<Documents>(&a, Ok(TransformConfig::default()))?,
            Some(e) => {
                let name = if e == Engine::Mysql {
                    "mysql"
                } else {
                    "postgresql"
                };
                let cfg = TransformConfig::<Audit>::from_env(|k| match k {
                    "AUDIT_ENGINE" => Some(name.to_string()),
                    "MASK_LITERALS" => (e == Engine::Mysql).then(|| "true".to_string()),
                    _ => None,
                });
                replay::<Audit>(&a, cfg)?
            }
        };
        if !t.lost().is_empty() {
            return Err(format!("{file}: {:?}", t.lost()));
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(file: &Path, out: &Path) -> ReplayArgs {
        ReplayArgs {
            file: file.to_path_buf(),
            log_group: "/ecs/shop-api".into(),
            log_stream: None,
            engine: None,
            out_dir: out.to_path_buf(),
            s3_bucket: None,
            search_url: None,
            slack_webhook: None,
            buffer_bytes: 20_000,
            object_bytes: 50_000,
            events_per_payload: 100,
            quiet: true,
        }
    }

    /// Lines of the largest size CloudWatch Logs accepts (1 MB), in the shapes that escape worst, among
    /// ordinary ones, through every hop: every event is indexed, nothing fails or is dead-lettered, and the
    /// documents no response can carry are written to S3 by the transform itself, in the stream's prefix.
    /// (A replayed line cannot hold a line break: that shape is left to the transform's own tests.)
    #[test]
    fn megabyte_lines_of_every_shape_are_indexed() {
        let dir = std::env::temp_dir().join(format!(
            "logpipe-replay-1mb-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("big.log");
        let shapes: Vec<String> =
            logcore::synth::worst_case_messages(logcore::logs::cwl::MAX_MESSAGE_BYTES - 20)
                .into_iter()
                .filter(|(_, m)| !m.contains('\n'))
                .map(|(shape, m)| {
                    if m.starts_with('{') {
                        m
                    } else {
                        format!("ERROR {shape}: {m}")
                    }
                })
                .collect();
        let mut text = String::new();
        for (i, m) in shapes.iter().enumerate() {
            text += &format!("INFO before {i}\n{m}\nINFO after {i}\n");
        }
        std::fs::write(&file, &text).unwrap();
        let out = dir.join("out");
        let a = ReplayArgs {
            buffer_bytes: 1_000_000,
            object_bytes: 5_000_000,
            ..args(&file, &out)
        };
        let totals = replay::<Documents>(&a, Ok(TransformConfig::default())).unwrap();
        let n = shapes.len() as u64 * 3;
        assert_eq!(totals.events, n);
        assert_eq!(totals.documents, n, "{totals:?}");
        assert_eq!(totals.indexed, n, "{totals:?}");
        assert_eq!(
            (totals.events_failed, totals.dead_lettered),
            (0, 0),
            "{totals:?}"
        );
        // The control characters and the nested JSON, each with the lines that share their payload.
        assert_eq!(totals.written_directly, 6, "{totals:?}");
        assert_eq!(totals.lost(), Vec::<String>::new());
        let bulk = std::fs::read_to_string(out.join("bulk.ndjson")).unwrap();
        for m in &shapes {
            let doc = serde_json::to_string(m).unwrap();
            assert_eq!(
                bulk.matches(doc.as_str()).count(),
                1,
                "indexed once, intact"
            );
        }
        let oversize: Vec<_> = walk(&out.join("logs"))
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("logpipe-oversize-"))
            .collect();
        assert_eq!(oversize.len(), 2, "{oversize:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A mixed file through the whole chain: every event ends as a document that is indexed (or dead-
    /// lettered), the error lines alert, and the bulk bodies hold every document once.
    #[test]
    fn a_mixed_file_goes_through_every_hop_and_nothing_is_lost() {
        let dir = std::env::temp_dir().join(format!(
            "logpipe-replay-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("app.log");
        let mut text = String::new();
        for i in 0..3000 {
            match i % 4 {
                0 => {
                    text +=
                        &format!("{{\"level\":\"info\",\"msg\":\"request {i}\",\"status\":200}}\n")
                }
                1 => text += &format!("2025-11-21T10:00:00.{:03}Z INFO plain line {i}\n", i % 1000),
                2 => text += "\n",
                _ => text += &format!("ERROR payment declined for order {i}\n"),
            }
        }
        text += "{\"broken json\n";
        std::fs::write(&file, &text).unwrap();
        let out = dir.join("out");
        let a = args(&file, &out);
        let cfg = TransformConfig::<Documents>::default();
        let totals = replay::<Documents>(&a, Ok(cfg)).unwrap();
        assert_eq!(totals.lines, 3001);
        assert_eq!(totals.blank_lines, 750);
        assert_eq!(totals.events, 2251);
        assert_eq!(totals.documents, 2251);
        assert_eq!(totals.indexed, 2251);
        assert!(totals.objects > 1, "{totals:?}");
        assert!(totals.transform_invocations > 1, "{totals:?}");
        assert_eq!(totals.lost(), Vec::<String>::new());
        // Every ERROR line is alert-worthy: 750 of them, grouped into messages, repeats suppressed.
        assert_eq!(totals.alerts, 750, "{totals:?}");
        assert!(totals.slack_messages >= 1 && totals.slack_failed == 0);
        let bulk = std::fs::read_to_string(out.join("bulk.ndjson")).unwrap();
        assert_eq!(bulk.matches("{\"create\"").count(), 2251);
        // The objects are where Firehose would write them.
        let logs: Vec<_> = walk(&out.join("logs"));
        assert_eq!(logs.len() as u64, totals.objects);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The README's quickstart inputs go through without loss (app logs alert; audit logs do not).
    #[test]
    fn the_example_files_replay_without_loss() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        for (file, engine, alerts) in [
            ("app.log", None, 5),
            ("aurora-mysql-audit.log", Some(Engine::Mysql), 0),
            ("aurora-postgresql-audit.log", Some(Engine::Postgresql), 2),
        ] {
            let out = std::env::temp_dir().join(format!(
                "logpipe-replay-ex-{}-{}",
                std::process::id(),
                fastrand::u64(..)
            ));
            let mut a = args(&examples.join(file), &out);
            a.engine = engine;
            let t = match engine {
                None => replay::<Documents>(&a, Ok(TransformConfig::default())),
                Some(_) => {
                    let engine = if file.contains("mysql") {
                        "mysql"
                    } else {
                        "postgresql"
                    };
                    let cfg = TransformConfig::<Audit>::from_env(|k| {
                        (k == "AUDIT_ENGINE").then(|| engine.to_string())
                    });
                    replay::<Audit>(&a, cfg)
                }
            }
            .unwrap();
            assert!(t.events > 10, "{file}: {t:?}");
            assert_eq!(t.indexed, t.events, "{file}: {t:?}");
            assert_eq!(t.lost(), Vec::<String>::new(), "{file}");
            assert_eq!(t.alerts, alerts, "{file}: {t:?}");
            std::fs::remove_dir_all(out).unwrap();
        }
    }

    /// With a real S3 endpoint (moto): the objects land in the bucket, and documents the forwarder cannot
    /// index (here, over a small MAX_DOC_BYTES) are dead-lettered under `failed/` in the same bucket.
    #[test]
    fn objects_and_dead_letters_go_to_an_s3_bucket() {
        let Some(url) = test_support::moto_url() else {
            return;
        };
        let rt = crate::runtime().unwrap();
        let sdk = rt.block_on(test_support::sdk_config(&url));
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        let bucket = test_support::unique("replay");
        rt.block_on(s3.create_bucket().bucket(&bucket).send())
            .unwrap();
        let dir = std::env::temp_dir().join(test_support::unique("logpipe-replay-s3"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("app.log");
        let long = "x".repeat(2000);
        let text: String = (0..500)
            .map(|i| {
                if i % 50 == 0 {
                    format!("ERROR long line {i} {long}\n")
                } else {
                    format!("INFO line {i}\n")
                }
            })
            .collect();
        std::fs::write(&file, text).unwrap();
        let a = args(&file, &dir.join("out"));
        std::fs::create_dir_all(&a.out_dir).unwrap();
        let tcfg = TransformConfig::<Documents>::default();
        let mut fcfg = ForwarderConfig::new("http://bulk-out.invalid");
        fcfg.max_doc_bytes = 1500;
        let ncfg =
            slack_notifier::Config::new(slack_notifier::config::SecretSource::Ssm("/x".into()));
        let store = Arc::new(logpipe_io::store::S3Store::new(&sdk, true));
        let to = Target {
            store: &store,
            bucket: &bucket,
            prefix: "logs",
            stream: "app.log",
        };
        let t = replay_to(
            &a,
            &rt,
            &tcfg,
            fcfg,
            &ncfg,
            to,
            Input::open(&file).unwrap(),
            None,
        )
        .unwrap();
        assert_eq!((t.events, t.documents), (500, 500), "{t:?}");
        assert_eq!((t.indexed, t.dead_lettered), (490, 10), "{t:?}");
        assert_eq!(t.lost(), Vec::<String>::new());
        let keys: Vec<String> = rt
            .block_on(s3.list_objects_v2().bucket(&bucket).send())
            .unwrap()
            .contents()
            .iter()
            .filter_map(|o| o.key().map(String::from))
            .collect();
        let objects = keys.iter().filter(|k| k.starts_with("logs/")).count() as u64;
        assert_eq!(objects, t.objects, "{keys:?}");
        assert!(
            keys.iter()
                .any(|k| k.starts_with("failed/") && k.ends_with("-unreadable.ndjson")),
            "{keys:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn losses_are_named() {
        let t = Totals {
            events: 10,
            documents: 9,
            indexed: 8,
            ..Totals::default()
        };
        let lost = t.lost();
        assert_eq!(lost.len(), 2, "{lost:?}");
        assert!(lost[0].contains("10 events in, 9 out"));
        assert!(lost[1].contains("9 documents, 8 indexed"));
    }

    #[test]
    fn event_times_come_from_the_line_or_follow_the_previous() {
        assert_eq!(
            event_time("2025-11-21T10:00:00.123Z ERROR x", 5),
            1_763_719_200_123
        );
        assert_eq!(
            event_time(r#"{"time":"2025-11-21T10:00:00.123Z","msg":"x"}"#, 5),
            1_763_719_200_123
        );
        assert_eq!(event_time("no time here", 5), 6);
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
