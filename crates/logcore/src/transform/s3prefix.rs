//! Firehose's custom S3 prefixes, evaluated as Firehose evaluates them, so that an object the transform
//! writes itself (a document too large for the transformation response, see the transform's README) lands
//! exactly where Firehose would have written the record.
//!
//! From the Firehose developer guide, "Custom Prefixes for Amazon S3 Objects": a prefix is literal text
//! with expressions `!{namespace:value}`:
//! - `timestamp`: a Java `DateTimeFormatter` pattern, evaluated at the approximate arrival timestamp of the
//!   oldest record of the object, in UTC. Supported here: the numeric fields `y` (year), `M` (month), `d`
//!   (day), `H` (hour), `m` (minute), `s` (second) in runs of one or two letters (`yyyy` and `yy` for years),
//!   quoted literals (`'-'`, `''` for a quote) and any other character that is no letter.
//! - `partitionKeyFromLambda:<key>`: a key the transform returned in `metadata.partitionKeys`.
//! - `firehose:random-string`: an 11-character string; here derived from the record, so that a retried
//!   invocation writes the same key again.
//!
//! `partitionKeyFromQuery` (jq over the record, evaluated by Firehose) and `firehose:error-output-type`
//! (error prefixes only) are refused with the reason.

use std::fmt;

use crate::base::time::DateTimeParts;
use crate::transform::firehose::PartitionKeys;

/// A parsed prefix expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Prefix {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Time(Vec<TimeField>),
    Key(String),
    Random,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TimeField {
    Literal(String),
    /// A numeric field and the minimum number of digits.
    Year(usize),
    /// `yy`: the last two digits of the year.
    Year2,
    Month(usize),
    Day(usize),
    Hour(usize),
    Minute(usize),
    Second(usize),
}

/// Why a prefix expression cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("S3 prefix {prefix:?}: {problem}")]
pub struct PrefixError {
    pub prefix: String,
    pub problem: String,
}

impl S3Prefix {
    /// Parse `text`; the error names what cannot be evaluated and where.
    pub fn parse(text: &str) -> Result<S3Prefix, PrefixError> {
        let fail = |problem: String| PrefixError {
            prefix: text.to_string(),
            problem,
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("!{") {
            if at > 0 {
                parts.push(Part::Literal(rest[..at].to_string()));
            }
            let body_start = at + 2;
            let close = rest[body_start..].find('}').ok_or_else(|| {
                fail(format!(
                    "expression at byte {} is never closed",
                    text.len() - rest.len() + at
                ))
            })?;
            let expr = &rest[body_start..body_start + close];
            let (ns, value) = expr.split_once(':').ok_or_else(|| {
                fail(format!(
                    "!{{{expr}}} has no namespace (expected !{{namespace:value}})"
                ))
            })?;
            parts.push(match ns {
                "timestamp" => Part::Time(parse_time(value).map_err(&fail)?),
                "partitionKeyFromLambda" if !value.is_empty() => Part::Key(value.to_string()),
                "firehose" if value == "random-string" => Part::Random,
                "firehose" if value == "error-output-type" => {
                    return Err(fail("!{firehose:error-output-type} is for error output prefixes only".into()))
                }
                "partitionKeyFromQuery" => {
                    return Err(fail(format!(
                        "!{{partitionKeyFromQuery:{value}}} is evaluated by Firehose's own JQ parsing, not by the transform; use partitionKeyFromLambda"
                    )))
                }
                _ => return Err(fail(format!("unknown expression !{{{expr}}}"))),
            });
            rest = &rest[body_start + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(S3Prefix {
            text: text.to_string(),
            parts,
        })
    }

    /// The partition keys the prefix reads.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Key(k) => Some(k.as_str()),
            _ => None,
        })
    }

    /// The prefix for a record that arrived at `arrival_ms` with `keys`; `random` stands for
    /// `!{firehose:random-string}`. Fails when a key the prefix names is missing.
    pub fn render(
        &self,
        arrival_ms: i64,
        keys: Option<&PartitionKeys>,
        random: &str,
    ) -> Result<String, PrefixError> {
        let t = DateTimeParts::from_millis(arrival_ms);
        let mut out = String::with_capacity(self.text.len() + 32);
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Random => out.push_str(random),
                Part::Key(k) => match keys.and_then(|m| m.get(k)) {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err(PrefixError {
                            prefix: self.text.clone(),
                            problem: format!("the record has no partition key {k:?}"),
                        })
                    }
                },
                Part::Time(fields) => {
                    for f in fields {
                        let (v, width) = match f {
                            TimeField::Literal(s) => {
                                out.push_str(s);
                                continue;
                            }
                            TimeField::Year(w) => (t.year, *w),
                            TimeField::Year2 => (t.year.rem_euclid(100), 2),
                            TimeField::Month(w) => (t.month.into(), *w),
                            TimeField::Day(w) => (t.day.into(), *w),
                            TimeField::Hour(w) => (t.hour.into(), *w),
                            TimeField::Minute(w) => (t.minute.into(), *w),
                            TimeField::Second(w) => (t.second.into(), *w),
                        };
                        use fmt::Write;
                        let _ = write!(out, "{v:0width$}");
                    }
                }
            }
        }
        Ok(out)
    }
}

