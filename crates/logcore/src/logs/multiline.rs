//! Multiline events: consecutive lines of one log stream that make one record (a stack trace written to
//! stdout without a multiline setting in the log driver, one CloudWatch Logs event per line) grouped back
//! into one. Stateless over one run of lines (a subscription payload is one group and one stream, in
//! order): the grouping of a run depends on that run alone.
//!
//! - **Built-in rules** ([`Rules::builtin`]), for the stack traces of Java/Kotlin/Scala, Python, Go,
//!   Node.js and .NET, shaped as the runtimes print them. Each needs a start line it recognises (an
//!   exception header, `Traceback (most recent call last):`, `panic:`, `goroutine N [running]:`, `Unhandled
//!   exception.`) and then takes only the continuation lines of that runtime (`\tat …`, `Caused by:`,
//!   `... N more`, indented frames and the final exception line, `   at …`, `--- End of inner exception stack
//!   trace ---`): a plain line that merely starts with spaces is never swallowed without such a start.
//! - **Configured rules** ([`Rule::parse`]): Elastic's shape — a `pattern`, `negate`, `match` `after` (lines
//!   that match, or with `negate` do not, are appended to the record before them) or `before` (they begin
//!   the record of the line after them) — for the log groups of a glob.
//! - A **JSON object line** (`{…}`) is never joined to another.
//! - **Caps**: a record holds at most `max_lines` lines and `max_bytes` bytes of message (lines and the
//!   `\n` between them); past a cap the rest starts a new record, flagged [`Kind::Capped`].
//! - A run that begins with lines that can only continue a trace (its head in an earlier payload: `\tat …`,
//!   `    at …`, `Caused by:`, a Go frame's `\t/…go:N`) makes one record flagged [`Kind::Orphan`]: never
//!   dropped, never merged into a record it does not belong to.
//!
//! [`Rules::group`] returns the records as ranges of the run's indices: every line in exactly one, in order.

use regex::{Regex, RegexSet};

use super::glob::GroupGlob;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line on its own.
    Single,
    /// Lines joined by a rule.
    Joined,
    /// The rest of a record a cap cut: it continues the record before it.
    Capped,
    /// Continuation lines at the start of the run, whose head is in an earlier one.
    Orphan,
}

/// A record: lines `start..start + len` of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub start: usize,
    pub len: usize,
    pub kind: Kind,
}

/// A record's size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub max_lines: usize,
    /// Bytes of the joined message: the lines and the `\n` between them.
    pub max_bytes: usize,
}

impl Default for Caps {
    /// 500 lines, and a CloudWatch Logs event's 1,048,550 bytes of message: a joined record is never larger
    /// than one event can be.
    fn default() -> Self {
        Caps {
            max_lines: 500,
            max_bytes: 1_048_550,
        }
    }
}

/// How a rule decides.
#[derive(Debug, Clone)]
enum How {
    /// A start line, then continuation lines; `last` lines end the record once taken.
    Trace {
        start: Regex,
        next: RegexSet,
        last: Option<Regex>,
    },
    /// Elastic's `pattern`/`negate`/`match`.
    Pattern {
        pattern: Regex,
        negate: bool,
        after: bool,
    },
}

/// One rule: which log groups, how, and its caps.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    groups: Option<GroupGlob>,
    how: How,
    pub caps: Caps,
}

/// The rules of a transform: configured ones first (by log group), then the built-in ones.
#[derive(Debug, Clone)]
pub struct Rules {
    configured: Vec<Rule>,
    builtin: Vec<Rule>,
    /// Lines that can only continue a trace (for orphans at the start of a run).
    orphan: RegexSet,
    pub caps: Caps,
}

fn re(p: &str) -> Regex {
    Regex::new(p).expect("a built-in multiline pattern is valid")
}

fn set(ps: &[&str]) -> RegexSet {
    RegexSet::new(ps).expect("built-in multiline patterns are valid")
}

/// Java/Kotlin/Scala and .NET exception headers: a qualified class name ending in Exception, Error or
/// Throwable, and its message (`java.lang.IllegalStateException: pool exhausted`,
/// `Exception in thread "main" java.lang.Error`, `System.InvalidOperationException: …`, `Unhandled exception.
/// System.Exception: …`). The log line's own prefix (a time, a level) may come first.
const JVM_CLR_HEADER: &str = r#"^(?:.*?\s)?(?:Exception in thread "[^"]*" |Unhandled [eE]xception\.? )?(?:[A-Za-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable|Exit)(?::.*)?$"#;

/// A stack frame: `\tat pkg.Class.method(File.java:12)` (with logback's ` ~[app.jar:1.0]`), .NET's
/// `   at Ns.Type.Method(String[] args) in /src/Program.cs:line 14`, Node's `    at fn (/app/x.js:1:2)` or
/// `    at /app/x.js:1:2`. Prose that starts with `at` is none.
const FRAME: &str = r"^\s+at \S.*\)(?: in .*:line \d+| ~?\[[^\]]*\])?\s*$";
const NODE_FRAME: &str = r"^\s+at \S+:\d+:\d+\s*$";

