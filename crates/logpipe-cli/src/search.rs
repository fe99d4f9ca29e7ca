//! `logpipe search setup`: install (or show, with --dry-run) the index templates, mappings and retention
//! policy the forwarder installs at cold start, with the forwarder's code and settings.

use logcore::search::index_setup::{views, Kind, Layout};
use logpipe_io::Endpoint;
use logpipe_io::HttpSearch;
use s3_search_forwarder::setup::{self, Action, Step};
use s3_search_forwarder::Config;

#[derive(clap::Subcommand)]
pub enum SearchCommand {
    /// Detect the engine (GET /), then create or replace what is missing or outdated: component and index
    /// templates for the app and audit families, and the retention policy (ISM or ILM). Re-running
    /// changes nothing. Settings from the forwarder's variables (INDEX, AUDIT_INDEX, SEARCH_SHARDS, ...),
    /// authentication as the forwarder's (SEARCH_AUTH, SEARCH_SECRET_ARN, AWS credentials for SigV4).
    Setup(SetupArgs),
    /// Print the saved objects for OpenSearch Dashboards and Kibana (index patterns, saved searches,
    /// dashboards) as NDJSON, for Stack Management → Saved objects → Import (dashboards/logpipe.ndjson).
    Dashboards,
}

#[derive(clap::Args)]
pub struct SetupArgs {
    /// The engine's base URL.
    #[arg(long, env = "SEARCH_URL")]
    search_url: String,
    /// Show what would be created or changed; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Prefix of the installed objects' names (the stack's: logpipe-<env>).
    #[arg(long, env = "SEARCH_SETUP_NAME")]
    name: Option<String>,
    /// Days before an index is deleted.
    #[arg(long, env = "SEARCH_RETENTION_DAYS")]
    retention_days: Option<u32>,
    /// Primary shards of each new index.
    #[arg(long, env = "SEARCH_SHARDS")]
    shards: Option<u32>,
    /// Replicas of each shard.
    #[arg(long, env = "SEARCH_REPLICAS")]
    replicas: Option<u32>,
    /// OpenSearch Dashboards or Kibana base URL (`https://domain/_dashboards`): import the saved objects
    /// too (same authentication).
    #[arg(long)]
    dashboards_url: Option<String>,
}

pub fn run(cmd: SearchCommand) -> Result<(), String> {
    let args = match cmd {
        SearchCommand::Setup(args) => args,
        SearchCommand::Dashboards => {
            print!("{}", views::ndjson(&Layout::default()));
            return Ok(());
        }
    };
    let cfg = config(&args, |k| std::env::var(k).ok())?;
    let layout = cfg.setup.clone().ok_or("no layout")?;
    let rt = crate::runtime()?;
    let sdk = rt.block_on(aws_config::load_defaults(
        aws_config::BehaviorVersion::latest(),
    ));
    let search = rt.block_on(HttpSearch::connect(&cfg.endpoint, 1, &sdk))?;
    let (engine, steps) = rt
        .block_on(setup::ensure(
            &search,
            &layout,
            cfg.endpoint.hosting(),
            args.dry_run,
        ))
        .map_err(|e| e.to_string())?;
    println!(
        "{}: {} (layout {})",
        cfg.endpoint.url,
        engine.describe(),
        layout.marker()
    );
    print!("{}", render(&steps, args.dry_run));
    if let Some(url) = &args.dashboards_url {
        let objects = views::ndjson(&layout);
        if args.dry_run {
            println!(
                "{url}: would import {} saved objects",
                objects.lines().count()
            );
        } else {
            let ep = Endpoint {
                url: url.trim_end_matches('/').to_string(),
                ..cfg.endpoint.clone()
            };
            let dashboards = rt.block_on(HttpSearch::connect(&ep, 1, &sdk))?;
            let n = rt
                .block_on(setup::import_saved_objects(&dashboards, &objects))
                .map_err(|e| e.to_string())?;
            println!("{url}: {n} saved objects imported (index patterns, searches, dashboards)");
        }
    }
    Ok(())
}

/// The forwarder's configuration with the flags over the environment, setup on.
fn config(args: &SetupArgs, env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
    let flag = |k: &str| -> Option<String> {
        match k {
            "SEARCH_URL" => Some(args.search_url.clone()),
            "SEARCH_SETUP" => Some("true".into()),
            "SEARCH_SETUP_NAME" => args.name.clone(),
            "SEARCH_RETENTION_DAYS" => args.retention_days.map(|n| n.to_string()),
            "SEARCH_SHARDS" => args.shards.map(|n| n.to_string()),
            "SEARCH_REPLICAS" => args.replicas.map(|n| n.to_string()),
            _ => None,
        }
        .or_else(|| env(k))
    };
    Config::from_env(flag).map_err(|e| e.to_string())
}

