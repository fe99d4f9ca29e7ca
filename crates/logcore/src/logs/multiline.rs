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
//! [`Rules::group`] returns the records as ranges of the run's indices: every line in exactly one, in order;
//! [`Rules::joins`] only those that are not a line on its own ([`Kind::Single`]), which is what a transform
//! needs on its hot path (most lines are alone). Configured rules come from [`parse_rules`]
//! (`MULTILINE_RULES`).

use std::sync::OnceLock;

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

/// Where the lines a stream holds (see [`Rules::settled`]) begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// At the start of the run: continuation lines there are an orphan record.
    RunStart,
    /// After a complete record.
    Fresh,
    /// In a record a cap cut: continuation lines there are the rest of it.
    AfterCap,
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
    /// A start line, then continuation lines; `last` lines end the record once taken, unless a `chain`
    /// line follows (blank lines between): a chained exception's sentence goes on with the next one.
    Trace {
        start: Regex,
        next: RegexSet,
        last: Option<Regex>,
        chain: Option<Regex>,
    },
    /// Elastic's `pattern`/`negate`/`match`.
    Pattern {
        pattern: Regex,
        negate: bool,
        after: bool,
    },
}

/// What a built-in rule's start line and the line after it must have, checked in a few byte comparisons
/// before any of its patterns runs (a necessary condition, never a sufficient one): most lines are ruled
/// out here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Configured rules: none.
    Open,
    /// JVM, .NET and Node.js: a start naming an exception or error, and a next line that can continue a
    /// trace of theirs (indented, `Caused by: `, `... N more`, `--->`, …).
    Exception,
    /// Python: a start line that ends with `Traceback (most recent call last):`.
    Python,
    /// Go: a start line that begins with `panic: `, `fatal error: ` or `goroutine `.
    Go,
}

/// One rule: which log groups, how, and its caps.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    groups: Option<GroupGlob>,
    how: How,
    gate: Gate,
    pub caps: Caps,
}

/// The rules of a transform: configured ones first (by log group), then the built-in ones.
#[derive(Debug, Clone)]
pub struct Rules {
    configured: Vec<Rule>,
    /// The built-in rules, compiled the first time a line could need them (`None`: off). A function that
    /// never meets such a line (the forwarder on the transforms' JSON documents) never compiles them.
    builtin: Option<OnceLock<Builtin>>,
    pub caps: Caps,
}

/// The built-in rules, compiled.
#[derive(Debug, Clone)]
struct Builtin {
    rules: Vec<Rule>,
    /// Lines that can only continue a trace (for orphans at the start of a run).
    orphan: RegexSet,
    /// What every JVM, .NET and Node.js start line holds (`Exception`, `Error`, …): one literal search
    /// before their own patterns run.
    maybe_start: Regex,
    /// A rule whose gate is open (tests only): lines cannot be ruled out before the patterns run.
    any_open: bool,
}

fn re(p: &str) -> Regex {
    Regex::new(&ascii_classes(p)).expect("a built-in multiline pattern is valid")
}

fn set(ps: &[&str]) -> RegexSet {
    RegexSet::new(ps.iter().map(|p| ascii_classes(p)))
        .expect("built-in multiline patterns are valid")
}

