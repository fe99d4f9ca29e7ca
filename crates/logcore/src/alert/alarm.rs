//! CloudWatch alarm state changes, as the alarm's SNS action delivers them, to Slack messages: which rule,
//! which log groups, the count in the window, and a Logs Insights link with the query and the window filled
//! in. Alarms logpipe's sync did not make (the pipeline's own: failed records, dead letters, queue depth,
//! missing heartbeats) render the same way without the rule's part.
//!
//! The message is CloudWatch's: `Region` is a display name (`EU - Ireland`), so the region code is read from
//! `AlarmArn`; `StateChangeTime` has its offset without a colon (`…T17:43:27.123+0000`); `AlarmDescription`
//! may be null; the datapoints are only in the `NewStateReason` text (`… [12.0 (02/12/26 10:00:00)] was …`).

use serde_json::{json, Value};

use super::slack::{context, cut_chars, escape, insights_link, log_group_link, MAX_HEADER_CHARS};
use super::watch::{Marker, Watch};

/// One alarm state change.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmChange {
    pub name: String,
    pub description: String,
    pub account: String,
    /// Region code, from the alarm's ARN.
    pub region: Option<String>,
    /// `ALARM`, `OK` or `INSUFFICIENT_DATA`.
    pub new_state: String,
    pub old_state: String,
    pub reason: String,
    pub change_ms: Option<i64>,
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    pub period_seconds: Option<u64>,
}

/// Longest Logs Insights link put in a message.
const MAX_LINK_CHARS: usize = 2800;

fn text(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// An alarm state change from an SNS message's text, or `None` when the message is not one (no
/// `AlarmName` and `NewStateValue`).
pub fn parse(message: &str) -> Option<AlarmChange> {
    let v: Value = serde_json::from_str(message).ok()?;
    let name = v.get("AlarmName")?.as_str()?.to_string();
    let new_state = v.get("NewStateValue")?.as_str()?.to_string();
    let trigger = v.get("Trigger").cloned().unwrap_or(Value::Null);
    let arn = text(&v, "AlarmArn");
    let region = arn
        .split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let dimensions = trigger
        .get("Dimensions")
        .and_then(Value::as_array)
        .map(|ds| {
            ds.iter()
                .map(|d| (text(d, "name"), text(d, "value")))
                .collect()
        })
        .unwrap_or_default();
    Some(AlarmChange {
        name,
        description: text(&v, "AlarmDescription"),
        account: text(&v, "AWSAccountId"),
        region,
        new_state,
        old_state: text(&v, "OldStateValue"),
        reason: text(&v, "NewStateReason"),
        change_ms: change_time(&text(&v, "StateChangeTime")),
        namespace: text(&trigger, "Namespace"),
        metric: text(&trigger, "MetricName"),
        dimensions,
        period_seconds: trigger.get("Period").and_then(Value::as_u64),
    })
}

/// `StateChangeTime`: RFC 3339, but CloudWatch writes the offset as `+0000`.
fn change_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    let n = b.len();
    if n > 5 && matches!(b[n - 5], b'+' | b'-') && b[n - 4..].iter().all(u8::is_ascii_digit) {
        return crate::base::time::parse_rfc3339_ms(&format!("{}:{}", &s[..n - 2], &s[n - 2..]));
    }
    crate::base::time::parse_rfc3339_ms(s)
}

/// The first datapoint of the reason: `[12.0 (…)]`, or `(12.0)` after "datapoint".
pub fn datapoint(reason: &str) -> Option<f64> {
    let after = |i: usize| -> Option<f64> {
        let rest = &reason[i..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'E' || c == 'e'))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    let at = reason.find("datapoint")?;
    let tail = &reason[at..];
    let open = tail.find(['[', '('])?;
    after(at + open + 1)
}

/// Logs Insights query of a rule's window: the events its filter counts, newest first.
fn query(watch: Option<&Watch>) -> String {
    let mut q = String::new();
    if let Some(w) = watch {
        match &w.filter_pattern {
            Some(p) => q.push_str(&format!(
                "# logpipe rule {}: filter pattern {}\n",
                w.name,
                p.replace('\n', " ")
            )),
            None => q.push_str(&format!("# logpipe rule {}: every event\n", w.name)),
        }
    }
    q.push_str("fields @timestamp, @logStream, @message\n| sort @timestamp desc\n| limit 200");
    q
}