/// One line a step: what was (or would be) done to which object.
pub fn render(steps: &[Step], dry_run: bool) -> String {
    let mut out = String::new();
    for s in steps {
        let what = match s.kind {
            Kind::ComponentTemplate => "component template",
            Kind::IndexTemplate => "index template",
            Kind::IsmPolicy => "ISM policy",
            Kind::IlmPolicy => "ILM policy",
        };
        let verb = match (s.action, dry_run) {
            (Action::UpToDate, _) => "current     ",
            (Action::Create, true) => "would create",
            (Action::Update, true) => "would update",
            (Action::Create, false) => "created     ",
            (Action::Update, false) => "updated     ",
        };
        out.push_str(&format!("  {verb}  {what:<18}  {}\n", s.path));
    }
    let changes = steps
        .iter()
        .filter(|s| s.action != Action::UpToDate)
        .count();
    out.push_str(&match (changes, dry_run) {
        (0, _) => "everything is current\n".to_string(),
        (n, true) => format!("{n} to change (dry run: nothing changed)\n"),
        (n, false) => format!("{n} changed\n"),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcore::search::index_setup::Hosting;
    use test_support::engine_api::{EngineApi, Flavor};

    fn args(url: &str, dry_run: bool) -> SetupArgs {
        SetupArgs {
            search_url: url.to_string(),
            dry_run,
            name: Some("logpipe-test".into()),
            retention_days: Some(7),
            shards: None,
            replicas: Some(0),
            dashboards_url: None,
        }
    }

    #[test]
    fn flags_over_the_environment() {
        let env = |k: &str| match k {
            "SEARCH_RETENTION_DAYS" => Some("400".into()),
            "SEARCH_SHARDS" => Some("4".into()),
            "INDEX" => Some("applogs-%Y.%m".into()),
            _ => None,
        };
        let cfg = config(&args("http://127.0.0.1:9", false), env).unwrap();
        let l = cfg.setup.unwrap();
        assert_eq!((l.retention_days, l.shards, l.replicas), (7, 4, 0));
        assert_eq!(l.name, "logpipe-test");
        assert_eq!(l.app_patterns, ["applogs-*.*"]);
        let mut bad = args("ftp://x", false);
        bad.name = None;
        assert!(config(&bad, |_| None).unwrap_err().contains("SEARCH_URL"));
    }

    /// The command against the engine stand-in: the dry run says what it would do and does nothing; the
    /// run installs; the second run finds everything current.
    #[test]
    fn dry_run_then_install_then_nothing() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let api = rt.block_on(EngineApi::start(Flavor::OpenSearch("2.15.0")));
        let cfg = config(&args(&api.url, true), |_| None).unwrap();
        let layout = cfg.setup.clone().unwrap();
        let sdk = aws_config::SdkConfig::builder().build();
        let search = rt
            .block_on(HttpSearch::connect(&cfg.endpoint, 1, &sdk))
            .unwrap();
        let run = |dry| {
            rt.block_on(setup::ensure(&search, &layout, Hosting::SelfManaged, dry))
                .map(|(_, s)| render(&s, dry))
                .unwrap()
        };
        let plan = run(true);
        assert!(
            plan.contains(
                "would create  ISM policy          /_plugins/_ism/policies/logpipe-test-retention"
            ),
            "{plan}"
        );
        assert!(
            plan.ends_with("5 to change (dry run: nothing changed)\n"),
            "{plan}"
        );
        assert!(api.requests().iter().all(|(m, _, _)| m == "GET"));
        assert!(run(false).ends_with("5 changed\n"));
        let again = run(false);
        assert!(again.ends_with("everything is current\n"), "{again}");
        assert_eq!(again.matches("current     ").count(), 5);

        // The saved objects, as the import API takes them.
        let n = rt
            .block_on(setup::import_saved_objects(
                &search,
                &views::ndjson(&layout),
            ))
            .unwrap();
        let imported = api.saved_objects();
        assert_eq!(n as usize, imported.len());
        for (t, id) in [
            ("index-pattern", "logpipe-app"),
            ("index-pattern", "logpipe-audit"),
            ("dashboard", "logpipe-app"),
            ("dashboard", "logpipe-audit"),
            ("search", "logpipe-audit-failed-logins"),
        ] {
            assert!(
                imported.contains(&(t.to_string(), id.to_string())),
                "{t} {id}: {imported:?}"
            );
        }
        let post = api
            .raw_requests()
            .into_iter()
            .find(|r| r.method == "POST")
            .unwrap();
        assert_eq!(post.path, "/api/saved_objects/_import?overwrite=true");
        assert_eq!(post.header("osd-xsrf"), Some("true"));
    }

    /// The shipped file is what the code generates (regenerate: logpipe search dashboards >
    /// dashboards/logpipe.ndjson).
    #[test]
    fn the_shipped_dashboards_file_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../dashboards/logpipe.ndjson");
        let shipped = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            shipped == views::ndjson(&Layout::default()),
            "{} is stale: run `logpipe search dashboards > dashboards/logpipe.ndjson`",
            path.display()
        );
    }
}
