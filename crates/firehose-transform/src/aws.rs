//! The real [`Reingest`]: Firehose `PutRecordBatch` and Kinesis `PutRecords` through the AWS SDK for Rust.

use std::time::Duration;

use aws_sdk_firehose::primitives::Blob;
use logcore::transform::firehose::Source;

use logpipe_io::CallError;

use crate::sink::{PutEntry, Reingest};

/// Firehose and Kinesis clients, built once per container.
#[derive(Debug, Clone)]
pub struct AwsReingest {
    pub firehose: aws_sdk_firehose::Client,
    pub kinesis: aws_sdk_kinesis::Client,
}

impl AwsReingest {
    /// Clients from a loaded SDK configuration. The SDK's own retries are turned off: [`crate::sink::put_all`]
    /// retries whole calls and failed entries alike, and stops in time for the Lambda deadline.
    pub fn new(sdk: &aws_config::SdkConfig, call_timeout: Duration) -> Self {
        let retry = aws_config::retry::RetryConfig::standard().with_max_attempts(1);
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(call_timeout)
            .build();
        let firehose = aws_sdk_firehose::config::Builder::from(sdk)
            .retry_config(retry.clone())
            .timeout_config(timeouts.clone())
            .build();
        let kinesis = aws_sdk_kinesis::config::Builder::from(sdk)
            .retry_config(retry)
            .timeout_config(timeouts)
            .build();
        AwsReingest {
            firehose: aws_sdk_firehose::Client::from_conf(firehose),
            kinesis: aws_sdk_kinesis::Client::from_conf(kinesis),
        }
    }
}

impl Reingest for AwsReingest {
    async fn put(
        &self,
        source: &Source,
        entries: &[PutEntry],
    ) -> Result<Vec<Option<String>>, CallError> {
        match source {
            Source::DeliveryStream { name, .. } => {
                let records = entries
                    .iter()
                    .map(|e| {
                        aws_sdk_firehose::types::Record::builder()
                            .data(Blob::new(e.data.clone()))
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| CallError::config(format!("building PutRecordBatch: {e}")))?;
                let out = self
                    .firehose
                    .put_record_batch()
                    .delivery_stream_name(name)
                    .set_records(Some(records))
                    .send()
                    .await
                    .map_err(|e| {
                        CallError::from_sdk(format!("PutRecordBatch to delivery stream {name}"), &e)
                    })?;
                Ok(out
                    .request_responses()
                    .iter()
                    .map(|r| {
                        r.error_code()
                            .map(|c| format!("{c}: {}", r.error_message().unwrap_or("")))
                    })
                    .collect())
            }
            Source::KinesisStream { arn, name } => {
                let records = entries
                    .iter()
                    .map(|e| {
                        aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                            .data(aws_sdk_kinesis::primitives::Blob::new(e.data.clone()))
                            .partition_key(&e.partition_key)
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| CallError::config(format!("building PutRecords: {e}")))?;
                let out = self
                    .kinesis
                    .put_records()
                    .stream_arn(arn)
                    .set_records(Some(records))
                    .send()
                    .await
                    .map_err(|e| CallError::from_sdk(format!("PutRecords to stream {name}"), &e))?;
                Ok(out
                    .records()
                    .iter()
                    .map(|r| {
                        r.error_code()
                            .map(|c| format!("{c}: {}", r.error_message().unwrap_or("")))
                    })
                    .collect())
            }
        }
    }
}
