//! The real [`Cloud`]: CloudWatch Logs (metric filters, log groups) and CloudWatch (alarms) through the AWS
//! SDK for Rust.
//!
//! What is read back is compared with what the rules want field by field; a filter or alarm with settings
//! logpipe never writes (another value or unit, a second transformation, another statistic, more than one
//! evaluation period) is read with an empty metric name, so the plan puts it again.

use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, Dimension, Statistic};
use aws_sdk_cloudwatchlogs::types::MetricTransformation;
use logcore::alert::watch::{Alarm, MetricFilter, Missing};
use logpipe_io::CallError;

use crate::Cloud;

pub struct AwsCloud {
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl AwsCloud {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        AwsCloud {
            logs: aws_sdk_cloudwatchlogs::Client::new(sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
        }
    }
}

const COMPARISONS: [&str; 2] = ["GreaterThanOrEqualToThreshold", "LessThanThreshold"];

impl Cloud for AwsCloud {
    async fn groups(&self) -> Result<Vec<String>, CallError> {
        logpipe_io::logs::log_groups(&self.logs, None).await
    }

    async fn filters(&self, prefix: &str) -> Result<Vec<MetricFilter>, CallError> {
        let mut pages = self.logs.describe_metric_filters().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| CallError::from_sdk("DescribeMetricFilters", &e))?;
            for f in page.metric_filters() {
                let name = f.filter_name().unwrap_or_default();
                if !name.starts_with(prefix) {
                    continue;
                }
                let t = f.metric_transformations();
                let ours = t.len() == 1
                    && t[0].metric_value() == "1"
                    && t[0].default_value().is_none()
                    && t[0].dimensions().is_none_or(|d| d.is_empty());
                out.push(MetricFilter {
                    log_group: f.log_group_name().unwrap_or_default().to_string(),
                    name: name.to_string(),
                    pattern: f.filter_pattern().unwrap_or_default().to_string(),
                    namespace: t
                        .first()
                        .map(|t| t.metric_namespace().to_string())
                        .unwrap_or_default(),
                    metric_name: if ours {
                        t[0].metric_name().to_string()
                    } else {
                        String::new()
                    },
                });
            }
        }
        Ok(out)
    }

    async fn put_filter(&self, f: &MetricFilter) -> Result<(), CallError> {
        let what = format!("PutMetricFilter {} on {}", f.name, f.log_group);
        let t = MetricTransformation::builder()
            .metric_name(&f.metric_name)
            .metric_namespace(&f.namespace)
            .metric_value("1")
            .build()
            .map_err(|e| CallError::config(format!("{what}: {e}")))?;
        self.logs
            .put_metric_filter()
            .log_group_name(&f.log_group)
            .filter_name(&f.name)
            .filter_pattern(&f.pattern)
            .metric_transformations(t)
            .send()
            .await
            .map_err(|e| CallError::from_sdk(&what, &e))?;
        Ok(())
    }

    async fn delete_filter(&self, log_group: &str, name: &str) -> Result<(), CallError> {
        match self
            .logs
            .delete_metric_filter()
            .log_group_name(log_group)
            .filter_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e =
                    CallError::from_sdk(format!("DeleteMetricFilter {name} on {log_group}"), &e);
                // Already gone (the group was deleted, or a concurrent sync): what was wanted.
                if e.is_not_found() {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn alarms(&self, prefix: &str) -> Result<Vec<Alarm>, CallError> {
        let mut pages = self
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .alarm_types(AlarmType::MetricAlarm)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| CallError::from_sdk("DescribeAlarms", &e))?;
            for a in page.metric_alarms() {
                let name = a.alarm_name().unwrap_or_default();
                if !name.starts_with(prefix) {
                    continue;
                }
                let ours = a.statistic() == Some(&Statistic::Sum)
                    && a.evaluation_periods() == Some(1)
                    && a.datapoints_to_alarm().is_none_or(|d| d == 1)
                    && a.alarm_actions() == a.ok_actions()
                    && a.actions_enabled() != Some(false);
                let comparison = a
                    .comparison_operator()
                    .and_then(|c| COMPARISONS.iter().find(|k| **k == c.as_str()).copied())
                    .unwrap_or("");
                let missing = match a.treat_missing_data() {
                    Some("breaching") => Missing::Breaching,
                    _ => Missing::NotBreaching,
                };
                let threshold = a.threshold().unwrap_or(-1.0);
                let mut dimensions: Vec<(String, String)> = a
                    .dimensions()
                    .iter()
                    .map(|d| {
                        (
                            d.name().unwrap_or_default().to_string(),
                            d.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                dimensions.sort();
                out.push(Alarm {
                    name: name.to_string(),
                    description: a.alarm_description().unwrap_or_default().to_string(),
                    namespace: a.namespace().unwrap_or_default().to_string(),
                    metric_name: if ours {
                        a.metric_name().unwrap_or_default().to_string()
                    } else {
                        String::new()
                    },
                    dimensions,
                    period_seconds: a.period().and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
                    threshold: if threshold >= 0.0
                        && threshold.fract() == 0.0
                        && threshold <= f64::from(u32::MAX)
                    {
                        threshold as u32
                    } else {
                        0
                    },
                    comparison,
                    missing,
                    actions: a.alarm_actions().to_vec(),
                });
            }
        }
        Ok(out)
    }

    async fn put_alarm(&self, a: &Alarm) -> Result<(), CallError> {
        let dims = a
            .dimensions
            .iter()
            .map(|(n, v)| Dimension::builder().name(n).value(v).build())
            .collect();
        self.cloudwatch
            .put_metric_alarm()
            .alarm_name(&a.name)
            .alarm_description(&a.description)
            .namespace(&a.namespace)
            .metric_name(&a.metric_name)
            .set_dimensions(Some(dims))
            .statistic(Statistic::Sum)
            .period(i32::try_from(a.period_seconds).unwrap_or(86_400))
            .evaluation_periods(1)
            .datapoints_to_alarm(1)
            .threshold(f64::from(a.threshold))
            .comparison_operator(ComparisonOperator::from(a.comparison))
            .treat_missing_data(a.missing.as_str())
            .actions_enabled(true)
            .set_alarm_actions(Some(a.actions.clone()))
            .set_ok_actions(Some(a.actions.clone()))
            .send()
            .await
            .map_err(|e| CallError::from_sdk(format!("PutMetricAlarm {}", a.name), &e))?;
        Ok(())
    }

    async fn delete_alarms(&self, names: &[String]) -> Result<(), CallError> {
        self.cloudwatch
            .delete_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| CallError::from_sdk(format!("DeleteAlarms {}", names.join(", ")), &e))?;
        Ok(())
    }
}
