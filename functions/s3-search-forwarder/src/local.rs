//! The local stand-in for the `_bulk` endpoint, used by the `logpipe` CLI (forward, replay, bench): an NDJSON
//! file that takes every action (the store is `logpipe_io::store::DirStore`). The handler code is the
//! Lambda's; only the adapters differ.

use std::io::Write;
use std::sync::Mutex;

use crate::{CallError, Reply, Search};

/// The number of actions in a `_bulk` body (`create` lines, each followed by its document).
pub fn count_actions(body: &[u8]) -> usize {
    let lines = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    lines / 2
}

/// A `_bulk` answer that takes every one of `actions` actions (201 created).
pub fn created_reply(actions: usize) -> Vec<u8> {
    const ITEM: &[u8] = br#"{"create":{"status":201,"result":"created"}}"#;
    let mut out = Vec::with_capacity(32 + actions * (ITEM.len() + 1));
    out.extend_from_slice(br#"{"took":0,"errors":false,"items":["#);
    for i in 0..actions {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(ITEM);
    }
    out.extend_from_slice(b"]}");
    out
}

/// A `_bulk` endpoint that appends every request body (decompressed) to a writer and takes every action:
/// what would be sent to the search engine, for reading instead of indexing.
pub struct NdjsonSink {
    out: Mutex<Box<dyn Write + Send>>,
}

impl NdjsonSink {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        NdjsonSink {
            out: Mutex::new(out),
        }
    }
}

impl Search for NdjsonSink {
    async fn bulk(&self, body: Vec<u8>, gzip: bool) -> Result<Reply, CallError> {
        let body = if gzip {
            logcore::base::codec::gunzip_capped(&body, usize::MAX)
                .map_err(|e| CallError::permanent(format!("the bulk body is not gzip: {e}")))?
        } else {
            body
        };
        let mut out = self
            .out
            .lock()
            .map_err(|_| CallError::permanent("the NDJSON sink failed earlier"))?;
        out.write_all(&body)
            .and_then(|()| out.flush())
            .map_err(|e| CallError::permanent(format!("writing the bulk bodies: {e}")))?;
        Ok(Reply {
            status: 200,
            body: created_reply(count_actions(&body)),
            retry_after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn replies_take_every_action() {
        let body = b"{\"create\":{}}\n{\"a\":1}\n{\"create\":{}}\n{\"b\":2}\n";
        assert_eq!(count_actions(body), 2);
        let outcomes = logcore::search::bulk::parse_bulk_response(&created_reply(2), 2).unwrap();
        assert!(outcomes
            .iter()
            .all(|o| *o == logcore::search::bulk::ItemOutcome::Created));
        assert!(
            logcore::search::bulk::parse_bulk_response(&created_reply(0), 0)
                .unwrap()
                .is_empty()
        );
    }

    /// Writes into a shared buffer, so the test can read what the sink wrote.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_ndjson_sink_keeps_decompressed_bodies() {
        let buf = Shared::default();
        let sink = NdjsonSink::new(Box::new(buf.clone()));
        let body = b"{\"create\":{}}\n{\"a\":1}\n".to_vec();
        let r = sink
            .bulk(logcore::base::codec::gzip(&body, 1), true)
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            logcore::search::bulk::parse_bulk_response(&r.body, 1).unwrap(),
            vec![logcore::search::bulk::ItemOutcome::Created]
        );
        sink.bulk(body.clone(), false).await.unwrap();
        assert_eq!(*buf.0.lock().unwrap(), [body.clone(), body].concat());
        assert!(sink.bulk(b"not gzip".to_vec(), true).await.is_err());
    }
}
