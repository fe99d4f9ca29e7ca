//! The async side of forwarding an object: one batch sent until every item is created, already there or
//! refused for good (a dead letter), split when the cluster finds it too large, retried within the deadline.

use std::time::Duration;

use logcore::search::bulk::{Batch, DeadLetter, ItemOutcome, Origin};
use logpipe_io::lambda::Deadline;

use super::{time_for_a_request, Forwarded};
use crate::reply::{classify, Verdict};
use crate::{Config, Search};

#[derive(Default)]
pub(crate) struct BatchResult {
    /// Indexed, already indexed, requests, retries, and the documents in `dead` (dead-lettered once
    /// they are written).
    pub(crate) forwarded: Forwarded,
    pub(crate) first_offset: u64,
    pub(crate) dead: Vec<u8>,
    pub(crate) error: Option<String>,
    /// The batch as it was sent, to be reused once every item has its outcome.
    pub(crate) spare: Option<Batch>,
    /// Which batch of the object this was ([`Progress::sent`]).
    pub(crate) seq: u64,
}

/// Send one batch until every item is created, already there, or refused for good (dead letter), or
/// until attempts or time run out (then `error` says so and the object is delivered again).
pub(crate) async fn send_batch<E: Search>(
    cfg: &Config,
    search: &E,
    src: &Origin,
    batch: Batch,
    gz: Option<Vec<u8>>,
    deadline: Deadline,
    seq: u64,
) -> BatchResult {
    let mut res = BatchResult {
        first_offset: batch.items.first().map_or(0, |i| i.offset),
        seq,
        ..BatchResult::default()
    };
    let mut rng = fastrand::Rng::new();
    // Batches still to send: a 413 splits one into halves. The first is kept whole for reuse.
    let mut work = vec![(batch, gz)];
    let mut first = true;
    while let Some((mut cur, mut ready)) = work.pop() {
        let mut attempts = 0u32;
        loop {
            // A first attempt starts only if it can finish before the deadline (retries are checked
            // below, with their delay).
            if attempts == 0 {
                if let Err(e) = time_for_a_request(cfg, &deadline) {
                    let unsent = cur.len() + waiting(&work);
                    res.error = Some(format!("{unsent} documents not sent: {e}"));
                    return res;
                }
            }
            attempts += 1;
            res.forwarded.bulk_requests += 1;
            res.forwarded.bulk_retries += u64::from(attempts > 1);
            let body = ready.take().unwrap_or_else(|| request_body(cfg, &cur));
            let answer = tokio::time::timeout(cfg.request_timeout, search.bulk(body, cfg.gzip))
                .await
                .ok();
            let (retry, reason, retry_after) = match classify(answer, cur.len()) {
                Verdict::Items(outcomes) => {
                    let (retry, reason) = take_outcomes(&mut res, src, &cur, outcomes);
                    (retry, reason, None)
                }
                Verdict::Retry { reason, after } => ((0..cur.len()).collect(), reason, after),
                Verdict::TooLarge if cur.len() > 1 => {
                    // The halves go on the stack second first, so the first half is sent next.
                    let (first, second) = halves(&cur);
                    work.push((second, None));
                    work.push((first, None));
                    break;
                }
                Verdict::TooLarge => {
                    dead_letter(
                        &mut res,
                        src,
                        &cur,
                        0,
                        413,
                        "request_too_large",
                        "the document alone exceeds the cluster's request size limit",
                    );
                    break;
                }
                Verdict::Fail(why) => {
                    // Authentication, authorization, a wrong URL: no retry will help, and the documents
                    // are not at fault. Fail the object so it is delivered again.
                    let undelivered = cur.len() + waiting(&work);
                    res.error = Some(format!("{why}; {undelivered} documents not indexed"));
                    return res;
                }
            };
            if retry.is_empty() {
                break;
            }
            let delay = cfg
                .backoff
                .delay(attempts, &mut rng)
                .max(retry_after.unwrap_or(Duration::ZERO));
            let remaining = deadline.left();
            if !cfg
                .backoff
                .may_retry(attempts, delay, cfg.request_timeout, remaining)
            {
                let undelivered = retry.len() + waiting(&work);
                res.error = Some(format!(
                    "{undelivered} documents not indexed after {attempts} attempts, last: {reason}"
                ));
                return res;
            }
            tokio::time::sleep(delay).await;
            cur = cur.subset(&retry);
        }
        if std::mem::take(&mut first) {
            res.spare = Some(cur);
        }
    }
    res
}

/// The documents of the batches still waiting to be sent.
fn waiting(work: &[(Batch, Option<Vec<u8>>)]) -> usize {
    work.iter().map(|(b, _)| b.len()).sum()
}

/// The request body of a batch: gzip-compressed when the configuration says so.
fn request_body(cfg: &Config, batch: &Batch) -> Vec<u8> {
    if cfg.gzip {
        logcore::base::codec::gzip(&batch.body, cfg.gzip_level)
    } else {
        batch.body.clone()
    }
}

/// A batch the cluster found too large, cut in two (first half, second half).
fn halves(batch: &Batch) -> (Batch, Batch) {
    let half = batch.len() / 2;
    let first: Vec<usize> = (0..half).collect();
    let second: Vec<usize> = (half..batch.len()).collect();
    (batch.subset(&first), batch.subset(&second))
}

/// Count a batch's item outcomes in, dead-letter the refused documents; the indices to send again and the
/// last reason for it.
fn take_outcomes(
    res: &mut BatchResult,
    src: &Origin,
    batch: &Batch,
    outcomes: Vec<ItemOutcome>,
) -> (Vec<usize>, String) {
    let mut retry = Vec::new();
    let mut reason = String::new();
    for (i, o) in outcomes.into_iter().enumerate() {
        match o {
            ItemOutcome::Created => res.forwarded.indexed += 1,
            ItemOutcome::Exists => res.forwarded.already_indexed += 1,
            ItemOutcome::Retry { status, reason: r } => {
                reason = format!("item status {status}: {r}");
                retry.push(i);
            }
            ItemOutcome::Rejected {
                status,
                error_type,
                reason,
            } => dead_letter(res, src, batch, i, status, &error_type, &reason),
        }
    }
    (retry, reason)
}

fn dead_letter(
    res: &mut BatchResult,
    src: &Origin,
    batch: &Batch,
    i: usize,
    status: u16,
    error_type: &str,
    reason: &str,
) {
    let item = &batch.items[i];
    DeadLetter {
        src,
        offset: item.offset,
        len: (batch.doc(item).len()) as u64,
        reason,
        status: Some(status),
        error_type: Some(error_type),
        action: Some(batch.action(item)),
        data: batch.doc(item),
    }
    .write(&mut res.dead);
    res.forwarded.dead_lettered += 1;
    if let Some(cause) = logcore::search::index_setup::cluster_cause(error_type, reason) {
        // Not the document: the cluster refuses writes (alarmed apart from mapping errors).
        if res.forwarded.refused_by_cluster == 0 {
            tracing::error!(
                cause, error_type, reason, index = %String::from_utf8_lossy(batch.action(item)),
                "the search cluster refuses writes; documents are dead-lettered with this cause"
            );
        }
        res.forwarded.refused_by_cluster += 1;
    }
}
