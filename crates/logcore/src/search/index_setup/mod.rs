//! What logpipe installs in the search engine so that its indices run themselves, without the network:
//! explicit mappings for every field its documents carry (foreign fields flattened), composable index
//! templates per index family that win over the engines' built-in `logs-*-*` template, and a retention
//! policy (ISM on OpenSearch and Amazon OpenSearch Service, ILM on Elasticsearch).
//!
//! The bodies depend on the engine ([`SearchEngine::from_root`] reads `GET /`) and on the [`Layout`] (patterns,
//! shards, replicas, refresh, retention). Each installed object carries a marker (`_meta.logpipe_setup`, or
//! the ISM policy's description) naming the schema version and a digest of the layout, so that a second
//! run finds everything current and changes nothing ([`is_current`]).

use serde_json::{json, Value};
use sha2::Digest;

pub mod views;

/// Bumped whenever the bodies below change: every installed object is then replaced.
pub const SCHEMA_VERSION: u64 = 1;
/// Names of what logpipe owns in the engine (and only these are ever changed), after [`Layout::name`]:
/// `{name}-base`, `{name}-audit-fields` (component templates), `{name}-app`, `{name}-audit` (index
/// templates), `{name}-retention` (the policy).
pub const BASE_COMPONENT: &str = "base";
pub const AUDIT_COMPONENT: &str = "audit-fields";
pub const APP_TEMPLATE: &str = "app";
pub const AUDIT_TEMPLATE: &str = "audit";
pub const RETENTION_POLICY: &str = "retention";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    OpenSearch,
    Elasticsearch,
}

/// The engine behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchEngine {
    pub distribution: Distribution,
    pub major: u32,
    pub minor: u32,
    /// Amazon OpenSearch Service (also for its Elasticsearch 7.x domains, which have ISM, not ILM).
    pub aws_managed: bool,
    /// Amazon OpenSearch Serverless: no `GET /`, no ISM (retention is a data lifecycle policy of the
    /// collection, outside this API), a subset of field types.
    pub serverless: bool,
}

/// Who runs the engine: it decides what `GET /` cannot tell (the retention API of AWS's Elasticsearch
/// domains, Serverless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosting {
    SelfManaged,
    /// An Amazon OpenSearch Service domain.
    Aws,
    /// An Amazon OpenSearch Serverless collection.
    Serverless,
}

/// Where retention is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Index State Management under this path prefix (`_plugins/_ism`, or `_opendistro/_ism`).
    Ism(&'static str),
    /// Index Lifecycle Management (`_ilm`).
    Ilm,
    /// OpenSearch Serverless: a data lifecycle policy on the collection (`aoss:CreateLifecyclePolicy`).
    Lifecycle,
}

