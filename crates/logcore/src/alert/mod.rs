//! Alerts: which log events deserve a Slack message, how repeats are suppressed, and how the events of one
//! invocation are grouped per log group. The Slack rendering (Block Kit, escaping, deep links) is in
//! [`slack`]. Pure: no clock, no network; times come in as arguments.

pub mod alarm;
pub mod slack;
pub mod watch;

use std::collections::HashMap;

use regex::Regex;
use serde_json::value::RawValue;

/// One log event that may be alerted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEvent {
    pub log_group: String,
    pub log_stream: String,
    /// AWS account of the log group (empty when unknown).
    pub account: String,
    pub region: Option<String>,
    /// Event time, ms since the Unix epoch.
    pub timestamp_ms: i64,
    /// CloudWatch Logs event id (empty when unknown).
    pub id: String,
    pub message: String,
}

/// Levels as logpipe names them, whatever the spelling in the log.
pub const LEVELS: &[&str] = &[
    "TRACE",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARN",
    "ERROR",
    "CRITICAL",
    "ALERT",
    "EMERGENCY",
    "FATAL",
];

/// The default `ALERT_LEVELS`.
pub const DEFAULT_LEVELS: &str = "ERROR,CRITICAL,ALERT,EMERGENCY,FATAL";
/// The default `ALERT_PATTERN`: what a line without a recognisable level must contain to be alerted.
pub const DEFAULT_PATTERN: &str =
    r"(?i)\berror\b|exception|\bfatal\b|\bpanic|traceback \(most recent call last\)";

fn normalise_level(word: &str) -> Option<&'static str> {
    let word = word.trim();
    if word.bytes().all(|b| !b.is_ascii_lowercase()) {
        return normalise_upper(word);
    }
    normalise_upper(&word.to_ascii_uppercase())
}

/// [`normalise_level`] of a word already in upper case (no allocation: text lines are scanned per event).
fn normalise_upper(up: &str) -> Option<&'static str> {
    Some(match up {
        "TRACE" => "TRACE",
        "DEBUG" | "DBG" => "DEBUG",
        "INFO" | "INFORMATION" => "INFO",
        "NOTICE" => "NOTICE",
        "WARN" | "WARNING" => "WARN",
        "ERROR" | "ERR" | "SEVERE" => "ERROR",
        "CRITICAL" | "CRIT" => "CRITICAL",
        "ALERT" => "ALERT",
        "EMERGENCY" | "EMERG" => "EMERGENCY",
        "FATAL" | "PANIC" => "FATAL",
        _ => return None,
    })
}

/// pino/bunyan numeric levels.
fn numeric_level(n: i64) -> Option<&'static str> {
    Some(match n {
        10 => "TRACE",
        20 => "DEBUG",
        30 => "INFO",
        40 => "WARN",
        50 => "ERROR",
        60 => "FATAL",
        _ => return None,
    })
}

/// The level fields a JSON log line may have, borrowed and undecoded: reading them skips the rest of the
/// line without building it.
#[derive(serde::Deserialize)]
struct LevelFields<'a> {
    #[serde(borrow, default)]
    level: Option<&'a RawValue>,
    #[serde(borrow, default)]
    severity: Option<&'a RawValue>,
    #[serde(borrow, default)]
    levelname: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "log.level")]
    log_level: Option<&'a RawValue>,
    #[serde(borrow, default)]
    lvl: Option<&'a RawValue>,
    #[serde(borrow, default)]
    loglevel: Option<&'a RawValue>,
    #[serde(borrow, default)]
    log: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct NestedLevel<'a> {
    #[serde(borrow, default)]
    level: Option<&'a RawValue>,
}

/// A level field's value: a level word, or a pino/bunyan number.
fn level_value(v: &RawValue) -> Option<&'static str> {
    let raw = v.get();
    if raw.starts_with('"') {
        let s: std::borrow::Cow<'_, str> = serde_json::from_str(raw).ok()?;
        normalise_level(&s)
    } else {
        raw.parse::<i64>().ok().and_then(numeric_level)
    }
}

