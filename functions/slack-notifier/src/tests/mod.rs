//! Handler tests with a scripted Slack and a directory standing for S3.

use super::*;
use crate::config::SecretSource;
use logcore::alert::fingerprint;
use logcore::synth::{self, Event};
use logpipe_io::lambda::Deadline;
use logpipe_io::store::{DirStore, MemStore};
use serde_json::json;
use std::collections::VecDeque;
use std::time::Duration;

mod routing;
mod shared;
mod threads;

/// Answers posts from a script (then 200 ok), after `delay`, and keeps every message with the time it
/// arrived.
#[derive(Default)]
struct FakeSlack {
    script: Mutex<VecDeque<Result<Reply, CallError>>>,
    posts: Mutex<Vec<(Instant, Value)>>,
    delay: Duration,
}

fn reply(status: u16, body: &str, retry_after: Option<u64>) -> Result<Reply, CallError> {
    Ok(Reply {
        status,
        body: body.as_bytes().to_vec(),
        retry_after: retry_after.map(Duration::from_secs),
    })
}

impl FakeSlack {
    fn scripted(replies: Vec<Result<Reply, CallError>>) -> Arc<Self> {
        Arc::new(FakeSlack {
            script: Mutex::new(replies.into()),
            ..FakeSlack::default()
        })
    }
    fn posts(&self) -> Vec<(Instant, Value)> {
        self.posts.lock().unwrap().clone()
    }
}

impl Slack for FakeSlack {
    async fn post(&self, message: &Value) -> Result<Reply, CallError> {
        self.posts
            .lock()
            .unwrap()
            .push((Instant::now(), message.clone()));
        let next = self.script.lock().unwrap().pop_front();
        tokio::time::sleep(self.delay).await;
        next.unwrap_or_else(|| reply(200, "ok", None))
    }
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "logpipe-notifier-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A notifier whose object store is in memory (the tests that read objects give their own).
fn notifier(slack: Arc<FakeSlack>) -> Notifier<MemStore, FakeSlack> {
    let cfg = Config::new(SecretSource::Ssm("/test".into()));
    notifier_with(cfg, slack, MemStore::default())
}

fn notifier_with<S: logpipe_io::Store>(
    cfg: Config,
    slack: Arc<FakeSlack>,
    store: S,
) -> Notifier<S, FakeSlack> {
    Notifier::new(cfg, Arc::new(store), slack)
}

fn awslogs(group: &str, messages: &[&str]) -> Value {
    let events: Vec<Event> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| Event {
            id: synth::event_id(1_763_719_200_000 + i as i64, i as u64),
            timestamp: 1_763_719_200_000 + i as i64 * 1000,
            message: m.to_string(),
        })
        .collect();
    let p = synth::data_payload(group, "web/1", &events);
    json!({"awslogs": {"data": synth::record_data(&p)}})
}

fn later() -> Deadline {
    deadline_in(60)
}

/// An invocation ending `secs` from now, with the default margin (2 s).
fn deadline_in(secs: u64) -> Deadline {
    Deadline::after(Duration::from_secs(secs), Duration::from_secs(2))
}

const NOW: i64 = 1_763_719_300_000;

#[tokio::test]
async fn errors_of_one_log_group_make_one_message() {
    let slack = FakeSlack::scripted(vec![]);
    let n = notifier(Arc::clone(&slack));
    let ev = awslogs(
        "/ecs/shop-api",
        &[
            "ERROR payment declined for order 1042",
            "INFO request completed",
            r#"{"level":"error","msg":"db timeout","ms":5000}"#,
            "java.lang.IllegalStateException: closed",
            "ERROR payment declined for order 1043",
        ],
    );
    let (result, s) = n.handle(&ev, later(), NOW).await;
    assert_eq!(
        result.unwrap(),
        json!({"alerts": 4, "suppressed": 1, "messages_sent": 1})
    );
    assert_eq!(
        (s.events, s.below_level, s.alerts, s.suppressed),
        (5, 1, 4, 1)
    );
    let posts = slack.posts();
    assert_eq!(posts.len(), 1);
    let m = &posts[0].1;
    assert_eq!(
        m["blocks"][0]["text"]["text"],
        "3 errors in /ecs/shop-api within 3 s"
    );
    assert_eq!(m["blocks"].as_array().unwrap().len(), 3 + 3);
    assert!(m["blocks"][5]["elements"][0]["text"]
        .as_str()
        .unwrap()
        .contains("1 repeat suppressed"));
    assert!(m["text"]
        .as_str()
        .unwrap()
        .starts_with("3 errors in /ecs/shop-api: ERROR payment declined"));
}

