//! `logpipe alerts sync`: the alert sync from the command line: the metric filters and alarms of the
//! threshold and absence rules, planned (`--dry-run`) or applied.

use std::path::PathBuf;

use alert_sync::aws::AwsCloud;
use alert_sync::{describe, sync, Config};

#[derive(clap::Subcommand)]
pub enum AlertsCommand {
    /// Create, update and delete logpipe's metric filters and alarms so they are what the rules say
    /// (others' are never touched). AWS credentials and region from the environment; rules from --rules or
    /// ALERT_RULES, the prefix from --prefix or ALERT_NAME_PREFIX.
    Sync(SyncArgs),
}

#[derive(clap::Args)]
pub struct SyncArgs {
    /// The rules, as the ALERT_RULES variable (a JSON list); default: that variable.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Prefix of the filters and alarms logpipe owns (logpipe-<env>-alert-); default: ALERT_NAME_PREFIX.
    #[arg(long)]
    prefix: Option<String>,
    /// Print what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(cmd: AlertsCommand) -> Result<(), String> {
    let AlertsCommand::Sync(args) = cmd;
    let rules = match &args.rules {
        Some(path) => {
            Some(std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let cfg = Config::from_env(|k| match k {
        "ALERT_RULES" if rules.is_some() => rules.clone(),
        "ALERT_NAME_PREFIX" if args.prefix.is_some() => args.prefix.clone(),
        _ => std::env::var(k).ok(),
    })
    .map_err(|e| e.to_string())?;
    let rt = crate::runtime()?;
    let sdk = rt.block_on(aws_config::load_defaults(
        aws_config::BehaviorVersion::latest(),
    ));
    let cloud = AwsCloud::new(&sdk);
    let out = rt
        .block_on(sync(&cloud, &cfg.watches, &cfg.naming, args.dry_run))
        .map_err(|e| e.to_string())?;
    let verb = if args.dry_run { "would " } else { "" };
    for c in &out.changes {
        println!("{verb}{}", describe(c));
    }
    let s = &out.summary;
    println!(
        "{} rules, {} log groups: {} filters and {} alarms wanted; {} changes{}",
        s.rules,
        s.log_groups,
        s.filters_wanted,
        s.alarms_wanted,
        out.changes.len(),
        if args.dry_run { " planned" } else { "" }
    );
    out.failure().map_or(Ok(()), Err)
}