/// The level of a message: a `level`/`severity`/`levelname`/`log.level` field of a JSON message (the first
/// present and not null, then `log.level` nested), or a level word (upper case) among the first 200 bytes of
/// a text line, as most loggers and the Lambda runtime
/// write it (`ERROR …`, `[ERROR] …`, `2025-… <request id> ERROR …`).
pub fn level_of(message: &str) -> Option<&'static str> {
    let t = message.trim_start();
    if t.starts_with('{') && t.len() <= 256 * 1024 {
        // Most JSON lines are read for their level only when they may have a level field: a line with
        // none of the keys' starts (nor an escape that could spell one) has no level, unless it is not JSON
        // after all and its start has a level word.
        let b = t.as_bytes();
        let may_have_key = [&b"\"lev"[..], b"\"sev", b"\"lvl", b"\"log", b"\\u"]
            .iter()
            .any(|k| memchr::memmem::find(b, k).is_some());
        if !may_have_key {
            let word = level_word(t);
            return match word {
                Some(_) if serde_json::from_str::<serde::de::IgnoredAny>(t.trim_end()).is_err() => {
                    word
                }
                _ => None,
            };
        }
        if let Ok(f) = serde_json::from_str::<LevelFields<'_>>(t.trim_end()) {
            let field = [
                f.level,
                f.severity,
                f.levelname,
                f.log_level,
                f.lvl,
                f.loglevel,
            ]
            .into_iter()
            .flatten()
            .next()
            .or_else(|| {
                f.log
                    .and_then(|l| serde_json::from_str::<NestedLevel<'_>>(l.get()).ok())
                    .and_then(|n| n.level)
            });
            return field.and_then(level_value);
        }
    }
    level_word(t)
}

/// The first level word (upper case) among the first 200 bytes of a text line.
fn level_word(t: &str) -> Option<&'static str> {
    let mut end = t.len().min(200);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    t[..end]
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3 && w.bytes().all(|b| b.is_ascii_uppercase()))
        .find_map(normalise_upper)
}

/// [`level_of`] as ECS's `log.level` spells it: lower case (`error`, `warn`, …).
pub fn ecs_level(message: &str) -> Option<&'static str> {
    Some(match level_of(message)? {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "NOTICE" => "notice",
        "WARN" => "warn",
        "ERROR" => "error",
        "CRITICAL" => "critical",
        "ALERT" => "alert",
        "EMERGENCY" => "emergency",
        _ => "fatal",
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("invalid {which} pattern {pattern:?}: {source}")]
    Pattern {
        which: &'static str,
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error("unknown level {0:?} (known: {known})", known = LEVELS.join(", "))]
    Level(String),
    #[error("ALERT_RULES is not a JSON array of rules: {0}")]
    Rules(String),
}

/// A log group glob: `*` matches any run of characters (`/ecs/*`, `*-prod`, `/aws/lambda/checkout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupGlob(String);

impl GroupGlob {
    pub fn new(p: &str) -> Self {
        GroupGlob(p.trim().to_string())
    }

    pub fn matches(&self, group: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or("");
        let Some(mut rest) = group.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            return rest.is_empty();
        };
        for p in middle {
            match rest.find(p) {
                Some(i) => rest = &rest[i + p.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

/// Comma-separated globs; empty entries are ignored.
pub fn globs(list: &str) -> Vec<GroupGlob> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(GroupGlob::new)
        .collect()
}

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

/// The destination of every message no rule routes elsewhere: the notifier's own Slack secret.
pub const DEFAULT_DESTINATION: &str = "default";

/// Where the messages of a rule's log groups go, and whom they mention (from configuration only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination names: [`DEFAULT_DESTINATION`] or a named one of the notifier's configuration.
    pub destinations: Vec<String>,
    pub mention: Vec<String>,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            destinations: vec![DEFAULT_DESTINATION.to_string()],
            mention: Vec::new(),
        }
    }
}

