use super::*;

fn root(distribution: Option<&str>, number: &str) -> Vec<u8> {
    let mut version = json!({"number": number, "build_flavor": "default"});
    if let Some(d) = distribution {
        version["distribution"] = json!(d);
    }
    serde_json::to_vec(
        &json!({"name": "n", "cluster_name": "c", "version": version, "tagline": "x"}),
    )
    .unwrap()
}

fn engine(distribution: Option<&str>, number: &str, aws: bool) -> SearchEngine {
    SearchEngine::from_root(&root(distribution, number), aws).unwrap()
}

#[test]
fn engines_from_their_root_answer() {
    let os = engine(Some("opensearch"), "2.11.1", true);
    assert_eq!(
        (os.distribution, os.major, os.minor),
        (Distribution::OpenSearch, 2, 11)
    );
    assert_eq!(os.describe(), "OpenSearch 2.11 (Amazon OpenSearch Service)");
    let es = engine(None, "8.15.0-SNAPSHOT", false);
    assert_eq!(
        (es.distribution, es.major, es.minor),
        (Distribution::Elasticsearch, 8, 15)
    );
    for bad in [&b"<html>"[..], b"{}", br#"{"version":{"number":"x.y"}}"#] {
        assert!(SearchEngine::from_root(bad, false).is_err());
    }
    assert!(engine(None, "7.2.0", false)
        .supported()
        .unwrap_err()
        .contains("7.8"));
    assert!(desired(&engine(None, "6.8.0", false), &Layout::default()).is_err());
}

#[test]
fn foreign_fields_and_retention_per_engine() {
    let cases = [
        (
            Some("opensearch"),
            "2.7.0",
            false,
            "flat_object",
            Retention::Ism("_plugins/_ism"),
        ),
        (
            Some("opensearch"),
            "2.5.0",
            true,
            "object",
            Retention::Ism("_plugins/_ism"),
        ),
        (
            Some("opensearch"),
            "1.3.0",
            false,
            "object",
            Retention::Ism("_plugins/_ism"),
        ),
        (
            None,
            "7.10.2",
            true,
            "flattened",
            Retention::Ism("_opendistro/_ism"),
        ),
        (None, "7.17.0", false, "flattened", Retention::Ilm),
        (None, "8.12.0", false, "flattened", Retention::Ilm),
    ];
    assert_eq!(
        SearchEngine::serverless().foreign_fields()["type"],
        "object"
    );
    for (d, n, aws, json_type, retention) in cases {
        let e = engine(d, n, aws);
        assert_eq!(e.foreign_fields()["type"], json_type, "{n}");
        assert_eq!(e.retention(), retention, "{n}");
        let all = desired(&e, &Layout::default()).unwrap();
        let base = &all[0].body["template"]["mappings"];
        assert_eq!(base["dynamic"], false);
        assert_eq!(base["properties"]["json"]["type"], json_type);
        if json_type == "object" {
            assert_eq!(base["properties"]["json"]["enabled"], false);
        }
        if json_type == "flattened" {
            // A leaf of a 1 MB JSON message must not be a term Lucene refuses (32,766 bytes).
            assert_eq!(base["properties"]["json"]["ignore_above"], 8191);
        }
    }
}

