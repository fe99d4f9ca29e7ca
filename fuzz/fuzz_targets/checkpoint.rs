//! The forwarder's checkpoint reader on arbitrary bytes (what S3 hands back under `checkpoints/`): a
//! checkpoint or an error, never a panic; what parses writes back to the same checkpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3_search_forwarder::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Checkpoint::parse(data) {
        assert_eq!(Checkpoint::parse(&c.to_json()), Ok(c));
    }
});
