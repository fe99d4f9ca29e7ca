//! The real [`Logs`]: CloudWatch Logs through the AWS SDK for Rust (its own retries off: ours back off
//! longer, and stop in time for the deadline).

use crate::{CallError, Filter, Logs};

pub struct AwsLogs {
    pub client: aws_sdk_cloudwatchlogs::Client,
}

impl AwsLogs {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let conf = aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build();
        AwsLogs {
            client: aws_sdk_cloudwatchlogs::Client::from_conf(conf),
        }
    }
}

impl Logs for AwsLogs {
    async fn groups(&self, prefix: Option<&str>) -> Result<Vec<String>, CallError> {
        let mut pages = self
            .client
            .describe_log_groups()
            .set_log_group_name_prefix(prefix.map(str::to_string))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| CallError::from_sdk("DescribeLogGroups", &e))?;
            out.extend(
                page.log_groups()
                    .iter()
                    .filter_map(|g| g.log_group_name().map(str::to_string)),
            );
        }
        Ok(out)
    }

    async fn filters(&self, group: &str) -> Result<Vec<Filter>, CallError> {
        let out = self
            .client
            .describe_subscription_filters()
            .log_group_name(group)
            .send()
            .await
            .map_err(|e| CallError::from_sdk(format!("DescribeSubscriptionFilters {group}"), &e))?;
        Ok(out
            .subscription_filters()
            .iter()
            .map(|f| Filter {
                name: f.filter_name().unwrap_or_default().to_string(),
                destination_arn: f.destination_arn().unwrap_or_default().to_string(),
                filter_pattern: f.filter_pattern().unwrap_or_default().to_string(),
                role_arn: f.role_arn().filter(|r| !r.is_empty()).map(str::to_string),
            })
            .collect())
    }

    async fn put(&self, group: &str, f: &Filter) -> Result<(), CallError> {
        self.client
            .put_subscription_filter()
            .log_group_name(group)
            .filter_name(&f.name)
            .filter_pattern(&f.filter_pattern)
            .destination_arn(&f.destination_arn)
            .set_role_arn(f.role_arn.clone())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(format!("PutSubscriptionFilter {} on {group}", f.name), &e)
            })?;
        Ok(())
    }

    async fn delete(&self, group: &str, name: &str) -> Result<(), CallError> {
        self.client
            .delete_subscription_filter()
            .log_group_name(group)
            .filter_name(name)
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(format!("DeleteSubscriptionFilter {name} on {group}"), &e)
            })?;
        Ok(())
    }
}
