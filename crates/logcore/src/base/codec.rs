//! Byte codecs: base64 and gzip, with a decompression cap so that a small input cannot expand without bound.

use std::io::{Read, Write};

use base64::Engine as _;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Default cap on the decompressed size of one record: 64 MiB.
///
/// A CloudWatch Logs subscription payload holds at most about 1 MB of log events (10,000 events of at most
/// 256 KB, and PutLogEvents batches are limited to 1,048,576 bytes), so a legitimate payload is far below this.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// Why an encoded record could not be decoded. Every variant says what was wrong; the caller adds which
/// record it was.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum DecodeError {
    #[error("invalid base64: {0}")]
    Base64(String),
    #[error("not gzip data (first bytes {0:02x?}, expected 1f 8b)")]
    NotGzip(Vec<u8>),
    #[error("corrupt or truncated gzip data: {0}")]
    Gzip(String),
    #[error("decompressed size exceeds the cap of {cap} bytes (decompression bomb guard)")]
    TooLarge { cap: usize },
    #[error("decompressed payload is not valid UTF-8 (first invalid byte at offset {offset})")]
    Utf8 { offset: usize },
    #[error("invalid CloudWatch Logs payload JSON: {0}")]
    Json(String),
    #[error("unknown messageType {0:?} (expected DATA_MESSAGE or CONTROL_MESSAGE)")]
    UnknownMessageType(String),
    #[error("neither gzip nor a CloudWatch Logs JSON envelope (starts with {0:?}): a delivery stream that extracts messages (CloudWatchLogProcessing with DataMessageExtraction) hands over bare messages, with no log group, stream, time or event id to make documents of; turn message extraction off for a logpipe transform (the Decompression processor alone is fine)")]
    NotAnEnvelope(String),
}

/// Decode standard base64 (with padding), as Firehose and CloudWatch Logs send it.
///
/// The SIMD decoder does the work; when it refuses the input, the `base64` crate decodes it again to say
/// which byte at which offset is wrong (the error path only).
pub fn decode_base64(input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    base64_simd::STANDARD.decode_to_vec(input).map_err(|_| {
        let why = base64::engine::general_purpose::STANDARD
            .decode(input)
            .err()
            .map_or_else(|| "rejected by the decoder".to_string(), |e| e.to_string());
        DecodeError::Base64(why)
    })
}

/// Encode as standard base64 with padding, appending to `out`.
pub fn encode_base64_into(input: &[u8], out: &mut String) {
    base64_simd::STANDARD.encode_append(input, out);
}

/// Encode as standard base64 with padding, appending to `out`.
pub fn encode_base64_append(input: &[u8], out: &mut Vec<u8>) {
    base64_simd::STANDARD.encode_append(input, out);
}

/// Encode as standard base64 with padding.
pub fn encode_base64(input: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(input)
}

/// Lower-case hex of `bytes` (digests in ids, keys and markers).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Exact length of the padded base64 encoding of `n` bytes.
pub const fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Decompress gzip data (one or several concatenated members), refusing to produce more than `cap` bytes.
pub fn gunzip_capped(input: &[u8], cap: usize) -> Result<Vec<u8>, DecodeError> {
    match gunzip_whole(input, cap) {
        Some(out) => Ok(out),
        None => gunzip_stream(input, cap),
    }
}

/// [`gunzip_capped`] by the streaming decoder: any gzip data, each member's checksum and size checked.
fn gunzip_stream(input: &[u8], cap: usize) -> Result<Vec<u8>, DecodeError> {
    if input.len() < 2 || input[0] != 0x1f || input[1] != 0x8b {
        return Err(DecodeError::NotGzip(
            input.iter().take(4).copied().collect(),
        ));
    }
    // CloudWatch Logs compresses at a ratio of roughly 10:1; start there and let the Vec grow.
    let mut out = Vec::with_capacity(input.len().saturating_mul(8).min(cap).min(16 << 20));
    // Read one byte past the cap so that "exactly at the cap" and "over the cap" are told apart.
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut reader = MultiGzDecoder::new(input).take(limit);
    reader
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Gzip(e.to_string()))?;
    if out.len() > cap {
        return Err(DecodeError::TooLarge { cap });
    }
    Ok(out)
}

