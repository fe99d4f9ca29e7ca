//! The Slack notifier: error logs to Slack as they happen, grouped per log group, escaped, within Slack's
//! limits and rate, with a link back to the logs, at the destinations the rules name and mentioning whom
//! configuration says; an alert that cannot be delivered fails the invocation so Lambda's retry and
//! on-failure destination keep it.
//!
//! One file per role: [`read`] (input to alert groups), [`deliver`] (posting, pace, retries), [`alarms`]
//! (alarm state changes and their threads), [`memory`] (repeat suppression shared by containers).
//!
//! Sources: a CloudWatch Logs subscription (`{"awslogs":{"data":…}}`), and S3 object notifications (the SNS
//! fan-out of new log objects, also direct, SQS or EventBridge), whose objects are read with the shared
//! object store (`logpipe_io::Store`) and logcore's framing reader. The handler is generic over [`Slack`]
//! and `Store`, with HTTP/AWS implementations in [`aws`] and `logpipe-io`, and in-memory ones in the tests.

pub mod alarms;
pub mod aws;
pub mod config;
pub mod deliver;
pub mod memory;
pub mod read;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use logcore::alert::slack;
use logcore::alert::{Decision, Group, Suppressor, DEFAULT_DESTINATION};
use logpipe_io::lambda::Deadline;
use logpipe_io::Store;
use memory::{Claim, NoSharedMemory, SharedMemory, Thread};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

pub use alarms::{alarm_changes, posted_thread};
pub use config::{Config, Target};
pub use deliver::{classify, Destination, Verdict};
pub use read::event_of;

/// Slack's answer to one post, and a post that got no HTTP answer: the shared HTTP vocabulary.
pub use logpipe_io::{CallError, Reply};

/// Slack: a webhook or `chat.postMessage`.
pub trait Slack: Send + Sync + 'static {
    /// Post one message (`{"text", "blocks"}`; the implementation adds what its endpoint needs).
    fn post(&self, message: &Value) -> impl Future<Output = Result<Reply, CallError>> + Send;
}

logcore::counts! {
    /// Counts of one invocation: its report line (summary and EMF metrics, see `logcore::base::report`).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Summary {
        /// Log events read (subscription events, or documents/lines of S3 objects), each decided on; a
        /// stack trace whose lines came as events of their own counts once, its other lines in
        /// `events_joined`.
        pub events: u64 => "LogEventsRead",
        /// Subscription events joined into the one before them (multiline: `MULTILINE`,
        /// `MULTILINE_RULES`), decided on with it as one alert.
        pub events_joined: u64 => "LogEventsJoined",
        pub control_messages: u64,
        pub objects: u64,
        pub objects_missing: u64,
        pub objects_failed: u64 => "ObjectsFailed",
        pub notifications_ignored: u64,
        /// Events not alerted on purpose, by reason.
        pub skipped_group: u64,
        pub excluded: u64,
        pub below_level: u64,
        pub no_match: u64,
        /// Alert-worthy events: new ones, and repeats that were counted, not sent.
        pub alerts: u64 => "AlertsRaised",
        pub suppressed: u64 => "AlertsSuppressed",
        pub messages_sent: u64 => "SlackMessagesSent",
        /// Messages not delivered (the invocation fails so they are retried).
        pub messages_failed: u64 => "SlackMessagesFailed",
        pub slack_retries: u64 => "SlackRetries",
        /// CloudWatch alarm state changes posted (an SNS notification of an alarm action).
        pub alarm_changes: u64 => "AlarmChangesPosted",
        /// Alerts another container had claimed or posted within the window (counted in `suppressed` too).
        pub claimed_elsewhere: u64 => "AlertsClaimedElsewhere",
        /// Calls to the shared suppression memory that failed: the alert is posted all the same (a repeat
        /// rather than a loss).
        pub memory_errors: u64 => "SuppressionMemoryErrors",
        /// Alarm changes posted in the thread of the alarm's ALARM message.
        pub threaded: u64,
    }
}

impl Summary {
    fn count(&mut self, d: Decision) {
        match d {
            Decision::Alert => {}
            Decision::GroupSkipped => self.skipped_group += 1,
            Decision::Excluded => self.excluded += 1,
            Decision::BelowLevel => self.below_level += 1,
            Decision::NoMatch => self.no_match += 1,
        }
    }
}

/// The invocation did not deliver every alert (or could not read its input): Lambda retries it and then
/// sends it to the on-failure destination.
pub use logcore::base::runtime::InvocationError;

