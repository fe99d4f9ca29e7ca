//! Looking for strings in log objects, and which object keys a time range can be under.

use std::io::Read;

use logcore::base::time::DateTimeParts;
use memchr::memmem::Finder;

/// Why an object could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("not valid gzip after {0} bytes of text: {1}")]
    Gzip(u64, String),
    #[error("holds more than {0} bytes of text (the scan's cap)")]
    TooLarge(u64),
}

/// Which of `needles` occur in `object` (gzip, possibly several members, or plain text), reading at most
/// `cap` bytes of text. `found[i]` tells of `needles[i]`.
pub fn scan(object: &[u8], needles: &[&[u8]], cap: u64) -> Result<Vec<bool>, ScanError> {
    if object.starts_with(&[0x1f, 0x8b]) {
        scan_reader(
            flate2::read::MultiGzDecoder::new(object),
            needles,
            cap,
            64 << 10,
        )
    } else {
        scan_reader(object, needles, cap, 64 << 10)
    }
}

/// [`scan`] over any reader, `chunk` bytes at a time; a needle split across two reads is still found.
pub fn scan_reader(
    mut r: impl Read,
    needles: &[&[u8]],
    cap: u64,
    chunk: usize,
) -> Result<Vec<bool>, ScanError> {
    let finders: Vec<Finder> = needles.iter().map(Finder::new).collect();
    let mut found = vec![false; needles.len()];
    // Kept from one read to the next: the last (longest needle - 1) bytes.
    let keep = needles.iter().map(|n| n.len()).max().unwrap_or(1).max(1) - 1;
    let mut buf = Vec::with_capacity(keep + chunk.max(1));
    let mut total = 0u64;
    loop {
        let start = buf.len();
        buf.resize(start + chunk.max(1), 0);
        let n = match r.read(&mut buf[start..]) {
            Ok(n) => n,
            // Not the end of the object (0 would read as that): read again.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                buf.truncate(start);
                continue;
            }
            Err(e) => return Err(ScanError::Gzip(total, e.to_string())),
        };
        buf.truncate(start + n);
        if n == 0 {
            return Ok(found);
        }
        total += n as u64;
        if total > cap {
            return Err(ScanError::TooLarge(cap));
        }
        for (f, hit) in finders.iter().zip(found.iter_mut()) {
            if !*hit && !f.needle().is_empty() {
                *hit = f.find(&buf).is_some();
            }
        }
        if found.iter().all(|&f| f) {
            return Ok(found);
        }
        let drop = buf.len().saturating_sub(keep);
        buf.drain(..drop);
    }
}

/// A key prefix with time fields: `%Y`, `%m`, `%d`, `%H` (UTC), as Firehose's `!{timestamp:yyyy/MM/dd/HH}`
/// or a `date` partition key lays objects out; `%%` is a `%`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl Default for KeyPrefix {
    /// Firehose's layout for the app stream: `logs/%Y/%m/%d/%H/`.
    fn default() -> Self {
        KeyPrefix("logs/%Y/%m/%d/%H/".into())
    }
}

impl KeyPrefix {
    /// The prefix as written, with its time fields.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for KeyPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '%' {
                match chars.next() {
                    Some('Y' | 'm' | 'd' | 'H' | '%') => {}
                    Some(o) => {
                        return Err(format!(
                            "%{o} in key prefix {s:?}: expected %Y, %m, %d, %H or %%"
                        ))
                    }
                    None => return Err(format!("key prefix {s:?} ends with a lone %")),
                }
            }
        }
        Ok(KeyPrefix(s.to_string()))
    }
}

