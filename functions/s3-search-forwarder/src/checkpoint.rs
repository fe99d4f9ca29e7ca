//! How far into an object earlier deliveries got, so that a redelivered object resumes there instead of
//! starting over: an object that needs more than one invocation still finishes in a bounded number of them.
//!
//! A checkpoint is a small JSON object under `CHECKPOINT_PREFIX`, one per object version, holding the count
//! of units (from the start of the decompressed object) whose every outcome is final: created, already
//! there, or written to the dead-letter prefix. It is written when an invocation stops short of the end and
//! deleted once the object is done. The units before it are decompressed and framed again on resume, but
//! not sent. A lost or stale checkpoint costs only 409s (the `_id`s are deterministic), never a document.

use std::collections::VecDeque;

use logcore::search::bulk::Origin;
use serde::{Deserialize, Serialize};

/// Largest checkpoint object read (they are about 200 bytes).
pub const MAX_BYTES: u64 = 64 * 1024;

/// The progress of one object version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Units from the start of the object whose outcome is final.
    pub units: u64,
    /// The decompressed offset the framer reaches after those units: checked on resume, so a checkpoint
    /// that does not describe this object's bytes is never trusted.
    pub offset: u64,
    /// The lines after it continue a record of text lines that a multiline cap cut (so that a resumed
    /// delivery joins them as the first would have).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_cap: bool,
}

impl Checkpoint {
    pub fn to_json(self) -> Vec<u8> {
        // A struct of two integers and a flag always serializes.
        serde_json::to_vec(&self).unwrap_or_default()
    }

    /// Parse a checkpoint object; an error names what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a checkpoint: {e}"))
    }
}

/// `{prefix}{bucket}/{key}/{version}.json`, or with a hash of the object for keys that would pass S3's
/// 1,024-byte limit.
pub fn key(prefix: &str, src: &Origin) -> String {
    object_key(prefix, src, ".json")
}

/// `{prefix}{bucket}/{key}/{version}{leaf}` (the version made key-safe, `unversioned` when there is none), or
/// `{prefix}{bucket}/{hash of bucket, key and version}{leaf}` when that passes 1,024 bytes. Dead letters and
/// checkpoints are both named this way.
pub fn object_key(prefix: &str, src: &Origin, leaf: &str) -> String {
    let version: String = src
        .version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let version = if version.is_empty() {
        "unversioned".to_string()
    } else {
        version
    };
    let key = format!("{prefix}{}/{}/{version}{leaf}", src.bucket, src.key);
    if key.len() <= 1024 {
        key
    } else {
        format!("{prefix}{}/{}{leaf}", src.bucket, src.derived_id(u64::MAX))
    }
}

/// The batches of one object in the order they were cut, and how far the finished ones reach without a
/// gap. Batches finish out of order (several are in flight); only a prefix of finished batches moves the
/// checkpoint.
#[derive(Debug)]
pub struct Progress {
    /// Batches sent and not yet part of the finished prefix: (sequence, where it ends, finished).
    open: VecDeque<(u64, Checkpoint, bool)>,
    next_seq: u64,
    reached: Checkpoint,
}

impl Progress {
    /// Starting at `from` (a checkpoint read, or the start of the object).
    pub fn new(from: Checkpoint) -> Self {
        Progress {
            open: VecDeque::new(),
            next_seq: 0,
            reached: from,
        }
    }

    /// A batch ending at `end` is sent; returns its sequence number.
    pub fn sent(&mut self, end: Checkpoint) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.open.push_back((seq, end, false));
        seq
    }

    /// Batch `seq` finished: every one of its units has its final outcome.
    pub fn finished(&mut self, seq: u64) {
        if let Some(b) = self.open.iter_mut().find(|b| b.0 == seq) {
            b.2 = true;
        }
        while let Some(&(_, end, true)) = self.open.front() {
            self.reached = end;
            self.open.pop_front();
        }
    }

    /// Where the finished prefix ends.
    pub fn reached(&self) -> Checkpoint {
        self.reached
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl Checkpoint {
        fn with_offset(self, offset: u64) -> Checkpoint {
            Checkpoint { offset, ..self }
        }
    }

    fn at(units: u64) -> Checkpoint {
        Checkpoint {
            units,
            offset: units * 10,
            after_cap: false,
        }
    }

    #[test]
    fn checkpoints_written_before_the_flag_still_read() {
        let c = Checkpoint::parse(br#"{"units":3,"offset":40}"#).unwrap();
        assert_eq!(c, at(3).with_offset(40));
        assert_eq!(at(3).to_json(), br#"{"units":3,"offset":30}"#);
    }

    #[test]
    fn only_a_finished_prefix_moves_the_checkpoint() {
        let mut p = Progress::new(at(5));
        let a = p.sent(at(10));
        let b = p.sent(at(20));
        let c = p.sent(at(30));
        p.finished(b);
        assert_eq!(p.reached(), at(5), "batch a is still open");
        p.finished(a);
        assert_eq!(p.reached(), at(20));
        p.finished(c);
        assert_eq!(p.reached(), at(30));
        p.finished(99);
        assert_eq!(p.reached(), at(30));
    }

    #[test]
    fn keys_per_version_and_bounded() {
        let src = Origin::new("logs", "app/2026/x.gz", "\"etag/1\"", "");
        assert_eq!(
            key("checkpoints/", &src),
            "checkpoints/logs/app/2026/x.gz/_etag_1_.json"
        );
        let unversioned = Origin::new("logs", "a.gz", "", "");
        assert_eq!(key("c/", &unversioned), "c/logs/a.gz/unversioned.json");
        let long = Origin::new("logs", &"k/".repeat(600), "v", "");
        let k = key("checkpoints/", &long);
        assert!(k.len() <= 1024 && k.ends_with(".json"), "{k}");
        assert_ne!(
            k,
            key(
                "checkpoints/",
                &Origin::new("logs", &"k/".repeat(601), "v", "")
            )
        );
    }

    proptest! {
        /// Whatever order batches finish in, the checkpoint is the end of the longest finished prefix.
        #[test]
        fn reached_is_the_finished_prefix(n in 1usize..20, order in proptest::collection::vec(any::<u16>(), 20)) {
            let mut p = Progress::new(at(0));
            let seqs: Vec<u64> = (0..n).map(|i| p.sent(at(i as u64 + 1))).collect();
            let mut pending: Vec<u64> = seqs.clone();
            let mut done = vec![false; n];
            for o in order.iter().take(n) {
                let s = pending.remove(*o as usize % pending.len());
                p.finished(s);
                done[s as usize] = true;
                let prefix = done.iter().take_while(|d| **d).count() as u64;
                prop_assert_eq!(p.reached(), at(prefix));
                if pending.is_empty() { break; }
            }
        }

        /// Any bytes parse to a checkpoint or to an error, never a panic; a checkpoint round-trips.
        #[test]
        fn parse_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64), units in any::<u64>(), offset in any::<u64>(), after_cap in any::<bool>()) {
            let _ = Checkpoint::parse(&bytes);
            let c = Checkpoint { units, offset, after_cap };
            prop_assert_eq!(Checkpoint::parse(&c.to_json()), Ok(c));
        }
    }
}
