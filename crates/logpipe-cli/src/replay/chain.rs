//! The hops of the chain, in process: payloads to Firehose transformation events, the transform's handler
//! (re-ingested records run again), its records and direct writes as S3 objects, then each object through
//! the search forwarder and the Slack notifier, every outcome counted in the totals.

use std::sync::Arc;
use std::time::Duration;

use firehose_transform::{Config as TransformConfig, Render};
use logcore::logs::s3event::ObjectRef;
use logcore::synth::{self, Event, SourceKind};
use logcore::transform::firehose::TransformRecord;
use s3_search_forwarder::forward::forward_object;
use s3_search_forwarder::{Config as ForwarderConfig, Search, Store};
use serde_json::json;

use super::input::{event_time, Input};
use super::Totals;

pub(super) struct Chain<'a, R: Render, S: Store> {
    pub(super) tcfg: &'a TransformConfig<R>,
    pub(super) store: &'a Arc<S>,
    pub(super) bucket: &'a str,
    pub(super) prefix: &'a str,
    pub(super) log_group: &'a str,
    pub(super) log_stream: &'a str,
    pub(super) buffer_bytes: usize,
    pub(super) object_bytes: usize,
    pub(super) payload_events: usize,
}

/// CloudWatch Logs puts about 1 MB of events at most in one subscription payload.
pub(super) const PAYLOAD_BYTES: usize = 1_000_000;

