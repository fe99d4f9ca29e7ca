//! `logpipe forward`: the search forwarder's code on local files (a directory standing for the bucket), to a
//! real `_bulk` endpoint or to an NDJSON file of the bulk bodies.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logpipe_io::store::DirStore;
use logpipe_io::Auth;
use s3_search_forwarder::local::NdjsonSink;
use s3_search_forwarder::{forward_object, Config, Search, Summary};
use serde::{Deserialize, Serialize};

/// The bucket name local files are forwarded under (it is part of the derived document ids).
pub const BUCKET: &str = "local";

#[derive(clap::Args)]
pub struct ForwardArgs {
    /// Log objects to forward (gzip, zstd or plain; NDJSON, concatenated JSON or text lines).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The directory standing for the bucket: FILES must be inside it, their paths relative to it are the
    /// keys, and dead letters are written under it (DEAD_LETTER_PREFIX, `failed/` by default).
    #[arg(long, default_value = ".")]
    bucket_dir: PathBuf,
    /// The search engine's base URL (e.g. http://127.0.0.1:9200). Without it, the bulk bodies are written
    /// to --bulk-out instead.
    #[arg(long)]
    search_url: Option<String>,
    /// Where the bulk bodies go when there is no --search-url.
    #[arg(long, default_value = "bulk.ndjson")]
    bulk_out: PathBuf,
    /// Print one JSON line of figures on stdout: the summary, CPU and wall seconds, peak RSS.
    #[arg(long)]
    stats: bool,
}

/// The figures `--stats` prints.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stats {
    pub summary: SummaryFigures,
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    pub peak_rss_bytes: u64,
}

/// The part of the summary the benchmark reads back.
#[derive(Debug, Serialize, Deserialize)]
pub struct SummaryFigures {
    pub objects: u64,
    pub objects_failed: u64,
    pub units: u64,
    pub indexed: u64,
    pub dead_lettered: u64,
    pub bulk_requests: u64,
    pub bytes_decompressed: u64,
}

impl From<&Summary> for SummaryFigures {
    fn from(s: &Summary) -> Self {
        SummaryFigures {
            objects: s.objects,
            objects_failed: s.objects_failed,
            units: s.forwarded.units,
            indexed: s.forwarded.indexed,
            dead_lettered: s.forwarded.dead_lettered,
            bulk_requests: s.forwarded.bulk_requests,
            bytes_decompressed: s.forwarded.bytes_decompressed,
        }
    }
}

pub fn run(args: ForwardArgs) -> Result<(), String> {
    let started = Instant::now();
    let store = Arc::new(DirStore::single(BUCKET, &args.bucket_dir));
    let mut cfg = config_with_url(args.search_url.as_deref())?;
    let mut objects = Vec::new();
    for f in &args.files {
        let key = store.key_of(f).ok_or_else(|| {
            format!(
                "{}: not a file inside --bucket-dir {}",
                f.display(),
                args.bucket_dir.display()
            )
        })?;
        objects.push(logcore::logs::s3event::ObjectRef {
            bucket: BUCKET.into(),
            key,
            version_id: None,
            etag: None,
            size: None,
            event_time: None,
            region: None,
        });
    }
    let rt = crate::runtime()?;
    let (summary, failures) = if args.search_url.is_some() {
        let search = Arc::new(rt.block_on(http_search(&cfg))?);
        rt.block_on(forward_all(&cfg, &store, &search, &objects))
    } else {
        let search = Arc::new(bulk_file(&mut cfg, &args.bulk_out)?);
        rt.block_on(forward_all(&cfg, &store, &search, &objects))
    };
    if args.stats {
        let stats = Stats {
            summary: SummaryFigures::from(&summary),
            cpu_seconds: crate::measure::cpu_seconds(),
            wall_seconds: started.elapsed().as_secs_f64(),
            peak_rss_bytes: crate::measure::peak_rss_bytes()?,
        };
        println!(
            "{}",
            serde_json::to_string(&stats).map_err(|e| e.to_string())?
        );
    }
    let f = &summary.forwarded;
    eprintln!(
        "objects: {} forwarded, {} failed, {} missing\nunits:   {} read ({} blank lines skipped), {} indexed, {} already indexed, {} dead-lettered\nbulk:    {} requests, {} retries; {} bytes decompressed{}",
        summary.objects, summary.objects_failed, summary.objects_missing, f.units, f.blank_lines,
        f.indexed, f.already_indexed, f.dead_lettered, f.bulk_requests,
        f.bulk_retries, f.bytes_decompressed,
        if args.search_url.is_none() { format!("\nbulk bodies written to {}", args.bulk_out.display()) } else { String::new() }
    );
    match failures.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} of {} objects not fully forwarded; first: {first}",
            failures.len(),
            summary.objects
        )),
    }
}

/// The forwarder's configuration from the Lambda's variables, but for the URL, which comes from the command
/// line (a placeholder when the bodies go to a file).
pub fn config_with_url(url: Option<&str>) -> Result<Config, String> {
    let url = url.unwrap_or("http://bulk-out.invalid").to_string();
    Config::from_env(|k| {
        if k == "SEARCH_URL" {
            Some(url.clone())
        } else {
            std::env::var(k).ok()
        }
    })
    .map_err(|e| e.to_string())
}

/// The HTTP client of the real forwarder; AWS credentials are loaded only when the auth needs them.
pub async fn http_search(cfg: &Config) -> Result<logpipe_io::HttpSearch, String> {
    let sdk = if matches!(cfg.endpoint.auth, Auth::None) {
        aws_config::SdkConfig::builder().build()
    } else {
        aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
    };
    Ok(s3_search_forwarder::aws::connect(cfg, &sdk).await?)
}

/// A file of the bulk bodies instead of a search engine. The bodies are read back by people, so they are
/// written uncompressed (`cfg.gzip` is turned off).
pub fn bulk_file(cfg: &mut Config, path: &Path) -> Result<NdjsonSink, String> {
    cfg.gzip = false;
    let out = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(NdjsonSink::new(Box::new(BufWriter::new(out))))
}

async fn forward_all<E: Search>(
    cfg: &Config,
    store: &Arc<DirStore>,
    search: &Arc<E>,
    objects: &[logcore::logs::s3event::ObjectRef],
) -> (Summary, Vec<String>) {
    // A local run has no Lambda deadline; a day bounds it all the same.
    let deadline = logpipe_io::lambda::Deadline::after(
        Duration::from_secs(86_400),
        cfg.common.deadline_margin,
    );
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    for obj in objects {
        let r = forward_object(cfg, store, search, obj, deadline).await;
        if let Some(e) = &r.error {
            failures.push(format!("{}: {e}", obj.key));
        } else if r.missing {
            failures.push(format!("{}: no such file", obj.key));
        }
        summary.add_object(&r);
    }
    (summary, failures)
}
