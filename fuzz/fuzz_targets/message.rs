//! The one-pass read of a message (`logcore::logs::message::read`: its level and whether it goes under
//! `json` as it is) against the two `serde_json` parses it stands in for, and the JSON string writer against
//! `serde_json`'s, on arbitrary text: the same answers, the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logcore::logs::document::{write_json_str, JsonLimits};
use logcore::logs::message::{read, reference};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for limits in [None, Some(JsonLimits::default()), Some(JsonLimits { max_depth: 2, max_keys: 3 })] {
        assert_eq!(read(&text, limits), reference(&text, limits), "{text:?}");
    }
    let mut ours = Vec::new();
    write_json_str(&mut ours, &text);
    assert_eq!(ours, serde_json::to_vec(text.as_ref()).unwrap());
});