impl fmt::Display for S3Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A `DateTimeFormatter` pattern (the numeric subset), as fields.
fn parse_time(pattern: &str) -> Result<Vec<TimeField>, String> {
    let mut fields = Vec::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // A quoted literal; '' is one quote.
            let mut lit = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("!{{timestamp:{pattern}}}: unclosed quote")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        lit.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        lit.push(ch);
                        i += 1;
                    }
                }
            }
            if lit.is_empty() {
                lit.push('\'');
            }
            fields.push(TimeField::Literal(lit));
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if matches!(c, '[' | ']' | '{' | '}' | '#') {
                return Err(format!(
                    "!{{timestamp:{pattern}}}: {c:?} is reserved in a DateTimeFormatter pattern"
                ));
            }
            fields.push(TimeField::Literal(c.to_string()));
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let field = match (c, run) {
            ('y' | 'u', 2) => TimeField::Year2,
            ('y' | 'u', n) => TimeField::Year(n),
            ('M', n @ 1..=2) => TimeField::Month(n),
            ('d', n @ 1..=2) => TimeField::Day(n),
            ('H', n @ 1..=2) => TimeField::Hour(n),
            ('m', n @ 1..=2) => TimeField::Minute(n),
            ('s', n @ 1..=2) => TimeField::Second(n),
            _ => {
                return Err(format!(
                    "!{{timestamp:{pattern}}}: {} is not supported (numeric y, M, d, H, m, s only)",
                    chars[i..i + run].iter().collect::<String>()
                ))
            }
        };
        fields.push(field);
        i += run;
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(pairs: &[(&str, &str)]) -> PartitionKeys {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // 2026-12-02T06:49:19.123Z
    const T: i64 = 1_796_194_159_123;

    #[test]
    fn the_template_prefixes_evaluate_as_firehose_writes_them() {
        let p = S3Prefix::parse("logs/!{timestamp:yyyy/MM/dd/HH}/").unwrap();
        assert_eq!(p.render(T, None, "r").unwrap(), "logs/2026/12/02/06/");
        let p = S3Prefix::parse(
            "logs/!{partitionKeyFromLambda:log_group}/!{partitionKeyFromLambda:date}/",
        )
        .unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["log_group", "date"]);
        let k = keys(&[("log_group", "ecs/api"), ("date", "2026-12-02")]);
        assert_eq!(
            p.render(T, Some(&k), "r").unwrap(),
            "logs/ecs/api/2026-12-02/"
        );
        let e = p.render(T, None, "r").unwrap_err();
        assert!(
            e.to_string().contains("no partition key \"log_group\""),
            "{e}"
        );
    }

    #[test]
    fn java_patterns_quotes_and_short_fields() {
        let p = S3Prefix::parse("dt=!{timestamp:yyyy'-'MM'-'dd}/h=!{timestamp:H}/m=!{timestamp:m''s}/x!{firehose:random-string}").unwrap();
        assert_eq!(
            p.render(T, None, "abcdefghijk").unwrap(),
            "dt=2026-12-02/h=6/m=49'19/xabcdefghijk"
        );
        let p = S3Prefix::parse("!{timestamp:yy}").unwrap();
        assert_eq!(p.render(T, None, "").unwrap(), "26");
    }

    #[test]
    fn what_cannot_be_evaluated_is_named() {
        for (text, needle) in [
            ("logs/!{timestamp:yyyy", "never closed"),
            ("!{nothing}", "no namespace"),
            ("!{timestamp:MMM}", "MMM is not supported"),
            ("!{timestamp:yyyy[MM]}", "reserved"),
            ("!{timestamp:'x}", "unclosed quote"),
            (
                "!{partitionKeyFromQuery:customer}",
                "use partitionKeyFromLambda",
            ),
            (
                "!{firehose:error-output-type}/",
                "error output prefixes only",
            ),
            ("!{firehose:version}", "unknown expression"),
        ] {
            let e = S3Prefix::parse(text).unwrap_err();
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
    }

    proptest! {
        /// Any text parses or is refused without a panic; what parses renders, and literal text (no `!{`)
        /// renders as itself.
        #[test]
        fn any_text(text in "\\PC{0,40}", t in -1_000_000_000_000i64..4_000_000_000_000, lit in "[a-z0-9/=_-]{0,30}") {
            if let Ok(p) = S3Prefix::parse(&text) {
                let k = keys(&[("log_group", "g"), ("date", "d")]);
                let _ = p.render(t, Some(&k), "random");
                prop_assert_eq!(p.to_string(), text);
            }
            let p = S3Prefix::parse(&lit).unwrap();
            prop_assert_eq!(p.render(t, None, "").unwrap(), lit);
        }

        /// The hourly prefix is the event hour's RFC 3339 parts.
        #[test]
        fn hourly_prefix_matches_rfc3339(t in 0i64..4_000_000_000_000) {
            let p = S3Prefix::parse("logs/!{timestamp:yyyy/MM/dd/HH}/").unwrap();
            let s = DateTimeParts::from_millis(t).rfc3339();
            let want = format!("logs/{}/{}/{}/{}/", &s[0..4], &s[5..7], &s[8..10], &s[11..13]);
            prop_assert_eq!(p.render(t, None, "").unwrap(), want);
        }
    }
}
