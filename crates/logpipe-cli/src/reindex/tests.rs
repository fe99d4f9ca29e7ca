//! The reindex against an archive and a queue in memory: what is sent, in what order, how a run resumes,
//! what becomes of archived objects.

use std::collections::BTreeMap;
use std::sync::Mutex;

use canary::scan::KeyPrefix;
use logcore::logs::s3event::{parse_invocation_value, Invocation};
use serde_json::json;

use super::*;

#[derive(Default)]
struct FakeArchive {
    objects: BTreeMap<String, Listed>,
    /// Restore status by key (absent: never asked).
    restores: Mutex<BTreeMap<String, Restore>>,
    lists: Mutex<Vec<String>>,
    /// Intelligent-Tiering objects in an archive access tier, by key.
    tiers: Mutex<BTreeMap<String, String>>,
}

impl FakeArchive {
    fn put(&mut self, key: &str, size: u64, class: &str) {
        self.objects.insert(
            key.to_string(),
            Listed {
                key: key.to_string(),
                size,
                etag: Some(format!("etag-{size}")),
                last_modified: Some("2026-03-01T10:05:00.000Z".into()),
                class: class.to_string(),
                restored: false,
            },
        );
    }
}

impl Archive for FakeArchive {
    async fn list(&self, _bucket: &str, prefix: &str) -> Result<Vec<Listed>, CallError> {
        self.lists.lock().unwrap().push(prefix.to_string());
        // In reverse, to show the order is the plan's own.
        Ok(self
            .objects
            .values()
            .rev()
            .filter(|o| o.key.starts_with(prefix))
            .cloned()
            .collect())
    }
    async fn archive_status(&self, _: &str, key: &str) -> Result<Option<String>, CallError> {
        Ok(self.tiers.lock().unwrap().get(key).cloned())
    }
    async fn restore(
        &self,
        _: &str,
        key: &str,
        days: Option<u32>,
        _: &str,
    ) -> Result<Restore, CallError> {
        // Intelligent-Tiering takes no days (S3 refuses them).
        let tiered = self.tiers.lock().unwrap().contains_key(key);
        assert_eq!(days.is_none(), tiered, "{key}");
        let mut r = self.restores.lock().unwrap();
        Ok(match r.get(key) {
            Some(s) => *s,
            None => {
                r.insert(key.to_string(), Restore::InProgress);
                Restore::Requested
            }
        })
    }
    async fn restore_status(&self, _: &str, key: &str) -> Result<Option<Restore>, CallError> {
        Ok(self.restores.lock().unwrap().get(key).copied())
    }
}

#[derive(Default)]
struct FakeQueue {
    sent: Mutex<Vec<Outgoing>>,
    /// Batches accepted before every send fails (None: no limit).
    fail_after: Mutex<Option<usize>>,
    /// Entries refused once each, by id, in the next batch.
    refuse_once: Mutex<Vec<String>>,
    /// Depths answered, in order, then 0.
    depths: Mutex<Vec<u64>>,
}

impl Queue for FakeQueue {
    async fn send(&self, messages: &[Outgoing]) -> Result<Vec<(String, String)>, CallError> {
        assert!(messages.len() <= BATCH);
        if let Some(n) = self.fail_after.lock().unwrap().as_mut() {
            if *n == 0 {
                return Err(CallError::permanent("AccessDenied: the run is cut here"));
            }
            *n -= 1;
        }
        let refuse: Vec<String> = std::mem::take(&mut *self.refuse_once.lock().unwrap());
        let mut refused = Vec::new();
        for m in messages {
            if refuse.contains(&m.id) {
                refused.push((m.id.clone(), "InternalError: try again".to_string()));
            } else {
                self.sent.lock().unwrap().push(m.clone());
            }
        }
        Ok(refused)
    }
    async fn depth(&self) -> Result<u64, CallError> {
        let mut d = self.depths.lock().unwrap();
        Ok(if d.is_empty() { 0 } else { d.remove(0) })
    }
}

fn ms(s: &str) -> i64 {
    logcore::base::time::parse_rfc3339_ms(s).unwrap()
}

