//! `logpipe trace`: the canary's hop-by-hop lookup for any event, on demand — by CloudWatch Logs event id
//! (the documents' `event.id` and `_id`) or by text.

use std::collections::BTreeMap;

use logcore::base::time::{parse_rfc3339_ms, DateTimeParts};
use serde_json::Value;

use crate::scan::KeyPrefix;
use crate::{
    find_in_logs, find_in_search, scan_objects, Finder, Hit, Hop, LogEvent, Logs, Objects,
    SeenObject, SKEW_MS,
};

/// What to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A CloudWatch Logs event id (digits only, as CloudWatch Logs writes them).
    EventId(String),
    /// Text the event's message holds.
    Text(String),
}

impl Query {
    pub fn parse(s: &str) -> Result<Query, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("nothing to trace: give an event id or some text of the event".into());
        }
        if s.len() >= 20 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Query::EventId(s.to_string()))
        } else {
            Ok(Query::Text(s.to_string()))
        }
    }

    fn text(&self) -> &str {
        match self {
            Query::EventId(s) | Query::Text(s) => s,
        }
    }
}

/// Where and when to look.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    /// Log groups to look in (CloudWatch Logs is not checked by text without one).
    pub groups: Vec<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    pub bucket: Option<String>,
    pub key_prefixes: Vec<KeyPrefix>,
    pub index_pattern: String,
    pub max_scan_bytes: u64,
    pub max_object_bytes: u64,
    /// Events followed at most (a text can match many).
    pub limit: usize,
}

/// The answer of one hop.
#[derive(Debug, Clone, PartialEq)]
pub enum Look<T> {
    Found(Vec<T>),
    NotFound(String),
    NotChecked(String),
    Failed(String),
}

impl<T> Look<T> {
    fn found(&self) -> &[T] {
        match self {
            Look::Found(v) => v,
            _ => &[],
        }
    }

    fn checked(&self) -> bool {
        !matches!(self, Look::NotChecked(_))
    }
}

/// The hops' answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub query: Query,
    pub logs: Look<LogEvent>,
    pub s3: Look<SeenObject>,
    pub search: Look<Hit>,
}

impl Trace {
    /// The furthest hop that saw it.
    pub fn last_hop(&self) -> Option<Hop> {
        [
            (Hop::Search, !self.search.found().is_empty()),
            (Hop::S3, !self.s3.found().is_empty()),
            (Hop::CloudWatchLogs, !self.logs.found().is_empty()),
        ]
        .into_iter()
        .find(|(_, seen)| *seen)
        .map(|(h, _)| h)
    }

    /// The last hop that was checked: where the event should be once delivered.
    pub fn final_hop(&self) -> Option<Hop> {
        [
            (Hop::Search, self.search.checked()),
            (Hop::S3, self.s3.checked()),
            (Hop::CloudWatchLogs, self.logs.checked()),
        ]
        .into_iter()
        .find(|(_, checked)| *checked)
        .map(|(h, _)| h)
    }

    /// Whether it reached the last hop checked — every event the text matched in CloudWatch Logs, when the
    /// last hop is search.
    pub fn delivered(&self) -> bool {
        self.final_hop().is_some()
            && self.last_hop() == self.final_hop()
            && self.not_indexed().is_empty()
    }

    /// Events found in CloudWatch Logs that search, when checked and holding some of them, does not hold
    /// (as a document's own id, or among the lines joined into it: `event.joined.ids`).
    pub fn not_indexed(&self) -> Vec<&str> {
        let indexed: Vec<&str> = self
            .search
            .found()
            .iter()
            .flat_map(|h| {
                let joined = h
                    .source
                    .pointer("/event/joined/ids")
                    .and_then(Value::as_array);
                std::iter::once(h.id.as_str())
                    .chain(joined.into_iter().flatten().filter_map(Value::as_str))
            })
            .collect();
        if indexed.is_empty() {
            return Vec::new();
        }
        self.logs
            .found()
            .iter()
            .map(|e| e.event_id.as_str())
            .filter(|id| !indexed.contains(id))
            .collect()
    }

