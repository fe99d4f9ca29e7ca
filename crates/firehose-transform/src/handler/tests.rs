use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use logcore::base::codec::{decode_base64, encode_base64, gzip};
use logcore::base::retry::Backoff;
use logcore::logs::cwl::{decompress, Payload};
use logcore::synth::{self, Event, MessageGen, SourceKind};
use logcore::transform::firehose::{ParsedResponse, Source, TransformEvent};
use logpipe_io::lambda::Deadline;
use proptest::prelude::*;
use tokio::time::Instant;

use super::*;
use crate::config::{Config, Oversize, PartitionKey};
use crate::sink::{PutEntry, Reingest};
use logpipe_io::store::MemStore;
use logpipe_io::CallError;

/// What a fake put does with an entry: accept, fail it (partial failure), or fail the whole call.
type Policy = Box<dyn Fn(usize, &PutEntry) -> Option<String> + Send + Sync>;

struct FakeSink {
    accepted: Mutex<Vec<(Source, PutEntry)>>,
    calls: Mutex<usize>,
    policy: Policy,
    call_error: Option<CallError>,
}

impl FakeSink {
    fn accepting() -> Self {
        Self::with(Box::new(|_, _| None))
    }
    fn with(policy: Policy) -> Self {
        FakeSink {
            accepted: Mutex::new(Vec::new()),
            calls: Mutex::new(0),
            policy,
            call_error: None,
        }
    }
    fn accepted_payloads(&self) -> Vec<(Source, String, OwnedPayload)> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(s, e)| (s.clone(), e.partition_key.clone(), decode_gz(&e.data)))
            .collect()
    }
}

impl Reingest for FakeSink {
    async fn put(
        &self,
        source: &Source,
        entries: &[PutEntry],
    ) -> Result<Vec<Option<String>>, CallError> {
        let call = {
            let mut c = self.calls.lock().unwrap();
            *c += 1;
            *c
        };
        let limits = crate::sink::limits_for(source);
        assert!(entries.len() <= limits.max_records);
        assert!(
            entries
                .iter()
                .map(|e| limits.entry_size(e.data.len(), e.partition_key.len()))
                .sum::<usize>()
                <= limits.max_request_bytes
        );
        assert!(entries
            .iter()
            .all(|e| limits.entry_size(e.data.len(), e.partition_key.len())
                <= limits.max_record_bytes));
        if let Some(e) = &self.call_error {
            return Err(e.clone());
        }
        let mut out = Vec::new();
        for e in entries {
            let r = (self.policy)(call, e);
            if r.is_none() {
                self.accepted
                    .lock()
                    .unwrap()
                    .push((source.clone(), e.clone()));
            }
            out.push(r);
        }
        Ok(out)
    }
}

#[derive(Debug, Clone)]
struct OwnedPayload {
    hops: u32,
    log_group: String,
    events: Vec<Event>,
}

fn decode_gz(gz: &[u8]) -> OwnedPayload {
    let json = decompress(gz, usize::MAX).unwrap();
    let p = Payload::parse(&json).unwrap();
    OwnedPayload {
        hops: p.hops,
        log_group: p.log_group.to_string(),
        events: p
            .log_events
            .iter()
            .map(|e| Event {
                id: e.id.to_string(),
                timestamp: e.timestamp,
                message: e.message.to_string(),
            })
            .collect(),
    }
}

fn data_record(
    seq: u64,
    events: &[Event],
    source: SourceKind,
) -> logcore::transform::firehose::TransformRecord {
    let p = synth::data_payload("/ecs/api", "ecs/api/1", events);
    synth::record(
        synth::record_id(seq),
        synth::record_data(&p),
        source,
        "pk-1",
        seq,
    )
}

fn run(event: &TransformEvent, cfg: &Config, sink: &FakeSink) -> Outcome {
    run_in(event, cfg, sink, &MemStore::default())
}

fn run_in(event: &TransformEvent, cfg: &Config, sink: &FakeSink, store: &MemStore) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        handle(
            event,
            cfg,
            sink,
            store,
            Deadline::after(Duration::from_secs(60), cfg.common.deadline_margin),
        )
        .await
        .unwrap()
    })
}

/// Where the CloudWatch Logs transform's documents go when no response can carry them, as the template
/// sets it for the time-only layout.
fn oversize() -> Oversize {
    Oversize {
        bucket: "logs-bucket".into(),
        prefix: logcore::transform::s3prefix::S3Prefix::parse("logs/!{timestamp:yyyy/MM/dd/HH}/")
            .unwrap(),
    }
}

/// Every document of every object in `store`, with its key.
fn written_docs(store: &MemStore) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for (bucket, key) in store.keys("") {
        let body = store.body(&bucket, &key).unwrap();
        let ndjson = decompress(&body, usize::MAX).unwrap();
        for line in ndjson.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            out.push((key.clone(), serde_json::from_slice(line).unwrap()));
        }
    }
    out
}

fn parse(out: &Outcome) -> BTreeMap<String, logcore::transform::firehose::ResponseRecord> {
    let wire = serde_json::to_vec(&out.response).unwrap();
    assert_eq!(wire.len(), out.response.len());
    let parsed: ParsedResponse = serde_json::from_slice(&wire).unwrap();
    let n = parsed.records.len();
    let map: BTreeMap<_, _> = parsed
        .records
        .into_iter()
        .map(|r| (r.record_id.clone(), r))
        .collect();
    assert_eq!(map.len(), n, "every recordId exactly once");
    map
}

/// The ids of the events in a document: its own and those joined into it.
fn ids_in(doc: &serde_json::Value) -> Vec<String> {
    let mut ids = vec![doc["event"]["id"].as_str().unwrap().to_string()];
    if let Some(joined) = doc["event"]["joined"]["ids"].as_array() {
        ids.extend(joined.iter().map(|i| i.as_str().unwrap().to_string()));
    }
    ids
}

