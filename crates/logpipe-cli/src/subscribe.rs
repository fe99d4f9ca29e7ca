//! `logpipe subscribe`: the log subscriber's logic from the command line, for backfill: list the log
//! groups, plan (`--dry-run`), apply with a progress bar, or detach logpipe's filters (`--remove`).

use std::path::PathBuf;
use std::time::Duration;

use log_subscriber::aws::AwsLogs;
use log_subscriber::{reconcile, Config, GroupOutcome, Mode, Run, Step, Summary, Target};

#[derive(clap::Args)]
pub struct SubscribeArgs {
    /// Log groups to subscribe (default: every group, or those under --prefix).
    groups: Vec<String>,
    /// The rules, as the function's SUBSCRIPTIONS variable (a JSON list); default: that variable.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Only log groups whose names start with this.
    #[arg(long)]
    prefix: Option<String>,
    /// Print what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Detach logpipe's filters (those named in the rules) instead; others are never touched.
    #[arg(long)]
    remove: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Do not read the account-level subscription filter policies (`ACCOUNT_POLICIES=false`): for
    /// credentials without logs:DescribeAccountPolicies. Filters a policy makes redundant are then attached.
    #[arg(long)]
    no_account_policies: bool,
}

pub fn run(args: SubscribeArgs) -> Result<(), String> {
    let rules = match &args.rules {
        Some(path) => {
            Some(std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let mut cfg = Config::from_env(|k| match (k, &rules) {
        ("SUBSCRIPTIONS", Some(r)) => Some(r.clone()),
        _ => std::env::var(k).ok(),
    })
    .map_err(|e| match &args.rules {
        Some(path) => format!("{}: {e}", path.display()),
        None => e.to_string(),
    })?;
    if args.no_account_policies {
        cfg.account_policies = false;
    }
    let rt = crate::runtime()?;
    let sdk = rt.block_on(aws_config::load_defaults(
        aws_config::BehaviorVersion::latest(),
    ));
    let logs = AwsLogs::new(&sdk);
    let target = if args.groups.is_empty() {
        Target::All
    } else {
        Target::Groups(args.groups.clone())
    };
    let mode = if args.remove {
        Mode::Remove
    } else {
        Mode::Apply
    };
    let bar = (!args.quiet).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} log groups, {per_sec} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar
    });
    // A command has no Lambda deadline: a day is "until done".
    let stop = tokio::time::Instant::now() + Duration::from_secs(86_400);
    let mut failed = Vec::new();
    let summary = rt
        .block_on(reconcile(
            &cfg,
            &logs,
            &Run {
                target: &target,
                prefix: args.prefix.as_deref(),
                mode,
                dry_run: args.dry_run,
                stop,
            },
            |group, outcome| {
                if let Some(b) = &bar {
                    b.inc(1);
                }
                for line in describe(group, outcome, args.dry_run) {
                    // Printed even when the bar is hidden (stderr not a terminal).
                    match &bar {
                        Some(b) => b.suspend(|| println!("{line}")),
                        None => println!("{line}"),
                    }
                }
                if let GroupOutcome::Failed(e) = outcome {
                    failed.push(e.clone());
                }
            },
        ))
        .map_err(|e| e.to_string())?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    eprintln!("{}", table(&summary, args.dry_run));
    match failed.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} log groups not done; first: {first}",
            failed.len()
        )),
    }
}

/// One line per change, conflict or failure of a group (nothing for groups already as the rules say).
fn describe(group: &str, outcome: &GroupOutcome, dry_run: bool) -> Vec<String> {
    let would = if dry_run { "would " } else { "" };
    match outcome {
        GroupOutcome::Done(steps) => steps
            .iter()
            .filter_map(|s| match s {
                Step::Create(f) | Step::Update(f) => Some(format!(
                    "{group}: {would}{} {} → {}{}",
                    if matches!(s, Step::Create(_)) { "create" } else { "update" },
                    f.name,
                    f.destination_arn,
                    pattern(&f.filter_pattern)
                )),
                Step::Remove(name) => Some(format!("{group}: {would}remove {name}")),
                Step::Conflict {
                    wanted,
                    occupied_by,
                } => Some(format!(
                    "{group}: CONFLICT: {wanted} not added, the group already has {} (at most 2 filters)",
                    occupied_by.join(" and ")
                )),
                Step::Covered { filter, policy } => Some(format!(
                    "{group}: {filter} not needed: the account policy {policy} delivers this group"
                )),
                Step::UpToDate(_) => None,
            })
            .collect(),
        GroupOutcome::Missing => vec![format!("{group}: no such log group")],
        GroupOutcome::Failed(e) => vec![format!("{group}: FAILED: {e}")],
    }
}

fn pattern(p: &str) -> String {
    if p.is_empty() {
        String::new()
    } else {
        format!(" (pattern {p:?})")
    }
}

fn table(s: &Summary, dry_run: bool) -> String {
    format!(
        "{}log groups: {} listed, {} matched\nfilters:    {} created, {} updated, {} removed, {} already right, {} delivered by an account policy instead\nproblems:   {} conflicts, {} failed, {} not found ({} retries after throttling)",
        if dry_run { "dry run, nothing changed\n" } else { "" },
        s.groups, s.groups_matched, s.created, s.updated, s.removed, s.up_to_date, s.covered,
        s.conflicts, s.failed, s.missing, s.retries
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use log_subscriber::Filter;

    #[test]
    fn lines_say_what_changes() {
        let f = Filter {
            name: "logpipe-alerts".into(),
            destination_arn: "arn:aws:lambda:r:1:function:slack".into(),
            filter_pattern: "?ERROR".into(),
            role_arn: None,
        };
        let out = GroupOutcome::Done(vec![
            Step::Create(f),
            Step::UpToDate("logpipe-app".into()),
            Step::Conflict {
                wanted: "x".into(),
                occupied_by: vec!["a".into(), "b".into()],
            },
            Step::Covered {
                filter: "logpipe-app".into(),
                policy: "logpipe-dev-app".into(),
            },
        ]);
        assert_eq!(
            describe("/ecs/api", &out, true),
            [
                "/ecs/api: would create logpipe-alerts → arn:aws:lambda:r:1:function:slack (pattern \"?ERROR\")",
                "/ecs/api: CONFLICT: x not added, the group already has a and b (at most 2 filters)",
                "/ecs/api: logpipe-app not needed: the account policy logpipe-dev-app delivers this group",
            ]
        );
        assert_eq!(
            describe("/g", &GroupOutcome::Failed("denied".into()), false),
            ["/g: FAILED: denied"]
        );
        assert!(table(&Summary::default(), true).starts_with("dry run"));
    }
}