    /// A table, one hop a line, and a conclusion.
    pub fn render(&self) -> String {
        let mut out = format!("trace {:?}\n", self.query.text());
        line(&mut out, Hop::CloudWatchLogs, &self.logs, |e| {
            format!(
                "{} stream {} event {} at {} (ingested {:+.1} s)",
                e.group,
                e.stream,
                e.event_id,
                DateTimeParts::from_millis(e.timestamp_ms).rfc3339(),
                (e.ingestion_ms - e.timestamp_ms) as f64 / 1000.0
            )
        });
        line(&mut out, Hop::S3, &self.s3, |o| {
            format!(
                "{} (written {})",
                o.key,
                DateTimeParts::from_millis(o.last_modified_ms).rfc3339()
            )
        });
        line(&mut out, Hop::Search, &self.search, |h| {
            format!("index {} _id {}", h.index, h.id)
        });
        let not_indexed = self.not_indexed();
        match (self.last_hop(), self.final_hop()) {
            (_, None) => out.push_str("nothing was checked\n"),
            (Some(_), Some(_)) if !not_indexed.is_empty() => out.push_str(&format!(
                "NOT DELIVERED: {} of {} events found in CloudWatch Logs are not in search: {}\n",
                not_indexed.len(),
                self.logs.found().len(),
                not_indexed.join(", ")
            )),
            (Some(l), Some(f)) if l == f => {
                out.push_str(&format!("delivered: seen at every hop up to {f}\n"))
            }
            (Some(l), Some(_)) => out.push_str(&format!(
                "NOT DELIVERED: last hop that saw it: {l}; the break is after it\n"
            )),
            (None, Some(_)) => out.push_str("NOT FOUND at any hop checked\n"),
        }
        out
    }
}

fn line<T>(out: &mut String, hop: Hop, look: &Look<T>, show: impl Fn(&T) -> String) {
    let name = format!("{hop}");
    match look {
        Look::Found(items) => {
            for (i, it) in items.iter().enumerate() {
                let head = if i == 0 { name.as_str() } else { "" };
                out.push_str(&format!("  {head:<16} found       {}\n", show(it)));
            }
        }
        Look::NotFound(why) => out.push_str(&format!("  {name:<16} not found   {why}\n")),
        Look::NotChecked(why) => out.push_str(&format!("  {name:<16} not checked {why}\n")),
        Look::Failed(why) => out.push_str(&format!("  {name:<16} FAILED      {why}\n")),
    }
}

/// Look for the event at every hop that has a client (`None`: not checked).
pub async fn trace<L: Logs, O: Objects, F: Finder>(
    cfg: &TraceConfig,
    logs: Option<&L>,
    objects: Option<&O>,
    finder: Option<&F>,
    query: Query,
) -> Trace {
    let mut t = Trace {
        query: query.clone(),
        logs: Look::NotChecked("no log group given (--log-group)".into()),
        s3: Look::NotChecked("no bucket given (--bucket)".into()),
        search: Look::NotChecked("no search engine given (--search-url)".into()),
    };
    let mut ids: Vec<String> = Vec::new();

    // Text: CloudWatch Logs first, for the event ids.
    if let (Query::Text(text), Some(logs)) = (&query, logs) {
        if !cfg.groups.is_empty() {
            t.logs = logs_by_text(cfg, logs, text).await;
            ids = t.logs.found().iter().map(|e| e.event_id.clone()).collect();
        }
    }
    if let Query::EventId(id) = &query {
        ids.push(id.clone());
    }

    if let Some(finder) = finder {
        t.search =
            match find_in_search(finder, &cfg.index_pattern, &ids, query.text(), cfg.limit).await {
                Ok(hits) if hits.is_empty() => Look::NotFound(format!("in {}", cfg.index_pattern)),
                Ok(hits) => Look::Found(hits),
                Err(e) => Look::Failed(e.message),
            };
    }

    // An event id alone: the document found in search tells the group and time to look in.
    if let (Query::EventId(id), Some(logs)) = (&query, logs) {
        t.logs = logs_by_id(logs, id, t.search.found().first()).await;
    }

    if let (Some(objects), Some(bucket)) = (objects, &cfg.bucket) {
        // Objects are written after their events: from the earliest event time known.
        let from = t
            .logs
            .found()
            .iter()
            .map(|e| e.timestamp_ms - SKEW_MS)
            .chain(
                t.search
                    .found()
                    .iter()
                    .filter_map(|h| located(h).map(|(_, ts)| ts - SKEW_MS)),
            )
            .min()
            .unwrap_or(cfg.from_ms)
            .max(cfg.from_ms);
        t.s3 = in_objects(cfg, objects, bucket, &needles(&query, &ids), from).await;
    }
    t
}

