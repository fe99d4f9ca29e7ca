//! `logpipe replay`: a log file through the whole chain in process, with the Lambdas' own code and local
//! adapters: CloudWatch Logs subscription payloads → Firehose transform → S3 stand-in (a directory) → search
//! forwarder (a `_bulk` endpoint, or a file of the bulk bodies) → Slack notifier (a webhook, or printed).
//! It prints what each hop did and fails when anything is unaccounted for.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use firehose_transform::{Audit, Config as TransformConfig, Documents, Render};
use logpipe_io::store::DirStore;
use s3_search_forwarder::{Config as ForwarderConfig, Search, Store};
use serde_json::Value;

mod chain;
mod input;
mod reconcile;
mod totals;

use chain::Chain;
use input::Input;
pub use totals::Totals;

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
    let mut totals = totals;
    let sdk = match args.s3_bucket.is_some() || args.search_url.is_some() {
        true => Some(crate::runtime()?.block_on(aws_config::load_defaults(
            aws_config::BehaviorVersion::latest(),
        ))),
        false => None,
    };
    let s3 = sdk.as_ref().map(logpipe_io::store::S3Store::from_env);
    reconcile_replay(&args, &mut totals, sdk.as_ref(), s3.as_ref())?;
    eprintln!("{}", totals.table());
    // Every hour of a replay has settled: all of it is judged.
    let report = totals.ledger.judge(i64::MAX, 0);
    eprintln!("{}", report.table());
    let mut lost = totals.lost();
    if !report.clean() {
        lost.push(format!(
            "reconciliation: {} events missing, {} duplicated, {} counts not made",
            report.total.missing,
            report.total.duplicated,
            report.problems.len()
        ));
    }
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

/// The indexed and dead-lettered counts of what was just replayed, into its ledger: from the bulk bodies
/// written or the search engine (`sdk` for its authentication), and from `failed/` in the directory or in
/// the bucket (`s3`).
fn reconcile_replay(
    args: &ReplayArgs,
    totals: &mut Totals,
    sdk: Option<&aws_config::SdkConfig>,
    s3: Option<&logpipe_io::store::S3Store>,
) -> Result<(), String> {
    let hours: Vec<i64> = totals.ledger.rows.keys().map(|k| k.hour_ms).collect();
    let (Some(&from), Some(&last)) = (hours.iter().min(), hours.iter().max()) else {
        return Ok(());
    };
    let rt = crate::runtime()?;
    let indexed = match (&args.search_url, sdk) {
        (Some(url), Some(sdk)) => {
            let endpoint = crate::search_endpoint(Some(url))?.ok_or("no search URL")?;
            let search = rt.block_on(logpipe_io::HttpSearch::connect(&endpoint, 1, sdk))?;
            let index = crate::index_pattern(None)?;
            rt.block_on(async {
                // What was just indexed, searchable.
                canary::aws::refresh(&search, &index).await?;
                canary::reconcile::indexed_counts(
                    &search,
                    &index,
                    std::slice::from_ref(&args.log_group),
                    from,
                    last + logcore::ledger::HOUR_MS,
                )
                .await
            })
            .map_err(|e| format!("counting what {index} holds: {e}"))?
        }
        _ => {
            let path = args.out_dir.join("bulk.ndjson");
            let bodies = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            reconcile::indexed_in_bulk(&bodies).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    let dead = match (&args.s3_bucket, s3) {
        (Some(bucket), Some(store)) => rt
            .block_on(canary::reconcile::dead_letters::count_under(
                store, bucket, "failed/",
            ))
            .map_err(|e| format!("s3://{bucket}/failed/: {e}"))?,
        _ => reconcile::dead_letters_in_dir(&args.out_dir.join("failed"))?,
    };
    reconcile::fill_transform(&mut totals.ledger, &totals.received);
    reconcile::fill(
        &mut totals.ledger,
        &args.log_group,
        Some(&indexed),
        Some(&dead),
    );
    totals
        .ledger
        .not_counted
        .push("archive: the replay's objects are not read back".into());
    Ok(())
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
mod tests;
