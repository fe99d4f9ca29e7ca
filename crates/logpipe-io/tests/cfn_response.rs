//! The custom resource response against a stand-in for S3's pre-signed PUT that misbehaves as S3 does: it
//! resets connections, answers `503 SlowDown` (S3's XML error, no Retry-After) under load, and `403
//! AccessDenied` once the URL has expired. The response must get through the first two within its
//! deadline, give up on the third at once, and never name the URL (a credential).

// Test code: an unwrap that fails is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logcore::base::cfn::Response;
use logpipe_io::cfn::{HttpRespond, Respond};
use test_support::http::{read_request, write_response, Request};
use tokio::io::BufReader;
use tokio::net::TcpListener;
use tokio::time::Instant;

#[derive(Clone, Copy)]
enum Answer {
    /// Close the connection without a word.
    Reset,
    SlowDown,
    Expired,
    Ok,
}

const SLOW_DOWN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
<Message>Please reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
const EXPIRED: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
<Message>Request has expired</Message><X-Amz-Expires>7200</X-Amz-Expires></Error>";

/// Serves the script, then `default` for ever; keeps every request.
async fn s3_standin(script: Vec<Answer>, default: Answer) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/cloudformation-custom-resource-response-useast1/arn%3Aaws%3Acloudformation/resp\
         ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=secret0123",
        listener.local_addr().unwrap()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let rec = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (rec, script) = (Arc::clone(&rec), Arc::clone(&script));
            tokio::spawn(async move {
                let mut r = BufReader::new(sock);
                while let Ok(Some(req)) = read_request(&mut r).await {
                    rec.lock().unwrap().push(req);
                    let next = script.lock().unwrap().pop_front().unwrap_or(default);
                    let (status, body) = match next {
                        Answer::Reset => return,
                        Answer::SlowDown => (503, SLOW_DOWN),
                        Answer::Expired => (403, EXPIRED),
                        Answer::Ok => (200, ""),
                    };
                    let extra = "x-amz-request-id: 4442587FB7D0A2F9\r\netag: \"d41d8cd9\"\r\n";
                    if write_response(
                        r.get_mut(),
                        status,
                        "application/xml",
                        extra,
                        body.as_bytes(),
                    )
                    .await
                    .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

fn response() -> Response {
    let req = logcore::base::cfn::Request::from_event(&serde_json::json!({
        "RequestType": "Create", "ResponseURL": "https://unused", "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        "RequestId": "r-1", "LogicalResourceId": "AlertSync", "ResourceProperties": {},
    }))
    .unwrap()
    .unwrap();
    req.response("logpipe-t-alert-", None)
}

#[tokio::test]
async fn resets_and_slow_downs_are_retried_until_s3_takes_the_response() {
    let (url, seen) = s3_standin(
        vec![Answer::Reset, Answer::SlowDown, Answer::SlowDown],
        Answer::Ok,
    )
    .await;
    let respond = HttpRespond::new().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    respond.respond(&url, &response(), deadline).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "a reset, two SlowDowns, then taken");
    let want = serde_json::to_value(response()).unwrap();
    for r in &seen {
        assert_eq!(r.method, "PUT");
        // The URL is signed without a content type: any other value breaks the signature.
        assert_eq!(r.header("content-type"), Some(""));
        let got: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(got, want);
        assert_eq!(got["Status"], "SUCCESS");
    }
}

#[tokio::test]
async fn an_expired_url_is_not_retried_and_the_error_never_names_it() {
    let (url, seen) = s3_standin(vec![Answer::Expired], Answer::Ok).await;
    let respond = HttpRespond::new().unwrap();
    let e = respond
        .respond(&url, &response(), Instant::now() + Duration::from_secs(60))
        .await
        .unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 1);
    let msg = e.to_string();
    assert!(!e.is_retryable(), "{msg}");
    assert!(
        msg.contains("403") && msg.contains("Request has expired"),
        "{msg}"
    );
    assert!(!msg.contains("secret0123"), "{msg}");
}

#[tokio::test]
async fn a_storm_that_outlasts_the_deadline_gives_up_before_it() {
    let (url, seen) = s3_standin(vec![], Answer::SlowDown).await;
    let respond = HttpRespond::new().unwrap();
    let started = Instant::now();
    // An attempt may take the client's 20 s timeout: with 21 s left, one more is allowed at first and none
    // once the backoff has eaten into the margin.
    let deadline = started + Duration::from_secs(22);
    let e = respond
        .respond(&url, &response(), deadline)
        .await
        .unwrap_err();
    assert!(Instant::now() < deadline, "gave up before the deadline");
    let msg = e.to_string();
    assert!(
        msg.contains("not sent after") && msg.contains("SlowDown") && !msg.contains("secret0123"),
        "{msg}"
    );
    assert!(
        e.is_retryable(),
        "the invocation fails and Lambda retries it"
    );
    let n = seen.lock().unwrap().len();
    assert!((2..=6).contains(&n), "{n} attempts");
}
