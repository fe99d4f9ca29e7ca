//! A stand-in for the parts of the search engines' management APIs that osmem-server does not have, on
//! 127.0.0.1, written from the engines' documentation: `GET /`, composable index templates and component
//! templates, ISM policies (OpenSearch `_plugins/_ism`, Amazon OpenSearch Service's Elasticsearch
//! `_opendistro/_ism`) and ILM policies (Elasticsearch), and the Dashboards/Kibana saved-objects import.
//!
//! As strict as the engines: bodies missing what the API requires are 400; an index template composed of a
//! component template that does not exist is 404; an ISM policy replaced without `if_seq_no` and
//! `if_primary_term` (or with stale ones) is 409; an API the engine does not have is 400 "no handler"; a
//! saved-objects import without its xsrf header is 400. Every request is kept for the tests to assert.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::BufReader;
use tokio::net::TcpListener;

use crate::http::{read_request, write_response, Request};

/// Which engine to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenSearch(&'static str),
    Elasticsearch(&'static str),
    /// Amazon OpenSearch Service running Elasticsearch (ISM under `_opendistro`, no ILM).
    AwsElasticsearch(&'static str),
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, (Value, u64)>,
    seq_no: u64,
    requests: Vec<Request>,
    /// Answer every PUT with this status and reason (a cluster refusing writes).
    refuse_puts: Option<(u16, String)>,
    /// Saved objects imported (type, id).
    saved_objects: Vec<(String, String)>,
}

pub struct EngineApi {
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EngineApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(status: u16, kind: &str, reason: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status}),
    )
}

impl EngineApi {
    pub async fn start(flavor: Flavor) -> EngineApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let state: Arc<Mutex<State>> = Arc::default();
        let st = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let st = Arc::clone(&st);
                tokio::spawn(async move {
                    let mut r = BufReader::new(sock);
                    while let Ok(Some(req)) = read_request(&mut r).await {
                        let (status, body) = {
                            let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
                            s.requests.push(req.clone());
                            answer(flavor, &mut s, &req)
                        };
                        let payload = serde_json::to_vec(&body).expect("JSON");
                        if write_response(r.get_mut(), status, "application/json", "", &payload)
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        EngineApi { url, state, task }
    }

    /// Every request so far: method, path (with its query) and body.
    pub fn requests(&self) -> Vec<(String, String, Value)> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests
            .iter()
            .map(|r| {
                let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                (r.method.clone(), r.path.clone(), body)
            })
            .collect()
    }

    /// The raw requests, headers included.
    pub fn raw_requests(&self) -> Vec<Request> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .requests
            .clone()
    }

    pub fn clear_requests(&self) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .requests
            .clear();
    }

    /// What is installed at `path` (as it was PUT).
    pub fn object(&self, path: &str) -> Option<Value> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.objects.get(path).map(|(v, _)| v.clone())
    }

    /// Saved objects imported so far: (type, id).
    pub fn saved_objects(&self) -> Vec<(String, String)> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .saved_objects
            .clone()
    }

    /// Refuse every PUT from now on, as a cluster that refuses writes does.
    pub fn refuse_puts(&self, status: u16, reason: &str) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refuse_puts = Some((status, reason.to_string()));
    }
}

fn root(flavor: Flavor) -> Value {
    let version = match flavor {
        Flavor::OpenSearch(v) => {
            json!({"distribution": "opensearch", "number": v, "build_type": "tar"})
        }
        Flavor::Elasticsearch(v) => {
            json!({"number": v, "build_flavor": "default", "build_type": "docker"})
        }
        Flavor::AwsElasticsearch(v) => {
            json!({"number": v, "build_flavor": "oss", "build_type": "tar"})
        }
    };
    json!({"name": "node-1", "cluster_name": "123456789012:logs", "version": version,
           "tagline": "You Know, for Search"})
}

/// The API a path belongs to, if the engine has it: (kind, name).
fn route(flavor: Flavor, path: &str) -> Option<(&'static str, String)> {
    let path = path.split('?').next().unwrap_or(path);
    let api = [
        ("/_index_template/", "index_template"),
        ("/_component_template/", "component_template"),
        ("/_plugins/_ism/policies/", "ism"),
        ("/_opendistro/_ism/policies/", "ism"),
        ("/_ilm/policy/", "ilm"),
    ]
    .into_iter()
    .find_map(|(p, k)| path.strip_prefix(p).map(|n| (k, n.to_string())))?;
    let has = match (api.0, flavor) {
        ("ilm", Flavor::Elasticsearch(_)) => true,
        ("ilm", _) => false,
        ("ism", Flavor::Elasticsearch(_)) => false,
        ("ism", Flavor::AwsElasticsearch(_)) => path.starts_with("/_opendistro/"),
        _ => true,
    };
    has.then_some(api)
}

fn query(path: &str, key: &str) -> Option<u64> {
    let (_, q) = path.split_once('?')?;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
}