fn docs_of(r: &logcore::transform::firehose::ResponseRecord) -> Vec<serde_json::Value> {
    let data = decode_base64(r.data.as_ref().unwrap().as_bytes()).unwrap();
    assert!(data.ends_with(b"\n"));
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn every_outcome_in_one_batch() {
    let mut g = MessageGen::new(1);
    let events = g.events(5, 1_763_700_000_000);
    let control = synth::record_data(&synth::control_payload());
    let not_gzip = encode_base64(b"GET /health 200 (not gzip, and no JSON envelope either)");
    let bad_json = encode_base64(&gzip(b"{\"messageType\":\"DATA_MESSAGE\",", 6));
    let unknown = encode_base64(&gzip(br#"{"messageType":"SOMETHING","logEvents":[]}"#, 6));
    let bad_utf8 = encode_base64(&gzip(
        b"{\"messageType\":\"DATA_MESSAGE\",\"owner\":\"\xc3\x28\"}",
        6,
    ));
    let z = gzip(b"truncated gzip payload that goes on for a while", 6);
    let truncated = encode_base64(&z[..z.len() / 2]);
    let mut records = vec![data_record(0, &events, SourceKind::DirectPut)];
    for (i, data) in [
        control,
        "!!not base64!!".to_string(),
        not_gzip,
        bad_json,
        unknown,
        bad_utf8,
        truncated,
    ]
    .into_iter()
    .enumerate()
    {
        records.push(synth::record(
            synth::record_id(i as u64 + 1),
            data,
            SourceKind::DirectPut,
            "",
            0,
        ));
    }
    let ev = synth::event(SourceKind::DirectPut, records);
    let sink = FakeSink::accepting();
    let out = run(&ev, &Config::default(), &sink);
    let resp = parse(&out);
    let result = |i: u64| resp[&synth::record_id(i)].result.as_str();
    assert_eq!(result(0), "Ok");
    assert_eq!(result(1), "Dropped");
    for i in 2..=7 {
        assert_eq!(result(i), "ProcessingFailed", "record {i}");
    }
    let docs = docs_of(&resp[&synth::record_id(0)]);
    assert_eq!(docs.len(), 5);
    for (d, e) in docs.iter().zip(&events) {
        assert_eq!(d["message"], e.message.as_str());
        assert_eq!(d["event"]["id"], e.id.as_str());
        assert_eq!(d["log"]["group"], "/ecs/api");
        assert_eq!(d["cloud"]["account"]["id"], synth::ACCOUNT);
        assert_eq!(d["cloud"]["region"], synth::REGION);
    }
    let reasons: Vec<&str> = out.failures.iter().map(|f| f.reason.as_str()).collect();
    for needle in [
        "invalid base64",
        "neither gzip nor a CloudWatch Logs JSON envelope",
        "invalid CloudWatch Logs payload JSON",
        "unknown messageType \"SOMETHING\"",
        "not valid UTF-8",
        "truncated",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(needle)),
            "no failure says {needle:?}: {reasons:#?}"
        );
    }
    assert!(
        reasons.iter().all(|r| r.starts_with("record 4954")),
        "reasons name the record: {reasons:#?}"
    );
    let s = &out.summary;
    assert_eq!(
        (s.records_in, s.ok, s.dropped, s.failed, s.control_messages),
        (8, 1, 1, 6, 1)
    );
    assert_eq!((s.events_in, s.events_out), (5, 5));
    assert!(sink.accepted.lock().unwrap().is_empty());
}

#[test]
fn default_config_extracts_json_fields() {
    let ev = synth::event(
        SourceKind::DirectPut,
        vec![data_record(
            0,
            &[Event {
                id: "1".into(),
                timestamp: 1_763_700_000_000,
                message: "{\"level\":\"warn\"}".into(),
            }],
            SourceKind::DirectPut,
        )],
    );
    let out = run(&ev, &Config::default(), &FakeSink::accepting());
    let docs = docs_of(&parse(&out)[&synth::record_id(0)]);
    assert_eq!(docs[0]["json"]["level"], "warn");
    assert_eq!(out.summary.render.json_messages, 1);
}

#[test]
fn filters_and_partition_keys() {
    let events = vec![
        Event {
            id: "1".into(),
            timestamp: 1_763_700_000_000,
            message: "ERROR boom".into(),
        },
        Event {
            id: "2".into(),
            timestamp: 1_763_700_000_001,
            message: "INFO healthcheck".into(),
        },
        Event {
            id: "3".into(),
            timestamp: 1_763_700_000_002,
            message: "{\"level\":\"warn\"}".into(),
        },
    ];
    let only_info = vec![Event {
        id: "4".into(),
        timestamp: 1,
        message: "INFO healthcheck".into(),
    }];
    let ev = synth::event(
        SourceKind::DirectPut,
        vec![
            data_record(0, &events, SourceKind::DirectPut),
            data_record(1, &only_info, SourceKind::DirectPut),
        ],
    );
    let env: HashMap<&str, &str> = [
        ("EXCLUDE_PATTERN", "healthcheck"),
        ("PARTITION_KEYS", "log_group,account_id,year,month,day,date"),
    ]
    .into();
    let cfg = Config::from_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
    let out = run(&ev, &cfg, &FakeSink::accepting());
    let resp = parse(&out);
    let r0 = &resp[&synth::record_id(0)];
    let ids: Vec<_> = docs_of(r0)
        .iter()
        .map(|d| d["event"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["1", "3"]);
    assert_eq!(docs_of(r0)[1]["json"]["level"], "warn");
    assert_eq!(
        r0.metadata.as_ref().unwrap()["partitionKeys"],
        serde_json::json!({"log_group":"ecs/api","account_id":synth::ACCOUNT,"year":"2025","month":"11","day":"21","date":"2025-11-21"})
    );
    assert_eq!(resp[&synth::record_id(1)].result, "Dropped");
    assert_eq!(
        (
            out.summary.events_excluded,
            out.summary.events_out,
            out.summary.dropped
        ),
        (2, 2, 1)
    );
}

fn big_events(n: usize, size: usize, seed: u64) -> Vec<Event> {
    let mut g = MessageGen::new(seed);
    g.events(n, 1_763_700_000_000 + (seed % 1_000_000) as i64 * 1000)
        .into_iter()
        .map(|mut e| {
            while e.message.len() < size {
                e.message.push_str(" padding-to-size");
            }
            e
        })
        .collect()
}

#[test]
fn records_that_do_not_fit_are_reingested_with_hop_counter() {
    // Kinesis source: re-ingestion goes to PutRecords with the original partition key.
    let records: Vec<_> = (0..6)
        .map(|i| data_record(i, &big_events(20, 200, i), SourceKind::Kinesis))
        .collect();
    let ev = synth::event(SourceKind::Kinesis, records);
    let cfg: Config = Config {
        response_limit: 48_000,
        ..Config::default()
    };
    let sink = FakeSink::accepting();
    let out = run(&ev, &cfg, &sink);
    let resp = parse(&out);
    assert!(out.response.len() <= 48_000);
    let ok: Vec<_> = resp.values().filter(|r| r.result == "Ok").collect();
    let dropped: Vec<_> = resp.values().filter(|r| r.result == "Dropped").collect();
    assert!(
        !ok.is_empty() && !dropped.is_empty(),
        "some fit, some are re-ingested"
    );
    let accepted = sink.accepted_payloads();
    assert_eq!(accepted.len(), dropped.len());
    for (source, pk, p) in &accepted {
        assert!(matches!(source, Source::KinesisStream { name, .. } if name == "logpipe-central"));
        assert_eq!(pk, "pk-1");
        assert_eq!(p.hops, 1);
        assert_eq!(p.log_group, "/ecs/api");
        assert_eq!(p.events.len(), 20);
    }
    let s = &out.summary;
    assert_eq!(s.reingested_records as usize, dropped.len());
    assert_eq!(s.events_in, s.events_out + s.events_reingested);
}

#[test]
fn record_too_large_alone_is_split_in_one_pass() {
    // One record whose documents are ~10x the response limit: split into parts that each fit.
    let events = big_events(300, 1000, 9);
    let ev = synth::event(
        SourceKind::DirectPut,
        vec![data_record(0, &events, SourceKind::DirectPut)],
    );
    let cfg: Config = Config {
        response_limit: 60_000,
        ..Config::default()
    };
    let sink = FakeSink::accepting();
    let out = run(&ev, &cfg, &sink);
    assert_eq!(parse(&out)[&synth::record_id(0)].result, "Dropped");
    let parts = sink.accepted_payloads();
    assert!(parts.len() >= 10, "{} parts", parts.len());
    let back: Vec<Event> = parts
        .iter()
        .flat_map(|(_, _, p)| p.events.clone())
        .collect();
    assert_eq!(back, events, "every event exactly once, in order");
    // Each part, transformed again, fits in a response of its own: no further splitting needed.
    for (_, _, p) in &parts {
        let again = synth::event(
            SourceKind::DirectPut,
            vec![data_record(0, &p.events, SourceKind::DirectPut)],
        );
        let out2 = run(&again, &cfg, &FakeSink::accepting());
        assert_eq!(parse(&out2)[&synth::record_id(0)].result, "Ok");
    }
    assert_eq!(out.summary.reingested_parts as usize, parts.len());
}

/// A record split into parts, of which the part holding the first event (or every other part) is refused on
/// every attempt.
fn split_with_parts_refused(
    response_limit: usize,
    refuse_first: bool,
) -> (Vec<Event>, Outcome, FakeSink) {
    let events = big_events(60, 1000, 11);
    let first_id = events[0].id.clone();
    let ev = synth::event(
        SourceKind::DirectPut,
        vec![data_record(0, &events, SourceKind::DirectPut)],
    );
    let cfg: Config = Config {
        response_limit,
        part_output_budget: 12_000,
        ..Config::default()
    };
    let sink = FakeSink::with(Box::new(move |_, e| {
        decode_gz(&e.data)
            .events
            .iter()
            .any(|ev| ev.id == first_id)
            .eq(&refuse_first)
            .then(|| "ServiceUnavailableException: down".into())
    }));
    let out = run(&ev, &cfg, &sink);
    (events, out, sink)
}

#[test]
fn partly_reingested_split_record_answers_the_rest_as_documents() {
    let (events, out, sink) = split_with_parts_refused(40_000, true);
    let resp = parse(&out);
    let r = &resp[&synth::record_id(0)];
    assert_eq!(r.result, "Ok");
    let in_response: Vec<String> = docs_of(r)
        .iter()
        .map(|d| d["event"]["id"].as_str().unwrap().to_string())
        .collect();
    let reingested: Vec<String> = sink
        .accepted_payloads()
        .into_iter()
        .flat_map(|(_, _, p)| p.events.into_iter().map(|e| e.id))
        .collect();
    assert!(!in_response.is_empty() && !reingested.is_empty());
    assert_eq!(in_response[0], events[0].id);
    let mut all: Vec<String> = in_response.iter().chain(&reingested).cloned().collect();
    all.sort();
    let mut want: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    want.sort();
    assert_eq!(
        all, want,
        "every event exactly once: in the response or re-ingested"
    );
    let s = &out.summary;
    assert_eq!(
        (s.ok, s.failed, s.reingest_partial, s.reingested_records),
        (1, 0, 0, 1)
    );
    assert_eq!(s.events_out as usize, in_response.len());
    assert_eq!(s.events_reingested as usize, reingested.len());
}

#[test]
fn partly_reingested_split_record_that_cannot_answer_the_rest_fails_and_says_so() {
    // Only the first part is accepted; the documents of all the others do not fit in a 6 KB response.
    let (events, out, sink) = split_with_parts_refused(6_000, false);
    assert_eq!(parse(&out)[&synth::record_id(0)].result, "ProcessingFailed");
    assert_eq!(sink.accepted_payloads().len(), 1);
    let s = &out.summary;
    assert_eq!((s.failed, s.reingest_partial), (1, 1));
    assert_eq!(s.events_reingested + s.events_failed, events.len() as u64);
    assert!(
        out.failures[0]
            .reason
            .contains("parts and the rest does not fit")
            && out.failures[0]
                .reason
                .contains("are also in the failed record"),
        "{}",
        out.failures[0].reason
    );
}

#[test]
fn hop_limit_stops_loops() {
    let events = big_events(50, 400, 3);
    let mut p = synth::data_payload("/ecs/api", "s", &events);
    p.hops = 3;
    let ev = synth::event(
        SourceKind::DirectPut,
        vec![synth::record(
            synth::record_id(0),
            synth::record_data(&p),
            SourceKind::DirectPut,
            "",
            0,
        )],
    );
    let cfg: Config = Config {
        response_limit: 5_000,
        ..Config::default()
    };
    let sink = FakeSink::accepting();
    let out = run(&ev, &cfg, &sink);
    assert_eq!(parse(&out)[&synth::record_id(0)].result, "ProcessingFailed");
    assert!(
        out.failures[0]
            .reason
            .contains("already re-ingested 3 times"),
        "{}",
        out.failures[0].reason
    );
    assert!(sink.accepted.lock().unwrap().is_empty());
    assert_eq!(out.summary.events_failed, 50);
}

/// Under a steady load every response fills up; a record re-ingested before must not keep arriving behind
/// it until it reaches the hop limit. Here a record at the limit comes last behind records that fill the
/// response: it is answered (Ok), and the new records are the ones re-ingested. Records at the limit that
/// fit alone are never failed for want of room.
#[test]
fn records_with_more_hops_get_room_first() {
    let mut records: Vec<_> = (0..6)
        .map(|i| data_record(i, &big_events(20, 200, i), SourceKind::DirectPut))
        .collect();
    let events = big_events(20, 200, 99);
    let mut late = synth::data_payload("/ecs/api", "s", &events);
    late.hops = 3;
    records.push(synth::record(
        synth::record_id(6),
        synth::record_data(&late),
        SourceKind::DirectPut,
        "",
        6,
    ));
    let ev = synth::event(SourceKind::DirectPut, records);
    let cfg: Config = Config {
        response_limit: 40_000,
        ..Config::default()
    };
    let sink = FakeSink::accepting();
    let out = run(&ev, &cfg, &sink);
    let resp = parse(&out);
    assert_eq!(
        resp[&synth::record_id(6)].result,
        "Ok",
        "{:?}",
        out.failures
    );
    assert_eq!(docs_of(&resp[&synth::record_id(6)]).len(), 20);
    assert!(out.failures.is_empty());
    let accepted = sink.accepted_payloads();
    assert!(!accepted.is_empty(), "new records make room");
    assert!(accepted.iter().all(|(_, _, p)| p.hops == 1));
    // Records at the limit that fit alone but not all together: the ones without room go back with one
    // hop more; none fails.
    let at_limit: Vec<_> = (0..6)
        .map(|i| {
            let events = big_events(20, 200, 50 + i);
            let mut p = synth::data_payload("/ecs/api", "s", &events);
            p.hops = 3;
            synth::record(
                synth::record_id(i),
                synth::record_data(&p),
                SourceKind::DirectPut,
                "",
                i,
            )
        })
        .collect();
    let sink = FakeSink::accepting();
    let out = run(&synth::event(SourceKind::DirectPut, at_limit), &cfg, &sink);
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let accepted = sink.accepted_payloads();
    assert!(!accepted.is_empty() && accepted.iter().all(|(_, _, p)| p.hops == 4));
    assert_eq!(out.summary.events_out + out.summary.events_reingested, 120);
    // Without hops nothing moves: records are answered in their order.
    let plain: Vec<_> = (0..3)
        .map(|i| data_record(i, &big_events(2, 50, i), SourceKind::DirectPut))
        .collect();
    let out = run(&synth::event(SourceKind::DirectPut, plain), &cfg, &sink);
    let ids: Vec<_> = serde_json::from_str::<ParsedResponse>(out.response.as_str())
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.record_id)
        .collect();
    assert_eq!(ids, (0..3).map(synth::record_id).collect::<Vec<_>>());
}

#[test]
fn failed_entries_are_retried_until_accepted() {
    let records: Vec<_> = (0..4)
        .map(|i| data_record(i, &big_events(20, 400, i), SourceKind::DirectPut))
        .collect();
    let ev = synth::event(SourceKind::DirectPut, records);
    let cfg: Config = Config {
        response_limit: 5_000,
        ..Config::default()
    };
    // Every entry fails on the first two calls it is in.
    let seen: Mutex<HashMap<Vec<u8>, usize>> = Mutex::new(HashMap::new());
    let sink = FakeSink::with(Box::new(move |_, e| {
        let mut seen = seen.lock().unwrap();
        let n = seen.entry(e.data.clone()).or_insert(0);
        *n += 1;
        (*n <= 2).then(|| "ServiceUnavailableException: Slow down.".to_string())
    }));
    let out = run(&ev, &cfg, &sink);
    let resp = parse(&out);
    assert!(resp.values().all(|r| r.result == "Dropped"));
    let accepted: Vec<Vec<u8>> = sink
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|(_, e)| e.data.clone())
        .collect();
    let distinct: std::collections::HashSet<_> = accepted.iter().collect();
    assert_eq!(
        distinct.len(),
        accepted.len(),
        "each part accepted exactly once"
    );
    let parts = out.summary.reingested_parts;
    assert_eq!(accepted.len() as u64, parts);
    assert_eq!(out.summary.put_retried_entries, 2 * parts);
    assert_eq!(out.summary.put_calls, 3);
    assert_eq!(out.summary.events_reingested, 80);
}