/// What continues a JVM or .NET trace.
const JVM_CLR_NEXT: &[&str] = &[
    FRAME,
    r"^\s*Caused by: ",
    r"^\s*Suppressed: ",
    r"^\s*\.\.\. \d+ (?:more|common frames omitted)\s*$",
    r"^\s*---> ",
    r"^\s*--- End of (?:inner exception stack trace|stack trace from previous location)[^-]*---\s*$",
    r"^\s*Exception in thread ",
];

impl Rules {
    /// The built-in rules alone, with default caps.
    pub fn builtin() -> Rules {
        let builtin = vec![
            Rule {
                name: "java-dotnet".into(),
                groups: None,
                how: How::Trace {
                    start: re(JVM_CLR_HEADER),
                    next: set(JVM_CLR_NEXT),
                    last: None,
                },
                caps: Caps::default(),
            },
            Rule {
                name: "python".into(),
                groups: None,
                how: How::Trace {
                    start: re(r"^(?:.*?\s)?Traceback \(most recent call last\):\s*$"),
                    // Frames and source lines are indented; chained tracebacks' sentences and their
                    // own header continue; the final `Name: message` (or a bare `Name`) ends it.
                    next: set(&[
                        r"^\s+\S",
                        r"^(?:During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)\s*$",
                        r"^Traceback \(most recent call last\):\s*$",
                        r"^\s*$",
                    ]),
                    last: Some(re(r"^[A-Za-z_][\w.]*(?:: .*)?$")),
                },
                caps: Caps::default(),
            },
            Rule {
                name: "go".into(),
                groups: None,
                how: How::Trace {
                    start: re(r"^(?:panic: |fatal error: |goroutine \d+ \[[^\]]+\]:\s*$)"),
                    next: set(&[
                        r"^\s*$",
                        r"^goroutine \d+ \[[^\]]+\]:\s*$",
                        r"^\t\S",
                        r"^[\w./*()\[\]-]+\(.*\)$",
                        r"^created by \S",
                        r"^\[signal ",
                        r"^exit status \d+$",
                        r"^\s*\[recovered\]",
                    ]),
                    last: None,
                },
                caps: Caps::default(),
            },
            Rule {
                name: "node".into(),
                groups: None,
                how: How::Trace {
                    // `TypeError: x is not a function`, `Error [ERR_X]: …`, `Uncaught Error: …`.
                    start: re(
                        r"^(?:.*?\s)?(?:Uncaught )?(?:[A-Z]\w*)?(?:Error|Exception)(?: \[[\w-]+\])?: .*$|^Error$",
                    ),
                    next: set(&[FRAME, NODE_FRAME]),
                    last: None,
                },
                caps: Caps::default(),
            },
        ];
        Rules {
            configured: Vec::new(),
            builtin,
            orphan: set(&[
                FRAME,
                NODE_FRAME,
                r"^\s*Caused by: ",
                r"^\s*\.\.\. \d+ (?:more|common frames omitted)\s*$",
                r"^\t/\S+\.go:\d+",
            ]),
            caps: Caps::default(),
        }
    }

    /// The built-in rules and configured ones before them.
    pub fn with(configured: Vec<Rule>) -> Rules {
        Rules {
            configured,
            ..Rules::builtin()
        }
    }

    /// Group the lines of a run of `group`'s events into records.
    pub fn group(&self, group: &str, lines: &[&str]) -> Vec<Record> {
        let configured: Vec<&Rule> = self
            .configured
            .iter()
            .filter(|r| r.groups.as_ref().is_none_or(|g| g.matches(group)))
            .collect();
        let mut out = Vec::new();
        let mut i = 0;
        // Orphans: continuation lines at the head of the run.
        let orphans = lines
            .iter()
            .take_while(|l| !is_json(l) && self.orphan.is_match(l))
            .count();
        if orphans > 0 {
            self.push_capped(&mut out, lines, 0, orphans, Kind::Orphan, self.caps);
            i = orphans;
        }
        while i < lines.len() {
            let (len, caps) = self.record_at(&configured, lines, i);
            let kind = if len > 1 { Kind::Joined } else { Kind::Single };
            self.push_capped(&mut out, lines, i, len, kind, caps);
            i += len;
        }
        out
    }

    /// How many lines the record starting at `i` holds, and its caps.
    fn record_at(&self, configured: &[&Rule], lines: &[&str], i: usize) -> (usize, Caps) {
        if is_json(lines[i]) {
            return (1, self.caps);
        }
        for r in configured.iter().copied().chain(&self.builtin) {
            let n = r.take(lines, i);
            if n > 1 || (n == 1 && !matches!(r.how, How::Trace { .. })) {
                return (n, r.caps);
            }
        }
        (1, self.caps)
    }

