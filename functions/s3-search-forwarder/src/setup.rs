//! Installing what `logcore::search::index_setup` describes: detect the engine (`GET /`), read what is installed,
//! and create or replace only what is missing or outdated. `logpipe search setup` runs it (with a dry run),
//! and the forwarder at cold start, where one `GET` of the template holding the marker tells that all is
//! current.

use logcore::search::index_setup::{
    self, Hosting, Kind, Layout, Resource, SearchEngine, APP_TEMPLATE, AUDIT_TEMPLATE,
};

use logpipe_io::Reply;
pub use logpipe_io::SearchApi;

/// What is done (or, in a dry run, would be done) to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    UpToDate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: Kind,
    pub path: String,
    pub action: Action,
    /// The request was made (not a dry run, and something to do).
    pub applied: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{method} {path}: no answer: {reason}")]
    Transport {
        method: &'static str,
        path: String,
        reason: String,
    },
    #[error("{method} {path}: the engine answered {status}: {reason}")]
    Refused {
        method: &'static str,
        path: String,
        status: u16,
        reason: String,
    },
}

/// The engine's reason out of an error answer (`error.root_cause[0].reason`, `error.reason`, or the text).
fn reason(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let r = &v["error"];
    r["root_cause"][0]["reason"]
        .as_str()
        .or_else(|| r["reason"].as_str())
        .or_else(|| r.as_str())
        .map(String::from)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned())
}

/// A JSON request (or one without a body).
async fn call<A: SearchApi>(
    api: &A,
    method: &'static str,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<Reply, SetupError> {
    let headers = match body {
        Some(_) => vec![("content-type", "application/json".to_string())],
        None => Vec::new(),
    };
    call_with(api, method, path, headers, body).await
}

/// A request with these headers; no answer at all is a transport error naming the request.
async fn call_with<A: SearchApi>(
    api: &A,
    method: &'static str,
    path: &str,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
) -> Result<Reply, SetupError> {
    api.call(method, path, headers, body)
        .await
        .map_err(|e| SetupError::Transport {
            method,
            path: path.to_string(),
            reason: e.message,
        })
}

fn refused(method: &'static str, path: &str, r: &Reply) -> SetupError {
    SetupError::Refused {
        method,
        path: path.to_string(),
        status: r.status,
        reason: reason(&r.body),
    }
}

/// The engine behind the API: `GET /`, except on Serverless (which has none). On AWS its Elasticsearch
/// domains have ISM under `_opendistro`, not ILM.
pub async fn detect<A: SearchApi>(api: &A, hosting: Hosting) -> Result<SearchEngine, SetupError> {
    if hosting == Hosting::Serverless {
        return Ok(SearchEngine::serverless());
    }
    let aws_managed = hosting == Hosting::Aws;
    let r = call(api, "GET", "/", None).await?;
    if r.status != 200 {
        return Err(refused("GET", "/", &r));
    }
    SearchEngine::from_root(&r.body, aws_managed).map_err(SetupError::Unsupported)
}

/// Bring `resources` up to date, in order; with `dry_run`, only read and say what would change.
pub async fn apply<A: SearchApi>(
    api: &A,
    resources: &[Resource],
    dry_run: bool,
) -> Result<Vec<Step>, SetupError> {
    let mut steps = Vec::new();
    for r in resources {
        let got = call(api, "GET", &r.path, None).await?;
        let have = match got.status {
            200 => index_setup::installed(r.kind, &r.name, &got.body),
            404 => None,
            _ => return Err(refused("GET", &r.path, &got)),
        };
        let action = match &have {
            None => Action::Create,
            Some(h) if index_setup::is_current(r.kind, h, r) => Action::UpToDate,
            Some(_) => Action::Update,
        };
        let mut applied = false;
        if action != Action::UpToDate && !dry_run {
            // ISM replaces a policy only with the sequence number and primary term it holds.
            let path = match (&have, r.kind) {
                (Some(h), Kind::IsmPolicy) => {
                    format!(
                        "{}{}",
                        r.path,
                        index_setup::ism_update_query(h).unwrap_or_default()
                    )
                }
                _ => r.path.clone(),
            };
            let body = serde_json::to_vec(&r.body).unwrap_or_default();
            let put = call(api, "PUT", &path, Some(body)).await?;
            if !(200..300).contains(&put.status) {
                return Err(refused("PUT", &path, &put));
            }
            applied = true;
        }
        steps.push(Step {
            kind: r.kind,
            path: r.path.clone(),
            action,
            applied,
        });
    }
    Ok(steps)
}

