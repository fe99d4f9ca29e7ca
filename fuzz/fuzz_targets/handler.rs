//! The whole transform on arbitrary input: the first byte picks how the rest becomes a Firehose event, so
//! that both the event JSON and the record payloads behind base64 and gzip are reached. A small response
//! limit forces the re-ingestion and split paths; the sink rejects entries chosen by the input.
//! Whatever the input, the handler answers every recordId exactly once within the limit, or refuses the
//! whole event with an error; it never panics.
#![no_main]

use std::collections::HashMap;
use std::time::Duration;

use firehose_transform::{handle, Config, PutEntry, Reingest};
use logpipe_io::CallError;
use libfuzzer_sys::fuzz_target;
use logcore::base::codec::{encode_base64, gzip};
use logcore::transform::firehose::{ParsedResponse, Source, TransformEvent, TransformRecord};
use logcore::base::retry::Backoff;

struct Sink {
    reject: u8,
}

impl Reingest for Sink {
    async fn put(&self, _: &Source, entries: &[PutEntry]) -> Result<Vec<Option<String>>, CallError> {
        if self.reject == 0xff {
            return Err(if self.reject & 1 == 0 {
                CallError::throttled("injected")
            } else {
                CallError::permanent("injected")
            });
        }
        Ok(entries
            .iter()
            .map(|e| {
                (e.data.len() as u8 & self.reject == 1).then(|| "ServiceUnavailableException: injected".into())
            })
            .collect())
    }
}

fn record(i: usize, data: String) -> TransformRecord {
    TransformRecord {
        record_id: format!("r{i}"),
        approximate_arrival_timestamp: None,
        data,
        kinesis_record_metadata: None,
    }
}

fn event(records: Vec<TransformRecord>) -> TransformEvent {
    TransformEvent {
        invocation_id: "fuzz".into(),
        delivery_stream_arn: "arn:aws:firehose:eu-west-1:123456789012:deliverystream/fuzz".into(),
        source_kinesis_stream_arn: None,
        region: "eu-west-1".into(),
        records,
    }
}

fn payload_json(messages: &[u8]) -> String {
    let events: Vec<serde_json::Value> = messages
        .split(|&b| b == 0)
        .enumerate()
        .map(|(i, m)| {
            serde_json::json!({"id": i.to_string(), "timestamp": 1_700_000_000_000i64 + i as i64,
                               "message": String::from_utf8_lossy(m)})
        })
        .collect();
    serde_json::json!({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/g",
                       "logStream": "s", "subscriptionFilters": ["f"], "logEvents": events})
    .to_string()
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else { return };
    let ev = match mode % 4 {
        0 => match serde_json::from_slice::<TransformEvent>(rest) {
            Ok(ev) => ev,
            Err(_) => return,
        },
        1 => event(rest.chunks(64).enumerate().map(|(i, c)| record(i, encode_base64(c))).collect()),
        2 => event(rest.chunks(256).enumerate().map(|(i, c)| record(i, encode_base64(&gzip(c, 1)))).collect()),
        _ => event(
            rest.chunks(512)
                .enumerate()
                .map(|(i, c)| record(i, encode_base64(&gzip(payload_json(c).as_bytes(), 1))))
                .collect(),
        ),
    };
    let mut cfg: Config = Config {
        response_limit: 4096 + (mode as usize) * 64,
        part_output_budget: 1024,
        max_decompressed: 1 << 20,
        backoff: Backoff { base: Duration::from_micros(10), max_delay: Duration::from_micros(50), max_attempts: 3 },
        common: logcore::base::runtime::Common::new("fuzz", Duration::ZERO),
        ..Config::default()
    };
    cfg.call_timeout = Duration::from_millis(100);
    // Odd modes write the documents no response can carry to a store; even ones fail those records.
    if mode & 1 == 1 {
        cfg.oversize = Some(firehose_transform::config::Oversize {
            bucket: "b".into(),
            prefix: logcore::transform::s3prefix::S3Prefix::parse("logs/!{timestamp:yyyy/MM/dd/HH}/").expect("prefix"),
        });
    }
    let store = logpipe_io::store::MemStore::default();
    let sink = Sink { reject: mode >> 2 };
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let deadline = logpipe_io::lambda::Deadline::after(Duration::from_secs(5), cfg.common.deadline_margin);
    let Ok(out) = rt.block_on(handle(&ev, &cfg, &sink, &store, deadline)) else { return };
    // Every object written is reported (records with equal ids and events share one key).
    let keys = store.keys("logs/").len();
    assert!(keys <= out.written.len() && (keys > 0) == !out.written.is_empty());
    let s = &out.summary;
    assert_eq!(s.ok + s.dropped + s.failed, s.records_in);
    assert!(out.response.len() <= cfg.response_limit);
    let parsed: ParsedResponse = serde_json::from_str(out.response.as_str()).expect("response is JSON");
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for r in &parsed.records {
        *seen.entry(r.record_id.as_str()).or_default() += 1;
    }
    // Firehose's recordIds are unique; an event that repeats one gets one answer per record.
    let mut want: HashMap<&str, usize> = HashMap::new();
    for r in &ev.records {
        *want.entry(r.record_id.as_str()).or_default() += 1;
    }
    assert_eq!(seen, want, "every record answered exactly once");
    assert_eq!(parsed.records.len(), ev.records.len());
    // Records rendered on three threads answer byte for byte as on one.
    let (one_cfg, many_cfg) = (Config { threads: 1, ..cfg.clone() }, Config { threads: 3, ..cfg.clone() });
    let run = |c: &Config| {
        let store = logpipe_io::store::MemStore::default();
        let out = rt.block_on(handle(&ev, c, &Sink { reject: mode >> 2 }, &store, deadline)).expect("answered before");
        (out.response.as_str().to_string(), out.summary, out.failures, store.keys(""))
    };
    assert_eq!(run(&one_cfg), run(&many_cfg));
});
