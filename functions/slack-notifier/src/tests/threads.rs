//! An alarm's recovery in the thread its ALARM message opened: `chat.postMessage` answers the channel and
//! `ts` of the message; a webhook answers `ok` and opens no thread.

use super::shared::{container, Shared};
use super::*;
use crate::memory::{LocalTable, Thread};

/// `chat.postMessage`'s answer to a message posted to `#alerts`: the channel's id and the message's ts.
fn posted(ts: &str) -> Result<Reply, CallError> {
    reply(
        200,
        &json!({"ok": true, "channel": "C0ALERTS01", "ts": ts,
            "message": {"type": "message", "subtype": "bot_message", "text": "…", "ts": ts}})
        .to_string(),
        None,
    )
}

/// A container on the shared table whose Slack answers from `replies`.
fn bot(table: &LocalTable, replies: Vec<Result<Reply, CallError>>) -> (Shared, Arc<FakeSlack>) {
    let (n, slack) = container(table, Duration::ZERO);
    *slack.script.lock().unwrap() = replies.into();
    (n, slack)
}

#[tokio::test]
async fn a_recovery_goes_to_the_alarms_thread_whichever_container_gets_it() {
    let table = LocalTable::default();
    let (a, slack_a) = bot(&table, vec![posted("1763719500.000100")]);
    let (r, s) = a
        .handle_as("req-1", &alarm_event("ALARM", "Dead letters"), later(), NOW)
        .await;
    r.unwrap();
    assert_eq!((s.alarm_changes, s.threaded), (1, 0));
    assert!(
        slack_a.posts()[0].1.get("thread_ts").is_none(),
        "an ALARM starts its own message"
    );

    // The recovery arrives at another container (a cold start) an hour later.
    let (b, slack_b) = bot(&table, vec![posted("1763723100.000200")]);
    let (r, s) = b
        .handle_as(
            "req-2",
            &alarm_event("OK", "Dead letters"),
            later(),
            NOW + 3_600_000,
        )
        .await;
    r.unwrap();
    assert_eq!((s.alarm_changes, s.threaded), (1, 1));
    let ok = &slack_b.posts()[0].1;
    assert_eq!(ok["thread_ts"], "1763719500.000100");
    // Posted to the channel id Slack answered with, not to the configured name.
    assert_eq!(ok["channel"], "C0ALERTS01");
    assert!(ok.to_string().contains("OK"));

    // The next ALARM opens a new thread, and its recovery goes there.
    *slack_a.script.lock().unwrap() = vec![posted("1763726700.000300")].into();
    a.handle_as(
        "req-3",
        &alarm_event("ALARM", "Dead letters"),
        later(),
        NOW + 7_200_000,
    )
    .await
    .0
    .unwrap();
    let (c, slack_c) = bot(&table, vec![]);
    c.handle_as(
        "req-4",
        &alarm_event("OK", "Dead letters"),
        later(),
        NOW + 7_300_000,
    )
    .await
    .0
    .unwrap();
    assert_eq!(slack_c.posts()[0].1["thread_ts"], "1763726700.000300");
}

#[tokio::test]
async fn a_webhook_opens_no_thread_and_an_old_thread_is_not_reused() {
    let table = LocalTable::default();
    let (n, slack) = bot(&table, vec![]);
    n.handle_as("req-1", &alarm_event("ALARM", "Dead letters"), later(), NOW)
        .await
        .0
        .unwrap();
    let (_, s) = n
        .handle_as("req-2", &alarm_event("OK", "Dead letters"), later(), NOW)
        .await;
    assert_eq!(s.threaded, 0);
    assert!(slack.posts()[1].1.get("thread_ts").is_none());

    // A thread older than what is kept (14 days) is not replied to.
    let key = crate::memory::thread_key(
        "default",
        "logpipe-prod-alert-checkout-errors@/ecs/checkout-api",
    );
    let old = Thread {
        channel: "C0ALERTS01".into(),
        ts: "1700000000.000001".into(),
    };
    table.remember_thread(&key, &old, NOW - 1).await.unwrap();
    let (_, s) = n
        .handle_as("req-3", &alarm_event("OK", "Dead letters"), later(), NOW)
        .await;
    assert_eq!(s.threaded, 0);
}

#[tokio::test]
async fn without_a_table_the_container_threads_what_it_posted() {
    let slack = FakeSlack::scripted(vec![posted("1763719500.000100")]);
    let n = notifier_with(
        Config::new(SecretSource::Ssm("/test".into())),
        Arc::clone(&slack),
        MemStore::default(),
    );
    n.handle(&alarm_event("ALARM", "Dead letters"), later(), NOW)
        .await
        .0
        .unwrap();
    let (_, s) = n
        .handle(&alarm_event("OK", "Dead letters"), later(), NOW + 1000)
        .await;
    assert_eq!(s.threaded, 1);
    assert_eq!(slack.posts()[1].1["thread_ts"], "1763719500.000100");
}
