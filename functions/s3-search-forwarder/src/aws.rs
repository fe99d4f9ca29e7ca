//! The real `_bulk` endpoint: the shared HTTP search client of `logpipe-io`.

use logpipe_io::{CallError, HttpSearch, Reply};

use crate::Search;

impl Search for HttpSearch {
    async fn bulk(&self, body: Vec<u8>, gzip: bool) -> Result<Reply, CallError> {
        let mut headers = vec![("content-type", "application/x-ndjson".to_string())];
        if gzip {
            headers.push(("content-encoding", "gzip".to_string()));
        }
        self.request(reqwest::Method::POST, "/_bulk", headers, body)
            .await
    }
}

/// The forwarder's client: its endpoint, keeping as many connections as it has requests in flight.
pub async fn connect(
    cfg: &crate::Config,
    sdk: &aws_config::SdkConfig,
) -> Result<HttpSearch, CallError> {
    HttpSearch::connect(&cfg.endpoint, cfg.in_flight.max(1), sdk).await
}
