//! What a run tells: a line per heartbeat delivered (with its latency per hop, also as metrics) or missing
//! (with the hop where the chain broke), and the run's report line.

use crate::{Config, Heartbeat, Hop, Outcome, Summary};

/// Log the run's outcomes and its summary line, and print its EMF metrics (counts, and each delivered
/// heartbeat's latency per hop).
pub fn report(cfg: &Config, request_id: &str, summary: &Summary, outcomes: &[Outcome]) {
    for o in outcomes {
        match o {
            Outcome::Delivered { heartbeat, late } => {
                let lat = heartbeat.latencies();
                tracing::info!(
                    heartbeat = %heartbeat.id,
                    late,
                    latencies_ms = ?lat,
                    event_id = heartbeat.cloudwatch_logs.as_ref().map(|l| l.event_id.as_str()),
                    object = heartbeat.s3.as_ref().map(|o| o.key.as_str()),
                    index = heartbeat.search.as_ref().map(|s| s.index.as_str()),
                    "heartbeat delivered"
                );
                let metrics: Vec<(&str, f64, &str)> = lat
                    .iter()
                    .map(|(hop, ms)| (latency_metric(*hop), *ms as f64, "Milliseconds"))
                    .collect();
                logcore::base::emf::print(
                    &cfg.common.metrics_namespace,
                    &cfg.common.function_name,
                    &metrics,
                );
            }
            Outcome::Missing {
                heartbeat,
                last_hop,
            } => {
                tracing::error!(
                    heartbeat = %heartbeat.id,
                    written_at = %logcore::base::time::DateTimeParts::from_millis(heartbeat.written_ms).rfc3339(),
                    last_hop = %last_hop.map_or("none (not in CloudWatch Logs)".to_string(), |h| h.to_string()),
                    object = heartbeat.s3.as_ref().map(|o| o.key.as_str()),
                    // Not zero: the S3 hop may have it in an object not read yet (MAX_SCAN_BYTES).
                    objects_not_scanned = summary.objects_left,
                    "heartbeat missing: {}",
                    missing_reason(cfg, heartbeat, *last_hop)
                );
            }
        }
    }
    cfg.common.report(request_id, "canary summary", summary);
}

fn latency_metric(hop: Hop) -> &'static str {
    match hop {
        Hop::CloudWatchLogs => "LatencyCloudWatchLogs",
        Hop::S3 => "LatencyS3",
        Hop::Search => "LatencySearch",
    }
}

/// Where the chain broke, in words: the hop after the last one that saw the heartbeat.
pub fn missing_reason(cfg: &Config, hb: &Heartbeat, last_hop: Option<Hop>) -> String {
    match last_hop {
        None => format!(
            "not found in CloudWatch Logs group {} (the canary's write or the log group)",
            cfg.log_group
        ),
        Some(Hop::CloudWatchLogs) => format!(
            "in CloudWatch Logs (event {}) but in no object under s3://{}/{} (subscription filter, Firehose or the transform)",
            hb.cloudwatch_logs.as_ref().map_or("?", |l| l.event_id.as_str()),
            cfg.bucket,
            cfg.key_prefixes
                .iter()
                .map(|p| p.at(hb.written_ms))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some(_) => format!(
            "in s3://{}/{} but not in search index {} (notification, queue or the search forwarder)",
            cfg.bucket,
            hb.s3.as_ref().map_or("?", |o| o.key.as_str()),
            cfg.index_pattern
        ),
    }
}
