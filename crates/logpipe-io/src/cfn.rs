//! Answering a CloudFormation custom resource request: its response PUT to the pre-signed `ResponseURL`.

use std::time::Duration;

use logcore::cfn::Response;

use crate::http::{read_reply, transport_hiding_url};
use crate::CallError;

/// Something that takes a custom resource's response (CloudFormation's pre-signed S3 URL, in tests
/// anything that records it).
pub trait Respond: Send + Sync {
    fn respond(
        &self,
        url: &str,
        response: &Response,
    ) -> impl std::future::Future<Output = Result<(), CallError>> + Send;
}

/// The response PUT over HTTPS, as CloudFormation documents it: the JSON body with an empty
/// `Content-Type` (the URL is signed without one). A 5xx or a transport failure is tried three times in
/// all; the URL (a credential) is never logged.
#[derive(Debug, Clone)]
pub struct HttpRespond {
    client: reqwest::Client,
}

impl HttpRespond {
    pub fn new() -> Result<HttpRespond, CallError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| CallError::config(format!("HTTP client: {e}")))?;
        Ok(HttpRespond { client })
    }
}

impl Respond for HttpRespond {
    async fn respond(&self, url: &str, response: &Response) -> Result<(), CallError> {
        let body = serde_json::to_vec(response)
            .map_err(|e| CallError::permanent(format!("custom resource response: {e}")))?;
        let mut last = CallError::retryable("custom resource response: not sent");
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            let sent = self
                .client
                .put(url)
                .header(reqwest::header::CONTENT_TYPE, "")
                .body(body.clone())
                .send()
                .await
                .map_err(transport_hiding_url);
            let reply = match sent {
                Ok(resp) => read_reply(resp).await,
                Err(e) => Err(e),
            };
            match reply {
                Ok(r) if (200..300).contains(&r.status) => return Ok(()),
                Ok(r) => {
                    let e = CallError::new(
                        crate::error::kind_of(None, r.status),
                        format!(
                            "custom resource response refused: HTTP {}: {}",
                            r.status,
                            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
                        ),
                    );
                    if !e.is_retryable() {
                        return Err(e);
                    }
                    last = e;
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}