impl<R: Render, S: Store> Chain<'_, R, S> {
    pub(super) async fn run<E: Search, K: slack_notifier::Slack>(
        &self,
        fcfg: &ForwarderConfig,
        search: &Arc<E>,
        notifier: &slack_notifier::Notifier<S, K>,
        mut input: Input,
        progress: Option<indicatif::ProgressBar>,
    ) -> Result<Totals, String> {
        let mut t = Totals::default();
        let mut buf = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        let mut event_bytes = 0usize;
        let mut records: Vec<TransformRecord> = Vec::new();
        let mut record_bytes = 0usize;
        let mut object: Vec<u8> = Vec::new();
        let mut clock = logcore::base::time::now_ms();
        loop {
            let line = input.next_line(&mut buf)?;
            if let Some(line) = &line {
                t.lines += 1;
                if line.trim().is_empty() {
                    t.blank_lines += 1;
                } else {
                    clock = event_time(line, clock);
                    event_bytes += line.len() + 26;
                    super::reconcile::count_source(&mut t.ledger, self.log_group, clock);
                    events.push(Event {
                        id: synth::event_id(clock, t.events),
                        timestamp: clock,
                        message: line.clone(),
                    });
                    t.events += 1;
                }
            }
            let end = line.is_none();
            if !events.is_empty()
                && (end || events.len() >= self.payload_events || event_bytes >= PAYLOAD_BYTES)
            {
                let payload = synth::data_payload(self.log_group, self.log_stream, &events);
                let data = synth::record_data(&payload);
                record_bytes += data.len();
                records.push(synth::record(
                    synth::record_id(t.transform_records),
                    data,
                    SourceKind::DirectPut,
                    self.log_stream,
                    t.transform_records,
                ));
                t.transform_records += 1;
                events.clear();
                event_bytes = 0;
            }
            if !records.is_empty() && (end || record_bytes >= self.buffer_bytes) {
                let ev = synth::event(SourceKind::DirectPut, std::mem::take(&mut records));
                record_bytes = 0;
                let written = self.transform(ev, &mut t, &mut object).await?;
                for (w, body) in written {
                    let size = w.bytes;
                    self.deliver(Some(w.key), body, size, fcfg, search, notifier, &mut t)
                        .await?;
                }
            }
            if !object.is_empty() && (end || object.len() >= self.object_bytes) {
                let body = std::mem::take(&mut object);
                let size = body.len() as u64;
                let gz = logcore::base::codec::gzip(&body, 6);
                self.deliver(None, gz, size, fcfg, search, notifier, &mut t)
                    .await?;
            }
            if let Some(bar) = &progress {
                bar.set_position(input.read);
            }
            if end {
                break;
            }
        }
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        Ok(t)
    }

    /// One Firehose invocation of the transform (and its re-ingested records, as Firehose delivers them
    /// again); the documents of `Ok` records go into the object being filled. Returns the objects the
    /// transform wrote itself (documents too large for a response), to be delivered.
    pub(super) async fn transform(
        &self,
        ev: logcore::transform::firehose::TransformEvent,
        t: &mut Totals,
        object: &mut Vec<u8>,
    ) -> Result<Vec<(firehose_transform::Written, Vec<u8>)>, String> {
        let passes = crate::local::run_to_completion(ev, self.tcfg).await?;
        let mut written = Vec::new();
        for p in passes {
            let s = &p.outcome.summary;
            t.transform_invocations += 1;
            t.documents += s.documents_out;
            t.joined += s.events_joined;
            t.written_directly += s.events_written;
            t.excluded += s.events_excluded;
            t.events_failed += s.events_failed;
            t.records_failed += s.failed;
            logcore::base::report::Metrics::add(&mut t.received, &s.ledger);
            for f in &p.outcome.failures {
                eprintln!("logpipe: transform: ProcessingFailed: {}", f.reason);
            }
            for (w, _) in &p.written {
                eprintln!(
                    "logpipe: transform: record {}: {}; written to s3://{}/{}",
                    w.record_id, w.reason, w.bucket, w.key
                );
            }
            object.extend_from_slice(&p.documents);
            written.extend(p.written);
        }
        Ok(written)
    }

    /// Write one object (gzip, `size` bytes of NDJSON) as Firehose would, under `key` or the next name of
    /// the prefix, then give it to the forwarder and the notifier as the SNS fan-out would.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn deliver<E: Search, K: slack_notifier::Slack>(
        &self,
        key: Option<String>,
        gz: Vec<u8>,
        size: u64,
        fcfg: &ForwarderConfig,
        search: &Arc<E>,
        notifier: &slack_notifier::Notifier<S, K>,
        t: &mut Totals,
    ) -> Result<(), String> {
        let now = logcore::base::time::now_ms();
        let stamp = logcore::base::time::DateTimeParts::from_millis(now).rfc3339();
        let key = key.unwrap_or_else(|| {
            format!(
                "{}/{}/{}/{}/{}/logpipe-replay-{:06}.gz",
                self.prefix,
                &stamp[0..4],
                &stamp[5..7],
                &stamp[8..10],
                &stamp[11..13],
                t.objects
            )
        });
        let bucket = self.bucket;
        self.store
            .put(bucket, &key, gz)
            .await
            .map_err(|e| format!("writing s3://{bucket}/{key}: {e}"))?;
        t.objects += 1;
        let obj = ObjectRef {
            bucket: bucket.into(),
            key: key.clone(),
            version_id: None,
            etag: None,
            size: Some(size),
            event_time: Some(stamp.clone()),
            region: None,
        };
        let deadline = logpipe_io::lambda::Deadline::after(
            Duration::from_secs(86_400),
            fcfg.common.deadline_margin,
        );
        let r = forward_object(fcfg, self.store, search, &obj, deadline).await;
        t.indexed += r.forwarded.indexed;
        t.already_indexed += r.forwarded.already_indexed;
        t.dead_lettered += r.forwarded.dead_lettered;
        if let Some(e) = &r.error {
            t.objects_failed += 1;
            eprintln!("logpipe: search: {key}: {e}");
        }
        let event = json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventTime": stamp,
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                   "object": {"key": crate::samples::encode_key(&key), "size": size}}
        }]});
        let deadline = logpipe_io::lambda::Deadline::after(
            Duration::from_secs(86_400),
            notifier.cfg.common.deadline_margin,
        );
        let (result, s) = notifier.handle(&event, deadline, now).await;
        t.alerts += s.alerts;
        t.suppressed += s.suppressed;
        t.slack_messages += s.messages_sent;
        t.slack_failed += s.messages_failed;
        if let Err(e) = result {
            eprintln!("logpipe: slack: {key}: {}", e.0);
        }
        Ok(())
    }
}
