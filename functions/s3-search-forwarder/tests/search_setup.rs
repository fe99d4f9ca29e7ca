//! Installing templates, mappings and retention: against a stand-in of the engines' management APIs
//! (exact requests, per engine family and version, idempotence, ISM's sequence numbers, refusals), and
//! against osmem-server (templates applied to new indices; foreign fields of conflicting types indexed).

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use test_support as support;

use std::sync::Arc;

use logcore::search::index_setup::{self, Hosting, Kind, Layout};
use logpipe_io::store::DirStore;
use logpipe_io::HttpSearch;
use s3_search_forwarder::config::{Auth, Endpoint};
use s3_search_forwarder::setup::{self, Action};
use s3_search_forwarder::{handle, Config, Store};
use serde_json::{json, Value};
use support::engine_api::{EngineApi, Flavor};

async fn client(url: &str) -> HttpSearch {
    let ep = Endpoint {
        url: url.to_string(),
        auth: Auth::None,
        region: None,
    };
    let sdk = aws_config::SdkConfig::builder().build();
    HttpSearch::connect(&ep, 1, &sdk).await.unwrap()
}

async fn get_json(url: String) -> Value {
    let bytes = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn puts(api: &EngineApi) -> Vec<(String, Value)> {
    api.requests()
        .into_iter()
        .filter(|(m, _, _)| m == "PUT")
        .map(|(_, p, b)| (p, b))
        .collect()
}

#[tokio::test]
async fn installs_exactly_what_each_engine_needs_once() {
    for (flavor, retention_path) in [
        (
            Flavor::OpenSearch("2.13.0"),
            "/_plugins/_ism/policies/logpipe-dev-retention",
        ),
        (
            Flavor::OpenSearch("1.3.14"),
            "/_plugins/_ism/policies/logpipe-dev-retention",
        ),
        (
            Flavor::Elasticsearch("8.11.3"),
            "/_ilm/policy/logpipe-dev-retention",
        ),
        (
            Flavor::Elasticsearch("7.10.2"),
            "/_ilm/policy/logpipe-dev-retention",
        ),
        (
            Flavor::AwsElasticsearch("7.10.2"),
            "/_opendistro/_ism/policies/logpipe-dev-retention",
        ),
    ] {
        let aws = if matches!(flavor, Flavor::AwsElasticsearch(_)) {
            Hosting::Aws
        } else {
            Hosting::SelfManaged
        };
        let api = EngineApi::start(flavor).await;
        let http = client(&api.url).await;
        let layout = Layout {
            name: "logpipe-dev".into(),
            ..Layout::default()
        };

        // A dry run reads and changes nothing.
        let (engine, steps) = setup::ensure(&http, &layout, aws, true).await.unwrap();
        assert!(
            steps
                .iter()
                .all(|s| s.action == Action::Create && !s.applied),
            "{flavor:?}"
        );
        assert!(puts(&api).is_empty());

        let (_, steps) = setup::ensure(&http, &layout, aws, false).await.unwrap();
        assert!(steps.iter().all(|s| s.applied), "{flavor:?}: {steps:?}");
        let want = index_setup::desired(&engine, &layout).unwrap();
        let put = puts(&api);
        let paths: Vec<&str> = put.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/_component_template/logpipe-dev-base",
                "/_component_template/logpipe-dev-audit-fields",
                retention_path,
                "/_index_template/logpipe-dev-audit",
                "/_index_template/logpipe-dev-app",
            ],
            "{flavor:?}"
        );
        for ((_, body), r) in put.iter().zip(&want) {
            assert_eq!(body, &r.body, "{flavor:?} {}", r.path);
        }
        assert!(api
            .raw_requests()
            .iter()
            .filter(|r| r.method == "PUT")
            .all(|r| r.header("content-type") == Some("application/json")));

        // Again: nothing to do, only reads; and the cold start's check is a single GET.
        api.clear_requests();
        let (_, steps) = setup::ensure(&http, &layout, aws, false).await.unwrap();
        assert!(
            steps
                .iter()
                .all(|s| s.action == Action::UpToDate && !s.applied),
            "{flavor:?}"
        );
        assert!(puts(&api).is_empty());
        api.clear_requests();
        assert_eq!(
            setup::ensure_current(&http, &layout, aws).await.unwrap(),
            None
        );
        assert_eq!(
            api.requests()
                .iter()
                .map(|(m, p, _)| format!("{m} {p}"))
                .collect::<Vec<_>>(),
            ["GET /_index_template/logpipe-dev-app"]
        );

        // A new retention: everything is replaced; ISM with the policy's sequence number.
        let longer = Layout {
            retention_days: 90,
            ..layout.clone()
        };
        api.clear_requests();
        let (_, steps) = setup::ensure_current(&http, &longer, aws)
            .await
            .unwrap()
            .unwrap();
        assert!(
            steps
                .iter()
                .all(|s| s.action == Action::Update && s.applied),
            "{steps:?}"
        );
        if retention_path.contains("_ism") {
            assert!(
                puts(&api).iter().any(|(p, _)| p.starts_with(retention_path)
                    && p.contains("?if_seq_no=")
                    && p.contains("&if_primary_term=1")),
                "{:?}",
                puts(&api)
            );
        }
        let policy = api.object(retention_path).unwrap();
        let age = if retention_path.contains("_ilm") {
            policy["policy"]["phases"]["delete"]["min_age"].clone()
        } else {
            policy["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"].clone()
        };
        assert_eq!(age, "90d", "{flavor:?}");

        // A cluster that refuses: the error carries the engine's reason.
        api.refuse_puts(403, "no permissions for [indices:admin/index_template/put]");
        let e = setup::ensure(&http, &layout, aws, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("403") && e.contains("indices:admin/index_template/put"),
            "{e}"
        );
    }
}

