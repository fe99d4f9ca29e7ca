//! The S3/SNS/SQS/EventBridge envelope parser on arbitrary bytes: a value or an `EnvelopeError`, never a
//! panic, and the same answer every time; and S3's key encoding (form style, space as `+`) decodes back
//! to the key for any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logcore::s3event::{decode_key, parse_invocation};

fuzz_target!(|data: &[u8]| {
    let first = parse_invocation(data);
    assert_eq!(first, parse_invocation(data));
    if let Err(e) = &first {
        assert!(!e.to_string().is_empty());
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let encoded: String = form_urlencoded::byte_serialize(s.as_bytes()).collect();
        assert_eq!(decode_key(&encoded).expect("an encoded key decodes"), s);
        // Decoding only ever shortens a key.
        if let Ok(k) = decode_key(s) {
            assert!(k.len() <= s.len());
        }
    }
});