#[test]
fn persistent_failure_fails_the_records_and_fatal_errors_are_not_retried() {
    let records: Vec<_> = (0..3)
        .map(|i| data_record(i, &big_events(20, 400, i), SourceKind::DirectPut))
        .collect();
    let ev = synth::event(SourceKind::DirectPut, records);
    let cfg: Config = Config {
        response_limit: 4_000,
        ..Config::default()
    };
    let sink = FakeSink::with(Box::new(|_, _| {
        Some("ServiceUnavailableException: down".into())
    }));
    let out = run(&ev, &cfg, &sink);
    assert!(parse(&out).values().all(|r| r.result == "ProcessingFailed"));
    assert_eq!(
        out.summary.put_calls,
        u64::from(Backoff::default().max_attempts)
    );
    assert!(
        out.failures[0]
            .reason
            .contains("re-ingestion into logpipe-app-logs failed: ServiceUnavailableException"),
        "{}",
        out.failures[0].reason
    );
    assert_eq!(out.summary.events_failed, 60);

    let mut sink = FakeSink::accepting();
    sink.call_error = Some(CallError::not_found(
        "ResourceNotFoundException: no such stream",
    ));
    let out = run(&ev, &cfg, &sink);
    assert!(parse(&out).values().all(|r| r.result == "ProcessingFailed"));
    assert_eq!(
        *sink.calls.lock().unwrap(),
        1,
        "a permanent error is not retried"
    );
}

