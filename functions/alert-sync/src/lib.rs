//! The alert sync: make the CloudWatch Logs metric filters and CloudWatch alarms of the threshold and
//! absence rules (`ALERT_RULES`, see `logcore::alert::watch`) what the rules say. It lists the account's log
//! groups, logpipe's filters and alarms (by name prefix), plans the changes, and applies them unless asked
//! for a dry run. Generic over [`Cloud`], with the AWS implementation in [`aws`].

pub mod aws;

use std::future::Future;

use logcore::alert::watch::{self, Alarm, Change, Existing, MetricFilter, Naming, Watch};
use logpipe_io::CallError;
use serde::Serialize;

/// The default namespace of the rules' metrics.
pub const DEFAULT_NAMESPACE: &str = "logpipe/alerts";

/// Every variable the sync reads.
pub const ENV_VARS: &[&str] = &[
    "ALERT_RULES",
    "ALERT_NAME_PREFIX",
    "ALERT_METRIC_NAMESPACE",
    "ALARM_TOPIC_ARN",
];

/// What the sync needs: the rules, and where their filters and alarms live.
#[derive(Debug, Clone)]
pub struct Config {
    pub watches: Vec<Watch>,
    pub naming: Naming,
}

impl Config {
    /// From `ALERT_RULES` (the notifier's rules; only threshold and absence ones are read here),
    /// `ALERT_NAME_PREFIX` (required: `logpipe-<env>-alert-`, what logpipe owns), `ALERT_METRIC_NAMESPACE`
    /// and `ALARM_TOPIC_ARN` (the alarms' ALARM and OK actions).
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, logcore::env::ConfigError> {
        let env = logcore::env::Env::new(&var);
        let prefix = env.get("ALERT_NAME_PREFIX").ok_or_else(|| {
            env.err(
                "ALERT_NAME_PREFIX",
                "",
                "required: the prefix of the metric filters and alarms logpipe owns (logpipe-<env>-alert-)",
            )
        })?;
        if prefix.len() < 4 || prefix.len() > 96 {
            return Err(env.err(
                "ALERT_NAME_PREFIX",
                &prefix,
                "4 to 96 characters: a short prefix would claim others' filters and alarms",
            ));
        }
        let watches = watch::parse(&env.get_raw("ALERT_RULES").unwrap_or_default())
            .map_err(|e| env.err("ALERT_RULES", "", e.to_string()))?;
        Ok(Config {
            watches,
            naming: Naming {
                prefix,
                namespace: env
                    .get("ALERT_METRIC_NAMESPACE")
                    .unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
                actions: env.get("ALARM_TOPIC_ARN").into_iter().collect(),
            },
        })
    }
}

/// CloudWatch Logs and CloudWatch, as far as the sync uses them.
pub trait Cloud: Send + Sync {
    /// Every log group name (all pages).
    fn groups(&self) -> impl Future<Output = Result<Vec<String>, CallError>> + Send;
    /// The metric filters of the account (all groups, all pages) whose names start with `prefix`.
    fn filters(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<MetricFilter>, CallError>> + Send;
    fn put_filter(&self, f: &MetricFilter) -> impl Future<Output = Result<(), CallError>> + Send;
    fn delete_filter(
        &self,
        log_group: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
    /// The metric alarms whose names start with `prefix`.
    fn alarms(&self, prefix: &str) -> impl Future<Output = Result<Vec<Alarm>, CallError>> + Send;
    fn put_alarm(&self, a: &Alarm) -> impl Future<Output = Result<(), CallError>> + Send;
    fn delete_alarms(&self, names: &[String])
        -> impl Future<Output = Result<(), CallError>> + Send;
}

logcore::counts! {
    /// Counts of one sync: its report line.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Summary {
        pub rules: u64,
        pub log_groups: u64,
        pub filters_wanted: u64,
        pub alarms_wanted: u64,
        pub filters_put: u64 => "MetricFiltersPut",
        pub filters_deleted: u64 => "MetricFiltersDeleted",
        pub alarms_put: u64 => "AlarmsPut",
        pub alarms_deleted: u64 => "AlarmsDeleted",
        pub failed: u64 => "AlertSyncFailures",
    }
}

/// What one sync found and did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub summary: Summary,
    /// The planned changes (applied unless the sync was a dry run).
    pub changes: Vec<Change>,
    /// Changes that failed, with the error (the others are still applied).
    pub failures: Vec<String>,
}

