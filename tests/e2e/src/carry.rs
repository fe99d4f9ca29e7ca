//! One hop at a time, for the tests that play the pipeline by hand (the canary's, the reconciliation's):
//! Firehose and the CloudWatch Logs transform turning events into documents, and the search forwarder
//! indexing one object on its S3 notification.

use std::sync::Arc;
use std::time::Duration;

use firehose_transform::{Documents, PutEntry, Reingest};
use logcore::synth;
use logcore::transform::firehose::{ParsedResponse, Source};
use logpipe_cli::reindex::aws::SqsQueue;
use logpipe_io::store::S3Store;
use logpipe_io::{CallError, HttpSearch};
use serde_json::{json, Value};

/// Everything fits in one transform answer in these tests: a re-ingestion would be a surprise.
pub struct NoReingest;

impl Reingest for NoReingest {
    async fn put(
        &self,
        _: &Source,
        entries: &[PutEntry],
    ) -> Result<Vec<Option<String>>, CallError> {
        Err(CallError::permanent(format!(
            "unexpected re-ingestion of {} entries",
            entries.len()
        )))
    }
}

/// The documents (NDJSON) the CloudWatch Logs transform makes of `events` of `group`'s `stream`, sent as
/// one subscription record by Direct PUT; every record must come back `Ok`.
pub async fn documents(
    group: &str,
    stream: &str,
    events: &[synth::Event],
) -> Result<Vec<u8>, String> {
    Ok(transform(group, stream, events).await?.0)
}

/// [`documents`], and the report line the transform's Lambda would print for that invocation (what its
/// log group holds, and the reconciliation reads back).
pub async fn transform(
    group: &str,
    stream: &str,
    events: &[synth::Event],
) -> Result<(Vec<u8>, String), String> {
    let payload = synth::data_payload(group, stream, events);
    let record = synth::record(
        synth::record_id(0),
        synth::record_data(&payload),
        synth::SourceKind::DirectPut,
        "",
        0,
    );
    let event = synth::event(synth::SourceKind::DirectPut, vec![record]);
    let tcfg =
        firehose_transform::Config::<Documents>::from_env(|_| None).map_err(|e| e.to_string())?;
    let deadline =
        logpipe_io::lambda::Deadline::after(Duration::from_secs(60), tcfg.common.deadline_margin);
    let out = firehose_transform::handle(
        &event,
        &tcfg,
        &NoReingest,
        &logpipe_io::store::MemStore::default(),
        deadline,
    )
    .await
    .map_err(|e| e.to_string())?;
    let parsed: ParsedResponse =
        serde_json::from_str(out.response.as_str()).map_err(|e| e.to_string())?;
    let mut docs = Vec::new();
    for r in parsed.records {
        if r.result != "Ok" {
            return Err(format!("record {} answered {}", r.record_id, r.result));
        }
        let data = r.data.ok_or("an Ok record without data")?;
        docs.extend(
            logcore::base::codec::decode_base64(data.as_bytes()).map_err(|e| e.to_string())?,
        );
    }
    let now = u64::try_from(logcore::base::time::now_ms()).unwrap_or(0);
    let line = logcore::base::report::line(
        &tcfg.common.destination(),
        "e2e",
        "transform summary",
        &out.summary,
        now,
    );
    Ok((docs, line))
}

/// The forwarder, notified of `s3://bucket/key`: the documents it indexed.
pub async fn forward(
    forwarder: &s3_search_forwarder::Config,
    s3: &Arc<S3Store>,
    search: &Arc<HttpSearch>,
    bucket: &str,
    key: &str,
) -> Result<u64, String> {
    let notification = json!({"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put",
        "s3":{"bucket":{"name":bucket},"object":{"key":key,"size":1}}}]});
    let deadline = logpipe_io::lambda::Deadline::after(
        Duration::from_secs(60),
        forwarder.common.deadline_margin,
    );
    let (res, summary) =
        s3_search_forwarder::handle(forwarder, s3, search, &notification, deadline).await;
    res.map_err(|e| format!("{e:?} {summary:?}"))?;
    Ok(summary.forwarded.indexed)
}

/// What the forwarder did with the queue's messages.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Consumed {
    /// The objects the messages named, in the order they came.
    pub keys: Vec<String>,
    pub indexed: u64,
    pub already: u64,
    /// Documents refused (dead-lettered, or refused again by a redrive).
    pub refused: u64,
    /// Dead-letter objects redriven.
    pub redriven: u64,
}

/// The forwarder's Lambda on the queue: batches of five as the event source mapping delivers them
/// (message attributes included), the messages it took deleted. A message it gives back is an error.
pub async fn consume(
    queue: &SqsQueue,
    forwarder: &s3_search_forwarder::Config,
    s3: &Arc<S3Store>,
    search: &Arc<HttpSearch>,
) -> Result<Consumed, String> {
    let mut out = Consumed::default();
    loop {
        let got = queue
            .client()
            .receive_message()
            .queue_url(queue.url())
            .max_number_of_messages(5)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| format!("ReceiveMessage: {e:?}"))?;
        let messages = got.messages();
        if messages.is_empty() {
            return Ok(out);
        }
        let mut records = Vec::new();
        for m in messages {
            let attrs: serde_json::Map<String, Value> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            let v =
                                json!({"stringValue": v.string_value(), "dataType": v.data_type()});
                            (k.clone(), v)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let body = m.body().unwrap_or_default();
            let parsed: Value = serde_json::from_str(body).map_err(|e| format!("{body}: {e}"))?;
            let key = parsed["Records"][0]["s3"]["object"]["key"]
                .as_str()
                .ok_or_else(|| format!("no object key in {body}"))?;
            out.keys
                .push(logcore::logs::s3event::decode_key(key)?.into_owned());
            records.push(
                json!({"eventSource": "aws:sqs", "messageId": m.message_id(),
                   "receiptHandle": m.receipt_handle(), "body": body, "messageAttributes": attrs}),
            );
        }
        let deadline = logpipe_io::lambda::Deadline::after(
            Duration::from_secs(60),
            forwarder.common.deadline_margin,
        );
        let (res, summary) = s3_search_forwarder::handle(
            forwarder,
            s3,
            search,
            &json!({ "Records": records }),
            deadline,
        )
        .await;
        match res.map_err(|e| e.0)? {
            s3_search_forwarder::Response::Sqs {
                batch_item_failures,
            } if batch_item_failures.is_empty() => {}
            other => return Err(format!("the forwarder answered {other:?}: {summary:?}")),
        }
        out.indexed += summary.forwarded.indexed;
        out.already += summary.forwarded.already_indexed;
        out.refused += summary.forwarded.dead_lettered;
        out.redriven += summary.dead_letter_objects_redriven;
        for m in messages {
            let Some(handle) = m.receipt_handle() else {
                continue;
            };
            queue
                .client()
                .delete_message()
                .queue_url(queue.url())
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| format!("DeleteMessage: {e:?}"))?;
        }
    }
}
