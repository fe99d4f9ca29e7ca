//! Retry policy: exponential backoff with full jitter, bounded by attempts and by a deadline.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Cap of the first delay; doubles with every attempt.
    pub base: Duration,
    /// Largest cap of a single delay.
    pub max_delay: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_attempts: 8,
        }
    }
}

impl Backoff {
    /// Delay before retry number `retry` (1 for the first retry): uniformly random in `[0, min(max, base·2^(retry-1))]`
    /// ("full jitter", as the AWS Architecture Blog recommends for contending clients).
    pub fn delay(&self, retry: u32, rng: &mut fastrand::Rng) -> Duration {
        let exp = retry.saturating_sub(1).min(30);
        let cap = self.base.saturating_mul(1u32 << exp).min(self.max_delay);
        let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.u64(0..=cap_ms))
    }

    /// Whether another attempt may start: attempts are left, and the delay plus the time one attempt may take
    /// ends before the deadline (`remaining` is the time left until then).
    pub fn may_retry(
        &self,
        attempts_made: u32,
        delay: Duration,
        attempt_time: Duration,
        remaining: Duration,
    ) -> bool {
        attempts_made < self.max_attempts && delay + attempt_time < remaining
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stops_at_attempts_and_deadline() {
        let b = Backoff::default();
        assert!(b.may_retry(
            1,
            Duration::from_millis(50),
            Duration::from_secs(1),
            Duration::from_secs(2)
        ));
        assert!(!b.may_retry(8, Duration::ZERO, Duration::ZERO, Duration::from_secs(60)));
        assert!(!b.may_retry(
            1,
            Duration::from_millis(900),
            Duration::from_millis(200),
            Duration::from_secs(1)
        ));
    }

    proptest! {
        #[test]
        fn delay_within_exponential_cap(retry in 1u32..100, seed in any::<u64>()) {
            let b = Backoff::default();
            let mut rng = fastrand::Rng::with_seed(seed);
            let d = b.delay(retry, &mut rng);
            let cap = (b.base.as_millis() << (retry - 1).min(30)).min(b.max_delay.as_millis());
            prop_assert!(d.as_millis() <= cap);
        }
    }

    #[test]
    fn delays_are_jittered() {
        let b = Backoff::default();
        let mut rng = fastrand::Rng::with_seed(7);
        let ds: std::collections::BTreeSet<_> = (0..50).map(|_| b.delay(5, &mut rng)).collect();
        assert!(ds.len() > 10, "full jitter spreads delays: {ds:?}");
    }
}