fn job(dir: &std::path::Path, layout: KeyLayout, groups: &[&str]) -> Job {
    Job {
        bucket: "archive".into(),
        region: "eu-west-1".into(),
        layout,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        from_ms: ms("2026-03-01T10:00:00Z"),
        to_ms: ms("2026-03-01T12:00:00Z"),
        restore_label: None,
        pace: Pace {
            rate: 1e6,
            max_queued: 0,
            queue_poll: Duration::from_millis(1),
            backoff: Backoff {
                base: Duration::from_millis(1),
                max_delay: Duration::from_millis(2),
                max_attempts: 3,
            },
        },
        restore: None,
        dry_run: false,
        state_path: dir.join("state.json"),
        arguments: "test".into(),
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("logpipe-reindex-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The keys the forwarder would read from the messages sent, as it reads them.
fn sent_keys(q: &FakeQueue) -> Vec<String> {
    q.sent
        .lock()
        .unwrap()
        .iter()
        .map(|m| {
            let ev = json!({"Records":[{"eventSource":"aws:sqs","messageId":"m","body": m.body}]});
            let Ok(Invocation::Sqs(msgs)) = parse_invocation_value(&ev) else {
                panic!("not an SQS invocation")
            };
            let objects = &msgs[0].content.as_ref().unwrap().objects;
            assert_eq!(objects.len(), 1);
            assert_eq!(objects[0].bucket, "archive");
            objects[0].key.clone()
        })
        .collect()
}

fn bar() -> indicatif::ProgressBar {
    indicatif::ProgressBar::hidden()
}

fn time_archive() -> FakeArchive {
    let mut a = FakeArchive::default();
    for h in ["09", "10", "11", "12"] {
        for i in 0..7 {
            a.put(
                &format!("logs/2026/03/01/{h}/s-{i:02}.gz"),
                100 + i,
                "STANDARD",
            );
        }
    }
    a.put("audit/2026/03/01/10/a.gz", 5, "STANDARD");
    a
}

#[tokio::test]
async fn a_range_sends_exactly_its_objects_once_in_key_order() {
    let dir = temp_dir("range");
    let archive = time_archive();
    let queue = FakeQueue::default();
    let mut j = job(&dir, KeyLayout::Time(KeyPrefix::default()), &[]);
    j.restore_label = Some("march".into());
    let out = run(&j, &archive, &queue, &bar()).await.unwrap();
    let want: Vec<String> = ["10", "11"]
        .iter()
        .flat_map(|h| (0..7).map(move |i| format!("logs/2026/03/01/{h}/s-{i:02}.gz")))
        .collect();
    assert_eq!(sent_keys(&queue), want);
    assert_eq!((out.objects, out.sent_objects), (14, 14));
    assert_eq!(out.sent_bytes, 2 * (0..7).map(|i| 100 + i).sum::<u64>());
    assert_eq!(
        *archive.lists.lock().unwrap(),
        ["logs/2026/03/01/10/", "logs/2026/03/01/11/"]
    );
    // Every message carries the label, and the size and ETag S3 listed.
    let sent = queue.sent.lock().unwrap().clone();
    assert!(sent
        .iter()
        .all(|m| m.attributes == [("logpipe.restore".to_string(), "march".to_string())]));
    let first: serde_json::Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(first["Records"][0]["s3"]["object"]["eTag"], "etag-100");
    assert_eq!(first["Records"][0]["awsRegion"], "eu-west-1");
    // A finished run leaves no state: the same arguments again send everything again.
    assert!(!j.state_path.exists());
    let again = FakeQueue::default();
    run(&j, &archive, &again, &bar()).await.unwrap();
    assert_eq!(sent_keys(&again), want);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn groups_of_the_partitioned_layout_with_special_characters() {
    let dir = temp_dir("groups");
    let mut archive = FakeArchive::default();
    for g in ["ecs/api", "ecs/my app+1", "aws/lambda/fn"] {
        for d in ["2026-02-28", "2026-03-01", "2026-03-02"] {
            archive.put(&format!("logs/{g}/{d}/part-1.gz"), 10, "STANDARD");
        }
    }
    let queue = FakeQueue::default();
    let j = job(
        &dir,
        KeyLayout::Partitioned {
            root: "logs/".into(),
        },
        &["/ecs/*", "/ecs/api"],
    );
    run(&j, &archive, &queue, &bar()).await.unwrap();
    assert_eq!(
        sent_keys(&queue),
        [
            "logs/ecs/api/2026-03-01/part-1.gz",
            "logs/ecs/my app+1/2026-03-01/part-1.gz"
        ]
    );
    // The key as S3 would write it in a notification: encoded.
    assert!(queue.sent.lock().unwrap()[1]
        .body
        .contains("logs/ecs/my%20app%2B1/2026-03-01/part-1.gz"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_interrupted_run_resumes_after_its_last_batch() {
    let dir = temp_dir("resume");
    let archive = time_archive();
    let j = job(&dir, KeyLayout::Time(KeyPrefix::default()), &[]);
    let cut = FakeQueue::default();
    *cut.fail_after.lock().unwrap() = Some(1);
    let e = run(&j, &archive, &cut, &bar()).await.unwrap_err();
    assert!(
        e.contains("SendMessageBatch") && e.contains("AccessDenied"),
        "{e}"
    );
    let first = sent_keys(&cut);
    assert_eq!(first.len(), BATCH);
    let st = state::load(&j.state_path, "test").unwrap().unwrap();
    assert_eq!(
        (st.objects_sent, st.last_key.as_deref()),
        (10, Some(first[9].as_str()))
    );

    let rest = FakeQueue::default();
    let out = run(&j, &archive, &rest, &bar()).await.unwrap();
    assert_eq!((out.resumed_objects, out.sent_objects), (10, 4));
    let mut all = first;
    all.extend(sent_keys(&rest));
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!((all.len(), unique.len()), (14, 14));
    assert!(!j.state_path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn refused_entries_are_sent_again_and_a_full_queue_is_waited_for() {
    let dir = temp_dir("refused");
    let archive = time_archive();
    let mut j = job(&dir, KeyLayout::Time(KeyPrefix::default()), &[]);
    j.pace.max_queued = 50;
    let queue = FakeQueue::default();
    *queue.refuse_once.lock().unwrap() = vec!["3".into(), "7".into()];
    *queue.depths.lock().unwrap() = vec![80, 60, 49];
    let out = run(&j, &archive, &queue, &bar()).await.unwrap();
    assert_eq!(out.sent_objects, 14);
    let mut keys = sent_keys(&queue);
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 14);
    // The depth was asked until it fell under the bound, then once a batch.
    assert!(queue.depths.lock().unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn archived_objects_are_reported_restored_on_request_and_sent_once_readable() {
    let dir = temp_dir("glacier");
    let mut archive = time_archive();
    archive.put("logs/2026/03/01/10/s-07.gz", 1_000, "GLACIER");
    archive.put("logs/2026/03/01/11/s-07.gz", 2_000, "DEEP_ARCHIVE");
    archive.put("logs/2026/03/01/11/s-08.gz", 3_000, "GLACIER_IR");
    // Intelligent-Tiering: one in its archive access tier, one readable.
    archive.put("logs/2026/03/01/11/s-09.gz", 4_000, "INTELLIGENT_TIERING");
    archive.put("logs/2026/03/01/11/s-10.gz", 5_000, "INTELLIGENT_TIERING");
    archive
        .tiers
        .lock()
        .unwrap()
        .insert("logs/2026/03/01/11/s-09.gz".into(), "ARCHIVE_ACCESS".into());
    let mut j = job(&dir, KeyLayout::Time(KeyPrefix::default()), &[]);

    // Dry run: counted, nothing sent, nothing asked.
    j.dry_run = true;
    let q = FakeQueue::default();
    let out = run(&j, &archive, &q, &bar()).await.unwrap();
    assert_eq!((out.objects, out.archived.len()), (16, 3));
    assert_eq!(out.first_keys.len(), 10);
    assert!(q.sent.lock().unwrap().is_empty() && !j.state_path.exists());
    let text = command::report(&j, "q", &out);
    assert!(text.contains("would send 16"), "{text}");
    assert!(
        text.contains("in storage class INTELLIGENT_TIERING (ARCHIVE_ACCESS)"),
        "{text}"
    );
    assert!(
        text.contains("1 objects (0.0 MB) in storage class GLACIER"),
        "{text}"
    );
    assert!(text.contains("--restore"), "{text}");

    // Sent: the readable ones (Glacier Instant Retrieval reads like Standard); restores asked.
    j.dry_run = false;
    j.restore = Some((7, "Bulk".into()));
    let q = FakeQueue::default();
    let out = run(&j, &archive, &q, &bar()).await.unwrap();
    assert_eq!((out.sent_objects, out.restores_requested), (16, 3));
    assert!(out.state_kept);
    assert!(!sent_keys(&q).iter().any(|k| k.ends_with("s-07.gz")));

    // Still under way: nothing more; once done, the next run sends just those.
    let q = FakeQueue::default();
    let out = run(&j, &archive, &q, &bar()).await.unwrap();
    assert_eq!((out.sent_objects, out.restores_in_progress), (0, 3));
    archive
        .restores
        .lock()
        .unwrap()
        .values_mut()
        .for_each(|r| *r = Restore::Done);
    archive.tiers.lock().unwrap().clear();
    let q = FakeQueue::default();
    let out = run(&j, &archive, &q, &bar()).await.unwrap();
    assert_eq!(
        sent_keys(&q),
        [
            "logs/2026/03/01/10/s-07.gz",
            "logs/2026/03/01/11/s-07.gz",
            "logs/2026/03/01/11/s-09.gz"
        ]
    );
    assert!(out.archived.is_empty() && !out.state_kept && !j.state_path.exists());

    // A listing that shows the restored copy (S3's RestoreStatus): sent once, from the listing.
    archive
        .objects
        .values_mut()
        .for_each(|o| o.restored = false);
    archive.restores.lock().unwrap().clear();
    let q = FakeQueue::default();
    run(&j, &archive, &q, &bar()).await.unwrap();
    assert!(j.state_path.exists());
    for o in archive.objects.values_mut() {
        o.restored = ARCHIVE_CLASSES.contains(&o.class.as_str());
    }
    let q = FakeQueue::default();
    let out = run(&j, &archive, &q, &bar()).await.unwrap();
    assert_eq!(
        sent_keys(&q),
        ["logs/2026/03/01/10/s-07.gz", "logs/2026/03/01/11/s-07.gz"]
    );
    assert_eq!(out.sent_objects, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