/// A built-in pattern with `\w`, `\d`, `\s` and `\S` as their ASCII classes. The Unicode ones make every
/// pattern an automaton of thousands of states: the built-in rules took 3 ms and 3 MB to compile, at every
/// cold start of the functions that join. Stack traces name their classes, files and frames in ASCII
/// whitespace, and the rules stay as strict (a Unicode letter in a class name ends the name, as an
/// unknown character would).
fn ascii_classes(p: &str) -> String {
    const WORD: &str = "0-9A-Za-z_";
    const SPACE: &str = "\\t\\n\\x0B\\x0C\\r ";
    let mut out = String::with_capacity(p.len() + 32);
    let mut in_class = false;
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push(c);
                    break;
                };
                match (e, in_class) {
                    ('w', true) => out.push_str(WORD),
                    ('d', true) => out.push_str("0-9"),
                    ('s', true) => out.push_str(SPACE),
                    ('w', false) => out.push_str(&format!("[{WORD}]")),
                    ('d', false) => out.push_str("[0-9]"),
                    ('s', false) => out.push_str(&format!("[{SPACE}]")),
                    ('S', false) => out.push_str(&format!("[^{SPACE}]")),
                    _ => {
                        out.push(c);
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` or `^]` right after the opening is a literal, not the end.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Java/Kotlin/Scala and .NET exception headers: a qualified class name ending in Exception, Error or
/// Throwable, and its message (`java.lang.IllegalStateException: pool exhausted`,
/// `Exception in thread "main" java.lang.Error`, `System.InvalidOperationException: …`, `Unhandled exception.
/// System.Exception: …`). The log line's own prefix (a time, a level) may come first.
const JVM_CLR_HEADER: &str = r#"^(?:.*?\s)?(?:Exception in thread "[^"]*" |Unhandled [eE]xception\.? )?(?:[A-Za-z_$][\w$]*\.)+(?:[A-Z][\w$]*)?(?:Exception|Error|Throwable|Exit)(?::.*)?$"#;

/// A stack frame: `\tat pkg.Class.method(File.java:12)` (with logback's ` ~[app.jar:1.0]`), .NET's
/// `   at Ns.Type.Method(String[] args) in /src/Program.cs:line 14`, Node's `    at fn (/app/x.js:1:2)` or
/// `    at /app/x.js:1:2`. Prose that starts with `at` is none.
const FRAME: &str = r"^\s+at \S.*\)(?: in .*:line \d+| ~?\[[^\]]*\])?\s*$";
const NODE_FRAME: &str = r"^\s+at \S+:\d+:\d+\s*$";

/// The sentence between a Python exception and the one it caused or was raised while handling.
const PYTHON_CHAIN: &str = r"^(?:During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)\s*$";

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

impl Builtin {
    fn new() -> Builtin {
        let rules = vec![
            Rule {
                name: "java-dotnet".into(),
                groups: None,
                gate: Gate::Exception,
                how: How::Trace {
                    start: re(JVM_CLR_HEADER),
                    next: set(JVM_CLR_NEXT),
                    last: None,
                    chain: None,
                },
                caps: Caps::default(),
            },
            Rule {
                name: "python".into(),
                groups: None,
                gate: Gate::Python,
                how: How::Trace {
                    start: re(r"^(?:.*?\s)?Traceback \(most recent call last\):\s*$"),
                    // Frames and source lines are indented; chained tracebacks' sentences and their
                    // own header continue; the final `Name: message` (or a bare `Name`) ends it.
                    next: set(&[
                        r"^\s+\S",
                        PYTHON_CHAIN,
                        r"^Traceback \(most recent call last\):\s*$",
                        r"^\s*$",
                    ]),
                    last: Some(re(r"^[A-Za-z_][\w.]*(?:: .*)?$")),
                    chain: Some(re(PYTHON_CHAIN)),
                },
                caps: Caps::default(),
            },
            Rule {
                name: "go".into(),
                groups: None,
                gate: Gate::Go,
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
                    chain: None,
                },
                caps: Caps::default(),
            },
            Rule {
                name: "node".into(),
                groups: None,
                gate: Gate::Exception,
                how: How::Trace {
                    // `TypeError: x is not a function`, `Error [ERR_X]: …`, `Uncaught Error: …`.
                    start: re(
                        r"^(?:.*?\s)?(?:Uncaught )?(?:[A-Z]\w*)?(?:Error|Exception)(?: \[[\w-]+\])?: .*$|^Error$",
                    ),
                    next: set(&[FRAME, NODE_FRAME]),
                    last: None,
                    chain: None,
                },
                caps: Caps::default(),
            },
        ];
        Builtin {
            rules,
            orphan: set(&[
                FRAME,
                NODE_FRAME,
                r"^\s*Caused by: ",
                r"^\s*Suppressed: ",
                r"^\s*---> ",
                r"^\s*--- End of (?:inner exception stack trace|stack trace from previous location)[^-]*---\s*$",
                r"^\s*\.\.\. \d+ (?:more|common frames omitted)\s*$",
                r"^\t/\S+\.go:\d+",
            ]),
            maybe_start: re(r"Exception|Error|Throwable|Exit"),
            any_open: false,
        }
    }
}

