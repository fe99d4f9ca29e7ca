//! Saved objects for OpenSearch Dashboards and Kibana, as their saved-objects import API takes them
//! (NDJSON, one object a line): an index pattern (data view) per family, saved searches, and a dashboard
//! per family built of aggregation-based visualizations, which both products import (Kibana migrates
//! objects without a migration version as the oldest).

use serde_json::{json, Value};

use super::Layout;

/// Ids are stable, so an import with `overwrite=true` replaces logpipe's objects and nothing else.
pub const APP_PATTERN_ID: &str = "logpipe-app";
pub const AUDIT_PATTERN_ID: &str = "logpipe-audit";

const ERRORS: &str = "log.level:(error or critical or alert or emergency or fatal)";
const DDL_DCL: &str = "audit.operation:(CREATE or ALTER or DROP or RENAME or QUERY_DDL or QUERY_DCL) or audit.class:(DDL or ROLE)";
const FAILED_LOGINS: &str =
    "audit.operation:FAILED_CONNECT or message:\"password authentication failed\"";

fn source(query: &str) -> Value {
    json!({"searchSourceJSON": json!({
        "query": {"query": query, "language": "kuery"},
        "filter": [],
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"
    }).to_string()})
}

fn pattern_ref(pattern: &str) -> Value {
    json!([{"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern", "id": pattern}])
}

fn index_pattern(id: &str, title: &str) -> Value {
    json!({"type": "index-pattern", "id": id, "attributes": {"title": title, "timeFieldName": "@timestamp"},
           "references": []})
}

fn search(id: &str, title: &str, pattern: &str, query: &str, columns: &[&str]) -> Value {
    json!({"type": "search", "id": id, "attributes": {
        "title": title, "description": "", "columns": columns, "sort": [["@timestamp", "desc"]],
        "kibanaSavedObjectMeta": source(query)
    }, "references": pattern_ref(pattern)})
}

fn count() -> Value {
    json!({"id": "1", "enabled": true, "type": "count", "schema": "metric", "params": {}})
}

fn terms(id: &str, schema: &str, field: &str, size: u32) -> Value {
    json!({"id": id, "enabled": true, "type": "terms", "schema": schema,
           "params": {"field": field, "size": size, "order": "desc", "orderBy": "1"}})
}

/// A stacked bar chart of counts over time, split by `split` (a field).
fn over_time(id: &str, title: &str, pattern: &str, query: &str, split: &str) -> Value {
    let vis = json!({
        "title": title, "type": "histogram",
        "params": {
            "type": "histogram", "addTooltip": true, "addLegend": true, "legendPosition": "right",
            "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": true,
                              "scale": {"type": "linear"}, "labels": {"show": true, "truncate": 100}, "title": {}}],
            "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left",
                           "show": true, "scale": {"type": "linear", "mode": "normal"},
                           "labels": {"show": true, "rotate": 0, "truncate": 100}, "title": {"text": "Count"}}],
            "seriesParams": [{"show": true, "type": "histogram", "mode": "stacked",
                              "data": {"label": "Count", "id": "1"}, "valueAxis": "ValueAxis-1"}]
        },
        "aggs": [
            count(),
            {"id": "2", "enabled": true, "type": "date_histogram", "schema": "segment",
             "params": {"field": "@timestamp", "interval": "auto", "min_doc_count": 1, "extended_bounds": {}}},
            terms("3", "group", split, 10)
        ]
    });
    visualization(id, title, pattern, query, vis)
}

/// A table of the most frequent values of `fields` (nested buckets).
fn table(id: &str, title: &str, pattern: &str, query: &str, fields: &[&str]) -> Value {
    let mut aggs = vec![count()];
    for (i, f) in fields.iter().enumerate() {
        aggs.push(terms(&(i + 2).to_string(), "bucket", f, 20));
    }
    let vis = json!({"title": title, "type": "table",
        "params": {"perPage": 20, "showPartialRows": false, "showMetricsAtAllLevels": false, "showTotal": false,
                   "totalFunc": "sum", "sort": {"columnIndex": null, "direction": null}},
        "aggs": aggs});
    visualization(id, title, pattern, query, vis)
}

fn visualization(id: &str, title: &str, pattern: &str, query: &str, vis: Value) -> Value {
    json!({"type": "visualization", "id": id, "attributes": {
        "title": title, "description": "", "version": 1,
        "visState": vis.to_string(), "uiStateJSON": "{}",
        "kibanaSavedObjectMeta": source(query)
    }, "references": pattern_ref(pattern)})
}

/// A dashboard of `panels` (type and id), two to a row.
fn dashboard(id: &str, title: &str, panels: &[(&str, &str)]) -> Value {
    let grid: Vec<Value> = panels
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let n = (i + 1).to_string();
            json!({"panelIndex": n, "gridData": {"x": (i % 2) * 24, "y": (i / 2) * 15, "w": 24, "h": 15, "i": n},
                   "version": "7.10.0", "panelRefName": format!("panel_{i}"), "embeddableConfig": {}})
        })
        .collect();
    let refs: Vec<Value> = panels
        .iter()
        .enumerate()
        .map(|(i, (t, pid))| json!({"name": format!("panel_{i}"), "type": t, "id": pid}))
        .collect();
    json!({"type": "dashboard", "id": id, "attributes": {
        "title": title, "description": "", "version": 1, "timeRestore": true,
        "timeFrom": "now-24h", "timeTo": "now", "refreshInterval": {"pause": true, "value": 0},
        "panelsJSON": Value::Array(grid).to_string(),
        "optionsJSON": json!({"useMargins": true, "hidePanelTitles": false}).to_string(),
        "kibanaSavedObjectMeta": {"searchSourceJSON": json!({"query": {"query": "", "language": "kuery"}, "filter": []}).to_string()}
    }, "references": refs})
}

