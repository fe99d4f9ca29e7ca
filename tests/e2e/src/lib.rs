//! The whole chain on local stand-ins, with the Lambdas' own handlers and their real AWS adapters:
//!
//! ```text
//! generated events ─► subscription payloads ─┬─ app logs: Firehose DirectPut ─► transform ─┐
//!                                            └─ audit:   Kinesis (moto) ─────► transform ─┤
//!      re-ingestion: PutRecordBatch to Firehose (moto) / PutRecords to Kinesis (moto) ◄────┤
//!   Ok documents ─► S3 objects (moto, gzip, as Firehose writes them); failed records ─► errors/
//!   S3 notification (moto) ─► SNS (moto) ─┬─ SQS (raw) ─► search forwarder ─► `_bulk` stand-in
//!                                         └─ the notifier's subscription ─► Slack stand-in
//! ```
//!
//! Moto's Firehose never calls a transform Lambda, so this harness plays Firehose: it batches records
//! into transformation events, reads back what was re-ingested (from the delivery stream's S3 destination,
//! or the Kinesis shard), writes the documents as objects, and plays Lambda's SQS and SNS triggers.
//! [`Report::problems`] then checks that every generated event is indexed once, dead-lettered with its
//! reason, or dropped on purpose, and that every Slack-worthy message was alerted exactly once.

pub mod carry;
pub mod faults;
pub mod local;
pub mod mix;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use firehose_transform::{Audit, Config as TransformConfig, Documents, Render};
use logcore::logs::s3event::ObjectRef;
use logcore::transform::firehose::{
    KinesisRecordMetadata, ParsedResponse, TransformEvent, TransformRecord,
};
use logpipe_io::store::S3Store;
use serde_json::{json, Value};
use test_support::bulk_server::{BulkServer, Fault};
use test_support::slack_server::{Answer, SlackServer};

use faults::{FlakyReingest, FlakyStore};
use mix::{Mix, EXCLUDE_PATTERN};

/// Firehose's buffer towards the transform (the template's ProcessingConfiguration: 1 MB).
const TRANSFORM_BUFFER_BYTES: usize = 1_000_000;
/// Firehose gives a transform at most this many records at once.
const TRANSFORM_MAX_RECORDS: usize = 500;
/// Decompressed bytes of documents per S3 object (small, so that a run makes many objects).
const OBJECT_BYTES: usize = 2_000_000;
/// Lambda's SQS batch size in the template.
const SQS_BATCH: i32 = 10;
/// Lambda retries an asynchronous invocation (SNS → notifier) twice.
const ASYNC_ATTEMPTS: usize = 3;
/// Rounds of polling a queue before the harness gives up (each round handles up to 10 messages).
const MAX_ROUNDS: usize = 2_000;

/// What goes wrong in a run.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The `_bulk` stand-in's script for its first requests.
    pub bulk: Vec<Fault>,
    /// Generate documents the index mapping refuses (400 per item).
    pub mapping_conflicts: bool,
    /// Re-ingestion put calls that see every other entry fail: this many to Firehose, and as many to Kinesis.
    pub reingest_partial_failures: u64,
    /// Object reads that fail, in the forwarder and in the notifier each.
    pub s3_read_errors: u64,
    /// The Slack stand-in's script for its first posts.
    pub slack: Vec<Answer>,
    /// Notifications delivered twice (the first ones of each consumer's queue).
    pub duplicate_notifications: usize,
    /// Time left to the first forwarder invocation (its deadline is reached mid-object).
    pub forwarder_deadline: Option<Duration>,
    /// The forwarder's request timeout and batch size, when not the harness's (5 s, 1,000 documents).
    pub forwarder_request_timeout: Option<Duration>,
    pub forwarder_bulk_max_actions: Option<usize>,
}

/// Event ids; shown as a count and the first few.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Ids(pub Vec<String>);

impl std::fmt::Debug for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ids {:?}",
            self.0.len(),
            &self.0[..self.0.len().min(3)]
        )
    }
}

impl std::ops::Deref for Ids {
    type Target = Vec<String>;
    fn deref(&self) -> &Vec<String> {
        &self.0
    }
}

/// What a run did, and what it left in the stand-ins.
#[derive(Debug, Default)]
pub struct Report {
    pub generated: usize,
    pub transform_invocations: u64,
    pub transform_events_out: u64,
    pub transform_excluded: u64,
    pub transform_failed_records: u64,
    pub reingested_records: u64,
    /// Records whose documents no response could carry: written to the bucket by the transform itself.
    pub written_records: u64,
    pub objects: u64,
    /// `event.id` of every document in the index, repeats kept.
    pub indexed_ids: Ids,
    /// Event ids joined into another event's document (`event.joined.ids`: the lines of a stack trace
    /// after its first).
    pub joined_ids: Ids,
    /// Documents in the index without an `event.id`.
    pub indexed_without_id: u64,
    /// Documents by family (audit when they have `db`) and index family (the index name before its date).
    pub indices: BTreeMap<String, u64>,
    /// `event.id` of the documents dead-lettered under `failed/`, and dead letters holding no document.
    pub dead_letter_ids: Ids,
    pub dead_letters_without_document: u64,
    /// Event ids of the records Firehose would keep under `errors/`, and those records that hold no events.
    pub errors_event_ids: Ids,
    pub errors_records_unreadable: u64,
    pub forwarder: s3_search_forwarder::Summary,
    pub forwarder_invocations: u64,
    /// Messages the forwarder gave back (batch item failures), by invocation.
    pub forwarder_redeliveries: u64,
    pub notifier: slack_notifier::Summary,
    pub notifier_invocations: u64,
    pub notifier_failed_invocations: u64,
    /// Notifications whose invocation failed every attempt (Lambda's on-failure destination).
    pub notifier_undelivered: u64,
    /// Alert-worthy distinct messages in the objects (by the notifier's rules and fingerprint).
    pub slack_worthy: u64,
    /// Sum of the alert counts of the Slack messages delivered (answered 2xx).
    pub slack_alerted: u64,
    pub slack_posts: usize,
    pub slack_posts_refused: usize,
    /// Faults that fired: entries reported failed by re-ingestion puts, to Firehose and to Kinesis.
    pub injected_reingest_failures: [u64; 2],
    pub injected_read_errors: u64,
    pub bulk_requests: u64,
    pub bulk_faults_left: usize,
    /// What the transform counted itself: its report lines' `ledger`, added up over the invocations.
    pub transform_ledger: logcore::ledger::Tally,
}