impl SearchEngine {
    /// Read the answer of `GET /`: `version.distribution` (`opensearch`, absent on Elasticsearch) and
    /// `version.number`.
    pub fn from_root(body: &[u8], aws_managed: bool) -> Result<SearchEngine, String> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| format!("GET / did not answer JSON ({e})"))?;
        let number = v["version"]["number"]
            .as_str()
            .ok_or("GET / has no version.number: not Elasticsearch or OpenSearch")?;
        let mut parts = number.split('.').map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u32>()
        });
        let (Some(Ok(major)), minor) = (parts.next(), parts.next()) else {
            return Err(format!("GET /: version {number:?} is not a version number"));
        };
        let minor = minor.and_then(Result::ok).unwrap_or(0);
        let distribution = match v["version"]["distribution"].as_str() {
            Some("opensearch") => Distribution::OpenSearch,
            Some(other) => return Err(format!("GET /: unknown distribution {other:?}")),
            None => Distribution::Elasticsearch,
        };
        Ok(SearchEngine {
            distribution,
            major,
            minor,
            aws_managed,
            serverless: false,
        })
    }

    /// Amazon OpenSearch Serverless (which has no `GET /` to ask).
    pub fn serverless() -> SearchEngine {
        SearchEngine {
            distribution: Distribution::OpenSearch,
            major: 2,
            minor: 0,
            aws_managed: true,
            serverless: true,
        }
    }

    fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// What the engine is, for people.
    pub fn describe(&self) -> String {
        let name = match self.distribution {
            Distribution::OpenSearch => "OpenSearch",
            Distribution::Elasticsearch => "Elasticsearch",
        };
        if self.serverless {
            return "Amazon OpenSearch Serverless".into();
        }
        let aws = if self.aws_managed {
            " (Amazon OpenSearch Service)"
        } else {
            ""
        };
        format!("{name} {}.{}{aws}", self.major, self.minor)
    }

    /// Composable index templates and component templates: Elasticsearch 7.8 and later, every OpenSearch.
    pub fn supported(&self) -> Result<(), String> {
        match self.distribution {
            Distribution::Elasticsearch if !self.at_least(7, 8) => Err(format!(
                "{} has no composable index templates (Elasticsearch 7.8 or later is needed)",
                self.describe()
            )),
            _ => Ok(()),
        }
    }

    /// The mapping of `json`, the foreign fields of wrapped and transformed messages: one field whatever
    /// their shape, so no application can add fields to the mapping or make another one's documents a
    /// mapping conflict. `flat_object` (OpenSearch 2.7+), `flattened` (Elasticsearch 7.3+); older engines
    /// keep `json` in `_source` only (not searchable by field, still in `message`). `flattened` indexes every
    /// leaf as a keyword, and Lucene refuses a term over 32,766 bytes (the whole document with it): leaves
    /// over 8,191 characters (32,766 bytes of 4-byte UTF-8) stay in `_source` only, as the Elasticsearch
    /// documentation advises, so that a 1 MB JSON message is indexed, not refused. `flat_object` takes
    /// values up to 2^24 - 1 characters (its documentation), past the largest message.
    pub fn foreign_fields(&self) -> Value {
        match self.distribution {
            Distribution::OpenSearch if self.at_least(2, 7) => json!({"type": "flat_object"}),
            Distribution::Elasticsearch if self.at_least(7, 3) => {
                json!({"type": "flattened", "ignore_above": 8191})
            }
            _ => json!({"type": "object", "enabled": false}),
        }
    }

    pub fn retention(&self) -> Retention {
        if self.serverless {
            return Retention::Lifecycle;
        }
        match self.distribution {
            Distribution::OpenSearch => Retention::Ism("_plugins/_ism"),
            Distribution::Elasticsearch if self.aws_managed => Retention::Ism("_opendistro/_ism"),
            Distribution::Elasticsearch => Retention::Ilm,
        }
    }
}

/// How logpipe's indices are laid out (from the forwarder's settings).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    /// Prefix of the installed objects' names: one per stack (`logpipe-<env>`), so that stacks sharing a
    /// cluster never replace each other's.
    pub name: String,
    /// Index patterns of application documents and of audit documents.
    pub app_patterns: Vec<String>,
    pub audit_patterns: Vec<String>,
    pub shards: u32,
    pub replicas: u32,
    pub refresh_interval: String,
    /// Indices are deleted this many days after they were created.
    pub retention_days: u32,
    /// Log groups with indices of their own: their index patterns by retention in days.
    pub separate: Vec<(u32, Vec<String>)>,
    /// The forwarder's restore prefix (`RESTORE_INDEX_PREFIX`, `restore-`): every pattern above also
    /// installed under it (`restore-*-logs-app-*`), so that the indices `logpipe reindex --restore-index`
    /// fills get the same mapping and retention (counted from their creation). The views (dashboards)
    /// stay on the live indices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_prefix: Option<String>,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            name: "logpipe".into(),
            app_patterns: vec!["logs-app-*".into()],
            audit_patterns: vec!["logs-audit-*".into()],
            shards: 1,
            replicas: 1,
            refresh_interval: "10s".into(),
            retention_days: 30,
            separate: Vec::new(),
            restore_prefix: None,
        }
    }
}

