//! `logpipe`'s commands: run logpipe's Lambda handlers locally (no AWS account, no Docker), make sample and
//! benchmark data, and benchmark. `main.rs` parses the command line and calls them; the repository's
//! contract tests (`tests/contract`) use the replay of the example logs and the local Firehose runs.

pub mod alerts;
pub mod bench;
pub mod bench_forward;
pub mod bench_notify;
pub mod bulk_sink;
pub mod forward;
pub mod local;
pub mod measure;
pub mod reconcile;
pub mod replay;
pub mod samples;
pub mod search;
pub mod subscribe;
pub mod trace;
pub mod transform;

use std::path::Path;

use logcore::transform::firehose::TransformEvent;

/// The current-thread runtime every command that calls a handler runs on.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting tokio: {e}"))
}

/// A Firehose transformation event from a JSON file.
pub fn read_event(path: &Path) -> Result<TransformEvent, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| {
        format!(
            "{}: not a Firehose transformation event: {e}",
            path.display()
        )
    })
}
