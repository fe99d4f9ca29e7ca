//! The Slack notifier: error logs to Slack as they happen, grouped per log group, escaped, within Slack's
//! limits and rate, with a link back to the logs; an alert that cannot be delivered fails the invocation
//! so Lambda's retry and on-failure destination keep it.
//!
//! Sources: a CloudWatch Logs subscription (`{"awslogs":{"data":…}}`), and S3 object notifications (the SNS
//! fan-out of new log objects, also direct, SQS or EventBridge), whose objects are read with the shared
//! object store (`logpipe_io::Store`) and logcore's framing reader. The handler is generic over [`Slack`]
//! and `Store`, with HTTP/AWS implementations in [`aws`] and `logpipe-io`, and in-memory ones in the tests.

pub mod aws;
pub mod config;
pub mod memory;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logcore::alert::slack;
use logcore::alert::{fingerprint, AlertEvent, Decision, Group, Grouper, Suppressor};
use logcore::cwl::{MessageType, Payload};
use logcore::s3event::{Invocation, ObjectRef};
use logpipe_io::{Opened, Store};
use memory::{Claim, NoSharedMemory, SharedMemory, Thread};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

pub use config::{Config, Target};

/// Slack's answer to one post, and a post that got no HTTP answer: the shared HTTP vocabulary.
pub use logpipe_io::{CallError, Reply};

/// Slack: a webhook or `chat.postMessage`.
pub trait Slack: Send + Sync + 'static {
    /// Post one message (`{"text", "blocks"}`; the implementation adds what its endpoint needs).
    fn post(&self, message: &Value) -> impl Future<Output = Result<Reply, CallError>> + Send;
}

/// What a reply means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again, after this long when Slack said so.
    Retry(Option<Duration>, String),
    /// Trying again cannot help (bad payload, unknown channel, revoked webhook or token).
    Permanent(String),
}

/// Read a reply: webhooks answer `200 ok` or an error status with a word (`invalid_payload`,
/// `channel_not_found`, `no_service`); `chat.postMessage` answers 200 with `{"ok": false, "error"}`.
pub fn classify(r: &Reply) -> Verdict {
    let text = String::from_utf8_lossy(&r.body);
    let word = text.trim().chars().take(200).collect::<String>();
    match r.status {
        200..=299 => {
            let Ok(v) = serde_json::from_slice::<Value>(&r.body) else {
                return Verdict::Delivered;
            };
            if v.get("ok").and_then(Value::as_bool) != Some(false) {
                return Verdict::Delivered;
            }
            let err = v
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown_error");
            match err {
                "ratelimited" | "rate_limited" => Verdict::Retry(r.retry_after, err.into()),
                "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                    Verdict::Retry(None, err.into())
                }
                _ => Verdict::Permanent(format!("Slack answered ok=false: {err}")),
            }
        }
        429 => Verdict::Retry(r.retry_after, "429 rate limited".into()),
        408 | 500..=599 => Verdict::Retry(None, format!("{} {word}", r.status)),
        s => Verdict::Permanent(format!("Slack answered {s} {word}")),
    }
}

