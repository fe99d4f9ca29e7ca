//! Records on several cores, answered in order: each record's decoding and documents need nothing of
//! the others, while the answer (which records fit in the response, and in which order) is decided one
//! record after another.

use std::sync::{mpsc, Condvar, Mutex, MutexGuard};

/// `produce(k)` for every `k` in `0..n` on `threads` threads, and `consume(k, result)` on the calling
/// thread in the order of `k`. At most `window` results are made ahead of the one being waited for, so
/// that memory stays that of `window` records, not of the whole batch. With one thread (or one item),
/// everything runs on the calling thread, one item after the other.
///
/// A panic in `produce` or `consume` stops the other threads and is raised again on the calling thread.
pub(super) fn in_order<T: Send>(
    n: usize,
    threads: usize,
    window: usize,
    produce: impl Fn(usize) -> T + Sync,
    mut consume: impl FnMut(usize, T),
) {
    if threads <= 1 || n <= 1 {
        for k in 0..n {
            let t = produce(k);
            consume(k, t);
        }
        return;
    }
    let window = window.max(threads);
    let shared = Shared {
        state: Mutex::new(State {
            next: 0,
            consumed: 0,
            stop: false,
        }),
        wake: Condvar::new(),
    };
    let (tx, rx) = mpsc::channel::<(usize, T)>();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(n) {
            let tx = tx.clone();
            let (shared, produce) = (&shared, &produce);
            scope.spawn(move || {
                let _stop = StopOnDrop(shared);
                while let Some(k) = shared.take(n, window) {
                    if tx.send((k, produce(k))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        // Also stops the threads when `consume` panics (they would otherwise wait for room forever).
        let _stop = StopOnDrop(&shared);
        let mut waiting: Vec<Option<T>> = (0..window).map(|_| None).collect();
        let mut want = 0;
        while want < n {
            // Every thread gone before the end: one panicked, and the scope raises it again.
            let Ok((k, t)) = rx.recv() else { break };
            waiting[k % window] = Some(t);
            while let Some(t) = waiting[want % window].take() {
                consume(want, t);
                want += 1;
                shared.lock().consumed = want;
                shared.wake.notify_all();
            }
        }
    });
}

struct State {
    /// The next item to produce.
    next: usize,
    /// Items consumed: the next one waited for.
    consumed: usize,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing is left half-done under the lock: a panic elsewhere leaves the state as good as before.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next item to produce once it is within the window; `None` when there is none or on a stop.
    fn take(&self, n: usize, window: usize) -> Option<usize> {
        let mut s = self.lock();
        loop {
            if s.stop || s.next >= n {
                return None;
            }
            if s.next < s.consumed + window {
                s.next += 1;
                return Some(s.next - 1);
            }
            s = self.wake.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Stops every thread when dropped: at a thread's end, or as a panic unwinds it.
struct StopOnDrop<'a>(&'a Shared);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().stop = true;
            self.0.wake.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn results_arrive_in_order_within_the_window() {
        for (n, threads, window) in [
            (0, 4, 8),
            (1, 4, 8),
            (100, 1, 1),
            (100, 3, 3),
            (257, 2, 4),
            (50, 8, 2),
        ] {
            let ahead = AtomicUsize::new(0);
            let consumed = AtomicUsize::new(0);
            let mut seen = Vec::new();
            in_order(
                n,
                threads,
                window,
                |k| {
                    // Later items finish first now and then.
                    if k % 7 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                    let lead = k - consumed.load(Ordering::SeqCst);
                    ahead.fetch_max(lead, Ordering::SeqCst);
                    k * 2
                },
                |k, v| {
                    assert_eq!(v, k * 2);
                    seen.push(k);
                    consumed.store(k + 1, Ordering::SeqCst);
                },
            );
            assert_eq!(
                seen,
                (0..n).collect::<Vec<_>>(),
                "{n} items, {threads} threads"
            );
            assert!(
                ahead.load(Ordering::SeqCst) < window.max(threads).max(1),
                "an item was made {} ahead with a window of {window}",
                ahead.load(Ordering::SeqCst)
            );
        }
    }

    #[test]
    fn a_panic_on_a_thread_reaches_the_caller_and_nothing_hangs() {
        for at in [0, 5, 99] {
            let r = std::panic::catch_unwind(|| {
                in_order(100, 3, 4, |k| assert_ne!(k, at, "item {k}"), |_, ()| {})
            });
            assert!(r.is_err(), "panic at {at}");
            let r = std::panic::catch_unwind(|| {
                in_order(100, 3, 4, |k| k, |k, _| assert_ne!(k, at, "consumed {k}"))
            });
            assert!(r.is_err(), "panic consuming {at}");
        }
    }
}
