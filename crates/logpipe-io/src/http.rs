//! One HTTP answer, read the same way for every service logpipe calls over HTTP (the search engine, Slack).

use std::time::{Duration, SystemTime};

use crate::CallError;

/// The answer to one HTTP request (a `_bulk` request, a management call, a Slack post).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Retry-After`, when the server sent one.
    pub retry_after: Option<Duration>,
}

/// Read a whole response: status, `Retry-After`, body. A body that breaks off is a retryable failure
/// (its message without the URL, which may be a secret such as a Slack webhook).
pub async fn read_reply(resp: reqwest::Response) -> Result<Reply, CallError> {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, SystemTime::now()));
    let body = resp.bytes().await.map_err(transport_hiding_url)?.to_vec();
    Ok(Reply {
        status,
        body,
        retry_after,
    })
}

/// `Retry-After` as RFC 9110 §10.2.3 allows it: a number of seconds, or an HTTP date (a date already past
/// is no wait).
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// [`transport`] without the request's URL: for URLs that are secrets (a Slack webhook).
pub fn transport_hiding_url(e: reqwest::Error) -> CallError {
    transport(e.without_url())
}

/// A request that got no HTTP answer (timeout, refused or reset connection, broken body): retryable, with
/// the whole chain of causes.
pub fn transport(e: reqwest::Error) -> CallError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut s = format!("{kind}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    CallError::retryable(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Wed, 02 Dec 2026 10:00:00 GMT").unwrap();
        assert_eq!(retry_after("30", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 10:02:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
}