impl Rules {
    /// The built-in rules alone, with default caps (compiled on first use).
    pub fn builtin() -> Rules {
        Rules {
            configured: Vec::new(),
            builtin: Some(OnceLock::new()),
            caps: Caps::default(),
        }
    }

    /// The built-in rules, compiled now if they were not.
    fn compiled(&self) -> Option<&Builtin> {
        self.builtin.as_ref().map(|b| b.get_or_init(Builtin::new))
    }

    /// The built-in rules to change (tests: caps, gates), compiled now if they were not.
    #[cfg(test)]
    fn builtin_mut(&mut self) -> &mut Builtin {
        let cell = self.builtin.get_or_insert_with(OnceLock::new);
        cell.get_or_init(Builtin::new);
        cell.get_mut().expect("compiled above")
    }

    /// Every rule's caps (tests).
    #[cfg(test)]
    fn set_caps(&mut self, caps: Caps) {
        self.caps = caps;
        for r in &mut self.builtin_mut().rules {
            r.caps = caps;
        }
        for r in &mut self.configured {
            r.caps = caps;
        }
    }

    /// The built-in rules and configured ones before them.
    pub fn with(configured: Vec<Rule>) -> Rules {
        Rules {
            configured,
            ..Rules::builtin()
        }
    }

    /// These rules without the built-in ones: only configured rules join, and no line is taken for a
    /// trace's orphan continuation.
    pub fn without_builtin(mut self) -> Rules {
        self.builtin = None;
        self
    }

    /// Group the lines of a run of `group`'s events into records.
    pub fn group(&self, group: &str, lines: &[&str]) -> Vec<Record> {
        let mut out = Vec::new();
        self.each(group, lines, |r| out.push(r));
        out
    }

    /// Hand each record of a run to `f`, in order, lines alone included, without collecting them.
    pub fn each(&self, group: &str, lines: &[&str], f: impl FnMut(Record)) {
        self.scan(group, lines, true, f);
    }

    /// For lines read one at a time (an S3 object streamed in bounded memory, no blank lines): the
    /// records of `lines`, the lines held so far, that are complete, and where the lines still held stand.
    /// Every record but the last is complete (a rule looks one line past a record to end it); the last is
    /// too once `done` (no line follows). Fed a line at a time, the complete records taken off the front
    /// each time, this gives the records of [`Rules::group`] on all the lines as long as no record
    /// reaches a cap; past a cap the rest of a trace is grouped afresh, its continuation lines one record
    /// flagged [`Kind::Capped`].
    pub fn settled(
        &self,
        group: &str,
        lines: &[&str],
        from: Held,
        done: bool,
    ) -> (Vec<Record>, Held) {
        let mut out: Vec<Record> = Vec::new();
        self.scan(group, lines, from != Held::Fresh, |mut r| {
            if from == Held::AfterCap && r.start == 0 && r.kind == Kind::Orphan {
                r.kind = Kind::Capped;
            }
            out.push(r)
        });
        if done {
            return (out, Held::Fresh);
        }
        let next = match out.pop() {
            Some(last) if last.start == 0 => from,
            Some(last) if last.kind == Kind::Capped => Held::AfterCap,
            _ => Held::Fresh,
        };
        (out, next)
    }