/// The events of `cfg.groups` in the window whose message contains `text` (`cfg.limit` at most).
async fn logs_by_text<L: Logs>(cfg: &TraceConfig, logs: &L, text: &str) -> Look<LogEvent> {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for g in &cfg.groups {
        match find_in_logs(logs, g, text, cfg.from_ms, cfg.to_ms).await {
            Ok(evs) => found.extend(evs),
            Err(e) => failed.push(e.message),
        }
    }
    found.truncate(cfg.limit);
    if !found.is_empty() {
        Look::Found(found)
    } else if !failed.is_empty() {
        Look::Failed(failed.join("; "))
    } else {
        Look::NotFound(format!("in {} from {}", cfg.groups.join(", "), window(cfg)))
    }
}

/// The event `id`, read where the search document `hit` says it was (its group, at its time).
async fn logs_by_id<L: Logs>(logs: &L, id: &str, hit: Option<&Hit>) -> Look<LogEvent> {
    match hit.and_then(located) {
        Some((group, ts)) => match logs.find(&group, "", ts, ts + 1, 10_000).await {
            Ok(evs) => match evs.into_iter().find(|e| e.event_id == id) {
                Some(e) => Look::Found(vec![e]),
                None => Look::NotFound(format!(
                    "in {group} at {}",
                    DateTimeParts::from_millis(ts).rfc3339()
                )),
            },
            Err(e) => Look::Failed(format!("FilterLogEvents on {group}: {e}")),
        },
        None => Look::NotChecked(
            "an event id alone does not say which group and time to read: trace the event's text with --log-group"
                .into(),
        ),
    }
}

/// What to look for in objects: each event id as a JSON string, else the text as it stands inside one.
fn needles(query: &Query, ids: &[String]) -> Vec<Vec<u8>> {
    if ids.is_empty() {
        let quoted = serde_json::to_string(query.text()).unwrap_or_default();
        let inner = quoted
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix('"'))
            .unwrap_or(&quoted);
        vec![inner.as_bytes().to_vec()]
    } else {
        ids.iter()
            .map(|i| format!("\"{i}\"").into_bytes())
            .collect()
    }
}