impl Layout {
    /// The name of one of logpipe's objects (`BASE_COMPONENT`, `APP_TEMPLATE`, …) in this layout.
    pub fn object(&self, what: &str) -> String {
        format!("{}-{what}", self.name)
    }

    /// `patterns`, and the same under the restore prefix when there is one.
    pub fn with_restored(&self, patterns: &[String]) -> Vec<String> {
        let restored = self
            .restore_prefix
            .iter()
            .flat_map(|r| patterns.iter().map(move |p| format!("{r}*-{p}")));
        patterns.iter().cloned().chain(restored).collect()
    }

    /// `v{SCHEMA_VERSION}-{digest}`: what is installed for this layout. The same layout gives the same
    /// marker whatever the engine, so one `GET` of a template tells a cold start that all is current.
    pub fn marker(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let digest = sha2::Sha256::digest(&canonical);
        format!(
            "v{SCHEMA_VERSION}-{}",
            crate::base::codec::hex(&digest[..6])
        )
    }
}

/// Kinds of objects installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ComponentTemplate,
    IndexTemplate,
    IsmPolicy,
    IlmPolicy,
}

/// One object to install: `PUT {path}` with `body`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub kind: Kind,
    pub name: String,
    pub path: String,
    pub body: Value,
}

fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": 1024})
}

fn searchable_text(keep: u32) -> Value {
    json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": keep}}})
}

/// The fields of every document (docs/design.md's output document and the forwarder's wrapped documents).
fn base_properties(engine: &SearchEngine) -> Value {
    json!({
        "@timestamp": {"type": "date"},
        "message": searchable_text(1024),
        "event": {"properties": {
            "id": keyword(),
            "outcome": keyword(),
            "joined": {"properties": {
                "count": {"type": "long"},
                "ids": keyword(),
                "continuation": keyword()
            }}
        }},
        "log": {"properties": {
            "group": keyword(),
            "stream": keyword(),
            "level": keyword(),
            "file": {"properties": {"path": keyword()}},
            "offset": {"type": "long"}
        }},
        "cloud": {"properties": {
            "account": {"properties": {"id": keyword()}},
            "region": keyword()
        }},
        "subscription_filters": keyword(),
        "error": {"properties": {"message": {"type": "text"}}},
        "logpipe": {"properties": {"json_truncated": {"type": "boolean"}}},
        "json": engine.foreign_fields()
    })
}

/// The fields audit documents add (`db.*`, `client.*`, `process.*`, `audit.*`).
fn audit_properties() -> Value {
    json!({
        "db": {"properties": {
            "engine": keyword(), "instance": keyword(), "server": keyword(), "user": keyword(),
            "name": keyword(), "connection_id": keyword(), "query_id": keyword(),
            "statement": searchable_text(2048), "object": keyword(), "object_type": keyword(),
            "return_code": {"type": "long"}, "statement_id": keyword(), "substatement_id": keyword(),
            "parameter": {"type": "text"}
        }},
        "client": {"properties": {"address": keyword(), "port": {"type": "long"}}},
        "process": {"properties": {"pid": {"type": "long"}}},
        "audit": {"properties": {
            "operation": keyword(), "extra_fields": keyword(), "redacted": {"type": "boolean"},
            "masked": {"type": "boolean"}, "type": keyword(), "class": keyword(), "command": keyword()
        }}
    })
}

fn meta(layout: &Layout) -> Value {
    json!({"managed_by": "logpipe", "logpipe_setup": layout.marker()})
}

