//! Repeat suppression that every container of the notifier shares and that survives cold starts.
//!
//! Before a message is posted, each new alert's fingerprint is *claimed* in a shared table: a conditional
//! write that only one container wins, so two containers racing on one fingerprint post it once. The claim
//! is a lease that ends with the invocation's deadline; once Slack took the message it is *confirmed* for
//! the suppression window, and when Slack did not take it the claim is *released*, so the retry (or any
//! other container) posts it: an undelivered alert is never suppressed. A claim left behind by a crash
//! lapses with its lease, and the retry of the same invocation (same request id, same owner) may take its
//! own unconfirmed claim again.
//!
//! The same table remembers the Slack thread of each alarm's ALARM message (its channel and `ts`), so that the
//! recovery is posted in that thread by whichever container receives it.
//!
//! The table is DynamoDB ([`dynamodb`]); [`LocalTable`] keeps the same conditions in memory for tests and
//! local runs; without a table ([`NoSharedMemory`]) each container's own memory
//! (`logcore::alert::Suppressor`) decides alone, as before.

pub mod dynamodb;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use logpipe_io::CallError;

/// What a claim came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This invocation posts the alert.
    Ours,
    /// Another container posts it, or posted it within the window: a repeat.
    Held,
}

/// A Slack message's thread: the channel's id and the parent message's `ts` (`chat.postMessage` answers both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub channel: String,
    pub ts: String,
}

/// The table key of an alarm's thread at a destination (never a fingerprint's: those are 16 hex digits).
pub fn thread_key(destination: &str, alarm: &str) -> String {
    format!("thread:{destination}:{alarm}")
}

/// The shared memory of alerts posted (keyed by fingerprint) and of alarms' threads (by alarm name).
pub trait SharedMemory: Send + Sync + 'static {
    /// Whether there is a shared memory at all (without one, nothing is claimed).
    fn enabled(&self) -> bool {
        true
    }
    /// Claim `key` for `owner` until `lease_until_ms`. Granted when nobody holds it, when what held it
    /// ended before `now_ms`, or when `owner` holds an unconfirmed claim on it (its own retry).
    fn claim(
        &self,
        key: &str,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> impl Future<Output = Result<Claim, CallError>> + Send;
    /// Slack took the alert: nobody posts it again before `until_ms`.
    fn confirm(
        &self,
        key: &str,
        owner: &str,
        until_ms: i64,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
    /// Slack did not take it: the claim goes, so the next try posts it.
    fn release(&self, key: &str, owner: &str)
        -> impl Future<Output = Result<(), CallError>> + Send;
    /// The thread remembered under `key` ([`thread_key`]), while it is current at `now_ms`.
    fn thread(
        &self,
        key: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<Option<Thread>, CallError>> + Send;
    /// Remember a thread under `key` until `until_ms` (replacing any other).
    fn remember_thread(
        &self,
        key: &str,
        thread: &Thread,
        until_ms: i64,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
}

/// The table key of a fingerprint.
pub fn key(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

/// No shared memory: the container's own memory decides alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSharedMemory;

impl SharedMemory for NoSharedMemory {
    fn enabled(&self) -> bool {
        false
    }
    async fn claim(&self, _: &str, _: &str, _: i64, _: i64) -> Result<Claim, CallError> {
        Ok(Claim::Ours)
    }
    async fn confirm(&self, _: &str, _: &str, _: i64) -> Result<(), CallError> {
        Ok(())
    }
    async fn release(&self, _: &str, _: &str) -> Result<(), CallError> {
        Ok(())
    }
    async fn thread(&self, _: &str, _: i64) -> Result<Option<Thread>, CallError> {
        Ok(None)
    }
    async fn remember_thread(&self, _: &str, _: &Thread, _: i64) -> Result<(), CallError> {
        Ok(())
    }
}

/// One entry of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub owner: String,
    /// Posted (confirmed), or claimed and not yet posted.
    pub sent: bool,
    /// When the claim or the suppression ends (ms since the epoch).
    pub until_ms: i64,
}

impl Entry {
    /// Whether `owner` may claim over this entry at `now_ms`: the conditions of the DynamoDB write.
    pub fn yields_to(&self, owner: &str, now_ms: i64) -> bool {
        self.until_ms < now_ms || (self.owner == owner && !self.sent)
    }
}

/// The table in memory, with DynamoDB's conditions: for tests and local runs of several notifiers. Clones
/// share one table, as containers share one DynamoDB table.
#[derive(Debug, Default, Clone)]
pub struct LocalTable {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    threads: Arc<Mutex<HashMap<String, (Thread, i64)>>>,
}

impl LocalTable {
    /// The entry of a key, as the table holds it now.
    pub fn entry(&self, key: &str) -> Option<Entry> {
        self.lock().get(key).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SharedMemory for LocalTable {
    async fn claim(
        &self,
        key: &str,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Claim, CallError> {
        let mut t = self.lock();
        if t.get(key).is_some_and(|e| !e.yields_to(owner, now_ms)) {
            return Ok(Claim::Held);
        }
        t.insert(
            key.to_string(),
            Entry {
                owner: owner.to_string(),
                sent: false,
                until_ms: lease_until_ms,
            },
        );
        Ok(Claim::Ours)
    }

    async fn confirm(&self, key: &str, owner: &str, until_ms: i64) -> Result<(), CallError> {
        if let Some(e) = self.lock().get_mut(key).filter(|e| e.owner == owner) {
            e.sent = true;
            e.until_ms = until_ms;
        }
        Ok(())
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), CallError> {
        let mut t = self.lock();
        if t.get(key).is_some_and(|e| e.owner == owner && !e.sent) {
            t.remove(key);
        }
        Ok(())
    }

    async fn thread(&self, key: &str, now_ms: i64) -> Result<Option<Thread>, CallError> {
        let t = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        Ok(t.get(key)
            .filter(|(_, until)| *until >= now_ms)
            .map(|(th, _)| th.clone()))
    }

    async fn remember_thread(
        &self,
        key: &str,
        thread: &Thread,
        until_ms: i64,
    ) -> Result<(), CallError> {
        let mut t = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        t.insert(key.to_string(), (thread.clone(), until_ms));
        Ok(())
    }
}

/// A table or none, as the configuration says (`SUPPRESS_TABLE`).
impl<T: SharedMemory> SharedMemory for Option<T> {
    fn enabled(&self) -> bool {
        self.as_ref().is_some_and(T::enabled)
    }
    async fn claim(
        &self,
        key: &str,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Claim, CallError> {
        match self {
            Some(t) => t.claim(key, owner, now_ms, lease_until_ms).await,
            None => Ok(Claim::Ours),
        }
    }
    async fn confirm(&self, key: &str, owner: &str, until_ms: i64) -> Result<(), CallError> {
        match self {
            Some(t) => t.confirm(key, owner, until_ms).await,
            None => Ok(()),
        }
    }
    async fn release(&self, key: &str, owner: &str) -> Result<(), CallError> {
        match self {
            Some(t) => t.release(key, owner).await,
            None => Ok(()),
        }
    }
    async fn thread(&self, key: &str, now_ms: i64) -> Result<Option<Thread>, CallError> {
        match self {
            Some(t) => t.thread(key, now_ms).await,
            None => Ok(None),
        }
    }
    async fn remember_thread(
        &self,
        key: &str,
        thread: &Thread,
        until_ms: i64,
    ) -> Result<(), CallError> {
        match self {
            Some(t) => t.remember_thread(key, thread, until_ms).await,
            None => Ok(()),
        }
    }
}