/// One gzip member as CloudWatch Logs and logpipe write it (a plain 10-byte header, nothing after the
/// trailer), inflated in one call into a buffer of the size its trailer states, and checked against the
/// trailer's CRC-32 and size: no reader, no chunks, no window kept between them, no output zeroed first.
/// `None` for anything else (header fields, several members, a size over the cap, corrupt data), which the
/// streaming decoder then reads and judges.
fn gunzip_whole(input: &[u8], cap: usize) -> Option<Vec<u8>> {
    const HEADER: usize = 10;
    const FTEXT: u8 = 1;
    if input.len() < HEADER + 8 || input[..3] != [0x1f, 0x8b, 8] || input[3] & !FTEXT != 0 {
        return None;
    }
    let (deflate, trailer) = input[HEADER..].split_at(input.len() - HEADER - 8);
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let (crc, size) = (word(&trailer[..4]), word(&trailer[4..]));
    let size = usize::try_from(size).ok().filter(|&n| n <= cap)?;
    // One byte more than stated: a stream that would write past its stated size is not finished in it.
    let mut out = Vec::with_capacity(size + 1);
    // The inflate state (and its window) of the thread's last member, reset: allocating and zeroing
    // them for every record showed in profiles.
    thread_local! {
        static INFLATE: std::cell::RefCell<Option<flate2::Decompress>> = const { std::cell::RefCell::new(None) };
    }
    let (status, consumed) = INFLATE.with_borrow_mut(|d| {
        let d = d.get_or_insert_with(|| flate2::Decompress::new(false));
        d.reset(false);
        let status = d.decompress_vec(deflate, &mut out, flate2::FlushDecompress::Finish);
        (status, d.total_in())
    });
    let mut check = flate2::Crc::new();
    check.update(&out);
    (status.ok()? == flate2::Status::StreamEnd
        && consumed == deflate.len() as u64
        && out.len() == size
        && check.sum() == crc)
        .then_some(out)
}

/// Compress with gzip at the given level (0–9).
pub fn gzip(input: &[u8], level: u32) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(input.len() / 4 + 64),
        Compression::new(level),
    );
    // Writing into a Vec cannot fail.
    enc.write_all(input).expect("write to Vec");
    enc.finish().expect("finish to Vec")
}

/// A gzip compressor kept from one input to the next: its deflate state (window and hash tables, a few
/// hundred KB) is reset rather than allocated, zeroed and faulted in again for every request body. Each
/// output is one gzip stream of its input with [`gzip`]'s header; the deflate blocks may be cut elsewhere
/// (the input goes in whole, not in 32 KiB writes), so the bytes can differ from [`gzip`]'s.
pub struct Gzipper {
    deflate: flate2::Compress,
    level: u32,
}

impl Gzipper {
    pub fn new(level: u32) -> Self {
        Gzipper {
            deflate: flate2::Compress::new(Compression::new(level), false),
            level,
        }
    }

