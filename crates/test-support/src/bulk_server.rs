//! A `_bulk` endpoint for tests only, on 127.0.0.1, written on raw TCP so that it can misbehave the way
//! real clusters do: whole-request 429 (with `Retry-After`) and 503, item-level 429 mixed with 201/409/400,
//! answers slower than the client's timeout, and connections reset before any answer. It keeps an index
//! (by `_index` and `_id`) so tests can count what arrived, and checks each request's headers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};

use crate::http::{read_request, write_response};

/// What to do with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Served as usual (to let requests through between faults).
    Pass,
    Status(u16),
    /// 429 for every other item; the rest are indexed.
    ItemStorm,
    /// Wait this long before answering 503 (nothing indexed).
    Slow(Duration),
    /// Wait this long, then index and answer as usual: a slow but healthy cluster.
    Late(Duration),
    /// Close the connection after reading the request, without an answer (nothing indexed).
    Reset,
}

#[derive(Default)]
pub struct State {
    pub index: crate::BulkIndex,
    /// The faults of the next requests, in order; then every request is served.
    pub faults: std::collections::VecDeque<Fault>,
    pub requests: u64,
    /// Requests without `Content-Type: application/x-ndjson`.
    pub bad_headers: u64,
}

pub struct BulkServer {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BulkServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BulkServer {
    /// Serve on a free port of 127.0.0.1 until dropped; the first requests meet `faults`, in order.
    pub async fn start(faults: Vec<Fault>) -> BulkServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1");
        let addr = listener.local_addr().expect("a bound address");
        let state = Arc::new(Mutex::new(State {
            faults: faults.into(),
            ..State::default()
        }));
        let st = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let st = Arc::clone(&st);
                tokio::spawn(async move {
                    let _ = serve(sock, st).await;
                });
            }
        });
        BulkServer {
            url: format!("http://{addr}"),
            state,
            task,
        }
    }

    /// Documents held.
    pub fn docs(&self) -> usize {
        self.lock().index.len()
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn serve(sock: TcpStream, st: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut r = BufReader::new(sock);
    while let Some(req) = read_request(&mut r).await? {
        let fault = {
            let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
            s.requests += 1;
            if req.header("content-type") != Some("application/x-ndjson") {
                s.bad_headers += 1;
            }
            s.faults.pop_front()
        };
        let (status, answer, extra) = match fault {
            Some(Fault::Reset) => return Ok(()),
            Some(Fault::Slow(d)) => {
                tokio::time::sleep(d).await;
                (503, json!({"error":"slow"}), "")
            }
            Some(Fault::Status(s)) => (
                s,
                json!({"error":{"type":"injected","reason":"injected"},"status":s}),
                if s == 429 { "Retry-After: 0\r\n" } else { "" },
            ),
            other => {
                if let Some(Fault::Late(d)) = other {
                    tokio::time::sleep(d).await;
                }
                let body = if req.header("content-encoding") == Some("gzip") {
                    logcore::base::codec::gunzip_capped(&req.body, 1 << 30).expect("a gzip body")
                } else {
                    req.body
                };
                let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
                let answer =
                    crate::index_bulk(&mut s.index, &body, other == Some(Fault::ItemStorm));
                (200, answer, "")
            }
        };
        let payload = serde_json::to_vec(&answer).expect("JSON");
        write_response(r.get_mut(), status, "application/json", extra, &payload).await?;
    }
    Ok(())
}