/// The bodies have what each API documents: composable templates with index_patterns, priority,
/// composed_of and template.settings; ISM policies with default_state, states and ism_template; ILM
/// policies with phases; and every field of the output document mapped.
#[test]
fn bodies_follow_the_documented_apis() {
    let layout = Layout {
        retention_days: 14,
        shards: 2,
        replicas: 0,
        ..Layout::default()
    };
    let os = desired(&engine(Some("opensearch"), "2.13.0", true), &layout).unwrap();
    let names: Vec<_> = os.iter().map(|r| (r.kind, r.path.as_str())).collect();
    assert_eq!(
        names,
        [
            (Kind::ComponentTemplate, "/_component_template/logpipe-base"),
            (
                Kind::ComponentTemplate,
                "/_component_template/logpipe-audit-fields"
            ),
            (Kind::IsmPolicy, "/_plugins/_ism/policies/logpipe-retention"),
            (Kind::IndexTemplate, "/_index_template/logpipe-audit"),
            (Kind::IndexTemplate, "/_index_template/logpipe-app"),
        ]
    );
    let app = &os[4].body;
    assert_eq!(app["index_patterns"], json!(["logs-app-*"]));
    assert!(
        app["priority"].as_u64().unwrap() > 100,
        "above the built-in logs-*-* template"
    );
    assert_eq!(app["composed_of"], json!(["logpipe-base"]));
    assert_eq!(app["template"]["settings"]["index"]["number_of_shards"], 2);
    assert_eq!(
        app["template"]["settings"]["index"]["number_of_replicas"],
        0
    );
    assert!(app["template"]["settings"]["index"]
        .get("lifecycle")
        .is_none());
    let audit = &os[3].body;
    assert!(audit["priority"].as_u64() > app["priority"].as_u64());
    assert_eq!(
        audit["composed_of"],
        json!(["logpipe-base", "logpipe-audit-fields"])
    );
    let ism = &os[2].body["policy"];
    assert_eq!(ism["default_state"], "hot");
    assert_eq!(
        ism["states"][0]["transitions"][0]["conditions"]["min_index_age"],
        "14d"
    );
    assert_eq!(ism["states"][1]["actions"][0], json!({"delete": {}}));
    assert_eq!(
        ism["ism_template"][0]["index_patterns"],
        json!(["logs-app-*", "logs-audit-*"])
    );

    let es = desired(&engine(None, "8.11.0", false), &layout).unwrap();
    assert_eq!(
        es[4].body["template"]["settings"]["index"]["lifecycle"]["name"],
        "logpipe-retention"
    );
    assert_eq!(es[2].path, "/_ilm/policy/logpipe-retention");
    assert_eq!(es[2].body["policy"]["phases"]["delete"]["min_age"], "14d");
    assert_eq!(
        es[2].body["policy"]["phases"]["delete"]["actions"],
        json!({"delete": {}})
    );
    assert!(es[2].body["policy"].get("_meta").is_some());
    let old_es = desired(&engine(None, "7.10.0", false), &layout).unwrap();
    assert!(
        old_es[2].body["policy"].get("_meta").is_none(),
        "ILM _meta needs 7.14"
    );

    // Every field logpipe's documents carry has a mapping.
    let base = &os[0].body["template"]["mappings"]["properties"];
    for path in [
        "@timestamp",
        "message",
        "event.id",
        "event.outcome",
        "log.group",
        "log.stream",
        "log.level",
        "log.file.path",
        "log.offset",
        "cloud.account.id",
        "cloud.region",
        "subscription_filters",
        "error.message",
        "json",
    ] {
        let mut v = base;
        for (i, part) in path.split('.').enumerate() {
            v = if i == 0 {
                &v[part]
            } else {
                &v["properties"][part]
            };
        }
        assert!(v.get("type").is_some(), "{path} is not mapped: {base}");
    }
    let audit_fields = &os[1].body["template"]["mappings"]["properties"];
    for (obj, field) in [
        ("db", "statement"),
        ("db", "return_code"),
        ("db", "user"),
        ("client", "port"),
        ("audit", "operation"),
    ] {
        assert!(
            audit_fields[obj]["properties"][field].get("type").is_some(),
            "{obj}.{field}"
        );
    }
    assert_eq!(
        os[0].body["template"]["mappings"]["properties"]["@timestamp"]["type"],
        "date"
    );
    assert_eq!(base["event"]["properties"]["id"]["type"], "keyword");
}

#[test]
fn separated_groups_get_their_own_template_and_retention() {
    let layout = Layout {
        separate: vec![(365, vec!["logs-group-ecs-payments-*".into()])],
        ..Layout::default()
    };
    for (e, policy_path) in [
        (
            engine(Some("opensearch"), "2.13.0", true),
            "/_plugins/_ism/policies/logpipe-retention-365d",
        ),
        (
            engine(None, "8.11.0", false),
            "/_ilm/policy/logpipe-retention-365d",
        ),
    ] {
        let all = desired(&e, &layout).unwrap();
        let policy = all
            .iter()
            .find(|r| r.path == policy_path)
            .expect("a policy of its own");
        let template = all
            .iter()
            .find(|r| r.name == "logpipe-group-365d")
            .expect("a template of its own");
        assert_eq!(
            template.body["index_patterns"],
            json!(["logs-group-ecs-payments-*"])
        );
        assert_eq!(
            template.body["composed_of"],
            json!(["logpipe-base", "logpipe-audit-fields"])
        );
        if e.retention() == Retention::Ilm {
            assert_eq!(
                template.body["template"]["settings"]["index"]["lifecycle"]["name"],
                "logpipe-retention-365d"
            );
            assert_eq!(policy.body["policy"]["phases"]["delete"]["min_age"], "365d");
        } else {
            assert_eq!(
                policy.body["policy"]["ism_template"][0]["index_patterns"],
                json!(["logs-group-ecs-payments-*"])
            );
            assert_eq!(
                policy.body["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"],
                "365d"
            );
        }
        assert_eq!(
            all.last().unwrap().name,
            "logpipe-app",
            "the marker holder last"
        );
    }
}

