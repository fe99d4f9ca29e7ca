//! Alarm state changes (CloudWatch alarm notifications through SNS) to Slack: one message per change and
//! destination, never suppressed, the rule's mention on ALARM only; an ALARM opens a thread where Slack's
//! API has them, and the alarm's later changes go to it.

use logpipe_io::lambda::Deadline;
use logpipe_io::Store;
use serde_json::Value;

use logcore::alert::alarm::AlarmChange;
use logcore::alert::DEFAULT_DESTINATION;

use crate::memory::{self, SharedMemory, Thread};
use crate::{InvocationError, Notifier, Reply, Slack, Summary};

/// How long an alarm's thread is remembered: an absence alarm may stay in ALARM for days.
const THREAD_KEPT_MS: i64 = 14 * 24 * 3600 * 1000;

impl<S: Store, K: Slack, M: SharedMemory> Notifier<S, K, M> {
    /// Post each alarm state change to the destinations of its rule (logpipe's own alarms, and alarms of
    /// no rule, to the default one): never suppressed (an OK follows its ALARM), a failed post fails the
    /// invocation so SNS's retries and the on-failure destination keep it.
    ///
    /// An ALARM opens a thread where Slack's API has them (`chat.postMessage` answers the message's channel
    /// and `ts`; a webhook answers `ok`): the alarm's later changes (its recovery) are posted in it, by
    /// whichever container receives them when the shared memory is a table.
    pub(crate) async fn post_alarms(
        &self,
        changes: &[AlarmChange],
        deadline: Deadline,
        now_ms: i64,
        mut summary: Summary,
    ) -> (Result<Value, InvocationError>, Summary) {
        let mut failures = Vec::new();
        let mut posts = 0usize;
        for a in changes {
            let watch = logcore::alert::watch::Marker::read(&a.description)
                .and_then(|m| self.cfg.rules.watches.iter().find(|w| w.name == m.rule));
            let mention = watch.map(|w| w.mention.clone()).unwrap_or_default();
            let destinations: Vec<&str> = match watch {
                Some(w) if !w.destinations.is_empty() => {
                    w.destinations.iter().map(String::as_str).collect()
                }
                _ => vec![DEFAULT_DESTINATION],
            };
            for name in destinations {
                posts += 1;
                let Some(dest) = self.destinations.get(name) else {
                    // Configuration is checked at cold start: a rule names only configured destinations.
                    summary.messages_failed += 1;
                    failures.push(format!("{}: no destination {name:?}", a.name));
                    continue;
                };
                let mut msg = logcore::alert::alarm::message(
                    a,
                    &self.cfg.rules.watches,
                    &self.cfg.format.default_region,
                    &mention,
                );
                let opens = a.new_state == "ALARM";
                let thread = match opens {
                    true => None,
                    false => self.thread_of(name, &a.name, now_ms, &mut summary).await,
                };
                if let (Some(t), Some(m)) = (&thread, msg.as_object_mut()) {
                    m.insert("thread_ts".into(), Value::String(t.ts.clone()));
                    m.insert("channel".into(), Value::String(t.channel.clone()));
                }
                match self.deliver(dest, &msg, deadline.stop, &mut summary).await {
                    Ok(reply) => {
                        summary.alarm_changes += 1;
                        summary.messages_sent += 1;
                        summary.threaded += u64::from(thread.is_some());
                        if opens {
                            if let Some(t) = posted_thread(&reply) {
                                self.remember_thread(name, &a.name, t, now_ms, &mut summary)
                                    .await;
                            }
                        }
                        tracing::info!(alarm = %a.name, state = %a.new_state, destination = name,
                            threaded = thread.is_some(), "alarm change sent");
                    }
                    Err(e) => {
                        summary.messages_failed += 1;
                        tracing::error!(alarm = %a.name, state = %a.new_state, destination = name, error = %e,
                            "alarm change not delivered; the invocation fails so it is retried");
                        failures.push(format!("{} to {name}: {e}", a.name));
                    }
                }
            }
        }
        let result = match failures.first() {
            Some(first) => Err(InvocationError::partly(
                failures.len() as u64,
                posts as u64,
                "alarm change messages not delivered",
                first,
            )),
            None => Ok(serde_json::json!({"alarm_changes": summary.alarm_changes})),
        };
        (result, summary)
    }

    /// The thread an alarm's ALARM message opened at a destination: this container's memory, else the
    /// shared one.
    async fn thread_of(
        &self,
        destination: &str,
        alarm: &str,
        now_ms: i64,
        summary: &mut Summary,
    ) -> Option<Thread> {
        let key = memory::thread_key(destination, alarm);
        let local = self
            .threads
            .lock()
            .ok()
            .and_then(|t| t.get(&key).filter(|(_, until)| *until >= now_ms).cloned());
        if let Some((t, _)) = local {
            return Some(t);
        }
        match self.memory.thread(&key, now_ms).await {
            Ok(t) => t,
            Err(e) => {
                summary.memory_errors += 1;
                tracing::warn!(alarm, error = %e, "thread unknown; posting the change on its own");
                None
            }
        }
    }

    async fn remember_thread(
        &self,
        destination: &str,
        alarm: &str,
        t: Thread,
        now_ms: i64,
        summary: &mut Summary,
    ) {
        let until = now_ms + THREAD_KEPT_MS;
        let key = memory::thread_key(destination, alarm);
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
            local.insert(key, (t, until));
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
