//! The CloudWatch Logs record decoder on arbitrary bytes: base64 → gzip (capped) or an uncompressed envelope
//! → payload JSON → documents.
//! Every stage must return a value or a `DecodeError`, never panic, and never exceed the cap; a hop count the
//! peek finds is the full parse's; the transform's one-pass payload reader gives what `serde_json` gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logcore::base::codec::{decode_base64, gunzip_capped, gzip};
use logcore::logs::cwl::{decompress, peek_hops, Payload, PayloadText};
use logcore::logs::document::{write_event, DocStats, DocumentConfig, JsonLimits, OutputFormat, PayloadContext};

const CAP: usize = 1 << 20;

fn documents(json: &[u8]) {
    let parsed = Payload::parse(json);
    // The transform's one-pass reader gives what serde_json gives, and the same documents (it lends them
    // the messages' literals to copy).
    let text = PayloadText::new(json.to_vec());
    match &text {
        Ok(t) => assert_eq!(t.payload(), parsed),
        Err(e) => assert_eq!(Err(e.clone()), parsed),
    }
    let Ok(payload) = parsed else { return };
    if let Some(read) = text.ok().as_ref().and_then(|t| t.payload().ok()) {
        assert_eq!(rendered(&read), rendered(&payload));
    }
    for format in [OutputFormat::Document, OutputFormat::Raw] {
        let cfg = DocumentConfig {
            format,
            json: Some(JsonLimits::default()),
            region: Some("eu-west-1".into()),
        };
        let ctx = PayloadContext::new(&payload, cfg.region.as_deref());
        let mut out = Vec::new();
        let mut stats = DocStats::default();
        for ev in &payload.log_events {
            let start = out.len();
            write_event(&cfg, &ctx, ev, &mut out, &mut stats);
            // Every document is one newline-terminated line of UTF-8 (JSON in document mode).
            assert_eq!(out.last(), Some(&b'\n'));
            let doc = &out[start..out.len() - 1];
            if format == OutputFormat::Document {
                assert!(!doc.contains(&b'\n'), "document spans lines");
                serde_json::from_slice::<serde_json::Value>(doc).expect("document is JSON");
            }
        }
        assert!(std::str::from_utf8(&out).is_ok(), "documents are not UTF-8");
    }
}

/// The default documents of every event of `payload`.
fn rendered(payload: &Payload<'_>) -> Vec<u8> {
    let cfg = DocumentConfig { json: Some(JsonLimits::default()), ..DocumentConfig::default() };
    let ctx = PayloadContext::new(payload, None);
    let mut out = Vec::new();
    let mut stats = DocStats::default();
    for ev in &payload.log_events {
        write_event(&cfg, &ctx, ev, &mut out, &mut stats);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // As a Firehose record's data field.
    let hops = peek_hops(data);
    if let Ok(gz) = decode_base64(data) {
        if let Ok(json) = decompress(&gz, CAP) {
            // A hop count the peek finds is the one the parse finds (the peek is a hint: it may miss
            // hops written elsewhere than first, never invent them).
            if let (true, Ok(p)) = (hops > 0, Payload::parse(&json)) {
                assert_eq!(p.hops, hops);
            }
            assert!(json.len() <= CAP);
            documents(&json);
        }
    }
    // As the gzip stream itself.
    if let Ok(raw) = gunzip_capped(data, CAP) {
        assert!(raw.len() <= CAP);
    }
    // As the decompressed payload JSON.
    documents(data);
    let _ = decompress(&gzip(data, 1), CAP).map(|json| assert_eq!(json, data));
    // As an envelope the delivery stream's Decompression processor handed over uncompressed: read as it
    // is, or refused with a reason; one that parses parses as its gzip form does.
    match decompress(data, CAP) {
        Ok(json) => {
            assert_eq!(json, data);
            if let Ok(p) = Payload::parse(&json) {
                let gz = decompress(&gzip(data, 1), CAP).expect("the gzip form decompresses");
                assert_eq!(Payload::parse(&gz).expect("the gzip form parses"), p);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
