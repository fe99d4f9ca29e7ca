//! The log subscriber: attach logpipe's subscription filters to every log group the rules match — a new
//! group as soon as CloudTrail reports its `CreateLogGroup` (EventBridge), and every group on a schedule
//! (reconciliation) — and the same logic for `logpipe subscribe` (backfill, `--dry-run`, `--remove`).
//!
//! Idempotent: a filter already as the rule says is left alone; logpipe owns the filters named in its rules
//! and never changes or removes any other; a group that already has two foreign filters is reported as a
//! conflict, not forced. CloudWatch Logs throttling is retried with backoff and full jitter, before the
//! deadline. The handler is generic over [`Logs`], with the AWS SDK implementation in [`aws`].

pub mod aws;
pub mod config;
pub mod plan;

use std::future::Future;
use std::time::Duration;

use logpipe_io::lambda::Deadline;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

pub use config::Config;
pub use plan::{parse_selection, plan, AccountPolicy, Filter, Mode, Step};

/// A failed CloudWatch Logs call: the shared vocabulary (throttled and transient calls are retried, a missing
/// group is counted as missing, the rest fail the group).
pub use logpipe_io::{CallError, ErrorKind};

/// CloudWatch Logs: list groups, read and change their subscription filters.
pub trait Logs: Send + Sync + 'static {
    /// Every log group name (all pages), under `prefix` when given.
    fn groups(
        &self,
        prefix: Option<&str>,
    ) -> impl Future<Output = Result<Vec<String>, CallError>> + Send;
    fn filters(&self, group: &str) -> impl Future<Output = Result<Vec<Filter>, CallError>> + Send;
    fn put(
        &self,
        group: &str,
        filter: &Filter,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
    fn delete(&self, group: &str, name: &str)
        -> impl Future<Output = Result<(), CallError>> + Send;
    /// The account's subscription filter policies (`DescribeAccountPolicies`).
    fn account_policies(
        &self,
    ) -> impl Future<Output = Result<Vec<AccountPolicy>, CallError>> + Send;
}

logcore::counts! {
    /// Counts of one run: its report line (summary and EMF metrics, see `logcore::base::report`).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Summary {
        pub groups: u64,
        pub groups_matched: u64,
        pub created: u64 => "FiltersCreated",
        pub updated: u64 => "FiltersUpdated",
        pub removed: u64,
        pub up_to_date: u64,
        pub conflicts: u64 => "SubscriptionConflicts",
        /// Groups deleted between listing and subscribing.
        pub missing: u64,
        pub failed: u64 => "SubscriptionFailures",
        /// Groups not reached before the deadline (the next run takes them).
        pub not_reached: u64 => "GroupsNotReached",
        /// Rules an account-level subscription filter policy already fulfils (no filter of ours).
        pub covered: u64 => "FiltersCoveredByAccountPolicy",
        pub retries: u64,
    }
}

impl Summary {
    fn count(&mut self, step: &Step) {
        match step {
            Step::Create(_) => self.created += 1,
            Step::Update(_) => self.updated += 1,
            Step::Remove(_) => self.removed += 1,
            Step::UpToDate(_) => self.up_to_date += 1,
            Step::Conflict { .. } => self.conflicts += 1,
            Step::Covered { .. } => self.covered += 1,
        }
    }
}

/// What happened to one log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutcome {
    Done(Vec<Step>),
    Missing,
    Failed(String),
}

/// Which groups an invocation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One new group (CloudTrail `CreateLogGroup` through EventBridge).
    Groups(Vec<String>),
    /// Every group (the schedule, or the CLI without names).
    All,
}

