//! Reading log objects as a stream of units (documents or lines), in bounded memory.
//!
//! [`decoder`] picks the decompression from the first bytes (gzip, several members included as Firehose
//! writes them; zstd; otherwise plain) and enforces a cap on the decompressed size. [`Framer`] then cuts the
//! stream into units:
//!
//! - a line that starts with `{` is JSON: the unit ends where the top-level object closes, so concatenated
//!   objects with no separator (`{…}{…}`, what Firehose writes when a transform forgets the newline) become
//!   one unit each, even if the whole object is one line of a gigabyte; a line break ends a JSON unit too
//!   (JSON text cannot hold a raw one), so a broken object never swallows the lines after it;
//! - any other line is text (a trailing `\r` is dropped); blank lines are skipped and counted.
//!
//! A unit longer than the cap is still read to its end but only its first `max_unit` bytes are kept
//! ([`Unit::truncated`]), so one runaway line cannot take the memory.

use std::io::{self, BufRead, BufReader, Read};

/// The compression of an object, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    pub fn detect(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// The error a [`decoder`] returns once more than its cap has been decompressed.
#[derive(Debug, thiserror::Error)]
#[error("decompressed size exceeds the cap of {cap} bytes")]
pub struct CapExceeded {
    pub cap: u64,
}

/// Wrap `input` in the decompression its first bytes call for, capped at `cap` decompressed bytes.
pub fn decoder<'r, R: Read + 'r>(
    input: R,
    cap: u64,
) -> io::Result<(Compression, Box<dyn BufRead + 'r>)> {
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let compression = Compression::detect(input.fill_buf()?);
    let inner: Box<dyn Read + 'r> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(input)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?,
        ),
        Compression::None => Box::new(input),
    };
    Ok((
        compression,
        Box::new(BufReader::with_capacity(
            64 * 1024,
            Capped {
                inner,
                left: cap,
                cap,
            },
        )),
    ))
}

struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                CapExceeded { cap: self.cap },
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// What kind of line a unit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    /// Starts with `{`: a JSON object if it parses.
    Json,
    Text,
}

/// One document's worth of bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Unit<'a> {
    /// Offset of the first byte in the decompressed stream.
    pub offset: u64,
    /// Length in the stream (without the line break).
    pub len: u64,
    /// The bytes, at most the framer's `max_unit`.
    pub bytes: &'a [u8],
    pub kind: UnitKind,
}

impl Unit<'_> {
    /// Whether the unit was longer than the cap and `bytes` is only its start.
    pub fn truncated(&self) -> bool {
        (self.bytes.len() as u64) < self.len
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// At the start of a line.
    Start,
    /// Right after a JSON unit: spaces, then a line break, another object or trailing text.
    AfterJson,
    Json(JsonScan),
    Text,
}

/// Where the scan of a JSON unit stands, from one buffer to the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct JsonScan {
    depth: u32,
    in_str: bool,
    esc: bool,
}

impl JsonScan {
    /// Scan `avail` for the end of the unit. Returns how many bytes belong to it and, once it ends,
    /// `Some(newline)`: whether a line break ended it (a break inside a string too: the unit is cut there,
    /// as the line it is), which is consumed but not part of the unit.
    #[inline]
    fn scan(&mut self, avail: &[u8]) -> (usize, Option<bool>) {
        let mut i = 0;
        while i < avail.len() {
            if self.in_str {
                if self.esc {
                    self.esc = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr3(b'"', b'\\', b'\n', &avail[i..]) {
                    None => i = avail.len(),
                    Some(j) => {
                        i += j;
                        match avail[i] {
                            b'"' => self.in_str = false,
                            b'\\' => self.esc = true,
                            _ => return (i, Some(true)),
                        }
                        i += 1;
                    }
                }
                continue;
            }
            match avail[i] {
                b'"' => self.in_str = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return (i + 1, Some(false));
                    }
                }
                b'\n' => return (i, Some(true)),
                _ => {}
            }
            i += 1;
        }
        (i, None)
    }
}

/// Cuts a decompressed stream into [`Unit`]s. A lending reader: each unit borrows the framer's buffer.
pub struct Framer<R> {
    r: R,
    buf: Vec<u8>,
    max_unit: usize,
    offset: u64,
    mode: Mode,
    /// Blank lines skipped so far.
    pub blank_lines: u64,
}

impl<R: BufRead> Framer<R> {
    pub fn new(r: R, max_unit: usize) -> Self {
        Framer {
            r,
            buf: Vec::new(),
            max_unit: max_unit.max(1),
            offset: 0,
            mode: Mode::Start,
            blank_lines: 0,
        }
    }