/// Whether a destination name is one configuration can give: 1 to 64 of `a-z 0-9 - _`.
pub fn valid_destination(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The first name that is not a valid destination name, refused with the reason.
pub fn check_destinations<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    match names.into_iter().find(|d| !valid_destination(d)) {
        Some(d) => Err(format!(
            "destination {d:?} is not a name of 1 to 64 of a-z, 0-9, - and _"
        )),
        None => Ok(()),
    }
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
    watch::check_mentions(&mention).map_err(bad)?;
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
            watch::check_mentions(&who)
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

/// The fingerprint of a message for repeat suppression: the log group and the message with numbers, hex
/// ids and UUIDs blanked, so `order 1042 failed` and `order 1043 failed` are one message. The first 8 bytes
/// of a SHA-256: stable across builds and toolchains (std's `DefaultHasher` is not), because fingerprints
/// are keys of the suppression table that every container, and the next release, shares.
pub fn fingerprint(log_group: &str, message: &str) -> u64 {
    let mut norm = String::with_capacity(message.len().min(1024));
    let mut in_token = false;
    for word in message
        .split_inclusive(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .take(256)
    {
        let (tok, sep) = match word.char_indices().last() {
            Some((i, c)) if !(c.is_ascii_alphanumeric() || c == '-' || c == '_') => {
                (&word[..i], &word[i..])
            }
            _ => (word, ""),
        };
        if is_variable(tok) {
            if !in_token {
                norm.push('#');
            }
            in_token = true;
        } else {
            norm.push_str(tok);
            in_token = false;
        }
        norm.push_str(sep);
    }
    sha256_u64(&[
        &(log_group.len() as u64).to_be_bytes(),
        log_group.as_bytes(),
        norm.as_bytes(),
    ])
}

/// The fingerprint of a message at a destination: repeats are per destination (a message one channel has
/// seen is news to another). The default destination keeps the plain fingerprint.
pub fn routed(fp: u64, destination: &str) -> u64 {
    if destination == DEFAULT_DESTINATION {
        return fp;
    }
    sha256_u64(&[&fp.to_be_bytes(), destination.as_bytes()])
}

/// The first 8 bytes of the SHA-256 of `parts` one after the other, big-endian.
fn sha256_u64(parts: &[&[u8]]) -> u64 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Numbers, hex ids and UUID-like tokens: what changes between repeats of one message.
fn is_variable(tok: &str) -> bool {
    if tok.is_empty() {
        return false;
    }
    let digits = tok.bytes().filter(u8::is_ascii_digit).count();
    let hexish = tok
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'_');
    digits > 0 && (hexish || digits * 2 >= tok.len())
}

/// Repeats seen within a window are counted, not sent again. In memory, per Lambda container: a new
/// container (cold start, scaling out) starts with an empty memory.
#[derive(Debug, Clone)]
pub struct Suppressor {
    window_ms: i64,
    max_entries: usize,
    /// fingerprint → when it was last sent (ms).
    sent: HashMap<u64, i64>,
}

impl Suppressor {
    pub fn new(window_ms: i64, max_entries: usize) -> Self {
        Suppressor {
            window_ms,
            max_entries: max_entries.max(1),
            sent: HashMap::new(),
        }
    }

    /// Whether a message with this fingerprint was sent within the window before `now_ms`.
    pub fn is_repeat(&self, fp: u64, now_ms: i64) -> bool {
        self.window_ms > 0
            && self
                .sent
                .get(&fp)
                .is_some_and(|&t| now_ms.saturating_sub(t) < self.window_ms)
    }

    /// Remember that these were delivered at `now_ms` (called only after Slack took the message, so an
    /// undelivered alert is never suppressed on its retry).
    pub fn record_sent(&mut self, fps: impl IntoIterator<Item = u64>, now_ms: i64) {
        if self.window_ms <= 0 {
            return;
        }
        for fp in fps {
            self.sent.insert(fp, now_ms);
        }
        if self.sent.len() > self.max_entries {
            let window = self.window_ms;
            self.sent.retain(|_, t| now_ms.saturating_sub(*t) < window);
            if self.sent.len() > self.max_entries {
                // Still full of live entries: forget the oldest half rather than grow without bound.
                let mut times: Vec<i64> = self.sent.values().copied().collect();
                times.sort_unstable();
                let cut = times[times.len() / 2];
                self.sent.retain(|_, t| *t > cut);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}

/// The alert-worthy events of one log group in one invocation: the first `shown` kept, the rest counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub log_group: String,
    pub account: String,
    pub region: Option<String>,
    pub shown: Vec<AlertEvent>,
    /// Alert-worthy events in all (shown and not), repeats excluded.
    pub total: u64,
    /// Repeats of messages already sent within the window, or already in this group.
    pub suppressed: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// Fingerprints of the events this group's message stands for (to record once it is delivered).
    pub fingerprints: Vec<u64>,
    /// The fingerprint of each of `shown`, in the same order.
    pub shown_fingerprints: Vec<u64>,
    /// The levels of its alerts (repeats left out), each once: for the levels' mentions.
    pub levels: Vec<&'static str>,
}

impl Group {
    /// Take out the alerts whose fingerprints another container has claimed (it posts them): they count as
    /// suppressed repeats, and leave the shown events and the fingerprints. Returns how many were taken out.
    pub fn withdraw(&mut self, claimed_elsewhere: &std::collections::HashSet<u64>) -> u64 {
        if claimed_elsewhere.is_empty() {
            return 0;
        }
        let before = self.fingerprints.len();
        self.fingerprints
            .retain(|fp| !claimed_elsewhere.contains(fp));
        let n = (before - self.fingerprints.len()) as u64;
        // Each remembered fingerprint stands for exactly one counted alert (later ones of the same
        // fingerprint were counted as suppressed already).
        self.total -= n.min(self.total);
        self.suppressed += n;
        let mut kept = Vec::with_capacity(self.shown.len());
        let mut kept_fps = Vec::with_capacity(self.shown.len());
        for (ev, fp) in self.shown.drain(..).zip(self.shown_fingerprints.drain(..)) {
            if !claimed_elsewhere.contains(&fp) {
                kept.push(ev);
                kept_fps.push(fp);
            }
        }
        self.shown = kept;
        self.shown_fingerprints = kept_fps;
        if let (Some(first), Some(last)) = (
            self.shown.iter().map(|e| e.timestamp_ms).min(),
            self.shown.iter().map(|e| e.timestamp_ms).max(),
        ) {
            if self.total == self.shown.len() as u64 {
                self.first_ms = first;
                self.last_ms = last;
            }
        }
        n
    }
}

/// Distinct messages one [`Grouper`] remembers.
pub const MAX_DISTINCT: usize = 10_000;

/// Collects alert-worthy events per log group, in the order groups first appear. Memory is bounded by
/// `max_shown` events per group and one fingerprint per distinct message.
#[derive(Debug, Clone, Default)]
pub struct Grouper {
    max_shown: usize,
    groups: Vec<Group>,
    index: HashMap<String, usize>,
    seen: std::collections::HashSet<u64>,
}

impl Grouper {
    pub fn new(max_shown: usize) -> Self {
        Grouper {
            max_shown: max_shown.max(1),
            ..Grouper::default()
        }
    }

    /// Add an alert-worthy event; `repeat` says the suppressor has seen its fingerprint within the window.
    /// Returns whether it counts as a new alert (false: suppressed as a repeat).
    pub fn add(&mut self, ev: AlertEvent, fp: u64, repeat: bool) -> bool {
        let level = level_of(&ev.message);
        self.add_at_level(ev, fp, repeat, level)
    }

    /// [`Grouper::add`] for an event whose level the caller has read already (`Rules::judge`).
    pub fn add_at_level(
        &mut self,
        ev: AlertEvent,
        fp: u64,
        repeat: bool,
        level: Option<&'static str>,
    ) -> bool {
        let i = match self.index.get(&ev.log_group) {
            Some(&i) => i,
            None => {
                self.index.insert(ev.log_group.clone(), self.groups.len());
                self.groups.push(Group {
                    log_group: ev.log_group.clone(),
                    account: ev.account.clone(),
                    region: ev.region.clone(),
                    shown: Vec::new(),
                    total: 0,
                    suppressed: 0,
                    first_ms: ev.timestamp_ms,
                    last_ms: ev.timestamp_ms,
                    fingerprints: Vec::new(),
                    shown_fingerprints: Vec::new(),
                    levels: Vec::new(),
                });
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[i];
        if repeat || self.seen.contains(&fp) {
            g.suppressed += 1;
            return false;
        }
        // Past this many distinct messages, later ones are still alerted and counted, but no longer
        // remembered for suppression (memory stays bounded whatever the input).
        if self.seen.len() < MAX_DISTINCT {
            self.seen.insert(fp);
            g.fingerprints.push(fp);
        }
        g.total += 1;
        if let Some(l) = level {
            if !g.levels.contains(&l) {
                g.levels.push(l);
            }
        }
        g.first_ms = g.first_ms.min(ev.timestamp_ms);
        g.last_ms = g.last_ms.max(ev.timestamp_ms);
        if g.shown.len() < self.max_shown {
            g.shown.push(ev);
            g.shown_fingerprints.push(fp);
        }
        true
    }

    /// The groups with at least one new alert (groups of repeats only are not sent), and those of repeats
    /// only (for the counts).
    pub fn finish(self) -> (Vec<Group>, Vec<Group>) {
        self.groups.into_iter().partition(|g| g.total > 0)
    }
}

#[cfg(test)]
mod route_tests;
#[cfg(test)]
mod tests;