/// The target of an EventBridge event: a CloudTrail `CreateLogGroup` call, or a scheduled event.
pub fn target_of(event: &Value) -> Result<Target, String> {
    let detail_type = event["detail-type"].as_str().unwrap_or_default();
    match detail_type {
        "Scheduled Event" => Ok(Target::All),
        "AWS API Call via CloudTrail" => {
            let d = &event["detail"];
            let name = d["eventName"].as_str().unwrap_or_default();
            if name != "CreateLogGroup" {
                return Err(format!("a CloudTrail event for {name:?}, not CreateLogGroup"));
            }
            if d["errorCode"].is_string() {
                // The call failed: there is no new group.
                return Ok(Target::Groups(Vec::new()));
            }
            d.pointer("/requestParameters/logGroupName")
                .and_then(Value::as_str)
                .filter(|g| !g.is_empty())
                .map(|g| Target::Groups(vec![g.to_string()]))
                .ok_or_else(|| "CreateLogGroup event without requestParameters.logGroupName".into())
        }
        other => Err(format!(
            "an event of detail-type {other:?}: expected a scheduled event or a CloudTrail CreateLogGroup call"
        )),
    }
}

/// Run a call, retrying what may succeed later while the delay and one more attempt fit before `stop`.
async fn retrying<T, F, Fut>(
    cfg: &Config,
    stop: Instant,
    retries: &mut u64,
    mut call: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut rng = fastrand::Rng::new();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let err = match call().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let delay = cfg.backoff.delay(attempts, &mut rng);
        let left = stop.saturating_duration_since(Instant::now());
        if !err.is_retryable()
            || !cfg
                .backoff
                .may_retry(attempts, delay, Duration::from_secs(2), left)
        {
            return Err(err);
        }
        *retries += 1;
        tokio::time::sleep(delay).await;
    }
}

/// Plan and apply one group as `run` says (with `dry_run`, plan only), in an account with the
/// subscription filter policies `policies`; calls retried after throttling are counted in `retries`.
pub async fn subscribe_group<L: Logs>(
    cfg: &Config,
    logs: &L,
    group: &str,
    run: &Run<'_>,
    policies: &[AccountPolicy],
    retries: &mut u64,
) -> GroupOutcome {
    let Run {
        mode,
        dry_run,
        stop,
        ..
    } = *run;
    let existing = match retrying(cfg, stop, retries, || logs.filters(group)).await {
        Ok(f) => f,
        Err(e) if e.is_not_found() => return GroupOutcome::Missing,
        Err(e) => return GroupOutcome::Failed(format!("reading the filters of {group}: {e}")),
    };
    let steps = plan(group, &existing, cfg, mode, policies);
    if !dry_run {
        for step in &steps {
            let r = match step {
                Step::Create(f) | Step::Update(f) => {
                    retrying(cfg, stop, retries, || logs.put(group, f)).await
                }
                Step::Remove(name) => {
                    retrying(cfg, stop, retries, || logs.delete(group, name)).await
                }
                Step::UpToDate(_) | Step::Conflict { .. } | Step::Covered { .. } => Ok(()),
            };
            match r {
                Ok(()) => {}
                Err(e) if e.is_not_found() => return GroupOutcome::Missing,
                Err(e) => return GroupOutcome::Failed(format!("{step:?} on {group}: {e}")),
            }
        }
    }
    GroupOutcome::Done(steps)
}

/// What one run does: to which groups, how, until when.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    pub target: &'a Target,
    /// With [`Target::All`]: only the groups whose names start with this.
    pub prefix: Option<&'a str>,
    pub mode: Mode,
    /// Plan only; change nothing.
    pub dry_run: bool,
    /// No call starts after this: the invocation's [`Deadline::stop`].
    pub stop: Instant,
}

impl<'a> Run<'a> {
    /// Apply the rules to `target`, starting no call after `stop`.
    pub fn apply(target: &'a Target, stop: Instant) -> Self {
        Run {
            target,
            prefix: None,
            mode: Mode::Apply,
            dry_run: false,
            stop,
        }
    }
}

