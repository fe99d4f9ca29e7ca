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
pub mod redrive;
pub mod reindex;
pub mod replay;
pub mod samples;
pub mod search;
pub mod subscribe;
pub mod trace;
pub mod transform;
pub mod verify;

use std::path::Path;

use logcore::base::env::Env;
use logcore::search::bulk::IndexTemplate;
use logcore::transform::firehose::TransformEvent;
use logpipe_io::Endpoint;

/// The current-thread runtime every command that calls a handler runs on.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting tokio: {e}"))
}

/// The index pattern `--index` names, else every index the forwarder's `INDEX` template makes.
pub fn index_pattern(arg: Option<&str>) -> Result<String, String> {
    if let Some(i) = arg {
        return Ok(i.to_string());
    }
    Ok(std::env::var("INDEX")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.parse::<IndexTemplate>().map(|t| t.wildcard()))
        .transpose()
        .map_err(|e| format!("INDEX: {e}"))?
        .unwrap_or_else(|| IndexTemplate::default().wildcard()))
}

/// The search engine at `--search-url`, authenticated as the forwarder is (`SEARCH_AUTH`,
/// `SEARCH_SECRET_ARN` from the environment); `None` without a URL.
pub fn search_endpoint(url: Option<&str>) -> Result<Option<Endpoint>, String> {
    let Some(url) = url else {
        return Ok(None);
    };
    let var = |k: &str| match k {
        "SEARCH_URL" => Some(url.to_string()),
        _ => std::env::var(k).ok(),
    };
    Endpoint::from_env(&Env::new(&var))
        .map(Some)
        .map_err(|e| e.to_string())
}

/// A bar of `len` steps on stderr (drawn only when stderr is a terminal), in `template`'s words.
pub fn progress_bar(len: u64, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar
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