/// The objects under `cfg.key_prefixes` written from `from` that contain a needle.
async fn in_objects<O: Objects>(
    cfg: &TraceConfig,
    objects: &O,
    bucket: &str,
    needles: &[Vec<u8>],
    from: i64,
) -> Look<SeenObject> {
    let scan = scan_objects(
        objects,
        bucket,
        &cfg.key_prefixes,
        from,
        cfg.to_ms,
        needles,
        &BTreeMap::new(),
        cfg.max_scan_bytes,
        cfg.max_object_bytes,
    )
    .await;
    let mut found: Vec<SeenObject> = scan.found.into_iter().flatten().collect();
    found.sort_by(|a, b| a.key.cmp(&b.key));
    found.dedup();
    let read = format!(
        "{} objects ({} bytes) read under s3://{bucket}/{}",
        scan.objects,
        scan.bytes,
        cfg.key_prefixes
            .iter()
            .map(|p| p.at(from))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !found.is_empty() {
        Look::Found(found)
    } else if scan.left > 0 || scan.unreadable > 0 || scan.list_errors > 0 {
        Look::Failed(format!(
            "not in the {read}, but {} objects were left for the scan budget, {} unreadable, {} listings failed (first: {})",
            scan.left,
            scan.unreadable,
            scan.list_errors,
            scan.first_error.as_deref().unwrap_or("none")
        ))
    } else {
        Look::NotFound(format!(
            "in the {read} since {}",
            DateTimeParts::from_millis(from).rfc3339()
        ))
    }
}

/// The group and event time of a search document.
fn located(h: &Hit) -> Option<(String, i64)> {
    let group = h
        .source
        .pointer("/log/group")
        .or_else(|| h.source.get("log.group"))
        .and_then(Value::as_str)?;
    let ts = h.source.get("@timestamp").and_then(Value::as_str)?;
    Some((group.to_string(), parse_rfc3339_ms(ts)?))
}

fn window(cfg: &TraceConfig) -> String {
    format!(
        "{} to {}",
        DateTimeParts::from_millis(cfg.from_ms).rfc3339(),
        DateTimeParts::from_millis(cfg.to_ms).rfc3339()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{FakeFinder, FakeLogs, FakeObjects};
    use serde_json::json;

    const T0: i64 = 1_795_420_800_000;

    fn cfg() -> TraceConfig {
        TraceConfig {
            groups: vec!["/app/api".into()],
            from_ms: T0 - 3_600_000,
            to_ms: T0 + 3_600_000,
            bucket: Some("b".into()),
            key_prefixes: vec![KeyPrefix::default()],
            index_pattern: "logs-app-*.*.*".into(),
            max_scan_bytes: 1 << 20,
            max_object_bytes: 1 << 20,
            limit: 10,
        }
    }

    /// One event in CloudWatch Logs, in an S3 object, and (when `indexed`) in search.
    async fn world(indexed: bool) -> (FakeLogs, FakeObjects, FakeFinder, String) {
        let logs = FakeLogs::default();
        logs.put("/app/api", "task/1", T0, "payment \"failed\" for order 42")
            .await
            .unwrap();
        let id = logs.events.lock().unwrap()[0].event_id.clone();
        let objects = FakeObjects::default();
        let doc = json!({"@timestamp": "2026-11-23T08:00:00.000Z", "message": "payment \"failed\" for order 42",
            "event": {"id": id}, "log": {"group": "/app/api"}});
        objects.put(
            "b",
            "logs/2026/11/23/08/x.gz",
            format!("{doc}\n").into_bytes(),
            T0 + 120_000,
        );
        let finder = FakeFinder::default();
        if indexed {
            finder.docs.lock().unwrap().push(Hit {
                index: "logs-app-api-2026.11.23".into(),
                id: id.clone(),
                source: doc,
            });
        }
        (logs, objects, finder, id)
    }

    /// Trace `q` with every hop's client.
    async fn every_hop(
        logs: &FakeLogs,
        objects: &FakeObjects,
        finder: &FakeFinder,
        q: &str,
    ) -> Trace {
        let query = Query::parse(q).unwrap();
        trace(&cfg(), Some(logs), Some(objects), Some(finder), query).await
    }

    #[tokio::test]
    async fn by_text_through_every_hop() {
        let (logs, objects, finder, id) = world(true).await;
        let t = every_hop(&logs, &objects, &finder, "order 42").await;
        assert_eq!(t.logs.found()[0].event_id, id);
        assert_eq!(t.s3.found()[0].key, "logs/2026/11/23/08/x.gz");
        assert_eq!(t.search.found()[0].index, "logs-app-api-2026.11.23");
        assert!(t.delivered());
        let text = t.render();
        assert!(
            text.contains("delivered: seen at every hop up to search"),
            "{text}"
        );
        assert!(text.contains(&format!("event {id}")), "{text}");
    }

    #[tokio::test]
    async fn a_text_matching_several_events_needs_all_of_them_indexed() {
        let (logs, objects, finder, _) = world(true).await;
        // A second matching event, in CloudWatch Logs only.
        logs.put("/app/api", "task/2", T0 + 1_000, "retry of order 42")
            .await
            .unwrap();
        let second = logs.events.lock().unwrap()[1].event_id.clone();
        let t = every_hop(&logs, &objects, &finder, "order 42").await;
        assert_eq!(t.logs.found().len(), 2);
        assert_eq!(t.last_hop(), Some(Hop::Search));
        assert_eq!(t.not_indexed(), vec![second.as_str()]);
        assert!(!t.delivered());
        let text = t.render();
        assert!(
            text.contains(&format!(
                "NOT DELIVERED: 1 of 2 events found in CloudWatch Logs are not in search: {second}"
            )),
            "{text}"
        );
    }

    #[tokio::test]
    async fn by_event_id_names_the_break() {
        let (logs, objects, finder, id) = world(false).await;
        let t = every_hop(&logs, &objects, &finder, &id).await;
        assert!(matches!(t.query, Query::EventId(_)));
        assert!(matches!(t.search, Look::NotFound(_)));
        assert_eq!(t.s3.found().len(), 1);
        // Without a document, the id alone does not say where in CloudWatch Logs to look.
        assert!(matches!(t.logs, Look::NotChecked(_)));
        assert_eq!(t.last_hop(), Some(Hop::S3));
        assert!(!t.delivered());
        assert!(
            t.render()
                .contains("NOT DELIVERED: last hop that saw it: S3"),
            "{}",
            t.render()
        );

        // Indexed: the document locates the event in CloudWatch Logs.
        let (logs, objects, finder, id) = world(true).await;
        let t = every_hop(&logs, &objects, &finder, &id).await;
        assert_eq!(t.logs.found()[0].stream, "task/1");
        assert!(t.delivered());
    }

    /// A stack trace's line after its first is in the first's document: found by `event.joined.ids`.
    #[tokio::test]
    async fn by_the_id_of_a_line_joined_into_another_document() {
        let (logs, objects, finder, _) = world(false).await;
        logs.put("/app/api", "task/1", T0 + 1, "\tat a.B.c(B.java:1)")
            .await
            .unwrap();
        let (first, frame) = {
            let evs = logs.events.lock().unwrap();
            (evs[0].event_id.clone(), evs[1].event_id.clone())
        };
        let doc = json!({"@timestamp": "2026-11-23T08:00:00.000Z", "message": "payment failed\n\tat a.B.c(B.java:1)",
            "event": {"id": first, "joined": {"count": 1, "ids": [frame]}}, "log": {"group": "/app/api", "stream": "task/1"}});
        objects.put(
            "b",
            "logs/2026/11/23/08/y.gz",
            format!("{doc}\n").into_bytes(),
            T0 + 120_000,
        );
        finder.docs.lock().unwrap().push(Hit {
            index: "logs-app-api-2026.11.23".into(),
            id: first.clone(),
            source: doc,
        });
        let t = every_hop(&logs, &objects, &finder, &frame).await;
        assert_eq!(t.search.found().len(), 1, "{}", t.render());
        assert!(t.delivered(), "{}", t.render());
    }

    #[tokio::test]
    async fn text_not_found_anywhere_and_hops_not_checked() {
        let (logs, objects, finder, _) = world(true).await;
        let t = every_hop(&logs, &objects, &finder, "no such words").await;
        assert_eq!(t.last_hop(), None);
        assert!(
            t.render().contains("NOT FOUND at any hop checked"),
            "{}",
            t.render()
        );
        // Only a bucket: the text is looked for in the objects as JSON escapes it.
        let mut c = cfg();
        c.groups.clear();
        let none_l: Option<&FakeLogs> = None;
        let none_f: Option<&FakeFinder> = None;
        let t = trace(
            &c,
            none_l,
            Some(&objects),
            none_f,
            Query::parse("payment \"failed\"").unwrap(),
        )
        .await;
        assert_eq!(t.s3.found().len(), 1, "{t:?}");
        assert!(t.delivered(), "S3 is the last hop checked");
        assert!(
            t.render().contains("not checked no search engine"),
            "{}",
            t.render()
        );
        assert!(Query::parse("  ").is_err());
        assert_eq!(Query::parse("12345").unwrap(), Query::Text("12345".into()));
    }
}