fn answer(flavor: Flavor, s: &mut State, req: &Request) -> (u16, Value) {
    if req.method == "GET" && req.path == "/" {
        return (200, root(flavor));
    }
    if req.path.starts_with("/api/saved_objects/_import") {
        return import(s, req);
    }
    let Some((kind, name)) = route(flavor, &req.path) else {
        return error(
            400,
            "illegal_argument_exception",
            &format!(
                "no handler found for uri [{}] and method [{}]",
                req.path, req.method
            ),
        );
    };
    let key = req.path.split('?').next().unwrap_or_default().to_string();
    match req.method.as_str() {
        "GET" => match s.objects.get(&key) {
            None => error(
                404,
                "resource_not_found_exception",
                &format!("{kind} [{name}] not found"),
            ),
            Some((body, seq)) => (200, wrap(kind, &name, body, *seq)),
        },
        "PUT" => {
            if let Some((status, reason)) = &s.refuse_puts {
                return error(*status, "security_exception", reason);
            }
            if req
                .header("content-type")
                .is_none_or(|c| !c.starts_with("application/json"))
            {
                return error(
                    406,
                    "media_type",
                    "Content-Type header is missing or not application/json",
                );
            }
            let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                return error(
                    400,
                    "parse_exception",
                    "request body is required and must be JSON",
                );
            };
            if let Err(why) = validate(kind, &body, &s.objects) {
                return error(400, "x_content_parse_exception", &why);
            }
            if kind == "ism" {
                if let Some((_, seq)) = s.objects.get(&key) {
                    let given = (
                        query(&req.path, "if_seq_no"),
                        query(&req.path, "if_primary_term"),
                    );
                    if given != (Some(*seq), Some(1)) {
                        return error(409, "version_conflict_engine_exception",
                            &format!("[{name}]: version conflict, required seqNo [{seq}], primary term [1]"));
                    }
                }
            }
            s.seq_no += 1;
            let seq = s.seq_no;
            let created = s.objects.insert(key, (body, seq)).is_none();
            (
                if created && kind == "ism" { 201 } else { 200 },
                json!({"acknowledged": true}),
            )
        }
        other => error(
            405,
            "method_not_allowed",
            &format!("{other} is not allowed here"),
        ),
    }
}

/// What each API documents as required.
fn validate(kind: &str, b: &Value, objects: &BTreeMap<String, (Value, u64)>) -> Result<(), String> {
    match kind {
        "index_template" => {
            let patterns = b["index_patterns"]
                .as_array()
                .ok_or("index_patterns is required")?;
            if patterns.is_empty() || !patterns.iter().all(Value::is_string) {
                return Err("index_patterns must be a non-empty list of strings".into());
            }
            if b.get("priority").is_some_and(|p| !p.is_u64()) {
                return Err("priority must be a non-negative integer".into());
            }
            for c in b["composed_of"].as_array().into_iter().flatten() {
                let name = c.as_str().ok_or("composed_of holds names")?;
                if !objects.contains_key(&format!("/_component_template/{name}")) {
                    return Err(format!(
                        "index template specifies component templates [{name}] that do not exist"
                    ));
                }
            }
            if b.get("template").is_some_and(|t| !t.is_object()) {
                return Err("template must be an object".into());
            }
            Ok(())
        }
        "component_template" => b["template"]
            .is_object()
            .then_some(())
            .ok_or_else(|| "template is required".into()),
        "ism" => {
            let p = &b["policy"];
            let states = p["states"].as_array().ok_or("policy.states is required")?;
            let default = p["default_state"]
                .as_str()
                .ok_or("policy.default_state is required")?;
            if !states.iter().any(|s| s["name"] == default) {
                return Err(format!("default_state [{default}] is not a state"));
            }
            Ok(())
        }
        "ilm" => b["policy"]["phases"]
            .is_object()
            .then_some(())
            .ok_or_else(|| "policy.phases is required".into()),
        _ => Ok(()),
    }
}

/// As each API answers GET.
fn wrap(kind: &str, name: &str, body: &Value, seq: u64) -> Value {
    match kind {
        "index_template" => json!({"index_templates": [{"name": name, "index_template": body}]}),
        "component_template" => {
            json!({"component_templates": [{"name": name, "component_template": body}]})
        }
        "ism" => {
            json!({"_id": name, "_version": seq, "_seq_no": seq, "_primary_term": 1, "policy": body["policy"]})
        }
        _ => {
            json!({name: {"version": seq, "modified_date": "2026-12-01T00:00:00.000Z", "policy": body["policy"]}})
        }
    }
}

/// `POST /api/saved_objects/_import?overwrite=true`: a multipart form with an NDJSON file, and the
/// `osd-xsrf` (OpenSearch Dashboards) or `kbn-xsrf` (Kibana) header.
fn import(s: &mut State, req: &Request) -> (u16, Value) {
    if req.method != "POST" {
        return error(405, "method_not_allowed", "POST only");
    }
    if req.header("osd-xsrf").is_none() && req.header("kbn-xsrf").is_none() {
        return error(
            400,
            "Bad Request",
            "Request must contain a osd-xsrf header.",
        );
    }
    let Some(boundary) = req
        .header("content-type")
        .and_then(|c| c.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_string())
    else {
        return error(
            415,
            "Unsupported Media Type",
            "multipart/form-data with a boundary is required",
        );
    };
    let text = String::from_utf8_lossy(&req.body);
    let Some(part) = text
        .split(&format!("--{boundary}"))
        .find(|p| p.contains("name=\"file\""))
    else {
        return error(
            400,
            "Bad Request",
            "[request body.file]: expected value of type [object]",
        );
    };
    let Some((_, content)) = part.split_once("\r\n\r\n") else {
        return error(400, "Bad Request", "malformed part");
    };
    let mut count = 0;
    for line in content.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(o) = serde_json::from_str::<Value>(line) else {
            return error(400, "Bad Request", &format!("not an NDJSON line: {line}"));
        };
        let (Some(t), Some(id)) = (o["type"].as_str(), o["id"].as_str()) else {
            return error(
                400,
                "Bad Request",
                "every saved object has a type and an id",
            );
        };
        if !o["attributes"].is_object() {
            return error(400, "Bad Request", &format!("{t} {id} has no attributes"));
        }
        s.saved_objects.retain(|(tt, ii)| !(tt == t && ii == id));
        s.saved_objects.push((t.to_string(), id.to_string()));
        count += 1;
    }
    (200, json!({"success": true, "successCount": count}))
}