/// The Slack message of one alarm state change (`text` and `blocks`); `mention` is put first on ALARM only.
pub fn message(
    a: &AlarmChange,
    watches: &[Watch],
    default_region: &str,
    mention: &[String],
) -> Value {
    let region = a.region.as_deref().unwrap_or(default_region);
    let marker = Marker::read(&a.description);
    let watch = marker
        .as_ref()
        .and_then(|m| watches.iter().find(|w| w.name == m.rule));
    let groups = log_groups(a, marker.as_ref(), watch);
    let icon = match a.new_state.as_str() {
        "ALARM" => "🔴",
        "OK" => "✅",
        _ => "⚪",
    };
    let title = match &marker {
        Some(m) => format!("{icon} {} — {}", a.new_state, m.rule),
        None => format!("{icon} {} — {}", a.new_state, a.name),
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text",
            "text": cut_chars(&title, MAX_HEADER_CHARS), "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": what_happened(a, mention)}}),
        context(facts(a, region, &groups)),
    ];
    let links = links(a, region, &groups, watch);
    if !links.is_empty() {
        blocks.push(context(links));
    }
    let fallback = cut_chars(
        &format!(
            "{} {}: {}",
            a.new_state,
            marker.map_or(a.name.clone(), |m| m.rule),
            a.reason
        ),
        super::slack::MAX_FALLBACK_CHARS,
    );
    json!({"text": escape(&fallback), "blocks": blocks})
}

/// The log groups the alarm watches: the marker's group, else its rule's groups, else the metric's
/// `LogGroupName` dimension.
fn log_groups(a: &AlarmChange, marker: Option<&Marker>, watch: Option<&Watch>) -> Vec<String> {
    match (marker, watch) {
        (
            Some(Marker {
                log_group: Some(g), ..
            }),
            _,
        ) => vec![g.clone()],
        (_, Some(w)) => w
            .log_groups
            .iter()
            .map(|g| g.as_str().to_string())
            .collect(),
        _ => a
            .dimensions
            .iter()
            .filter(|(n, _)| n == "LogGroupName")
            .map(|(_, v)| v.clone())
            .collect(),
    }
}

/// The section: the mention (on ALARM), the description's first line, the datapoint, the reason.
fn what_happened(a: &AlarmChange, mention: &[String]) -> String {
    let mut lines = Vec::new();
    if a.new_state == "ALARM" && !mention.is_empty() {
        lines.push(mention.join(" "));
    }
    let first_line = a.description.lines().next().unwrap_or_default();
    if !first_line.is_empty() {
        lines.push(escape(&cut_chars(first_line, 600)));
    }
    if let Some(v) = datapoint(&a.reason) {
        let window = a
            .period_seconds
            .map(|p| format!(" in {} min", p.div_ceil(60)))
            .unwrap_or_default();
        let what = if a.namespace == "AWS/Logs" {
            "events"
        } else {
            "matching events"
        };
        lines.push(format!("*{}* {what}{window}", v.round() as i64));
    }
    lines.push(format!("_{}_", escape(&cut_chars(&a.reason, 900))));
    lines.join("\n")
}

/// The context line: alarm, account, region, former state, log groups (five at most).
fn facts(a: &AlarmChange, region: &str, groups: &[String]) -> Vec<String> {
    let mut ctx = vec![format!("*Alarm* {}", escape(&cut_chars(&a.name, 300)))];
    if !a.account.is_empty() {
        ctx.push(format!("*Account* {}", escape(&a.account)));
    }
    ctx.push(format!("*Region* {}", escape(region)));
    if !a.old_state.is_empty() {
        ctx.push(format!("was {}", escape(&a.old_state)));
    }
    if !groups.is_empty() {
        let names: Vec<&str> = groups.iter().map(String::as_str).take(5).collect();
        ctx.push(format!(
            "*Log groups* {}",
            escape(&cut_chars(&names.join(", "), 600))
        ));
    }
    ctx
}

/// Where to look: the alarm's window in Logs Insights, else the first group in CloudWatch Logs.
fn links(a: &AlarmChange, region: &str, groups: &[String], watch: Option<&Watch>) -> Vec<String> {
    let mut links = Vec::new();
    // Insights takes log group names, not globs: the link is for named groups only.
    let named: Vec<&str> = groups
        .iter()
        .map(String::as_str)
        .filter(|g| !g.contains('*'))
        .take(50)
        .collect();
    if let (Some(end), false) = (a.change_ms, named.is_empty()) {
        let period_ms = a.period_seconds.unwrap_or(300).max(60) as i64 * 1000;
        let link = insights_link(region, &named, &query(watch), end - period_ms, end);
        if link.len() <= MAX_LINK_CHARS {
            links.push(format!("<{link}|Open the window in Logs Insights>"));
        }
    } else if let Some(g) = named.first() {
        links.push(format!(
            "<{}|Open {} in CloudWatch Logs>",
            log_group_link(region, g),
            escape(g)
        ));
    }
    links
}

#[cfg(test)]
mod tests;