impl Report {
    /// The run's reconciliation, as `logpipe reconcile` makes it of a deployed pipeline: per log group
    /// and hour of the events' timestamps, the source (the mix), what the transform counted itself
    /// (received, dropped by its filter, failed), the records Firehose would keep under `errors/`, the
    /// index and the dead letters (by the events' ids).
    pub fn ledger(&self, mix: &Mix) -> logcore::ledger::Ledger {
        let mut ledger = logcore::ledger::Ledger::default();
        let mut at: BTreeMap<&str, (&str, i64)> = BTreeMap::new();
        for (group, e) in mix.events() {
            at.insert(e.id.as_str(), (group, e.timestamp));
            let c = ledger.row(group, e.timestamp);
            *c.source.get_or_insert(0) += 1;
        }
        for row in self.transform_ledger.rows() {
            ledger.row(&row.group, row.hour).add_transform(&row.seen);
        }
        let mut by_event = |ids: &Ids, hop: fn(&mut logcore::ledger::Counts)| {
            for id in &ids.0 {
                if let Some((group, ts)) = at.get(id.as_str()) {
                    hop(ledger.row(group, *ts));
                }
            }
        };
        by_event(&self.errors_event_ids, |c| *c.failed.get_or_insert(0) += 1);
        by_event(&self.indexed_ids, |c| *c.indexed.get_or_insert(0) += 1);
        by_event(&self.dead_letter_ids, |c| {
            *c.dead_lettered
                .get_or_insert_with(BTreeMap::new)
                .entry("document".into())
                .or_default() += 1;
        });
        // Every hop counted the whole run: nothing seen is a zero.
        for c in ledger.rows.values_mut() {
            c.received.get_or_insert(0);
            c.dropped.get_or_insert_with(BTreeMap::new);
            c.failed.get_or_insert(0);
            c.indexed.get_or_insert(0);
            c.dead_lettered.get_or_insert_with(BTreeMap::new);
        }
        ledger
    }

    /// Every way the run lost, duplicated or invented something; empty when nothing was.
    pub fn problems(&self, mix: &Mix) -> Vec<String> {
        let mut p = Vec::new();
        let generated: BTreeSet<&str> = mix.events().map(|(_, e)| e.id.as_str()).collect();
        let excluded = mix.excluded_ids();
        // An event is in the index as its own document or joined into another's.
        let indexed: BTreeSet<&str> = self
            .indexed_ids
            .iter()
            .chain(self.joined_ids.iter())
            .map(String::as_str)
            .collect();
        if indexed.len() != self.indexed_ids.len() + self.joined_ids.len() {
            p.push(format!(
                "{} documents and {} joined lines in the index for {} events: duplicates",
                self.indexed_ids.len(),
                self.joined_ids.len(),
                indexed.len()
            ));
        }
        let dead: BTreeSet<&str> = self
            .dead_letter_ids
            .iter()
            .chain(self.errors_event_ids.iter())
            .map(String::as_str)
            .collect();
        let mut unaccounted = 0usize;
        let mut twice = 0usize;
        let mut example = None;
        for id in &generated {
            let fates = usize::from(indexed.contains(id))
                + usize::from(dead.contains(id))
                + usize::from(excluded.contains(*id));
            if fates == 0 {
                unaccounted += 1;
                example.get_or_insert(*id);
            }
            twice += usize::from(fates > 1);
        }
        if unaccounted > 0 {
            p.push(format!(
                "{unaccounted} of {} events neither indexed, dead-lettered nor excluded (e.g. event {})",
                generated.len(),
                example.unwrap_or_default()
            ));
        }
        if twice > 0 {
            p.push(format!(
                "{twice} events both indexed and dead-lettered (or excluded)"
            ));
        }
        let foreign = indexed
            .iter()
            .chain(&dead)
            .filter(|id| !generated.contains(*id))
            .count();
        if foreign > 0 || self.indexed_without_id > 0 || self.dead_letters_without_document > 0 {
            p.push(format!(
                "{foreign} ids not generated, {} documents without event.id, {} dead letters without a document",
                self.indexed_without_id, self.dead_letters_without_document
            ));
        }
        if self.transform_excluded != excluded.len() as u64 {
            p.push(format!(
                "the transform excluded {} events; {} match {EXCLUDE_PATTERN:?}",
                self.transform_excluded,
                excluded.len()
            ));
        }
        if self.errors_records_unreadable != mix.malformed.len() as u64 {
            p.push(format!(
                "{} unreadable records under errors/; {} malformed were sent",
                self.errors_records_unreadable,
                mix.malformed.len()
            ));
        }
        if self.forwarder.objects_failed > self.forwarder_redeliveries {
            p.push("an object failed without its message being delivered again".into());
        }
        if self.notifier_undelivered > 0 {
            p.push(format!(
                "{} notifications never alerted (they would be in the on-failure destination)",
                self.notifier_undelivered
            ));
        }
        if self.slack_alerted != self.slack_worthy {
            p.push(format!(
                "Slack was told of {} alerts; {} distinct alert-worthy messages are in the logs",
                self.slack_alerted, self.slack_worthy
            ));
        }
        p
    }
}

