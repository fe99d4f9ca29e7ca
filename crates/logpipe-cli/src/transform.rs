//! `logpipe transform`: a transform's handler on Firehose transformation events from files, re-ingested
//! records run again as Firehose would, documents (or responses) on stdout, a summary per pass on stderr.

use std::io::Write;
use std::path::PathBuf;

use firehose_transform::{Config, Render, Summary};

use crate::{local, read_event, runtime};

/// Run the transform `R` on each file.
pub fn transform<R: Render + Default>(
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
    // The renderer's counters by their summary names (`json_messages` → "3 json messages").
    let counters: Vec<String> = match serde_json::to_value(s.render) {
        Ok(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(name, v)| format!("{v} {}", name.replace('_', " ")))
            .collect(),
        _ => Vec::new(),
    };
    format!(
        "{label}\n  records: {} in, {} ok, {} dropped ({} control, {} re-ingested), {} failed\n  events:  {} in, {} out, {} excluded, {} re-ingested, {} failed; {}\n  bytes:   {} compressed in, {} decompressed, {} NDJSON out, {} response",
        s.records_in, s.ok, s.dropped, s.control_messages, s.reingested_records, s.failed,
        s.events_in, s.events_out, s.events_excluded, s.events_reingested, s.events_failed, counters.join(", "),
        s.bytes_in, s.bytes_decompressed, s.bytes_out, s.response_bytes
    )
}
