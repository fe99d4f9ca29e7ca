//! `logpipe redrive`: what the search forwarder's dead letters are (counts by status, error type, cause and
//! reason: the first thing to know before a redrive), and, once the cause is fixed, their documents indexed
//! again with their original ids and indices — through the forwarder's queue (`--queue-url`: its Lambda
//! does the work, at its concurrency) or here (`--search-url`, for a few objects) — with the forwarder's own
//! code (`s3_search_forwarder::redrive`). And `--dlq`: the notifications the forwarder gave up on, moved
//! from its dead-letter queue back to its queue.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logcore::logs::s3event::REDRIVE_ATTRIBUTE;
use logpipe_io::store::S3Store;
use logpipe_io::{CallError, Store};
use s3_search_forwarder::redrive::{read_whole, redrive_object, Disposal, Disposed};
use serde::Deserialize;

use crate::reindex::aws::SqsQueue;
use crate::reindex::{self, Archive, Listed, Outgoing, Pace};

#[derive(clap::Args)]
pub struct RedriveArgs {
    /// The dead-letter bucket (the stack's LogBucket).
    #[arg(long, env = "BUCKET")]
    bucket: Option<String>,
    /// Which dead-letter objects: a key prefix under the forwarder's DEAD_LETTER_PREFIX, such as
    /// failed/<bucket>/logs/2026/03/ (the source object's key follows the bucket).
    #[arg(long, default_value = "failed/")]
    prefix: String,
    /// Only objects written from this time (a date, an RFC 3339 time or how long ago: 2026-03-01, 6h).
    #[arg(long, visible_alias = "since")]
    from: Option<String>,
    /// Only objects written before this time.
    #[arg(long, visible_alias = "until")]
    to: Option<String>,
    /// Redrive through the forwarder's queue (the stack's SearchQueueUrl): its Lambda indexes the documents.
    #[arg(long, env = "SEARCH_QUEUE_URL")]
    queue_url: Option<String>,
    /// Redrive here, to this search engine (authentication and settings as the forwarder's: SEARCH_AUTH,
    /// INDEX, DEAD_LETTER_PREFIX, ...).
    #[arg(long)]
    search_url: Option<String>,
    /// Delete a dead-letter object whose documents are all indexed, rather than move it under the
    /// forwarder's REDRIVEN_PREFIX (failed-redriven/).
    #[arg(long)]
    delete: bool,
    /// Move the messages of the forwarder's dead-letter queue (the stack's SearchDeadLetterQueueUrl, or
    /// --dlq-url) back to --queue-url.
    #[arg(long)]
    dlq: bool,
    /// The forwarder's dead-letter queue.
    #[arg(long, env = "SEARCH_DLQ_URL")]
    dlq_url: Option<String>,
    /// With --dlq: messages moved at most.
    #[arg(long, default_value_t = u64::MAX, hide_default_value = true)]
    max: u64,
    /// Objects (or messages) sent a second at most.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Send nothing while the queue holds this many messages (0: not checked).
    #[arg(long, default_value_t = 100)]
    max_queued: u64,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// A row of the tally: kind (`rejected`, `unreadable`), status, error type, cause and reason.
pub type Row = (String, String, String, String, String);

/// Dead letters by [`Row`].
pub type Tally = BTreeMap<Row, u64>;

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    cause: Option<String>,
    #[serde(default)]
    action: Option<serde::de::IgnoredAny>,
}

/// A reason without what makes each one unique (document ids, previews of values), at most 120 characters.
pub fn reason_kind(reason: &str) -> String {
    let mut r = reason;
    for cut in [
        " in document with id",
        ". Preview of field",
        "Preview of field",
    ] {
        if let Some(i) = r.find(cut) {
            r = &r[..i];
        }
    }
    let r = r.trim();
    match r.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &r[..i]),
        None => r.to_string(),
    }
}

/// Count the records of one dead-letter object in.
pub fn tally(body: &[u8], out: &mut Tally) {
    for line in body.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let key = match serde_json::from_slice::<Head>(line) {
            Ok(h) => (
                if h.action.is_some() {
                    "rejected"
                } else {
                    "unreadable"
                }
                .to_string(),
                h.status.map_or("-".into(), |s| s.to_string()),
                h.error_type.unwrap_or_else(|| "-".into()),
                h.cause.unwrap_or_else(|| "-".into()),
                reason_kind(&h.reason),
            ),
            Err(e) => (
                "not a dead letter".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                reason_kind(&e.to_string()),
            ),
        };
        *out.entry(key).or_default() += 1;
    }
}