/// A stack trace written one line an event is one alert: the message shows the whole trace in its code
/// block, the other lines are counted as joined, and the header alone (a subscription filter that lets only
/// it through) is a repeat of it.
#[tokio::test]
async fn a_stack_trace_one_line_an_event_is_one_alert() {
    let slack = FakeSlack::scripted(vec![]);
    let n = notifier(Arc::clone(&slack));
    let trace = [
        "java.lang.IllegalStateException: connection pool exhausted",
        "\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
        "\tat com.example.orders.Repo.save(Repo.java:42)",
        "Caused by: java.sql.SQLTransientConnectionException: request timed out after 30000ms.",
        "\t... 87 common frames omitted",
    ];
    let mut lines = vec!["INFO request completed"];
    lines.extend(trace);
    lines.push("Traceback (most recent call last):");
    lines.push("  File \"/app/pay.py\", line 41, in charge");
    lines.push("httpx.ConnectTimeout: timed out");
    let (result, s) = n
        .handle(&awslogs("/ecs/shop-api", &lines), later(), NOW)
        .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!((s.events, s.events_joined, s.alerts), (3, 6, 2), "{s:?}");
    let posts = slack.posts();
    assert_eq!(posts.len(), 1);
    let m = &posts[0].1;
    assert_eq!(
        m["blocks"][0]["text"]["text"],
        "2 errors in /ecs/shop-api within 5 s"
    );
    let first = m["blocks"][2]["text"]["text"].as_str().unwrap();
    assert!(
        first.contains(
            "```java.lang.IllegalStateException: connection pool exhausted\n\tat com.zaxxer"
        ),
        "{first}"
    );
    assert!(first.contains("... 87 common frames omitted```"), "{first}");
    logcore::alert::slack::validate(m).unwrap();
    // The header alone, as a narrow subscription filter delivers it: the same alert, suppressed.
    let (result, s) = n
        .handle(&awslogs("/ecs/shop-api", &[trace[0]]), later(), NOW + 1000)
        .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!((s.alerts, s.suppressed), (1, 1));
    // A trace longer than a message shows is cut, with the marker.
    let long: Vec<String> = std::iter::once("java.lang.Error: deep".to_string())
        .chain((0..400).map(|i| format!("\tat a.B.c{i}(B.java:{i})")))
        .collect();
    let refs: Vec<&str> = long.iter().map(String::as_str).collect();
    let slack = FakeSlack::scripted(vec![]);
    let n = notifier(Arc::clone(&slack));
    let (result, s) = n.handle(&awslogs("/ecs/deep", &refs), later(), NOW).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!((s.events, s.events_joined, s.alerts), (1, 400, 1));
    let m = &slack.posts()[0].1;
    let text = m["blocks"][2]["text"]["text"].as_str().unwrap();
    assert!(text.contains("… truncated:"), "{text}");
    logcore::alert::slack::validate(m).unwrap();
}

#[tokio::test]
async fn repeats_are_suppressed_across_invocations_only_once_delivered() {
    // First delivery fails for good: nothing is remembered, so the retry of the invocation sends it.
    let slack = FakeSlack::scripted(vec![reply(404, "no_service", None)]);
    let n = notifier(Arc::clone(&slack));
    let ev = awslogs("/ecs/api", &["ERROR boom 1"]);
    let (r, s) = n.handle(&ev, later(), NOW).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("404 no_service"), "{e}");
    assert_eq!(s.messages_failed, 1);
    let (r, _) = n.handle(&ev, later(), NOW + 1000).await;
    assert!(r.is_ok());
    // Delivered now: the same message (another number) within the window is counted, not sent.
    let again = awslogs("/ecs/api", &["ERROR boom 2"]);
    let (r, s) = n.handle(&again, later(), NOW + 2000).await;
    assert_eq!(
        r.unwrap(),
        json!({"alerts": 1, "suppressed": 1, "messages_sent": 0})
    );
    assert_eq!(s.suppressed, 1);
    assert_eq!(slack.posts().len(), 2);
    // After the window it is sent again.
    let (_, s) = n.handle(&again, later(), NOW + 2000 + 600_000).await;
    assert_eq!(s.messages_sent, 1);
}

