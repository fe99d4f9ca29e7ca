//! `logpipe reindex` and `logpipe redrive` as a user runs them: the binary, its arguments and what it
//! prints, against S3 and SQS on moto (the endpoint from `AWS_ENDPOINT_URL`, as the SDK reads it).

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use aws_sdk_s3::primitives::ByteStream;
use test_support as support;

fn logpipe(moto: Option<&str>, dir: &std::path::Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_logpipe"));
    c.args(args).current_dir(dir);
    for v in ["BUCKET", "SEARCH_QUEUE_URL", "SEARCH_DLQ_URL", "SEARCH_URL"] {
        c.env_remove(v);
    }
    if let Some(m) = moto {
        c.env("AWS_ENDPOINT_URL", m)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", support::REGION)
            .env_remove("AWS_PROFILE");
    }
    c.output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

#[test]
fn bad_arguments_are_named_before_anything_is_read() {
    let dir = std::env::temp_dir();
    for (args, want) in [
        (
            vec!["reindex", "--bucket", "b", "--from", "March"],
            "--from \"March\"",
        ),
        (
            vec![
                "reindex",
                "--bucket",
                "b",
                "--from",
                "2026-03-02",
                "--to",
                "2026-03-01",
                "--dry-run",
            ],
            "--from must be before --to",
        ),
        (
            vec![
                "reindex",
                "--bucket",
                "b",
                "--from",
                "2026-03-01",
                "--group",
                "/ecs/api",
                "--dry-run",
            ],
            "mixes every log group",
        ),
        (
            vec!["reindex", "--bucket", "b", "--from", "2026-03-01"],
            "--queue-url",
        ),
        (
            vec![
                "reindex",
                "--bucket",
                "b",
                "--from",
                "2026-03-01",
                "--dry-run",
                "--restore-index",
                "Bad_Label",
            ],
            "--restore-index",
        ),
        (
            vec![
                "reindex",
                "--bucket",
                "b",
                "--from",
                "1d",
                "--kind",
                "audit",
                "--layout",
                "partitioned",
            ],
            "audit stream writes the time layout only",
        ),
        (
            vec![
                "reindex",
                "--bucket",
                "b",
                "--from",
                "1d",
                "--rate",
                "0",
                "--dry-run",
            ],
            "--rate",
        ),
        (vec!["redrive", "--dlq"], "--dlq-url"),
        (
            vec!["redrive", "--bucket", "b", "--prefix", "other/"],
            "not under",
        ),
    ] {
        let out = logpipe(None, &dir, &args);
        let (_, err) = text(&out);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_then_a_run_then_a_summary_of_dead_letters() {
    let Some(moto) = support::moto_url() else {
        return;
    };
    let sdk = support::sdk_config(&moto).await;
    let s3 = support::s3_client(&sdk);
    let bucket = support::unique("lpcli");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let url = aws_sdk_sqs::Client::new(&sdk)
        .create_queue()
        .queue_name(format!("{bucket}-q"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    for h in ["09", "10", "11"] {
        for i in 0..3 {
            s3.put_object()
                .bucket(&bucket)
                .key(format!("logs/2026/03/01/{h}/s-{i}.gz"))
                .body(ByteStream::from(vec![b'x'; 100]))
                .send()
                .await
                .unwrap();
        }
    }
    s3.put_object()
        .bucket(&bucket)
        .key("failed/src/logs/2026/03/01/10/s-1.gz/v/00000000000000000000-rejected.ndjson")
        .body(ByteStream::from(
            br#"{"reason":"failed to parse field [n] of type [long] in document with id 'x'","status":400,"error_type":"mapper_parsing_exception","cause":"document","source":{"bucket":"src","key":"k","version":"v","offset":0,"length":2},"action":{"create":{"_index":"logs-app-2026.03.01","_id":"x"}},"document":{"n":"a"}}
"#
            .to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(&bucket);
    std::fs::create_dir_all(&dir).unwrap();
    let range = [
        "--bucket",
        &bucket,
        "--from",
        "2026-03-01T10:00:00Z",
        "--until",
        "2026-03-01T13:00:00+01:00",
        "--quiet",
    ];

    let dry: Vec<&str> = ["reindex"]
        .iter()
        .chain(&range)
        .chain(&["--dry-run"])
        .copied()
        .collect();
    let out = logpipe(Some(&moto), &dir, &dry);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("selected 6 objects (0.0 MB)"), "{o}");
    assert!(o.contains("would send 6 notifications"), "{o}");
    assert!(o.contains("logs/2026/03/01/10/s-0.gz"), "{o}");

    let run: Vec<&str> = ["reindex"]
        .iter()
        .chain(&range)
        .chain(&["--queue-url", url.as_str()])
        .copied()
        .collect();
    let out = logpipe(Some(&moto), &dir, &run);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("sent 6 objects"), "{o}");
    assert!(o.contains("409"), "{o}");
    // Nothing left behind: the state of a finished run is removed.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let attrs = aws_sdk_sqs::Client::new(&sdk)
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attrs
            .attributes()
            .unwrap()
            .values()
            .next()
            .map(String::as_str),
        Some("6")
    );

    let out = logpipe(
        Some(&moto),
        &dir,
        &["redrive", "--bucket", &bucket, "--quiet"],
    );
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("1 dead-letter objects"), "{o}");
    assert!(
        o.contains("mapper_parsing_exception")
            && o.contains("failed to parse field [n] of type [long]"),
        "{o}"
    );
    assert!(o.contains("nothing redriven"), "{o}");
    std::fs::remove_dir_all(&dir).unwrap();
}
