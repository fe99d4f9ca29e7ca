//! Rules CloudWatch evaluates: `threshold` (at least N matching events in M minutes) and `absence` (no
//! event, or no matching event, for M minutes). From the rules and the account's log groups this module
//! derives the CloudWatch Logs metric filters and CloudWatch alarms that implement them, and the changes
//! that bring what exists to that: logpipe owns the filters and alarms whose names start with its prefix,
//! never touches others', and deletes its own that no rule wants any more. Pure: the I/O is the caller's.
//!
//! A rule (one element of the `ALERT_RULES` JSON array):
//!
//! ```json
//! {"name": "checkout-errors", "kind": "threshold", "log_groups": ["/ecs/checkout*"],
//!  "levels": "ERROR,FATAL", "count": 10, "minutes": 5, "per": "group"}
//! {"name": "billing-silent", "kind": "absence", "log_groups": ["/ecs/billing"], "minutes": 30}
//! ```
//!
//! CloudWatch runs neither logpipe's level detection nor its regular expressions: a rule's events are
//! those its `filter_pattern` (CloudWatch filter pattern syntax) matches, by default the level words of
//! `levels` as terms in upper, lower and title case. An absence rule with neither `levels` nor
//! `filter_pattern` watches the `AWS/Logs` `IncomingLogEvents` metric of each group. Windows are CloudWatch
//! periods of M minutes (1 to 1,440).

use std::collections::BTreeMap;

use super::common::{check_destinations, check_mentions, RuleError, DEFAULT_LEVELS};
use crate::logs::glob::GroupGlob;

/// Longest alarm name CloudWatch takes.
pub const MAX_ALARM_NAME: usize = 255;
/// Longest metric name CloudWatch takes.
pub const MAX_METRIC_NAME: usize = 255;
/// Longest metric filter pattern CloudWatch Logs takes.
pub const MAX_FILTER_PATTERN: usize = 1024;
/// Longest alarm description.
pub const MAX_DESCRIPTION: usize = 1024;
/// The line of an alarm's description that names its rule and log group, for the notifier.
pub const DESCRIPTION_MARKER: &str = "logpipe-rule: ";

/// Whether a threshold counts per log group (one alarm each) or across the matched groups (one alarm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    Group,
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchKind {
    Threshold { count: u32, per: Per },
    Absence,
}

/// One rule CloudWatch evaluates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub name: String,
    pub kind: WatchKind,
    pub log_groups: Vec<GroupGlob>,
    /// The metric filter's pattern; `None` (absence only): any event, from `IncomingLogEvents`.
    pub filter_pattern: Option<String>,
    pub minutes: u32,
    /// Slack mentions posted with the alarm (from configuration only).
    pub mention: Vec<String>,
    /// Where its alarms' messages go (the notifier's destination names); empty: the default one.
    pub destinations: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WatchSpec {
    name: Option<String>,
    kind: Option<String>,
    log_groups: Vec<String>,
    levels: Option<String>,
    pattern: Option<String>,
    exclude: Option<String>,
    filter_pattern: Option<String>,
    count: Option<u32>,
    minutes: Option<u32>,
    per: Option<Per>,
    #[serde(default)]
    destinations: Vec<String>,
    #[serde(default)]
    mention: Vec<String>,
}

fn bad(rule: &str, why: impl std::fmt::Display) -> RuleError {
    RuleError::Rules(format!("rule {rule:?}: {why}"))
}

/// The default filter pattern of `levels`: each level's word as a term, in upper, lower and title case
/// (`?"ERROR" ?"error" ?"Error"`), which a JSON field or a text line carrying the level contains.
pub fn level_pattern(levels: &str) -> Result<String, RuleError> {
    let mut terms = Vec::new();
    for l in levels.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        let up = crate::logs::level::normalise_level(l)
            .ok_or_else(|| RuleError::Level(l.to_string()))?;
        let lower = up.to_ascii_lowercase();
        let title = format!("{}{}", &up[..1], &lower[1..]);
        for w in [up.to_string(), lower, title] {
            let t = format!("?\"{w}\"");
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
    }
    if terms.is_empty() {
        return Err(RuleError::Level(levels.to_string()));
    }
    Ok(terms.join(" "))
}

