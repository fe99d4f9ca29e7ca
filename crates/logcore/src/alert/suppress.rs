//! Repeat suppression within a container: a message seen within its window is counted, not sent again.

use std::collections::HashMap;

/// Repeats seen within a window are counted, not sent again. In memory, per Lambda container: a new
/// container (cold start, scaling out) starts with an empty memory.
#[derive(Debug, Clone)]
pub struct Suppressor {
    window_ms: i64,
    max_entries: usize,
    /// fingerprint → when it was last sent (ms).
    sent: HashMap<u64, i64>,
}

impl Suppressor {
    pub fn new(window_ms: i64, max_entries: usize) -> Self {
        Suppressor {
            window_ms,
            max_entries: max_entries.max(1),
            sent: HashMap::new(),
        }
    }

    /// Whether a message with this fingerprint was sent within the window before `now_ms`.
    pub fn is_repeat(&self, fp: u64, now_ms: i64) -> bool {
        self.window_ms > 0
            && self
                .sent
                .get(&fp)
                .is_some_and(|&t| now_ms.saturating_sub(t) < self.window_ms)
    }

    /// Remember that these were delivered at `now_ms` (called only after Slack took the message, so an
    /// undelivered alert is never suppressed on its retry).
    pub fn record_sent(&mut self, fps: impl IntoIterator<Item = u64>, now_ms: i64) {
        if self.window_ms <= 0 {
            return;
        }
        for fp in fps {
            self.sent.insert(fp, now_ms);
        }
        if self.sent.len() > self.max_entries {
            let window = self.window_ms;
            self.sent.retain(|_, t| now_ms.saturating_sub(*t) < window);
            if self.sent.len() > self.max_entries {
                // Still full of live entries: forget the oldest half rather than grow without bound.
                let mut times: Vec<i64> = self.sent.values().copied().collect();
                times.sort_unstable();
                let cut = times[times.len() / 2];
                self.sent.retain(|_, t| *t > cut);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}
