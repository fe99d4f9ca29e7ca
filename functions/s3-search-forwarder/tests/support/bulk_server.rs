//! A `_bulk` endpoint for tests only, on 127.0.0.1, written on raw TCP so that it can misbehave the way
//! real clusters do: whole-request 429 (with `Retry-After`) and 503, item-level 429 mixed with 201/409/400,
//! answers slower than the client's timeout, and connections reset before any answer. It keeps an index
//! (by `_index` and `_id`) so tests can count what arrived, and checks each request's framing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What to do with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Status(u16),
    /// 429 for every other item; the rest are indexed.
    ItemStorm,
    /// Wait this long before answering (nothing indexed).
    Slow(Duration),
    /// Close the connection after reading the request, without an answer (nothing indexed).
    Reset,
}

#[derive(Default)]
pub struct State {
    pub index: test_support::BulkIndex,
    pub faults: Vec<Fault>,
    pub requests: u64,
    /// Every request carried `Content-Type: application/x-ndjson` and, when gzip, `Content-Encoding: gzip`.
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
    pub async fn start(faults: Vec<Fault>) -> BulkServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            faults,
            ..State::default()
        }));
        let st = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
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

    pub fn docs(&self) -> usize {
        self.state.lock().unwrap().index.len()
    }
}

async fn serve(sock: TcpStream, st: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut r = BufReader::new(sock);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut len = 0usize;
        let (mut ndjson, mut gzip) = (false, false);
        loop {
            let mut h = String::new();
            r.read_line(&mut h).await?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap_or((h, ""));
            match k.to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "content-type" => ndjson = v.trim() == "application/x-ndjson",
                "content-encoding" => gzip = v.trim() == "gzip",
                _ => {}
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).await?;
        let fault = {
            let mut s = st.lock().unwrap();
            s.requests += 1;
            if !ndjson {
                s.bad_headers += 1;
            }
            (!s.faults.is_empty()).then(|| s.faults.remove(0))
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
                let body = if gzip { gunzip(&body) } else { body };
                (200, index(&st, &body, other == Some(Fault::ItemStorm)), "")
            }
        };
        let payload = serde_json::to_vec(&answer).unwrap();
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n",
            payload.len()
        );
        let w = r.get_mut();
        w.write_all(head.as_bytes()).await?;
        w.write_all(&payload).await?;
    }
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    logcore::codec::gunzip_capped(gz, 1 << 30).expect("a gzip body")
}

fn index(st: &Mutex<State>, body: &[u8], storm: bool) -> Value {
    test_support::index_bulk(&mut st.lock().unwrap().index, body, storm)
}
