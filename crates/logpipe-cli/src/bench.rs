//! `logpipe bench`: throughput of the whole transform handler on a full Firehose buffer, peak RSS of a
//! process handling a maximal batch, and the function binary's time from process start to ready.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use firehose_transform::{handle, Audit, Config, Documents, Render};
use logcore::synth::{self, SourceKind};

use crate::local::NullSink;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Compressed payload bytes in the generated batch (Firehose buffers at most 3 MB).
    #[arg(long, default_value_t = 3_000_000)]
    compressed_bytes: usize,
    #[arg(long, default_value_t = 100)]
    events_per_record: usize,
    /// Percent of the generated events that are lines of stack traces written one line an event (Java,
    /// Python, Go, Node.js, .NET in turn), which the transform joins into one document each.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    trace_lines: u32,
    /// Timed runs of the handler per scenario (after one warm-up run).
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Use this Firehose event file instead of generating one.
    #[arg(long)]
    input: Option<PathBuf>,
    /// The function binary to time from start to ready (default: firehose-cwl-transform next to logpipe).
    #[arg(long)]
    bootstrap: Option<PathBuf>,
    /// Process starts to time.
    #[arg(long, default_value_t = 20)]
    starts: usize,
    /// Decompressed sizes, in MB, of the objects the search forwarder part forwards.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    forward_mb: Vec<u64>,
    /// Gzip-compress the forwarder's request bodies (`BULK_GZIP`; the Lambda's default is true).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    forward_gzip: bool,
    /// Times each object is forwarded (and `gzip -dc`'d): the figures are the median and range.
    #[arg(long, default_value_t = 5)]
    forward_runs: usize,
    /// Run only these parts (comma separated); all by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
}

/// The parts of the benchmark.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// The CloudWatch Logs transform handler, unbounded and with the 6 MB limit.
    Cwl,
    /// The audit parsers alone and the audit transform handler, both engines.
    Audit,
    /// Peak RSS of a process handling the batch.
    Rss,
    /// Start-to-ready time of the function binary.
    Start,
    /// The search forwarder: generated objects to a local `_bulk` sink; CPU time, peak RSS, `gzip -dc`.
    Forward,
    /// The canary's object scan (gzip documents searched for heartbeat ids) against decompression alone.
    Canary,
    /// The CloudWatch Logs transform on the largest events (1 MB each), in the shapes JSON escapes worst.
    Megabyte,
    /// The Slack notifier reading, deciding on and grouping subscription payloads (one and three destinations).
    Notify,
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    let want = |p: Part| args.only.is_empty() || args.only.contains(&p);
    if cfg!(debug_assertions) {
        eprintln!("logpipe bench: this is a debug build; build with `cargo build --release` for meaningful figures");
    }
    let event = match &args.input {
        Some(p) => crate::read_event(p)?,
        None => synth::batch_with_traces(
            SourceKind::DirectPut,
            args.compressed_bytes,
            args.events_per_record.max(1),
            1,
            args.trace_lines,
        ),
    };
    let tmp = std::env::temp_dir().join(format!("logpipe-bench-{}.json", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(&event).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    let rt = crate::runtime()?;

    println!(
        "batch: {} records, {} bytes of Firehose event JSON",
        event.records.len(),
        std::fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0)
    );
    if want(Part::Cwl) {
        cwl(&rt, &event, &args)?;
    }
    if want(Part::Megabyte) {
        megabyte(&rt, &args)?;
    }
    if want(Part::Audit) {
        // The audit-log transform: the parsers alone, then the whole handler.
        for kind in [synth::AuditKind::Mysql, synth::AuditKind::Postgres] {
            audit(&rt, kind, &args)?;
        }
    }

    let exe = std::env::current_exe().map_err(|e| format!("locating logpipe: {e}"))?;
    if want(Part::Rss) {
        rss(&exe, &tmp)?;
    }
    let _ = std::fs::remove_file(&tmp);
    if want(Part::Start) {
        start(&exe, &args)?;
    }
    if want(Part::Forward) {
        crate::bench_forward::bench(&exe, &args.forward_mb, args.forward_gzip, args.forward_runs)?;
    }
    if want(Part::Canary) {
        canary_scan(args.iterations.min(5))?;
    }
    if want(Part::Notify) {
        crate::bench_notify::bench(args.iterations)?;
    }
    Ok(())
}

