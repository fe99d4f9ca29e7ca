//! What a test on the local stand-ins starts from: a bucket on moto named for the test, the search engine
//! on osmem-server, and the search forwarder's settings writing to indices of the test's own name.

use std::sync::Arc;

use logpipe_cli::reindex::aws::SqsQueue;
use logpipe_io::store::S3Store;
use logpipe_io::HttpSearch;
use serde_json::Value;
use test_support as support;

pub struct Local {
    /// Unique to the test: the bucket, and the start of its indices' and queues' names.
    pub name: String,
    pub sdk: aws_config::SdkConfig,
    pub s3: Arc<S3Store>,
    pub search: Arc<HttpSearch>,
    pub search_url: String,
    /// Indexing into `<name>-app-%Y.%m.%d`.
    pub forwarder: s3_search_forwarder::Config,
}

impl Local {
    /// A bucket named `prefix` and a unique suffix, and a forwarder to osmem-server; `None` when the
    /// stand-ins are not running (the test is then skipped, as `test_support` says why).
    pub async fn start(prefix: &str) -> Result<Option<Local>, String> {
        let (Some(moto), Some(search_url)) = (support::moto_url(), support::search_url()) else {
            return Ok(None);
        };
        let name = support::unique(prefix);
        let sdk = support::sdk_config(&moto).await;
        let s3 = Arc::new(S3Store::new(&sdk, true));
        s3.client()
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .map_err(|e| format!("CreateBucket {name}: {e:?}"))?;
        let mut forwarder = s3_search_forwarder::Config::new(&search_url);
        forwarder.index = format!("{name}-app-%Y.%m.%d").parse()?;
        let endpoint = logpipe_io::Endpoint {
            url: search_url.clone(),
            auth: logpipe_io::Auth::None,
            region: None,
        };
        let search = Arc::new(HttpSearch::connect(&endpoint, 1, &sdk).await?);
        Ok(Some(Local {
            name,
            sdk,
            s3,
            search,
            search_url,
            forwarder,
        }))
    }

    /// A new SQS queue `<name>-<suffix>`.
    pub async fn queue(&self, suffix: &str) -> Result<SqsQueue, String> {
        let name = format!("{}-{suffix}", self.name);
        let out = aws_sdk_sqs::Client::new(&self.sdk)
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| format!("CreateQueue {name}: {e:?}"))?;
        let url = out.queue_url().ok_or("CreateQueue answered no URL")?;
        Ok(SqsQueue::new(&self.sdk, url))
    }

    /// A call to the search engine's API; anything but a 2xx is an error with the answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut r = reqwest::Client::new().request(method, format!("{}{path}", self.search_url));
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let r = r.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = r.status();
        let bytes = r.bytes().await.map_err(|e| format!("{path}: {e}"))?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{path}: {status} {v}"));
        }
        Ok(v)
    }
}