    pub fn gzip(&mut self, input: &[u8]) -> Vec<u8> {
        self.deflate.reset();
        let mut out = Vec::with_capacity(input.len() / 4 + 64);
        // The header GzEncoder writes: deflate, no flags or time, the level's hint, "unknown" OS.
        let xfl = match self.level {
            0 | 1 => 4,
            9.. => 2,
            _ => 0,
        };
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]);
        let mut pos = 0;
        loop {
            let before = self.deflate.total_in();
            // Compressing into a Vec cannot fail: the only errors are for misuse of the stream.
            let status = self
                .deflate
                .compress_vec(&input[pos..], &mut out, flate2::FlushCompress::Finish)
                .expect("deflate into a Vec");
            pos += (self.deflate.total_in() - before) as usize;
            if status == flate2::Status::StreamEnd {
                break;
            }
            out.reserve(out.capacity().max(4096));
        }
        let mut crc = flate2::Crc::new();
        crc.update(input);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE: the input length modulo 2^32.
        out.extend_from_slice(&(input.len() as u32).to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// One compressor kept for many inputs: each output is a whole gzip stream of its input alone, with
        /// the header a fresh encoder writes (the deflate blocks may be cut elsewhere: it is given the input
        /// whole rather than in 32 KiB writes).
        #[test]
        fn a_kept_gzipper_writes_one_stream_per_input(
            inputs in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..100_000), 1..4),
            level in 0u32..10,
        ) {
            let mut g = Gzipper::new(level);
            for input in &inputs {
                let z = g.gzip(input);
                prop_assert_eq!(&z[..10], &gzip(input, level)[..10]);
                let mut one = flate2::read::GzDecoder::new(&z[..]);
                let mut back = Vec::new();
                one.read_to_end(&mut back).unwrap();
                prop_assert!(back == *input, "{} bytes back for {}", back.len(), input.len());
                prop_assert!(one.into_inner().is_empty(), "bytes after the stream");
            }
        }
    }

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        let all: Vec<u8> = (0..=255).collect();
        let want: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), want);
    }

    #[test]
    fn gzip_round_trip_and_cap() {
        let data = vec![b'a'; 10_000];
        let z = gzip(&data, 6);
        assert_eq!(gunzip_capped(&z, 10_000).unwrap(), data);
        assert_eq!(
            gunzip_capped(&z, 9_999),
            Err(DecodeError::TooLarge { cap: 9_999 })
        );
    }

    #[test]
    fn bomb_is_refused_without_inflating_it() {
        // 1 GiB of zeros compresses to about 1 MiB; the cap stops reading long before that is produced.
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&chunk).unwrap();
        }
        let z = enc.finish().unwrap();
        assert_eq!(
            gunzip_capped(&z, 1 << 20),
            Err(DecodeError::TooLarge { cap: 1 << 20 })
        );
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let mut z = gzip(b"hello ", 6);
        z.extend(gzip(b"world", 6));
        assert_eq!(gunzip_capped(&z, 100).unwrap(), b"hello world");
    }

    #[test]
    fn clear_errors() {
        assert!(matches!(decode_base64(b"@@@"), Err(DecodeError::Base64(_))));
        assert_eq!(
            gunzip_capped(b"{\"a\":1}", 100),
            Err(DecodeError::NotGzip(vec![b'{', b'"', b'a', b'"']))
        );
        let z = gzip(b"some data that is long enough to be truncated", 6);
        let err = gunzip_capped(&z[..z.len() - 6], 1000).unwrap_err();
        assert!(matches!(err, DecodeError::Gzip(_)), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    proptest! {
        #[test]
        fn base64_round_trip(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let s = encode_base64(&data);
            prop_assert_eq!(s.len(), base64_len(data.len()));
            prop_assert_eq!(decode_base64(s.as_bytes()).unwrap(), data);
        }

        #[test]
        fn gzip_round_trip(data in proptest::collection::vec(any::<u8>(), 0..4096), level in 0u32..=9) {
            let z = gzip(&data, level);
            prop_assert_eq!(gunzip_capped(&z, data.len()).unwrap(), data);
        }

        #[test]
        fn gunzip_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = gunzip_capped(&data, 4096);
        }

        /// The one-call path reads what gzip writes, and on anything else (damaged, two members, header
        /// fields, a lying trailer, over the cap) the answer is the streaming decoder's.
        #[test]
        fn whole_member_gunzip_is_the_streaming_one(
            data in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..3000),
                "[a-z \n]{0,3000}".prop_map(String::into_bytes),
            ],
            level in 0u32..=9,
            damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
            shape in 0u8..6,
            cap_less in 0usize..3,
        ) {
            let mut z = gzip(&data, level);
            prop_assert_eq!(gunzip_whole(&z, data.len()), Some(data.clone()));
            match shape {
                // Two members; trailing bytes; a name in the header; a trailer that lies about the size.
                0 => z.extend_from_slice(&gzip(b"second", 1)),
                1 => z.push(0),
                2 => {
                    let mut e = flate2::GzBuilder::new().filename("x.log").write(Vec::new(), Compression::fast());
                    e.write_all(&data).unwrap();
                    z = e.finish().unwrap();
                }
                3 => {
                    let n = z.len();
                    z[n - 4] ^= 1;
                }
                _ => {}
            }
            for (at, byte) in damage {
                let i = at.index(z.len());
                z[i] = byte;
            }
            let cap = data.len().saturating_sub(cap_less);
            let streamed = gunzip_stream(&z, cap);
            if let Some(out) = gunzip_whole(&z, cap) {
                prop_assert_eq!(Ok(out), streamed.clone());
            }
            prop_assert_eq!(gunzip_capped(&z, cap), streamed);
        }
    }
}