impl KeyPrefix {
    /// The prefix for the hour of `ms`.
    pub fn at(&self, ms: i64) -> String {
        let t = DateTimeParts::from_millis(ms);
        let mut out = String::with_capacity(self.0.len() + 8);
        let mut chars = self.0.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('Y') => out.push_str(&format!("{:04}", t.year)),
                Some('m') => out.push_str(&format!("{:02}", t.month)),
                Some('d') => out.push_str(&format!("{:02}", t.day)),
                Some('H') => out.push_str(&format!("{:02}", t.hour)),
                _ => out.push('%'),
            }
        }
        out
    }

    /// Every distinct prefix objects written from `from_ms` to `to_ms` can be under, in time order.
    pub fn between(&self, from_ms: i64, to_ms: i64) -> Vec<String> {
        const HOUR: i64 = 3_600_000;
        let mut out: Vec<String> = Vec::new();
        let mut t = from_ms - from_ms.rem_euclid(HOUR);
        while t <= to_ms {
            let p = self.at(t);
            if out.last() != Some(&p) {
                out.push(p);
            }
            t += HOUR;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    fn gzip(parts: &[&[u8]]) -> Vec<u8> {
        // One gzip member per part, as Firehose's concatenated objects can be.
        let mut out = Vec::new();
        for p in parts {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(p).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    }

    #[test]
    fn finds_needles_in_gzip_members_and_plain_text() {
        let obj = gzip(&[
            b"{\"message\":\"a\"}\n",
            b"{\"message\":\"lpcanary-1-beef\"}\n",
        ]);
        let needles: [&[u8]; 2] = [b"lpcanary-1-beef", b"lpcanary-2-dead"];
        assert_eq!(scan(&obj, &needles, 1 << 20).unwrap(), vec![true, false]);
        assert_eq!(
            scan(b"x lpcanary-2-dead y", &needles, 1 << 20).unwrap(),
            vec![false, true]
        );
        assert_eq!(scan(b"", &needles, 1 << 20).unwrap(), vec![false, false]);
    }

    #[test]
    fn bad_gzip_and_the_cap_are_errors() {
        let mut obj = gzip(&[b"hello world, hello world"]);
        obj.truncate(obj.len() - 12);
        let e = scan(&obj, &[b"zzz"], 1 << 20).unwrap_err();
        assert!(matches!(e, ScanError::Gzip(..)), "{e}");
        let big = gzip(&[&vec![b'a'; 10_000]]);
        assert_eq!(
            scan(&big, &[b"zzz"], 1_000).unwrap_err(),
            ScanError::TooLarge(1_000)
        );
    }

    #[test]
    fn an_interrupted_read_is_read_again() {
        /// Answers every other read with `Interrupted`.
        struct Flaky<'a>(&'a [u8], bool);
        impl Read for Flaky<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.1 = !self.1;
                if self.1 {
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
                self.0.read(buf)
            }
        }
        let text = b"aaaa lpcanary-9-beef bbbb";
        let found = scan_reader(Flaky(text, false), &[b"lpcanary-9-beef"], 1 << 20, 4).unwrap();
        assert_eq!(found, vec![true]);
    }

    #[test]
    fn prefixes_per_hour_and_day() {
        let p: KeyPrefix = "logs/%Y/%m/%d/%H/".parse().unwrap();
        // 2026-11-22T23:30:00Z to 2026-11-23T01:10:00Z
        let from = 1_795_390_200_000;
        assert_eq!(p.at(from), "logs/2026/11/22/23/");
        assert_eq!(
            p.between(from, from + 100 * 60_000),
            vec![
                "logs/2026/11/22/23/",
                "logs/2026/11/23/00/",
                "logs/2026/11/23/01/"
            ]
        );
        let d: KeyPrefix = "logs/app/%Y-%m-%d/".parse().unwrap();
        assert_eq!(
            d.between(from, from + 100 * 60_000),
            vec!["logs/app/2026-11-22/", "logs/app/2026-11-23/"]
        );
        let plain: KeyPrefix = "logs/100%%/".parse().unwrap();
        assert_eq!(plain.between(from, from + 7_200_000), vec!["logs/100%/"]);
        assert!("logs/%Q/".parse::<KeyPrefix>().unwrap_err().contains("%Q"));
        assert!("logs/%".parse::<KeyPrefix>().unwrap_err().contains("lone"));
    }

    /// An object holding the document of a 1 MB event of control characters (6 MB once escaped) before
    /// and after the heartbeat: the heartbeat is found in either place, within the default cap.
    #[test]
    fn heartbeats_are_found_around_megabyte_documents() {
        let huge =
            serde_json::json!({"message": "\u{1}".repeat(logcore::logs::cwl::MAX_MESSAGE_BYTES)})
                .to_string();
        assert!(huge.len() > 6_000_000);
        let beat = r#"{"message":"logpipe-canary heartbeat 42"}"#;
        for text in [format!("{huge}\n{beat}\n"), format!("{beat}\n{huge}\n")] {
            let gz = logcore::base::codec::gzip(text.as_bytes(), 1);
            let got = scan(&gz, &[b"heartbeat 42", b"heartbeat 43"], 256 << 20).unwrap();
            assert_eq!(got, vec![true, false]);
        }
    }

    proptest! {
        // A needle is found exactly when it occurs, whatever the read size.
        #[test]
        fn found_iff_present(
            text in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n')], 0..400),
            needle in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 1..6),
            chunk in 1usize..50,
        ) {
            let present = text.windows(needle.len()).any(|w| w == needle.as_slice());
            let got = scan_reader(text.as_slice(), &[&needle, b"zz"], u64::MAX, chunk).unwrap();
            prop_assert_eq!(got, vec![present, false]);
        }

        #[test]
        fn never_panics_on_any_object(obj in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = scan(&obj, &[b"ab", b""], 10_000);
        }
    }
}