/// Detect the engine and bring everything of `layout` up to date.
pub async fn ensure<A: SearchApi>(
    api: &A,
    layout: &Layout,
    hosting: Hosting,
    dry_run: bool,
) -> Result<(SearchEngine, Vec<Step>), SetupError> {
    let engine = detect(api, hosting).await?;
    let resources = index_setup::desired(&engine, layout).map_err(SetupError::Unsupported)?;
    let steps = apply(api, &resources, dry_run).await?;
    Ok((engine, steps))
}

/// At cold start: one `GET` of the template installed last; only when its marker is not this layout's,
/// everything is checked and brought up to date. `Ok(None)`: all was current.
pub async fn ensure_current<A: SearchApi>(
    api: &A,
    layout: &Layout,
    hosting: Hosting,
) -> Result<Option<(SearchEngine, Vec<Step>)>, SetupError> {
    let last = layout.object(if layout.app_patterns.is_empty() {
        AUDIT_TEMPLATE
    } else {
        APP_TEMPLATE
    });
    let path = format!("/_index_template/{last}");
    let got = call(api, "GET", &path, None).await?;
    if got.status == 200 {
        let marker = index_setup::installed(Kind::IndexTemplate, &last, &got.body)
            .and_then(|t| t["_meta"]["logpipe_setup"].as_str().map(String::from));
        if marker.as_deref() == Some(layout.marker().as_str()) {
            return Ok(None);
        }
    } else if got.status != 404 {
        return Err(refused("GET", &path, &got));
    }
    ensure(api, layout, hosting, false).await.map(Some)
}

/// [`ensure_current`] with its log lines: what the forwarder's cold start runs. A failure stops the cold
/// start with the engine's reason (the messages wait in the queue), never a silent degradation.
pub async fn at_cold_start<A: SearchApi>(
    api: &A,
    layout: &Layout,
    hosting: Hosting,
) -> Result<(), SetupError> {
    match ensure_current(api, layout, hosting).await {
        Ok(None) => tracing::info!(marker = %layout.marker(), "search setup current"),
        Ok(Some((engine, steps))) => tracing::info!(
            engine = %engine.describe(), marker = %layout.marker(),
            changed = steps.iter().filter(|s| s.applied).count(), "search setup installed"
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot install the search templates and retention policy");
            return Err(e);
        }
    }
    Ok(())
}

/// Import saved objects (NDJSON) into OpenSearch Dashboards or Kibana: `POST
/// {base}/api/saved_objects/_import?overwrite=true`, a multipart form with the file, and the xsrf header
/// each product requires (`osd-xsrf`, `kbn-xsrf`). Returns how many objects were imported.
pub async fn import_saved_objects<A: SearchApi>(api: &A, ndjson: &str) -> Result<u64, SetupError> {
    const PATH: &str = "/api/saved_objects/_import?overwrite=true";
    let boundary = "logpipe-saved-objects-7f3a9c";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"logpipe.ndjson\"\r\n\
         Content-Type: application/ndjson\r\n\r\n{ndjson}\r\n--{boundary}--\r\n"
    );
    let headers = vec![
        (
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        ),
        ("osd-xsrf", "true".to_string()),
        ("kbn-xsrf", "true".to_string()),
    ];
    let r = call_with(api, "POST", PATH, headers, Some(body.into_bytes())).await?;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    if r.status != 200 || v["success"] != true {
        let errors = v["errors"].to_string();
        return Err(SetupError::Refused {
            method: "POST",
            path: PATH.to_string(),
            status: r.status,
            reason: if v["errors"].is_array() {
                errors
            } else {
                reason(&r.body)
            },
        });
    }
    Ok(v["successCount"].as_u64().unwrap_or(0))
}
