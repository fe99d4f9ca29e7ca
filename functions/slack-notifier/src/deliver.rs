//! Posting to Slack: what an answer means, the pace of each destination (its rate and its Retry-After
//! windows hold across messages and invocations of a container), and retries within the deadline.

use std::sync::Arc;
use std::time::Duration;

use logpipe_io::Store;
use serde_json::Value;
use tokio::time::Instant;

use crate::memory::SharedMemory;
use crate::{Notifier, Reply, Slack, Summary};

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

/// One destination: where its messages go, and when the next may start.
pub struct Destination<K> {
    pub slack: Arc<K>,
    pace: tokio::sync::Mutex<Pace>,
}

impl<K> Destination<K> {
    pub fn new(slack: Arc<K>) -> Self {
        Destination {
            slack,
            pace: tokio::sync::Mutex::new(Pace::default()),
        }
    }
}

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

impl<S: Store, K: Slack, M: SharedMemory> Notifier<S, K, M> {
    /// Post one message: wait for Slack's pace, retry 429 (after `Retry-After`), 5xx and timeouts with
    /// backoff while an attempt can end before `stop`; permanent errors end at once. Returns Slack's
    /// answer to the post it took.
    pub(crate) async fn deliver(
        &self,
        dest: &Destination<K>,
        msg: &Value,
        stop: Instant,
        summary: &mut Summary,
    ) -> Result<Reply, String> {
        let cfg = &self.cfg;
        let mut rng = fastrand::Rng::new();
        let mut attempts = 0u32;
        let mut pace = dest.pace.lock().await;
        loop {
            if let Some(ready) = pace.ready(cfg.min_interval) {
                if ready + cfg.request_timeout > stop {
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
            let posted = tokio::time::timeout(cfg.request_timeout, dest.slack.post(msg)).await;
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
            let remaining = stop.saturating_duration_since(Instant::now());
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
