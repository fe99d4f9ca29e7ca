//! The canary with its real adapters — CloudWatch Logs and S3 on a local moto server, the search engine on
//! osmem-server — and the pipeline between its runs played by the real CloudWatch Logs transform and the
//! real search forwarder: a heartbeat delivered in time, one delivered late, one that never leaves S3 and one
//! that never leaves CloudWatch Logs; then `trace` on the same services.

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use test_support as support;

use std::sync::{Arc, Mutex};

use canary::aws::AwsLogs;
use canary::trace::{trace, Query, TraceConfig};
use canary::{run, Config, Hop, Logs, Outcome};
use logcore::synth;
use logpipe_e2e::carry;
use logpipe_io::store::S3Store;
use logpipe_io::HttpSearch;

const MIN: i64 = 60_000;

struct Services {
    cfg: Config,
    logs: AwsLogs,
    s3: Arc<S3Store>,
    search: Arc<HttpSearch>,
    forwarder: s3_search_forwarder::Config,
    /// Event ids the pipeline has carried already.
    carried: Mutex<Vec<String>>,
    objects: Mutex<u32>,
}

impl Services {
    async fn new(moto: &str, search: &str, name: &str) -> Services {
        let sdk = support::sdk_config(moto).await;
        let logs = AwsLogs::new(&sdk);
        let group = format!("/logpipe/{name}/canary");
        logs.client
            .create_log_group()
            .log_group_name(&group)
            .send()
            .await
            .unwrap();
        let s3 = Arc::new(S3Store::new(&sdk, true));
        s3.client()
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap();
        let mut cfg = Config::new(&group, name);
        // The default layout (one daily index per family), under this test's own prefix.
        cfg.index_pattern = format!("{name}-app-*.*.*");
        let mut forwarder = s3_search_forwarder::Config::new(search);
        forwarder.index = format!("{name}-app-%Y.%m.%d").parse().unwrap();
        cfg.search = Some(logpipe_io::Endpoint {
            url: search.to_string(),
            auth: logpipe_io::Auth::None,
            region: None,
        });
        let engine = Arc::new(
            HttpSearch::connect(cfg.search.as_ref().unwrap(), 1, &sdk)
                .await
                .unwrap(),
        );
        Services {
            cfg,
            logs,
            s3,
            search: engine,
            forwarder,
            carried: Mutex::new(Vec::new()),
            objects: Mutex::new(0),
        }
    }

    /// `logpipe trace` on the same services, an hour either side of `t0`.
    async fn trace(&self, t0: i64, query: Query) -> canary::trace::Trace {
        let cfg = TraceConfig {
            groups: vec![self.cfg.log_group.clone()],
            from_ms: t0 - 60 * MIN,
            to_ms: t0 + 60 * MIN,
            bucket: Some(self.cfg.bucket.clone()),
            key_prefixes: self.cfg.key_prefixes.clone(),
            index_pattern: self.cfg.index_pattern.clone(),
            max_scan_bytes: 1 << 30,
            max_object_bytes: 1 << 30,
            limit: 10,
        };
        let (objects, search) = (self.s3.as_ref(), self.search.as_ref());
        trace(&cfg, Some(&self.logs), Some(objects), Some(search), query).await
    }

    async fn run(&self, now: i64) -> (canary::Summary, Vec<Outcome>) {
        run(
            &self.cfg,
            &self.logs,
            self.s3.as_ref(),
            Some(self.search.as_ref()),
            now,
        )
        .await
        .unwrap()
    }

