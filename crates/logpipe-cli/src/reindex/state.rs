//! Where a reindex stands, kept in a file after every batch sent, so that a re-run with the same arguments
//! continues there: the listing and the last key sent in it (listings are in key order), what was sent, and
//! the archived objects still waiting for a restore. A run that finished with nothing waiting removes it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The state file's format (a newer one is refused, not misread).
const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// The run's arguments, as the file name's digest was made from them.
    pub arguments: String,
    /// The window, fixed at the first run (a relative `--since 6h` would move).
    pub from_ms: i64,
    pub to_ms: i64,
    /// Objects are sent up to here: the listing's index and the last key sent in it.
    pub listing: usize,
    pub last_key: Option<String>,
    pub objects_sent: u64,
    pub bytes_sent: u64,
    /// Objects of the window in an archive storage class, not sent: a later run sends those restored.
    pub archived: Vec<Waiting>,
}

/// An archived object waiting for its restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub key: String,
    pub size: u64,
    pub class: String,
}

impl State {
    pub fn new(arguments: &str, from_ms: i64, to_ms: i64) -> State {
        State {
            version: VERSION,
            arguments: arguments.to_string(),
            from_ms,
            to_ms,
            ..State::default()
        }
    }

    /// Whether the object at `key` of listing `listing` was sent by an earlier run.
    pub fn passed(&self, listing: usize, key: &str) -> bool {
        match listing.cmp(&self.listing) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => self.last_key.as_deref().is_some_and(|k| key <= k),
        }
    }

    /// Sent up to `key` of `listing`.
    pub fn advance(&mut self, listing: usize, key: &str, objects: u64, bytes: u64) {
        self.listing = listing;
        self.last_key = Some(key.to_string());
        self.objects_sent += objects;
        self.bytes_sent += bytes;
    }
}

/// The file of the run with these arguments: `logpipe-reindex-<12 hex digits of their MD5>.json` in
/// `dir`.
pub fn path_for(dir: &Path, arguments: &str) -> PathBuf {
    use md5::Digest as _;
    let digest = md5::Md5::digest(arguments.as_bytes());
    dir.join(format!(
        "logpipe-reindex-{}.json",
        logcore::base::codec::hex(&digest[..6])
    ))
}

/// The state at `path`: `None` when there is none. The error names the file and what is wrong.
pub fn load(path: &Path, arguments: &str) -> Result<Option<State>, String> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let state: State = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "{}: not a reindex state ({e}); remove it or pass --restart",
            path.display()
        )
    })?;
    if state.version != VERSION {
        return Err(format!(
            "{}: state version {} (this logpipe writes {VERSION}); pass --restart",
            path.display(),
            state.version
        ));
    }
    if state.arguments != arguments {
        return Err(format!(
            "{}: made by a run with other arguments ({}); pass --restart or --state with another file",
            path.display(),
            state.arguments
        ));
    }
    Ok(Some(state))
}

/// Write the state whole: to a file beside it, then renamed over it, so an interrupted write never leaves
/// half a state.
pub fn save(path: &Path, state: &State) -> Result<(), String> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(state).map_err(|e| format!("reindex state: {e}"))?;
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passed_keys_and_a_round_trip() {
        let dir =
            std::env::temp_dir().join(format!("logpipe-reindex-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let args = "bucket=b kind=app from=2026-03-01 to=2026-03-02";
        let path = path_for(&dir, args);
        assert!(path.to_string_lossy().contains("logpipe-reindex-"));
        assert_ne!(path, path_for(&dir, "other"));
        assert_eq!(load(&path, args), Ok(None));

        let mut s = State::new(args, 1, 2);
        assert!(!s.passed(0, "a"));
        s.advance(1, "logs/2026/03/01/10/b.gz", 10, 1000);
        assert!(s.passed(0, "zzz"));
        assert!(s.passed(1, "logs/2026/03/01/10/a.gz"));
        assert!(s.passed(1, "logs/2026/03/01/10/b.gz"));
        assert!(!s.passed(1, "logs/2026/03/01/10/c.gz"));
        assert!(!s.passed(2, "a"));
        s.archived.push(Waiting {
            key: "k".into(),
            size: 5,
            class: "GLACIER".into(),
        });
        save(&path, &s).unwrap();
        assert_eq!(load(&path, args), Ok(Some(s.clone())));
        let e = load(&path, "other arguments").unwrap_err();
        assert!(
            e.contains("other arguments") && e.contains("--restart"),
            "{e}"
        );
        std::fs::write(&path, b"{").unwrap();
        assert!(load(&path, args)
            .unwrap_err()
            .contains("not a reindex state"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