/// The threshold and absence rules of `ALERT_RULES` (elements without `kind`, or `"kind": "each"`, are the
/// notifier's and are skipped here). Names are unique, `[A-Za-z0-9_-]`, at most 64 characters.
pub fn parse(text: &str) -> Result<Vec<Watch>, RuleError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let specs: Vec<WatchSpec> =
        serde_json::from_str(text).map_err(|e| RuleError::Rules(e.to_string()))?;
    let mut out: Vec<Watch> = Vec::new();
    for (i, s) in specs.into_iter().enumerate() {
        let label = s.name.clone().unwrap_or_else(|| format!("#{}", i + 1));
        let Some(kind) = kind_of(&s, &label)? else {
            continue;
        };
        let Some(name) = s.name else {
            return Err(bad(
                &label,
                "threshold and absence rules need a name (it names their metric filters and alarms)",
            ));
        };
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad(&name, "names are 1 to 64 of A-Z, a-z, 0-9, - and _"));
        }
        if out.iter().any(|w| w.name == name) {
            return Err(bad(&name, "two rules have this name"));
        }
        if s.pattern.is_some() || s.exclude.is_some() {
            return Err(bad(
                &name,
                "pattern and exclude are logpipe regular expressions, which CloudWatch does not run: \
                 give a filter_pattern (CloudWatch filter pattern syntax) instead",
            ));
        }
        if s.log_groups.iter().all(|g| g.trim().is_empty()) {
            return Err(bad(&name, "log_groups is empty"));
        }
        let minutes = match s.minutes {
            Some(m @ 1..=1440) => m,
            Some(m) => return Err(bad(&name, format!("minutes {m} is not within 1 to 1440"))),
            None => return Err(bad(&name, "minutes is required")),
        };
        let filter_pattern =
            filter_pattern_of(s.filter_pattern, s.levels, &kind).map_err(|why| bad(&name, why))?;
        check_mentions(&s.mention).map_err(|why| bad(&name, why))?;
        check_destinations(s.destinations.iter().map(String::as_str))
            .map_err(|why| bad(&name, why))?;
        out.push(Watch {
            name,
            kind,
            log_groups: s.log_groups.iter().map(|g| GroupGlob::new(g)).collect(),
            filter_pattern,
            minutes,
            mention: s.mention,
            destinations: s.destinations,
        });
    }
    Ok(out)
}

/// The rule's kind; `None` for an `each` rule (the notifier's).
fn kind_of(s: &WatchSpec, label: &str) -> Result<Option<WatchKind>, RuleError> {
    Ok(Some(match s.kind.as_deref().unwrap_or("each") {
        "each" => return Ok(None),
        "threshold" => WatchKind::Threshold {
            count: match s.count {
                Some(n) if n >= 1 => n,
                Some(_) => return Err(bad(label, "count must be at least 1")),
                None => return Err(bad(label, "a threshold rule needs count")),
            },
            per: s.per.unwrap_or(Per::Group),
        },
        "absence" => {
            if s.count.is_some() || s.per.is_some() {
                return Err(bad(label, "count and per are for threshold rules"));
            }
            WatchKind::Absence
        }
        other => {
            return Err(bad(
                label,
                format!("unknown kind {other:?} (each, threshold or absence)"),
            ))
        }
    }))
}

/// The metric filter's pattern: the rule's `filter_pattern`, or one for its `levels`; a threshold rule
/// with neither counts the default levels, an absence rule every event.
fn filter_pattern_of(
    filter_pattern: Option<String>,
    levels: Option<String>,
    kind: &WatchKind,
) -> Result<Option<String>, String> {
    match (filter_pattern, levels) {
        (Some(_), Some(_)) => Err("give levels or filter_pattern, not both".into()),
        (Some(p), None) if p.trim().is_empty() => Err("filter_pattern is empty".into()),
        (Some(p), None) if p.chars().count() > MAX_FILTER_PATTERN => Err(format!(
            "filter_pattern is over {MAX_FILTER_PATTERN} characters"
        )),
        (Some(p), None) => Ok(Some(p)),
        (None, Some(l)) => level_pattern(&l).map(Some).map_err(|e| e.to_string()),
        (None, None) => match kind {
            WatchKind::Absence => Ok(None),
            WatchKind::Threshold { .. } => level_pattern(DEFAULT_LEVELS)
                .map(Some)
                .map_err(|e| e.to_string()),
        },
    }
}

/// Where logpipe's filters and alarms live, and how they are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// Prefix of every metric filter and alarm logpipe owns (`logpipe-<env>-alert-`).
    pub prefix: String,
    /// Namespace of the metrics the filters publish.
    pub namespace: String,
    /// Where every alarm sends its ALARM and OK notifications (the notifier's SNS topic).
    pub actions: Vec<String>,
}

