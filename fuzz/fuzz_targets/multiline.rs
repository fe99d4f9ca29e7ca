//! The multiline joiner on arbitrary lines: every line in exactly one record, in order, within the caps,
//! JSON lines never joined; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logcore::logs::multiline::{Rule, Rules};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').collect();
    let rules = Rules::with(vec![Rule::parse(r"/cfg pattern=^\s negate match=after").expect("a valid rule")]);
    for group in ["/cfg", "/other"] {
        let mut next = 0;
        for r in rules.group(group, &lines) {
            assert_eq!(r.start, next);
            assert!(r.len >= 1 && r.len <= rules.caps.max_lines);
            next += r.len;
        }
        assert_eq!(next, lines.len());
    }
});