/// The CloudWatch Logs transform on the batch: the whole handler (response unbounded, then limited),
/// then the hop peek alone.
fn cwl(
    rt: &tokio::runtime::Runtime,
    event: &logcore::transform::firehose::TransformEvent,
    args: &BenchArgs,
) -> Result<(), String> {
    let cpus = firehose_transform::config::cpus();
    let one = Config::<Documents> {
        response_limit: usize::MAX / 4,
        threads: 1,
        ..Config::default()
    };
    let all = Config::<Documents> {
        threads: cpus,
        ..one.clone()
    };
    let limited = Config::default();
    let floor = codec_floor(event, args.iterations)?;
    let all_name = format!(
        "transform on {cpus} threads, one a CPU (TRANSFORM_THREADS={cpus}; response unbounded)"
    );
    for (name, cfg) in [
        (
            "transform on one thread (response unbounded: decode, documents, response encoding)",
            &one,
        ),
        (all_name.as_str(), &all),
        (
            "transform with the 6 MB limit (the rest re-ingested to a null sink; all CPUs)",
            &limited,
        ),
    ] {
        let median = time_handler(rt, event, cfg, args.iterations, name)?;
        println!(
            "  {:.2}x the codec floor",
            median.as_secs_f64() / floor.as_secs_f64()
        );
    }
    // What the handler spends on every record before any other work: peeking at its hop count (the
    // order in which records get room in the response).
    let mut times = Vec::new();
    let mut hops = 0u64;
    for _ in 0..=args.iterations {
        let start = Instant::now();
        for r in &event.records {
            hops += u64::from(logcore::logs::cwl::peek_hops(r.data.as_bytes()));
        }
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "hop peek alone: median {:.2} ms for {} records ({:.1} µs a record; {hops} hops seen)",
        times[times.len() / 2].as_secs_f64() * 1e3,
        event.records.len(),
        times[times.len() / 2].as_secs_f64() * 1e6 / event.records.len().max(1) as f64
    );
    Ok(())
}

/// The codec floor of a batch: what any transform of it must do, with nothing else. Every record's data
/// base64-decoded and gunzipped (with the decompression cap), and the decompressed bytes base64-encoded into
/// one buffer as a response would carry them. Returns the median and prints it.
fn codec_floor(
    event: &logcore::transform::firehose::TransformEvent,
    iterations: usize,
) -> Result<Duration, String> {
    use logcore::base::codec;
    let mut out = String::new();
    let mut decompressed = 0usize;
    let median = median_time(iterations, || {
        out.clear();
        decompressed = 0;
        for r in &event.records {
            let gz = codec::decode_base64(r.data.as_bytes())
                .map_err(|e| format!("record {}: {e}", r.record_id))?;
            let json = codec::gunzip_capped(&gz, codec::DEFAULT_MAX_DECOMPRESSED)
                .map_err(|e| format!("record {}: {e}", r.record_id))?;
            codec::encode_base64_into(&json, &mut out);
            decompressed += json.len();
        }
        std::hint::black_box(out.len());
        Ok(())
    })?;
    println!(
        "codec floor (base64-decode and gunzip every record, base64-encode the {:.1} MB decompressed): median {:.1} ms, {:.0} MB/s",
        decompressed as f64 / 1e6,
        median.as_secs_f64() * 1e3,
        decompressed as f64 / 1e6 / median.as_secs_f64()
    );
    Ok(median)
}

/// The CloudWatch Logs transform on the largest events, one record per worst shape.
fn megabyte(rt: &tokio::runtime::Runtime, args: &BenchArgs) -> Result<(), String> {
    // One record per shape, in one invocation: the answer fills, records go back, and the two whose
    // documents no response can carry are written to S3 (to memory here).
    let messages = synth::worst_case_messages(logcore::logs::cwl::MAX_MESSAGE_BYTES)
        .into_iter()
        .map(|(_, m)| m);
    let event = synth::event_per_message(messages, 1_763_700_000_000);
    let cfg = Config::<Documents> {
        oversize: Some(firehose_transform::config::Oversize {
            bucket: "bench".into(),
            prefix: logcore::transform::s3prefix::S3Prefix::parse(
                "logs/!{timestamp:yyyy/MM/dd/HH}/",
            )
            .map_err(|e| e.to_string())?,
        }),
        ..Config::default()
    };
    time_handler(
        rt,
        &event,
        &cfg,
        args.iterations,
        "transform of six 1 MB events of the worst shapes (6 MB limit; what no response can carry written to S3)",
    )?;
    Ok(())
}

