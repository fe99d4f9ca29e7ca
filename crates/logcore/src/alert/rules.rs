//! The notifier's rules: which log groups, which events of them alert (levels, pattern, exclude), and
//! where their messages go; judged once per event ([`Rules::judge`]).

use regex::Regex;

use super::common::{check_destinations, check_mentions, Route, RuleError, DEFAULT_DESTINATION};
use super::watch;
use crate::logs::glob::{globs, GroupGlob};
use crate::logs::level::{level_of, normalise_level};

/// The default `ALERT_PATTERN`: what a line without a recognisable level must contain to be alerted.
pub const DEFAULT_PATTERN: &str = r"(?i)\berror\b|exception|\bfatal\b|\bpanic|traceback \(most recent call last\)|(?-i:\b[A-Z]\w*Error\b)";

/// What makes an event alert-worthy in a log group.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Events with one of these levels alert.
    pub levels: Vec<&'static str>,
    /// Events without a recognisable level alert when the message matches.
    pub pattern: Option<Regex>,
    /// Events whose message matches never alert.
    pub exclude: Option<Regex>,
}

impl Rule {
    pub fn new(
        levels: &str,
        pattern: Option<&str>,
        exclude: Option<&str>,
    ) -> Result<Rule, RuleError> {
        let mut ls = Vec::new();
        for l in levels.split(',').map(str::trim).filter(|l| !l.is_empty()) {
            ls.push(normalise_level(l).ok_or_else(|| RuleError::Level(l.to_string()))?);
        }
        Ok(Rule {
            levels: ls,
            pattern: compile("ALERT_PATTERN", pattern)?,
            exclude: compile("ALERT_EXCLUDE_PATTERN", exclude)?,
        })
    }

    /// Whether the event alerts under this rule, and why not when it does not.
    pub fn decide(&self, message: &str) -> Decision {
        self.decide_leveled(message).0
    }

    /// [`Rule::decide`], and the message's level when it was read (not for an excluded message).
    fn decide_leveled(&self, message: &str) -> (Decision, Option<&'static str>) {
        if self.exclude.as_ref().is_some_and(|r| r.is_match(message)) {
            return (Decision::Excluded, None);
        }
        let level = level_of(message);
        let d = match level {
            Some(l) if self.levels.contains(&l) => Decision::Alert,
            Some(_) => Decision::BelowLevel,
            None if self.pattern.as_ref().is_some_and(|r| r.is_match(message)) => Decision::Alert,
            None => Decision::NoMatch,
        };
        (d, level)
    }
}

fn compile(which: &'static str, p: Option<&str>) -> Result<Option<Regex>, RuleError> {
    match p.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(p) => Regex::new(p)
            .map(Some)
            .map_err(|source| RuleError::Pattern {
                which,
                pattern: p.to_string(),
                source,
            }),
    }
}

/// Why an event did or did not alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Alert,
    /// The log group is not among those alerted on.
    GroupSkipped,
    /// The exclude pattern matched.
    Excluded,
    /// It has a level, not one that alerts.
    BelowLevel,
    /// No level, and the pattern did not match.
    NoMatch,
}

/// What [`Rules::judge`] says of one event.
#[derive(Debug, Clone, Copy)]
pub struct Judgement<'a> {
    pub decision: Decision,
    /// The message's level, when it has one (not read for skipped groups or excluded messages).
    pub level: Option<&'static str>,
    /// Where the group's messages go (the default route for a skipped group, which has none).
    pub route: &'a Route,
}

/// A rule's `destinations` and `mention`, checked: names of destinations, mentions Slack renders as such.
fn route_of(
    rule: &str,
    destinations: Option<Vec<String>>,
    mention: Option<Vec<String>>,
) -> Result<Route, RuleError> {
    let bad = |why: String| RuleError::Rules(format!("rule {rule}: {why}"));
    let destinations = match destinations {
        None => Route::default().destinations,
        Some(d) if d.is_empty() => return Err(bad("destinations is empty".into())),
        Some(d) => d,
    };
    check_destinations(destinations.iter().map(String::as_str)).map_err(bad)?;
    let mention = mention.unwrap_or_default();
    check_mentions(&mention).map_err(bad)?;
    Ok(Route {
        destinations,
        mention,
    })
}

