//! Reading an invocation's input into alert groups: the events of a CloudWatch Logs subscription, or the
//! units of the S3 objects a notification names (read on a blocking thread through logcore's framing
//! reader), each decided on by the rules and grouped per destination and log group.

use std::collections::BTreeMap;

use logcore::alert::{fingerprint, routed, AlertEvent, Decision, Group, Grouper, Suppressor};
use logcore::logs::cwl::{MessageType, Payload};
use logcore::logs::s3event::{Invocation, ObjectRef};
use logpipe_io::{Opened, Store};
use serde_json::Value;

use crate::memory::SharedMemory;
use crate::{Config, Notifier, Slack, Summary};

/// What an alert brings to each destination's group: its fingerprint, its level (read once, by the rules)
/// and the time it is judged at.
#[derive(Debug, Clone, Copy)]
struct Alert {
    fp: u64,
    level: Option<&'static str>,
    now_ms: i64,
}

/// One [`Grouper`] per destination: the alerts of one invocation, per destination and log group.
#[derive(Debug, Default)]
pub struct Groupers {
    max_shown: usize,
    by_destination: BTreeMap<String, Grouper>,
}

impl Groupers {
    pub fn new(max_shown: usize) -> Self {
        Groupers {
            max_shown,
            by_destination: BTreeMap::new(),
        }
    }

    /// Add an alert for `destination` under its fingerprint there (the local memory decides whether it
    /// is a repeat), counting it.
    fn add(
        &mut self,
        destination: &str,
        ev: AlertEvent,
        at: Alert,
        snapshot: &Suppressor,
        summary: &mut Summary,
    ) {
        let fp = routed(at.fp, destination);
        let repeat = snapshot.is_repeat(fp, at.now_ms);
        summary.alerts += 1;
        let max_shown = self.max_shown;
        let g = self
            .by_destination
            .entry(destination.to_string())
            .or_insert_with(|| Grouper::new(max_shown));
        if !g.add_at_level(ev, fp, repeat, at.level) {
            summary.suppressed += 1;
        }
    }

    /// The groups with a new alert, with their destination, in destination order and, within one, in the
    /// order their log groups first appeared.
    pub fn finish(self) -> Vec<(String, Group)> {
        self.by_destination
            .into_iter()
            .flat_map(|(d, g)| g.finish().0.into_iter().map(move |g| (d.clone(), g)))
            .collect()
    }
}

impl<S: Store, K: Slack, M: SharedMemory> Notifier<S, K, M> {
    pub(crate) fn read_logs(
        &self,
        data: &str,
        snapshot: &Suppressor,
        groupers: &mut Groupers,
        summary: &mut Summary,
        now_ms: i64,
    ) -> Result<(), String> {
        let gz = logcore::base::codec::decode_base64(data.as_bytes())
            .map_err(|e| format!("awslogs.data: {e}"))?;
        let json = logcore::logs::cwl::decompress(&gz, self.cfg.max_object_bytes as usize)
            .map_err(|e| format!("awslogs.data: {e}"))?;
        let p = Payload::parse(&json).map_err(|e| format!("awslogs.data: {e}"))?;
        if p.message_type == MessageType::Control {
            summary.control_messages += 1;
            return Ok(());
        }
        // The lines of one stack trace, one an event, are one alert: the first event's time and id, the
        // lines joined (as the transform makes them one document).
        let mut records = Vec::new();
        match &self.cfg.multiline {
            Some(rules) => {
                let lines: Vec<&str> = p.log_events.iter().map(|e| e.message.as_ref()).collect();
                rules.each(&p.log_group, &lines, |r| {
                    records.push(r.start..r.start + r.len)
                });
            }
            None => records.extend((0..p.log_events.len()).map(|i| i..i + 1)),
        }
        for run in records {
            let run = &p.log_events[run];
            let Some(e) = run.first() else { continue };
            summary.events_joined += (run.len() - 1) as u64;
            let message = run
                .iter()
                .map(|e| e.message.as_ref())
                .collect::<Vec<_>>()
                .join("\n");
            let ev = AlertEvent {
                log_group: p.log_group.to_string(),
                log_stream: p.log_stream.to_string(),
                account: p.owner.to_string(),
                region: None,
                timestamp_ms: e.timestamp,
                id: e.id.to_string(),
                message,
            };
            consider(&self.cfg, ev, snapshot, groupers, summary, now_ms);
        }
        Ok(())
    }

