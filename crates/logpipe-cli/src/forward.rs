//! `logpipe forward`: the search forwarder's code on local files (a directory standing for the bucket), to a
//! real `_bulk` endpoint or to an NDJSON file of the bulk bodies; `logpipe bulk-sink`, the fast local `_bulk`
//! endpoint of the benchmark; and the forwarder's part of `logpipe bench`.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use s3_search_forwarder::config::Auth;
use s3_search_forwarder::local::{count_actions, created_reply, DirStore, NdjsonSink};
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
            units: s.units,
            indexed: s.indexed,
            dead_lettered: s.dead_lettered,
            bulk_requests: s.bulk_requests,
            bytes_decompressed: s.bytes_decompressed,
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
        objects.push(logcore::s3event::ObjectRef {
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
            cpu_seconds: cpu_seconds(),
            wall_seconds: started.elapsed().as_secs_f64(),
            peak_rss_bytes: crate::bench::peak_rss_bytes()?,
        };
        println!(
            "{}",
            serde_json::to_string(&stats).map_err(|e| e.to_string())?
        );
    }
    eprintln!(
        "objects: {} forwarded, {} failed, {} missing\nunits:   {} read ({} blank lines skipped), {} indexed, {} already indexed, {} dead-lettered\nbulk:    {} requests, {} retries; {} bytes decompressed{}",
        summary.objects, summary.objects_failed, summary.objects_missing, summary.units, summary.blank_lines,
        summary.indexed, summary.already_indexed, summary.dead_lettered, summary.bulk_requests,
        summary.bulk_retries, summary.bytes_decompressed,
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
pub async fn http_search(cfg: &Config) -> Result<s3_search_forwarder::aws::HttpSearch, String> {
    let sdk = if matches!(cfg.endpoint.auth, Auth::None) {
        aws_config::SdkConfig::builder().build()
    } else {
        aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
    };
    s3_search_forwarder::aws::HttpSearch::new(cfg, &sdk).await
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
    objects: &[logcore::s3event::ObjectRef],
) -> (Summary, Vec<String>) {
    // A local run has no Lambda deadline; a day bounds it all the same.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(86_400);
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    for obj in objects {
        let r = forward_object(cfg, store, search, obj, deadline).await;
        if let Some(e) = &r.error {
            failures.push(format!("{}: {e}", obj.key));
        } else if r.missing {
            failures.push(format!("{}: no such file", obj.key));
        }
        summary.add(&r);
    }
    (summary, failures)
}

/// CPU seconds (user + system) this process has used, all threads.
pub fn cpu_seconds() -> f64 {
    rusage_seconds(libc::RUSAGE_SELF)
}

fn rusage_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// `logpipe bulk-sink`: a `_bulk` endpoint on 127.0.0.1 that takes every action (201) and keeps nothing.
/// It prints its URL, then serves until its standard input closes (so it ends with the process that
/// started it).
pub fn bulk_sink() -> Result<(), String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding 127.0.0.1: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("http://{addr}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    for conn in listener.incoming() {
        let Ok(sock) = conn else { continue };
        std::thread::spawn(move || {
            if let Err(e) = serve_sink(sock) {
                eprintln!("bulk-sink: {e}");
            }
        });
    }
    Ok(())
}

fn serve_sink(sock: TcpStream) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let mut w = sock.try_clone()?;
    let mut r = BufReader::with_capacity(1 << 16, sock);
    let (mut body, mut plain) = (Vec::new(), Vec::new());
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let (mut len, mut gzip) = (0usize, false);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "content-encoding" => gzip = v.trim().eq_ignore_ascii_case("gzip"),
                    _ => {}
                }
            }
        }
        body.resize(len, 0);
        r.read_exact(&mut body)?;
        let actions = if gzip {
            plain.clear();
            flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut plain)?;
            count_actions(&plain)
        } else {
            count_actions(&body)
        };
        let payload = created_reply(actions);
        // One write: a head and a body in two small writes would wait on Nagle and delayed ACKs.
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            payload.len()
        )
        .into_bytes();
        answer.extend_from_slice(&payload);
        w.write_all(&answer)?;
    }
}

