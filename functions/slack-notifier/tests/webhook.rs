//! The notifier end to end through its real I/O: the webhook URL (or bot token) read from Secrets Manager
//! and SSM on moto, posts over HTTP to a local server standing in for Slack that answers from a script
//! (429 with Retry-After, 500, answers slower than the timeout, permanent errors), and objects from moto S3.
//! Each test asserts exactly which messages arrived, in which order, and what the invocation answered.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use test_support as support;

use std::sync::Arc;
use std::time::Duration;

use logpipe_io::lambda::Deadline;
use logpipe_io::store::S3Store;
use serde_json::{json, Value};
use slack_notifier::aws::{load_destinations, load_target, HttpSlack};
use slack_notifier::config::SecretSource;
use slack_notifier::{Config, Notifier};
use test_support::slack_server::{ok, Answer, Received, SlackServer};

fn awslogs(group: &str, messages: &[&str]) -> Value {
    let events: Vec<logcore::synth::Event> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| logcore::synth::Event {
            id: logcore::synth::event_id(1_763_719_200_000, i as u64),
            timestamp: 1_763_719_200_000 + i as i64,
            message: m.to_string(),
        })
        .collect();
    let p = logcore::synth::data_payload(group, "web/1", &events);
    json!({"awslogs": {"data": logcore::synth::record_data(&p)}})
}