#[test]
fn retries_stop_before_the_deadline() {
    let records: Vec<_> = (0..3)
        .map(|i| data_record(i, &big_events(20, 400, i), SourceKind::DirectPut))
        .collect();
    let ev = synth::event(SourceKind::DirectPut, records);
    let cfg: Config = Config {
        response_limit: 4_000,
        backoff: Backoff {
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
            max_attempts: 1000,
        },
        call_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    let mut sink = FakeSink::accepting();
    sink.call_error = Some(CallError::throttled("ThrottlingException: rate exceeded"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let (out, elapsed) = rt.block_on(async {
        let start = Instant::now();
        let deadline = Deadline::new(start + Duration::from_secs(30), cfg.common.deadline_margin);
        let out = handle(&ev, &cfg, &sink, &MemStore::default(), deadline)
            .await
            .unwrap();
        (out, start.elapsed())
    });
    assert!(
        elapsed < Duration::from_secs(30) - cfg.common.deadline_margin,
        "answered before the deadline: {elapsed:?}"
    );
    assert!(
        *sink.calls.lock().unwrap() >= 3,
        "retried while there was time"
    );
    assert!(parse(&out).values().all(|r| r.result == "ProcessingFailed"));
}

#[test]
fn too_many_records_for_any_response_is_an_error() {
    let ev = synth::event(
        SourceKind::DirectPut,
        (0..10)
            .map(|i| {
                synth::record(
                    synth::record_id(i),
                    String::new(),
                    SourceKind::DirectPut,
                    "",
                    0,
                )
            })
            .collect(),
    );
    let cfg: Config = Config {
        response_limit: 300,
        ..Config::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let err = rt
        .block_on(handle(
            &ev,
            &cfg,
            &FakeSink::accepting(),
            &MemStore::default(),
            Deadline::after(Duration::from_secs(5), cfg.common.deadline_margin),
        ))
        .unwrap_err();
    assert!(err.to_string().contains("10 records need"), "{err}");
}

#[derive(Debug, Clone)]
enum Rec {
    Data {
        events: usize,
        size: usize,
        hops: u32,
    },
    Control,
    Garbage(Vec<u8>),
}

fn arb_rec() -> impl Strategy<Value = Rec> {
    prop_oneof![
        6 => (1usize..40, 10usize..1500, 0u32..4).prop_map(|(events, size, hops)| Rec::Data { events, size, hops }),
        1 => Just(Rec::Control),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Rec::Garbage),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// For any batch: the response is within the limit and serializes to exactly the accounted bytes; every
    /// recordId appears exactly once; every log event is in exactly one of the response, an accepted
    /// re-ingested record, or a failed record. The one exception is counted as `reingest_partial`: a split
    /// record of which some parts were re-ingested, others not, and the rest did not fit in the response.
    #[test]
    fn accounting_holds_for_any_batch(
        recs in proptest::collection::vec(arb_rec(), 1..12),
        limit in 3_000usize..120_000,
        fail_pct in 0u32..60,
        seed in any::<u64>(),
        kinesis in any::<bool>(),
        exclude in any::<bool>(),
        traces in any::<bool>(),
    ) {
        let source = if kinesis { SourceKind::Kinesis } else { SourceKind::DirectPut };
        let mut owner_of: HashMap<String, usize> = HashMap::new();
        let mut kept_of: Vec<Vec<String>> = Vec::new();
        let mut records = Vec::new();
        for (i, r) in recs.iter().enumerate() {
            let mut kept = Vec::new();
            let data = match r {
                Rec::Data { events, size, hops } => {
                    let mut evs = big_events(*events, *size, seed.wrapping_add(i as u64));
                    for (j, e) in evs.iter_mut().enumerate() {
                        e.id = format!("{i}-{j}");
                        // With traces, a Java trace of three lines in every six events (cut by the end
                        // of some records: orphans in none, heads without frames in some).
                        if traces && j % 6 == 1 { e.message = format!("java.lang.IllegalStateException: {}", e.message); }
                        if traces && (j % 6 == 2 || j % 6 == 3) { e.message = format!("\tat a.B.c{}(B.java:{j})", "x".repeat(*size)); }
                        if j % 5 == 4 { e.message.push_str(" SKIPME"); }
                        owner_of.insert(e.id.clone(), i);
                    }
                    // What the filter keeps: whole records of the joiner, judged by their joined text.
                    let lines: Vec<&str> = evs.iter().map(|e| e.message.as_str()).collect();
                    for g in logcore::logs::multiline::Rules::builtin().group("/ecs/api", &lines) {
                        let run = &evs[g.start..g.start + g.len];
                        let text: Vec<&str> = run.iter().map(|e| e.message.as_str()).collect();
                        if !(exclude && text.join("\n").contains("SKIPME")) { kept.extend(run.iter().map(|e| e.id.clone())); }
                    }
                    let mut p = synth::data_payload("/ecs/api", "s", &evs);
                    p.hops = *hops;
                    synth::record_data(&p)
                }
                Rec::Control => synth::record_data(&synth::control_payload()),
                Rec::Garbage(b) => encode_base64(b),
            };
            kept_of.push(kept);
            records.push(synth::record(synth::record_id(i as u64), data, source, "pk", i as u64));
        }
        let ev = synth::event(source, records);
        let mut cfg = Config { response_limit: limit, oversize: Some(oversize()), ..Config::default() };
        if exclude { cfg.filter = logcore::transform::filter::MessageFilter::new(None, Some("SKIPME")).unwrap(); }
        let failing = || {
            let rng = Mutex::new(fastrand::Rng::with_seed(seed));
            FakeSink::with(Box::new(move |_, _| (rng.lock().unwrap().u32(..100) < fail_pct).then(|| "ProvisionedThroughputExceededException: slow".into())))
        };
        let sink = failing();
        let store = MemStore::default();
        cfg.threads = 3;
        let out = run_in(&ev, &cfg, &sink, &store);
        // The records rendered on three threads answer byte for byte as on one (the reference).
        {
            let (one_sink, one_store) = (failing(), MemStore::default());
            let one = run_in(&ev, &Config { threads: 1, ..cfg.clone() }, &one_sink, &one_store);
            prop_assert_eq!(one.response.as_str(), out.response.as_str());
            prop_assert_eq!(&one.summary, &out.summary);
            prop_assert_eq!(&one.failures, &out.failures);
            prop_assert_eq!(&one.written, &out.written);
            prop_assert_eq!(one_sink.accepted.lock().unwrap().clone(), sink.accepted.lock().unwrap().clone());
            prop_assert_eq!(written_docs(&one_store), written_docs(&store));
        }
        prop_assert!(out.response.len() <= limit);
        let resp = parse(&out);
        prop_assert_eq!(resp.len(), recs.len());

        // Where each event ended up.
        let mut in_response: HashMap<String, usize> = HashMap::new();
        for r in resp.values().filter(|r| r.result == "Ok") {
            for d in docs_of(r) { for id in ids_in(&d) { *in_response.entry(id).or_default() += 1; } }
        }
        let mut reingested: HashMap<String, usize> = HashMap::new();
        for (_, _, p) in sink.accepted_payloads() {
            for e in p.events { *reingested.entry(e.id).or_default() += 1; }
        }
        let mut written: HashMap<String, usize> = HashMap::new();
        let mut documents = 0;
        for (_, doc) in written_docs(&store) {
            documents += 1;
            for id in ids_in(&doc) { *written.entry(id).or_default() += 1; }
        }
        for r in resp.values().filter(|r| r.result == "Ok") { documents += docs_of(r).len(); }
        let mut partial = 0;
        for (i, kept) in kept_of.iter().enumerate() {
            let result = resp[&synth::record_id(i as u64)].result.as_str();
            let count = |m: &HashMap<String, usize>, id: &String| m.get(id).copied().unwrap_or(0);
            match result {
                // A split record whose re-ingestion failed for some parts answers the rest as documents.
                "Ok" => for id in kept { prop_assert_eq!(count(&in_response, id) + count(&reingested, id), 1, "{}", id); },
                "Dropped" => for id in kept { prop_assert_eq!(count(&in_response, id), 0); prop_assert_eq!(count(&reingested, id) + count(&written, id), 1, "{}", id); },
                _ => {
                    prop_assert!(kept.iter().all(|id| count(&in_response, id) == 0 && count(&written, id) == 0));
                    let re: usize = kept.iter().map(|id| count(&reingested, id)).sum();
                    if re > 0 { partial += 1; prop_assert!(kept.iter().all(|id| count(&reingested, id) <= 1)); }
                }
            }
        }
        // No event came out of nowhere or twice.
        for (id, n) in in_response.iter().chain(reingested.iter()).chain(written.iter()) {
            prop_assert!(owner_of.contains_key(id));
            prop_assert_eq!(*n, 1);
        }
        let s = &out.summary;
        prop_assert_eq!(s.reingest_partial, partial);
        prop_assert_eq!(s.ok + s.dropped + s.failed, s.records_in);
        prop_assert_eq!(s.events_out as usize, in_response.len());
        prop_assert_eq!(s.events_reingested as usize, reingested.len());
        prop_assert_eq!(s.events_written as usize, written.len());
        prop_assert_eq!(s.written_records as usize, out.written.len());
        let decoded_events: u64 = recs.iter().map(|r| if let Rec::Data { events, .. } = r { *events as u64 } else { 0 }).sum();
        prop_assert_eq!(s.events_in, decoded_events);
        prop_assert_eq!(s.events_in, s.events_out + s.events_excluded + s.events_reingested + s.events_written + s.events_failed);
        // Every delivered event heads a document or is joined into one.
        prop_assert_eq!(s.documents_out as usize, documents);
        prop_assert_eq!(s.documents_out + s.events_joined, s.events_out + s.events_written);
        if !traces { prop_assert_eq!(s.events_joined, 0); }
        // The ledger counts the events of payloads straight from CloudWatch Logs (no hops), once, with
        // those the filter excluded; and every event written directly.
        let first: Vec<usize> = recs.iter().filter_map(|r| match r { Rec::Data { events, hops: 0, .. } => Some(*events), _ => None }).collect();
        let rows: Vec<logcore::ledger::TallyRow> = s.ledger.rows().collect();
        prop_assert_eq!(rows.iter().map(|r| r.seen.received).sum::<u64>(), first.iter().sum::<usize>() as u64);
        let excluded: usize = recs.iter().zip(&kept_of).map(|(r, kept)| match r { Rec::Data { events, hops: 0, .. } => events - kept.len(), _ => 0 }).sum();
        if exclude && !traces { prop_assert_eq!(excluded, first.iter().map(|n| n / 5).sum::<usize>()); }
        prop_assert_eq!(rows.iter().map(|r| r.seen.excluded).sum::<u64>(), excluded as u64);
        prop_assert_eq!(rows.iter().map(|r| r.seen.written_directly).sum::<u64>(), s.events_written);
        prop_assert_eq!(rows.iter().map(|r| r.seen.failed).sum::<u64>(), s.events_failed);
        prop_assert_eq!(rows.iter().map(|r| r.seen.joined).sum::<u64>(), s.events_joined);
    }
}

/// A delivery stream with Firehose's Decompression processor before the transform hands over the
/// envelopes uncompressed: the same documents come out; with message extraction on as well, the bare
/// messages are failed with the reason (they carry no group, stream, time or id to make documents of).
#[test]
fn uncompressed_envelopes_make_the_same_documents_and_bare_messages_fail_clearly() {
    let mut g = MessageGen::new(11);
    let events = g.events(20, 1_763_700_000_000);
    let gz_record = data_record(0, &events, SourceKind::DirectPut);
    let payload = synth::data_payload("/ecs/api", "ecs/api/1", &events);
    let json = serde_json::to_vec(&payload).unwrap();
    let mut plain_record = gz_record.clone();
    plain_record.record_id = synth::record_id(1);
    plain_record.data = encode_base64(&json);
    let mut bare_record = gz_record.clone();
    bare_record.record_id = synth::record_id(2);
    let bare: String = events.iter().map(|e| format!("{}\n", e.message)).collect();
    bare_record.data = encode_base64(bare.as_bytes());
    let ev = synth::event(
        SourceKind::DirectPut,
        vec![gz_record, plain_record, bare_record],
    );
    let out = run(&ev, &Config::default(), &FakeSink::accepting());
    let resp = parse(&out);
    let (from_gz, from_plain) = (
        docs_of(&resp[&synth::record_id(0)]),
        docs_of(&resp[&synth::record_id(1)]),
    );
    assert_eq!(from_gz.len(), 20);
    assert_eq!(from_gz, from_plain);
    assert_eq!(resp[&synth::record_id(2)].result, "ProcessingFailed");
    assert_eq!(out.failures.len(), 1);
    assert!(
        out.failures[0].reason.contains("message extraction"),
        "{}",
        out.failures[0].reason
    );
    assert_eq!(
        (out.summary.ok, out.summary.failed, out.summary.events_out),
        (2, 1, 40)
    );
}

/// Run `event`, then the records it re-ingested as the source delivers them again, until nothing is
/// re-ingested. The documents of every `Ok` record, and the outcomes, in order.
fn to_completion(
    event: TransformEvent,
    cfg: &Config,
    store: &MemStore,
) -> (Vec<serde_json::Value>, Vec<Outcome>) {
    let mut docs = Vec::new();
    let mut outcomes = Vec::new();
    let mut event = event;
    for round in 0..=cfg.max_hops + 1 {
        let sink = FakeSink::accepting();
        let out = run_in(&event, cfg, &sink, store);
        for r in parse(&out).values().filter(|r| r.result == "Ok") {
            docs.extend(docs_of(r));
        }
        outcomes.push(out);
        let again: Vec<_> = sink
            .accepted
            .into_inner()
            .unwrap()
            .into_iter()
            .enumerate()
            .map(
                |(i, (_, e))| logcore::transform::firehose::TransformRecord {
                    record_id: format!("again-{round}-{i}"),
                    approximate_arrival_timestamp: Some(1_763_700_000_000),
                    data: encode_base64(&e.data),
                    kinesis_record_metadata: None,
                },
            )
            .collect();
        if again.is_empty() {
            break;
        }
        event = TransformEvent {
            records: again,
            ..event
        };
    }
    (docs, outcomes)
}

/// The largest events CloudWatch Logs accepts (1 MB), in the shapes JSON escapes worst, all in one
/// Firehose invocation: every event becomes exactly one document with its message intact, nothing fails.
/// Two cannot travel in any response: the control characters (6 MB once escaped, 8 MB in base64) and the
/// JSON nested past the depth cap (its quotes escaped in `message` and again in the `json` text: 4.2 MB,
/// 5.6 MB in base64, over the 5.5 MB a record can count on); their documents are written where the
/// delivery stream writes, and counted.
#[test]
fn megabyte_events_of_every_shape_are_delivered() {
    let shapes = synth::worst_case_messages(logcore::logs::cwl::MAX_MESSAGE_BYTES);
    let ev = synth::event_per_message(shapes.iter().map(|(_, m)| m.clone()), 1_763_700_000_000);
    let cfg: Config = Config {
        oversize: Some(oversize()),
        ..Config::default()
    };
    let store = MemStore::default();
    let (docs, outcomes) = to_completion(ev, &cfg, &store);
    let written = written_docs(&store);
    let mut seen: Vec<&str> = docs
        .iter()
        .chain(written.iter().map(|(_, d)| d))
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    seen.sort_unstable();
    let mut want: Vec<&str> = shapes.iter().map(|(_, m)| m.as_str()).collect();
    want.sort_unstable();
    assert!(seen == want, "every message exactly once, intact");
    assert!(outcomes.iter().all(|o| o.failures.is_empty()));
    assert!(outcomes
        .iter()
        .all(|o| o.response.len() <= cfg.response_limit));
    let sum = |f: fn(&Summary) -> u64| outcomes.iter().map(|o| f(&o.summary)).sum::<u64>();
    assert_eq!(sum(|s| s.events_written), 2);
    assert_eq!(sum(|s| s.events_out), shapes.len() as u64 - 2);
    assert_eq!(sum(|s| s.events_failed), 0);
    assert!(sum(|s| s.events_reingested) > 0, "the answer was full");
    // The ledger: every event received once, where CloudWatch Logs delivered it, though some went round
    // the stream again; the two written directly counted in their hour.
    let ledger: Vec<logcore::ledger::TallyRow> = outcomes
        .iter()
        .flat_map(|o| o.summary.ledger.rows())
        .collect();
    let received: u64 = ledger.iter().map(|r| r.seen.received).sum();
    assert_eq!(received, shapes.len() as u64);
    assert_eq!(
        outcomes[0]
            .summary
            .ledger
            .rows()
            .map(|r| r.seen.received)
            .sum::<u64>(),
        received
    );
    assert_eq!(
        ledger.iter().map(|r| r.seen.written_directly).sum::<u64>(),
        2
    );
    let (key, _) = written
        .iter()
        .find(|(_, d)| d["message"].as_str().unwrap().starts_with('\u{1}'))
        .unwrap();
    assert!(written
        .iter()
        .any(|(_, d)| d["json"]["a"]["b"]["c"]["d"].is_string()));
    assert!(
        key.starts_with("logs/2025/11/21/04/logpipe-oversize-") && key.ends_with(".gz"),
        "{key}"
    );
    let w = outcomes
        .iter()
        .flat_map(|o| &o.written)
        .find(|w| &w.key == key)
        .unwrap();
    assert_eq!((w.bucket.as_str(), w.events), ("logs-bucket", 1));
    assert!(
        w.reason
            .contains("over what a 6291456-byte transformation response can carry"),
        "{}",
        w.reason
    );
}

/// Without a bucket for them, a record whose document no response can carry fails and says what to set;
/// a failed write fails the record with the object named; a retried invocation writes the same key; with
/// dynamic partitioning the object lands in the record's partition.
#[test]
fn oversize_documents_without_a_bucket_after_a_failed_write_and_partitioned() {
    let big = "\u{2}".repeat(300_000);
    let events = synth::events_of([big.clone(), "small".to_string()], 1_763_700_000_000);
    let ev = synth::event(
        SourceKind::DirectPut,
        vec![data_record(0, &events, SourceKind::DirectPut)],
    );
    let small: Config = Config {
        response_limit: 1_000_000,
        ..Config::default()
    };
    let out = run(&ev, &small, &FakeSink::accepting());
    assert_eq!(parse(&out)[&synth::record_id(0)].result, "ProcessingFailed");
    let reason = &out.failures[0].reason;
    assert!(
        reason.contains("1800") && reason.contains("set OVERSIZE_BUCKET and OVERSIZE_PREFIX"),
        "{reason}"
    );
    assert_eq!(out.summary.events_failed, 2);

    let cfg = Config {
        oversize: Some(oversize()),
        ..small.clone()
    };
    let store = MemStore::default();
    store.fail_puts(1);
    let out = run_in(&ev, &cfg, &FakeSink::accepting(), &store);
    assert_eq!(parse(&out)[&synth::record_id(0)].result, "ProcessingFailed");
    assert!(
        out.failures[0].reason.contains(
            "writing its documents to s3://logs-bucket/logs/2025/11/21/04/logpipe-oversize-"
        ) && out.failures[0].reason.contains("InternalError"),
        "{}",
        out.failures[0].reason
    );
    // Firehose retries: the same key, both events in it.
    let first = run_in(&ev, &cfg, &FakeSink::accepting(), &store);
    let again = run_in(&ev, &cfg, &FakeSink::accepting(), &store);
    assert_eq!(first.written[0].key, again.written[0].key);
    let docs = written_docs(&store);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].1["message"], big.as_str());
    assert_eq!(docs[1].1["message"], "small");
    assert_eq!(
        (
            first.summary.written_records,
            first.summary.events_written,
            first.summary.dropped
        ),
        (1, 2, 1)
    );

    let partitioned = Config {
        partition_keys: vec![PartitionKey::LogGroup, PartitionKey::Date],
        oversize: Some(Oversize {
            bucket: "logs-bucket".into(),
            prefix: logcore::transform::s3prefix::S3Prefix::parse(
                "logs/!{partitionKeyFromLambda:log_group}/!{partitionKeyFromLambda:date}/",
            )
            .unwrap(),
        }),
        ..small
    };
    let out = run_in(
        &ev,
        &partitioned,
        &FakeSink::accepting(),
        &MemStore::default(),
    );
    assert!(
        out.written[0]
            .key
            .starts_with("logs/ecs/api/2025-11-21/logpipe-oversize-"),
        "{}",
        out.written[0].key
    );
}

/// An event that compresses to more than a Firehose record may hold (1,000 KiB) cannot go back into the
/// stream when the answer is full: its record's documents are written directly instead of failing.
#[test]
fn an_event_too_large_to_reingest_is_written_directly() {
    let mut rng = fastrand::Rng::with_seed(7);
    let noise = (0..4).map(|_| (0..1_300_000).map(|_| rng.char('!'..='~')).collect());
    let ev = synth::event_per_message(noise, 1_763_700_000_000);
    let cfg: Config = Config {
        oversize: Some(oversize()),
        ..Config::default()
    };
    let store = MemStore::default();
    let sink = FakeSink::accepting();
    let out = run_in(&ev, &cfg, &sink, &store);
    let s = &out.summary;
    assert_eq!((s.ok, s.written_records, s.failed), (3, 1, 0), "{s:?}");
    assert!(sink.accepted.lock().unwrap().is_empty());
    assert!(
        out.written[0]
            .reason
            .contains("over the 1024000-byte record limit of the source"),
        "{}",
        out.written[0].reason
    );
    assert_eq!(written_docs(&store).len(), 1);
}

/// The example traces of every runtime (`examples/stack-traces.log`) as one stream's events, one line an
/// event as the awslogs driver sends them (blank lines skipped), each with its own id and time.
fn trace_events() -> Vec<Event> {
    let text = include_str!("../../../../examples/stack-traces.log");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| Event {
            id: format!("{i:02}"),
            timestamp: 1_763_722_800_000 + i as i64,
            message: match l.split_once(' ') {
                Some((t, m)) if logcore::base::time::parse_rfc3339_ms(t).is_some() => m.to_string(),
                _ => l.to_string(),
            },
        })
        .collect()
}

/// Traces at the start, in the middle and at the end of payloads, and one cut by a payload boundary: each
/// trace is one document of its first event with the others' ids under `event.joined`; the cut one's tail
/// is one document flagged `orphan`; every event is in exactly one document, and the counts say so.
#[test]
fn stack_traces_are_one_document_wherever_they_fall_in_a_payload() {
    let events = trace_events();
    let at = |prefix: &str| {
        events
            .iter()
            .position(|e| e.message.starts_with(prefix))
            .unwrap()
    };
    let java = at("org.springframework.dao");
    let python = at("Traceback");
    let node = at("TypeError");
    // Record 0: the Java trace at its start, cut after its third frame (the rest opens record 1).
    // Record 1: the Java trace's tail first, the Python traceback in the middle, the Node trace last.
    // Record 2: everything after.
    let cut = java + 4;
    let parts = [
        &events[java..cut],
        &events[cut..node + 5],
        &events[node + 5..],
    ];
    let records = parts
        .iter()
        .enumerate()
        .map(|(i, evs)| data_record(i as u64, evs, SourceKind::DirectPut))
        .collect();
    let ev = synth::event(SourceKind::DirectPut, records);
    let out = run(&ev, &Config::default(), &FakeSink::accepting());
    let resp = parse(&out);
    let docs: Vec<Vec<serde_json::Value>> = (0..3)
        .map(|i| docs_of(&resp[&synth::record_id(i)]))
        .collect();
    // Every event once, in order.
    let ids: Vec<String> = docs.iter().flatten().flat_map(ids_in).collect();
    let want: Vec<String> = events[java..].iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, want);
    // The Java head: one document of 4 events, level from its first line.
    assert_eq!(docs[0].len(), 1);
    assert_eq!(docs[0][0]["event"]["id"], events[java].id);
    assert_eq!(docs[0][0]["event"]["joined"]["count"], 3);
    assert!(docs[0][0]["event"]["joined"].get("continuation").is_none());
    let message = docs[0][0]["message"].as_str().unwrap();
    assert!(message.starts_with("org.springframework") && message.matches('\n').count() == 3);
    // The tail in record 1: an orphan, never merged into what follows it.
    let tail = &docs[1][0];
    assert_eq!(tail["event"]["joined"]["continuation"], "orphan");
    assert_eq!(tail["event"]["id"], events[cut].id);
    assert_eq!(tail["event"]["joined"]["count"], 3);
    // The Python traceback, chained, in the middle: one document of 13 events.
    let py = docs[1]
        .iter()
        .find(|d| d["event"]["id"] == events[python].id.as_str())
        .unwrap();
    assert_eq!(py["event"]["joined"]["count"], 12);
    assert!(py["message"]
        .as_str()
        .unwrap()
        .ends_with("payments.PaymentError: charge failed for o-7"));
    // The Node trace at the end of record 1.
    let last = docs[1].last().unwrap();
    assert_eq!(last["event"]["id"], events[node].id.as_str());
    assert_eq!(last["event"]["joined"]["count"], 4);
    // Counts: events in = documents + joined.
    let s = &out.summary;
    let n_docs: usize = docs.iter().map(Vec::len).sum();
    assert_eq!(s.events_in as usize, events.len() - java);
    assert_eq!(s.documents_out as usize, n_docs);
    assert_eq!(s.documents_out + s.events_joined, s.events_in);
    assert_eq!(s.render.joined_documents, 6, "{s:?}");
    assert_eq!(s.render.continuation_documents, 1);
    let joined: u64 = s.ledger.rows().map(|r| r.seen.joined).sum();
    assert_eq!(joined, s.events_joined);
    // With joining off, one document an event, as before.
    let off: Config =
        Config::from_env(logcore::base::env::pairs(&[("MULTILINE", "false")])).unwrap();
    let out = run(&ev, &off, &FakeSink::accepting());
    assert_eq!(out.summary.documents_out, out.summary.events_in);
    assert_eq!(out.summary.events_joined, 0);
}

