//! The S3/SNS/SQS/EventBridge envelope parser on arbitrary bytes: a value or an `EnvelopeError`, never a
//! panic, and the same answer every time; S3's key encoding (form style, space as `+`) decodes back to
//! the key for any text; and Firehose prefix expressions (the keys the transform writes oversize documents
//! under) parse or are refused with a reason, and what parses renders at any time without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logcore::transform::firehose::PartitionKeys;
use logcore::logs::s3event::{decode_key, parse_invocation};
use logcore::transform::s3prefix::S3Prefix;

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
        match S3Prefix::parse(s) {
            Ok(p) => {
                assert_eq!(p.to_string(), s);
                let keys: PartitionKeys = p.keys().map(|k| (k.to_string(), "v".to_string())).collect();
                for t in [i64::MIN, -1, 0, 1_796_194_159_123, i64::MAX] {
                    let rendered = p.render(t, Some(&keys), "random").expect("every key given");
                    if !s.contains("!{") {
                        assert_eq!(rendered, s);
                    }
                }
            }
            Err(e) => assert!(!e.problem.is_empty()),
        }
    }
});