    /// Bytes of the stream read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next unit, or `None` at the end of the stream.
    pub fn next_unit(&mut self) -> io::Result<Option<Unit<'_>>> {
        self.buf.clear();
        let mut start = self.offset;
        let mut len = 0u64;
        let mut kind = UnitKind::Text;
        loop {
            let avail = match self.r.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(match self.mode {
                    Mode::Start | Mode::AfterJson => None,
                    _ => {
                        self.mode = Mode::Start;
                        self.finish(start, len, kind)
                    }
                });
            }
            // How many bytes belong to the unit, how many are used, and whether the unit ends here.
            let (take, used, ends) = match &mut self.mode {
                Mode::Start | Mode::AfterJson => {
                    let b = avail[0];
                    match self.begin(b) {
                        Some(k) => kind = k,
                        None => {
                            self.r.consume(1);
                            self.offset += 1;
                            start = self.offset;
                        }
                    }
                    continue;
                }
                Mode::Text => match memchr::memchr(b'\n', avail) {
                    Some(j) => (j, j + 1, Some(true)),
                    None => (avail.len(), avail.len(), None),
                },
                Mode::Json(scan) => {
                    let (take, end) = scan.scan(avail);
                    (take, take + usize::from(end == Some(true)), end)
                }
            };
            keep(&mut self.buf, &avail[..take], self.max_unit);
            len += take as u64;
            self.r.consume(used);
            self.offset += used as u64;
            let Some(newline) = ends else { continue };
            self.mode = if newline {
                Mode::Start
            } else {
                Mode::AfterJson
            };
            // A lone "\r" (or nothing) on a text line is a blank line.
            if kind == UnitKind::Text
                && (len == 0 || (len == 1 && self.buf.first() == Some(&b'\r')))
            {
                self.blank_lines += 1;
                self.buf.clear();
                len = 0;
                start = self.offset;
                continue;
            }
            return Ok(self.finish(start, len, kind));
        }
    }

    /// At the start of a line (or after a JSON unit), the byte `b`: a unit begins (its kind; the mode says
    /// how it is scanned), or `b` is a separator to skip (`None`: a line break, or spaces after JSON).
    fn begin(&mut self, b: u8) -> Option<UnitKind> {
        if self.mode == Mode::AfterJson && matches!(b, b' ' | b'\t' | b'\r') {
            return None;
        }
        if b == b'\n' {
            if self.mode == Mode::Start {
                self.blank_lines += 1;
            }
            self.mode = Mode::Start;
            return None;
        }
        if b == b'{' {
            self.mode = Mode::Json(JsonScan::default());
            Some(UnitKind::Json)
        } else {
            self.mode = Mode::Text;
            Some(UnitKind::Text)
        }
    }

    fn finish(&mut self, offset: u64, mut len: u64, kind: UnitKind) -> Option<Unit<'_>> {
        if kind == UnitKind::Text && self.buf.last() == Some(&b'\r') && len == self.buf.len() as u64
        {
            self.buf.pop();
            len -= 1;
        }
        Some(Unit {
            offset,
            len,
            bytes: &self.buf,
            kind,
        })
    }
}