    /// The records of a run that are not one line on its own: joined, capped and orphan records, in
    /// order (the lines between them are each a record of their own). Empty, without allocating, for a
    /// run with nothing to join.
    pub fn joins(&self, group: &str, lines: &[&str]) -> Vec<Record> {
        let mut out = Vec::new();
        self.scan(group, lines, true, |r| {
            if r.kind != Kind::Single {
                out.push(r)
            }
        });
        out
    }

    fn scan(&self, group: &str, lines: &[&str], at_start: bool, mut emit: impl FnMut(Record)) {
        let configured: Vec<&Rule> = self
            .configured
            .iter()
            .filter(|r| r.groups.as_ref().is_none_or(|g| g.matches(group)))
            .collect();
        let mut i = 0;
        // Orphans: continuation lines at the head of the run.
        // Every orphan pattern starts as a JVM, .NET or Node.js continuation does (a Go frame's file line is
        // indented): a first line that does not is no orphan, and nothing is compiled for it.
        let may_orphan = at_start && lines.first().is_some_and(|l| continues_exception(l));
        let orphans = match self.builtin.as_ref().filter(|_| may_orphan) {
            Some(_) => {
                let orphan = self.compiled().map(|b| &b.orphan);
                lines
                    .iter()
                    .take_while(|l| !is_json(l) && orphan.is_some_and(|o| o.is_match(l)))
                    .count()
            }
            None => 0,
        };
        if orphans > 0 {
            push_capped(&mut emit, lines, 0, orphans, Kind::Orphan, self.caps);
            i = orphans;
        }
        while i < lines.len() {
            let (len, caps) = self.record_at(&configured, lines, i);
            if len == 1 {
                emit(Record {
                    start: i,
                    len,
                    kind: Kind::Single,
                });
            } else {
                push_capped(&mut emit, lines, i, len, Kind::Joined, caps);
            }
            i += len;
        }
    }

    /// How many lines the record starting at `i` holds, and its caps.
    fn record_at(&self, configured: &[&Rule], lines: &[&str], i: usize) -> (usize, Caps) {
        if is_json(lines[i]) {
            return (1, self.caps);
        }
        for r in configured.iter().copied() {
            let n = r.take(lines, i);
            if n > 1 || (n == 1 && !matches!(r.how, How::Trace { .. })) {
                return (n, r.caps);
            }
        }
        // A record of several lines needs a next line that is not JSON; each built-in rule, its gate.
        let Some(next) = lines.get(i + 1).filter(|l| !is_json(l)) else {
            return (1, self.caps);
        };
        let head = first_line(lines[i]);
        let go = ["panic: ", "fatal error: ", "goroutine "]
            .iter()
            .any(|p| head.starts_with(p));
        let python = head
            .trim_end()
            .ends_with("Traceback (most recent call last):");
        let exception_next = continues_exception(next);
        let Some(cell) = &self.builtin else {
            return (1, self.caps);
        };
        // Ruled out in byte comparisons: nothing is compiled for such a line.
        let cheap = go || python || exception_next;
        let b = match cell.get() {
            Some(b) if cheap || b.any_open => b,
            Some(_) => return (1, self.caps),
            None if cheap => cell.get_or_init(Builtin::new),
            None => return (1, self.caps),
        };
        let mut exception = None;
        let mut open = |gate: Gate| match gate {
            Gate::Open => true,
            Gate::Python => python,
            Gate::Go => go,
            Gate::Exception => {
                *exception.get_or_insert_with(|| exception_next && b.maybe_start.is_match(head))
            }
        };
        for r in &b.rules {
            if !open(r.gate) {
                continue;
            }
            let n = r.take(lines, i);
            if n > 1 || (n == 1 && !matches!(r.how, How::Trace { .. })) {
                return (n, r.caps);
            }
        }
        (1, self.caps)
    }
}

