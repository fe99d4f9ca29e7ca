//! The generated input: a realistic mix of CloudWatch Logs subscription payloads, deterministic for a seed.

use logcore::synth::{self, AuditKind, Event, MessageGen};

/// The application log groups (a DirectPut delivery stream reads them).
pub const APP_GROUPS: [&str; 3] = ["/ecs/shop-api", "/ecs/worker", "/aws/lambda/checkout"];

/// The transform's `EXCLUDE_PATTERN` in these tests: health checks are dropped on purpose.
pub const EXCLUDE_PATTERN: &str = "/health";

/// Documents holding this are refused by the `_bulk` stand-in's mapping (400, `mapper_parsing_exception`).
pub const MAPPING_CONFLICT: &str = "MAPPING-CONFLICT";

/// One subscription payload: the events of one log stream.
#[derive(Debug, Clone)]
pub struct Payload {
    pub group: String,
    pub stream: String,
    pub events: Vec<Event>,
}

impl Payload {
    /// The record data CloudWatch Logs sends: gzip of the payload's JSON.
    pub fn gzip(&self) -> Vec<u8> {
        synth::data_payload(&self.group, &self.stream, &self.events).encode_gzip(6)
    }
}

/// Everything generated for one run.
#[derive(Debug, Clone, Default)]
pub struct Mix {
    /// Application logs: JSON request logs, plain text, multi-line stack traces (in one event, and one line
    /// an event: about 8 % of the lines), a few events of
    /// 200 kB and more (they push a transform's answer over Lambda's 6 MB), and, when asked, documents the
    /// index mapping refuses.
    pub app: Vec<Payload>,
    /// Aurora MySQL and PostgreSQL audit logs (a Kinesis stream, as from another account, reads them).
    pub audit: Vec<Payload>,
    /// Record data that is no subscription payload at all (Firehose gets such records from misconfigured
    /// producers): the transform fails them, Firehose keeps them under `errors/`.
    pub malformed: Vec<Vec<u8>>,
}