/// Serverless has no `GET /` and no ISM: templates only, the retention is the collection's lifecycle policy.
#[tokio::test]
async fn serverless_gets_templates_without_asking_the_engine() {
    let api = EngineApi::start(Flavor::OpenSearch("2.13.0")).await;
    let (engine, steps) = setup::ensure(
        &client(&api.url).await,
        &Layout::default(),
        Hosting::Serverless,
        false,
    )
    .await
    .unwrap();
    assert!(engine.serverless);
    assert_eq!(steps.len(), 4);
    assert!(api
        .requests()
        .iter()
        .all(|(_, p, _)| p != "/" && !p.contains("_ism")));
}

#[tokio::test]
async fn old_elasticsearch_is_refused_with_a_reason() {
    let api = EngineApi::start(Flavor::Elasticsearch("7.4.2")).await;
    let e = setup::ensure(
        &client(&api.url).await,
        &Layout::default(),
        Hosting::SelfManaged,
        false,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("7.8"), "{e}");
    assert!(puts(&api).is_empty());
}

/// osmem-server speaks the OpenSearch API: the templates apply to new indices, `json` is a flat_object so
/// the same foreign field as a number in one group and an object in another both index, and a second
/// install changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_govern_new_indices_on_osmem() {
    let Some(search) = support::search_url() else {
        return;
    };
    let name = support::unique("lpsetup");
    let http = Arc::new(client(&search).await);
    let engine = setup::detect(http.as_ref(), Hosting::SelfManaged)
        .await
        .unwrap();
    let layout = Layout {
        name: name.clone(),
        app_patterns: vec![format!("{name}-app-*")],
        audit_patterns: vec![format!("{name}-audit-*")],
        ..Layout::default()
    };
    // osmem has no ISM: install the templates only (the policy's requests are checked above).
    let templates: Vec<_> = index_setup::desired(&engine, &layout)
        .unwrap()
        .into_iter()
        .filter(|r| matches!(r.kind, Kind::IndexTemplate | Kind::ComponentTemplate))
        .collect();
    let steps = setup::apply(http.as_ref(), &templates, false)
        .await
        .unwrap();
    assert!(steps.iter().all(|s| s.applied), "{steps:?}");
    let again = setup::apply(http.as_ref(), &templates, false)
        .await
        .unwrap();
    assert!(
        again.iter().all(|s| s.action == Action::UpToDate),
        "{again:?}"
    );

    // Two applications' JSON logs whose `n` disagree, through the real forwarder.
    let dir = std::env::temp_dir().join(&name);
    let store = Arc::new(DirStore::new(&dir));
    let mut body = String::new();
    for (i, (group, n)) in [
        ("/ecs/a", json!(5)),
        ("/ecs/b", json!({"deep": {"x": "y"}})),
        ("/ecs/a", json!("text")),
    ]
    .iter()
    .enumerate()
    {
        body.push_str(&json!({"@timestamp": "2026-12-01T10:00:00.000Z", "message": "m", "event": {"id": format!("{name}-{i}")},
            "log": {"group": group}, "json": {"n": n, "level": "info"}}).to_string());
        body.push('\n');
    }
    store
        .put(
            "logs",
            "logs/x.gz",
            logcore::base::codec::gzip(body.as_bytes(), 6),
        )
        .await
        .unwrap();
    let mut cfg = Config::new(&search);
    cfg.index = format!("{name}-app-%Y.%m.%d").parse().unwrap();
    let ev = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "logs"}, "object": {"key": "logs/x.gz", "size": 1}}}]});
    let deadline = logpipe_io::lambda::Deadline::after(
        std::time::Duration::from_secs(60),
        cfg.common.deadline_margin,
    );
    let (res, summary) = handle(&cfg, &store, &http, &ev, deadline).await;
    res.unwrap();
    assert_eq!(
        (summary.forwarded.indexed, summary.forwarded.dead_lettered),
        (3, 0),
        "{summary:?}"
    );

    let index = format!("{name}-app-2026.12.01");
    let mapping: Value = get_json(format!("{search}/{index}/_mapping")).await;
    let props = &mapping[&index]["mappings"]["properties"];
    assert_eq!(props["json"]["type"], "flat_object", "{mapping}");
    assert_eq!(props["log"]["properties"]["group"]["type"], "keyword");
    assert_eq!(props["@timestamp"]["type"], "date");
    assert!(
        props.get("db").is_none(),
        "audit fields only in audit indices"
    );
    let settings: Value = get_json(format!("{search}/{index}/_settings")).await;
    assert_eq!(
        settings[&index]["settings"]["index"]["number_of_shards"], "1",
        "{settings}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
