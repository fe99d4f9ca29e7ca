//! Grouping of one invocation's alert-worthy events per log group, in order, with bounded memory.

use std::collections::HashMap;

use super::AlertEvent;
use crate::logs::level::level_of;

/// The alert-worthy events of one log group in one invocation: the first `shown` kept, the rest counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub log_group: String,
    pub account: String,
    pub region: Option<String>,
    pub shown: Vec<AlertEvent>,
    /// Alert-worthy events in all (shown and not), repeats excluded.
    pub total: u64,
    /// Repeats of messages already sent within the window, or already in this group.
    pub suppressed: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// Fingerprints of the events this group's message stands for (to record once it is delivered).
    pub fingerprints: Vec<u64>,
    /// The fingerprint of each of `shown`, in the same order.
    pub shown_fingerprints: Vec<u64>,
    /// The levels of its alerts (repeats left out), each once: for the levels' mentions.
    pub levels: Vec<&'static str>,
}

impl Group {
    /// Take out the alerts whose fingerprints another container has claimed (it posts them): they count as
    /// suppressed repeats, and leave the shown events and the fingerprints. Returns how many were taken out.
    pub fn withdraw(&mut self, claimed_elsewhere: &std::collections::HashSet<u64>) -> u64 {
        if claimed_elsewhere.is_empty() {
            return 0;
        }
        let before = self.fingerprints.len();
        self.fingerprints
            .retain(|fp| !claimed_elsewhere.contains(fp));
        let n = (before - self.fingerprints.len()) as u64;
        // Each remembered fingerprint stands for exactly one counted alert (later ones of the same
        // fingerprint were counted as suppressed already).
        self.total -= n.min(self.total);
        self.suppressed += n;
        let mut kept = Vec::with_capacity(self.shown.len());
        let mut kept_fps = Vec::with_capacity(self.shown.len());
        for (ev, fp) in self.shown.drain(..).zip(self.shown_fingerprints.drain(..)) {
            if !claimed_elsewhere.contains(&fp) {
                kept.push(ev);
                kept_fps.push(fp);
            }
        }
        self.shown = kept;
        self.shown_fingerprints = kept_fps;
        if let (Some(first), Some(last)) = (
            self.shown.iter().map(|e| e.timestamp_ms).min(),
            self.shown.iter().map(|e| e.timestamp_ms).max(),
        ) {
            if self.total == self.shown.len() as u64 {
                self.first_ms = first;
                self.last_ms = last;
            }
        }
        n
    }
}

/// Distinct messages one [`Grouper`] remembers.
pub const MAX_DISTINCT: usize = 10_000;

/// Collects alert-worthy events per log group, in the order groups first appear. Memory is bounded by
/// `max_shown` events per group and one fingerprint per distinct message.
#[derive(Debug, Clone, Default)]
pub struct Grouper {
    max_shown: usize,
    groups: Vec<Group>,
    index: HashMap<String, usize>,
    seen: std::collections::HashSet<u64>,
}

impl Grouper {
    pub fn new(max_shown: usize) -> Self {
        Grouper {
            max_shown: max_shown.max(1),
            ..Grouper::default()
        }
    }

    /// Add an alert-worthy event; `repeat` says the suppressor has seen its fingerprint within the window.
    /// Returns whether it counts as a new alert (false: suppressed as a repeat).
    pub fn add(&mut self, ev: AlertEvent, fp: u64, repeat: bool) -> bool {
        let level = level_of(&ev.message);
        self.add_at_level(ev, fp, repeat, level)
    }

    /// [`Grouper::add`] for an event whose level the caller has read already (`Rules::judge`).
    pub fn add_at_level(
        &mut self,
        ev: AlertEvent,
        fp: u64,
        repeat: bool,
        level: Option<&'static str>,
    ) -> bool {
        let i = match self.index.get(&ev.log_group) {
            Some(&i) => i,
            None => {
                self.index.insert(ev.log_group.clone(), self.groups.len());
                self.groups.push(Group {
                    log_group: ev.log_group.clone(),
                    account: ev.account.clone(),
                    region: ev.region.clone(),
                    shown: Vec::new(),
                    total: 0,
                    suppressed: 0,
                    first_ms: ev.timestamp_ms,
                    last_ms: ev.timestamp_ms,
                    fingerprints: Vec::new(),
                    shown_fingerprints: Vec::new(),
                    levels: Vec::new(),
                });
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[i];
        if repeat || self.seen.contains(&fp) {
            g.suppressed += 1;
            return false;
        }
        // Past this many distinct messages, later ones are still alerted and counted, but no longer
        // remembered for suppression (memory stays bounded whatever the input).
        if self.seen.len() < MAX_DISTINCT {
            self.seen.insert(fp);
            g.fingerprints.push(fp);
        }
        g.total += 1;
        if let Some(l) = level {
            if !g.levels.contains(&l) {
                g.levels.push(l);
            }
        }
        g.first_ms = g.first_ms.min(ev.timestamp_ms);
        g.last_ms = g.last_ms.max(ev.timestamp_ms);
        if g.shown.len() < self.max_shown {
            g.shown.push(ev);
            g.shown_fingerprints.push(fp);
        }
        true
    }

    /// The groups with at least one new alert (groups of repeats only are not sent), and those of repeats
    /// only (for the counts).
    pub fn finish(self) -> (Vec<Group>, Vec<Group>) {
        self.groups.into_iter().partition(|g| g.total > 0)
    }
}