/// One line of a plan, for people.
pub fn describe(c: &Change) -> String {
    match c {
        Change::PutFilter(f) => format!(
            "put metric filter {} on {} ({} → {}/{})",
            f.name, f.log_group, f.pattern, f.namespace, f.metric_name
        ),
        Change::DeleteFilter { log_group, name } => {
            format!("delete metric filter {name} on {log_group}")
        }
        Change::PutAlarm(a) => format!(
            "put alarm {} ({} {} {} over {} s of {}/{})",
            a.name, "Sum", a.comparison, a.threshold, a.period_seconds, a.namespace, a.metric_name
        ),
        Change::DeleteAlarms(names) => format!("delete alarms {}", names.join(", ")),
    }
}

/// Sync once: plan, and apply unless `dry_run`. A failed listing ends the sync (no plan can be made
/// without it); a failed change is counted and reported, and the others are still applied.
pub async fn sync<C: Cloud>(
    cloud: &C,
    watches: &[Watch],
    naming: &Naming,
    dry_run: bool,
) -> Result<Outcome, CallError> {
    let groups = cloud.groups().await?;
    let desired = watch::desired(watches, &groups, naming);
    let existing = Existing {
        filters: cloud.filters(&naming.prefix).await?,
        alarms: cloud.alarms(&naming.prefix).await?,
    };
    let changes = watch::plan(&desired, &existing, naming);
    let mut out = Outcome {
        summary: Summary {
            rules: watches.len() as u64,
            log_groups: groups.len() as u64,
            filters_wanted: desired.filters.len() as u64,
            alarms_wanted: desired.alarms.len() as u64,
            ..Summary::default()
        },
        ..Outcome::default()
    };
    if !dry_run {
        // Filters before alarms (an alarm's metric exists once its filter does), deletes of alarms before
        // their filters (no alarm is left on a metric nothing publishes to any more).
        for c in changes.iter().filter(|c| matches!(c, Change::PutFilter(_))) {
            apply(cloud, c, &mut out).await;
        }
        for c in changes
            .iter()
            .filter(|c| !matches!(c, Change::PutFilter(_) | Change::DeleteFilter { .. }))
        {
            apply(cloud, c, &mut out).await;
        }
        for c in changes
            .iter()
            .filter(|c| matches!(c, Change::DeleteFilter { .. }))
        {
            apply(cloud, c, &mut out).await;
        }
    }
    out.changes = changes;
    Ok(out)
}

async fn apply<C: Cloud>(cloud: &C, c: &Change, out: &mut Outcome) {
    let s = &mut out.summary;
    let r = match c {
        Change::PutFilter(f) => cloud.put_filter(f).await.map(|()| s.filters_put += 1),
        Change::DeleteFilter { log_group, name } => cloud
            .delete_filter(log_group, name)
            .await
            .map(|()| s.filters_deleted += 1),
        Change::PutAlarm(a) => cloud.put_alarm(a).await.map(|()| s.alarms_put += 1),
        Change::DeleteAlarms(names) => cloud
            .delete_alarms(names)
            .await
            .map(|()| s.alarms_deleted += names.len() as u64),
    };
    if let Err(e) = r {
        s.failed += 1;
        tracing::error!(change = %describe(c), error = %e, "alert sync change failed");
        out.failures.push(format!("{}: {e}", describe(c)));
    }
}

#[cfg(test)]
mod tests;