/// The moto resources of one run (unique names, so runs never see each other's data).
struct Aws {
    sdk: aws_config::SdkConfig,
    s3: aws_sdk_s3::Client,
    kinesis: aws_sdk_kinesis::Client,
    sqs: aws_sdk_sqs::Client,
    bucket: String,
    app_stream_arn: String,
    audit_delivery_stream_arn: String,
    audit_stream: String,
    audit_stream_arn: String,
    forwarder_queue: Queue,
    notifier_queue: Queue,
}

struct Queue {
    url: String,
    arn: String,
}

/// A failed call, named.
fn err(what: &str, e: impl std::fmt::Debug) -> String {
    format!("{what}: {e:?}")
}

async fn setup(moto: &str) -> Result<Aws, String> {
    let sdk = test_support::sdk_config(moto).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let firehose = aws_sdk_firehose::Client::new(&sdk);
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let name = test_support::unique("e2e");
    let account = test_support::ACCOUNT;
    let region = test_support::REGION;

    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .map_err(|e| err("CreateBucket", e))?;
    let topic = sns
        .create_topic()
        .name(&name)
        .send()
        .await
        .map_err(|e| err("CreateTopic", e))?
        .topic_arn
        .ok_or("CreateTopic: no ARN")?;
    let mut queues = Vec::new();
    for (suffix, raw) in [("forwarder", true), ("notifier", false)] {
        let url = sqs
            .create_queue()
            .queue_name(format!("{name}-{suffix}"))
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "120",
            )
            .send()
            .await
            .map_err(|e| err("CreateQueue", e))?
            .queue_url
            .ok_or("CreateQueue: no URL")?;
        let arn = format!("arn:aws:sqs:{region}:{account}:{name}-{suffix}");
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(&arn)
            .attributes("RawMessageDelivery", raw.to_string())
            .send()
            .await
            .map_err(|e| err("Subscribe", e))?;
        queues.push(Queue { url, arn });
    }
    let notifier_queue = queues.pop().ok_or("no queue")?;
    let forwarder_queue = queues.pop().ok_or("no queue")?;

    // As the template: new objects under logs/ and audit/ notify the topic.
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, NotificationConfiguration,
        NotificationConfigurationFilter, S3KeyFilter, TopicConfiguration,
    };
    let mut config = NotificationConfiguration::builder();
    for prefix in ["logs/", "audit/"] {
        let rule = FilterRule::builder()
            .name(FilterRuleName::Prefix)
            .value(prefix)
            .build();
        config = config.topic_configurations(
            TopicConfiguration::builder()
                .topic_arn(&topic)
                .events(Event::from("s3:ObjectCreated:*"))
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(S3KeyFilter::builder().filter_rules(rule).build())
                        .build(),
                )
                .build()
                .map_err(|e| err("TopicConfiguration", e))?,
        );
    }
    s3.put_bucket_notification_configuration()
        .bucket(&name)
        .notification_configuration(config.build())
        .send()
        .await
        .map_err(|e| err("PutBucketNotificationConfiguration", e))?;

    // The app delivery stream: what the transform re-ingests lands under reingest/ (moto writes each
    // PutRecordBatch there instead of calling the transform again).
    let app_stream = format!("{name}-app");
    firehose
        .create_delivery_stream()
        .delivery_stream_name(&app_stream)
        .delivery_stream_type(aws_sdk_firehose::types::DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(
            aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
                .role_arn(format!("arn:aws:iam::{account}:role/firehose"))
                .bucket_arn(format!("arn:aws:s3:::{name}"))
                .prefix("reingest/app/")
                .build()
                .map_err(|e| err("ExtendedS3DestinationConfiguration", e))?,
        )
        .send()
        .await
        .map_err(|e| err("CreateDeliveryStream", e))?;
    let audit_stream = format!("{name}-audit");
    kinesis
        .create_stream()
        .stream_name(&audit_stream)
        .shard_count(1)
        .send()
        .await
        .map_err(|e| err("CreateStream", e))?;
    Ok(Aws {
        app_stream_arn: format!("arn:aws:firehose:{region}:{account}:deliverystream/{app_stream}"),
        audit_stream_arn: format!("arn:aws:kinesis:{region}:{account}:stream/{audit_stream}"),
        audit_delivery_stream_arn: format!(
            "arn:aws:firehose:{region}:{account}:deliverystream/{audit_stream}"
        ),
        audit_stream,
        sdk,
        s3,
        kinesis,
        sqs,
        bucket: name,
        forwarder_queue,
        notifier_queue,
    })
}

