//! The replayed file read into CloudWatch Logs events: each line an event, its time from the line (or after
//! the previous one), grouped into subscription payloads as CloudWatch Logs would send them.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

pub(super) struct Input {
    pub(super) reader: Box<dyn BufRead>,
    pub(super) size: Option<u64>,
    /// Bytes read so far.
    pub(super) read: u64,
}

impl Input {
    pub(super) fn open(path: &Path) -> Result<Input, String> {
        if path.as_os_str() == "-" {
            return Ok(Input {
                reader: Box::new(BufReader::new(std::io::stdin())),
                size: None,
                read: 0,
            });
        }
        let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let size = f.metadata().ok().map(|m| m.len());
        Ok(Input {
            reader: Box::new(BufReader::with_capacity(1 << 20, f)),
            size,
            read: 0,
        })
    }

    pub(super) fn progress_bar(&self) -> indicatif::ProgressBar {
        let bar = match self.size {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, {eta} left",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar
    }

    /// The next line without its line break (lossy UTF-8, as the CloudWatch agent sends it), or `None`.
    pub(super) fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<Option<String>, String> {
        buf.clear();
        let n = self
            .reader
            .read_until(b'\n', buf)
            .map_err(|e| format!("reading the input: {e}"))?;
        if n == 0 {
            return Ok(None);
        }
        self.read += n as u64;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Ok(Some(String::from_utf8_lossy(buf).into_owned()))
    }
}

/// The event time of a line: a leading RFC 3339 timestamp, or a JSON line's `@timestamp`/`time`/
/// `timestamp`, else 1 ms after the previous one.
pub(super) fn event_time(line: &str, previous: i64) -> i64 {
    if !line.is_char_boundary(10.min(line.len())) || !line.is_char_boundary(19.min(line.len())) {
        return previous + 1;
    }
    let token = line.split_whitespace().next().unwrap_or_default();
    if let Some(t) = logcore::base::time::parse_rfc3339_ms(token.trim_matches(['[', ']'])) {
        return t;
    }
    // A PostgreSQL log line's prefix (`2025-11-21 10:00:00 UTC:…`), as pgaudit writes it.
    if line.len() >= 23 && line.as_bytes()[10] == b' ' && line[19..].starts_with(" UTC") {
        if let Some(t) = line.get(..19).and_then(|p| {
            logcore::base::time::parse_rfc3339_ms(&format!("{}T{}Z", &p[..10], &p[11..]))
        }) {
            return t;
        }
    }
    // A MySQL audit record (microseconds since the epoch first): the time the audit transform gives
    // its document, so that the replay's reconciliation counts both in the same hour.
    if line.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        if let Ok(r) = logcore::audit::mysql::parse(line) {
            return r.micros.div_euclid(1000);
        }
    }
    if line.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            for k in ["@timestamp", "time", "timestamp"] {
                if let Some(t) = v[k]
                    .as_str()
                    .and_then(logcore::base::time::parse_rfc3339_ms)
                {
                    return t;
                }
            }
        }
    }
    previous + 1
}
