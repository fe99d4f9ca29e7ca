//! The Slack notifier on the part that grows with the logs: CloudWatch Logs subscription payloads of
//! realistic messages (about a fifth alert: ERROR lines and stack traces) read, decided on, fingerprinted
//! and grouped by the handler, with a Slack that answers at once. One destination; then three, with the
//! rules' and the levels' mentions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use logcore::synth::{self, Event, MessageGen};
use logpipe_io::store::DirStore;
use serde_json::{json, Value};
use slack_notifier::config::SecretSource;
use slack_notifier::{CallError, Config, Notifier, Reply, Slack};

/// Takes every message at once.
struct Instant200;

impl Slack for Instant200 {
    async fn post(&self, _: &Value) -> Result<Reply, CallError> {
        Ok(Reply {
            status: 200,
            body: b"ok".to_vec(),
            retry_after: None,
        })
    }
}

const GROUPS: usize = 50;
const EVENTS_PER_PAYLOAD: usize = 2_000;

fn payloads() -> Vec<Value> {
    let mut gen = MessageGen::new(11);
    (0..GROUPS)
        .map(|g| {
            let events: Vec<Event> = (0..EVENTS_PER_PAYLOAD)
                .map(|i| Event {
                    id: synth::event_id(1_763_719_200_000 + i as i64, i as u64),
                    timestamp: 1_763_719_200_000 + i as i64,
                    message: gen.message(),
                })
                .collect();
            let group = format!("/ecs/svc-{g}");
            let p = synth::data_payload(&group, "web/1", &events);
            json!({"awslogs": {"data": synth::record_data(&p)}})
        })
        .collect()
}

fn routed() -> Result<Config, String> {
    Config::from_env(logcore::base::env::pairs(&[
        ("SLACK_SSM_PARAMETER", "/bench"),
        (
            "ALERT_RULES",
            r#"[{"log_groups": ["/ecs/svc-1*"], "destinations": ["a", "default"], "mention": ["<@U0LEAD>"]},
                {"log_groups": ["/ecs/*"], "destinations": ["b"]}]"#,
        ),
        ("SLACK_DESTINATIONS", r#"{"a": "/a", "b": "/b"}"#),
        ("ALERT_MENTIONS", r#"{"ERROR": ["<!here>"]}"#),
    ]))
    .map_err(|e| e.to_string())
}

pub fn bench(iterations: usize) -> Result<(), String> {
    let rt = crate::runtime()?;
    let payloads = payloads();
    let events = (GROUPS * EVENTS_PER_PAYLOAD) as f64;
    let store = Arc::new(DirStore::new(std::env::temp_dir()));
    let mut one = Config::new(SecretSource::Ssm("/bench".into()));
    one.min_interval = Duration::ZERO;
    let mut three = routed()?;
    three.min_interval = Duration::ZERO;
    for (name, cfg, named) in [
        ("one destination", one, &[][..]),
        ("three destinations, mentions", three, &["a", "b"][..]),
    ] {
        let mut times = Vec::new();
        let mut last = (0u64, 0u64);
        for i in 0..=iterations.max(1) {
            // A new container each run: every alert is news, as in a cold start.
            let mut n = Notifier::new(cfg.clone(), Arc::clone(&store), Arc::new(Instant200));
            for d in named {
                n = n.with_destination(d, Arc::new(Instant200));
            }
            let start = Instant::now();
            let (mut alerts, mut sent) = (0, 0);
            for p in &payloads {
                let deadline = logpipe_io::lambda::Deadline::after(
                    Duration::from_secs(60),
                    cfg.common.deadline_margin,
                );
                let (r, s) = rt.block_on(n.handle(p, deadline, 1_763_719_300_000));
                r.map_err(|e| e.to_string())?;
                alerts += s.alerts;
                sent += s.messages_sent;
            }
            if i > 0 {
                times.push(start.elapsed());
            }
            last = (alerts, sent);
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "notifier, {name}: {GROUPS} payloads of {EVENTS_PER_PAYLOAD} events, {} alerts, {} messages: \
             median {:.1} ms, best {:.1} ms ({:.2} M events/s)",
            last.0,
            last.1,
            median.as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            events / median.as_secs_f64() / 1e6
        );
    }
    Ok(())
}