impl Mix {
    /// About `n` events (at least 1,000), from `seed`.
    pub fn generate(n: usize, seed: u64, mapping_conflicts: bool) -> Mix {
        let n = n.max(1_000);
        let mut rng = fastrand::Rng::with_seed(seed);
        let large = (n / 4_000).clamp(4, 40);
        let conflicts = if mapping_conflicts {
            (n / 2_000).max(5)
        } else {
            0
        };
        let audit_n = n * 3 / 10;
        let app_n = n - audit_n - large - conflicts;
        let mut t = 1_763_700_000_000i64;
        let mut mix = Mix::default();

        let mut messages = MessageGen::new(seed);
        let mut left = app_n;
        let mut k = 0usize;
        while left > 0 {
            let size = rng.usize(200..=600).min(left);
            let mut events = messages.events(size, t);
            // Stack traces one line an event, as stdout without a multiline setting sends them: the
            // transform joins each into one document.
            synth::with_trace_lines(&mut events, 8);
            t = events.last().map_or(t, |e| e.timestamp) + 1;
            mix.app.push(Payload {
                group: APP_GROUPS[k % APP_GROUPS.len()].into(),
                stream: format!("ecs/app/{:08x}", k % 5),
                events,
            });
            left -= size;
            k += 1;
        }
        // Unique ids for the hand-made events: past any sequence number the generator uses.
        let mut seq = 1u64 << 40;
        let mut own = |message: String, t: &mut i64| {
            *t += 1;
            seq += 1;
            Event {
                id: synth::event_id(*t, seq),
                timestamp: *t,
                message,
            }
        };
        for chunk in 0..large.div_ceil(4) {
            let events = (0..4.min(large - chunk * 4))
                .map(|i| {
                    let size = 200_000 + rng.usize(..60_000);
                    let mut m = format!("INFO response dump {chunk}-{i}: ");
                    while m.len() < size {
                        m.push_str("{\"sku\":\"A-1\",\"qty\":1,\"price\":\"9.99\"},");
                    }
                    own(m, &mut t)
                })
                .collect();
            let at = rng.usize(..=mix.app.len());
            mix.app.insert(
                at,
                Payload {
                    group: APP_GROUPS[0].into(),
                    stream: "ecs/app/dumps".into(),
                    events,
                },
            );
        }
        if conflicts > 0 {
            let events = (0..conflicts)
                .map(|i| {
                    own(
                        format!(r#"{{"level":"info","msg":"{MAPPING_CONFLICT} {i}","n":"not a number"}}"#),
                        &mut t,
                    )
                })
                .collect();
            let at = rng.usize(..=mix.app.len());
            mix.app.insert(
                at,
                Payload {
                    group: APP_GROUPS[1].into(),
                    stream: "ecs/app/conflicts".into(),
                    events,
                },
            );
        }

        let mut left = audit_n;
        let mut k = 0u64;
        while left > 0 {
            let size = rng.usize(200..=600).min(left);
            let kind = if k.is_multiple_of(2) {
                AuditKind::Mysql
            } else {
                AuditKind::Postgres
            };
            // audit_events numbers its ids from the seed: one seed per payload keeps them unique.
            let events = synth::audit_events(kind, size, t, seed * 10_000 + k);
            t = events.last().map_or(t, |e| e.timestamp) + 1;
            mix.audit.push(Payload {
                group: kind.log_group().into(),
                stream: "shop-db-instance-1".into(),
                events,
            });
            left -= size;
            k += 1;
        }

        mix.malformed = vec![
            b"not a subscription payload".to_vec(),
            logcore::base::codec::gzip(br#"{"messageType":"DATA_MESSAGE","logEvents":"#, 6),
            logcore::base::codec::gzip(br#"{"hello":"world"}"#, 6),
        ];
        mix
    }

    /// The mix with the largest events CloudWatch Logs accepts (1 MB each) added: an application payload
    /// per shape that JSON escapes worst (see `synth::worst_case_messages`), error lines so that the
    /// notifier reads them too, and audit lines of both engines whose statement is 1 MB of control
    /// characters or quotes.
    pub fn with_megabyte_events(mut self) -> Mix {
        let max = logcore::logs::cwl::MAX_MESSAGE_BYTES;
        let mut t = 1_763_800_000_000i64;
        let mut seq = 1u64 << 41;
        let mut own = |message: String| {
            t += 1;
            seq += 1;
            Event {
                id: synth::event_id(t, seq),
                timestamp: t,
                message,
            }
        };
        for (shape, m) in synth::worst_case_messages(max - 40) {
            let message = if m.starts_with('{') {
                m
            } else {
                format!("ERROR {shape}: {m}")
            };
            let at = self.app.len() / 2;
            self.app.insert(
                at,
                Payload {
                    group: APP_GROUPS[0].into(),
                    stream: "ecs/app/megabyte".into(),
                    events: vec![own(message)],
                },
            );
        }
        for unit in ["\u{1}", "''"] {
            let body = unit.repeat((max - 400) / unit.len());
            let pg = format!("2025-11-21 10:00:00 UTC:10.0.1.50(53422):app@shop:[12345]:LOG:  AUDIT: SESSION,7,1,WRITE,INSERT,TABLE,public.orders,\"INSERT INTO orders VALUES ('{body}')\",<not logged>");
            let my = format!("1763719200123456,ip-10-0-1-23,app,10.0.1.50,42,1337,QUERY,shop,'INSERT INTO orders VALUES (\\'{}\\')',0", body.replace('\'', "\\'"));
            for (kind, line) in [(AuditKind::Postgres, pg), (AuditKind::Mysql, my)] {
                let line: String = line.chars().take(max).collect();
                self.audit.push(Payload {
                    group: kind.log_group().into(),
                    stream: "shop-db-instance-1".into(),
                    events: vec![own(line)],
                });
            }
        }
        self
    }

    /// Every generated event with its log group.
    pub fn events(&self) -> impl Iterator<Item = (&str, &Event)> {
        self.app
            .iter()
            .chain(&self.audit)
            .flat_map(|p| p.events.iter().map(move |e| (p.group.as_str(), e)))
    }

    pub fn len(&self) -> usize {
        self.events().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of the events the transform's filter drops on purpose (by a test of our own, not the
    /// filter's code).
    pub fn excluded_ids(&self) -> std::collections::BTreeSet<String> {
        self.events()
            .filter(|(_, e)| e.message.contains(EXCLUDE_PATTERN))
            .map(|(_, e)| e.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_every_kind_and_unique_ids() {
        let mix = Mix::generate(20_000, 7, true);
        assert!((19_000..=21_000).contains(&mix.len()), "{}", mix.len());
        let ids: std::collections::BTreeSet<_> = mix.events().map(|(_, e)| &e.id).collect();
        assert_eq!(ids.len(), mix.len(), "event ids are unique");
        let audit: usize = mix.audit.iter().map(|p| p.events.len()).sum();
        assert!(audit >= 5_000, "{audit}");
        assert!(mix.audit.iter().any(|p| p.group.ends_with("/audit")));
        assert!(mix.audit.iter().any(|p| p.group.ends_with("/postgresql")));
        assert!(mix.events().any(|(_, e)| e.message.len() > 200_000));
        assert!(mix
            .events()
            .any(|(_, e)| e.message.contains(MAPPING_CONFLICT)));
        assert!(mix
            .events()
            .any(|(_, e)| e.message.contains("\tat com.example")));
        assert!(!mix.excluded_ids().is_empty());
        assert_eq!(mix.malformed.len(), 3);
        // Every payload stays under CloudWatch Logs' 1 MB.
        assert!(mix
            .app
            .iter()
            .chain(&mix.audit)
            .all(|p| { p.events.iter().map(|e| e.message.len() + 26).sum::<usize>() < 1_048_576 }));
        assert_eq!(
            Mix::generate(20_000, 7, true).app[3].events,
            mix.app[3].events,
            "deterministic"
        );
    }
}