/// The notifier with what it keeps from one invocation to the next in its container: the repeat
/// suppressor, each destination's pace (Slack's rate and Retry-After windows are per webhook or token, not
/// per invocation), and the repeat memory it shares with every other container ([`memory`]), when there
/// is one.
pub struct Notifier<S, K, M = NoSharedMemory> {
    pub cfg: Config,
    pub store: Arc<S>,
    /// By name; [`DEFAULT_DESTINATION`] always.
    pub destinations: BTreeMap<String, Destination<K>>,
    pub memory: M,
    suppressor: Mutex<Suppressor>,
    /// Destination and alarm ([`memory::thread_key`]) → the thread its ALARM message opened, and until
    /// when it is kept.
    threads: Mutex<std::collections::HashMap<String, (Thread, i64)>>,
}

/// Claims in flight at once in the shared memory.
const CLAIMS_IN_FLIGHT: usize = 16;

impl<S: Store, K: Slack> Notifier<S, K> {
    /// A notifier whose repeat memory is its container's alone.
    pub fn new(cfg: Config, store: Arc<S>, slack: Arc<K>) -> Self {
        Notifier::with_memory(cfg, store, slack, NoSharedMemory)
    }
}

impl<S: Store, K: Slack, M: SharedMemory> Notifier<S, K, M> {
    /// A notifier that shares its repeat memory with every container through `memory`; `slack` is the
    /// default destination.
    pub fn with_memory(cfg: Config, store: Arc<S>, slack: Arc<K>, memory: M) -> Self {
        let window = cfg.suppress_window.as_millis() as i64;
        Notifier {
            cfg,
            store,
            destinations: [(DEFAULT_DESTINATION.to_string(), Destination::new(slack))].into(),
            memory,
            suppressor: Mutex::new(Suppressor::new(window, 50_000)),
            threads: Mutex::default(),
        }
    }

    /// Another destination the rules may name (`slack` for the default one is given at construction).
    pub fn with_destination(mut self, name: &str, slack: Arc<K>) -> Self {
        self.destinations
            .insert(name.to_string(), Destination::new(slack));
        self
    }