logcore::counts! {
    /// Counts of one invocation: its report line (summary and EMF metrics, see `logcore::report`).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Summary {
        /// Log events read (subscription events, or documents/lines of S3 objects).
        pub events: u64 => "LogEventsRead",
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvocationError(pub String);

/// The notifier with what it keeps from one invocation to the next in its container: the repeat
/// suppressor and Slack's pace (its rate and its Retry-After windows are per webhook, not per invocation),
/// and the repeat memory it shares with every other container ([`memory`]), when there is one.
pub struct Notifier<S, K, M = NoSharedMemory> {
    pub cfg: Config,
    pub store: Arc<S>,
    pub slack: Arc<K>,
    pub memory: M,
    suppressor: Mutex<Suppressor>,
    /// Alarm name → the thread its ALARM message opened, and until when it is kept.
    threads: Mutex<std::collections::HashMap<String, (Thread, i64)>>,
    pace: tokio::sync::Mutex<Pace>,
}

/// Claims in flight at once in the shared memory.
const CLAIMS_IN_FLIGHT: usize = 16;

/// How long an alarm's thread is remembered: an absence alarm may stay in ALARM for days.
const THREAD_KEPT_MS: i64 = 14 * 24 * 3600 * 1000;

/// When the next post to Slack may start.
#[derive(Debug, Default)]
struct Pace {
    last_post: Option<Instant>,
    /// The end of the last Retry-After window Slack gave: no post before it, whatever the message or the
    /// invocation (Slack answers 429 to every post inside the window).
    not_before: Option<Instant>,
}

impl Pace {
    fn ready(&self, min_interval: Duration) -> Option<Instant> {
        let paced = self.last_post.map(|t| t + min_interval);
        paced.max(self.not_before)
    }
}

impl<S: Store, K: Slack> Notifier<S, K> {
    /// A notifier whose repeat memory is its container's alone.
    pub fn new(cfg: Config, store: Arc<S>, slack: Arc<K>) -> Self {
        Notifier::with_memory(cfg, store, slack, NoSharedMemory)
    }
}

impl<S: Store, K: Slack, M: SharedMemory> Notifier<S, K, M> {
    /// A notifier that shares its repeat memory with every container through `memory`.
    pub fn with_memory(cfg: Config, store: Arc<S>, slack: Arc<K>, memory: M) -> Self {
        let window = cfg.suppress_window.as_millis() as i64;
        Notifier {
            cfg,
            store,
            slack,
            memory,
            suppressor: Mutex::new(Suppressor::new(window, 50_000)),
            threads: Mutex::default(),
            pace: tokio::sync::Mutex::new(Pace::default()),
        }
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
        deadline: Instant,
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
        deadline: Instant,
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
        let mut grouper = Grouper::new(self.cfg.format.max_shown);
        let snapshot = self.suppressor();
        let read = if let Some(data) = event.pointer("/awslogs/data").and_then(Value::as_str) {
            self.read_logs(data, &snapshot, &mut grouper, &mut summary, now_ms)
        } else {
            self.read_objects(event, &snapshot, &mut grouper, &mut summary, now_ms)
                .await
        };
        let (mut groups, _repeats_only) = grouper.finish();
        let mut failures = Vec::new();
        for g in &mut groups {
            let claimed = self.claim(g, &owner, deadline, now_ms, &mut summary).await;
            if g.total == 0 {
                tracing::info!(log_group = %g.log_group, suppressed = g.suppressed,
                    "every alert of the group is another container's to post");
                continue;
            }
            let msg = slack::message(g, &self.cfg.format);
            match self.deliver(&msg, deadline, &mut summary).await {
                Ok(_) => {
                    summary.messages_sent += 1;
                    if let Ok(mut s) = self.suppressor.lock() {
                        s.record_sent(g.fingerprints.iter().copied(), now_ms);
                    }
                    let until = now_ms + self.cfg.suppress_window.as_millis() as i64;
                    self.settle(&claimed, &owner, Some(until), &mut summary)
                        .await;
                    tracing::info!(log_group = %g.log_group, alerts = g.total, suppressed = g.suppressed, "alert sent");
                }
                Err(e) => {
                    self.settle(&claimed, &owner, None, &mut summary).await;
                    summary.messages_failed += 1;
                    tracing::error!(log_group = %g.log_group, alerts = g.total, error = %e,
                        "alert not delivered; the invocation fails so it is retried");
                    failures.push(format!("{}: {e}", g.log_group));
                }
            }
        }
        let result = match (read, failures.first()) {
            (Err(e), _) => Err(InvocationError(e)),
            (Ok(()), Some(first)) => Err(InvocationError(format!(
                "{} of {} Slack messages not delivered; first: {first}",
                failures.len(),
                groups.len()
            ))),
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
        deadline: Instant,
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
                .saturating_duration_since(Instant::now())
                .as_millis() as i64;
        let claims: Vec<(u64, Result<Claim, CallError>)> =
            futures_util::stream::iter(g.fingerprints.clone())
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

    /// Post each alarm state change: never suppressed (an OK follows its ALARM), a failed post fails the
    /// invocation so SNS's retries and the on-failure destination keep it.
    ///
    /// An ALARM opens a thread where Slack's API has them (`chat.postMessage` answers the message's channel
    /// and `ts`; a webhook answers `ok`): the alarm's later changes (its recovery) are posted in it, by
    /// whichever container receives them when the shared memory is a table.
    async fn post_alarms(
        &self,
        changes: &[logcore::alert::alarm::AlarmChange],
        deadline: Instant,
        now_ms: i64,
        mut summary: Summary,
    ) -> (Result<Value, InvocationError>, Summary) {
        let mut failures = Vec::new();
        for a in changes {
            let mention = logcore::alert::watch::Marker::read(&a.description)
                .and_then(|m| self.cfg.rules.watches.iter().find(|w| w.name == m.rule))
                .map(|w| w.mention.clone())
                .unwrap_or_default();
            let mut msg = logcore::alert::alarm::message(
                a,
                &self.cfg.rules.watches,
                &self.cfg.format.default_region,
                &mention,
            );
            let opens = a.new_state == "ALARM";
            let thread = match opens {
                true => None,
                false => self.thread_of(&a.name, now_ms, &mut summary).await,
            };
            if let (Some(t), Some(m)) = (&thread, msg.as_object_mut()) {
                m.insert("thread_ts".into(), Value::String(t.ts.clone()));
                m.insert("channel".into(), Value::String(t.channel.clone()));
            }
            match self.deliver(&msg, deadline, &mut summary).await {
                Ok(reply) => {
                    summary.alarm_changes += 1;
                    summary.messages_sent += 1;
                    summary.threaded += u64::from(thread.is_some());
                    if opens {
                        if let Some(t) = posted_thread(&reply) {
                            self.remember_thread(&a.name, t, now_ms, &mut summary).await;
                        }
                    }
                    tracing::info!(alarm = %a.name, state = %a.new_state, threaded = thread.is_some(), "alarm change sent");
                }
                Err(e) => {
                    summary.messages_failed += 1;
                    tracing::error!(alarm = %a.name, state = %a.new_state, error = %e,
                        "alarm change not delivered; the invocation fails so it is retried");
                    failures.push(format!("{}: {e}", a.name));
                }
            }
        }
        let result = match failures.first() {
            Some(first) => Err(InvocationError(format!(
                "{} of {} alarm changes not delivered; first: {first}",
                failures.len(),
                changes.len()
            ))),
            None => Ok(serde_json::json!({"alarm_changes": summary.alarm_changes})),
        };
        (result, summary)
    }

    fn read_logs(
        &self,
        data: &str,
        snapshot: &Suppressor,
        grouper: &mut Grouper,
        summary: &mut Summary,
        now_ms: i64,
    ) -> Result<(), String> {
        let gz = logcore::codec::decode_base64(data.as_bytes())
            .map_err(|e| format!("awslogs.data: {e}"))?;
        let json = logcore::cwl::decompress(&gz, self.cfg.max_object_bytes as usize)
            .map_err(|e| format!("awslogs.data: {e}"))?;
        let p = Payload::parse(&json).map_err(|e| format!("awslogs.data: {e}"))?;
        if p.message_type == MessageType::Control {
            summary.control_messages += 1;
            return Ok(());
        }
        for e in &p.log_events {
            let ev = AlertEvent {
                log_group: p.log_group.to_string(),
                log_stream: p.log_stream.to_string(),
                account: p.owner.to_string(),
                region: None,
                timestamp_ms: e.timestamp,
                id: e.id.to_string(),
                message: e.message.to_string(),
            };
            consider(&self.cfg, ev, snapshot, grouper, summary, now_ms);
        }
        Ok(())
    }

    async fn read_objects(
        &self,
        event: &Value,
        snapshot: &Suppressor,
        grouper: &mut Grouper,
        summary: &mut Summary,
        now_ms: i64,
    ) -> Result<(), String> {
        let inv = logcore::s3event::parse_invocation_value(event)
            .map_err(|e| format!("unreadable event: {e}"))?;
        let mut objects = Vec::new();
        match inv {
            Invocation::Direct(n) => {
                summary.notifications_ignored += n.ignored;
                objects = n.objects;
            }
            Invocation::Sqs(messages) => {
                for m in messages {
                    let n = m.content.map_err(|e| e.to_string())?;
                    summary.notifications_ignored += n.ignored;
                    objects.extend(n.objects);
                }
            }
        }
        let mut first_error = None;
        for obj in objects {
            summary.objects += 1;
            let opened = match self.store.get(&obj).await {
                Ok(o) => o,
                Err(e) if e.is_not_found() => {
                    summary.objects_missing += 1;
                    tracing::warn!(bucket = %obj.bucket, key = %obj.key, "object no longer exists");
                    continue;
                }
                Err(e) => {
                    summary.objects_failed += 1;
                    first_error.get_or_insert(format!("s3://{}/{}: {e}", obj.bucket, obj.key));
                    continue;
                }
            };
            let cfg = self.cfg.clone();
            let snap = snapshot.clone();
            let g = std::mem::take(grouper);
            let joined = tokio::task::spawn_blocking(move || {
                let mut g = g;
                let mut s = Summary::default();
                let r = read_object(&cfg, &obj, opened, &snap, &mut g, &mut s, now_ms);
                (g, s, r, obj)
            })
            .await;
            let (g, s, r, obj) = joined.map_err(|e| format!("reading thread failed: {e}"))?;
            *grouper = g;
            add(summary, &s);
            if let Err(e) = r {
                summary.objects_failed += 1;
                first_error.get_or_insert(format!("s3://{}/{}: {e}", obj.bucket, obj.key));
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(format!(
                "{} of {} objects could not be read; first: {e}",
                summary.objects_failed, summary.objects
            )),
        }
    }

    /// The thread an alarm's ALARM message opened: this container's memory, else the shared one.
    async fn thread_of(&self, alarm: &str, now_ms: i64, summary: &mut Summary) -> Option<Thread> {
        let local = self
            .threads
            .lock()
            .ok()
            .and_then(|t| t.get(alarm).filter(|(_, until)| *until >= now_ms).cloned());
        if let Some((t, _)) = local {
            return Some(t);
        }
        match self.memory.thread(&memory::thread_key(alarm), now_ms).await {
            Ok(t) => t,
            Err(e) => {
                summary.memory_errors += 1;
                tracing::warn!(alarm, error = %e, "thread unknown; posting the change on its own");
                None
            }
        }
    }

    async fn remember_thread(&self, alarm: &str, t: Thread, now_ms: i64, summary: &mut Summary) {
        let until = now_ms + THREAD_KEPT_MS;
        let key = memory::thread_key(alarm);
        if let Err(e) = self.memory.remember_thread(&key, &t, until).await {
            summary.memory_errors += 1;
            tracing::warn!(alarm, error = %e, "thread not remembered in the shared memory");
        }
        if let Ok(mut local) = self.threads.lock() {
            // Bounded: the oldest half goes when full (alarms are few; this is a cache of the table).
            if local.len() >= 10_000 {
                let mut untils: Vec<i64> = local.values().map(|(_, u)| *u).collect();
                untils.sort_unstable();
                let cut = untils[untils.len() / 2];
                local.retain(|_, (_, u)| *u > cut);
            }
            local.insert(alarm.to_string(), (t, until));
        }
    }

    /// Post one message: wait for Slack's pace, retry 429 (after `Retry-After`), 5xx and timeouts with
    /// backoff while an attempt can end before the deadline; permanent errors end at once. Returns Slack's
    /// answer to the post it took.
    async fn deliver(
        &self,
        msg: &Value,
        deadline: Instant,
        summary: &mut Summary,
    ) -> Result<Reply, String> {
        let cfg = &self.cfg;
        let limit = deadline
            .checked_sub(cfg.common.deadline_margin)
            .unwrap_or(deadline);
        let mut rng = fastrand::Rng::new();
        let mut attempts = 0u32;
        let mut pace = self.pace.lock().await;
        loop {
            if let Some(ready) = pace.ready(cfg.min_interval) {
                if ready + cfg.request_timeout > limit {
                    let why = match pace.not_before {
                        Some(t) if t >= ready => format!(
                            "Slack asked to wait {:?} more (Retry-After), past the deadline",
                            t.saturating_duration_since(Instant::now())
                        ),
                        _ => "no time left before the deadline to post within Slack's rate".into(),
                    };
                    return Err(if attempts == 0 {
                        why
                    } else {
                        format!("gave up after {attempts} attempts: {why}")
                    });
                }
                tokio::time::sleep_until(ready).await;
            }
            attempts += 1;
            pace.last_post = Some(Instant::now());
            let posted = tokio::time::timeout(cfg.request_timeout, self.slack.post(msg)).await;
            let (retry_after, why) = match posted {
                Err(_) => (None, format!("timed out after {:?}", cfg.request_timeout)),
                Ok(Err(e)) => (None, e.to_string()),
                Ok(Ok(reply)) => match classify(&reply) {
                    Verdict::Delivered => return Ok(reply),
                    Verdict::Permanent(e) => return Err(e),
                    Verdict::Retry(after, why) => (after, why),
                },
            };
            // A Retry-After holds for every later post to this webhook, not only for this message's retry.
            let retry_after = retry_after.map(|d| d.min(Duration::from_secs(900)));
            if let Some(after) = retry_after {
                pace.not_before = Some(Instant::now() + after);
            }
            let delay = retry_after.unwrap_or_else(|| cfg.backoff.delay(attempts, &mut rng));
            let remaining = limit.saturating_duration_since(Instant::now());
            if !cfg
                .backoff
                .may_retry(attempts, delay, cfg.request_timeout, remaining)
            {
                return Err(format!(
                    "gave up after {attempts} attempts (last: {why}); retrying would pass the deadline or the attempt limit"
                ));
            }
            tracing::warn!(attempt = attempts, delay_ms = delay.as_millis() as u64, reason = %why, "Slack post failed; retrying");
            summary.slack_retries += 1;
            tokio::time::sleep(delay).await;
        }
    }
}

/// The thread a `chat.postMessage` answer names (`{"ok": true, "channel", "ts"}`); none for a webhook's `ok`.
pub fn posted_thread(reply: &Reply) -> Option<Thread> {
    let v: Value = serde_json::from_slice(&reply.body).ok()?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    Some(Thread {
        channel: field("channel")?.to_string(),
        ts: field("ts")?.to_string(),
    })
}

/// The alarm state changes of an SNS invocation whose every record is a CloudWatch alarm notification;
/// `None` for anything else (log subscriptions, S3 notifications), which is read as before.
pub fn alarm_changes(event: &Value) -> Option<Vec<logcore::alert::alarm::AlarmChange>> {
    let records = event.get("Records")?.as_array()?;
    if records.is_empty() {
        return None;
    }
    records
        .iter()
        .map(|r| {
            let message = r.pointer("/Sns/Message")?.as_str()?;
            logcore::alert::alarm::parse(message)
        })
        .collect()
}

fn add(to: &mut Summary, s: &Summary) {
    to.events += s.events;
    to.skipped_group += s.skipped_group;
    to.excluded += s.excluded;
    to.below_level += s.below_level;
    to.no_match += s.no_match;
    to.alerts += s.alerts;
    to.suppressed += s.suppressed;
}

/// Decide on one event and, when it alerts, add it to its group.
fn consider(
    cfg: &Config,
    ev: AlertEvent,
    snapshot: &Suppressor,
    grouper: &mut Grouper,
    summary: &mut Summary,
    now_ms: i64,
) {
    summary.events += 1;
    let d = cfg.rules.decide(&ev.log_group, &ev.message);
    summary.count(d);
    if d != Decision::Alert {
        return;
    }
    let fp = fingerprint(&ev.log_group, &ev.message);
    let repeat = snapshot.is_repeat(fp, now_ms);
    summary.alerts += 1;
    if !grouper.add(ev, fp, repeat) {
        summary.suppressed += 1;
    }
}

/// Read one object (a blocking thread): every unit becomes an event to decide on. Documents of the
/// transforms give their log group, stream, account, region, time and id; other lines count under the
/// object's key.
fn read_object(
    cfg: &Config,
    obj: &ObjectRef,
    opened: Opened,
    snapshot: &Suppressor,
    grouper: &mut Grouper,
    summary: &mut Summary,
    now_ms: i64,
) -> Result<(), String> {
    let fallback_ms = opened
        .last_modified
        .as_deref()
        .or(obj.event_time.as_deref())
        .and_then(logcore::time::parse_rfc3339_ms)
        .unwrap_or(now_ms);
    let bridge = tokio_util::io::SyncIoBridge::new(opened.body);
    let (_, dec) = logcore::framing::decoder(bridge, cfg.max_object_bytes)
        .map_err(|e| format!("reading the object: {e}"))?;
    let mut framer = logcore::framing::Framer::new(dec, cfg.max_doc_bytes);
    loop {
        let unit = match framer.next_unit() {
            Ok(Some(u)) => u,
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "reading the object at decompressed offset {}: {e}",
                    framer.offset()
                ))
            }
        };
        let text = String::from_utf8_lossy(unit.bytes);
        if text.trim().is_empty() {
            continue;
        }
        let ev = event_of(&text, obj, fallback_ms);
        consider(cfg, ev, snapshot, grouper, summary, now_ms);
    }
}

/// The alert event of one unit of an S3 object.
pub fn event_of(text: &str, obj: &ObjectRef, fallback_ms: i64) -> AlertEvent {
    let doc = serde_json::from_str::<Value>(text)
        .ok()
        .filter(|v| v.get("message").is_some_and(Value::is_string));
    let Some(doc) = doc else {
        return AlertEvent {
            log_group: obj.key.clone(),
            log_stream: String::new(),
            account: String::new(),
            region: obj.region.clone(),
            timestamp_ms: fallback_ms,
            id: String::new(),
            message: text.trim_end().to_string(),
        };
    };
    let s = |ptr: &str| doc.pointer(ptr).and_then(Value::as_str).map(str::to_string);
    AlertEvent {
        log_group: s("/log/group").unwrap_or_else(|| obj.key.clone()),
        log_stream: s("/log/stream").unwrap_or_default(),
        account: s("/cloud/account/id").unwrap_or_default(),
        region: s("/cloud/region").or_else(|| obj.region.clone()),
        timestamp_ms: s("/@timestamp")
            .and_then(|t| logcore::time::parse_rfc3339_ms(&t))
            .unwrap_or(fallback_ms),
        id: s("/event/id").unwrap_or_default(),
        message: s("/message").unwrap_or_default(),
    }
}

/// The summary line and EMF metrics of one invocation.
pub fn report(cfg: &Config, request_id: &str, s: &Summary) {
    cfg.common.report(request_id, "notifier summary", s);
}

#[cfg(test)]
mod tests;
