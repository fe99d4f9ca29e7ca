//! The reconciliation on real wire protocols — CloudWatch Logs and S3 on a local moto server, the search
//! engine on osmem-server — after the real CloudWatch Logs transform and the real search forwarder carried
//! the events: one group delivered whole, one whose documents were partly deleted from the index, one whose
//! subscription stopped mid-hour, one whose documents the engine partly refused (dead letters, no loss),
//! one with a record Firehose could not have transformed (its processing-failed error object), one whose S3
//! object was deleted before the forwarder read it. Each loss is
//! reported with its group, hour, count and hop, and `verify` lists exactly the lost ids with the last hop
//! that saw them.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use canary::aws::AwsLogs;
use canary::reconcile::hourly::{self, run_hourly, Hourly};
use canary::reconcile::processing_failed::DEFAULT_PREFIX;
use canary::reconcile::{reconcile, DeadLetterPlace, FailedPlace, ReconcileConfig};
use canary::verify::{verify, Verification, VerifyConfig};
use canary::Hop as CanaryHop;
use canary::Logs;
use logcore::ledger::{hour_of, Hop, Judged, HOUR_MS};
use logcore::logs::glob::GroupPattern;
use logcore::synth;
use logpipe_e2e::carry;
use logpipe_e2e::local::Local;
use logpipe_io::store::S3Store;
use logpipe_io::HttpSearch;
use serde_json::{json, Value};

const MIN: i64 = 60_000;

struct Pipeline {
    logs: AwsLogs,
    s3: Arc<S3Store>,
    search: Arc<HttpSearch>,
    search_url: String,
    forwarder: s3_search_forwarder::Config,
    bucket: String,
    objects: u32,
    /// Where the transform's report lines go, as its Lambda's log group.
    transform_log: String,
}

impl Pipeline {
    /// `n` events in `group`, a second apart from `t`.
    async fn write(&self, group: &str, t: i64, n: usize) {
        for i in 0..n {
            self.logs
                .put(
                    group,
                    "web/1",
                    t + i as i64 * 1000,
                    &format!("request {i} served"),
                )
                .await
                .unwrap();
        }
    }

    /// The group's events as CloudWatch Logs gives them (in time order).
    async fn events(&self, group: &str) -> Vec<synth::Event> {
        let mut found = self
            .logs
            .find(group, "", 0, i64::from(u32::MAX) * 1000, 10_000)
            .await
            .unwrap();
        found.sort_by_key(|e| e.timestamp_ms);
        found
            .into_iter()
            .map(|e| synth::Event {
                id: e.event_id,
                timestamp: e.timestamp_ms,
                message: e.message,
            })
            .collect()
    }

    /// Firehose, the transform and the forwarder: `events` become documents in one object, forwarded;
    /// the documents indexed.
    async fn carry(&mut self, group: &str, events: &[synth::Event]) -> usize {
        self.carry_but(group, events, false).await
    }