/// Emit lines `start..start + len` as records of at most the caps: the first of `kind`, the rest
/// [`Kind::Capped`]. A piece of one line of a joined record is [`Kind::Single`].
fn push_capped(
    emit: &mut impl FnMut(Record),
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
    let piece = |first: usize, len: usize, kind: Kind| Record {
        start: first,
        len,
        kind: if len == 1 && kind == Kind::Joined {
            Kind::Single
        } else {
            kind
        },
    };
    for (j, line) in lines.iter().enumerate().skip(start).take(len) {
        let add = line.len() + usize::from(j > first);
        if j > first && (j - first >= max_lines || bytes + add > max_bytes) {
            emit(piece(first, j - first, kind));
            first = j;
            bytes = line.len();
            kind = Kind::Capped;
            continue;
        }
        bytes += add;
    }
    emit(piece(first, start + len - first, kind));
}

/// A line that begins with a log level word (`INFO: …`, `ERROR`), which no exception line does.
fn is_level_word(line: &str) -> bool {
    let word = line.split([':', ' ']).next().unwrap_or("");
    [
        "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL",
    ]
    .contains(&word)
}

/// Whether `line` can continue a JVM, .NET or Node.js trace: every continuation pattern of theirs
/// (`JVM_CLR_NEXT`, `FRAME`, `NODE_FRAME`) starts with whitespace or one of these words.
fn continues_exception(line: &str) -> bool {
    line.starts_with(char::is_whitespace)
        || [
            "Caused by: ",
            "Suppressed: ",
            "... ",
            "---",
            "Exception in thread ",
        ]
        .iter()
        .any(|p| line.starts_with(p))
}

/// The first line of an event's message.
fn first_line(message: &str) -> &str {
    match memchr::memchr(b'\n', message.as_bytes()) {
        Some(i) => &message[..i],
        None => message,
    }
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
            How::Trace {
                start,
                next,
                last,
                chain,
            } => {
                // An event that holds several lines already (a logger that wrote the header and some
                // frames at once) starts a record by its first line.
                if !start.is_match(first_line(lines[i])) {
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
                        // A chained exception goes on after the final line of the one before it.
                        let mut k = i + n;
                        while lines.get(k).is_some_and(|l| l.trim().is_empty()) {
                            k += 1;
                        }
                        if chain
                            .as_ref()
                            .is_some_and(|c| lines.get(k).is_some_and(|l| c.is_match(l)))
                        {
                            n = k - i;
                            continue;
                        }
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
        let mut draft = Draft::new(glob);
        for w in words {
            match w.split_once('=') {
                Some((key @ ("pattern" | "match" | "max_lines" | "max_bytes"), value)) => {
                    draft.set(key, value).map_err(err)?
                }
                None if w == "negate" => draft.negate = true,
                _ => {
                    return Err(err(format!(
                        "{w:?}: expected pattern=RE, negate, match=after|before, max_lines=N or max_bytes=N"
                    )))
                }
            }
        }
        draft.rule(spec).map_err(err)
    }

    /// A rule in Elastic's shape from a JSON object (see [`parse_rules`]).
    fn from_object(o: &serde_json::Map<String, serde_json::Value>) -> Result<Rule, String> {
        let glob = o
            .get("log_group")
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .ok_or_else(|| {
                format!(
                    "multiline rule {}: no \"log_group\" glob",
                    serde_json::Value::Object(o.clone())
                )
            })?;
        let err = |m: String| format!("multiline rule for {glob:?}: {m}");
        let mut draft = Draft::new(glob);
        for (k, v) in o {
            match (k.as_str(), v) {
                ("log_group", _) => {}
                ("negate", serde_json::Value::Bool(b)) => draft.negate = *b,
                ("pattern" | "match", serde_json::Value::String(text)) => {
                    draft.set(k, text).map_err(err)?
                }
                ("max_lines" | "max_bytes", serde_json::Value::Number(n)) => {
                    draft.set(k, &n.to_string()).map_err(err)?
                }
                ("pattern" | "negate" | "match" | "max_lines" | "max_bytes", v) => {
                    return Err(err(format!("{k}: unexpected value {v}")))
                }
                (k, _) => {
                    return Err(err(format!(
                        "unknown key {k:?}; expected log_group, pattern, negate, match, max_lines, max_bytes"
                    )))
                }
            }
        }
        draft.rule(glob).map_err(err)
    }
}

/// A configured rule being read.
struct Draft {
    glob: GroupGlob,
    pattern: Option<Regex>,
    negate: bool,
    after: bool,
    caps: Caps,
}

impl Draft {
    fn new(glob: &str) -> Draft {
        Draft {
            glob: GroupGlob::new(glob),
            pattern: None,
            negate: false,
            after: true,
            caps: Caps::default(),
        }
    }

    /// Set `pattern`, `match`, `max_lines` or `max_bytes` from its text.
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let limit = Caps::default().max_bytes;
        match (key, value) {
            ("pattern", p) => {
                self.pattern = Some(Regex::new(p).map_err(|e| format!("pattern: {e}"))?)
            }
            ("match", "after") => self.after = true,
            ("match", "before") => self.after = false,
            ("max_lines", n) => {
                self.caps.max_lines = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| format!("max_lines {n:?}: 1 to 10000"))?
            }
            ("max_bytes", n) => {
                self.caps.max_bytes = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=limit).contains(n))
                    .ok_or_else(|| format!("max_bytes {n:?}: 1 to {limit}"))?
            }
            (key, value) => {
                return Err(format!(
                    "{key}={value}: expected match=after or match=before"
                ))
            }
        }
        Ok(())
    }

    fn rule(self, name: &str) -> Result<Rule, String> {
        let pattern = self.pattern.ok_or("no pattern=")?;
        Ok(Rule {
            name: name.to_string(),
            groups: Some(self.glob),
            gate: Gate::Open,
            how: How::Pattern {
                pattern,
                negate: self.negate,
                after: self.after,
            },
            caps: self.caps,
        })
    }
}