#[tokio::test(start_paused = true)]
async fn rate_limits_and_server_errors_are_retried_and_posts_are_paced() {
    let slack = FakeSlack::scripted(vec![
        reply(429, "rate limited", Some(7)),
        reply(503, "unavailable", None),
        Err(CallError::retryable("connection reset")),
    ]);
    let n = notifier(Arc::clone(&slack));
    let mut two_groups = awslogs("/ecs/a", &["ERROR a"]);
    let start = Instant::now();
    let (r, s) = n.handle(&two_groups, later(), NOW).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!((s.messages_sent, s.slack_retries), (1, 3));
    let posts = slack.posts();
    assert_eq!(posts.len(), 4);
    // Retry-After was honoured.
    assert!(posts[1].0 - posts[0].0 >= Duration::from_secs(7));
    assert!(Instant::now() - start < Duration::from_secs(60));
    // The next message waits for Slack's pace (one per second).
    two_groups = awslogs("/ecs/b", &["ERROR b"]);
    n.handle(&two_groups, later(), NOW).await.0.unwrap();
    let posts = slack.posts();
    assert!(posts[4].0 - posts[3].0 >= Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_fails_the_invocation() {
    let slack = FakeSlack::scripted(vec![reply(429, "", Some(120))]);
    let n = notifier(Arc::clone(&slack));
    let (r, s) = n
        .handle(&awslogs("/ecs/a", &["ERROR a"]), deadline_in(30), NOW)
        .await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("gave up after 1 attempts"), "{e}");
    assert_eq!((s.messages_failed, slack.posts().len()), (1, 1));
}

/// Slack as it rate-limits: a 429 with Retry-After opens a window, and every post inside it is answered
/// 429 again with the time still to wait.
struct WindowedSlack {
    window: Duration,
    first_refused: Mutex<bool>,
    until: Mutex<Option<Instant>>,
    posts: Mutex<Vec<(Instant, u16)>>,
}

impl Slack for WindowedSlack {
    async fn post(&self, _: &Value) -> Result<Reply, CallError> {
        let now = Instant::now();
        let mut until = self.until.lock().unwrap();
        let mut first = self.first_refused.lock().unwrap();
        let wait = match *until {
            Some(t) if t > now => Some(t - now),
            _ if !*first => {
                *first = true;
                *until = Some(now + self.window);
                Some(self.window)
            }
            _ => None,
        };
        let status = if wait.is_some() { 429 } else { 200 };
        self.posts.lock().unwrap().push((now, status));
        Ok(Reply {
            status,
            body: if wait.is_some() {
                b"rate limited".to_vec()
            } else {
                b"ok".to_vec()
            },
            // Slack sends whole seconds, rounded up.
            retry_after: wait.map(|w| Duration::from_secs(w.as_millis().div_ceil(1000) as u64)),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn no_post_inside_a_retry_after_window_across_messages_and_invocations() {
    let root = tempdir();
    let store = DirStore::new(&root);
    let mut docs = String::new();
    for (i, group) in ["/ecs/a", "/ecs/b", "/ecs/c"].iter().enumerate() {
        docs.push_str(
            &json!({"@timestamp": format!("2025-11-21T10:00:0{i}.000Z"), "message": format!("ERROR in {group}"),
                "event": {"id": format!("id{i}")}, "log": {"group": group, "stream": "s1"}})
            .to_string(),
        );
        docs.push('\n');
    }
    logpipe_io::Store::put(
        &store,
        "logs",
        "app/x.gz",
        logcore::base::codec::gzip(docs.as_bytes(), 6),
    )
    .await
    .unwrap();
    let s3 = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "logs"}, "object": {"key": "app/x.gz", "size": 1}}}]});
    let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": s3.to_string()}}]});
    let slack = Arc::new(WindowedSlack {
        window: Duration::from_secs(20),
        first_refused: Mutex::new(false),
        until: Mutex::new(None),
        posts: Mutex::default(),
    });
    let n = Notifier::new(
        Config::new(SecretSource::Ssm("/t".into())),
        Arc::new(store),
        Arc::clone(&slack),
    );
    let start = Instant::now();
    // The first delivery and Lambda's two retries, each with 10 s to run: all inside the window.
    for attempt in 0..3 {
        let (r, s) = n.handle(&sns, deadline_in(10), NOW).await;
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("3 of 3 Slack messages not delivered"),
            "attempt {attempt}: {e}"
        );
        assert_eq!(s.messages_failed, 3, "attempt {attempt}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // One post in all: the one that opened the window. Nothing lost: the next delivery after it sends all.
    assert_eq!(slack.posts.lock().unwrap().len(), 1);
    tokio::time::sleep_until(start + Duration::from_secs(20)).await;
    let (r, s) = n.handle(&sns, deadline_in(60), NOW).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(s.messages_sent, 3);
    let posts = slack.posts.lock().unwrap().clone();
    assert_eq!(posts.iter().filter(|p| p.1 == 429).count(), 1, "{posts:?}");
    assert!(posts[1..]
        .iter()
        .all(|p| p.0 >= start + Duration::from_secs(20)));
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_hanging_slack_times_out_and_is_retried() {
    struct Hang(Mutex<u32>);
    impl Slack for Hang {
        async fn post(&self, _: &Value) -> Result<Reply, CallError> {
            let first = {
                let mut n = self.0.lock().unwrap();
                *n += 1;
                *n == 1
            };
            if first {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            reply(200, "ok", None)
        }
    }
    let slack = Arc::new(Hang(Mutex::new(0)));
    let n = Notifier::new(
        Config::new(SecretSource::Ssm("/t".into())),
        Arc::new(MemStore::default()),
        Arc::clone(&slack),
    );
    let (r, s) = n
        .handle(&awslogs("/ecs/a", &["ERROR a"]), later(), NOW)
        .await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!((s.slack_retries, *slack.0.lock().unwrap()), (1, 2));
}

#[test]
fn replies_are_classified() {
    let r = |status, body: &str| Reply {
        status,
        body: body.as_bytes().to_vec(),
        retry_after: None,
    };
    assert_eq!(classify(&r(200, "ok")), Verdict::Delivered);
    assert_eq!(
        classify(&r(200, r#"{"ok":true,"ts":"1.2"}"#)),
        Verdict::Delivered
    );
    assert!(matches!(
        classify(&r(200, r#"{"ok":false,"error":"channel_not_found"}"#)),
        Verdict::Permanent(e) if e.contains("channel_not_found")
    ));
    assert!(matches!(
        classify(&r(200, r#"{"ok":false,"error":"ratelimited"}"#)),
        Verdict::Retry(..)
    ));
    assert!(matches!(classify(&r(429, "")), Verdict::Retry(..)));
    assert!(matches!(classify(&r(500, "x")), Verdict::Retry(..)));
    for (s, w) in [
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (404, "no_service"),
        (410, "channel_is_archived"),
    ] {
        assert!(
            matches!(classify(&r(s, w)), Verdict::Permanent(e) if e.contains(w)),
            "{s}"
        );
    }
}

#[tokio::test]
async fn control_messages_and_quiet_logs_send_nothing() {
    let slack = FakeSlack::scripted(vec![]);
    let n = notifier(Arc::clone(&slack));
    let control = json!({"awslogs": {"data": synth::record_data(&synth::control_payload())}});
    let (r, s) = n.handle(&control, later(), NOW).await;
    assert!(r.is_ok());
    assert_eq!(s.control_messages, 1);
    let (r, s) = n
        .handle(
            &awslogs("/ecs/a", &["INFO fine", "GET /health 200"]),
            later(),
            NOW,
        )
        .await;
    assert!(r.is_ok());
    assert_eq!((s.below_level, s.no_match, s.alerts), (1, 1, 0));
    assert!(slack.posts().is_empty());
}

#[tokio::test]
async fn unreadable_input_fails_with_its_reason() {
    let n = notifier(FakeSlack::scripted(vec![]));
    let (r, _) = n
        .handle(&json!({"awslogs": {"data": "not base64!"}}), later(), NOW)
        .await;
    assert!(r.unwrap_err().to_string().contains("awslogs.data"));
    let (r, _) = n.handle(&json!({"hello": 1}), later(), NOW).await;
    assert!(r.unwrap_err().to_string().contains("unreadable event"));
}

/// The SNS fan-out of a new S3 object: the object's documents are read and the errors alerted, grouped by
/// the log group the documents name; a missing object is counted, not failed.
#[tokio::test]
async fn s3_objects_from_the_sns_fan_out() {
    let root = tempdir();
    let store = DirStore::new(&root);
    let mut docs = String::new();
    for (i, (group, msg)) in [
        ("/ecs/api", "ERROR db down"),
        ("/ecs/api", "INFO ok"),
        (
            "/aws/lambda/checkout",
            r#"{"level":"fatal","msg":"out of memory"}"#,
        ),
    ]
    .iter()
    .enumerate()
    {
        docs.push_str(
            &json!({"@timestamp": format!("2025-11-21T10:00:0{i}.000Z"), "message": msg,
                "event": {"id": format!("id{i}")}, "log": {"group": group, "stream": "s1"},
                "cloud": {"account": {"id": "123456789012"}, "region": "eu-west-1"}})
            .to_string(),
        );
        docs.push('\n');
    }
    docs.push_str("plain text line with an Exception in it\n");
    logpipe_io::Store::put(
        &store,
        "logs",
        "app/2025/11/21/x.gz",
        logcore::base::codec::gzip(docs.as_bytes(), 6),
    )
    .await
    .unwrap();
    let s3 = |key: &str| {
        json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "awsRegion": "eu-west-1",
            "s3": {"bucket": {"name": "logs"}, "object": {"key": key, "size": 1}}}]})
    };
    let sns = json!({"Records": [
        {"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": s3("app/2025/11/21/x.gz").to_string()}},
        {"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": s3("app/gone.gz").to_string()}}
    ]});
    let slack = FakeSlack::scripted(vec![]);
    let mut cfg = Config::new(SecretSource::Ssm("/t".into()));
    cfg.min_interval = Duration::ZERO;
    let n = notifier_with(cfg, Arc::clone(&slack), store);
    let (r, s) = n.handle(&sns, later(), NOW).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(
        (s.objects, s.objects_missing, s.events, s.alerts),
        (2, 1, 4, 3)
    );
    let posts = slack.posts();
    let headers: Vec<&str> = posts
        .iter()
        .map(|(_, m)| m["blocks"][0]["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        headers,
        [
            "1 error in /ecs/api at once",
            "1 error in /aws/lambda/checkout at once",
            "1 error in app/2025/11/21/x.gz at once"
        ]
    );
    let first = posts[0].1["blocks"][2]["text"]["text"].as_str().unwrap();
    assert!(first.contains("2025-11-21 10:00:00.000 UTC"), "{first}");
    assert!(
        first.contains("eu-west-1.console.aws.amazon.com"),
        "{first}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test]
async fn an_unreadable_object_fails_the_invocation() {
    let root = tempdir();
    let store = DirStore::new(&root);
    logpipe_io::Store::put(&store, "logs", "bad.gz", vec![0x1f, 0x8b, 8, 0, 1, 2, 3])
        .await
        .unwrap();
    let n = notifier_with(
        Config::new(SecretSource::Ssm("/t".into())),
        FakeSlack::scripted(vec![]),
        store,
    );
    let ev = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "logs"}, "object": {"key": "bad.gz"}}}]});
    let (r, s) = n.handle(&ev, later(), NOW).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("s3://logs/bad.gz"), "{e}");
    assert_eq!(s.objects_failed, 1);
    std::fs::remove_dir_all(root).unwrap();
}