    /// [`Pipeline::carry`], with the object deleted before the forwarder reads it when `delete`.
    async fn carry_but(&mut self, group: &str, events: &[synth::Event], delete: bool) -> usize {
        let (docs, report) = carry::transform(group, "web/1", events).await.unwrap();
        self.logs
            .put(
                &self.transform_log,
                "transform/1",
                events[0].timestamp + 1_000,
                &report,
            )
            .await
            .unwrap();
        self.objects += 1;
        let key = format!("logs/reconcile-{}.gz", self.objects);
        self.s3
            .client()
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(logcore::base::codec::gzip(&docs, 6).into())
            .send()
            .await
            .unwrap();
        if delete {
            let s3 = self.s3.client();
            s3.delete_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .unwrap();
        }
        carry::forward(&self.forwarder, &self.s3, &self.search, &self.bucket, &key)
            .await
            .unwrap() as usize
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = reqwest::Client::new()
            .request(method, format!("{}{path}", self.search_url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_loss_is_reported_with_its_group_hour_count_and_hop() {
    let Some(local) = Local::start("lprec").await.unwrap() else {
        return;
    };
    let name = local.name.clone();
    let mut p = Pipeline {
        logs: AwsLogs::new(&local.sdk),
        s3: local.s3,
        search: local.search,
        search_url: local.search_url,
        forwarder: local.forwarder,
        bucket: name.clone(),
        objects: 0,
        transform_log: format!("/logpipe/{name}/app-transform"),
    };
    let (whole, deleted, stopped, rejected, failed, vanished) = (
        format!("/rec/{name}/whole"),
        format!("/rec/{name}/deleted"),
        format!("/rec/{name}/stopped"),
        format!("/rec/{name}/rejected"),
        format!("/rec/{name}/failed"),
        format!("/rec/{name}/vanished"),
    );
    for g in [
        &whole,
        &deleted,
        &stopped,
        &rejected,
        &failed,
        &vanished,
        &p.transform_log,
    ] {
        p.logs
            .client
            .create_log_group()
            .log_group_name(g)
            .send()
            .await
            .unwrap();
    }
    // Two settled hours: three and two hours before this one.
    let now = logcore::base::time::now_ms();
    let h = hour_of(now) - 3 * HOUR_MS;
    p.write(&whole, h + 10 * MIN, 12).await;
    p.write(&whole, h + HOUR_MS + 5 * MIN, 8).await;
    p.write(&deleted, h + 20 * MIN, 15).await;
    p.write(&stopped, h + 30 * MIN, 14).await;
    p.write(&failed, h + 50 * MIN, 10).await;
    p.write(&vanished, h + 55 * MIN, 8).await;
    // JSON messages whose `status` is a number, then text: the engine maps `json.status` as a number from
    // the first and refuses the other five documents, which the forwarder dead-letters.
    for i in 0..6 {
        let status = if i == 0 {
            json!(200)
        } else {
            json!(format!("bad-{i}"))
        };
        p.logs
            .put(
                &rejected,
                "web/1",
                h + 40 * MIN + i * 1000,
                &json!({"status": status}).to_string(),
            )
            .await
            .unwrap();
    }

    let events = p.events(&whole).await;
    assert_eq!(events.len(), 20);
    assert_eq!(p.carry(&whole, &events).await, 20);
    let events = p.events(&deleted).await;
    assert_eq!(p.carry(&deleted, &events).await, 15);
    // The subscription filter removed after the first 9 events: the rest never left CloudWatch Logs.
    let events = p.events(&stopped).await;
    assert_eq!(p.carry(&stopped, &events[..9]).await, 9);
    let events = p.events(&rejected).await;
    assert_eq!(p.carry(&rejected, &events).await, 1);
    // Firehose gave up on the record of the last 3 events (the transform answered ProcessingFailed) and
    // wrote it under the stream's error prefix, as its developer guide shows such records.
    // An object deleted before the forwarder read it (a lifecycle rule, a hand): nothing to index.
    let events = p.events(&vanished).await;
    assert_eq!(p.carry_but(&vanished, &events, true).await, 0);
    let events = p.events(&failed).await;
    assert_eq!(p.carry(&failed, &events[..7]).await, 7);
    let raw = synth::record_data(&synth::data_payload(&failed, "web/1", &events[7..]));
    let record = json!({
        "attemptsMade": 4, "arrivalTimestamp": h + 51 * MIN, "errorCode": "Lambda.ProcessingFailed",
        "errorMessage": "decompressed size over the cap", "attemptEndingTimestamp": h + 52 * MIN,
        "rawData": raw, "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:logpipe-test-app",
    });
    let prefix: canary::scan::KeyPrefix = DEFAULT_PREFIX.parse().unwrap();
    p.s3.client()
        .put_object()
        .bucket(&name)
        .key(format!(
            "{}logpipe-test-app-1-failed",
            prefix.at(h + 52 * MIN)
        ))
        .body(logcore::base::codec::gzip(format!("{record}\n").as_bytes(), 6).into())
        .send()
        .await
        .unwrap();
    // Four documents deleted from the index by hand.
    let gone: Vec<String> = p.events(&deleted).await[..4]
        .iter()
        .map(|e| e.id.clone())
        .collect();
    let index = format!("{name}-app-*");
    p.call(
        reqwest::Method::POST,
        &format!("/{index}/_refresh"),
        json!({}),
    )
    .await;
    let answer = p
        .call(
            reqwest::Method::POST,
            &format!("/{index}/_delete_by_query?refresh=true"),
            json!({"query": {"terms": {"event.id": gone}}}),
        )
        .await;
    assert_eq!(answer["deleted"], 4, "{answer}");

    let cfg = ReconcileConfig {
        groups: vec![
            whole.clone(),
            deleted.clone(),
            stopped.clone(),
            rejected.clone(),
            failed.clone(),
            vanished.clone(),
        ],
        from_ms: h,
        to_ms: now,
        index_pattern: Some(index),
        max_events: 10_000,
        patterns: Default::default(),
        // The transform above ran without INCLUDE_PATTERN or EXCLUDE_PATTERN: it drops nothing on purpose.
        transform_filter: Some(Default::default()),
        transform_multiline: Some(logcore::logs::multiline::Rules::builtin()),
        stop: None,
        // moto's Logs Insights has no `stats`.
        source: canary::reconcile::SourceCounter::Filter,
        processing_failed: Some(FailedPlace {
            bucket: name.clone(),
            prefix: DEFAULT_PREFIX.parse().unwrap(),
        }),
        transform_logs: vec![p.transform_log.clone()],
        archive: Some(canary::reconcile::ArchivePlace {
            bucket: name.clone(),
            key_prefixes: vec!["logs/".parse().unwrap()],
            max_bytes: 64 << 20,
        }),
        dead_letters: Some(DeadLetterPlace {
            bucket: name.clone(),
            prefix: "failed/".into(),
            source_bucket: name.clone(),
            key_prefixes: vec!["logs/".parse().unwrap()],
        }),
    };
    let ledger = reconcile(
        &cfg,
        &p.logs,
        Some(p.search.as_ref()),
        Some(p.s3.as_ref()),
        |_| {},
    )
    .await;
    assert!(ledger.problems.is_empty(), "{:?}", ledger.problems);
    let report = ledger.judge(now, 30 * MIN);
    let row = |group: &str, hour: i64| {
        report
            .rows
            .iter()
            .find(|r| r.group == group && r.hour_ms == hour)
            .unwrap_or_else(|| panic!("no row for {group} at {hour}: {}", report.table()))
    };
    let verdict = |group: &str, hour: i64| {
        let row = row(group, hour);
        match &row.judged {
            Judged::Settled(v) => (row.counts.source, row.counts.indexed, *v),
            other => panic!("{group} at {hour}: {other:?}"),
        }
    };
    let (source, indexed, v) = verdict(&whole, h);
    assert_eq!(
        (source, indexed, v.missing, v.short_at),
        (Some(12), Some(12), 0, None)
    );
    let (source, indexed, v) = verdict(&whole, h + HOUR_MS);
    assert_eq!((source, indexed, v.missing), (Some(8), Some(8), 0));
    let (source, indexed, v) = verdict(&deleted, h);
    assert_eq!(
        (source, indexed, v.missing, v.short_at),
        (Some(15), Some(11), 4, Some(Hop::Search))
    );
    // The transform's report lines say it received 9: the loss is before it, at the subscription.
    let (source, indexed, v) = verdict(&stopped, h);
    assert_eq!(
        (source, indexed, v.missing, v.short_at),
        (Some(14), Some(9), 5, Some(Hop::Subscription))
    );
    let received = |group: &str| row(group, h).counts.received;
    assert_eq!(received(&stopped), Some(9));
    assert_eq!(received(&whole), Some(12));
    // Dead-lettered documents are accounted for, by the cause the forwarder gave.
    let (source, indexed, v) = verdict(&rejected, h);
    assert_eq!((source, indexed, v.missing), (Some(6), Some(1), 0));
    let dead = row(&rejected, h).counts.dead_lettered.clone();
    assert_eq!(dead, Some([("document".to_string(), 5)].into()));
    // The record Firehose failed (an invocation that failed as a whole: the transform never counted its
    // events as received): missing at the transform, not at the subscription nor the index.
    assert_eq!(received(&failed), Some(7));
    let (source, indexed, v) = verdict(&failed, h);
    assert_eq!(
        (source, indexed, v.missing, v.short_at),
        (Some(10), Some(7), 3, Some(Hop::Transform))
    );
    // The deleted object: in no count after the transform's, missing at the archive. The documents deleted
    // from the index were archived: missing at the search hop.
    let archived = |group: &str| row(group, h).counts.archived;
    let (source, indexed, v) = verdict(&vanished, h);
    assert_eq!(
        (
            source,
            received(&vanished),
            archived(&vanished),
            indexed,
            v.missing,
            v.short_at
        ),
        (Some(8), Some(8), Some(0), Some(0), 8, Some(Hop::Archive))
    );
    assert_eq!(archived(&deleted), Some(15));
    assert_eq!(report.total.missing, 20);
    assert_eq!(report.total.duplicated, 0);
    assert_eq!(report.total.dead_lettered, 5);
    assert!(!report.clean());
    let table = report.table();
    assert!(table.contains("total (7 settled hours)"), "{table}");

    // Counted by Logs Insights over the SDK: moto answers StartQuery and GetQueryResults but runs no
    // `stats` (its rows hold `@ptr` alone), so the count is refused, named, and not taken for zero.
    let by_insights = ReconcileConfig {
        source: canary::reconcile::SourceCounter::Insights,
        ..cfg.clone()
    };
    let ledger = reconcile(
        &by_insights,
        &p.logs,
        Some(p.search.as_ref()),
        None::<&logpipe_io::store::S3Store>,
        |_| {},
    )
    .await;
    assert!(
        ledger
            .problems
            .iter()
            .any(|e| e.starts_with("source of ") && e.contains("a row without @log")),
        "{:?}",
        ledger.problems
    );
    assert!(ledger.rows.values().all(|c| c.source.is_none()));

    // `verify` lists exactly the lost ids: the deleted documents were last seen in their S3 object, the
    // events after the subscription stopped in CloudWatch Logs.
    let vcfg = |group: &str| VerifyConfig {
        group: group.to_string(),
        from_ms: h,
        to_ms: now,
        index_pattern: format!("{name}-app-*"),
        max_events: 1_000,
        batch: 4,
        bucket: Some(name.clone()),
        key_prefixes: vec!["logs/".parse().unwrap()],
        max_scan_bytes: 1 << 20,
    };
    let run = |group: String| {
        let cfg = vcfg(&group);
        let p = &p;
        async move {
            verify(
                &cfg,
                &p.logs,
                Some(p.s3.as_ref()),
                p.search.as_ref(),
                |_, _| {},
            )
            .await
            .unwrap()
        }
    };
    let lost_of = |v: &Verification| -> Vec<(String, CanaryHop)> {
        v.missing
            .iter()
            .map(|m| (m.event_id.clone(), m.last_hop))
            .collect()
    };
    let v = run(deleted.clone()).await;
    let lost = lost_of(&v);
    let want: Vec<(String, CanaryHop)> =
        gone.iter().map(|id| (id.clone(), CanaryHop::S3)).collect();
    assert_eq!(lost, want, "{}", v.render());
    assert_eq!((v.events, v.indexed), (15, 11));
    assert!(v
        .missing
        .iter()
        .all(|m| m.object.as_deref() == Some("logs/reconcile-2.gz")));
    let stopped_events = p.events(&stopped).await;
    let v = run(stopped.clone()).await;
    let lost = lost_of(&v);
    let want: Vec<(String, CanaryHop)> = stopped_events[9..]
        .iter()
        .map(|e| (e.id.clone(), CanaryHop::CloudWatchLogs))
        .collect();
    assert_eq!(lost, want, "{}", v.render());
    // The deleted object's events and the failed record's: last seen in CloudWatch Logs (no object holds
    // them any more under the stream's prefixes), exactly those.
    for (group, lost_from) in [(&vanished, 0), (&failed, 7)] {
        let events = p.events(group).await;
        let v = run(group.clone()).await;
        let want: Vec<(String, CanaryHop)> = events[lost_from..]
            .iter()
            .map(|e| (e.id.clone(), CanaryHop::CloudWatchLogs))
            .collect();
        assert_eq!(lost_of(&v), want, "{}", v.render());
    }
    let v = run(whole.clone()).await;
    assert!(v.clean(), "{}", v.render());
    assert_eq!(v.events, 20);

    // The canary's hourly run finds the same: every hour since the state's, the groups by glob.
    let mut canary = canary::Config::new("/rec/heartbeat", &name);
    canary.index_pattern = format!("{name}-app-*");
    let hourly = Hourly {
        groups: vec![GroupPattern::parse(&format!("/rec/{name}/*")).unwrap()],
        filter_name: Some("logpipe-test-app".into()),
        settle_ms: 30 * MIN,
        transform_filter: Default::default(),
        transform_multiline: Some(logcore::logs::multiline::Rules::builtin()),
        dead_letter_prefix: "failed/".into(),
        key_prefixes: vec!["logs/".parse().unwrap()],
        max_events: 10_000,
        max_hours: 24,
        // moto's Logs Insights has no `stats`.
        source: canary::reconcile::SourceCounter::Filter,
        failed_prefix: DEFAULT_PREFIX.parse().unwrap(),
        transform_logs: vec![p.transform_log.clone()],
        archive_max_bytes: 64 << 20,
    };
    p.s3.client()
        .put_object()
        .bucket(&name)
        .key(hourly::STATE_KEY)
        .body(
            format!(r#"{{"reconciled_through_ms":{h}}}"#)
                .into_bytes()
                .into(),
        )
        .send()
        .await
        .unwrap();
    let outcome = run_hourly(
        &canary,
        &hourly,
        (&p.logs, Some(p.search.as_ref()), p.s3.as_ref()),
        now,
        None,
    )
    .await
    .unwrap();
    let s = &outcome.summary;
    assert_eq!(outcome.from_ms, h);
    assert_eq!(
        (s.groups, s.missing, s.duplicated, s.problems),
        (6, 20, 0, 0),
        "{s:?}"
    );
    assert_eq!(s.events, 20 + 15 + 14 + 6 + 10 + 8);
    let lost: Vec<&str> = outcome
        .report
        .as_ref()
        .unwrap()
        .findings()
        .map(|r| r.group.as_str())
        .collect();
    assert_eq!(
        lost,
        [
            deleted.as_str(),
            failed.as_str(),
            stopped.as_str(),
            vanished.as_str()
        ]
    );
    // Its state moved on: the next run in this hour has nothing to do.
    let again = run_hourly(
        &canary,
        &hourly,
        (&p.logs, Some(p.search.as_ref()), p.s3.as_ref()),
        now,
        None,
    )
    .await
    .unwrap();
    assert!(again.report.is_none());
}