fn keep(buf: &mut Vec<u8>, bytes: &[u8], cap: usize) {
    let room = cap.saturating_sub(buf.len());
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    /// (offset, text, kind, truncated) of every unit, reading through a reader that returns at most
    /// `chunk` bytes at a time (so units cross buffer boundaries).
    fn units(
        input: &[u8],
        max_unit: usize,
        chunk: usize,
    ) -> (Vec<(u64, String, UnitKind, bool)>, u64) {
        let r = BufReader::with_capacity(chunk.max(1), Cursor::new(input.to_vec()));
        let mut f = Framer::new(r, max_unit);
        let mut out = Vec::new();
        while let Some(u) = f.next_unit().unwrap() {
            out.push((
                u.offset,
                String::from_utf8_lossy(u.bytes).into_owned(),
                u.kind,
                u.truncated(),
            ));
        }
        (out, f.blank_lines)
    }

    fn texts(input: &str) -> Vec<String> {
        units(input.as_bytes(), 1 << 20, 7)
            .0
            .into_iter()
            .map(|u| u.1)
            .collect()
    }

    #[test]
    fn ndjson_text_and_concatenated_objects() {
        let input =
            "{\"a\":1}\nplain line\r\n\n{\"b\":\"}{\\\"\"}{\"c\":[{}]}\n  indented\n{\"d\":2}  \n";
        let (u, blank) = units(input.as_bytes(), 1 << 20, 3);
        let got: Vec<(&str, UnitKind)> = u.iter().map(|u| (u.1.as_str(), u.2)).collect();
        assert_eq!(
            got,
            [
                ("{\"a\":1}", UnitKind::Json),
                ("plain line", UnitKind::Text),
                ("{\"b\":\"}{\\\"\"}", UnitKind::Json),
                ("{\"c\":[{}]}", UnitKind::Json),
                ("  indented", UnitKind::Text),
                ("{\"d\":2}", UnitKind::Json),
            ]
        );
        assert_eq!(blank, 1);
        // Offsets point at the unit in the stream.
        for (off, text, _, _) in &u {
            assert_eq!(&input[*off as usize..*off as usize + text.len()], text);
        }
    }

    #[test]
    fn one_gigantic_line_of_objects_and_broken_json() {
        let many: String = (0..1000).map(|i| format!("{{\"i\":{i}}}")).collect();
        assert_eq!(texts(&many).len(), 1000);
        // A broken object ends at the line break and the next line is read normally.
        assert_eq!(
            texts("{\"a\":\"unterminated\nnext\n{\"open\":[1,2\n{}x\n"),
            ["{\"a\":\"unterminated", "next", "{\"open\":[1,2", "{}", "x"]
        );
        // No final newline.
        assert_eq!(texts("a\nb"), ["a", "b"]);
        assert_eq!(texts("{\"a\":1"), ["{\"a\":1"]);
    }

    #[test]
    fn long_units_are_cut_but_read_to_the_end() {
        let long = "x".repeat(100);
        let input = format!("{long}\nshort\n{{\"k\":\"{long}\"}}\n");
        let (u, _) = units(input.as_bytes(), 10, 4);
        assert_eq!(u.len(), 3);
        assert_eq!((u[0].1.as_str(), u[0].3), ("xxxxxxxxxx", true));
        assert_eq!((u[1].1.as_str(), u[1].3), ("short", false));
        assert!(u[2].3);
        assert_eq!(u[2].0, 107);
    }

    #[test]
    fn decoder_detects_and_caps() {
        let plain = b"{\"a\":1}\nline\n".repeat(100);
        let mut gz = crate::base::codec::gzip(&plain[..700], 6);
        gz.extend(crate::base::codec::gzip(&plain[700..], 1)); // two members, as Firehose writes
        for (bytes, want) in [
            (&gz[..], Compression::Gzip),
            (&plain[..], Compression::None),
        ] {
            let (c, mut r) = decoder(bytes, 1 << 20).unwrap();
            assert_eq!(c, want);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, plain);
        }
        let (_, mut r) = decoder(&gz[..], 100).unwrap();
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("cap of 100 bytes"), "{err}");
        // A zstd frame header that is not followed by a valid frame is a clear error, not a panic.
        let bad = [0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff];
        let err = decoder(&bad[..], 100).err().expect("bad zstd");
        assert!(err.to_string().contains("zstd"), "{err}");
    }

    proptest! {
        /// Lines of text and of JSON objects written as NDJSON or concatenated come back as written,
        /// whatever the buffer size.
        #[test]
        fn roundtrip(lines in proptest::collection::vec(
            prop_oneof![
                "[a-z][a-z {}\"\\\\]{0,20}".prop_map(|s| (s, false)),
                proptest::collection::btree_map("[a-z]{1,5}", "\\PC{0,10}", 0..4)
                    .prop_map(|m| (serde_json::to_string(&m).unwrap(), true)),
            ],
            1..20,
        ), concat in any::<bool>(), chunk in 1usize..64) {
            let mut input = String::new();
            for (i, (l, is_json)) in lines.iter().enumerate() {
                input.push_str(l);
                let next_json = lines.get(i + 1).is_some_and(|n| n.1);
                if !(concat && *is_json && next_json) {
                    input.push('\n');
                }
            }
            let (u, _) = units(input.as_bytes(), 1 << 20, chunk);
            let got: Vec<&str> = u.iter().map(|u| u.1.as_str()).collect();
            let want: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
            prop_assert_eq!(got, want);
        }

        /// Arbitrary bytes never panic, units never exceed the cap, and they tile the stream in order.
        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400), cap in 1usize..50, chunk in 1usize..32) {
            let r = BufReader::with_capacity(chunk, Cursor::new(bytes.clone()));
            let mut f = Framer::new(r, cap);
            let mut last_end = 0u64;
            while let Some(u) = f.next_unit().unwrap() {
                prop_assert!(u.bytes.len() <= cap);
                prop_assert!(u.offset >= last_end);
                let end = u.offset + u.len;
                prop_assert!(end <= bytes.len() as u64);
                prop_assert_eq!(u.bytes, &bytes[u.offset as usize..u.offset as usize + u.bytes.len()]);
                last_end = end;
            }
        }
    }
}
