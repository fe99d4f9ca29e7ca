//! Several destinations: the rules route each log group's messages, mentions come from configuration (the
//! rule's, the levels'), and each destination keeps its own repeats, pace and Retry-After windows.

use super::*;
use logcore::alert::slack::validate_mentioning;

const RULES: &str = r#"[
  {"log_groups": ["/ecs/pay*"], "destinations": ["payments", "default"], "mention": ["<@U0PAYLEAD>"]},
  {"name": "pay-silent", "kind": "absence", "log_groups": ["/ecs/pay-api"], "minutes": 30,
   "destinations": ["oncall"], "mention": ["<!subteam^S0ONCALL>"]}
]"#;

struct Routed {
    n: Notifier<MemStore, FakeSlack>,
    default: Arc<FakeSlack>,
    payments: Arc<FakeSlack>,
    oncall: Arc<FakeSlack>,
}

fn routed(payments_script: Vec<Result<Reply, CallError>>) -> Routed {
    let cfg = Config::from_env(logcore::base::env::pairs(&[
        ("SLACK_SSM_PARAMETER", "/t"),
        ("ALERT_RULES", RULES),
        (
            "SLACK_DESTINATIONS",
            r#"{"payments": "/logpipe/t/slack/payments", "oncall": "/logpipe/t/slack/oncall"}"#,
        ),
        ("ALERT_MENTIONS", r#"{"FATAL": ["<!here>"]}"#),
    ]))
    .unwrap();
    let (default, payments, oncall) = (
        FakeSlack::scripted(vec![]),
        FakeSlack::scripted(payments_script),
        FakeSlack::scripted(vec![]),
    );
    let n = notifier_with(cfg, Arc::clone(&default), MemStore::default())
        .with_destination("payments", Arc::clone(&payments))
        .with_destination("oncall", Arc::clone(&oncall));
    Routed {
        n,
        default,
        payments,
        oncall,
    }
}

fn texts(s: &FakeSlack) -> Vec<String> {
    s.posts()
        .iter()
        .map(|(_, m)| m["text"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn messages_go_where_their_rule_routes_them_with_configured_mentions_only() {
    let r = routed(vec![]);
    let (res, s) =
        r.n.handle(
            &awslogs("/ecs/pay-api", &["FATAL card vault down <!channel>"]),
            later(),
            NOW,
        )
        .await;
    res.unwrap();
    r.n.handle(
        &awslogs("/ecs/web", &["ERROR template missing"]),
        later(),
        NOW,
    )
    .await
    .0
    .unwrap();
    assert_eq!(s.messages_sent, 2, "one message per destination");
    let pay = texts(&r.payments);
    let default = texts(&r.default);
    assert_eq!(pay.len(), 1);
    assert_eq!(default.len(), 2);
    assert!(r.oncall.posts().is_empty());
    // The rule's mention and the FATAL level's, first in the notification text.
    assert!(
        pay[0].starts_with("<@U0PAYLEAD> <!here> 1 error in /ecs/pay-api"),
        "{}",
        pay[0]
    );
    assert!(
        default[0].starts_with("<@U0PAYLEAD> <!here> "),
        "{}",
        default[0]
    );
    // The web group has neither a rule mention nor a mentioned level.
    assert!(
        default[1].starts_with("1 error in /ecs/web"),
        "{}",
        default[1]
    );
    let who = ["<@U0PAYLEAD>".to_string(), "<!here>".to_string()];
    for (_, m) in r.payments.posts().iter().chain(r.default.posts().iter()) {
        // Only the configured mentions stand as <…>: the log's <!channel> stays text.
        assert_eq!(validate_mentioning(m, &who), Ok(()), "{m}");
    }
}

#[tokio::test]
async fn each_destination_keeps_its_own_repeats_and_a_failed_one_alone_is_retried() {
    let r = routed(vec![reply(404, "channel_not_found", None)]);
    let ev = awslogs("/ecs/pay-api", &["ERROR charge 1042 declined"]);
    let (res, s) = r.n.handle_as("req-1", &ev, later(), NOW).await;
    let e = res.unwrap_err().0;
    assert!(
        e.contains("1 of 2 Slack messages not delivered") && e.contains("to payments"),
        "{e}"
    );
    assert_eq!((s.messages_sent, s.messages_failed), (1, 1));
    // Lambda's retry: the default destination has it already (a repeat there), payments gets it now.
    let (res, s) = r.n.handle_as("req-1", &ev, later(), NOW + 60_000).await;
    res.unwrap();
    assert_eq!((s.messages_sent, s.suppressed, s.alerts), (1, 1, 2));
    assert_eq!(r.default.posts().len(), 1);
    assert_eq!(r.payments.posts().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_of_one_destination_does_not_hold_the_others() {
    let r = routed(vec![reply(429, "rate_limited", Some(20))]);
    let started = Instant::now();
    let deadline = Deadline::new(started + Duration::from_secs(120), Duration::from_secs(2));
    let (res, s) =
        r.n.handle(&awslogs("/ecs/pay-api", &["ERROR a"]), deadline, NOW)
            .await;
    res.unwrap();
    assert_eq!(s.slack_retries, 1);
    let pay = r.payments.posts();
    assert_eq!(pay.len(), 2);
    assert!(
        pay[1].0 - pay[0].0 >= Duration::from_secs(20),
        "Retry-After honoured"
    );
    // The default destination posted at once, before payments' window ended, and keeps its own pace.
    let default = r.default.posts();
    assert_eq!(default.len(), 1);
    assert!(
        default[0].0 - started < Duration::from_secs(2),
        "{:?}",
        default[0].0 - started
    );
    r.n.handle(&awslogs("/ecs/web", &["ERROR b"]), deadline, NOW)
        .await
        .0
        .unwrap();
    assert_eq!(r.default.posts().len(), 2);
}

#[tokio::test]
async fn a_rules_alarm_goes_to_the_rules_destinations_and_others_to_the_default() {
    let r = routed(vec![]);
    let watches = r.n.cfg.rules.watches.clone();
    let naming = logcore::alert::watch::Naming {
        prefix: "logpipe-prod-alert-".into(),
        namespace: "logpipe/alerts".into(),
        actions: Vec::new(),
    };
    let alarm =
        &logcore::alert::watch::desired(&watches, &["/ecs/pay-api".into()], &naming).alarms[0];
    let (res, s) =
        r.n.handle(&alarm_event("ALARM", &alarm.description), later(), NOW)
            .await;
    res.unwrap();
    assert_eq!(s.alarm_changes, 1);
    let oncall = r.oncall.posts();
    assert_eq!(oncall.len(), 1);
    assert!(oncall[0].1.to_string().contains("<!subteam^S0ONCALL>"));
    assert!(r.default.posts().is_empty() && r.payments.posts().is_empty());
    // logpipe's own alarm (no rule): the default destination.
    r.n.handle(&alarm_event("ALARM", "Dead letters"), later(), NOW)
        .await
        .0
        .unwrap();
    assert_eq!(r.default.posts().len(), 1);
    assert_eq!(r.oncall.posts().len(), 1);
}