/// Run the chain on `mix` with `faults`, against moto at `moto`.
pub async fn run(moto: &str, mix: &Mix, faults: &Faults) -> Result<Report, String> {
    let aws = setup(moto).await?;
    let bulk = BulkServer::start(faults.bulk.clone()).await;
    let slack = SlackServer::start(faults.slack.clone()).await;
    let mut report = Report {
        generated: mix.len(),
        ..Report::default()
    };
    let reingest = FlakyReingest::new(
        firehose_transform::aws::AwsReingest::new(&aws.sdk, Duration::from_secs(10)),
        faults.reingest_partial_failures,
    );
    let mut firehose = Firehose {
        aws: &aws,
        store: S3Store::new(&aws.sdk, true),
        report: &mut report,
        objects: BTreeMap::new(),
        errors: Vec::new(),
        reingest_seen: BTreeSet::new(),
    };
    firehose.app(mix, &reingest).await?;
    firehose.audit(mix, &reingest).await?;
    firehose.flush_all().await?;
    report.injected_reingest_failures = [
        reingest.injected_firehose.load(Ordering::SeqCst),
        reingest.injected_kinesis.load(Ordering::SeqCst),
    ];

    let forwarder_store = FlakyStore::new(S3Store::new(&aws.sdk, true), faults.s3_read_errors);
    let forwarded = forward(&aws, &bulk, forwarder_store, faults, &mut report).await?;
    let notifier_store = FlakyStore::new(S3Store::new(&aws.sdk, true), faults.s3_read_errors);
    let notified = notify(&aws, &slack, notifier_store, faults, &mut report).await?;
    report.injected_read_errors = forwarded + notified;
    collect(&aws, &bulk, &slack, &mut report).await?;
    Ok(report)
}

/// The harness's Firehose: transformation events in, objects out.
struct Firehose<'a> {
    aws: &'a Aws,
    /// Where the transform writes the documents no response can carry (the bucket's notifications tell
    /// the forwarder and the notifier, as for Firehose's objects).
    store: S3Store,
    report: &'a mut Report,
    /// Documents waiting to be written, by prefix (`logs`, `audit`).
    objects: BTreeMap<&'static str, Vec<u8>>,
    /// Records the transform failed, as Firehose writes them under `errors/`.
    errors: Vec<Value>,
    /// Re-ingestion objects already read back.
    reingest_seen: BTreeSet<String>,
}

fn transform_record(
    seq: u64,
    data: &[u8],
    kinesis: Option<KinesisRecordMetadata>,
) -> TransformRecord {
    TransformRecord {
        record_id: format!("e2e-{seq:012}"),
        approximate_arrival_timestamp: Some(1_763_700_000_000),
        data: logcore::base::codec::encode_base64(data),
        kinesis_record_metadata: kinesis,
    }
}

/// Cut records into transformation events as Firehose does: up to 1 MB and 500 records each.
fn invocations(records: &mut VecDeque<TransformRecord>) -> Option<Vec<TransformRecord>> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while let Some(r) = records.front() {
        if !batch.is_empty()
            && (bytes + r.data.len() > TRANSFORM_BUFFER_BYTES
                || batch.len() >= TRANSFORM_MAX_RECORDS)
        {
            break;
        }
        bytes += r.data.len();
        batch.extend(records.pop_front());
    }
    (!batch.is_empty()).then_some(batch)
}