    /// Firehose and the transform: every event of the group not carried yet becomes documents in one gzip
    /// object under today's hour (as the app stream writes them); with `index`, the forwarder indexes it.
    async fn carry(&self, index: bool) -> String {
        let group = self.cfg.log_group.clone();
        let found = self
            .logs
            .find(&group, "", 0, i64::from(u32::MAX) * 1000, 1000)
            .await
            .unwrap();
        let events: Vec<synth::Event> = {
            let mut carried = self.carried.lock().unwrap();
            let new: Vec<_> = found
                .into_iter()
                .filter(|e| !carried.contains(&e.event_id))
                .collect();
            carried.extend(new.iter().map(|e| e.event_id.clone()));
            new.into_iter()
                .map(|e| synth::Event {
                    id: e.event_id,
                    timestamp: e.timestamp_ms,
                    message: e.message,
                })
                .collect()
        };
        assert!(!events.is_empty(), "nothing new to carry");
        let docs = carry::documents(&group, "heartbeat", &events)
            .await
            .unwrap();
        let n = {
            let mut n = self.objects.lock().unwrap();
            *n += 1;
            *n
        };
        let key = format!(
            "{}logpipe-test-app-{n}.gz",
            canary::scan::KeyPrefix::default().at(logcore::base::time::now_ms())
        );
        self.s3
            .client()
            .put_object()
            .bucket(&self.cfg.bucket)
            .key(&key)
            .body(logcore::base::codec::gzip(&docs, 6).into())
            .send()
            .await
            .unwrap();
        if index {
            let indexed = carry::forward(
                &self.forwarder,
                &self.s3,
                &self.search,
                &self.cfg.bucket,
                &key,
            )
            .await
            .unwrap();
            assert_eq!(indexed as usize, events.len());
        }
        key
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_late_and_missing_on_moto_and_osmem() {
    let (Some(moto), Some(search)) = (support::moto_url(), support::search_url()) else {
        return;
    };
    let t0 = logcore::base::time::now_ms();

    // Delivered in time: through the transform and the forwarder before the next run.
    let s = Services::new(&moto, &search, &support::unique("lpc-ok")).await;
    let (sum, _) = s.run(t0).await;
    assert_eq!((sum.written, sum.pending), (1, 1));
    let key = s.carry(true).await;
    let (sum, out) = s.run(t0 + 5 * MIN).await;
    assert_eq!(
        (sum.delivered, sum.late, sum.missing, sum.lookup_errors),
        (1, 0, 0, 0),
        "{out:?}"
    );
    let Outcome::Delivered {
        heartbeat,
        late: false,
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(heartbeat.s3.as_ref().unwrap().key, key);
    assert!(heartbeat
        .search
        .as_ref()
        .unwrap()
        .index
        .starts_with(&s.cfg.bucket));
    let lat = heartbeat.latencies();
    assert_eq!(
        lat.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        [Hop::CloudWatchLogs, Hop::S3, Hop::Search]
    );
    assert!(
        lat.iter().all(|(_, ms)| (0..=5 * MIN).contains(ms)),
        "{lat:?}"
    );
    assert_eq!(lat[2].1, 5 * MIN);
    // The state object is in the bucket, with the new heartbeat only.
    let state =
        s.s3.client()
            .get_object()
            .bucket(&s.cfg.bucket)
            .key("canary/state.json")
            .send()
            .await
            .unwrap();
    let state =
        canary::State::parse(&state.body.collect().await.unwrap().into_bytes(), "state").unwrap();
    assert_eq!(state.pending.len(), 1);
    assert_eq!(state.pending[0].written_ms, t0 + 5 * MIN);

    // `logpipe trace` by the heartbeat's text, on the same services: seen at every hop.
    let t = s.trace(t0, Query::parse(&heartbeat.id).unwrap()).await;
    assert!(t.delivered(), "{}", t.render());
    // And by its event id (the document tells where it came from); moto's ids are short, AWS's have 56 digits.
    let id = heartbeat.cloudwatch_logs.as_ref().unwrap().event_id.clone();
    let t = s.trace(t0, Query::EventId(id)).await;
    assert!(t.delivered(), "{}", t.render());
    assert_eq!(t.last_hop(), Some(Hop::Search));

    // Late: carried only after the 10-minute threshold.
    let s = Services::new(&moto, &search, &support::unique("lpc-late")).await;
    s.run(t0).await;
    let (sum, _) = s.run(t0 + 5 * MIN).await;
    assert_eq!((sum.delivered, sum.pending), (0, 2));
    s.carry(true).await;
    let (sum, out) = s.run(t0 + 12 * MIN).await;
    assert_eq!((sum.delivered, sum.late, sum.missing), (2, 1, 0), "{out:?}");
    assert!(
        matches!(&out[0], Outcome::Delivered { late: true, heartbeat } if heartbeat.written_ms == t0)
    );

    // Missing: one heartbeat stops in S3 (never indexed), and the next never leaves CloudWatch Logs.
    let s = Services::new(&moto, &search, &support::unique("lpc-miss")).await;
    s.run(t0).await;
    let key = s.carry(false).await;
    s.run(t0 + 10 * MIN).await;
    let (sum, out) = s.run(t0 + 20 * MIN).await;
    assert_eq!(
        (sum.missing, sum.missing_after_s3, sum.delivered),
        (1, 1, 0),
        "{out:?}"
    );
    let Outcome::Missing {
        heartbeat,
        last_hop,
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(*last_hop, Some(Hop::S3));
    assert_eq!(heartbeat.s3.as_ref().unwrap().key, key);
    let why = canary::missing_reason(&s.cfg, heartbeat, *last_hop);
    assert!(why.contains("not in search index"), "{why}");
    let (sum, out) = s.run(t0 + 30 * MIN).await;
    assert_eq!(
        (sum.missing, sum.missing_after_cloudwatch_logs),
        (1, 1),
        "{out:?}"
    );
    let Outcome::Missing { heartbeat, .. } = &out[0] else {
        panic!("{out:?}")
    };
    let t = s.trace(t0, Query::parse(&heartbeat.id).unwrap()).await;
    assert_eq!(t.last_hop(), Some(Hop::CloudWatchLogs), "{}", t.render());
    assert!(
        t.render()
            .contains("NOT DELIVERED: last hop that saw it: CloudWatch Logs"),
        "{}",
        t.render()
    );
}

/// CloudWatch Logs answers 200 to a PutLogEvents whose event it refuses (too old, too new, expired) and
/// names it in `rejectedLogEventsInfo`: such a heartbeat is a write failure, with its reason, and never
/// pending (it would later be blamed on CloudWatch Logs as missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_heartbeat_is_a_write_failure() {
    let (Some(moto), Some(search)) = (support::moto_url(), support::search_url()) else {
        return;
    };
    let s = Services::new(&moto, &search, &support::unique("lpc-refused")).await;
    let now = logcore::base::time::now_ms();
    for (at, why) in [
        (now - 15 * 24 * 60 * MIN, "too old"),
        (now + 3 * 60 * MIN, "too new"),
    ] {
        let e = s
            .logs
            .put(&s.cfg.log_group, &s.cfg.log_stream, at, "{}")
            .await
            .unwrap_err();
        assert!(
            e.message.contains("refused") && e.message.contains(why),
            "{e:?}"
        );
        let (sum, _) = s.run(at).await;
        assert_eq!(
            (sum.written, sum.write_failed, sum.pending),
            (0, 1, 0),
            "{why}"
        );
    }
    let (sum, _) = s.run(now).await;
    assert_eq!((sum.written, sum.write_failed, sum.pending), (1, 0, 1));
}
