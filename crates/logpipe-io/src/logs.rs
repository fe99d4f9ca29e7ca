//! CloudWatch Logs calls more than one function makes.

use crate::CallError;

/// Every log group name (all pages of `DescribeLogGroups`), under `prefix` when given.
pub async fn log_groups(
    client: &aws_sdk_cloudwatchlogs::Client,
    prefix: Option<&str>,
) -> Result<Vec<String>, CallError> {
    let mut pages = client
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
