//! The alert sync: make the CloudWatch Logs metric filters and CloudWatch alarms of the threshold and
//! absence rules (`ALERT_RULES`, see `logcore::alert::watch`) what the rules say. It lists the account's log
//! groups, logpipe's filters and alarms (by name prefix), plans the changes, and applies them unless asked
//! for a dry run. Generic over [`Cloud`], with the AWS implementation in [`aws`].
//!
//! As a function it runs on a schedule (the rules as its environment says) and as a CloudFormation custom
//! resource (the rules as the resource's properties say, so that a rollback restores the old ones): Create
//! and Update sync and answer FAILED with the reason when the rules are invalid or a change fails; Delete
//! removes every filter and alarm of the resource's prefix and always answers SUCCESS (a stack is never
//! kept from being deleted by what it left in CloudWatch; the failures are logged).

pub mod aws;

use std::future::Future;

use logcore::alert::watch::{self, Alarm, Change, Existing, MetricFilter, Naming, Watch};
use logcore::base::cfn::{Request, RequestType};
use logcore::base::runtime::Common;
use logpipe_io::cfn::Respond;
use logpipe_io::lambda::Deadline;
use logpipe_io::CallError;
use serde::Serialize;
use serde_json::Value;

/// The default namespace of the rules' metrics.
pub const DEFAULT_NAMESPACE: &str = "logpipe/alerts";

/// Every variable the function reads: the sync's ([`Config`]) and its report's and deadline's
/// ([`Function`]; the template's environment must match this list).
pub const ENV_VARS: &[&str] = &[
    "ALERT_RULES",
    "ALERT_NAME_PREFIX",
    "ALERT_METRIC_NAMESPACE",
    "ALARM_TOPIC_ARN",
    "METRICS_NAMESPACE",
    "DEADLINE_MARGIN_MS",
];

/// Time kept free before the deadline: the report line after the custom resource's answer.
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(2000);

/// The custom resource's properties, and the variables they stand for.
pub const PROPERTIES: &[(&str, &str)] = &[
    ("AlertRules", "ALERT_RULES"),
    ("AlertNamePrefix", "ALERT_NAME_PREFIX"),
    ("AlertMetricNamespace", "ALERT_METRIC_NAMESPACE"),
    ("AlarmTopicArn", "ALARM_TOPIC_ARN"),
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
    ) -> Result<Config, logcore::base::env::ConfigError> {
        let env = logcore::base::env::Env::new(&var);
        let prefix = prefix(&env)?;
        let watches = watch::parse(&env.get_raw("ALERT_RULES").unwrap_or_default())
            .map_err(|e| env.err("ALERT_RULES", "", e.to_string()))?;
        Ok(Config {
            watches,
            naming: naming(&env, prefix),
        })
    }

    /// From a custom resource's properties (see [`PROPERTIES`]) instead of the environment.
    pub fn from_request(r: &Request) -> Result<Config, logcore::base::env::ConfigError> {
        Config::from_env(|k| property(r, k))
    }
}

/// The property of a custom resource request that stands for variable `k`.
fn property(r: &Request, k: &str) -> Option<String> {
    let (p, _) = PROPERTIES.iter().find(|(_, v)| *v == k)?;
    r.property(p).map(str::to_owned)
}

fn naming(env: &logcore::base::env::Env<'_>, prefix: String) -> Naming {
    Naming {
        prefix,
        namespace: env
            .get("ALERT_METRIC_NAMESPACE")
            .unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
        actions: env.get("ALARM_TOPIC_ARN").into_iter().collect(),
    }
}

/// `ALERT_NAME_PREFIX`: required, and long enough not to claim others' filters and alarms.
fn prefix(env: &logcore::base::env::Env<'_>) -> Result<String, logcore::base::env::ConfigError> {
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
    Ok(prefix)
}

/// The function's settings: its report's, and the sync's from the environment, kept even when invalid so
/// that a custom resource request is still answered (with the rules of its own properties).
#[derive(Debug, Clone)]
pub struct Function {
    pub common: Common,
    pub config: Result<Config, String>,
}

impl Function {
    /// `METRICS_NAMESPACE`, `DEADLINE_MARGIN_MS` and `AWS_LAMBDA_FUNCTION_NAME` (see `Common`), and
    /// [`Config::from_env`].
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Function, logcore::base::env::ConfigError> {
        let env = logcore::base::env::Env::new(&var);
        Ok(Function {
            common: Common::from_env(&env, "logpipe-alert-sync", Some(DEADLINE_MARGIN))?,
            config: Config::from_env(&var).map_err(|e| e.to_string()),
        })
    }
}

/// A failed invocation: Lambda retries it (a custom resource request too, which CloudFormation sends
/// asynchronously), and the schedule runs again.
pub use logcore::base::runtime::InvocationError;