/// A CloudWatch Logs metric filter: one matching event publishes 1 to the metric.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricFilter {
    pub log_group: String,
    pub name: String,
    pub pattern: String,
    pub namespace: String,
    pub metric_name: String,
}

/// How missing data counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Missing {
    Breaching,
    NotBreaching,
}

impl Missing {
    pub fn as_str(self) -> &'static str {
        match self {
            Missing::Breaching => "breaching",
            Missing::NotBreaching => "notBreaching",
        }
    }
}

/// A CloudWatch alarm on the sum of one metric over one period.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Alarm {
    pub name: String,
    pub description: String,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    pub period_seconds: u32,
    pub threshold: u32,
    /// `GreaterThanOrEqualToThreshold` (threshold) or `LessThanThreshold` (absence).
    pub comparison: &'static str,
    pub missing: Missing,
    /// Alarm and OK actions.
    pub actions: Vec<String>,
}

/// What the rules want to exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub filters: Vec<MetricFilter>,
    pub alarms: Vec<Alarm>,
}

/// `base` cut so that it fits `max` bytes with `~` and 16 hex digits of a hash of the whole, or `base`.
fn fit(base: &str, max: usize) -> String {
    if base.len() <= max {
        return base.to_string();
    }
    use sha2::Digest;
    let hash = crate::base::codec::hex(&sha2::Sha256::digest(base.as_bytes())[..8]);
    let mut cut = max - hash.len() - 1;
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{hash}", &base[..cut])
}

/// The marker line of an alarm's description: the rule and, for one group's alarm, the group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Marker {
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
}

impl Marker {
    /// The marker in an alarm's description, if logpipe wrote it.
    pub fn read(description: &str) -> Option<Marker> {
        description
            .lines()
            .find_map(|l| l.strip_prefix(DESCRIPTION_MARKER))
            .and_then(|j| serde_json::from_str(j).ok())
    }
}

fn describe(w: &Watch, scope: Option<&str>) -> String {
    let where_ = match scope {
        Some(g) => g.to_string(),
        None => w
            .log_groups
            .iter()
            .map(GroupGlob::as_str)
            .collect::<Vec<_>>()
            .join(", "),
    };
    let what = match (&w.kind, &w.filter_pattern) {
        (WatchKind::Threshold { count, .. }, _) => {
            format!("at least {count} matching events in {} min", w.minutes)
        }
        (WatchKind::Absence, Some(_)) => format!("no matching event for {} min", w.minutes),
        (WatchKind::Absence, None) => format!("no event for {} min", w.minutes),
    };
    let marker = serde_json::to_string(&Marker {
        rule: w.name.clone(),
        log_group: scope.map(str::to_string),
    })
    .unwrap_or_default();
    let head = format!("logpipe alert {:?}: {what} in ", w.name);
    let tail = format!(
        ". Managed by logpipe alerts sync: edits are overwritten.\n{DESCRIPTION_MARKER}{marker}"
    );
    let room = MAX_DESCRIPTION.saturating_sub(head.len() + tail.len());
    let mut where_ = where_;
    if where_.len() > room {
        let mut cut = room.saturating_sub(3);
        while !where_.is_char_boundary(cut) {
            cut -= 1;
        }
        where_.truncate(cut);
        where_.push('…');
    }
    format!("{head}{where_}{tail}")
}