/// The rules of one deployment: which log groups, and per log group (first matching override) which events,
/// where their messages go and whom they mention.
#[derive(Debug, Clone)]
pub struct Rules {
    pub include_groups: Vec<GroupGlob>,
    pub exclude_groups: Vec<GroupGlob>,
    pub overrides: Vec<(Vec<GroupGlob>, Rule)>,
    /// The route of each override, in the same order.
    pub routes: Vec<Route>,
    pub default: Rule,
    /// Mentions per level (`ALERT_MENTIONS`): a message with an alert of that level mentions them.
    pub level_mentions: Vec<(&'static str, Vec<String>)>,
    /// The route of the log groups no override matches.
    default_route: Route,
    /// The threshold and absence rules of the same text: CloudWatch evaluates them ([`watch`]); the
    /// notifier names them and their mentions in their alarms' messages.
    pub watches: Vec<watch::Watch>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    log_groups: Vec<String>,
    levels: Option<String>,
    pattern: Option<String>,
    exclude: Option<String>,
    destinations: Option<Vec<String>>,
    mention: Option<Vec<String>>,
}

impl Rules {
    /// From the values of `ALERT_LOG_GROUPS`, `ALERT_EXCLUDE_LOG_GROUPS`, `ALERT_LEVELS`, `ALERT_PATTERN`,
    /// `ALERT_EXCLUDE_PATTERN` and `ALERT_RULES` (a JSON array of `{"log_groups": [globs], "levels",
    /// "pattern", "exclude"}`; fields left out are taken from the defaults).
    pub fn new(
        include_groups: &str,
        exclude_groups: &str,
        levels: &str,
        pattern: Option<&str>,
        exclude: Option<&str>,
        overrides: Option<&str>,
    ) -> Result<Rules, RuleError> {
        let default = Rule::new(levels, pattern, exclude)?;
        let mut ov = Vec::new();
        let mut routes = Vec::new();
        let mut watches = Vec::new();
        if let Some(text) = overrides.map(str::trim).filter(|t| !t.is_empty()) {
            let items: Vec<serde_json::Value> =
                serde_json::from_str(text).map_err(|e| RuleError::Rules(e.to_string()))?;
            // The threshold and absence rules are checked here too, so that a bad one stops the notifier's
            // cold start as it stops the sync, but only `each` rules decide which events post.
            watches = watch::parse(text)?;
            for (i, mut item) in items.into_iter().enumerate() {
                let kind = item.get("kind").and_then(serde_json::Value::as_str);
                if !matches!(kind, None | Some("each")) {
                    continue;
                }
                if let Some(m) = item.as_object_mut() {
                    // `name` and `kind: each` are allowed on the notifier's rules and mean nothing more.
                    m.remove("kind");
                    m.remove("name");
                }
                let s: RuleSpec = serde_json::from_value(item)
                    .map_err(|e| RuleError::Rules(format!("rule #{}: {e}", i + 1)))?;
                routes.push(route_of(
                    &format!("#{}", i + 1),
                    s.destinations.clone(),
                    s.mention.clone(),
                )?);
                let rule = Rule::new(
                    s.levels.as_deref().unwrap_or(levels),
                    s.pattern.as_deref().or(pattern),
                    s.exclude.as_deref().or(exclude),
                )?;
                ov.push((
                    s.log_groups.iter().map(|g| GroupGlob::new(g)).collect(),
                    rule,
                ));
            }
        }
        Ok(Rules {
            include_groups: globs(include_groups),
            exclude_groups: globs(exclude_groups),
            overrides: ov,
            routes,
            default,
            level_mentions: Vec::new(),
            default_route: Route::default(),
            watches,
        })
    }

    /// Read `ALERT_MENTIONS`: a JSON object of level → mentions, `{"FATAL": ["<!subteam^S0ONCALL>"]}`.
    pub fn set_level_mentions(&mut self, text: &str) -> Result<(), RuleError> {
        let text = text.trim();
        if text.is_empty() {
            self.level_mentions.clear();
            return Ok(());
        }
        let map: std::collections::BTreeMap<String, Vec<String>> =
            serde_json::from_str(text).map_err(|e| RuleError::Rules(format!("mentions: {e}")))?;
        let mut out: Vec<(&'static str, Vec<String>)> = Vec::new();
        for (level, who) in map {
            let l = normalise_level(&level).ok_or_else(|| RuleError::Level(level.clone()))?;
            check_mentions(&who)
                .map_err(|why| RuleError::Rules(format!("mentions of {l}: {why}")))?;
            match out.iter_mut().find(|(k, _)| *k == l) {
                Some((_, v)) => v.extend(who),
                None => out.push((l, who)),
            }
        }
        self.level_mentions = out;
        Ok(())
    }

    /// The override a log group falls under (the first whose globs match), by index.
    fn override_of(&self, log_group: &str) -> Option<usize> {
        self.overrides
            .iter()
            .position(|(gs, _)| gs.iter().any(|g| g.matches(log_group)))
    }

    /// The route of a log group's messages: its override's, else the default destination.
    pub fn route(&self, log_group: &str) -> &Route {
        self.override_of(log_group)
            .map_or(&self.default_route, |i| &self.routes[i])
    }

    /// Whom a message of `route` with alerts of `levels` mentions: the rule's, then the levels', once each.
    pub fn mentions(&self, route: &Route, levels: &[&'static str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let by_level = self
            .level_mentions
            .iter()
            .filter(|(l, _)| levels.contains(l))
            .flat_map(|(_, who)| who);
        for m in route.mention.iter().chain(by_level) {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
        out
    }

    /// Every destination a rule names (each rules' and CloudWatch rules'), the default included.
    pub fn destinations(&self) -> std::collections::BTreeSet<&str> {
        let mut out: std::collections::BTreeSet<&str> = [DEFAULT_DESTINATION].into();
        for r in &self.routes {
            out.extend(r.destinations.iter().map(String::as_str));
        }
        for w in &self.watches {
            out.extend(w.destinations.iter().map(String::as_str));
        }
        out
    }

    pub fn decide(&self, log_group: &str, message: &str) -> Decision {
        self.judge(log_group, message).decision
    }

    /// What the rules say of one event, with one look at the log group's globs: whether it alerts, the
    /// message's level when it was read, and where the group's messages go.
    pub fn judge(&self, log_group: &str, message: &str) -> Judgement<'_> {
        let included = self.include_groups.is_empty()
            || self.include_groups.iter().any(|g| g.matches(log_group));
        if !included || self.exclude_groups.iter().any(|g| g.matches(log_group)) {
            return Judgement {
                decision: Decision::GroupSkipped,
                level: None,
                route: &self.default_route,
            };
        }
        let i = self.override_of(log_group);
        let route = i.map_or(&self.default_route, |i| &self.routes[i]);
        let rule = i.map_or(&self.default, |i| &self.overrides[i].1);
        let (decision, level) = rule.decide_leveled(message);
        Judgement {
            decision,
            level,
            route,
        }
    }
}