impl Firehose<'_> {
    /// The app logs: a DirectPut delivery stream; re-ingested records come back from moto's S3 copy.
    async fn app<S: firehose_transform::Reingest>(
        &mut self,
        mix: &Mix,
        sink: &S,
    ) -> Result<(), String> {
        let bucket = self.aws.bucket.clone();
        let cfg = TransformConfig::<Documents>::from_env(|k| match k {
            "EXCLUDE_PATTERN" => Some(EXCLUDE_PATTERN.to_string()),
            "OVERSIZE_BUCKET" => Some(bucket.clone()),
            "OVERSIZE_PREFIX" => Some("logs/!{timestamp:yyyy/MM/dd/HH}/".into()),
            _ => None,
        })
        .map_err(|e| e.to_string())?;
        let mut records: VecDeque<TransformRecord> = VecDeque::new();
        let mut seq = 0u64;
        let spread = mix.app.len() / (mix.malformed.len() + 1);
        for (i, p) in mix.app.iter().enumerate() {
            records.push_back(transform_record(seq, &p.gzip(), None));
            seq += 1;
            if spread > 0 && i % spread == spread / 2 {
                if let Some(bad) = mix.malformed.get(i / spread) {
                    records.push_back(transform_record(seq, bad, None));
                    seq += 1;
                }
            }
        }
        loop {
            let Some(batch) = invocations(&mut records) else {
                let again = self.reingested_app(&mut seq).await?;
                if again.is_empty() {
                    return Ok(());
                }
                records.extend(again);
                continue;
            };
            let event = TransformEvent {
                invocation_id: format!("e2e-app-{seq}"),
                delivery_stream_arn: self.aws.app_stream_arn.clone(),
                source_kinesis_stream_arn: None,
                region: test_support::REGION.into(),
                records: batch,
            };
            self.transform(&event, &cfg, sink, "logs").await?;
            records.extend(self.reingested_app(&mut seq).await?);
        }
    }

    /// The records moto's Firehose wrote under `reingest/app/` since the last look: each object is one
    /// `PutRecordBatch`, its records gzip members one after the other.
    async fn reingested_app(&mut self, seq: &mut u64) -> Result<Vec<TransformRecord>, String> {
        let keys = list(&self.aws.s3, &self.aws.bucket, "reingest/app/").await?;
        let mut out = Vec::new();
        for key in keys {
            if !self.reingest_seen.insert(key.clone()) {
                continue;
            }
            let body = get_raw(&self.aws.s3, &self.aws.bucket, &key).await?;
            for member in gzip_members(&body).map_err(|e| format!("{key}: {e}"))? {
                out.push(transform_record(*seq, member, None));
                *seq += 1;
            }
        }
        Ok(out)
    }

    /// The audit logs: subscription payloads put to a Kinesis stream (as a cross-account destination
    /// does), read back shard by shard; re-ingested records go back into the same stream.
    async fn audit<S: firehose_transform::Reingest>(
        &mut self,
        mix: &Mix,
        sink: &S,
    ) -> Result<(), String> {
        let bucket = self.aws.bucket.clone();
        let cfg = TransformConfig::<Audit>::from_env(|k| match k {
            "OVERSIZE_BUCKET" => Some(bucket.clone()),
            "OVERSIZE_PREFIX" => Some("audit/!{timestamp:yyyy/MM/dd/HH}/".into()),
            _ => None,
        })
        .map_err(|e| e.to_string())?;
        let k = &self.aws.kinesis;
        let payloads: Vec<(Vec<u8>, &str)> = mix
            .audit
            .iter()
            .map(|p| (p.gzip(), p.stream.as_str()))
            .collect();
        for chunk in payloads.chunks(100) {
            let entries = chunk
                .iter()
                .map(|(data, key)| {
                    aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                        .data(aws_sdk_kinesis::primitives::Blob::new(data.clone()))
                        .partition_key(*key)
                        .build()
                        .map_err(|e| err("PutRecordsRequestEntry", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = k
                .put_records()
                .stream_name(&self.aws.audit_stream)
                .set_records(Some(entries))
                .send()
                .await
                .map_err(|e| err("PutRecords", e))?;
            if out.failed_record_count.unwrap_or(0) > 0 {
                return Err("moto refused audit records".into());
            }
        }
        let shards = k
            .list_shards()
            .stream_name(&self.aws.audit_stream)
            .send()
            .await
            .map_err(|e| err("ListShards", e))?;
        let mut seq = 0u64;
        for shard in shards.shards() {
            let shard_id = shard.shard_id().to_string();
            let mut iterator = k
                .get_shard_iterator()
                .stream_name(&self.aws.audit_stream)
                .shard_id(&shard_id)
                .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(|e| err("GetShardIterator", e))?
                .shard_iterator;
            // Re-ingested records are put before the next read, so an empty read means the end.
            while let Some(it) = iterator.take() {
                let out = k
                    .get_records()
                    .shard_iterator(it)
                    .limit(1_000)
                    .send()
                    .await
                    .map_err(|e| err("GetRecords", e))?;
                if out.records().is_empty() {
                    break;
                }
                let mut records: VecDeque<TransformRecord> = out
                    .records()
                    .iter()
                    .map(|r| {
                        seq += 1;
                        transform_record(
                            seq,
                            r.data().as_ref(),
                            Some(KinesisRecordMetadata {
                                shard_id: Some(shard_id.clone()),
                                partition_key: r.partition_key().map(str::to_string),
                                approximate_arrival_timestamp: Some(1_763_700_000_000),
                                sequence_number: Some(r.sequence_number().to_string()),
                                subsequence_number: Some(0),
                            }),
                        )
                    })
                    .collect();
                while let Some(batch) = invocations(&mut records) {
                    let event = TransformEvent {
                        invocation_id: format!("e2e-audit-{seq}"),
                        delivery_stream_arn: self.aws.audit_delivery_stream_arn.clone(),
                        source_kinesis_stream_arn: Some(self.aws.audit_stream_arn.clone()),
                        region: test_support::REGION.into(),
                        records: batch,
                    };
                    self.transform(&event, &cfg, sink, "audit").await?;
                }
                iterator = out.next_shard_iterator;
            }
        }
        Ok(())
    }

    /// One transform invocation: `Ok` documents into the object being filled, failed records to `errors/`.
    async fn transform<R: Render, S: firehose_transform::Reingest>(
        &mut self,
        event: &TransformEvent,
        cfg: &TransformConfig<R>,
        sink: &S,
        prefix: &'static str,
    ) -> Result<(), String> {
        let deadline = logpipe_io::lambda::Deadline::after(
            Duration::from_secs(300),
            cfg.common.deadline_margin,
        );
        let outcome = firehose_transform::handle(event, cfg, sink, &self.store, deadline)
            .await
            .map_err(|e| format!("transform invocation {}: {e}", event.invocation_id))?;
        for f in &outcome.failures {
            eprintln!(
                "transform {}: record {}: {}",
                event.invocation_id, f.record_id, f.reason
            );
        }
        let s = &outcome.summary;
        self.report.transform_invocations += 1;
        logcore::base::report::Metrics::add(&mut self.report.transform_ledger, &s.ledger);
        self.report.transform_events_out += s.events_out;
        self.report.transform_excluded += s.events_excluded;
        self.report.reingested_records += s.reingested_records;
        self.report.written_records += s.written_records;
        let parsed: ParsedResponse = serde_json::from_str(outcome.response.as_str())
            .map_err(|e| format!("transform response: {e}"))?;
        if parsed.records.len() != event.records.len() {
            return Err(format!(
                "{} records in, {} in the response",
                event.records.len(),
                parsed.records.len()
            ));
        }
        // The answer lists pending (re-ingested) records last: match records by id, not position.
        let originals: BTreeMap<&str, &TransformRecord> = event
            .records
            .iter()
            .map(|r| (r.record_id.as_str(), r))
            .collect();
        for r in &parsed.records {
            let original = originals
                .get(r.record_id.as_str())
                .ok_or_else(|| format!("the answer has a record {} nobody sent", r.record_id))?;
            match r.result.as_str() {
                "Ok" => {
                    let data = r.data.as_deref().ok_or("an Ok record without data")?;
                    let docs = logcore::base::codec::decode_base64(data.as_bytes())
                        .map_err(|e| format!("record {}: {e}", r.record_id))?;
                    let object = self.objects.entry(prefix).or_default();
                    object.extend_from_slice(&docs);
                    if object.len() >= OBJECT_BYTES {
                        self.flush(prefix).await?;
                    }
                }
                "Dropped" => {}
                _ => {
                    self.report.transform_failed_records += 1;
                    self.errors.push(json!({
                        "attemptsMade": 1,
                        "arrivalTimestamp": original.approximate_arrival_timestamp,
                        "errorCode": "Lambda.ProcessingFailed",
                        "errorMessage": "The Lambda function failed to process the record",
                        "rawData": original.data,
                        "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:logpipe-transform",
                    }));
                }
            }
        }
        Ok(())
    }

    /// Write the documents waiting under `prefix` as one gzip object, as Firehose does.
    async fn flush(&mut self, prefix: &'static str) -> Result<(), String> {
        let Some(docs) = self.objects.remove(prefix).filter(|d| !d.is_empty()) else {
            return Ok(());
        };
        let key = format!(
            "{prefix}/2026/11/22/10/logpipe-{prefix}-1-2026-11-22-10-00-00-{:06}.gz",
            self.report.objects
        );
        put(
            &self.aws.s3,
            &self.aws.bucket,
            &key,
            logcore::base::codec::gzip(&docs, 6),
        )
        .await?;
        self.report.objects += 1;
        Ok(())
    }

    async fn flush_all(&mut self) -> Result<(), String> {
        self.flush("logs").await?;
        self.flush("audit").await?;
        if !self.errors.is_empty() {
            let mut body = Vec::new();
            for e in &self.errors {
                body.extend_from_slice(e.to_string().as_bytes());
                body.push(b'\n');
            }
            let key =
                "errors/processing-failed/2026/11/22/10/logpipe-app-1-2026-11-22-10-00-00-e2e";
            put(&self.aws.s3, &self.aws.bucket, key, body).await?;
        }
        Ok(())
    }
}

/// The records of a `PutRecordBatch` object: gzip members back to back.
fn gzip_members(mut body: &[u8]) -> Result<Vec<&[u8]>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    while !body.is_empty() {
        let mut d = flate2::bufread::GzDecoder::new(body);
        std::io::copy(&mut d.by_ref().take(64 << 20), &mut std::io::sink())
            .map_err(|e| format!("a re-ingested record is not gzip: {e}"))?;
        let rest = d.into_inner();
        out.push(&body[..body.len() - rest.len()]);
        body = rest;
    }
    Ok(out)
}

async fn list(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err("ListObjectsV2", e))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    Ok(keys)
}

/// An object's bytes, decompressed when gzip.
async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let body = get_raw(s3, bucket, key).await?;
    if body.starts_with(&[0x1f, 0x8b]) {
        logcore::base::codec::gunzip_capped(&body, 1 << 30).map_err(|e| format!("{key}: {e}"))
    } else {
        Ok(body)
    }
}

