//! Log levels: the level of a message, read from a JSON message's level field or a text line's level word,
//! as logpipe names it (`ERROR`, [`LEVELS`]) and as ECS's `log.level` spells it (`error`, [`ecs_level`]).
//! Every document's `log.level`, the notifier's rules and the CloudWatch rules' filter patterns read it here.

use serde_json::value::RawValue;

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

pub(crate) fn normalise_level(word: &str) -> Option<&'static str> {
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

/// A level field's value (its JSON text): a level word, or a pino/bunyan number.
pub(crate) fn level_value(raw: &str) -> Option<&'static str> {
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
    if t.starts_with('{') && t.len() <= MAX_JSON_LEVEL_LINE {
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
            .or_else(|| f.log.and_then(|l| nested_level(l.get())));
            return field.and_then(|v| level_value(v.get()));
        }
    }
    level_word(t)
}

/// The `level` field of a `log` object (the JSON text of the `log` field's value).
pub(crate) fn nested_level(log: &str) -> Option<&RawValue> {
    serde_json::from_str::<NestedLevel<'_>>(log)
        .ok()
        .and_then(|n| n.level)
}

/// The longest JSON line whose level is read from its fields; a longer one's is its level word.
pub(crate) const MAX_JSON_LEVEL_LINE: usize = 256 * 1024;

/// The first level word (upper case) among the first 200 bytes of a text line.
pub(crate) fn level_word(t: &str) -> Option<&'static str> {
    let mut end = t.len().min(200);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    // Words are runs of ASCII letters: every byte of a non-ASCII character is a separator, as the
    // character is.
    let b = &t.as_bytes()[..end];
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let start = i;
        let mut upper = true;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_alphabetic()) {
            upper &= c.is_ascii_uppercase();
            i += 1;
        }
        // The longest level word has 11 letters (INFORMATION), the shortest 3.
        if upper && (3..=11).contains(&(i - start)) {
            if let Some(level) = t.get(start..i).and_then(normalise_upper) {
                return Some(level);
            }
        }
    }
    None
}

/// [`level_of`] as ECS's `log.level` spells it: lower case (`error`, `warn`, …).
pub fn ecs_level(message: &str) -> Option<&'static str> {
    level_of(message).map(ecs_name)
}

/// A level as ECS's `log.level` spells it.
pub(crate) fn ecs_name(level: &'static str) -> &'static str {
    match level {
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
    }
}

#[cfg(test)]
mod tests;