/// The audit-log transform of `kind`: the parser alone, then the whole handler.
fn audit(
    rt: &tokio::runtime::Runtime,
    kind: synth::AuditKind,
    args: &BenchArgs,
) -> Result<(), String> {
    let lines: Vec<String> = synth::audit_events(kind, 200_000, 1_763_700_000_000, 1)
        .into_iter()
        .map(|e| e.message)
        .collect();
    let bytes: usize = lines.iter().map(String::len).sum();
    let prefix = logcore::audit::pgaudit::LinePrefix::default();
    let median = median_time(args.iterations.min(5), || {
        let mut ok = 0usize;
        for l in &lines {
            ok += match kind {
                synth::AuditKind::Mysql => logcore::audit::mysql::parse(l).is_ok(),
                synth::AuditKind::Postgres => logcore::audit::pgaudit::parse(&prefix, l).is_ok(),
            } as usize;
        }
        std::hint::black_box(ok);
        Ok(())
    })?;
    println!(
        "audit parser alone ({kind:?}): {} lines, {:.1} MB",
        lines.len(),
        bytes as f64 / 1e6
    );
    println!(
        "  median {:.1} ms: {:.2} M lines/s, {:.0} MB/s",
        median.as_secs_f64() * 1e3,
        lines.len() as f64 / median.as_secs_f64() / 1e6,
        bytes as f64 / 1e6 / median.as_secs_f64()
    );
    let audit_event = synth::audit_batch(
        kind,
        args.compressed_bytes,
        args.events_per_record.max(1),
        1,
    );
    let cfg = Config::<Audit> {
        response_limit: usize::MAX / 4,
        ..Config::default()
    };
    time_handler(
        rt,
        &audit_event,
        &cfg,
        args.iterations,
        &format!("audit transform ({kind:?}, response unbounded: decode, parse, redact, documents, response encoding)"),
    )?;
    Ok(())
}

/// The canary reads every app object written since a heartbeat until it finds it: the rate at which it
/// searches a gzip object of documents for five heartbeat ids that are not there (the whole object is read),
/// beside decompression alone.
fn canary_scan(iterations: usize) -> Result<(), String> {
    use std::io::Read;
    let mut messages = synth::MessageGen::new(7);
    let mut text = Vec::with_capacity(70 << 20);
    let mut n = 0u64;
    while text.len() < 64 << 20 {
        n += 1;
        let doc = serde_json::json!({"@timestamp": "2026-11-23T08:00:00.000Z", "message": messages.message(),
            "event": {"id": synth::event_id(1_795_420_800_000, n)}, "log": {"group": "/ecs/shop-api", "stream": "web/1"}});
        serde_json::to_writer(&mut text, &doc).map_err(|e| e.to_string())?;
        text.push(b'\n');
    }
    // Firehose's objects are gzip; several members, as it concatenates them.
    let object: Vec<u8> = text
        .chunks(8 << 20)
        .flat_map(|c| logcore::base::codec::gzip(c, 6))
        .collect();
    let ids: Vec<Vec<u8>> = (0..5)
        .map(|i| canary::new_id(1_795_420_800_000 + i).into_bytes())
        .collect();
    let needles: Vec<&[u8]> = ids.iter().map(Vec::as_slice).collect();
    let scan = median_time(iterations, || {
        let found = canary::scan::scan(&object, &needles, u64::MAX).map_err(|e| e.to_string())?;
        if found.iter().any(|&f| f) {
            return Err("a heartbeat id was found in generated documents".into());
        }
        Ok(())
    })?;
    // Decompression into the same 64 KiB buffer the scan reads into, the text thrown away.
    let inflate = median_time(iterations, || {
        let mut d = flate2::read::MultiGzDecoder::new(object.as_slice());
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0usize;
        loop {
            match d.read(&mut buf).map_err(|e| e.to_string())? {
                0 => break,
                n => total += std::hint::black_box(n),
            }
        }
        if total != text.len() {
            return Err(format!("inflated {total} bytes of {}", text.len()));
        }
        Ok(())
    })?;
    let mb = text.len() as f64 / 1e6;
    println!(
        "canary scan: {n} documents, {mb:.1} MB ({:.1} MB gzip), 5 ids not in it",
        object.len() as f64 / 1e6
    );
    println!(
        "  scan median {:.0} ms: {:.0} MB/s of documents ({:.0} MB/s of gzip); decompression alone {:.0} ms ({:.0} MB/s): scan = {:.2}x decompression",
        scan.as_secs_f64() * 1e3,
        mb / scan.as_secs_f64(),
        object.len() as f64 / 1e6 / scan.as_secs_f64(),
        inflate.as_secs_f64() * 1e3,
        mb / inflate.as_secs_f64(),
        scan.as_secs_f64() / inflate.as_secs_f64()
    );
    Ok(())
}

/// `f` run once to warm up, then `runs` times (at least once), each timed: the median.
fn median_time(runs: usize, mut f: impl FnMut() -> Result<(), String>) -> Result<Duration, String> {
    let mut times = Vec::new();
    for i in 0..=runs.max(1) {
        let start = Instant::now();
        f()?;
        if i > 0 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn rss(exe: &Path, tmp: &Path) -> Result<(), String> {
    let probe = Command::new(exe)
        .arg("rss-probe")
        .arg(tmp)
        .output()
        .map_err(|e| format!("running rss-probe: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "rss-probe failed: {}",
            String::from_utf8_lossy(&probe.stderr)
        ));
    }
    let rss: u64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("rss-probe output: {e}"))?;
    println!("peak RSS of a process handling this batch (read, parse, transform with the 6 MB limit): {:.1} MB", rss as f64 / 1048576.0);
    Ok(())
}