/// The rules a function joins with, from its variables: `MULTILINE` (the built-in rules, default `true`)
/// and `MULTILINE_RULES` ([`parse_rules`]). `None`: nothing joins (`MULTILINE=false` and no configured
/// rule). The CloudWatch Logs transform and the Slack notifier read the same two, so a trace is one
/// document and one alert alike.
pub fn rules_from_env(
    env: &crate::base::env::Env<'_>,
) -> Result<Option<Rules>, crate::base::env::ConfigError> {
    let configured = match env.get_raw("MULTILINE_RULES") {
        Some(text) => parse_rules(&text).map_err(|e| env.err("MULTILINE_RULES", &text, e))?,
        None => Vec::new(),
    };
    let builtin = env.flag("MULTILINE", true)?;
    Ok(if builtin {
        Some(Rules::with(configured))
    } else if configured.is_empty() {
        None
    } else {
        Some(Rules::with(configured).without_builtin())
    })
}

/// The configured rules of `MULTILINE_RULES`: a JSON array whose elements are each a rule, either in the
/// words [`Rule::parse`] reads (`"/ecs/legacy-* pattern=^\\d{4}- negate match=after"`) or as an object in
/// Elastic's shape: `{"log_group": "/ecs/legacy-*", "pattern": "^\\d{4}-", "negate": true, "match":
/// "after", "max_lines": 500, "max_bytes": 1048550}` (`log_group` and `pattern` required; a pattern
/// there may hold spaces). The error names the rule and the problem.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| format!("expected a JSON array of rules (strings or objects): {e}"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            serde_json::Value::String(spec) => Rule::parse(spec),
            serde_json::Value::Object(o) => Rule::from_object(o),
            other => Err(format!(
                "multiline rule {}: expected a string or an object, found {other}",
                i + 1
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests;