fn header(r: &Received) -> String {
    r.body["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// A notifier whose webhook URL is a Secrets Manager secret on moto.
async fn notifier_via_secret(
    moto: &str,
    slack_url: &str,
    mut cfg: Config,
) -> Notifier<S3Store, HttpSlack> {
    let sdk = support::sdk_config(moto).await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = support::unique("slack");
    let arn = sm
        .create_secret()
        .name(&name)
        .secret_string(
            json!({"webhook_url": format!("{slack_url}/services/T0/B0/xyz")}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    cfg.secret = SecretSource::SecretsManager(arn);
    let target = load_target(&cfg, &sdk).await.unwrap();
    let slack = Arc::new(HttpSlack::new(target, cfg.request_timeout).unwrap());
    Notifier::new(cfg, Arc::new(S3Store::new(&sdk, true)), slack)
}

fn fast_config() -> Config {
    let mut cfg = Config::new(SecretSource::Ssm("unused".into()));
    cfg.min_interval = Duration::from_millis(50);
    cfg.request_timeout = Duration::from_millis(700);
    cfg.backoff.base = Duration::from_millis(20);
    cfg.common.deadline_margin = Duration::from_millis(100);
    cfg
}

/// An invocation ending `secs` from now, with the margin of [`fast_config`].
fn deadline(secs: u64) -> Deadline {
    Deadline::after(Duration::from_secs(secs), Duration::from_millis(100))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_and_messages_arrive_once_in_order() {
    let Some(moto) = support::moto_url() else {
        return;
    };
    // Group a: 429 with Retry-After 1 s, then taken. Group b: 500, then an answer slower than the timeout,
    // then taken. Group c: taken at once.
    let slack = SlackServer::start(vec![
        Answer(429, Some(1), "rate limited", Duration::ZERO),
        ok(),
        Answer(500, None, "oops", Duration::ZERO),
        Answer(200, None, "ok", Duration::from_secs(3)),
        ok(),
        ok(),
    ])
    .await;
    let n = notifier_via_secret(&moto, &slack.url, fast_config()).await;
    let mut results = Vec::new();
    let started = std::time::Instant::now();
    for group in ["/ecs/a", "/ecs/b", "/ecs/c"] {
        let ev = awslogs(group, &["ERROR <!channel> it broke @here", "INFO fine"]);
        let (r, s) = n
            .handle(&ev, deadline(30), logcore::base::time::now_ms())
            .await;
        results.push((r.is_ok(), s.messages_sent, s.slack_retries));
    }
    assert_eq!(results, [(true, 1, 1), (true, 1, 2), (true, 1, 0)]);
    let got = slack.received();
    let seen: Vec<(String, u16)> = got.iter().map(|r| (header(r), r.status)).collect();
    assert_eq!(
        seen,
        [
            ("1 error in /ecs/a at once".to_string(), 429),
            ("1 error in /ecs/a at once".to_string(), 200),
            ("1 error in /ecs/b at once".to_string(), 500),
            ("1 error in /ecs/b at once".to_string(), 200), // answered too late: timed out
            ("1 error in /ecs/b at once".to_string(), 200),
            ("1 error in /ecs/c at once".to_string(), 200),
        ]
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert!(got.iter().all(|r| r.path == "/services/T0/B0/xyz"));
    // The log text reached Slack escaped: no mention, no broadcast.
    let text = got[0].body["blocks"][2]["text"]["text"].as_str().unwrap();
    assert!(
        text.contains("&lt;!channel&gt;") && text.contains("@\u{2060}here"),
        "{text}"
    );
    assert_eq!(got[0].body["unfurl_links"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_fail_the_invocation_without_retrying() {
    let Some(moto) = support::moto_url() else {
        return;
    };
    let slack = SlackServer::start(vec![
        Answer(400, None, "invalid_payload", Duration::ZERO),
        Answer(404, None, "no_service", Duration::ZERO),
    ])
    .await;
    let n = notifier_via_secret(&moto, &slack.url, fast_config()).await;
    let (r, s) = n
        .handle(&awslogs("/ecs/a", &["ERROR x"]), deadline(30), 0)
        .await;
    assert!(r.unwrap_err().to_string().contains("invalid_payload"));
    assert_eq!((s.messages_failed, s.slack_retries), (1, 0));
    let (r, _) = n
        .handle(&awslogs("/ecs/b", &["ERROR y"]), deadline(30), 0)
        .await;
    assert!(r.unwrap_err().to_string().contains("404 no_service"));
    // Slack keeps answering errors: retries until the deadline, then the invocation fails (and Lambda keeps it).
    let storm = SlackServer::start(vec![Answer(500, None, "oops", Duration::ZERO); 1000]).await;
    let n = notifier_via_secret(&moto, &storm.url, fast_config()).await;
    let (r, s) = n
        .handle(&awslogs("/ecs/c", &["ERROR z"]), deadline(3), 0)
        .await;
    assert!(r.unwrap_err().to_string().contains("gave up"));
    assert!(s.slack_retries >= 1);
    assert_eq!(slack.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_token_from_ssm_posts_to_chat_post_message() {
    let Some(moto) = support::moto_url() else {
        return;
    };
    let slack = SlackServer::start(vec![
        Answer(
            200,
            None,
            r#"{"ok":false,"error":"ratelimited"}"#,
            Duration::ZERO,
        ),
        Answer(200, None, r#"{"ok":true,"ts":"1.2"}"#, Duration::ZERO),
        Answer(
            200,
            None,
            r#"{"ok":false,"error":"channel_not_found"}"#,
            Duration::ZERO,
        ),
    ])
    .await;
    let sdk = support::sdk_config(&moto).await;
    let name = format!("/logpipe/{}", support::unique("slack"));
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name(&name)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(r#"{"bot_token":"xoxb-test","channel":"C0123"}"#)
        .send()
        .await
        .unwrap();
    let mut cfg = fast_config();
    cfg.secret = SecretSource::Ssm(name);
    cfg.api_url = format!("{}/api/chat.postMessage", slack.url);
    let target = load_target(&cfg, &sdk).await.unwrap();
    let n = Notifier::new(
        cfg.clone(),
        Arc::new(S3Store::new(&sdk, true)),
        Arc::new(HttpSlack::new(target, cfg.request_timeout).unwrap()),
    );
    let (r, _) = n
        .handle(&awslogs("/ecs/a", &["ERROR x"]), deadline(30), 0)
        .await;
    assert!(r.is_ok(), "{r:?}");
    let (r, _) = n
        .handle(&awslogs("/ecs/b", &["ERROR y"]), deadline(30), 0)
        .await;
    assert!(r.unwrap_err().to_string().contains("channel_not_found"));
    let got = slack.received();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.path == "/api/chat.postMessage"
        && r.auth.as_deref() == Some("Bearer xoxb-test")
        && r.body["channel"] == "C0123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_is_a_clear_cold_start_error() {
    let Some(moto) = support::moto_url() else {
        return;
    };
    let sdk = support::sdk_config(&moto).await;
    let mut cfg = fast_config();
    cfg.secret = SecretSource::SecretsManager("logpipe-no-such-secret".into());
    let e = load_target(&cfg, &sdk).await.unwrap_err();
    assert!(
        e.message.contains("logpipe-no-such-secret") && e.message.contains("GetSecretValue"),
        "{e}"
    );
}

/// The SNS fan-out of a new object in moto S3: its error documents are alerted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_in_a_new_s3_object_are_alerted() {
    let Some(moto) = support::moto_url() else {
        return;
    };
    let sdk = support::sdk_config(&moto).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = support::unique("alerts");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let mut body = String::new();
    for i in 0..50 {
        let level = if i % 10 == 0 { "ERROR" } else { "INFO" };
        body.push_str(
            &json!({"@timestamp": "2025-11-21T10:00:00.000Z", "message": format!("{level} step {i} of job {}", i / 10),
                "log": {"group": "/ecs/jobs", "stream": "w1"}})
            .to_string(),
        );
        body.push('\n');
    }
    let key = "app-logs/2025/11/21/10/part 1.gz";
    s3.put_object()
        .bucket(&bucket)
        .key(key)
        .body(logcore::base::codec::gzip(body.as_bytes(), 6).into())
        .send()
        .await
        .unwrap();
    let s3_event = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": "app-logs/2025/11/21/10/part+1.gz"}}}]});
    let sns = json!({"Records": [{"EventSource": "aws:sns",
        "Sns": {"Type": "Notification", "Message": s3_event.to_string()}}]});
    let slack = SlackServer::start(vec![]).await;
    let n = notifier_via_secret(&moto, &slack.url, fast_config()).await;
    let (r, s) = n.handle(&sns, deadline(30), 0).await;
    assert!(r.is_ok(), "{r:?}");
    // Five errors, all the same message but for numbers: one alert, four repeats counted.
    assert_eq!(
        (s.events, s.alerts, s.suppressed, s.messages_sent),
        (50, 5, 4, 1)
    );
    let got = slack.received();
    assert_eq!(got.len(), 1);
    assert_eq!(header(&got[0]), "1 error in /ecs/jobs at once");
}

/// Named destinations read from their secrets on moto (a bot token in Secrets Manager, a webhook in an SSM
/// SecureString), posted to by the rule that routes to them; a destination whose secret is missing stops
/// the cold start with its name and the secret's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_destinations_come_from_their_secrets_and_get_their_rules_messages() {
    let Some(moto) = support::moto_url() else {
        return;
    };
    let sdk = support::sdk_config(&moto).await;
    let slack = SlackServer::start(vec![]).await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let oncall = sm
        .create_secret()
        .name(support::unique("logpipe/t/slack/oncall"))
        .secret_string(json!({"bot_token": "xoxb-oncall", "channel": "#oncall"}).to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let param = format!("/{}", support::unique("logpipe/t/slack/payments"));
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name(&param)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(format!("{}/services/T0/B0/payments", slack.url))
        .send()
        .await
        .unwrap();
    let rules = r#"[{"log_groups": ["/ecs/pay*"], "destinations": ["payments"]},
        {"log_groups": ["/ecs/core*"], "destinations": ["oncall"], "mention": ["<!subteam^S0ONCALL>"]}]"#;
    let destinations = json!({"payments": param, "oncall": oncall}).to_string();
    let mut cfg = Config::from_env(|k| match k {
        "SLACK_SSM_PARAMETER" => Some("/unused".into()),
        "ALERT_RULES" => Some(rules.into()),
        "SLACK_DESTINATIONS" => Some(destinations.clone()),
        _ => None,
    })
    .unwrap();
    cfg.api_url = format!("{}/api/chat.postMessage", slack.url);
    cfg.min_interval = Duration::from_millis(10);
    let named = load_destinations(&cfg, &sdk).await.unwrap();
    assert_eq!(named.len(), 2);
    let default = Arc::new(
        HttpSlack::new(
            slack_notifier::Target::Webhook {
                url: format!("{}/services/T0/B0/default", slack.url),
            },
            Duration::from_secs(5),
        )
        .unwrap(),
    );
    let timeout = cfg.request_timeout;
    let mut n = Notifier::new(cfg.clone(), Arc::new(S3Store::new(&sdk, true)), default);
    for (name, target) in named {
        n = n.with_destination(&name, Arc::new(HttpSlack::new(target, timeout).unwrap()));
    }
    for group in ["/ecs/pay-api", "/ecs/core-db", "/ecs/web"] {
        let (r, _) = n
            .handle(&awslogs(group, &["ERROR down"]), deadline(30), 0)
            .await;
        r.unwrap();
    }
    let got = slack.received();
    let at: Vec<(&str, &str)> = got
        .iter()
        .map(|r| (r.path.as_str(), r.body["text"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(at.len(), 3, "{at:?}");
    assert_eq!(at[0].0, "/services/T0/B0/payments");
    assert!(at[0].1.contains("/ecs/pay-api"));
    assert_eq!(at[1].0, "/api/chat.postMessage");
    assert_eq!(got[1].auth.as_deref(), Some("Bearer xoxb-oncall"));
    assert_eq!(got[1].body["channel"], "#oncall");
    assert!(
        at[1]
            .1
            .starts_with("<!subteam^S0ONCALL> 1 error in /ecs/core-db"),
        "{}",
        at[1].1
    );
    assert_eq!(at[2].0, "/services/T0/B0/default");

    let mut missing = cfg.clone();
    missing.destinations[0].1 = SecretSource::SecretsManager("logpipe-no-such-oncall".into());
    let e = load_destinations(&missing, &sdk).await.unwrap_err();
    assert!(
        e.message.contains("destination \"oncall\"")
            && e.message.contains("logpipe-no-such-oncall"),
        "{e}"
    );
}
