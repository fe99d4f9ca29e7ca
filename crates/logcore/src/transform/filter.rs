//! Include/exclude filters on the log message, applied before any output is built.

use regex::Regex;

use crate::base::env::{ConfigError, Env};
use crate::logs::multiline::Rules;

#[derive(Debug, thiserror::Error)]
#[error("invalid {which} pattern {pattern:?}: {source}")]
pub struct FilterError {
    pub which: &'static str,
    pub pattern: String,
    #[source]
    pub source: regex::Error,
}

/// Keeps a message when it matches `include` (if set) and does not match `exclude` (if set).
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    include: Option<Regex>,
    exclude: Option<Regex>,
}

impl MessageFilter {
    /// Build from optional patterns; empty strings mean "not set".
    pub fn new(include: Option<&str>, exclude: Option<&str>) -> Result<Self, FilterError> {
        let compile =
            |which: &'static str, p: Option<&str>| -> Result<Option<Regex>, FilterError> {
                match p.map(str::trim).filter(|p| !p.is_empty()) {
                    None => Ok(None),
                    Some(p) => Regex::new(p).map(Some).map_err(|source| FilterError {
                        which,
                        pattern: p.to_string(),
                        source,
                    }),
                }
            };
        Ok(MessageFilter {
            include: compile("include", include)?,
            exclude: compile("exclude", exclude)?,
        })
    }

    /// The app transform's filter from its variables `INCLUDE_PATTERN` and `EXCLUDE_PATTERN` (the
    /// transform reads them, and the reconciliation reads the same to count what it drops on purpose).
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let include = env.get("INCLUDE_PATTERN");
        let exclude = env.get("EXCLUDE_PATTERN");
        MessageFilter::new(include.as_deref(), exclude.as_deref()).map_err(|e| {
            let name = if e.which == "include" {
                "INCLUDE_PATTERN"
            } else {
                "EXCLUDE_PATTERN"
            };
            env.err(name, &e.pattern, e.source.to_string())
        })
    }

    pub fn is_noop(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    pub fn keep(&self, message: &str) -> bool {
        self.include.as_ref().is_none_or(|r| r.is_match(message))
            && !self.exclude.as_ref().is_some_and(|r| r.is_match(message))
    }

    /// Which of a payload's `messages` (of `group`, in order) the transform keeps: with multiline
    /// `rules`, the filter judges each record the rules join by its joined message and keeps or drops it
    /// whole, as the transform does (`crates/firehose-transform`, whose tests hold the two equal).
    pub fn keeps(&self, rules: Option<&Rules>, group: &str, messages: &[&str]) -> Vec<bool> {
        if self.is_noop() {
            return vec![true; messages.len()];
        }
        let Some(rules) = rules else {
            return messages.iter().map(|m| self.keep(m)).collect();
        };
        let mut out = Vec::with_capacity(messages.len());
        rules.each(group, messages, |r| {
            let lines = &messages[r.start..r.start + r.len];
            let keep = match lines {
                [one] => self.keep(one),
                _ => self.keep(&lines.join("\n")),
            };
            out.extend(std::iter::repeat_n(keep, r.len));
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_and_exclude() {
        let f = MessageFilter::new(Some("ERROR|WARN"), Some("healthcheck")).unwrap();
        assert!(f.keep("ERROR db down"));
        assert!(!f.keep("INFO started"));
        assert!(!f.keep("WARN healthcheck slow"));
        let all = MessageFilter::new(None, Some("")).unwrap();
        assert!(all.is_noop() && all.keep("anything"));
    }

    #[test]
    fn a_joined_record_is_kept_or_dropped_whole() {
        let f = MessageFilter::new(None, Some("HikariPool")).unwrap();
        let lines = [
            "INFO start",
            "java.lang.IllegalStateException: x",
            "\tat com.zaxxer.hikari.pool.HikariPool.get(HikariPool.java:1)",
            "\tat a.B.c(B.java:2)",
            "INFO end",
        ];
        let rules = Rules::builtin();
        assert_eq!(
            f.keeps(Some(&rules), "/g", &lines),
            [true, false, false, false, true]
        );
        assert_eq!(f.keeps(None, "/g", &lines), [true, true, false, true, true]);
        assert_eq!(
            MessageFilter::default().keeps(Some(&rules), "/g", &lines),
            [true; 5]
        );
    }

    #[test]
    fn bad_pattern_is_named() {
        let e = MessageFilter::new(None, Some("(unclosed")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid exclude pattern \"(unclosed\""),
            "{e}"
        );
    }
}