    /// Push lines `start..start + len` as records of at most the caps: the first of `kind`, the rest
    /// [`Kind::Capped`].
    fn push_capped(
        &self,
        out: &mut Vec<Record>,
        lines: &[&str],
        start: usize,
        len: usize,
        kind: Kind,
        caps: Caps,
    ) {
        let (max_lines, max_bytes) = (caps.max_lines.max(1), caps.max_bytes);
        let mut first = start;
        let mut bytes = 0;
        let mut kind = kind;
        for (j, line) in lines.iter().enumerate().skip(start).take(len) {
            let add = line.len() + usize::from(j > first);
            if j > first && (j - first >= max_lines || bytes + add > max_bytes) {
                out.push(Record {
                    start: first,
                    len: j - first,
                    kind: if j - first == 1 && kind == Kind::Joined {
                        Kind::Single
                    } else {
                        kind
                    },
                });
                first = j;
                bytes = line.len();
                kind = Kind::Capped;
                continue;
            }
            bytes += add;
        }
        out.push(Record {
            start: first,
            len: start + len - first,
            kind: if start + len - first == 1 && kind == Kind::Joined {
                Kind::Single
            } else {
                kind
            },
        });
    }
}

/// A line that begins with a log level word (`INFO: …`, `ERROR`), which no exception line does.
fn is_level_word(line: &str) -> bool {
    let word = line.split([':', ' ']).next().unwrap_or("");
    [
        "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL",
    ]
    .contains(&word)
}

/// A JSON object on one line: never joined.
fn is_json(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('{') && t.ends_with('}')
}

impl Rule {
    /// How many lines from `i` this rule makes one record of (0: the rule does not start one there).
    fn take(&self, lines: &[&str], i: usize) -> usize {
        match &self.how {
            How::Trace { start, next, last } => {
                if !start.is_match(lines[i]) {
                    return 0;
                }
                let mut n = 1;
                while let Some(l) = lines.get(i + n) {
                    if is_json(l) {
                        break;
                    }
                    if next.is_match(l) {
                        n += 1;
                        continue;
                    }
                    if last.as_ref().is_some_and(|r| r.is_match(l)) && !is_level_word(l) {
                        n += 1;
                    }
                    break;
                }
                // Trailing blank lines belong to what follows, not to the trace.
                while n > 1 && lines[i + n - 1].trim().is_empty() {
                    n -= 1;
                }
                n
            }
            How::Pattern {
                pattern,
                negate,
                after,
            } => {
                let hit = |l: &str| !is_json(l) && pattern.is_match(l) != *negate;
                let mut n = 1;
                if *after {
                    // Matching lines continue the record before them.
                    while lines.get(i + n).is_some_and(|l| hit(l)) {
                        n += 1;
                    }
                } else {
                    // Matching lines begin the record of the first line after them that does not match.
                    if hit(lines[i]) {
                        while lines.get(i + n - 1).is_some_and(|l| hit(l)) && i + n < lines.len() {
                            n += 1;
                        }
                    }
                }
                n
            }
        }
    }

    /// A configured rule: `GLOB pattern=RE [negate] [match=after|before] [max_lines=N] [max_bytes=N]`, the
    /// words separated by spaces (the pattern must not hold one: use `\s`). The error names the rule and
    /// the problem.
    pub fn parse(spec: &str) -> Result<Rule, String> {
        let err = |m: String| format!("multiline rule {spec:?}: {m}");
        let mut words = spec.split_whitespace();
        let glob = words.next().ok_or_else(|| err("empty".into()))?;
        let (mut pattern, mut negate, mut after, mut caps) = (None, false, true, Caps::default());
        for w in words {
            match w.split_once('=') {
                Some(("pattern", p)) => {
                    pattern = Some(Regex::new(p).map_err(|e| err(format!("pattern: {e}")))?)
                }
                Some(("match", "after")) => after = true,
                Some(("match", "before")) => after = false,
                Some(("max_lines", n)) => {
                    caps.max_lines = n
                        .parse()
                        .ok()
                        .filter(|n| (1..=10_000).contains(n))
                        .ok_or_else(|| err(format!("max_lines {n:?}: 1 to 10000")))?
                }
                Some(("max_bytes", n)) => {
                    caps.max_bytes = n
                        .parse()
                        .ok()
                        .filter(|n| (1..=Caps::default().max_bytes).contains(n))
                        .ok_or_else(|| {
                            err(format!("max_bytes {n:?}: 1 to {}", Caps::default().max_bytes))
                        })?
                }
                None if w == "negate" => negate = true,
                _ => {
                    return Err(err(format!(
                        "{w:?}: expected pattern=RE, negate, match=after|before, max_lines=N or max_bytes=N"
                    )))
                }
            }
        }
        let pattern = pattern.ok_or_else(|| err("no pattern=".into()))?;
        Ok(Rule {
            name: spec.to_string(),
            groups: Some(GroupGlob::new(glob)),
            how: How::Pattern {
                pattern,
                negate,
                after,
            },
            caps,
        })
    }
}

#[cfg(test)]
mod tests;