/// The tally as a table, most frequent first.
pub fn table(t: &Tally) -> String {
    let mut rows: Vec<(&Row, &u64)> = t.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut s = format!(
        "{:>9}  {:<10}  {:>6}  {:<32}  {:<14}  reason\n",
        "records", "kind", "status", "error_type", "cause"
    );
    for ((kind, status, ty, cause, reason), n) in rows {
        s.push_str(&format!(
            "{n:>9}  {kind:<10}  {status:>6}  {ty:<32}  {cause:<14}  {reason}\n"
        ));
    }
    s
}

pub fn run(args: RedriveArgs) -> Result<(), String> {
    let rt = crate::runtime()?;
    let sdk = rt.block_on(aws_config::load_defaults(
        aws_config::BehaviorVersion::latest(),
    ));
    let pace = Pace::new(args.rate, args.max_queued);
    if !args.rate.is_finite() || args.rate <= 0.0 {
        return Err(format!("--rate {}: a positive number a second", args.rate));
    }
    if args.dlq {
        let dlq = args
            .dlq_url
            .as_deref()
            .ok_or("--dlq-url (SEARCH_DLQ_URL): the stack's output SearchDeadLetterQueueUrl")?;
        let to = args
            .queue_url
            .as_deref()
            .ok_or("--queue-url (SEARCH_QUEUE_URL): where the messages go back, SearchQueueUrl")?;
        let bar = bar(
            args.quiet,
            "{spinner} {pos} messages moved back ({elapsed})",
        );
        let n = rt.block_on(move_messages(
            &SqsQueue::new(&sdk, dlq),
            &SqsQueue::new(&sdk, to),
            &pace,
            args.max,
            &bar,
        ));
        bar.finish_and_clear();
        let n = n?;
        println!("moved {n} messages from {dlq} back to {to}");
        return Ok(());
    }
    let bucket = args
        .bucket
        .clone()
        .ok_or("--bucket (BUCKET): the dead-letter bucket, the stack's LogBucket")?;
    let cfg = crate::forward::config_with_url(args.search_url.as_deref())?;
    if !args.prefix.starts_with(&cfg.dead_letter_prefix) {
        return Err(format!(
            "--prefix {:?}: not under the forwarder's dead-letter prefix {:?} (DEAD_LETTER_PREFIX)",
            args.prefix, cfg.dead_letter_prefix
        ));
    }
    if args.queue_url.is_some() && args.search_url.is_some() {
        return Err("--queue-url or --search-url: one way to redrive, not both".into());
    }
    let now = logcore::base::time::now_ms();
    let from = args
        .from
        .as_deref()
        .map(|t| reindex::select::parse_time(t, now, "--from"))
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|t| reindex::select::parse_time(t, now, "--to"))
        .transpose()?;
    let s3 = Arc::new(S3Store::from_env(&sdk));
    let listed = rt
        .block_on(s3.list(&bucket, &args.prefix))
        .map_err(|e| e.to_string())?;
    let objects: Vec<Listed> = listed
        .into_iter()
        .filter(|o| o.key.ends_with(".ndjson"))
        .filter(|o| {
            let t = o
                .last_modified
                .as_deref()
                .and_then(logcore::base::time::parse_rfc3339_ms);
            from.is_none_or(|f| t.is_some_and(|t| t >= f))
                && to.is_none_or(|e| t.is_some_and(|t| t < e))
        })
        .collect();
    let bytes: u64 = objects.iter().map(|o| o.size).sum();

    // What they are, first.
    let mut t = Tally::new();
    let reading = bar(args.quiet, "{bar:30} {pos}/{len} dead-letter objects read");
    reading.set_length(objects.len() as u64);
    for o in &objects {
        let body = rt
            .block_on(read_whole(
                s3.as_ref(),
                &logpipe_io::store::object(&bucket, &o.key),
            ))
            .and_then(|b| b.ok_or_else(|| "no longer exists".to_string()))
            .map_err(|e| format!("s3://{bucket}/{}: {e}", o.key))?;
        tally(&body, &mut t);
        reading.inc(1);
    }
    reading.finish_and_clear();
    println!(
        "{} dead-letter objects ({:.1} MB) under s3://{bucket}/{}, {} records:",
        objects.len(),
        bytes as f64 / 1e6,
        args.prefix,
        t.values().sum::<u64>()
    );
    print!("{}", table(&t));
    let disposal = if args.delete {
        Disposal::Delete
    } else {
        Disposal::Move
    };
    let verb = if args.delete { "delete" } else { "move" };

    if let Some(url) = &args.queue_url {
        let queue = SqsQueue::new(&sdk, url);
        let region = sdk
            .region()
            .map_or_else(|| "us-east-1".to_string(), ToString::to_string);
        let sending = bar(args.quiet, "{bar:30} {pos}/{len} objects sent ({eta} left)");
        sending.set_length(objects.len() as u64);
        let sent = rt.block_on(send_for_redrive(
            &queue, &pace, &bucket, &region, &objects, disposal, &sending,
        ));
        sending.finish_and_clear();
        let sent = sent?;
        println!(
            "sent {sent} dead-letter objects to {url} for the forwarder to redrive ({verb} when all their \
             documents are indexed); its report lines count them (DeadLetterObjectsRedriven, \
             DocumentsIndexed, DocumentsDeadLettered for those refused again); run this command again to \
             see what is left"
        );
        return Ok(());
    }
    let Some(url) = &args.search_url else {
        println!(
            "nothing redriven: after fixing the cause, pass --queue-url (the forwarder's queue) or \
             --search-url (here) to index these documents again with their ids; `unreadable` records \
             are lines that never became documents: reindex their source objects (logpipe reindex) \
             after raising MAX_DOC_BYTES"
        );
        return Ok(());
    };
    let search = Arc::new(rt.block_on(crate::forward::http_search(&cfg))?);
    let deadline = logpipe_io::lambda::Deadline::after(
        Duration::from_secs(86_400),
        cfg.common.deadline_margin,
    );
    let redriving = bar(
        args.quiet,
        "{bar:30} {pos}/{len} dead-letter objects redriven",
    );
    redriving.set_length(objects.len() as u64);
    let keys: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
    let t = rt.block_on(redrive_here(
        &cfg, &s3, &search, &bucket, &keys, disposal, deadline, &redriving,
    ));
    redriving.finish_and_clear();
    println!(
        "redriven to {url}: {} documents indexed, {} already there (409), {} refused again (kept with the \
         new reason), {} records kept (no document to redrive); objects: {} moved, {} deleted, {} \
         rewritten, {} failed",
        t.indexed,
        t.already,
        t.refused,
        t.kept,
        t.moved,
        t.deleted,
        t.rewritten,
        t.failed.len()
    );
    match t.failed.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} of {} dead-letter objects not redriven; first: {first}",
            t.failed.len(),
            objects.len()
        )),
    }
}