    pub(crate) async fn read_objects(
        &self,
        event: &Value,
        snapshot: &Suppressor,
        groupers: &mut Groupers,
        summary: &mut Summary,
        now_ms: i64,
    ) -> Result<(), String> {
        let inv = logcore::logs::s3event::parse_invocation_value(event)
            .map_err(|e| format!("unreadable event: {e}"))?;
        let mut objects = Vec::new();
        match inv {
            Invocation::Direct(n) => {
                summary.notifications_ignored += n.ignored;
                objects = n.objects;
            }
            Invocation::Sqs(messages) => {
                for m in messages {
                    let n = m.content.map_err(|e| e.to_string())?;
                    summary.notifications_ignored += n.ignored;
                    objects.extend(n.objects);
                }
            }
        }
        let mut first_error = None;
        for obj in objects {
            summary.objects += 1;
            let opened = match self.store.get(&obj).await {
                Ok(o) => o,
                Err(e) if e.is_not_found() => {
                    summary.objects_missing += 1;
                    tracing::warn!(bucket = %obj.bucket, key = %obj.key, "object no longer exists");
                    continue;
                }
                Err(e) => {
                    summary.objects_failed += 1;
                    first_error.get_or_insert(format!("s3://{}/{}: {e}", obj.bucket, obj.key));
                    continue;
                }
            };
            let cfg = self.cfg.clone();
            let snap = snapshot.clone();
            let g = std::mem::take(groupers);
            let joined = tokio::task::spawn_blocking(move || {
                let mut g = g;
                let mut s = Summary::default();
                let r = read_object(&cfg, &obj, opened, &snap, &mut g, &mut s, now_ms);
                (g, s, r, obj)
            })
            .await;
            let (g, s, r, obj) = joined.map_err(|e| format!("reading thread failed: {e}"))?;
            *groupers = g;
            logcore::base::report::Metrics::add(summary, &s);
            if let Err(e) = r {
                summary.objects_failed += 1;
                first_error.get_or_insert(format!("s3://{}/{}: {e}", obj.bucket, obj.key));
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(format!(
                "{} of {} objects could not be read; first: {e}",
                summary.objects_failed, summary.objects
            )),
        }
    }
}

/// Decide on one event and, when it alerts, add it to the group of its log group at each destination of
/// its route. Repeats are per destination: a message one destination has seen is news to another.
fn consider(
    cfg: &Config,
    ev: AlertEvent,
    snapshot: &Suppressor,
    groupers: &mut Groupers,
    summary: &mut Summary,
    now_ms: i64,
) {
    summary.events += 1;
    let j = cfg.rules.judge(&ev.log_group, &ev.message);
    summary.count(j.decision);
    if j.decision != Decision::Alert {
        return;
    }
    let fp = fingerprint(&ev.log_group, &ev.message);
    // A route has at least one destination (the rules refuse an empty list).
    let Some((last, others)) = j.route.destinations.split_last() else {
        return;
    };
    let at = Alert {
        fp,
        level: j.level,
        now_ms,
    };
    for dest in others {
        groupers.add(dest, ev.clone(), at, snapshot, summary);
    }
    groupers.add(last, ev, at, snapshot, summary);
}

/// Read one object (a blocking thread): every unit becomes an event to decide on. Documents of the
/// transforms give their log group, stream, account, region, time and id; other lines count under the
/// object's key.
fn read_object(
    cfg: &Config,
    obj: &ObjectRef,
    opened: Opened,
    snapshot: &Suppressor,
    groupers: &mut Groupers,
    summary: &mut Summary,
    now_ms: i64,
) -> Result<(), String> {
    let fallback_ms = opened
        .last_modified
        .as_deref()
        .or(obj.event_time.as_deref())
        .and_then(logcore::base::time::parse_rfc3339_ms)
        .unwrap_or(now_ms);
    let bridge = tokio_util::io::SyncIoBridge::new(opened.body);
    let (_, dec) = logcore::logs::framing::decoder(bridge, cfg.max_object_bytes)
        .map_err(|e| format!("reading the object: {e}"))?;
    let mut framer = logcore::logs::framing::Framer::new(dec, cfg.max_doc_bytes);
    loop {
        let unit = match framer.next_unit() {
            Ok(Some(u)) => u,
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "reading the object at decompressed offset {}: {e}",
                    framer.offset()
                ))
            }
        };
        let text = String::from_utf8_lossy(unit.bytes);
        if text.trim().is_empty() {
            continue;
        }
        let ev = event_of(&text, obj, fallback_ms);
        consider(cfg, ev, snapshot, groupers, summary, now_ms);
    }
}

/// The alert event of one unit of an S3 object.
pub fn event_of(text: &str, obj: &ObjectRef, fallback_ms: i64) -> AlertEvent {
    let doc = serde_json::from_str::<Value>(text)
        .ok()
        .filter(|v| v.get("message").is_some_and(Value::is_string));
    let Some(doc) = doc else {
        return AlertEvent {
            log_group: obj.key.clone(),
            log_stream: String::new(),
            account: String::new(),
            region: obj.region.clone(),
            timestamp_ms: fallback_ms,
            id: String::new(),
            message: text.trim_end().to_string(),
        };
    };
    let s = |ptr: &str| doc.pointer(ptr).and_then(Value::as_str).map(str::to_string);
    AlertEvent {
        log_group: s("/log/group").unwrap_or_else(|| obj.key.clone()),
        log_stream: s("/log/stream").unwrap_or_default(),
        account: s("/cloud/account/id").unwrap_or_default(),
        region: s("/cloud/region").or_else(|| obj.region.clone()),
        timestamp_ms: s("/@timestamp")
            .and_then(|t| logcore::base::time::parse_rfc3339_ms(&t))
            .unwrap_or(fallback_ms),
        id: s("/event/id").unwrap_or_default(),
        message: s("/message").unwrap_or_default(),
    }
}