/// Everything to install, in order (components before the templates composed of them).
pub fn desired(engine: &SearchEngine, layout: &Layout) -> Result<Vec<Resource>, String> {
    engine.supported()?;
    if layout.app_patterns.is_empty() && layout.audit_patterns.is_empty() {
        return Err("no index pattern to install templates for".into());
    }
    let retention = engine.retention();
    let mut settings = json!({
        "number_of_shards": layout.shards,
        "number_of_replicas": layout.replicas,
        "refresh_interval": layout.refresh_interval,
    });
    let policy_name = layout.object(RETENTION_POLICY);
    if retention == Retention::Ilm {
        settings["lifecycle"] = json!({ "name": policy_name });
    }
    // Components first, the retention policy, and the template that holds the cold start's marker (app)
    // last: a run that stops half-way leaves no marker saying all is installed.
    let mut out = vec![
        component(layout, BASE_COMPONENT, base_properties(engine)),
        component(layout, AUDIT_COMPONENT, audit_properties()),
    ];
    let family_patterns: Vec<String> = layout.with_restored(
        &layout
            .app_patterns
            .iter()
            .chain(&layout.audit_patterns)
            .cloned()
            .collect::<Vec<_>>(),
    );
    let policy = |name: String, days: u32, patterns: &[String], priority: u32| {
        retention_policy(engine, layout, name, days, patterns, priority)
    };
    out.extend(policy(
        policy_name,
        layout.retention_days,
        &family_patterns,
        100,
    ));
    // Separated groups: a policy and a template per retention (ILM names its policy in the template),
    // above the families' (their patterns do not overlap, the priorities say so anyway).
    for (days, patterns) in &layout.separate {
        let patterns = &layout.with_restored(patterns);
        let name = layout.object(&format!("{RETENTION_POLICY}-{days}d"));
        out.extend(policy(name.clone(), *days, patterns, 200));
        let mut group_settings = settings.clone();
        if retention == Retention::Ilm {
            group_settings["lifecycle"] = json!({ "name": name });
        }
        out.push(template(
            layout,
            &format!("group-{days}d"),
            patterns,
            502,
            &[BASE_COMPONENT, AUDIT_COMPONENT],
            &group_settings,
        ));
    }
    if !layout.audit_patterns.is_empty() {
        out.push(template(
            layout,
            AUDIT_TEMPLATE,
            &layout.with_restored(&layout.audit_patterns),
            501,
            &[BASE_COMPONENT, AUDIT_COMPONENT],
            &settings,
        ));
    }
    if !layout.app_patterns.is_empty() {
        out.push(template(
            layout,
            APP_TEMPLATE,
            &layout.with_restored(&layout.app_patterns),
            500,
            &[BASE_COMPONENT],
            &settings,
        ));
    }
    Ok(out)
}

/// A component template of the mapping `properties`.
fn component(layout: &Layout, what: &str, properties: Value) -> Resource {
    Resource {
        kind: Kind::ComponentTemplate,
        path: format!("/_component_template/{}", layout.object(what)),
        name: layout.object(what),
        body: json!({
            "version": SCHEMA_VERSION,
            "_meta": meta(layout),
            // Fields no mapping names are kept in _source, not indexed: the mapping cannot grow.
            "template": {"mappings": {"dynamic": false, "properties": properties}}
        }),
    }
}

/// An index template for `patterns`, composed of `parts`, with the index `settings`.
fn template(
    layout: &Layout,
    what: &str,
    patterns: &[String],
    priority: u32,
    parts: &[&str],
    settings: &Value,
) -> Resource {
    Resource {
        kind: Kind::IndexTemplate,
        path: format!("/_index_template/{}", layout.object(what)),
        name: layout.object(what),
        body: json!({
            "index_patterns": patterns,
            // Above Elasticsearch's built-in `logs` template (100, which would make `logs-*-*` data
            // streams); audit above app, so overlapping patterns never tie.
            "priority": priority,
            "composed_of": parts.iter().map(|p| layout.object(p)).collect::<Vec<_>>(),
            "version": SCHEMA_VERSION,
            "_meta": meta(layout),
            "template": {"settings": {"index": settings}}
        }),
    }
}

