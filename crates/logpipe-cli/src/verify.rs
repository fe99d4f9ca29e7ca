//! `logpipe verify`: every event id CloudWatch Logs holds for one log group in a window, checked against the
//! search index, each missing id listed with the last hop that saw it (`canary::verify`). Exact where
//! `logpipe reconcile` counts; bounded by `--max-events`. Exit 1 on any missing or duplicated id.

use canary::aws::AwsLogs;
use canary::config::parse_prefixes;
use canary::verify::{verify, VerifyConfig};
use logpipe_io::store::S3Store;
use logpipe_io::HttpSearch;

use crate::reconcile::Format;
use crate::trace::parse_since;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The log group.
    #[arg(long, short = 'g')]
    group: String,
    /// The window's start: an RFC 3339 time (2026-12-07T08:00:00Z) or how long ago (2h).
    #[arg(long)]
    from: String,
    /// The window's end (exclusive), as --from; default now.
    #[arg(long)]
    to: Option<String>,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// The search engine's base URL; authentication as the forwarder's (SEARCH_AUTH, SEARCH_SECRET_ARN).
    #[arg(long, env = "SEARCH_URL", required = true)]
    search_url: String,
    /// Index pattern to look in (default: every index the forwarder's INDEX template makes).
    #[arg(long)]
    index: Option<String>,
    /// The log bucket, where each missing event is looked for (without it the last hop named is CloudWatch
    /// Logs).
    #[arg(long, env = "BUCKET")]
    bucket: Option<String>,
    /// Where Firehose writes the objects: key prefixes with %Y %m %d %H (UTC), comma-separated.
    #[arg(long, env = "KEY_PREFIXES", default_value = "logs/%Y/%m/%d/%H/")]
    prefixes: String,
    /// Megabytes of objects read at most while looking for the missing events.
    #[arg(long, default_value_t = 1024)]
    max_scan_mb: u64,
    /// Events checked at most: a window holding more is refused (verify a shorter one).
    #[arg(long, default_value_t = 100_000)]
    max_events: usize,
    /// Event ids per search request (at most 4,000: each asks for 2 hits an id and one, under the
    /// engines' default `index.max_result_window` of 10,000).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u16).range(1..=4_000))]
    batch: u16,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// An RFC 3339 time, or a duration ago (`2h`), in milliseconds.
pub fn parse_time(s: &str, now: i64, flag: &str) -> Result<i64, String> {
    if let Some(ms) = logcore::base::time::parse_rfc3339_ms(s) {
        return Ok(ms);
    }
    parse_since(s).map(|ago| now - ago).map_err(|_| {
        format!(
            "{flag} {s:?}: expected an RFC 3339 time (2026-12-07T08:00:00Z) or how long ago (2h)"
        )
    })
}

pub fn run(args: VerifyArgs) -> Result<(), String> {
    let now = logcore::base::time::now_ms();
    let from_ms = parse_time(&args.from, now, "--from")?;
    let to_ms = match &args.to {
        Some(t) => parse_time(t, now, "--to")?,
        None => now,
    };
    if from_ms >= to_ms {
        return Err(format!("--from {} is not before --to", args.from));
    }
    let cfg = VerifyConfig {
        group: args.group.clone(),
        from_ms,
        to_ms,
        index_pattern: crate::index_pattern(args.index.as_deref())?,
        max_events: args.max_events,
        batch: usize::from(args.batch),
        bucket: args.bucket.clone(),
        key_prefixes: parse_prefixes(&args.prefixes).map_err(|e| format!("--prefixes: {e}"))?,
        max_scan_bytes: args.max_scan_mb.saturating_mul(1 << 20),
    };
    let endpoint = crate::search_endpoint(Some(&args.search_url))?
        .ok_or("--search-url: the search engine is needed")?;
    let rt = crate::runtime()?;
    let sdk = rt.block_on(aws_config::load_defaults(
        aws_config::BehaviorVersion::latest(),
    ));
    let search = rt.block_on(HttpSearch::connect(&endpoint, 1, &sdk))?;
    let logs = AwsLogs::new(&sdk);
    let objects = S3Store::from_env(&sdk);
    let bar = (!args.quiet && args.format == Format::Table)
        .then(|| crate::progress_bar(0, "{bar:30} {pos}/{len} events checked"));
    let v = rt
        .block_on(verify(
            &cfg,
            &logs,
            Some(&objects),
            &search,
            |done, total| {
                if let Some(b) = &bar {
                    b.set_length(total);
                    b.set_position(done);
                }
            },
        ))
        .map_err(|e| e.to_string())?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match args.format {
        Format::Table => print!("{}", v.render()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        ),
    }
    if v.clean() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} events missing, {} duplicated",
            v.missing.len(),
            v.events,
            v.duplicated.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_are_rfc3339_or_ago() {
        let now = 1_796_650_000_000;
        assert_eq!(
            parse_time("2026-12-07T08:00:00Z", now, "--from"),
            Ok(1_796_630_400_000)
        );
        assert_eq!(parse_time("2h", now, "--from"), Ok(now - 7_200_000));
        let e = parse_time("yesterday", now, "--to").unwrap_err();
        assert!(e.starts_with("--to \"yesterday\""), "{e}");
    }
}
