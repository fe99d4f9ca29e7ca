//! Repeat suppression shared by containers: several notifiers on one table (`LocalTable`, DynamoDB's
//! conditions in memory; the same against DynamoDB on moto is `tests/moto_suppression.rs`).

use super::*;
use crate::memory::{key, Claim, Entry, LocalTable, Thread};

pub(super) type Shared = Notifier<MemStore, FakeSlack, LocalTable>;

/// A container: its own Slack (answering after `delay`), its own memory, the shared table.
pub(super) fn container(table: &LocalTable, delay: Duration) -> (Shared, Arc<FakeSlack>) {
    let slack = Arc::new(FakeSlack {
        delay,
        ..FakeSlack::default()
    });
    let cfg = Config::new(SecretSource::Ssm("/test".into()));
    let n = Notifier::with_memory(
        cfg,
        Arc::new(MemStore::default()),
        Arc::clone(&slack),
        table.clone(),
    );
    (n, slack)
}

fn fp_of(group: &str, message: &str) -> String {
    key(fingerprint(group, message))
}

#[tokio::test(start_paused = true)]
async fn two_containers_racing_on_one_fingerprint_post_once() {
    let table = LocalTable::default();
    // Slack takes a second to answer: the second container claims while the first is still posting.
    let (a, slack_a) = container(&table, Duration::from_secs(1));
    let (b, slack_b) = container(&table, Duration::from_secs(1));
    let ev = awslogs("/ecs/api", &["ERROR payment 1042 declined"]);
    let ((ra, sa), (rb, sb)) = tokio::join!(
        a.handle_as("req-a", &ev, later(), NOW),
        b.handle_as("req-b", &ev, later(), NOW)
    );
    ra.unwrap();
    rb.unwrap();
    assert_eq!(slack_a.posts().len() + slack_b.posts().len(), 1);
    let (poster, other) = if slack_a.posts().is_empty() {
        (sb, sa)
    } else {
        (sa, sb)
    };
    assert_eq!((poster.messages_sent, poster.claimed_elsewhere), (1, 0));
    assert_eq!(
        (
            other.messages_sent,
            other.claimed_elsewhere,
            other.suppressed,
            other.alerts
        ),
        (0, 1, 1, 1)
    );
    let e = table
        .entry(&fp_of("/ecs/api", "ERROR payment 1042 declined"))
        .unwrap();
    assert!(e.sent);
    assert_eq!(e.until_ms, NOW + 600_000, "confirmed for the window");
}

#[tokio::test]
async fn a_cold_start_inside_the_window_posts_nothing() {
    let table = LocalTable::default();
    let (a, slack_a) = container(&table, Duration::ZERO);
    a.handle_as(
        "req-a",
        &awslogs("/ecs/api", &["ERROR disk full on 10.0.0.7"]),
        later(),
        NOW,
    )
    .await
    .0
    .unwrap();
    assert_eq!(slack_a.posts().len(), 1);
    // A new container (its own memory is empty) a minute later, with another number in the message.
    let (cold, slack_cold) = container(&table, Duration::ZERO);
    let again = awslogs("/ecs/api", &["ERROR disk full on 10.0.0.9"]);
    let (r, s) = cold.handle_as("req-c", &again, later(), NOW + 60_000).await;
    assert_eq!(
        r.unwrap(),
        json!({"alerts": 1, "suppressed": 1, "messages_sent": 0})
    );
    assert_eq!(s.claimed_elsewhere, 1);
    assert!(slack_cold.posts().is_empty());
    // Past the window it is news again.
    let (_, s) = cold
        .handle_as("req-d", &again, later(), NOW + 600_001)
        .await;
    assert_eq!(s.messages_sent, 1);
    assert_eq!(slack_cold.posts().len(), 1);
}

#[tokio::test]
async fn only_the_repeats_leave_a_message_and_new_alerts_still_post() {
    let table = LocalTable::default();
    let (a, _) = container(&table, Duration::ZERO);
    a.handle_as("req-a", &awslogs("/ecs/api", &["ERROR a"]), later(), NOW)
        .await
        .0
        .unwrap();
    let (b, slack_b) = container(&table, Duration::ZERO);
    let (r, s) = b
        .handle_as(
            "req-b",
            &awslogs("/ecs/api", &["ERROR a", "ERROR b"]),
            later(),
            NOW + 1000,
        )
        .await;
    r.unwrap();
    assert_eq!((s.messages_sent, s.claimed_elsewhere), (1, 1));
    let posts = slack_b.posts();
    let text = posts[0].1.to_string();
    assert!(
        text.contains("ERROR b") && !text.contains("ERROR a"),
        "{text}"
    );
}