/// The policy deleting indices `days` old, as the engine keeps retention (none where it is set on the
/// collection, not through this API: the README shows how).
fn retention_policy(
    engine: &SearchEngine,
    layout: &Layout,
    name: String,
    days: u32,
    patterns: &[String],
    priority: u32,
) -> Option<Resource> {
    let age = format!("{days}d");
    match engine.retention() {
        Retention::Lifecycle => None,
        Retention::Ism(prefix) => Some(Resource {
            kind: Kind::IsmPolicy,
            path: format!("/{prefix}/policies/{name}"),
            name,
            body: json!({"policy": {
                "description": format!("logpipe: delete indices {age} old ({})", layout.marker()),
                "default_state": "hot",
                "states": [
                    {"name": "hot", "actions": [],
                     "transitions": [{"state_name": "delete", "conditions": {"min_index_age": age}}]},
                    {"name": "delete", "actions": [{"delete": {}}], "transitions": []}
                ],
                // New indices matching these patterns are managed from their creation on.
                "ism_template": [{"index_patterns": patterns, "priority": priority}]
            }}),
        }),
        Retention::Ilm => {
            let mut policy = json!({"phases": {
                "hot": {"min_age": "0ms", "actions": {}},
                "delete": {"min_age": age, "actions": {"delete": {}}}
            }});
            // `_meta` on ILM policies: Elasticsearch 7.14 and later.
            if engine.at_least(7, 14) {
                policy["_meta"] = meta(layout);
            }
            Some(Resource {
                kind: Kind::IlmPolicy,
                path: format!("/_ilm/policy/{name}"),
                name,
                body: json!({ "policy": policy }),
            })
        }
    }
}

/// The installed object out of a `GET {path}` answer (each API wraps it differently), if it is there.
pub fn installed(kind: Kind, name: &str, body: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    match kind {
        Kind::IndexTemplate | Kind::ComponentTemplate => {
            let (list, field) = if kind == Kind::IndexTemplate {
                ("index_templates", "index_template")
            } else {
                ("component_templates", "component_template")
            };
            v[list]
                .as_array()?
                .iter()
                .find(|t| t["name"] == name)
                .map(|t| t[field].clone())
        }
        Kind::IsmPolicy => v.get("policy").map(|_| v.clone()),
        Kind::IlmPolicy => v.get(name).cloned(),
    }
}

/// Whether an installed object (from [`installed`]) is what `want` would install: same marker.
pub fn is_current(kind: Kind, have: &Value, want: &Resource) -> bool {
    match kind {
        Kind::IndexTemplate | Kind::ComponentTemplate => {
            have["_meta"]["logpipe_setup"] == want.body["_meta"]["logpipe_setup"]
        }
        Kind::IsmPolicy => have["policy"]["description"] == want.body["policy"]["description"],
        // Without `_meta` (before 7.14), the retention age is what matters.
        Kind::IlmPolicy => match want.body["policy"].get("_meta") {
            Some(m) => have["policy"]["_meta"] == *m,
            None => {
                have["policy"]["phases"]["delete"]["min_age"]
                    == want.body["policy"]["phases"]["delete"]["min_age"]
            }
        },
    }
}

/// `?if_seq_no=…&if_primary_term=…` to replace an installed ISM policy (ISM refuses an update without
/// them).
pub fn ism_update_query(have: &Value) -> Option<String> {
    Some(format!(
        "?if_seq_no={}&if_primary_term={}",
        have["_seq_no"].as_u64()?,
        have["_primary_term"].as_u64()?
    ))
}

/// Why the engine refused writes for reasons of the cluster, not of the document, from a bulk item's
/// error type and reason: the shard limit, a write block (disk flood stage, read-only), a closed or
/// missing index that may not be created. `None`: the document itself was refused (mapping and the like).
pub fn cluster_cause(error_type: &str, reason: &str) -> Option<&'static str> {
    let r = reason.to_ascii_lowercase();
    if r.contains("maximum shards open")
        || r.contains("maximum normal shards open")
        || r.contains("max_shards_per_node")
    {
        Some("shard_limit")
    } else if error_type == "cluster_block_exception" || r.contains("read-only") {
        Some("write_block")
    } else if error_type == "index_closed_exception" || r.contains("index closed") {
        Some("index_closed")
    } else if error_type == "index_not_found_exception" {
        Some("index_not_found")
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