async fn get_raw(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| err(&format!("GetObject {key}"), e))?;
    let body = out
        .body
        .collect()
        .await
        .map_err(|e| format!("reading {key}: {e}"))?
        .into_bytes()
        .to_vec();
    Ok(body)
}

async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<(), String> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| err(&format!("PutObject {key}"), e))?;
    Ok(())
}

/// Up to 10 messages of a queue, as Lambda's event source mapping polls them.
async fn receive(aws: &Aws, q: &Queue) -> Result<Vec<aws_sdk_sqs::types::Message>, String> {
    Ok(aws
        .sqs
        .receive_message()
        .queue_url(&q.url)
        .max_number_of_messages(SQS_BATCH)
        .wait_time_seconds(0)
        .send()
        .await
        .map_err(|e| err("ReceiveMessage", e))?
        .messages
        .unwrap_or_default())
}

/// Deliver the first `n` notifications of a queue once more (SNS and SQS deliver at least once).
async fn duplicate(
    aws: &Aws,
    q: &Queue,
    msgs: &[aws_sdk_sqs::types::Message],
    left: &mut usize,
) -> Result<(), String> {
    for m in msgs {
        if *left == 0 {
            break;
        }
        aws.sqs
            .send_message()
            .queue_url(&q.url)
            .message_body(m.body().unwrap_or_default())
            .send()
            .await
            .map_err(|e| err("SendMessage", e))?;
        *left -= 1;
    }
    Ok(())
}