/// The forwarder's benchmark: for each size, a generated gzip object of that many decompressed MB of
/// transform documents is forwarded by a `logpipe forward` child process to a `logpipe bulk-sink` child
/// process; the figures are the forwarding process's own CPU time and peak RSS, and `gzip -dc` of the same
/// object for comparison.
pub fn bench(exe: &Path, sizes_mb: &[u64], gzip: bool, runs: usize) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("logpipe-forward-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = bench_in(exe, sizes_mb, gzip, runs, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn bench_in(
    exe: &Path,
    sizes_mb: &[u64],
    gzip: bool,
    runs: usize,
    dir: &Path,
) -> Result<(), String> {
    let chunk = document_chunk()?;
    let mut sink = Command::new(exe)
        .arg("bulk-sink")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting bulk-sink: {e}"))?;
    let mut url = String::new();
    if let Some(out) = sink.stdout.take() {
        BufReader::new(out)
            .read_line(&mut url)
            .map_err(|e| format!("reading the bulk-sink URL: {e}"))?;
    }
    let result = (|| {
        let url = url.trim();
        if !url.starts_with("http://") {
            return Err(format!("bulk-sink printed {url:?}, not its URL"));
        }
        for &mb in sizes_mb {
            forward_one(exe, dir, url, &chunk, mb, gzip, runs)?;
        }
        Ok(())
    })();
    drop(sink.stdin.take());
    let _ = sink.wait();
    result
}

fn forward_one(
    exe: &Path,
    dir: &Path,
    url: &str,
    chunk: &[u8],
    mb: u64,
    gzip: bool,
    runs: usize,
) -> Result<(), String> {
    let path = dir.join(format!("bench-{mb}mb.ndjson.gz"));
    let t = Instant::now();
    let (raw, gz) = write_object(&path, chunk, mb * 1_000_000)?;
    println!(
        "search forwarder, object of {:.0} MB decompressed NDJSON ({:.1} MB gzip, generated in {:.1} s), request bodies {}, {runs} runs",
        raw as f64 / 1e6,
        gz as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        if gzip { "gzip level 1" } else { "uncompressed" }
    );
    let mbytes = raw as f64 / 1e6;
    let (mut cpu, mut gzip_cpu, mut rss) = (Vec::new(), Vec::new(), 0u64);
    for run in 1..=runs.max(1) {
        let stats = forward_child(exe, dir, url, &path, gzip)?;
        let s = &stats.summary;
        if s.objects_failed > 0 || s.indexed != s.units || s.bytes_decompressed != raw {
            return Err(format!(
                "the forwarder did not index the whole object: {s:?}"
            ));
        }
        let gz_cpu = gzip_dc_seconds(&path)?;
        println!(
            "  run {run}: {} documents in {} bulk requests, all indexed; CPU {:.2} s ({:.0} MB/s per core), wall {:.2} s, peak RSS {:.1} MB; gzip -dc CPU {:.2} s ({:.2}x)",
            s.units,
            s.bulk_requests,
            stats.cpu_seconds,
            mbytes / stats.cpu_seconds,
            stats.wall_seconds,
            stats.peak_rss_bytes as f64 / 1048576.0,
            gz_cpu,
            stats.cpu_seconds / gz_cpu.max(1e-9)
        );
        cpu.push(stats.cpu_seconds);
        gzip_cpu.push(gz_cpu);
        rss = rss.max(stats.peak_rss_bytes);
    }
    let _ = std::fs::remove_file(&path);
    let (cpu_med, cpu_min, cpu_max) = spread(&mut cpu);
    let (gz_med, _, _) = spread(&mut gzip_cpu);
    println!(
        "  median {:.0} MB/s per core (decompressed MB per CPU second; {:.0}–{:.0} over the runs), peak RSS {:.1} MB at most; gzip -dc median {:.0} MB/s, forwarder/gzip CPU time {:.2}x",
        mbytes / cpu_med,
        mbytes / cpu_max,
        mbytes / cpu_min,
        rss as f64 / 1048576.0,
        mbytes / gz_med.max(1e-9),
        cpu_med / gz_med.max(1e-9)
    );
    Ok(())
}

/// Median, least and greatest of some figures.
fn spread(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    match v {
        [] => (0.0, 0.0, 0.0),
        _ => (v[v.len() / 2], v[0], v[v.len() - 1]),
    }
}