#[test]
fn markers_say_whether_an_installed_object_is_current() {
    let e = engine(Some("opensearch"), "2.13.0", true);
    let layout = Layout::default();
    assert_eq!(layout.marker(), Layout::default().marker());
    let other = Layout {
        retention_days: 90,
        ..Layout::default()
    };
    assert_ne!(layout.marker(), other.marker());
    let want = desired(&e, &layout).unwrap();
    let newer = desired(&e, &other).unwrap();
    // As the engine answers GET for each: the object wrapped as the API wraps it.
    let get = |r: &Resource| -> Vec<u8> {
        serde_json::to_vec(&match r.kind {
            Kind::IndexTemplate => json!({"index_templates": [{"name": &r.name, "index_template": r.body}]}),
            Kind::ComponentTemplate => json!({"component_templates": [{"name": &r.name, "component_template": r.body}]}),
            Kind::IsmPolicy => json!({"_id": &r.name, "_version": 3, "_seq_no": 7, "_primary_term": 1, "policy": r.body["policy"]}),
            Kind::IlmPolicy => json!({r.name.clone(): {"version": 1, "policy": r.body["policy"]}}),
        })
        .unwrap()
    };
    for (w, n) in want.iter().zip(&newer) {
        let have = installed(w.kind, &w.name, &get(w)).expect("found");
        assert!(is_current(w.kind, &have, w), "{}", w.path);
        assert!(
            !is_current(n.kind, &have, n),
            "{} after a layout change",
            n.path
        );
    }
    let ism = installed(Kind::IsmPolicy, "logpipe-retention", &get(&want[2])).unwrap();
    assert_eq!(
        ism_update_query(&ism).unwrap(),
        "?if_seq_no=7&if_primary_term=1"
    );
    assert_eq!(
        installed(
            Kind::IndexTemplate,
            "logpipe-app",
            br#"{"index_templates":[]}"#
        ),
        None
    );
    let es = engine(None, "7.10.0", false);
    let ilm = desired(&es, &layout).unwrap().remove(2);
    let have = installed(Kind::IlmPolicy, "logpipe-retention", &get(&ilm)).unwrap();
    assert!(is_current(Kind::IlmPolicy, &have, &ilm));
    assert!(!is_current(
        Kind::IlmPolicy,
        &have,
        &desired(&es, &other).unwrap().remove(2)
    ));
}

/// Reasons as Elasticsearch and OpenSearch write them.
#[test]
fn cluster_level_refusals_are_named() {
    let cases = [
        ("validation_exception", "Validation Failed: 1: this action would add [2] total shards, but this cluster currently has [1000]/[1000] maximum shards open;", Some("shard_limit")),
        ("validation_exception", "Validation Failed: 1: this action would add [2] shards, but this cluster currently has [3000]/[3000] maximum normal shards open;", Some("shard_limit")),
        ("illegal_argument_exception", "Validation Failed: 1: this action would add [2] total shards, but this cluster currently has [1000]/[1000] maximum shards open;", Some("shard_limit")),
        ("cluster_block_exception", "index [logs-app-2026.11.21] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];", Some("write_block")),
        ("cluster_block_exception", "index [logs-app-2026.11.21] blocked by: [FORBIDDEN/12/index read-only / allow delete (api)];", Some("write_block")),
        ("index_closed_exception", "closed", Some("index_closed")),
        ("index_not_found_exception", "no such index [logs-app-2026.11.21] and [action.auto_create_index] ([false]) doesn't match", Some("index_not_found")),
        ("mapper_parsing_exception", "failed to parse field [json.n] of type [long] in document with id 'x'", None),
        ("document_parsing_exception", "[1:20] failed to parse field [@timestamp] of type [date]", None),
    ];
    for (t, r, want) in cases {
        assert_eq!(cluster_cause(t, r), want, "{t}: {r}");
    }
}
