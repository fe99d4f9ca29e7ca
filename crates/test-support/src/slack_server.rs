//! A stand-in for Slack (incoming webhooks and `chat.postMessage`) on 127.0.0.1 that answers from a
//! script: 429 with Retry-After, 5xx, answers slower than the client's timeout, permanent errors. It keeps
//! every request it received and what it answered.
//!
//! As Slack does, a 429 with Retry-After opens a window: every request inside it is answered 429 again,
//! with the seconds still to wait, whatever the script says next (the script is not consumed).
//!
//! A `200 ok` to `chat.postMessage` (a path ending so) is answered as the Web API answers it: JSON with
//! `ok`, the channel's id (a `#name` becomes an id, as Slack resolves it) and a new message `ts`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::BufReader;
use tokio::net::TcpListener;

use crate::http::{read_request, write_response};

/// One scripted answer: status, Retry-After (seconds), body, and a delay before answering.
#[derive(Debug, Clone)]
pub struct Answer(pub u16, pub Option<u64>, pub &'static str, pub Duration);

/// `200 ok`, at once.
pub fn ok() -> Answer {
    Answer(200, None, "ok", Duration::ZERO)
}

/// What the stand-in received: the request's path, its authorization header, the JSON body, and the
/// status it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub auth: Option<String>,
    pub body: Value,
    pub status: u16,
    /// The body it answered.
    pub answer: String,
    /// When it arrived.
    pub at: std::time::Instant,
}

pub struct SlackServer {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SlackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SlackServer {
    /// Serve until dropped; every request takes the next answer of the script (then `200 ok`).
    pub async fn start(script: Vec<Answer>) -> SlackServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("a bound address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        // The end of the current Retry-After window, if one is open.
        let window: Arc<Mutex<Option<std::time::Instant>>> = Arc::default();
        let rec = Arc::clone(&received);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (rec, script, window) =
                    (Arc::clone(&rec), Arc::clone(&script), Arc::clone(&window));
                tokio::spawn(async move {
                    let mut r = BufReader::new(sock);
                    while let Ok(Some(req)) = read_request(&mut r).await {
                        let now = std::time::Instant::now();
                        let Answer(status, retry_after, text, delay) = {
                            let mut open = window.lock().unwrap_or_else(|p| p.into_inner());
                            let answer = match *open {
                                Some(until) if until > now => {
                                    let left = (until - now).as_millis().div_ceil(1000) as u64;
                                    Answer(429, Some(left), "rate limited", Duration::ZERO)
                                }
                                _ => script
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .pop_front()
                                    .unwrap_or_else(ok),
                            };
                            if let (429, Some(secs)) = (answer.0, answer.1) {
                                *open = Some(now + Duration::from_secs(secs));
                            }
                            answer
                        };
                        let body: Value = serde_json::from_slice(&req.body).expect("a JSON body");
                        let (answer, content_type) = match (status, text) {
                            (200, "ok") if req.path.ends_with("/chat.postMessage") => {
                                (web_api_answer(&body), "application/json; charset=utf-8")
                            }
                            (_, text) => (text.to_string(), "text/plain"),
                        };
                        rec.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(Received {
                                auth: req.header("authorization").map(str::to_string),
                                path: req.path,
                                body,
                                status,
                                answer: answer.clone(),
                                at: now,
                            });
                        tokio::time::sleep(delay).await;
                        let text = answer.as_str();
                        let extra = retry_after
                            .map(|s| format!("retry-after: {s}\r\n"))
                            .unwrap_or_default();
                        let w = write_response(
                            r.get_mut(),
                            status,
                            content_type,
                            &extra,
                            text.as_bytes(),
                        );
                        if w.await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        SlackServer {
            url,
            received,
            task,
        }
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// `chat.postMessage`'s answer to a posted message: the channel's id (`#alerts` → `C0ALERTS`) and a `ts`
/// unique to this process, seconds and a sequence as Slack writes them.
fn web_api_answer(body: &Value) -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let channel = body["channel"].as_str().unwrap_or("");
    let id = match channel.strip_prefix('#') {
        Some(name) => format!(
            "C0{}",
            name.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_uppercase()
        ),
        None => channel.to_string(),
    };
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ts = format!(
        "{secs}.{:06}",
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut message = serde_json::json!({"type": "message", "subtype": "bot_message",
        "text": body["text"], "ts": ts, "bot_id": "B0LOGPIPE"});
    if let Some(parent) = body.get("thread_ts") {
        message["thread_ts"] = parent.clone();
    }
    serde_json::json!({"ok": true, "channel": id, "ts": ts, "message": message}).to_string()
}
