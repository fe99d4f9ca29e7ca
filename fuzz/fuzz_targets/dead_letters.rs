//! The forwarder's redrive reading a dead-letter object of arbitrary bytes (what S3 hands back under
//! `failed/`): every record is either a document to send again, into one of the forwarder's own indices
//! with an action the engines read, or kept as it was; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3_search_forwarder::redrive::sort_records;
use s3_search_forwarder::Config;

fuzz_target!(|data: &[u8]| {
    let cfg = Config::new("http://search.invalid");
    let s = sort_records(&cfg, data);
    assert_eq!(s.records, s.kept + s.documents() as u64);
    for (_, batch) in &s.work {
        for item in &batch.items {
            let action: serde_json::Value =
                serde_json::from_slice(batch.action(item)).expect("an action is JSON");
            let index = action["create"]["_index"].as_str().expect("an index");
            assert!(logcore::search::bulk::check_index_name(index).is_ok(), "{index}");
        }
    }
});