/// One invocation: a custom resource request (answered at its `ResponseURL`), or anything else (the
/// schedule) as a sync with the environment's rules.
pub async fn handle<C: Cloud, R: Respond>(
    f: &Function,
    cloud: &C,
    respond: &R,
    event: &Value,
    deadline: Deadline,
) -> (Result<(), InvocationError>, Summary) {
    let request = match Request::from_event(event) {
        None => return scheduled(f, cloud).await,
        Some(Err(e)) => return (Err(InvocationError(e)), Summary::default()),
        Some(Ok(r)) => r,
    };
    let (physical, outcome) = match request.request_type {
        RequestType::Create | RequestType::Update => deploy(cloud, &request).await,
        RequestType::Delete => remove(cloud, &request).await,
    };
    let (failure, summary) = match outcome {
        Ok(summary) => (None, summary),
        Err((reason, summary)) => (Some(reason), summary),
    };
    let response = request.response(&physical, failure.as_deref());
    tracing::info!(
        request = ?request.request_type,
        status = response.status,
        reason = response.reason.as_deref().unwrap_or(""),
        "custom resource answered"
    );
    match respond
        .respond(&request.response_url, &response, deadline.stop)
        .await
    {
        Ok(()) => (Ok(()), summary),
        Err(e) => (
            Err(InvocationError(format!(
                "custom resource {} of stack {}: the response could not be sent: {e}",
                request.logical_resource_id, request.stack_id
            ))),
            summary,
        ),
    }
}

type Answer = Result<Summary, (String, Summary)>;

/// Create or Update: sync with the request's rules. The physical id is the prefix, so that a new prefix is
/// a replacement (CloudFormation then deletes the old one's filters and alarms through a Delete).
async fn deploy<C: Cloud>(cloud: &C, r: &Request) -> (String, Answer) {
    let cfg = match Config::from_request(r) {
        Ok(c) => c,
        Err(e) => {
            return (
                r.physical_or_logical(),
                Err((e.to_string(), Summary::default())),
            );
        }
    };
    let physical = cfg.naming.prefix.clone();
    let answer = match sync(cloud, &cfg.watches, &cfg.naming, false).await {
        Err(u) => Err((u.to_string(), u.summary)),
        Ok(o) => match o.failure() {
            None => Ok(o.summary),
            Some(why) => Err((why, o.summary)),
        },
    };
    (physical, answer)
}

/// Delete: every filter and alarm of the request's prefix goes; SUCCESS whatever happens.
async fn remove<C: Cloud>(cloud: &C, r: &Request) -> (String, Answer) {
    let physical = r.physical_or_logical();
    let env_of = |k: &str| property(r, k);
    let env = logcore::base::env::Env::new(&env_of);
    let prefix = match prefix(&env) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "custom resource deleted without a valid prefix: nothing removed");
            return (physical, Ok(Summary::default()));
        }
    };
    let naming = naming(&env, prefix);
    let summary = match sync(cloud, &[], &naming, false).await {
        Ok(o) => {
            for f in &o.failures {
                tracing::error!(failure = %f, prefix = %naming.prefix, "left in place on delete");
            }
            o.summary
        }
        Err(u) => {
            tracing::error!(error = %u.error, prefix = %naming.prefix, "nothing removed on delete");
            u.summary
        }
    };
    (physical, Ok(summary))
}

async fn scheduled<C: Cloud>(f: &Function, cloud: &C) -> (Result<(), InvocationError>, Summary) {
    let cfg = match &f.config {
        Ok(c) => c,
        Err(e) => return (Err(InvocationError(e.clone())), Summary::default()),
    };
    match sync(cloud, &cfg.watches, &cfg.naming, false).await {
        Err(u) => (Err(InvocationError(u.to_string())), u.summary),
        Ok(o) => (
            o.failure().map_or(Ok(()), |why| Err(InvocationError(why))),
            o.summary,
        ),
    }
}

/// The invocation's report line.
pub fn report(f: &Function, request_id: &str, s: &Summary) {
    f.common.report(request_id, "invocation summary", s);
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

impl Outcome {
    /// The reason of a sync whose changes failed (how many, and the first), `None` when all applied.
    pub fn failure(&self) -> Option<String> {
        let first = self.failures.first()?;
        Some(format!(
            "alert sync: {} of {} changes failed; first: {first}",
            self.failures.len(),
            self.changes.len(),
        ))
    }
}

/// A sync that could not list what exists: no plan was made and nothing changed. Its summary counts the
/// failure, so every caller reports it the same way.
#[derive(Debug)]
pub struct Unlisted {
    pub error: CallError,
    pub summary: Summary,
}

impl std::fmt::Display for Unlisted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "alert sync: {}", self.error)
    }
}

impl std::error::Error for Unlisted {}

impl From<CallError> for Unlisted {
    fn from(error: CallError) -> Unlisted {
        Unlisted {
            error,
            summary: Summary {
                failed: 1,
                ..Summary::default()
            },
        }
    }
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
/// without it) and is counted as one failure; a failed change is counted and reported, and the others
/// are still applied.
pub async fn sync<C: Cloud>(
    cloud: &C,
    watches: &[Watch],
    naming: &Naming,
    dry_run: bool,
) -> Result<Outcome, Unlisted> {
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