#[tokio::test]
async fn an_undelivered_alert_is_released_so_the_next_try_posts_it() {
    let table = LocalTable::default();
    let (a, slack_a) = container(&table, Duration::ZERO);
    *slack_a.script.lock().unwrap() = vec![reply(404, "no_service", None)].into();
    let ev = awslogs("/ecs/api", &["ERROR boom"]);
    let (r, s) = a.handle_as("req-a", &ev, later(), NOW).await;
    assert!(r.is_err());
    assert_eq!(s.messages_failed, 1);
    assert_eq!(
        table.entry(&fp_of("/ecs/api", "ERROR boom")),
        None,
        "released"
    );
    // Another container (or Lambda's retry elsewhere) posts it.
    let (b, slack_b) = container(&table, Duration::ZERO);
    let (r, s) = b.handle_as("req-b", &ev, later(), NOW + 1000).await;
    r.unwrap();
    assert_eq!((s.messages_sent, s.suppressed), (1, 0));
    assert_eq!(slack_b.posts().len(), 1);
}

#[tokio::test]
async fn a_claim_left_by_a_crash_lapses_and_its_own_retry_may_take_it() {
    let table = LocalTable::default();
    let k = fp_of("/ecs/api", "ERROR boom");
    // req-a claimed and died before posting: its lease runs to its deadline, 60 s on.
    assert_eq!(
        table.claim(&k, "req-a", NOW, NOW + 60_000).await.unwrap(),
        Claim::Ours
    );
    let ev = awslogs("/ecs/api", &["ERROR boom"]);
    // Another invocation inside the lease: the alert is req-a's to post (its retry will).
    let (b, slack_b) = container(&table, Duration::ZERO);
    let (_, s) = b.handle_as("req-b", &ev, later(), NOW + 1000).await;
    assert_eq!((s.messages_sent, s.claimed_elsewhere), (0, 1));
    assert!(slack_b.posts().is_empty());
    // Lambda retries req-a with the same request id, in a new container, still inside the lease.
    let (retry, slack_retry) = container(&table, Duration::ZERO);
    let (r, s) = retry.handle_as("req-a", &ev, later(), NOW + 30_000).await;
    r.unwrap();
    assert_eq!(s.messages_sent, 1);
    assert_eq!(slack_retry.posts().len(), 1);
    // A delivered alert is not posted again by a retry of the same invocation.
    let (_, s) = retry.handle_as("req-a", &ev, later(), NOW + 31_000).await;
    assert_eq!(s.messages_sent, 0);
    let (again, slack_again) = container(&table, Duration::ZERO);
    let (_, s) = again.handle_as("req-a", &ev, later(), NOW + 32_000).await;
    assert_eq!((s.messages_sent, s.claimed_elsewhere), (0, 1));
    assert!(slack_again.posts().is_empty());
    // Unconfirmed claims of others lapse with their lease.
    table.claim("k2", "req-x", NOW, NOW + 10).await.unwrap();
    assert_eq!(
        table
            .claim("k2", "req-y", NOW + 11, NOW + 99)
            .await
            .unwrap(),
        Claim::Ours
    );
    assert_eq!(
        table.entry("k2"),
        Some(Entry {
            owner: "req-y".into(),
            sent: false,
            until_ms: NOW + 99
        })
    );
}

/// A table that cannot be reached (throttled, denied): the alert is posted all the same.
struct Unreachable;

impl SharedMemory for Unreachable {
    async fn claim(&self, _: &str, _: &str, _: i64, _: i64) -> Result<Claim, CallError> {
        Err(CallError::throttled(
            "claiming fingerprint in table t: ProvisionedThroughputExceededException",
        ))
    }
    async fn confirm(&self, _: &str, _: &str, _: i64) -> Result<(), CallError> {
        Ok(())
    }
    async fn release(&self, _: &str, _: &str) -> Result<(), CallError> {
        Ok(())
    }
    async fn thread(&self, _: &str, _: i64) -> Result<Option<Thread>, CallError> {
        Err(CallError::throttled(
            "reading a thread: ThrottlingException",
        ))
    }
    async fn remember_thread(&self, _: &str, _: &Thread, _: i64) -> Result<(), CallError> {
        Err(CallError::throttled(
            "remembering a thread: ThrottlingException",
        ))
    }
}

#[tokio::test]
async fn an_unreachable_table_suppresses_nothing() {
    let slack = FakeSlack::scripted(vec![]);
    let cfg = Config::new(SecretSource::Ssm("/test".into()));
    let n = Notifier::with_memory(
        cfg,
        Arc::new(MemStore::default()),
        Arc::clone(&slack),
        Unreachable,
    );
    let (r, s) = n
        .handle_as(
            "req-a",
            &awslogs("/ecs/api", &["ERROR a", "ERROR b"]),
            later(),
            NOW,
        )
        .await;
    r.unwrap();
    assert_eq!((s.messages_sent, s.memory_errors, s.suppressed), (1, 2, 0));
    assert_eq!(slack.posts().len(), 1);
}
