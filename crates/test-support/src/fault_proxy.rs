//! A fault-injecting HTTP proxy in front of moto, for tests only.
//!
//! moto accepts every record of `PutRecordBatch` (Firehose) and `PutRecords` (Kinesis). To exercise partial
//! failures through the real wire protocol and the real SDK parsing, this proxy withholds chosen records from
//! the request it forwards and reports them in the response as failed entries, the way AWS reports
//! throttled records (`FailedPutCount` / `FailedRecordCount`, with `ErrorCode` and `ErrorMessage`). It can
//! also fail whole calls with a throttling error: the put calls, or the calls of any other operation.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};

/// What the proxy does to put calls.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// For the first `partial_calls` put calls, withhold every record whose index is `i % every == 0`.
    pub partial_calls: usize,
    pub every: usize,
    /// Answer the first `throttle_calls` put calls with a whole-call ThrottlingException (HTTP 400) …
    pub throttle_calls: usize,
    /// … or, when set, the first `throttle_calls` calls whose `X-Amz-Target` ends with this
    /// (`.PutSubscriptionFilter`, say).
    pub throttle_target: Option<&'static str>,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub put_calls: usize,
    /// Calls that the throttle applies to (put calls, or those of `throttle_target`).
    pub throttle_candidates: usize,
    pub withheld: usize,
    pub throttled: usize,
}

pub struct FaultProxy {
    pub url: String,
    pub stats: Arc<Mutex<Stats>>,
}

impl FaultProxy {
    pub async fn start(upstream: String, faults: Faults) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr: SocketAddr = listener.local_addr().unwrap();
        let stats = Arc::new(Mutex::new(Stats::default()));
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let state = Arc::new((upstream, faults, stats.clone(), client));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let state = state.clone();
                        async move {
                            let (upstream, faults, stats, client) = &*state;
                            Ok::<_, Infallible>(handle(req, upstream, faults, stats, client).await)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FaultProxy {
            url: format!("http://{addr}"),
            stats,
        }
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn handle(
    req: Request<Incoming>,
    upstream: &str,
    faults: &Faults,
    stats: &Mutex<Stats>,
    client: &HttpClient,
) -> Response<Full<Bytes>> {
    let (mut parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let kind = if target.ends_with(".PutRecordBatch") {
        Some(("Records", "RequestResponses", "FailedPutCount"))
    } else if target.ends_with(".PutRecords") {
        Some(("Records", "Records", "FailedRecordCount"))
    } else {
        None
    };
    let mut withheld: Vec<usize> = Vec::new();
    let mut body = body;
    let put_call = kind.map(|_| {
        let mut s = stats.lock().unwrap();
        s.put_calls += 1;
        s.put_calls
    });
    let throttled_kind = match faults.throttle_target {
        Some(t) => target.ends_with(t),
        None => kind.is_some(),
    };
    if throttled_kind {
        let call = {
            let mut s = stats.lock().unwrap();
            s.throttle_candidates += 1;
            s.throttle_candidates
        };
        if call <= faults.throttle_calls {
            stats.lock().unwrap().throttled += 1;
            let err =
                json!({"__type": "ThrottlingException", "message": "Rate exceeded (injected)"});
            return Response::builder()
                .status(400)
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amzn-errortype", "ThrottlingException")
                .body(Full::new(Bytes::from(err.to_string())))
                .unwrap();
        }
    }
    // Partial failures come after the throttled put calls, if those are throttled.
    let first_partial = match faults.throttle_target {
        None => faults.throttle_calls,
        Some(_) => 0,
    };
    if let (Some((req_field, _, _)), Some(call)) = (kind, put_call) {
        if call <= first_partial + faults.partial_calls && faults.every > 0 {
            let mut v: Value = serde_json::from_slice(&body).expect("put request is JSON");
            let records = v[req_field].as_array_mut().expect("Records array");
            let all = std::mem::take(records);
            for (i, r) in all.into_iter().enumerate() {
                if i % faults.every == 0 {
                    withheld.push(i);
                } else {
                    records.push(r);
                }
            }
            stats.lock().unwrap().withheld += withheld.len();
            body = Bytes::from(serde_json::to_vec(&v).unwrap());
        }
    }
    let uri = format!(
        "{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    parts.uri = uri.parse().unwrap();
    parts.headers.remove("host");
    parts.headers.insert("content-length", body.len().into());
    let resp = client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
        .expect("moto answers");
    let (mut rparts, rbody) = resp.into_parts();
    let mut rbody = rbody.collect().await.unwrap().to_bytes();
    if let (Some((_, resp_field, count_field)), false) = (kind, withheld.is_empty()) {
        if rparts.status.is_success() {
            let mut v: Value = serde_json::from_slice(&rbody).expect("put response is JSON");
            let accepted = std::mem::take(v[resp_field].as_array_mut().expect("response array"));
            let mut accepted = accepted.into_iter();
            let total = accepted.len() + withheld.len();
            let merged: Vec<Value> = (0..total)
                .map(|i| {
                    if withheld.contains(&i) {
                        json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down (injected)"})
                    } else {
                        accepted.next().unwrap()
                    }
                })
                .collect();
            v[resp_field] = Value::Array(merged);
            v[count_field] = json!(withheld.len());
            rbody = Bytes::from(serde_json::to_vec(&v).unwrap());
            rparts.headers.insert("content-length", rbody.len().into());
            rparts.headers.remove("x-amz-crc32");
        }
    }
    Response::from_parts(rparts, Full::new(rbody))
}
