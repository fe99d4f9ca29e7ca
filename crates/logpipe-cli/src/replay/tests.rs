use super::input::event_time;
use super::*;

fn args(file: &Path, out: &Path) -> ReplayArgs {
    ReplayArgs {
        file: file.to_path_buf(),
        log_group: "/ecs/shop-api".into(),
        log_stream: None,
        engine: None,
        out_dir: out.to_path_buf(),
        s3_bucket: None,
        search_url: None,
        slack_webhook: None,
        buffer_bytes: 20_000,
        object_bytes: 50_000,
        events_per_payload: 100,
        quiet: true,
    }
}

/// Lines of the largest size CloudWatch Logs accepts (1 MB), in the shapes that escape worst, among
/// ordinary ones, through every hop: every event is indexed, nothing fails or is dead-lettered, and the
/// documents no response can carry are written to S3 by the transform itself, in the stream's prefix.
/// (A replayed line cannot hold a line break: that shape is left to the transform's own tests.)
#[test]
fn megabyte_lines_of_every_shape_are_indexed() {
    let dir = std::env::temp_dir().join(format!(
        "logpipe-replay-1mb-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.log");
    let shapes: Vec<String> =
        logcore::synth::worst_case_messages(logcore::logs::cwl::MAX_MESSAGE_BYTES - 20)
            .into_iter()
            .filter(|(_, m)| !m.contains('\n'))
            .map(|(shape, m)| {
                if m.starts_with('{') {
                    m
                } else {
                    format!("ERROR {shape}: {m}")
                }
            })
            .collect();
    let mut text = String::new();
    for (i, m) in shapes.iter().enumerate() {
        text += &format!("INFO before {i}\n{m}\nINFO after {i}\n");
    }
    std::fs::write(&file, &text).unwrap();
    let out = dir.join("out");
    let a = ReplayArgs {
        buffer_bytes: 1_000_000,
        object_bytes: 5_000_000,
        ..args(&file, &out)
    };
    let totals = replay::<Documents>(&a, Ok(TransformConfig::default())).unwrap();
    let n = shapes.len() as u64 * 3;
    assert_eq!(totals.events, n);
    assert_eq!(totals.documents, n, "{totals:?}");
    assert_eq!(totals.indexed, n, "{totals:?}");
    assert_eq!(
        (totals.events_failed, totals.dead_lettered),
        (0, 0),
        "{totals:?}"
    );
    // The control characters and the nested JSON, each with the lines that share their payload.
    assert_eq!(totals.written_directly, 6, "{totals:?}");
    assert_eq!(totals.lost(), Vec::<String>::new());
    let bulk = std::fs::read_to_string(out.join("bulk.ndjson")).unwrap();
    for m in &shapes {
        let doc = serde_json::to_string(m).unwrap();
        assert_eq!(
            bulk.matches(doc.as_str()).count(),
            1,
            "indexed once, intact"
        );
    }
    let oversize: Vec<_> = walk(&out.join("logs"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("logpipe-oversize-"))
        .collect();
    assert_eq!(oversize.len(), 2, "{oversize:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A mixed file through the whole chain: every event ends as a document that is indexed (or dead-
/// lettered), the error lines alert, and the bulk bodies hold every document once.
#[test]
fn a_mixed_file_goes_through_every_hop_and_nothing_is_lost() {
    let dir = std::env::temp_dir().join(format!(
        "logpipe-replay-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app.log");
    let mut text = String::new();
    for i in 0..3000 {
        match i % 4 {
            0 => {
                text += &format!("{{\"level\":\"info\",\"msg\":\"request {i}\",\"status\":200}}\n")
            }
            1 => text += &format!("2025-11-21T10:00:00.{:03}Z INFO plain line {i}\n", i % 1000),
            2 => text += "\n",
            _ => text += &format!("ERROR payment declined for order {i}\n"),
        }
    }
    text += "{\"broken json\n";
    std::fs::write(&file, &text).unwrap();
    let out = dir.join("out");
    let a = args(&file, &out);
    let cfg = TransformConfig::<Documents>::default();
    let totals = replay::<Documents>(&a, Ok(cfg)).unwrap();
    assert_eq!(totals.lines, 3001);
    assert_eq!(totals.blank_lines, 750);
    assert_eq!(totals.events, 2251);
    assert_eq!(totals.documents, 2251);
    assert_eq!(totals.indexed, 2251);
    assert!(totals.objects > 1, "{totals:?}");
    assert!(totals.transform_invocations > 1, "{totals:?}");
    assert_eq!(totals.lost(), Vec::<String>::new());
    // Every ERROR line is alert-worthy: 750 of them, grouped into messages, repeats suppressed.
    assert_eq!(totals.alerts, 750, "{totals:?}");
    assert!(totals.slack_messages >= 1 && totals.slack_failed == 0);
    let bulk = std::fs::read_to_string(out.join("bulk.ndjson")).unwrap();
    assert_eq!(bulk.matches("{\"create\"").count(), 2251);
    // The objects are where Firehose would write them.
    let logs: Vec<_> = walk(&out.join("logs"));
    assert_eq!(logs.len() as u64, totals.objects);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The reconciliation table the replay ends with: every event read is indexed, dropped by the transform's
/// filter or dead-lettered, hour by hour; an event taken out of the bulk bodies is missing in its hour.
#[test]
fn the_replay_reconciles_what_it_replayed() {
    let dir = std::env::temp_dir().join(format!(
        "logpipe-replay-rec-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app.log");
    let mut text = String::new();
    for i in 0..120 {
        let path = if i % 3 == 0 { "/health" } else { "/orders" };
        text += &format!(
            "2025-11-21T{:02}:{:02}:00Z INFO GET {path} {i}\n",
            9 + i / 60,
            i % 60
        );
    }
    std::fs::write(&file, &text).unwrap();
    let out = dir.join("out");
    let a = args(&file, &out);
    let cfg = TransformConfig::<Documents> {
        filter: logcore::transform::filter::MessageFilter::new(None, Some("/health")).unwrap(),
        ..TransformConfig::default()
    };
    let mut totals = replay::<Documents>(&a, Ok(cfg)).unwrap();
    reconcile_replay(&a, &mut totals, None, None).unwrap();
    let report = totals.ledger.judge(i64::MAX, 0);
    assert!(report.clean(), "{}", report.table());
    assert_eq!(report.rows.len(), 2, "two hours: {}", report.table());
    assert_eq!(
        (
            report.total.source,
            report.total.dropped,
            report.total.indexed
        ),
        (120, 40, 80)
    );
    let table = report.table();
    assert!(table.contains("/ecs/shop-api"), "{table}");
    assert!(table.contains("total (2 settled hours)"), "{table}");

    // One document gone from the bulk bodies: missing in its hour, at search.
    let bulk = std::fs::read_to_string(out.join("bulk.ndjson")).unwrap();
    let mut lines: Vec<&str> = bulk.lines().collect();
    lines.drain(0..2);
    std::fs::write(out.join("bulk.ndjson"), lines.join("\n") + "\n").unwrap();
    let mut totals = Totals {
        ledger: logcore::ledger::Ledger::default(),
        ..totals
    };
    for i in 0..120i64 {
        let ts =
            logcore::base::time::parse_rfc3339_ms("2025-11-21T09:00:00Z").unwrap() + i * 60_000;
        super::reconcile::count_source(&mut totals.ledger, "/ecs/shop-api", ts);
    }
    reconcile_replay(&a, &mut totals, None, None).unwrap();
    let report = totals.ledger.judge(i64::MAX, 0);
    assert_eq!(report.total.missing, 1, "{}", report.table());
    std::fs::remove_dir_all(dir).unwrap();
}

/// The README's quickstart inputs go through without loss (app logs alert; audit logs do not).
#[test]
fn the_example_files_replay_without_loss() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for (file, engine, alerts) in [
        ("app.log", None, 5),
        ("stack-traces.log", None, 7),
        ("aurora-mysql-audit.log", Some(Engine::Mysql), 0),
        ("aurora-postgresql-audit.log", Some(Engine::Postgresql), 2),
    ] {
        let out = std::env::temp_dir().join(format!(
            "logpipe-replay-ex-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let mut a = args(&examples.join(file), &out);
        a.engine = engine;
        let t = match engine {
            None => replay::<Documents>(&a, Ok(TransformConfig::default())),
            Some(_) => {
                let engine = if file.contains("mysql") {
                    "mysql"
                } else {
                    "postgresql"
                };
                let cfg = TransformConfig::<Audit>::from_env(|k| {
                    (k == "AUDIT_ENGINE").then(|| engine.to_string())
                });
                replay::<Audit>(&a, cfg)
            }
        }
        .unwrap();
        assert!(t.events > 10, "{file}: {t:?}");
        // A stack trace's lines after its first are in its document.
        assert_eq!(t.indexed + t.joined, t.events, "{file}: {t:?}");
        assert_eq!(t.joined > 0, file == "stack-traces.log", "{file}: {t:?}");
        assert_eq!(t.lost(), Vec::<String>::new(), "{file}");
        assert_eq!(t.alerts, alerts, "{file}: {t:?}");
        // The quickstart's table: every event read is indexed in the hour it was read for (audit records
        // by their own time, as the audit transform dates their documents).
        let mut t = t;
        reconcile_replay(&a, &mut t, None, None).unwrap();
        let report = t.ledger.judge(i64::MAX, 0);
        assert!(report.clean(), "{file}: {}", report.table());
        assert_eq!(
            report.total.indexed + t.joined,
            t.events,
            "{file}: {}",
            report.table()
        );
        std::fs::remove_dir_all(out).unwrap();
    }
}

/// With a real S3 endpoint (moto): the objects land in the bucket, and documents the forwarder cannot
/// index (here, over a small MAX_DOC_BYTES) are dead-lettered under `failed/` in the same bucket.
#[test]
fn objects_and_dead_letters_go_to_an_s3_bucket() {
    let Some(url) = test_support::moto_url() else {
        return;
    };
    let rt = crate::runtime().unwrap();
    let sdk = rt.block_on(test_support::sdk_config(&url));
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = test_support::unique("replay");
    rt.block_on(s3.create_bucket().bucket(&bucket).send())
        .unwrap();
    let dir = std::env::temp_dir().join(test_support::unique("logpipe-replay-s3"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app.log");
    let long = "x".repeat(2000);
    let text: String = (0..500)
        .map(|i| {
            if i % 50 == 0 {
                format!("ERROR long line {i} {long}\n")
            } else {
                format!("INFO line {i}\n")
            }
        })
        .collect();
    std::fs::write(&file, text).unwrap();
    let a = args(&file, &dir.join("out"));
    std::fs::create_dir_all(&a.out_dir).unwrap();
    let tcfg = TransformConfig::<Documents>::default();
    let mut fcfg = ForwarderConfig::new("http://bulk-out.invalid");
    fcfg.max_doc_bytes = 1500;
    let ncfg = slack_notifier::Config::new(slack_notifier::config::SecretSource::Ssm("/x".into()));
    let store = Arc::new(logpipe_io::store::S3Store::new(&sdk, true));
    let to = Target {
        store: &store,
        bucket: &bucket,
        prefix: "logs",
        stream: "app.log",
    };
    let mut t = replay_to(
        &a,
        &rt,
        &tcfg,
        fcfg,
        &ncfg,
        to,
        Input::open(&file).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!((t.events, t.documents), (500, 500), "{t:?}");
    assert_eq!((t.indexed, t.dead_lettered), (490, 10), "{t:?}");
    assert_eq!(t.lost(), Vec::<String>::new());
    // The reconciliation reads the dead letters back from the bucket: the 10 oversize documents are
    // accounted for, by cause.
    let a = ReplayArgs {
        s3_bucket: Some(bucket.clone()),
        ..a
    };
    reconcile_replay(&a, &mut t, Some(&sdk), Some(&store)).unwrap();
    let report = t.ledger.judge(i64::MAX, 0);
    assert!(report.clean(), "{}", report.table());
    assert_eq!(report.total.dead_lettered, 10, "{}", report.table());
    let keys: Vec<String> = rt
        .block_on(s3.list_objects_v2().bucket(&bucket).send())
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect();
    let objects = keys.iter().filter(|k| k.starts_with("logs/")).count() as u64;
    assert_eq!(objects, t.objects, "{keys:?}");
    assert!(
        keys.iter()
            .any(|k| k.starts_with("failed/") && k.ends_with("-unreadable.ndjson")),
        "{keys:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn losses_are_named() {
    let t = Totals {
        events: 10,
        documents: 9,
        indexed: 8,
        ..Totals::default()
    };
    let lost = t.lost();
    assert_eq!(lost.len(), 2, "{lost:?}");
    assert!(lost[0].contains("10 events in, 9 documents + 0 joined"));
    assert!(lost[1].contains("9 documents, 8 indexed"));
    // Events joined into another's document are not lost.
    let t = Totals {
        events: 10,
        documents: 7,
        joined: 3,
        indexed: 7,
        ..Totals::default()
    };
    assert!(t.lost().is_empty(), "{:?}", t.lost());
}

#[test]
fn event_times_come_from_the_line_or_follow_the_previous() {
    assert_eq!(
        event_time("2025-11-21T10:00:00.123Z ERROR x", 5),
        1_763_719_200_123
    );
    assert_eq!(
        event_time(r#"{"time":"2025-11-21T10:00:00.123Z","msg":"x"}"#, 5),
        1_763_719_200_123
    );
    assert_eq!(event_time("no time here", 5), 6);
    // Audit records: the time the audit transform gives their documents.
    assert_eq!(
        event_time(
            "2025-11-21 10:00:00 UTC:10.0.1.146(41149):reporting@shop:[21149]:LOG:  AUDIT: x",
            5
        ),
        1_763_719_200_000
    );
    assert_eq!(
        event_time(
            "1763719200001440,ip-10-0-1-23,reporting,10.0.1.146,1149,3005000,QUERY,shop,'SELECT 1',0",
            5
        ),
        1_763_719_200_001
    );
    assert_eq!(event_time("ééééééééééééééééééééééé", 5), 6);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