    fn suppressor(&self) -> Suppressor {
        self.suppressor
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Handle one invocation; `now_ms` is the wall clock (for repeat suppression).
    pub async fn handle(
        &self,
        event: &Value,
        deadline: Deadline,
        now_ms: i64,
    ) -> (Result<Value, InvocationError>, Summary) {
        self.handle_as("", event, deadline, now_ms).await
    }

    /// Handle one invocation as `request_id`: the owner of its claims in the shared memory (Lambda retries
    /// an invocation with the same id, so the retry may take its own undelivered claims again); `""` for
    /// an invocation of its own.
    pub async fn handle_as(
        &self,
        request_id: &str,
        event: &Value,
        deadline: Deadline,
        now_ms: i64,
    ) -> (Result<Value, InvocationError>, Summary) {
        let owner = match request_id {
            "" => format!("local-{:016x}", fastrand::u64(..)),
            id => id.to_string(),
        };
        let mut summary = Summary::default();
        if let Some(changes) = alarm_changes(event) {
            return self.post_alarms(&changes, deadline, now_ms, summary).await;
        }
        let mut groupers = read::Groupers::new(self.cfg.format.max_shown);
        let snapshot = self.suppressor();
        let read = if let Some(data) = event.pointer("/awslogs/data").and_then(Value::as_str) {
            self.read_logs(data, &snapshot, &mut groupers, &mut summary, now_ms)
        } else {
            self.read_objects(event, &snapshot, &mut groupers, &mut summary, now_ms)
                .await
        };
        let mut groups = groupers.finish();
        let mut failures = Vec::new();
        for (name, g) in &mut groups {
            let Some(dest) = self.destinations.get(name.as_str()) else {
                // Configuration is checked at cold start: a rule names only configured destinations.
                summary.messages_failed += 1;
                failures.push(format!("{}: no destination {name:?}", g.log_group));
                continue;
            };
            let claimed = self.claim(g, &owner, deadline, now_ms, &mut summary).await;
            if g.total == 0 {
                tracing::info!(log_group = %g.log_group, destination = %name, suppressed = g.suppressed,
                    "every alert of the group is another container's to post");
                continue;
            }
            let mut msg = slack::message(g, &self.cfg.format);
            let route = self.cfg.rules.route(&g.log_group);
            slack::mention(&mut msg, &self.cfg.rules.mentions(route, &g.levels));
            match self.deliver(dest, &msg, deadline.stop, &mut summary).await {
                Ok(_) => {
                    summary.messages_sent += 1;
                    if let Ok(mut s) = self.suppressor.lock() {
                        s.record_sent(g.fingerprints.iter().copied(), now_ms);
                    }
                    let until = now_ms + self.cfg.suppress_window.as_millis() as i64;
                    self.settle(&claimed, &owner, Some(until), &mut summary)
                        .await;
                    tracing::info!(log_group = %g.log_group, destination = %name, alerts = g.total,
                        suppressed = g.suppressed, "alert sent");
                }
                Err(e) => {
                    self.settle(&claimed, &owner, None, &mut summary).await;
                    summary.messages_failed += 1;
                    tracing::error!(log_group = %g.log_group, destination = %name, alerts = g.total, error = %e,
                        "alert not delivered; the invocation fails so it is retried");
                    failures.push(format!("{} to {name}: {e}", g.log_group));
                }
            }
        }
        let result = match (read, failures.first()) {
            (Err(e), _) => Err(InvocationError(e)),
            (Ok(()), Some(first)) => Err(InvocationError::partly(
                failures.len() as u64,
                groups.len() as u64,
                "Slack messages not delivered",
                first,
            )),
            (Ok(()), None) => Ok(serde_json::json!({
                "alerts": summary.alerts,
                "suppressed": summary.suppressed,
                "messages_sent": summary.messages_sent,
            })),
        };
        (result, summary)
    }

    /// Claim the group's new alerts in the shared memory. Those another container holds leave the group
    /// (counted as suppressed: it posts them, or did within the window). Returns the fingerprints claimed.
    /// A claim that fails (the table cannot be reached) suppresses nothing: a repeat rather than a loss.
    async fn claim(
        &self,
        g: &mut Group,
        owner: &str,
        deadline: Deadline,
        now_ms: i64,
        summary: &mut Summary,
    ) -> Vec<u64> {
        use futures_util::StreamExt;
        if !self.memory.enabled() || self.cfg.suppress_window.is_zero() {
            return Vec::new();
        }
        // The lease ends with the invocation: past its deadline nobody is posting under this claim.
        let lease_until = now_ms
            + deadline
                .end
                .saturating_duration_since(Instant::now())
                .as_millis() as i64;
        let claims: Vec<(u64, Result<Claim, CallError>)> =
            futures_util::stream::iter(g.fingerprints.iter().copied())
                .map(|fp| async move {
                    let key = memory::key(fp);
                    (
                        fp,
                        self.memory.claim(&key, owner, now_ms, lease_until).await,
                    )
                })
                .buffer_unordered(CLAIMS_IN_FLIGHT)
                .collect()
                .await;
        let mut ours = Vec::new();
        let mut held = std::collections::HashSet::new();
        for (fp, claim) in claims {
            match claim {
                Ok(Claim::Ours) => ours.push(fp),
                Ok(Claim::Held) => {
                    held.insert(fp);
                }
                Err(e) => {
                    if summary.memory_errors == 0 {
                        tracing::warn!(error = %e, log_group = %g.log_group,
                            "shared suppression memory unreachable; posting without it");
                    }
                    summary.memory_errors += 1;
                }
            }
        }
        let withdrawn = g.withdraw(&held);
        summary.suppressed += withdrawn;
        summary.claimed_elsewhere += withdrawn;
        ours
    }

    /// After a post: confirm the claims for the window (`Some(until)`), or release them (`None`) so that the
    /// retry posts. Failures are counted; a claim neither confirmed nor released lapses with its lease.
    async fn settle(
        &self,
        claimed: &[u64],
        owner: &str,
        until: Option<i64>,
        summary: &mut Summary,
    ) {
        use futures_util::StreamExt;
        let results: Vec<Result<(), CallError>> = futures_util::stream::iter(claimed)
            .map(|fp| async move {
                let key = memory::key(*fp);
                match until {
                    Some(until) => self.memory.confirm(&key, owner, until).await,
                    None => self.memory.release(&key, owner).await,
                }
            })
            .buffer_unordered(CLAIMS_IN_FLIGHT)
            .collect()
            .await;
        for e in results.into_iter().filter_map(Result::err) {
            if summary.memory_errors == 0 {
                tracing::warn!(error = %e, "shared suppression memory: a claim left to lapse");
            }
            summary.memory_errors += 1;
        }
    }
}

/// The summary line and EMF metrics of one invocation.
pub fn report(cfg: &Config, request_id: &str, s: &Summary) {
    cfg.common.report(request_id, "notifier summary", s);
}

#[cfg(test)]
mod tests;
