//! The archive (S3) and the forwarder's queue (SQS) through the AWS SDK for Rust.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{GlacierJobParameters, OptionalObjectAttributes, RestoreRequest, Tier};
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use logpipe_io::store::S3Store;
use logpipe_io::CallError;

use super::{Archive, Listed, Outgoing, Queue, Restore};

impl Archive for S3Store {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, CallError> {
        let mut pages = self
            .client()
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .optional_object_attributes(OptionalObjectAttributes::RestoreStatus)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                CallError::from_sdk(format!("ListObjectsV2 s3://{bucket}/{prefix}"), &e)
            })?;
            out.extend(page.contents().iter().filter_map(|o| {
                let restored = o.restore_status().is_some_and(|r| {
                    r.is_restore_in_progress() == Some(false) && r.restore_expiry_date().is_some()
                });
                Some(Listed {
                    key: o.key()?.to_string(),
                    size: o.size().unwrap_or_default().max(0) as u64,
                    etag: o.e_tag().map(|e| e.trim_matches('"').to_string()),
                    last_modified: o
                        .last_modified()
                        .and_then(|t| t.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok()),
                    class: o
                        .storage_class()
                        .map_or("STANDARD", |c| c.as_str())
                        .to_string(),
                    restored,
                })
            }));
        }
        Ok(out)
    }

    async fn restore(
        &self,
        bucket: &str,
        key: &str,
        days: Option<u32>,
        tier: &str,
    ) -> Result<Restore, CallError> {
        let request = RestoreRequest::builder()
            .set_days(days.map(|d| i32::try_from(d).unwrap_or(i32::MAX)))
            .glacier_job_parameters(
                GlacierJobParameters::builder()
                    .tier(Tier::from(tier))
                    .build()
                    .map_err(|e| CallError::config(format!("restore tier {tier:?}: {e}")))?,
            )
            .build();
        match self
            .client()
            .restore_object()
            .bucket(bucket)
            .key(key)
            .restore_request(request)
            .send()
            .await
        {
            Ok(_) => Ok(Restore::Requested),
            Err(e) if e.code() == Some("RestoreAlreadyInProgress") => Ok(Restore::InProgress),
            Err(e) => Err(CallError::from_sdk(
                format!("RestoreObject s3://{bucket}/{key}"),
                &e,
            )),
        }
    }

    async fn archive_status(&self, bucket: &str, key: &str) -> Result<Option<String>, CallError> {
        let out = head(self, bucket, key).await?;
        Ok(out.archive_status().map(|s| s.as_str().to_string()))
    }

    async fn restore_status(&self, bucket: &str, key: &str) -> Result<Option<Restore>, CallError> {
        let out = head(self, bucket, key).await?;
        Ok(out.restore().map(parse_restore_header))
    }
}

/// HeadObject: an object's storage tier and restore.
async fn head(
    s3: &S3Store,
    bucket: &str,
    key: &str,
) -> Result<aws_sdk_s3::operation::head_object::HeadObjectOutput, CallError> {
    s3.client()
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| CallError::from_sdk(format!("HeadObject s3://{bucket}/{key}"), &e))
}

/// `x-amz-restore`: `ongoing-request="true"`, or `ongoing-request="false", expiry-date="…"` once the copy
/// is there.
pub fn parse_restore_header(h: &str) -> Restore {
    if h.replace(' ', "").contains("ongoing-request=\"false\"") {
        Restore::Done
    } else {
        Restore::InProgress
    }
}

/// The forwarder's queue.
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(sdk: &aws_config::SdkConfig, url: &str) -> Self {
        SqsQueue {
            client: aws_sdk_sqs::Client::new(sdk),
            url: url.to_string(),
        }
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Queue for SqsQueue {
    async fn send(&self, messages: &[Outgoing]) -> Result<Vec<(String, String)>, CallError> {
        let mut req = self.client.send_message_batch().queue_url(&self.url);
        for m in messages {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(&m.id)
                .message_body(&m.body);
            for (name, value) in &m.attributes {
                entry = entry.message_attributes(
                    name,
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(value)
                        .build()
                        .map_err(|e| CallError::config(format!("attribute {name}: {e}")))?,
                );
            }
            req = req.entries(
                entry
                    .build()
                    .map_err(|e| CallError::config(format!("message {}: {e}", m.id)))?,
            );
        }
        let out = req
            .send()
            .await
            .map_err(|e| CallError::from_sdk(format!("SendMessageBatch {}", self.url), &e))?;
        Ok(out
            .failed()
            .iter()
            .map(|f| {
                (
                    f.id().to_string(),
                    format!(
                        "{}: {}",
                        f.code(),
                        f.message().unwrap_or("no message given")
                    ),
                )
            })
            .collect())
    }

    async fn depth(&self) -> Result<u64, CallError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| CallError::from_sdk(format!("GetQueueAttributes {}", self.url), &e))?;
        Ok(out
            .attributes()
            .map(|a| {
                a.values()
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_headers() {
        assert_eq!(
            parse_restore_header("ongoing-request=\"true\""),
            Restore::InProgress
        );
        assert_eq!(
            parse_restore_header(
                "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""
            ),
            Restore::Done
        );
    }
}