/// The forwarder as Lambda runs it on the SQS queue: batches of 10, partial batch responses; a message
/// given back is visible again at once (instead of after the visibility timeout). Returns the read
/// errors injected.
async fn forward(
    aws: &Aws,
    bulk: &BulkServer,
    store: FlakyStore<S3Store>,
    faults: &Faults,
    report: &mut Report,
) -> Result<u64, String> {
    let mut cfg = s3_search_forwarder::Config::new(&bulk.url);
    cfg.backoff.base = Duration::from_millis(5);
    cfg.backoff.max_delay = Duration::from_millis(50);
    cfg.request_timeout = faults
        .forwarder_request_timeout
        .unwrap_or(Duration::from_secs(5));
    cfg.common.deadline_margin = Duration::from_millis(50);
    cfg.bulk_max_bytes = 1_000_000;
    if let Some(n) = faults.forwarder_bulk_max_actions {
        cfg.bulk_max_actions = n;
    }
    let store = Arc::new(store);
    let search = Arc::new(s3_search_forwarder::aws::connect(&cfg, &aws.sdk).await?);
    let q = &aws.forwarder_queue;
    let mut dupes = faults.duplicate_notifications;
    let mut first = true;
    for _ in 0..MAX_ROUNDS {
        let msgs = receive(aws, q).await?;
        if msgs.is_empty() {
            return Ok(store.injected.load(Ordering::SeqCst));
        }
        duplicate(aws, q, &msgs, &mut dupes).await?;
        let event = sqs_event(&msgs, &q.arn);
        let left = match faults.forwarder_deadline.filter(|_| first) {
            Some(d) => d,
            None => Duration::from_secs(900),
        };
        first = false;
        let deadline = logpipe_io::lambda::Deadline::after(left, cfg.common.deadline_margin);
        let (result, summary) =
            s3_search_forwarder::handle(&cfg, &store, &search, &event, deadline).await;
        report.forwarder_invocations += 1;
        logcore::base::report::Metrics::add(&mut report.forwarder, &summary);
        let failed: BTreeSet<String> = match result.map_err(|e| e.to_string())? {
            s3_search_forwarder::Response::Sqs {
                batch_item_failures,
            } => batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            other => return Err(format!("an SQS invocation answered {other:?}")),
        };
        report.forwarder_redeliveries += failed.len() as u64;
        for m in &msgs {
            let handle = m.receipt_handle().unwrap_or_default();
            if failed.contains(m.message_id().unwrap_or_default()) {
                aws.sqs
                    .change_message_visibility()
                    .queue_url(&q.url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .map_err(|e| err("ChangeMessageVisibility", e))?;
            } else {
                aws.sqs
                    .delete_message()
                    .queue_url(&q.url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| err("DeleteMessage", e))?;
            }
        }
    }
    Err(format!(
        "the forwarder's queue did not drain in {MAX_ROUNDS} rounds"
    ))
}

/// The event Lambda's SQS event source mapping gives the function.
fn sqs_event(msgs: &[aws_sdk_sqs::types::Message], queue_arn: &str) -> Value {
    let records: Vec<Value> = msgs
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1763800000000",
                               "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1763800000000"},
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": test_support::REGION,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The notifier as Lambda runs it on its SNS subscription: one notification per asynchronous invocation,
/// retried twice when it fails. Its (non-raw) queue on the topic gives the SNS envelopes Lambda would get.
/// One notifier for the whole run: the template gives it a reserved concurrency of 1, so one container.
async fn notify(
    aws: &Aws,
    slack: &SlackServer,
    store: FlakyStore<S3Store>,
    faults: &Faults,
    report: &mut Report,
) -> Result<u64, String> {
    let mut cfg =
        slack_notifier::Config::new(slack_notifier::config::SecretSource::Ssm("unused".into()));
    cfg.min_interval = Duration::ZERO;
    cfg.backoff.base = Duration::from_millis(5);
    cfg.backoff.max_delay = Duration::from_millis(50);
    cfg.request_timeout = Duration::from_secs(5);
    cfg.common.deadline_margin = Duration::from_millis(50);
    // Longer than the run: every repeat within it is suppressed, so each distinct message is sent once.
    cfg.suppress_window = Duration::from_secs(3_600);
    let target = slack_notifier::Target::Webhook {
        url: format!("{}/services/T0/B0/e2e", slack.url),
    };
    let http = slack_notifier::aws::HttpSlack::new(target, cfg.request_timeout)?;
    let store = Arc::new(store);
    let notifier = slack_notifier::Notifier::new(cfg, Arc::clone(&store), Arc::new(http));
    let q = &aws.notifier_queue;
    let mut dupes = faults.duplicate_notifications;
    for _ in 0..MAX_ROUNDS {
        let msgs = receive(aws, q).await?;
        if msgs.is_empty() {
            return Ok(store.injected.load(Ordering::SeqCst));
        }
        duplicate(aws, q, &msgs, &mut dupes).await?;
        for m in &msgs {
            let envelope: Value = serde_json::from_str(m.body().unwrap_or_default())
                .map_err(|e| format!("an SNS envelope in the notifier's queue: {e}"))?;
            let event = json!({"Records": [{
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": format!("{}:e2e", envelope["TopicArn"].as_str().unwrap_or_default()),
                "Sns": envelope,
            }]});
            let mut delivered = false;
            for _ in 0..ASYNC_ATTEMPTS {
                let deadline = logpipe_io::lambda::Deadline::after(
                    Duration::from_secs(60),
                    notifier.cfg.common.deadline_margin,
                );
                let (result, s) = notifier
                    .handle(&event, deadline, logcore::base::time::now_ms())
                    .await;
                report.notifier_invocations += 1;
                logcore::base::report::Metrics::add(&mut report.notifier, &s);
                if result.is_ok() {
                    delivered = true;
                    break;
                }
                report.notifier_failed_invocations += 1;
            }
            report.notifier_undelivered += u64::from(!delivered);
            aws.sqs
                .delete_message()
                .queue_url(&q.url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(|e| err("DeleteMessage", e))?;
        }
    }
    Err(format!(
        "the notifier's queue did not drain in {MAX_ROUNDS} rounds"
    ))
}

/// Read back what the stand-ins hold: the index, the dead letters, Firehose's errors, Slack's posts, and
/// the alert-worthy messages of the objects.
async fn collect(
    aws: &Aws,
    bulk: &BulkServer,
    slack: &SlackServer,
    report: &mut Report,
) -> Result<(), String> {
    {
        let state = bulk.lock();
        report.bulk_requests = state.requests;
        report.bulk_faults_left = state.faults.len();
        for ((index, _), doc) in state.index.iter() {
            let family = if doc.get("db").is_some() {
                "audit"
            } else {
                "app"
            };
            *report
                .indices
                .entry(format!(
                    "{family} in {}",
                    index.rsplit_once('-').map_or(index.as_str(), |(f, _)| f)
                ))
                .or_default() += 1;
            match doc.pointer("/event/id").and_then(Value::as_str) {
                Some(id) => report.indexed_ids.0.push(id.to_string()),
                None => report.indexed_without_id += 1,
            }
            let joined = doc.pointer("/event/joined/ids").and_then(Value::as_array);
            for id in joined.into_iter().flatten().filter_map(Value::as_str) {
                report.joined_ids.0.push(id.to_string());
            }
        }
    }
    for key in list(&aws.s3, &aws.bucket, "failed/").await? {
        let body = get(&aws.s3, &aws.bucket, &key).await?;
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_slice(line).map_err(|e| format!("{key}: {e}"))?;
            match v.pointer("/document/event/id").and_then(Value::as_str) {
                Some(id) => report.dead_letter_ids.0.push(id.to_string()),
                None => report.dead_letters_without_document += 1,
            }
        }
    }
    for key in list(&aws.s3, &aws.bucket, "errors/").await? {
        let body = get(&aws.s3, &aws.bucket, &key).await?;
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_slice(line).map_err(|e| format!("{key}: {e}"))?;
            let raw = v["rawData"].as_str().unwrap_or_default();
            let events = logcore::base::codec::decode_base64(raw.as_bytes())
                .ok()
                .and_then(|gz| logcore::logs::cwl::decompress(&gz, 64 << 20).ok())
                .and_then(|json| {
                    logcore::logs::cwl::Payload::parse(&json).ok().map(|p| {
                        p.log_events
                            .iter()
                            .map(|e| e.id.to_string())
                            .collect::<Vec<_>>()
                    })
                });
            match events {
                Some(ids) => report.errors_event_ids.0.extend(ids),
                None => report.errors_records_unreadable += 1,
            }
        }
    }
    // The alert-worthy messages, from the objects the notifier was told of, by the notifier's own rules.
    let cfg =
        slack_notifier::Config::new(slack_notifier::config::SecretSource::Ssm("unused".into()));
    let mut worthy = BTreeSet::new();
    for prefix in ["logs/", "audit/"] {
        for key in list(&aws.s3, &aws.bucket, prefix).await? {
            let body = get(&aws.s3, &aws.bucket, &key).await?;
            let obj = ObjectRef {
                bucket: aws.bucket.clone(),
                key: key.clone(),
                version_id: None,
                etag: None,
                size: None,
                event_time: None,
                region: None,
            };
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let ev = slack_notifier::event_of(&String::from_utf8_lossy(line), &obj, 0);
                if cfg.rules.decide(&ev.log_group, &ev.message) == logcore::alert::Decision::Alert {
                    worthy.insert(logcore::alert::fingerprint(&ev.log_group, &ev.message));
                }
            }
        }
    }
    report.slack_worthy = worthy.len() as u64;
    for r in slack.received() {
        report.slack_posts += 1;
        if !(200..300).contains(&r.status) {
            report.slack_posts_refused += 1;
            continue;
        }
        // "12 errors in /ecs/shop-api: …"
        let text = r.body["text"].as_str().unwrap_or_default();
        let n = text
            .split_whitespace()
            .next()
            .and_then(|w| w.parse::<u64>().ok())
            .ok_or_else(|| format!("a Slack message without its count: {text:?}"))?;
        report.slack_alerted += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of a run where everything arrived.
    fn perfect(mix: &Mix) -> Report {
        let excluded = mix.excluded_ids();
        Report {
            generated: mix.len(),
            indexed_ids: Ids(mix
                .events()
                .map(|(_, e)| e.id.clone())
                .filter(|id| !excluded.contains(id))
                .collect()),
            transform_excluded: excluded.len() as u64,
            errors_records_unreadable: mix.malformed.len() as u64,
            slack_worthy: 3,
            slack_alerted: 3,
            ..Report::default()
        }
    }

    /// The checks find each way of losing or doubling something (a check that cannot fail proves nothing).
    #[test]
    fn problems_finds_losses_duplicates_and_alerts_off_by_one() {
        let mix = Mix::generate(1_000, 1, false);
        assert_eq!(perfect(&mix).problems(&mix), Vec::<String>::new());

        let mut lost = perfect(&mix);
        let gone = lost.indexed_ids.0.pop().unwrap();
        let p = lost.problems(&mix);
        assert!(
            p.len() == 1 && p[0].contains("1 of") && p[0].contains(&gone),
            "{p:?}"
        );

        let mut twice = perfect(&mix);
        let again = twice.indexed_ids[0].clone();
        twice.indexed_ids.0.push(again.clone());
        assert!(twice.problems(&mix)[0].contains("duplicates"));

        let mut both = perfect(&mix);
        both.dead_letter_ids.0.push(again);
        assert!(both.problems(&mix)[0].contains("both indexed and dead-lettered"));

        let mut invented = perfect(&mix);
        invented.indexed_ids.0.push("not-generated".into());
        assert!(invented.problems(&mix)[0].contains("1 ids not generated"));

        let mut alerts = perfect(&mix);
        alerts.slack_alerted = 4;
        assert!(alerts.problems(&mix)[0].contains("Slack was told of 4 alerts"));

        let mut undelivered = perfect(&mix);
        undelivered.notifier_undelivered = 1;
        assert!(undelivered.problems(&mix)[0].contains("never alerted"));

        let mut errors = perfect(&mix);
        errors.errors_records_unreadable = 0;
        assert!(errors.problems(&mix)[0].contains("malformed"));

        // Dead-lettered events are accounted for.
        let mut dead = perfect(&mix);
        let id = dead.indexed_ids.0.pop().unwrap();
        dead.dead_letter_ids.0.push(id);
        assert_eq!(dead.problems(&mix), Vec::<String>::new());
    }

    #[test]
    fn gzip_members_are_split_back() {
        let a = logcore::base::codec::gzip(b"first record", 1);
        let b = logcore::base::codec::gzip(b"second", 6);
        let both = [a.clone(), b.clone()].concat();
        assert_eq!(gzip_members(&both).unwrap(), vec![&a[..], &b[..]]);
        assert!(gzip_members(b"plain").is_err());
    }
}
