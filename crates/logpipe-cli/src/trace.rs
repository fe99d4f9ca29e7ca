//! `logpipe trace`: follow one event through the pipeline on demand — CloudWatch Logs, the S3 objects,
//! the search index — with the canary's lookups, and say which hop saw it last.

use canary::aws::AwsLogs;
use canary::config::parse_prefixes;
use canary::trace::{trace, Query, TraceConfig};
use logpipe_io::store::S3Store;
use logpipe_io::HttpSearch;

#[derive(clap::Args)]
pub struct TraceArgs {
    /// A CloudWatch Logs event id (the documents' event.id, 56 digits), or text of the event's message.
    query: String,
    /// QUERY is an event id even when shorter than AWS's (local stand-ins number events from 1).
    #[arg(long)]
    id: bool,
    /// A log group to look in (repeat for several); needed to find an event by text in CloudWatch Logs.
    #[arg(long = "log-group", short = 'g')]
    groups: Vec<String>,
    /// How far back to look: 90s, 30m, 6h, 2d.
    #[arg(long, default_value = "24h")]
    since: String,
    /// The log bucket (objects are read from it).
    #[arg(long, env = "BUCKET")]
    bucket: Option<String>,
    /// Where Firehose writes the objects: key prefixes with %Y %m %d %H (UTC), comma-separated.
    #[arg(long, env = "KEY_PREFIXES", default_value = "logs/%Y/%m/%d/%H/")]
    prefixes: String,
    /// The search engine's base URL; authentication as the forwarder's (SEARCH_AUTH, SEARCH_SECRET_ARN).
    #[arg(long, env = "SEARCH_URL")]
    search_url: Option<String>,
    /// Index pattern to search (default: every index the forwarder's INDEX template makes).
    #[arg(long)]
    index: Option<String>,
    /// Megabytes of objects read at most.
    #[arg(long, default_value_t = 1024)]
    max_scan_mb: u64,
    /// Events followed at most (a text can match many).
    #[arg(long, default_value_t = 10)]
    limit: usize,
}

pub fn run(args: TraceArgs) -> Result<(), String> {
    let query = if args.id {
        Query::EventId(args.query.trim().to_string())
    } else {
        Query::parse(&args.query)?
    };
    let now = logcore::base::time::now_ms();
    let since = parse_since(&args.since)?;
    let index = crate::index_pattern(args.index.as_deref())?;
    let cfg = TraceConfig {
        groups: args.groups,
        from_ms: now - since,
        to_ms: now,
        bucket: args.bucket,
        key_prefixes: parse_prefixes(&args.prefixes).map_err(|e| format!("--prefixes: {e}"))?,
        index_pattern: index,
        max_scan_bytes: args.max_scan_mb.saturating_mul(1 << 20),
        max_object_bytes: 4 << 30,
        limit: args.limit.max(1),
    };
    let endpoint = crate::search_endpoint(args.search_url.as_deref())?;
    let rt = crate::runtime()?;
    let sdk = rt.block_on(aws_config::load_defaults(
        aws_config::BehaviorVersion::latest(),
    ));
    let logs = AwsLogs::new(&sdk);
    let objects = S3Store::from_env(&sdk);
    let search = match &endpoint {
        Some(ep) => Some(rt.block_on(HttpSearch::connect(ep, 1, &sdk))?),
        None => None,
    };
    let t = rt.block_on(trace(
        &cfg,
        Some(&logs),
        Some(&objects),
        search.as_ref(),
        query,
    ));
    print!("{}", t.render());
    if t.delivered() {
        Ok(())
    } else {
        Err(match t.last_hop() {
            Some(hop) => format!("not delivered: last seen in {hop}"),
            None => "not found at any hop checked".into(),
        })
    }
}

/// `90s`, `30m`, `6h`, `2d` in milliseconds.
pub fn parse_since(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let last = s.char_indices().last().map_or(0, |(i, _)| i);
    let (num, unit) = s.split_at(last);
    let n: i64 = num.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        format!("--since {s:?}: expected a positive number and s, m, h or d (30m)")
    })?;
    let ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("--since {s:?}: the unit is s, m, h or d (30m)")),
    };
    n.checked_mul(ms)
        .filter(|v| *v <= 400 * 86_400_000)
        .ok_or_else(|| format!("--since {s:?}: at most 400 days"))
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since() {
        assert_eq!(parse_since("90s"), Ok(90_000));
        assert_eq!(parse_since("30m"), Ok(1_800_000));
        assert_eq!(parse_since(" 6h "), Ok(21_600_000));
        assert_eq!(parse_since("2d"), Ok(172_800_000));
        for bad in ["", "h", "0m", "-1h", "5w", "1.5h", "99999999999d", "5é"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
