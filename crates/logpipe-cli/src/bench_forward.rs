//! The forwarder's part of `logpipe bench`: `logpipe forward --stats` child processes against a
//! `logpipe bulk-sink` child process, on generated objects.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::forward::Stats;

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
    let before = crate::measure::children_cpu_seconds();
    let status = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("running gzip -dc: {e}"))?;
    if !status.success() {
        return Err(format!("gzip -dc {} failed", path.display()));
    }
    Ok(crate::measure::children_cpu_seconds() - before)
}

/// Documents as the CloudWatch Logs transform writes them: one generated 3 MB Firehose buffer, transformed.
fn document_chunk() -> Result<Vec<u8>, String> {
    let event = logcore::synth::batch(logcore::synth::SourceKind::DirectPut, 3_000_000, 100, 7);
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
            let plain = logcore::base::codec::gunzip_capped(&gz, 1 << 20).unwrap();
            assert_eq!(raw, plain.len() as u64);
            assert_eq!(plain, want, "target {target}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