/// What a redrive here did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub indexed: u64,
    pub already: u64,
    pub refused: u64,
    pub kept: u64,
    pub moved: u64,
    pub deleted: u64,
    pub rewritten: u64,
    /// `key: reason` of the objects whose redrive stopped.
    pub failed: Vec<String>,
}

/// Redrive these dead-letter objects from here, one after the other, with the forwarder's code.
#[allow(clippy::too_many_arguments)]
pub async fn redrive_here<S: Store, E: s3_search_forwarder::Search>(
    cfg: &s3_search_forwarder::Config,
    store: &Arc<S>,
    search: &Arc<E>,
    bucket: &str,
    keys: &[String],
    disposal: Disposal,
    deadline: logpipe_io::lambda::Deadline,
    bar: &indicatif::ProgressBar,
) -> Totals {
    let mut t = Totals::default();
    for key in keys {
        let obj = logpipe_io::store::object(bucket, key);
        let r = redrive_object(cfg, store, search, &obj, deadline, disposal).await;
        t.indexed += r.forwarded.indexed;
        t.already += r.forwarded.already_indexed;
        t.refused += r.forwarded.dead_lettered;
        t.kept += r.kept;
        match (&r.error, &r.disposed) {
            (Some(e), _) => t.failed.push(format!("{key}: {e}")),
            (None, Disposed::Moved(_)) => t.moved += 1,
            (None, Disposed::Deleted) => t.deleted += 1,
            (None, Disposed::Rewritten(_)) => t.rewritten += 1,
            (None, Disposed::Untouched) => {}
        }
        bar.inc(1);
    }
    t
}