/// `logpipe forward --stats` on one object in a child process, with the Lambda's defaults.
fn forward_child(
    exe: &Path,
    dir: &Path,
    url: &str,
    path: &Path,
    gzip: bool,
) -> Result<Stats, String> {
    let mut cmd = Command::new(exe);
    cmd.arg("forward")
        .arg("--bucket-dir")
        .arg(dir)
        .arg("--search-url")
        .arg(url)
        .arg("--stats")
        .arg(path)
        .stderr(Stdio::null());
    // The defaults, whatever the caller's environment says.
    for v in s3_search_forwarder::config::ENV_VARS {
        cmd.env_remove(v);
    }
    cmd.env("BULK_GZIP", if gzip { "true" } else { "false" });
    let out = cmd
        .output()
        .map_err(|e| format!("running logpipe forward: {e}"))?;
    if !out.status.success() {
        return Err(format!("logpipe forward failed ({})", out.status));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("logpipe forward --stats printed something else: {e}"))
}

/// CPU seconds of `gzip -dc` of the object (output discarded): the baseline.
fn gzip_dc_seconds(path: &Path) -> Result<f64, String> {
    let before = rusage_seconds(libc::RUSAGE_CHILDREN);
    let status = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("running gzip -dc: {e}"))?;
    if !status.success() {
        return Err(format!("gzip -dc {} failed", path.display()));
    }
    Ok(rusage_seconds(libc::RUSAGE_CHILDREN) - before)
}

/// Documents as the CloudWatch Logs transform writes them: one generated 3 MB Firehose buffer, transformed.
fn document_chunk() -> Result<Vec<u8>, String> {
    let event = logcore::gen::batch(logcore::gen::SourceKind::DirectPut, 3_000_000, 100, 7);
    let cfg = firehose_transform::Config::<firehose_transform::Documents> {
        response_limit: usize::MAX / 4,
        ..firehose_transform::Config::default()
    };
    let passes = crate::runtime()?.block_on(crate::local::run_to_completion(event, &cfg))?;
    let docs: Vec<u8> = passes.into_iter().flat_map(|p| p.documents).collect();
    if docs.is_empty() {
        return Err("the generated batch gave no documents".into());
    }
    Ok(docs)
}

/// Write `chunk` again and again (whole documents) until `target` bytes, gzip-compressed at the default
/// level. Returns the decompressed and compressed sizes.
fn write_object(path: &Path, chunk: &[u8], target: u64) -> Result<(u64, u64), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(err)?;
    let mut gz = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 20, file),
        flate2::Compression::default(),
    );
    let mut written = 0u64;
    while written < target {
        let left = (target - written) as usize;
        let part = if left >= chunk.len() {
            chunk
        } else {
            // Up to the end of the document the target falls in.
            let end = chunk[left - 1..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(chunk.len(), |i| left + i);
            &chunk[..end]
        };
        gz.write_all(part).map_err(err)?;
        written += part.len() as u64;
    }
    gz.finish().map_err(err)?.flush().map_err(err)?;
    let size = std::fs::metadata(path).map_err(err)?.len();
    Ok((written, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_cut_at_document_boundaries() {
        let dir = std::env::temp_dir().join(format!("logpipe-cli-obj-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("o.gz");
        let chunk = b"{\"a\":1}\n{\"b\":22}\n";
        for (target, want) in [
            (20, &b"{\"a\":1}\n{\"b\":22}\n{\"a\":1}\n"[..]),
            (25, &b"{\"a\":1}\n{\"b\":22}\n{\"a\":1}\n"[..]),
            (17, &b"{\"a\":1}\n{\"b\":22}\n"[..]),
            (1, &b"{\"a\":1}\n"[..]),
        ] {
            let (raw, _) = write_object(&path, chunk, target).unwrap();
            let gz = std::fs::read(&path).unwrap();
            let plain = logcore::codec::gunzip_capped(&gz, 1 << 20).unwrap();
            assert_eq!(raw, plain.len() as u64);
            assert_eq!(plain, want, "target {target}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_sink_answers_every_action_over_http() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            serve_sink(s).unwrap();
        });
        let mut c = TcpStream::connect(addr).unwrap();
        let body = logcore::codec::gzip(
            b"{\"create\":{}}\n{\"a\":1}\n{\"create\":{}}\n{\"b\":1}\n",
            1,
        );
        for _ in 0..2 {
            write!(
                c,
                "POST /_bulk HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .unwrap();
            c.write_all(&body).unwrap();
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if h == "\r\n" {
                    break;
                }
            }
            let mut payload = vec![0; len];
            r.read_exact(&mut payload).unwrap();
            assert_eq!(
                logcore::bulk::parse_bulk_response(&payload, 2)
                    .unwrap()
                    .len(),
                2
            );
        }
    }
}
