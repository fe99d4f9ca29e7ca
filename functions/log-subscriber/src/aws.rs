//! The real [`Logs`]: CloudWatch Logs through the AWS SDK for Rust (its own retries off: ours back off
//! longer, and stop in time for the deadline).

use crate::{parse_selection, AccountPolicy, CallError, Filter, Logs};

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
        logpipe_io::logs::log_groups(&self.client, prefix).await
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

    async fn account_policies(&self) -> Result<Vec<AccountPolicy>, CallError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_account_policies()
                .policy_type(aws_sdk_cloudwatchlogs::types::PolicyType::SubscriptionFilterPolicy)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| CallError::from_sdk("DescribeAccountPolicies", &e))?;
            for p in page.account_policies() {
                out.push(account_policy(
                    p.policy_name().unwrap_or_default(),
                    p.policy_document().unwrap_or_default(),
                    p.selection_criteria().unwrap_or_default(),
                )?);
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }
}

/// A subscription filter policy from what `DescribeAccountPolicies` returns: its JSON document
/// (`DestinationArn`, `FilterPattern`) and its selection criteria.
pub fn account_policy(
    name: &str,
    document: &str,
    criteria: &str,
) -> Result<AccountPolicy, CallError> {
    let bad = |why: String| CallError::permanent(format!("account policy {name}: {why}"));
    let doc: serde_json::Value = serde_json::from_str(document)
        .map_err(|e| bad(format!("the policy document is not JSON ({e})")))?;
    let destination_arn = doc["DestinationArn"]
        .as_str()
        .ok_or_else(|| bad("the policy document has no DestinationArn".into()))?
        .to_string();
    Ok(AccountPolicy {
        name: name.to_string(),
        destination_arn,
        filter_pattern: doc["FilterPattern"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        excluded: parse_selection(criteria).map_err(bad)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_read_from_their_document_and_criteria() {
        let p = account_policy(
            "logpipe-dev-app",
            r#"{"DestinationArn":"arn:aws:firehose:eu-west-1:1:deliverystream/app","RoleArn":"arn:aws:iam::1:role/cwl","FilterPattern":""}"#,
            r#"LogGroupName NOT IN ["/logpipe/dev/firehose"]"#,
        )
        .unwrap();
        assert_eq!(
            p.destination_arn,
            "arn:aws:firehose:eu-west-1:1:deliverystream/app"
        );
        assert_eq!(p.excluded, ["/logpipe/dev/firehose"]);
        assert_eq!(p.filter_pattern, "");
        for (doc, criteria, why) in [
            ("not json", "", "not JSON"),
            (r#"{"FilterPattern":""}"#, "", "no DestinationArn"),
            (
                r#"{"DestinationArn":"arn"}"#,
                "LogGroupName IN [\"/a\"]",
                "selection criteria",
            ),
        ] {
            let e = account_policy("p", doc, criteria).unwrap_err();
            assert!(
                e.message.contains("account policy p") && e.message.contains(why),
                "{e}"
            );
        }
    }
}