fn start(exe: &Path, args: &BenchArgs) -> Result<(), String> {
    let bootstrap = args
        .bootstrap
        .clone()
        .unwrap_or_else(|| exe.with_file_name("firehose-cwl-transform"));
    if bootstrap.exists() {
        let mut times = Vec::new();
        for _ in 0..args.starts.max(1) {
            times.push(start_to_ready(&bootstrap)?);
        }
        times.sort();
        println!(
            "start to ready of {} (exec to first GET /runtime/invocation/next), {} starts: median {:.1} ms, max {:.1} ms",
            bootstrap.display(),
            times.len(),
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3
        );
    } else {
        println!("start to ready: skipped, {} not found (cargo build --release -p firehose-cwl-transform)", bootstrap.display());
    }
    Ok(())
}

/// Start the function binary against a stand-in Lambda Runtime API on 127.0.0.1 and time until it asks for
/// its first invocation, which it does once configuration is read and clients are built.
fn start_to_ready(bootstrap: &Path) -> Result<Duration, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding 127.0.0.1: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let mut line = String::new();
            let _ = BufReader::new(stream).read_line(&mut line);
            let _ = tx.send((Instant::now(), line));
        }
    });
    let start = Instant::now();
    let mut child = Command::new(bootstrap)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_SESSION_TOKEN", "token")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bootstrap.display()))?;
    let got = rx.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    match got {
        Ok((at, line)) if line.contains("/runtime/invocation/next") => Ok(at - start),
        Ok((_, line)) => Err(format!(
            "unexpected first request from the function: {line:?}"
        )),
        Err(_) => Err("the function did not ask for an invocation within 10 s".into()),
    }
}

/// Handle the event in `file` once with the real limit and print this process's peak RSS (VmHWM) in bytes.
pub fn rss_probe(file: &Path) -> Result<(), String> {
    let event = crate::read_event(file)?;
    let rt = crate::runtime()?;
    let out = rt
        .block_on(handle(
            &event,
            &Config::<Documents>::default(),
            &NullSink,
            &logpipe_io::store::MemStore::default(),
            logpipe_io::lambda::Deadline::after(Duration::from_secs(300), Duration::ZERO),
        ))
        .map_err(|e| e.to_string())?;
    drop(out);
    println!("{}", crate::measure::peak_rss_bytes()?);
    Ok(())
}

/// Time the whole handler on `event` and print the figures.
fn time_handler<R: Render>(
    rt: &tokio::runtime::Runtime,
    event: &logcore::transform::firehose::TransformEvent,
    cfg: &Config<R>,
    iterations: usize,
    name: &str,
) -> Result<Duration, String> {
    let mut times = Vec::new();
    let mut last = None;
    for i in 0..=iterations {
        let start = Instant::now();
        let out = rt
            .block_on(handle(
                event,
                cfg,
                &NullSink,
                &logpipe_io::store::MemStore::default(),
                logpipe_io::lambda::Deadline::after(
                    Duration::from_secs(300),
                    cfg.common.deadline_margin,
                ),
            ))
            .map_err(|e| e.to_string())?;
        let t = start.elapsed();
        if i > 0 {
            times.push(t);
        }
        last = Some(out.summary);
    }
    let s = last.ok_or("no iterations")?;
    times.sort();
    let median = times[times.len() / 2];
    let mbps = |t: Duration| s.bytes_decompressed as f64 / 1e6 / t.as_secs_f64();
    println!("{name}");
    println!(
        "  {} events ({} of them joined into others' documents), {:.1} MB decompressed -> {:.1} MB NDJSON, {} ok / {} re-ingested / {} written to S3 records, response {:.2} MB",
        s.events_in,
        s.events_joined,
        s.bytes_decompressed as f64 / 1e6,
        (s.bytes_out + s.bytes_written) as f64 / 1e6,
        s.ok,
        s.reingested_records,
        s.written_records,
        s.response_bytes as f64 / 1e6
    );
    println!(
        "  median {:.1} ms, best {:.1} ms over {} runs: {:.0} MB/s decompressed (median), {:.0} MB/s (best), {:.2} M events/s",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times.len(),
        mbps(median),
        mbps(times[0]),
        s.events_in as f64 / median.as_secs_f64() / 1e6
    );
    Ok(median)
}
