//! S3 through the AWS SDK for Rust.

use logcore::logs::s3event::ObjectRef;

use super::{Opened, Store};
use crate::CallError;

pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl S3Store {
    /// `path_style`: address buckets by path (local S3 stand-ins such as moto), not by host name.
    pub fn new(sdk: &aws_config::SdkConfig, path_style: bool) -> Self {
        let conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(path_style)
            .build();
        S3Store {
            client: aws_sdk_s3::Client::from_conf(conf),
        }
    }

    /// As the environment asks: a custom endpoint (`AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3`) is a local
    /// S3 stand-in, which serves buckets by path.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Self {
        let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        S3Store::new(sdk, path_style)
    }

    /// The SDK client (the canary lists and reads with it).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }
}

impl Store for S3Store {
    async fn get(&self, obj: &ObjectRef) -> Result<Opened, CallError> {
        let mut req = self.client.get_object().bucket(&obj.bucket).key(&obj.key);
        if let Some(v) = &obj.version_id {
            req = req.version_id(v);
        }
        let out = req.send().await.map_err(|e| {
            CallError::from_sdk(format!("GetObject s3://{}/{}", obj.bucket, obj.key), &e)
        })?;
        let last_modified = out
            .last_modified()
            .and_then(|t| t.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok());
        Ok(Opened {
            last_modified,
            etag: out.e_tag().map(str::to_string),
            version_id: out.version_id().map(str::to_string),
            body: Box::pin(out.body.into_async_read()),
        })
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CallError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/x-ndjson")
            .body(body.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CallError::from_sdk(format!("PutObject s3://{bucket}/{key}"), &e))
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), CallError> {
        // DeleteObject answers 204 for a key that does not exist.
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CallError::from_sdk(format!("DeleteObject s3://{bucket}/{key}"), &e))
    }
}