/// Send the notifications of these dead-letter objects to the forwarder's queue, asking for a redrive
/// (`logpipe.redrive` = `move` or `delete`), paced; how many were sent.
pub async fn send_for_redrive<Q: reindex::Queue>(
    queue: &Q,
    pace: &Pace,
    bucket: &str,
    region: &str,
    objects: &[Listed],
    disposal: Disposal,
    bar: &indicatif::ProgressBar,
) -> Result<u64, String> {
    let verb = match disposal {
        Disposal::Move => "move",
        Disposal::Delete => "delete",
    };
    let started = Instant::now();
    let mut sent = 0u64;
    for chunk in objects.chunks(reindex::BATCH) {
        reindex::wait_for_room(pace, queue, started, sent, bar).await?;
        let messages = chunk
            .iter()
            .enumerate()
            .map(|(i, o)| Outgoing {
                id: i.to_string(),
                body: reindex::notification(bucket, region, o),
                attributes: vec![(REDRIVE_ATTRIBUTE.to_string(), verb.to_string())],
            })
            .collect();
        reindex::send_all(pace, queue, messages).await?;
        sent += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    Ok(sent)
}

fn bar(quiet: bool, template: &str) -> indicatif::ProgressBar {
    if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        crate::progress_bar(0, template)
    }
}

/// Move up to `max` messages from `from` to `to`, attributes and all: each deleted from `from` only once
/// `to` took it. Stops when `from` answers empty to a long poll.
pub async fn move_messages(
    from: &SqsQueue,
    to: &SqsQueue,
    pace: &Pace,
    max: u64,
    bar: &indicatif::ProgressBar,
) -> Result<u64, String> {
    let started = Instant::now();
    let mut moved = 0u64;
    while moved < max {
        let want = i32::try_from((max - moved).min(10)).unwrap_or(10);
        let got = from
            .client()
            .receive_message()
            .queue_url(from.url())
            .max_number_of_messages(want)
            .wait_time_seconds(2)
            .visibility_timeout(300)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(format!("ReceiveMessage {}", from.url()), &e).to_string()
            })?;
        let messages = got.messages();
        if messages.is_empty() {
            break;
        }
        reindex::wait_for_room(pace, to, started, moved, bar).await?;
        let outgoing: Vec<Outgoing> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| Outgoing {
                id: i.to_string(),
                body: m.body().unwrap_or_default().to_string(),
                attributes: m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        reindex::send_all(pace, to, outgoing).await?;
        for m in messages {
            let Some(handle) = m.receipt_handle() else {
                continue;
            };
            from.client()
                .delete_message()
                .queue_url(from.url())
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| {
                    CallError::from_sdk(format!("DeleteMessage {}", from.url()), &e).to_string()
                })?;
        }
        moved += messages.len() as u64;
        bar.set_position(moved);
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_are_counted_by_kind_status_type_cause_and_reason() {
        let body = concat!(
            r#"{"reason":"failed to parse field [n] of type [long] in document with id 'a'. Preview of field's value: 'x'","status":400,"error_type":"mapper_parsing_exception","cause":"document","source":{},"action":{"create":{}},"document":{}}"#,
            "\n",
            r#"{"reason":"failed to parse field [n] of type [long] in document with id 'b'. Preview of field's value: 'y'","status":400,"error_type":"mapper_parsing_exception","cause":"document","source":{},"action":{"create":{}},"document":{}}"#,
            "\n\n",
            r#"{"reason":"not valid UTF-8 (first invalid byte at offset 3 of the line)","cause":"unreadable","source":{},"base64":"AAA="}"#,
            "\nnot json\n"
        );
        let mut t = Tally::new();
        tally(body.as_bytes(), &mut t);
        let rows: Vec<(&str, u64)> = t.iter().map(|(k, v)| (k.0.as_str(), *v)).collect();
        assert_eq!(
            rows,
            [("not a dead letter", 1), ("rejected", 2), ("unreadable", 1)]
        );
        let key = t.keys().find(|k| k.0 == "rejected").unwrap();
        assert_eq!(
            (key.1.as_str(), key.2.as_str(), key.4.as_str()),
            (
                "400",
                "mapper_parsing_exception",
                "failed to parse field [n] of type [long]"
            )
        );
        let text = table(&t);
        let first = text.lines().nth(1).unwrap();
        assert!(first.trim_start().starts_with("2  rejected"), "{text}");
        assert_eq!(reason_kind(&"é".repeat(200)).chars().count(), 121);
    }
}