/// The filters and alarms `watches` want, given the account's log groups (those no rule's globs match
/// get nothing).
pub fn desired(watches: &[Watch], log_groups: &[String], naming: &Naming) -> Desired {
    let mut d = Desired::default();
    for w in watches {
        let groups: Vec<&String> = log_groups
            .iter()
            .filter(|g| w.log_groups.iter().any(|glob| glob.matches(g)))
            .collect();
        let filter_name = format!("{}{}", naming.prefix, w.name);
        let per_group = !matches!(w.kind, WatchKind::Threshold { per: Per::All, .. });
        let (threshold, comparison, missing) = match w.kind {
            WatchKind::Threshold { count, .. } => (
                count,
                "GreaterThanOrEqualToThreshold",
                Missing::NotBreaching,
            ),
            WatchKind::Absence => (1, "LessThanThreshold", Missing::Breaching),
        };
        let alarm = |name: String, scope: Option<&str>, ns: &str, metric: String, dims| Alarm {
            name,
            description: describe(w, scope),
            namespace: ns.to_string(),
            metric_name: metric,
            dimensions: dims,
            period_seconds: w.minutes * 60,
            threshold,
            comparison,
            missing,
            actions: naming.actions.clone(),
        };
        if !per_group {
            if groups.is_empty() {
                continue;
            }
            let metric = fit(&w.name, MAX_METRIC_NAME);
            for g in &groups {
                d.filters.push(MetricFilter {
                    log_group: (*g).clone(),
                    name: filter_name.clone(),
                    pattern: w.filter_pattern.clone().unwrap_or_default(),
                    namespace: naming.namespace.clone(),
                    metric_name: metric.clone(),
                });
            }
            d.alarms.push(alarm(
                fit(&filter_name, MAX_ALARM_NAME),
                None,
                &naming.namespace,
                metric,
                Vec::new(),
            ));
            continue;
        }
        for g in groups {
            let name = fit(&format!("{filter_name}@{g}"), MAX_ALARM_NAME);
            match &w.filter_pattern {
                Some(p) => {
                    let metric = fit(&format!("{}@{g}", w.name), MAX_METRIC_NAME);
                    d.filters.push(MetricFilter {
                        log_group: g.clone(),
                        name: filter_name.clone(),
                        pattern: p.clone(),
                        namespace: naming.namespace.clone(),
                        metric_name: metric.clone(),
                    });
                    d.alarms
                        .push(alarm(name, Some(g), &naming.namespace, metric, Vec::new()));
                }
                None => d.alarms.push(alarm(
                    name,
                    Some(g),
                    "AWS/Logs",
                    "IncomingLogEvents".into(),
                    vec![("LogGroupName".into(), g.clone())],
                )),
            }
        }
    }
    d.filters.sort();
    d.alarms.sort();
    d.alarms.dedup_by(|a, b| a.name == b.name);
    d
}

/// One change to what exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    PutFilter(MetricFilter),
    DeleteFilter { log_group: String, name: String },
    PutAlarm(Alarm),
    DeleteAlarms(Vec<String>),
}

/// What exists: the metric filters and alarms whose names start with the prefix (others are filtered out
/// here too, so a caller that lists more cannot make this touch them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Existing {
    pub filters: Vec<MetricFilter>,
    pub alarms: Vec<Alarm>,
}

/// CloudWatch's `DeleteAlarms` takes at most this many names a call.
pub const DELETE_ALARMS_BATCH: usize = 100;

/// The changes that make `existing` what `desired` says: puts for what is missing or differs, deletes
/// for logpipe's own that no rule wants. Applying them and planning again gives no change.
pub fn plan(desired: &Desired, existing: &Existing, naming: &Naming) -> Vec<Change> {
    let ours = |name: &str| name.starts_with(&naming.prefix);
    let mut changes = Vec::new();
    let have: BTreeMap<(&str, &str), &MetricFilter> = existing
        .filters
        .iter()
        .filter(|f| ours(&f.name))
        .map(|f| ((f.log_group.as_str(), f.name.as_str()), f))
        .collect();
    let want: BTreeMap<(&str, &str), &MetricFilter> = desired
        .filters
        .iter()
        .map(|f| ((f.log_group.as_str(), f.name.as_str()), f))
        .collect();
    for (k, f) in &want {
        if have.get(k) != Some(f) {
            changes.push(Change::PutFilter((*f).clone()));
        }
    }
    for (k, f) in &have {
        if !want.contains_key(k) {
            changes.push(Change::DeleteFilter {
                log_group: f.log_group.clone(),
                name: f.name.clone(),
            });
        }
    }
    let have: BTreeMap<&str, &Alarm> = existing
        .alarms
        .iter()
        .filter(|a| ours(&a.name))
        .map(|a| (a.name.as_str(), a))
        .collect();
    for a in &desired.alarms {
        if have.get(a.name.as_str()) != Some(&a) {
            changes.push(Change::PutAlarm(a.clone()));
        }
    }
    let gone: Vec<String> = have
        .keys()
        .filter(|n| !desired.alarms.iter().any(|a| a.name == **n))
        .map(|n| n.to_string())
        .collect();
    for batch in gone.chunks(DELETE_ALARMS_BATCH) {
        changes.push(Change::DeleteAlarms(batch.to_vec()));
    }
    changes
}

#[cfg(test)]
mod tests;