/// Every saved object, index patterns first (the others refer to them).
pub fn saved_objects(layout: &Layout) -> Vec<Value> {
    let app = layout.app_patterns.join(",");
    let audit = layout.audit_patterns.join(",");
    let (a, d) = (APP_PATTERN_ID, AUDIT_PATTERN_ID);
    vec![
        index_pattern(a, &app),
        index_pattern(d, &audit),
        search(
            "logpipe-app-errors",
            "logpipe: errors by log group",
            a,
            ERRORS,
            &["log.group", "log.level", "message"],
        ),
        search(
            "logpipe-audit-ddl-dcl",
            "logpipe audit: DDL and DCL by user",
            d,
            DDL_DCL,
            &["db.user", "audit.operation", "db.statement"],
        ),
        search(
            "logpipe-audit-failed-logins",
            "logpipe audit: failed logins",
            d,
            FAILED_LOGINS,
            &["db.user", "client.address", "message"],
        ),
        over_time(
            "logpipe-app-events",
            "logpipe: events over time by log group",
            a,
            "",
            "log.group",
        ),
        over_time(
            "logpipe-app-errors-over-time",
            "logpipe: errors over time by level",
            a,
            ERRORS,
            "log.level",
        ),
        table(
            "logpipe-app-top-errors",
            "logpipe: top error messages",
            a,
            ERRORS,
            &["message.keyword", "log.group"],
        ),
        table(
            "logpipe-audit-statements",
            "logpipe audit: statements by user and operation",
            d,
            "",
            &["db.user", "audit.operation"],
        ),
        over_time(
            "logpipe-audit-failed-connections",
            "logpipe audit: failed connections over time",
            d,
            FAILED_LOGINS,
            "client.address",
        ),
        dashboard(
            "logpipe-app",
            "logpipe: applications",
            &[
                ("visualization", "logpipe-app-events"),
                ("visualization", "logpipe-app-errors-over-time"),
                ("visualization", "logpipe-app-top-errors"),
                ("search", "logpipe-app-errors"),
            ],
        ),
        dashboard(
            "logpipe-audit",
            "logpipe: database audit",
            &[
                ("visualization", "logpipe-audit-statements"),
                ("visualization", "logpipe-audit-failed-connections"),
                ("search", "logpipe-audit-ddl-dcl"),
                ("search", "logpipe-audit-failed-logins"),
            ],
        ),
    ]
}

/// The objects as the import API takes them: one JSON object a line.
pub fn ndjson(layout: &Layout) -> String {
    let mut out = String::new();
    for o in saved_objects(layout) {
        out.push_str(&o.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every reference names an object of the set, every visualization's state is JSON with the fields the
    /// dashboards read, and every field they use is mapped by the templates.
    #[test]
    fn objects_refer_to_each_other_and_to_mapped_fields() {
        let objects = saved_objects(&Layout::default());
        let ids: BTreeSet<(String, String)> = objects
            .iter()
            .map(|o| {
                (
                    o["type"].as_str().unwrap().to_string(),
                    o["id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(ids.len(), objects.len(), "ids are unique");
        let engine = super::super::SearchEngine {
            distribution: super::super::Distribution::OpenSearch,
            major: 2,
            minor: 13,
            aws_managed: false,
            serverless: false,
        };
        let mapped = {
            let mut m = super::super::base_properties(&engine);
            let audit = super::super::audit_properties();
            for (k, v) in audit.as_object().unwrap() {
                m[k] = v.clone();
            }
            m
        };
        let is_mapped = |field: &str| {
            let mut v = &mapped;
            for (i, part) in field.split('.').enumerate() {
                v = if i == 0 {
                    &v[part]
                } else if v.get("fields").is_some() && part == "keyword" {
                    &v["fields"]["keyword"]
                } else {
                    &v["properties"][part]
                };
            }
            v.get("type").is_some()
        };
        for o in &objects {
            for r in o["references"].as_array().unwrap() {
                let key = (
                    r["type"].as_str().unwrap().to_string(),
                    r["id"].as_str().unwrap().to_string(),
                );
                assert!(ids.contains(&key), "{} refers to missing {key:?}", o["id"]);
            }
            if o["type"] == "visualization" {
                let vis: Value =
                    serde_json::from_str(o["attributes"]["visState"].as_str().unwrap()).unwrap();
                for agg in vis["aggs"].as_array().unwrap() {
                    if let Some(f) = agg["params"]["field"].as_str() {
                        assert!(is_mapped(f), "{}: {f} is not mapped", o["id"]);
                    }
                }
            }
            if o["type"] == "search" {
                for c in o["attributes"]["columns"].as_array().unwrap() {
                    assert!(is_mapped(c.as_str().unwrap()), "{}: {c}", o["id"]);
                }
            }
            if let Some(s) = o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"].as_str() {
                serde_json::from_str::<Value>(s).expect("searchSourceJSON is JSON");
            }
        }
        let text = ndjson(&Layout::default());
        assert_eq!(text.lines().count(), objects.len());
        assert!(text.contains("\"title\":\"logs-app-*\""));
    }
}
