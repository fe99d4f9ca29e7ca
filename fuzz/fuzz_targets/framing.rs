//! The framing reader and the bulk document builder on arbitrary object bytes (plain, or as gzip/zstd if the
//! magic bytes say so): units tile the stream in order, never exceed the cap, and each becomes exactly one
//! valid bulk entry or one dead letter, in an index the engines accept; the input as a log group or stream
//! renders a valid index name too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logcore::search::bulk::{check_index_name, Batch, DocBuilder, IndexTemplate, Origin, UnitOutcome};
use logcore::logs::document::JsonLimits;
use logcore::logs::framing::{decoder, Framer};

const CAP: usize = 256;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut name = String::new();
    let t: IndexTemplate = "{log.group}-{log.stream}-%Y.%m.%d".parse().expect("a template");
    t.render(Some(&text), Some(&text), "2026-11-21T10", &mut name);
    check_index_name(&name).expect("a valid index name");
    assert!(name.ends_with("-2026.11.21"));
    let Ok((_, dec)) = decoder(data, 1 << 20) else { return };
    let mut framer = Framer::new(dec, CAP);
    let src = Origin::new("b", "k", "v", "2026-11-21T10:00:00Z");
    let mut builder = DocBuilder::new(IndexTemplate::default(), JsonLimits::default());
    let mut batch = Batch::default();
    let (mut units, mut dead, mut last_end) = (0usize, 0usize, 0u64);
    loop {
        match framer.next_unit() {
            Ok(Some(u)) => {
                assert!(u.bytes.len() <= CAP);
                assert!(u.offset >= last_end);
                last_end = u.offset + u.len;
                units += 1;
                if let UnitOutcome::DeadLetter(_) = builder.add(&u, &src, &mut batch) {
                    dead += 1;
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    assert_eq!(batch.len() + dead, units);
    for i in &batch.items {
        let action: serde_json::Value = serde_json::from_slice(batch.action(i)).expect("action is JSON");
        let index = action["create"]["_index"].as_str().expect("an index");
        check_index_name(index).expect("a valid index name");
        let d: serde_json::Value = serde_json::from_slice(batch.doc(i)).expect("document is JSON");
        assert!(d.is_object());
    }
});
