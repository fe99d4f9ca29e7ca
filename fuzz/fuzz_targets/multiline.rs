//! The multiline joiner on arbitrary lines: every line in exactly one record, in order, within the caps,
//! JSON lines never joined, `joins` the records not alone; arbitrary `MULTILINE_RULES` text read or refused;
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logcore::logs::multiline::{parse_rules, Kind, Rule, Rules};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line as configured rules, when it reads as such.
    let (head, body) = text.split_once('\n').unwrap_or(("", &text));
    let configured = parse_rules(head).unwrap_or_default();
    let lines: Vec<&str> = body.split('\n').collect();
    for rules in [
        Rules::with(vec![Rule::parse(r"/cfg pattern=^\s negate match=after").expect("a valid rule")]),
        Rules::with(configured),
    ] {
        for group in ["/cfg", "/other"] {
            let mut next = 0;
            let records = rules.group(group, &lines);
            for r in &records {
                assert_eq!(r.start, next);
                assert!(r.len >= 1);
                if r.len > 1 {
                    assert!(lines[r.start..r.start + r.len].iter().all(|l| {
                        let t = l.trim();
                        !(t.starts_with('{') && t.ends_with('}'))
                    }));
                }
                next += r.len;
            }
            assert_eq!(next, lines.len());
            let joins: Vec<_> = records.into_iter().filter(|r| r.kind != Kind::Single).collect();
            assert_eq!(rules.joins(group, &lines), joins);
        }
    }
});
