//! Answering a CloudFormation custom resource request: its response PUT to the pre-signed `ResponseURL`.

use std::time::Duration;

use logcore::base::cfn::Response;
use logcore::base::retry::Backoff;
use tokio::time::Instant;

use crate::http::{read_reply, transport_hiding_url};
use crate::CallError;

/// Something that takes a custom resource's response (CloudFormation's pre-signed S3 URL, in tests
/// anything that records it), before `stop`.
pub trait Respond: Send + Sync {
    fn respond(
        &self,
        url: &str,
        response: &Response,
        stop: Instant,
    ) -> impl std::future::Future<Output = Result<(), CallError>> + Send;
}

/// The longest `Retry-After` the response waits for: S3 asks for seconds, never minutes.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The response PUT over HTTPS, as CloudFormation documents it: the JSON body with an empty
/// `Content-Type` (the URL is signed without one). Throttling (429, 503 SlowDown), other 5xx and
/// transport failures are retried with the project's backoff (full jitter; S3's `Retry-After` when it
/// sends one) while an attempt can still end before the deadline; a refusal (403: an expired or altered
/// URL) is not. The URL (a credential) is never logged.
#[derive(Debug, Clone)]
pub struct HttpRespond {
    client: reqwest::Client,
    timeout: Duration,
    backoff: Backoff,
}

impl HttpRespond {
    pub fn new() -> Result<HttpRespond, CallError> {
        let timeout = Duration::from_secs(20);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| CallError::config(format!("HTTP client: {e}")))?;
        Ok(HttpRespond {
            client,
            timeout,
            backoff: Backoff {
                base: Duration::from_millis(500),
                max_delay: Duration::from_secs(8),
                max_attempts: 6,
            },
        })
    }

    /// One PUT, and what its answer means.
    async fn put(&self, url: &str, body: &[u8]) -> Attempt {
        let sent = self
            .client
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "")
            .body(body.to_vec())
            .send()
            .await
            .map_err(transport_hiding_url);
        let reply = match sent {
            Ok(resp) => read_reply(resp).await,
            Err(e) => Err(e),
        };
        let r = match reply {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(Duration::ZERO, e),
        };
        if (200..300).contains(&r.status) {
            return Attempt::Taken;
        }
        let e = CallError::new(
            crate::error::kind_of(None, r.status),
            format!(
                "custom resource response refused: HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
            ),
        );
        if e.is_retryable() {
            Attempt::Retry(r.retry_after.unwrap_or_default(), e)
        } else {
            Attempt::Refused(e)
        }
    }
}

/// What one PUT of the response came to.
enum Attempt {
    Taken,
    /// Worth another try, not before this long (the server's `Retry-After`, or zero).
    Retry(Duration, CallError),
    Refused(CallError),
}

impl Respond for HttpRespond {
    async fn respond(
        &self,
        url: &str,
        response: &Response,
        stop: Instant,
    ) -> Result<(), CallError> {
        let body = serde_json::to_vec(response)
            .map_err(|e| CallError::permanent(format!("custom resource response: {e}")))?;
        let mut rng = fastrand::Rng::new();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let (retry_after, why) = match self.put(url, &body).await {
                Attempt::Taken => return Ok(()),
                Attempt::Refused(e) => return Err(e),
                Attempt::Retry(after, e) => (after, e),
            };
            let delay = retry_after
                .min(MAX_RETRY_AFTER)
                .max(self.backoff.delay(attempts, &mut rng));
            let remaining = stop.saturating_duration_since(Instant::now());
            if !self
                .backoff
                .may_retry(attempts, delay, self.timeout, remaining)
            {
                return Err(CallError::new(
                    why.kind,
                    format!(
                        "custom resource response not sent after {attempts} attempts (last: {why}); \
                         another would pass the deadline or the attempt limit"
                    ),
                ));
            }
            tracing::warn!(attempt = attempts, delay_ms = delay.as_millis() as u64, error = %why,
                "custom resource response not taken; retrying");
            tokio::time::sleep(delay).await;
        }
    }
}