/// Subscribe every group of the run, logging and counting each step; `progress` sees every group.
pub async fn reconcile<L: Logs>(
    cfg: &Config,
    logs: &L,
    run: &Run<'_>,
    mut progress: impl FnMut(&str, &GroupOutcome),
) -> Result<Summary, CallError> {
    let Run {
        target,
        prefix,
        mode,
        dry_run,
        stop,
    } = *run;
    let mut summary = Summary::default();
    let groups = match target {
        Target::Groups(g) => g.clone(),
        Target::All => retrying(cfg, stop, &mut summary.retries, || logs.groups(prefix))
            .await
            .map_err(|e| e.context("listing log groups"))?,
    };
    summary.groups = groups.len() as u64;
    // What the account's subscription filter policies deliver already gets no filter of ours (read once
    // a run; not needed to remove ours).
    let policies = if cfg.account_policies && mode == Mode::Apply {
        let p = retrying(cfg, stop, &mut summary.retries, || {
            logs.account_policies()
        })
        .await
        .map_err(|mut e| {
            e.message = format!(
                "reading the account's subscription filter policies: {}; nothing was attached, since a \
                 policy may already deliver these groups. To run without reading them, set \
                 ACCOUNT_POLICIES=false (the template's AutoSubscribeAccountPolicies=false, or \
                 `logpipe subscribe --no-account-policies`)",
                e.message
            );
            e
        })?;
        for policy in &p {
            tracing::info!(policy = %policy.name, destination = %policy.destination_arn,
                excluded = policy.excluded.len(), "account-level subscription filter policy");
        }
        p
    } else {
        Vec::new()
    };
    // Only groups a rule matches cost a call (or, to remove, every group: ours may be anywhere).
    let needs_call = |g: &str| mode == Mode::Remove || cfg.rules_for(g).next().is_some();
    for (i, group) in groups.iter().enumerate() {
        if !needs_call(group) {
            continue;
        }
        summary.groups_matched += 1;
        if Instant::now() >= stop {
            summary.not_reached = groups[i..].iter().filter(|g| needs_call(g)).count() as u64;
            tracing::warn!(
                not_reached = summary.not_reached,
                "deadline reached; the next run continues"
            );
            break;
        }
        let outcome = subscribe_group(cfg, logs, group, run, &policies, &mut summary.retries).await;
        match &outcome {
            GroupOutcome::Done(steps) => {
                for s in steps {
                    summary.count(s);
                    match s {
                        Step::Conflict {
                            wanted,
                            occupied_by,
                        } => {
                            tracing::warn!(log_group = %group, filter = %wanted, occupied_by = ?occupied_by,
                            "the log group already has two subscription filters that are not logpipe's; not subscribed")
                        }
                        s if s.changes() => {
                            tracing::info!(log_group = %group, step = ?s, dry_run, "subscription filter changed")
                        }
                        _ => {}
                    }
                }
            }
            GroupOutcome::Missing => {
                summary.missing += 1;
                tracing::info!(log_group = %group, "log group no longer exists");
            }
            GroupOutcome::Failed(e) => {
                summary.failed += 1;
                tracing::error!(log_group = %group, error = %e, "subscription failed");
            }
        }
        progress(group, &outcome);
    }
    Ok(summary)
}

/// The invocation did not subscribe every group it should have: Lambda retries it (EventBridge events
/// are asynchronous invocations), and the schedule catches up in any case.
pub use logcore::base::runtime::InvocationError;

/// Handle one EventBridge event.
pub async fn handle<L: Logs>(
    cfg: &Config,
    logs: &L,
    event: &Value,
    deadline: Deadline,
) -> (Result<Value, InvocationError>, Summary) {
    let target = match target_of(event) {
        Ok(t) => t,
        Err(e) => return (Err(InvocationError(e)), Summary::default()),
    };
    let mut first_failure = None;
    let result = reconcile(cfg, logs, &Run::apply(&target, deadline.stop), |g, o| {
        if let (GroupOutcome::Failed(e), None) = (o, &first_failure) {
            first_failure = Some(format!("{g}: {e}"));
        }
    })
    .await;
    match result {
        Err(e) => (Err(InvocationError(e.to_string())), Summary::default()),
        Ok(s) => match first_failure {
            Some(first) => (
                Err(InvocationError::partly(
                    s.failed,
                    s.groups_matched,
                    "log groups not subscribed",
                    &first,
                )),
                s,
            ),
            None => (
                Ok(
                    serde_json::json!({"created": s.created, "updated": s.updated, "conflicts": s.conflicts}),
                ),
                s,
            ),
        },
    }
}

/// The report line of one invocation (summary and EMF metrics).
pub fn report(cfg: &Config, request_id: &str, s: &Summary) {
    cfg.common.report(request_id, "invocation summary", s);
}

#[cfg(test)]
mod tests;