fn alarm_event(state: &str, description: &str) -> Value {
    let message = json!({
        "AlarmName": "logpipe-prod-alert-checkout-errors@/ecs/checkout-api",
        "AlarmDescription": description,
        "AWSAccountId": "123456789012",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [14.0 (02/12/26 10:00:00)] was greater than or equal to the threshold (10.0).",
        "StateChangeTime": "2026-12-02T10:05:00.000+0000",
        "Region": "EU - Ireland",
        "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:logpipe-prod-alert-checkout-errors@/ecs/checkout-api",
        "OldStateValue": "OK",
        "Trigger": {"MetricName": "checkout-errors@/ecs/checkout-api", "Namespace": "logpipe/alerts",
            "Statistic": "SUM", "Dimensions": [], "Period": 300, "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 10.0}
    });
    json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
        "Sns": {"Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:123456789012:logpipe-prod-alarms",
            "Subject": format!("{state}: \"checkout-errors\" in EU - Ireland"), "Message": message.to_string(),
            "Timestamp": "2026-12-02T10:05:00.100Z"}}]})
}

#[tokio::test]
async fn an_alarm_of_a_rule_posts_with_the_rules_mention_and_its_recovery_without() {
    let rules = r#"[{"name":"checkout-errors","kind":"threshold","log_groups":["/ecs/checkout*"],"count":10,"minutes":5,"mention":["<!subteam^S0ONCALL>"]}]"#;
    let cfg = Config::from_env(logcore::base::env::pairs(&[
        ("SLACK_SSM_PARAMETER", "/t"),
        ("ALERT_RULES", rules),
    ]))
    .unwrap();
    let watches = cfg.rules.watches.clone();
    let naming = logcore::alert::watch::Naming {
        prefix: "logpipe-prod-alert-".into(),
        namespace: "logpipe/alerts".into(),
        actions: Vec::new(),
    };
    let alarm =
        &logcore::alert::watch::desired(&watches, &["/ecs/checkout-api".into()], &naming).alarms[0];
    let slack = FakeSlack::scripted(vec![]);
    let n = notifier_with(cfg, Arc::clone(&slack), MemStore::default());
    let (r, s) = n
        .handle(&alarm_event("ALARM", &alarm.description), later(), NOW)
        .await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!((s.alarm_changes, s.messages_sent, s.events), (1, 1, 0));
    let (r, _) = n
        .handle(&alarm_event("OK", &alarm.description), later(), NOW)
        .await;
    assert!(r.is_ok());
    let posts = slack.posts();
    let first = posts[0].1.to_string();
    assert!(
        first.contains("<!subteam^S0ONCALL>") && first.contains("*14* matching events in 5 min"),
        "{first}"
    );
    assert!(first.contains("logs-insights"), "{first}");
    let second = posts[1].1.to_string();
    assert!(
        second.contains("OK — checkout-errors") && !second.contains("subteam"),
        "{second}"
    );
}

#[tokio::test]
async fn an_undelivered_alarm_change_fails_the_invocation_and_a_foreign_alarm_cannot_mention() {
    let slack = FakeSlack::scripted(vec![reply(404, "channel_not_found", None)]);
    let n = notifier(Arc::clone(&slack));
    let (r, s) = n
        .handle(
            &alarm_event("ALARM", "Dead letters <!channel>"),
            later(),
            NOW,
        )
        .await;
    assert!(r
        .unwrap_err()
        .0
        .contains("1 of 1 alarm change messages not delivered"));
    assert_eq!((s.messages_failed, s.alarm_changes), (1, 0));
    let (r, _) = n
        .handle(
            &alarm_event("ALARM", "Dead letters <!channel>"),
            later(),
            NOW,
        )
        .await;
    assert!(r.is_ok());
    let text = slack.posts()[1].1.to_string();
    assert!(
        !text.contains("<!channel>") && text.contains("&lt;!channel&gt;"),
        "{text}"
    );
}