/// A filter judges a joined record by its whole text: an include pattern that names the exception keeps
/// its frames too; an exclude pattern that matches a frame drops the trace whole.
#[test]
fn filters_keep_or_drop_a_trace_whole() {
    let events = trace_events();
    let ev = synth::event(
        SourceKind::DirectPut,
        vec![data_record(0, &events, SourceKind::DirectPut)],
    );
    let env = |k: &str, v: &str| -> Config {
        Config::from_env(logcore::base::env::pairs(&[(k, v)])).unwrap()
    };
    let out = run(
        &ev,
        &env("INCLUDE_PATTERN", "HikariPool"),
        &FakeSink::accepting(),
    );
    let docs = docs_of(&parse(&out)[&synth::record_id(0)]);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["event"]["joined"]["count"], 7);
    assert_eq!(out.summary.events_out, 8);
    assert_eq!(out.summary.events_excluded as usize, events.len() - 8);
    // The canary counts Firehose's failed records with the same judgement.
    let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
    let cfg = env("INCLUDE_PATTERN", "HikariPool");
    let keeps = cfg
        .filter
        .keeps(cfg.render.multiline(), "/ecs/api", &messages);
    assert_eq!(keeps.iter().filter(|k| **k).count(), 8);
    let out = run(
        &ev,
        &env("EXCLUDE_PATTERN", "business-logic"),
        &FakeSink::accepting(),
    );
    let docs = docs_of(&parse(&out)[&synth::record_id(0)]);
    assert!(docs
        .iter()
        .all(|d| !d["message"].as_str().unwrap().contains("TypeError")));
    assert_eq!(out.summary.events_excluded, 5);
    let excluded: u64 = out.summary.ledger.rows().map(|r| r.seen.excluded).sum();
    assert_eq!(excluded, 5);
    let cfg = env("EXCLUDE_PATTERN", "business-logic");
    let keeps = cfg
        .filter
        .keeps(cfg.render.multiline(), "/ecs/api", &messages);
    assert_eq!(keeps.iter().filter(|k| !**k).count(), 5);
}
