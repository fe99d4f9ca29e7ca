//! PostgreSQL log lines as RDS and Aurora publish them, with pgaudit entries inside:
//!
//! ```text
//! 2025-11-21 10:00:00 UTC:10.0.1.50(53422):app@shop:[12345]:LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,"SELECT 1",<not logged>
//! ```
//!
//! The prefix follows `log_line_prefix` (RDS default `%t:%r:%u@%d:[%p]:`; any other can be configured), then
//! the severity (`LOG:  `), then, for pgaudit, `AUDIT: ` and the CSV payload
//! `audit_type,statement_id,substatement_id,class,command,object_type,object_name,statement,parameter` with
//! fields quoted by `"` (doubled inside) when they hold a comma, a quote or a newline. Other log lines parse
//! as plain PostgreSQL lines (no `audit`).

use std::borrow::Cow;
use std::ops::Range;

use super::AuditError;
use crate::base::time::epoch_seconds;

/// The RDS and Aurora default `log_line_prefix`.
pub const RDS_DEFAULT_PREFIX: &str = "%t:%r:%u@%d:[%p]:";

/// What one `log_line_prefix` escape is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    /// `%t` / `%s`: `YYYY-MM-DD HH:MM:SS ZONE`.
    Time {
        millis: bool,
        session_start: bool,
    },
    /// `%n`: seconds since the epoch with milliseconds.
    Epoch,
    /// `%r`: host and port, `host(port)`, or `[local]`.
    RemoteHostPort,
    /// `%h`.
    RemoteHost,
    User,
    Database,
    Pid,
    /// `%a`, `%c`, `%l`, `%v`, `%x`, `%e`, `%i`, `%b`, `%Q`, … : kept by name in `other`.
    Other(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(String),
    Esc(Esc),
}

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePrefix {
    toks: Vec<Tok>,
}

impl Default for LinePrefix {
    fn default() -> Self {
        LinePrefix::new(RDS_DEFAULT_PREFIX).expect("the default prefix is valid")
    }
}

impl LinePrefix {
    /// Compile a `log_line_prefix`. `%q` (end of the prefix for non-session processes) is accepted and
    /// ignored; two escapes in a row without text between them cannot be told apart and are refused, except
    /// where the first one has a fixed shape (times, pids, host and port).
    pub fn new(prefix: &str) -> Result<LinePrefix, String> {
        let mut toks: Vec<Tok> = Vec::new();
        let mut lit = String::new();
        let mut chars = prefix.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            let Some(e) = chars.next() else {
                return Err("the prefix ends with a lone %".into());
            };
            let esc = match e {
                '%' => {
                    lit.push('%');
                    continue;
                }
                'q' => continue,
                't' => Esc::Time {
                    millis: false,
                    session_start: false,
                },
                'm' => Esc::Time {
                    millis: true,
                    session_start: false,
                },
                's' => Esc::Time {
                    millis: false,
                    session_start: true,
                },
                'n' => Esc::Epoch,
                'r' => Esc::RemoteHostPort,
                'h' => Esc::RemoteHost,
                'u' => Esc::User,
                'd' => Esc::Database,
                'p' => Esc::Pid,
                'a' | 'c' | 'l' | 'v' | 'x' | 'e' | 'i' | 'b' | 'Q' | 'P' | 'L' => Esc::Other(e),
                other => return Err(format!("unknown log_line_prefix escape %{other}")),
            };
            if !lit.is_empty() {
                toks.push(Tok::Lit(std::mem::take(&mut lit)));
            }
            if let Some(Tok::Esc(prev)) = toks.last() {
                if !fixed_shape(*prev) {
                    return Err(format!(
                        "escapes {prev:?} and {esc:?} follow each other without text between them"
                    ));
                }
            }
            toks.push(Tok::Esc(esc));
        }
        if !lit.is_empty() {
            toks.push(Tok::Lit(lit));
        }
        Ok(LinePrefix { toks })
    }
}

fn fixed_shape(e: Esc) -> bool {
    matches!(
        e,
        Esc::Time { .. } | Esc::Epoch | Esc::Pid | Esc::RemoteHostPort
    )
}

/// The fields of a prefix. Empty fields are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixFields<'a> {
    /// Microseconds since the epoch, when the line carries a time with a known zone.
    pub micros: Option<i64>,
    pub client_address: Option<&'a str>,
    pub client_port: Option<u16>,
    pub user: Option<&'a str>,
    pub database: Option<&'a str>,
    pub pid: Option<u32>,
    /// Other escapes, by letter (`a` application name, `c` session id, …).
    pub other: Vec<(char, &'a str)>,
}

/// One parsed PostgreSQL log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgLine<'a> {
    pub prefix: PrefixFields<'a>,
    /// `LOG`, `ERROR`, `FATAL`, …
    pub severity: &'a str,
    /// The message after the severity (for audit lines, after `AUDIT: `).
    pub message: &'a str,
    pub audit: Option<PgAudit<'a>>,
}

/// A pgaudit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgAudit<'a> {
    /// `SESSION` or `OBJECT`.
    pub audit_type: Cow<'a, str>,
    pub statement_id: Cow<'a, str>,
    pub substatement_id: Cow<'a, str>,
    pub class: Cow<'a, str>,
    pub command: Cow<'a, str>,
    pub object_type: Cow<'a, str>,
    pub object_name: Cow<'a, str>,
    pub statement: Cow<'a, str>,
    /// Where the statement field (quotes included) is in the line.
    pub statement_span: Range<usize>,
    pub parameter: Cow<'a, str>,
    pub parameter_span: Range<usize>,
    /// Fields after the parameter (e.g. the row count of `pgaudit.log_rows`).
    pub extra: Vec<Cow<'a, str>>,
}

const AUDIT_MARK: &str = "AUDIT: ";

/// Parse one log line with `prefix`.
pub fn parse<'a>(prefix: &LinePrefix, line: &'a str) -> Result<PgLine<'a>, AuditError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let (fields, pos) = parse_prefix(prefix, line)?;
    let rest = &line[pos..];
    let Some(colon) = rest.find(":  ") else {
        return Err(AuditError::new(
            "no severity (such as \"LOG:  \") after the line prefix",
        ));
    };
    let severity = &rest[..colon];
    if severity.is_empty()
        || !severity
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(AuditError::new(format!(
            "{severity:?} after the line prefix is not a severity such as LOG or ERROR"
        )));
    }
    let msg_start = pos + colon + 3;
    let message = &line[msg_start..];
    let audit = match message.strip_prefix(AUDIT_MARK) {
        Some(_) => Some(parse_audit(line, msg_start + AUDIT_MARK.len())?),
        None => None,
    };
    let message = if audit.is_some() {
        &message[AUDIT_MARK.len()..]
    } else {
        message
    };
    Ok(PgLine {
        prefix: fields,
        severity,
        message,
        audit,
    })
}

fn parse_prefix<'a>(
    prefix: &LinePrefix,
    line: &'a str,
) -> Result<(PrefixFields<'a>, usize), AuditError> {
    let mut f = PrefixFields::default();
    let mut pos = 0;
    let b = line.as_bytes();
    for (i, tok) in prefix.toks.iter().enumerate() {
        match tok {
            Tok::Lit(l) => {
                if !line[pos..].starts_with(l.as_str()) {
                    return Err(AuditError::new(format!(
                        "the line does not match the log_line_prefix: expected {l:?} at byte {pos}"
                    )));
                }
                pos += l.len();
            }
            Tok::Esc(esc) => {
                let next_lit = match prefix.toks.get(i + 1) {
                    Some(Tok::Lit(l)) => Some(l.as_str()),
                    _ => None,
                };
                let end = match esc {
                    Esc::Time { millis, .. } => time_end(b, pos, *millis),
                    Esc::Epoch => Some(span_while(b, pos, |c| c.is_ascii_digit() || c == b'.')),
                    Esc::Pid => Some(span_while(b, pos, |c| c.is_ascii_digit())),
                    Esc::RemoteHostPort => Some(host_port_end(b, pos)),
                    _ => Some(match next_lit {
                        Some(l) => line[pos..].find(l).map_or(line.len(), |j| pos + j),
                        None => span_while(b, pos, |c| c != b' '),
                    }),
                };
                let Some(end) = end else {
                    return Err(AuditError::new(format!(
                        "the line does not match the log_line_prefix: no time at byte {pos}"
                    )));
                };
                let v = &line[pos..end];
                let opt = (!v.is_empty()).then_some(v);
                match esc {
                    Esc::Time {
                        session_start: false,
                        ..
                    } => f.micros = f.micros.or_else(|| parse_time(v)),
                    Esc::Time { .. } => {}
                    Esc::Epoch => f.micros = f.micros.or_else(|| parse_epoch(v)),
                    Esc::Pid => f.pid = v.parse().ok(),
                    Esc::RemoteHostPort => {
                        if v != "[local]" {
                            match v.strip_suffix(')').and_then(|h| h.rsplit_once('(')) {
                                Some((host, port)) => {
                                    f.client_address = (!host.is_empty()).then_some(host);
                                    f.client_port = port.parse().ok();
                                }
                                None => f.client_address = opt,
                            }
                        } else {
                            f.client_address = opt;
                        }
                    }
                    Esc::RemoteHost => f.client_address = opt,
                    Esc::User => f.user = opt,
                    Esc::Database => f.database = opt,
                    Esc::Other(c) => {
                        if let Some(v) = opt {
                            f.other.push((*c, v));
                        }
                    }
                }
                pos = end;
            }
        }
    }
    Ok((f, pos))
}

fn span_while(b: &[u8], start: usize, ok: impl Fn(u8) -> bool) -> usize {
    start + b[start..].iter().take_while(|&&c| ok(c)).count()
}

/// `YYYY-MM-DD HH:MM:SS[.mmm][ ZONE]`, or empty (background processes may log no time).
fn time_end(b: &[u8], pos: usize, millis: bool) -> Option<usize> {
    let shape = b"dddd-dd-dd dd:dd:dd";
    let s = b.get(pos..pos + shape.len())?;
    let ok = s.iter().zip(shape).all(|(c, p)| {
        if *p == b'd' {
            c.is_ascii_digit()
        } else {
            c == p
        }
    });
    if !ok {
        return None;
    }
    let mut end = pos + shape.len();
    if millis && b.get(end) == Some(&b'.') {
        end = span_while(b, end + 1, |c| c.is_ascii_digit());
    }
    if b.get(end) == Some(&b' ') {
        let zone_start = end + 1;
        let zone_end = span_while(b, zone_start, |c| {
            c.is_ascii_alphanumeric() || c == b'+' || c == b'-'
        });
        if zone_end > end + 1 {
            end = zone_end;
            // `+01:00`
            let z = &b[zone_start..end];
            if matches!(z.first(), Some(b'+' | b'-'))
                && z.len() == 3
                && b.get(end) == Some(&b':')
                && b.get(end + 1..end + 3)
                    .is_some_and(|m| m.iter().all(u8::is_ascii_digit))
            {
                end += 3;
            }
        }
    }
    Some(end)
}

/// `host(port)`, `[local]`, or a bare host, possibly empty. IPv6 hosts contain colons, so the host runs to
/// the `(` of the port when there is one.
fn host_port_end(b: &[u8], pos: usize) -> usize {
    if b[pos..].starts_with(b"[local]") {
        return pos + 7;
    }
    let host_end = span_while(b, pos, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'%' | b':')
    });
    if b.get(host_end) == Some(&b'(') {
        let digits = span_while(b, host_end + 1, |c| c.is_ascii_digit());
        if b.get(digits) == Some(&b')') {
            return digits + 1;
        }
    }
    // No port: the host cannot contain the colon that ends the escape in `%r:`.
    span_while(b, pos, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'%')
    })
}

/// A `%t`/`%m` value as microseconds, when its zone is UTC (RDS logs in UTC unless configured otherwise) or
/// a numeric offset. Other zone names are ambiguous; the caller falls back to the event time.
fn parse_time(v: &str) -> Option<i64> {
    let n = |r: Range<usize>| v.get(r)?.parse::<u32>().ok();
    let secs = epoch_seconds(
        i64::from(n(0..4)?),
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    )?;
    let mut rest = &v[19..];
    let mut micros = secs * 1_000_000;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let mut sub: i64 = 0;
        for (i, d) in frac[..digits].bytes().take(6).enumerate() {
            sub += i64::from(d - b'0') * 10i64.pow(5 - i as u32);
        }
        micros += sub;
        rest = &frac[digits..];
    }
    let zone = rest.trim_start();
    let offset_secs: i64 = match zone {
        "" | "UTC" | "GMT" | "Z" | "UCT" => 0,
        z if z.starts_with('+') || z.starts_with('-') => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let d = &z[1..];
            let (h, m) = match d.len() {
                2 => (d.parse::<i64>().ok()?, 0),
                4 => (d[..2].parse::<i64>().ok()?, d[2..].parse::<i64>().ok()?),
                5 if d.as_bytes()[2] == b':' => {
                    (d[..2].parse::<i64>().ok()?, d[3..].parse::<i64>().ok()?)
                }
                _ => return None,
            };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    Some(micros - offset_secs * 1_000_000)
}

fn parse_epoch(v: &str) -> Option<i64> {
    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = s.parse().ok()?;
    let mut micros = secs.checked_mul(1_000_000)?;
    for (i, d) in frac.bytes().take(6).enumerate() {
        if !d.is_ascii_digit() {
            return None;
        }
        micros += i64::from(d - b'0') * 10i64.pow(5 - i as u32);
    }
    Some(micros)
}

fn parse_audit(line: &str, start: usize) -> Result<PgAudit<'_>, AuditError> {
    let mut r = Csv { line, pos: start };
    let names = [
        "audit_type",
        "statement_id",
        "substatement_id",
        "class",
        "command",
        "object_type",
        "object_name",
        "statement",
        "parameter",
    ];
    let mut fields: Vec<CsvField<'_>> = Vec::with_capacity(9);
    for name in names {
        match r.next()? {
            Some(f) => fields.push(f),
            None => {
                return Err(AuditError::new(format!(
                "the AUDIT entry ends before the {name} field (expected 9 comma-separated fields)"
            )))
            }
        }
    }
    let mut extra = Vec::new();
    while let Some((f, _)) = r.next()? {
        extra.push(f);
    }
    let mut it = fields.into_iter();
    let mut take = || it.next().expect("nine fields");
    let audit_type = take().0;
    if audit_type != "SESSION" && audit_type != "OBJECT" {
        return Err(AuditError::new(format!(
            "AUDIT type {audit_type:?} is neither SESSION nor OBJECT"
        )));
    }
    let (statement_id, substatement_id, class, command, object_type, object_name) =
        (take().0, take().0, take().0, take().0, take().0, take().0);
    let (statement, statement_span) = take();
    let (parameter, parameter_span) = take();
    Ok(PgAudit {
        audit_type,
        statement_id,
        substatement_id,
        class,
        command,
        object_type,
        object_name,
        statement,
        statement_span,
        parameter,
        parameter_span,
        extra,
    })
}

/// Quote `text` as a pgaudit CSV field when it needs it (a comma, a quote, a newline or leading/trailing
/// space), doubling quotes.
pub fn quote(text: &str, out: &mut String) {
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// A field's text and where it is in the line (quotes included).
type CsvField<'a> = (Cow<'a, str>, Range<usize>);

struct Csv<'a> {
    line: &'a str,
    /// Start of the next field; past the end once the last field was read.
    pos: usize,
}

impl<'a> Csv<'a> {
    fn next(&mut self) -> Result<Option<CsvField<'a>>, AuditError> {
        let line = self.line;
        let b = line.as_bytes();
        let start = self.pos;
        if start > line.len() {
            return Ok(None);
        }
        if b.get(start) == Some(&b'"') {
            let mut i = start + 1;
            let mut owned: Option<String> = None;
            let mut copied = i;
            loop {
                let Some(q) = line[i..].find('"').map(|j| i + j) else {
                    return Err(AuditError::new(format!(
                        "the quoted field that starts at byte {start} is not closed"
                    )));
                };
                if b.get(q + 1) == Some(&b'"') {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&line[copied..=q]);
                    i = q + 2;
                    copied = i;
                    continue;
                }
                let text = match owned {
                    Some(mut s) => {
                        s.push_str(&line[copied..q]);
                        Cow::Owned(s)
                    }
                    None => Cow::Borrowed(&line[start + 1..q]),
                };
                let end = q + 1;
                match b.get(end) {
                    None => self.pos = line.len() + 1,
                    Some(b',') => self.pos = end + 1,
                    Some(_) => {
                        return Err(AuditError::new(format!(
                            "unexpected text after the quoted field that starts at byte {start}"
                        )))
                    }
                }
                return Ok(Some((text, start..end)));
            }
        }
        let end = line[start..].find(',').map_or(line.len(), |j| start + j);
        self.pos = end + 1;
        Ok(Some((Cow::Borrowed(&line[start..end]), start..end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p() -> LinePrefix {
        LinePrefix::default()
    }

    #[test]
    fn session_read_line() {
        let line = "2025-11-21 10:00:00 UTC:10.0.1.50(53422):app@shop:[12345]:LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,\"SELECT a, b FROM t WHERE s = 'x'\",<not logged>";
        let l = parse(&p(), line).unwrap();
        assert_eq!(l.prefix.micros, Some(1_763_719_200_000_000));
        assert_eq!(l.prefix.client_address, Some("10.0.1.50"));
        assert_eq!(l.prefix.client_port, Some(53422));
        assert_eq!(
            (l.prefix.user, l.prefix.database, l.prefix.pid),
            (Some("app"), Some("shop"), Some(12345))
        );
        assert_eq!(l.severity, "LOG");
        let a = l.audit.unwrap();
        assert_eq!(
            (
                a.audit_type.as_ref(),
                a.statement_id.as_ref(),
                a.substatement_id.as_ref()
            ),
            ("SESSION", "1", "1")
        );
        assert_eq!((a.class.as_ref(), a.command.as_ref()), ("READ", "SELECT"));
        assert_eq!((a.object_type.as_ref(), a.object_name.as_ref()), ("", ""));
        assert_eq!(a.statement, "SELECT a, b FROM t WHERE s = 'x'");
        assert_eq!(
            &line[a.statement_span.clone()],
            "\"SELECT a, b FROM t WHERE s = 'x'\""
        );
        assert_eq!(a.parameter, "<not logged>");
    }

    #[test]
    fn object_line_multiline_statement_doubled_quotes_and_parameters() {
        let line = "2025-11-21 10:00:05 UTC:[local]:postgres@shop:[777]:LOG:  AUDIT: OBJECT,12,1,WRITE,INSERT,TABLE,public.orders,\"INSERT INTO orders (note)\nVALUES ($1, 'say \"\"hi\"\"')\",\"42,\"\"x\"\"\"";
        let l = parse(&p(), line).unwrap();
        assert_eq!(l.prefix.client_address, Some("[local]"));
        assert_eq!(l.prefix.client_port, None);
        let a = l.audit.unwrap();
        assert_eq!(a.audit_type, "OBJECT");
        assert_eq!(
            (a.object_type.as_ref(), a.object_name.as_ref()),
            ("TABLE", "public.orders")
        );
        assert_eq!(
            a.statement,
            "INSERT INTO orders (note)\nVALUES ($1, 'say \"hi\"')"
        );
        assert_eq!(a.parameter, "42,\"x\"");
    }

    #[test]
    fn none_parameter_extra_fields_ipv6_and_plain_lines() {
        let line = "2025-11-21 10:00:05 UTC:2001:db8::7(5432):app@shop:[9]:LOG:  AUDIT: SESSION,3,1,DDL,CREATE TABLE,TABLE,public.t,CREATE TABLE t (id int),<none>,1";
        let l = parse(&p(), line).unwrap();
        assert_eq!(
            (l.prefix.client_address, l.prefix.client_port),
            (Some("2001:db8::7"), Some(5432))
        );
        let a = l.audit.unwrap();
        assert_eq!(a.statement, "CREATE TABLE t (id int)");
        assert_eq!(a.parameter, "<none>");
        assert_eq!(a.extra, vec!["1"]);

        let l = parse(
            &p(),
            "2025-11-21 10:00:06 UTC::@:[88]:LOG:  checkpoint starting: time",
        )
        .unwrap();
        assert!(l.audit.is_none());
        assert_eq!(
            (l.prefix.user, l.prefix.database, l.prefix.client_address),
            (None, None, None)
        );
        assert_eq!(l.message, "checkpoint starting: time");
        let l = parse(&p(), "2025-11-21 10:00:07 UTC:10.0.1.9(1):bob@shop:[5]:FATAL:  password authentication failed for user \"bob\"").unwrap();
        assert_eq!(l.severity, "FATAL");
    }

    #[test]
    fn other_prefixes() {
        let pre = LinePrefix::new("%m [%p] %q%u@%d/%a ").unwrap();
        let l = parse(&pre, "2025-11-21 10:00:00.250 +01:00 [42] app@shop/psql LOG:  AUDIT: SESSION,1,1,MISC,SET,,,SET x = 1,<not logged>").unwrap();
        assert_eq!(l.prefix.micros, Some(1_763_715_600_250_000));
        assert_eq!(l.prefix.other, vec![('a', "psql")]);
        assert_eq!(l.audit.unwrap().command, "SET");
        let pre = LinePrefix::new("%n:%h:%u:").unwrap();
        let l = parse(&pre, "1763719200.5:10.0.0.1:bob:LOG:  hello").unwrap();
        assert_eq!(l.prefix.micros, Some(1_763_719_200_500_000));
        // A zone name we cannot resolve leaves the time to the caller.
        let l = parse(&p(), "2025-11-21 10:00:00 CET:h(1):u@d:[1]:LOG:  x").unwrap();
        assert_eq!(l.prefix.micros, None);
        assert!(LinePrefix::new("%u%d").is_err());
        assert!(LinePrefix::new("%z").is_err());
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            ("hello", "log_line_prefix"),
            ("2025-11-21 10:00:00 UTC:h(1):u@d:[1]:no severity here", "severity"),
            ("2025-11-21 10:00:00 UTC:h(1):u@d:[1]:LOG:  AUDIT: SESSION,1,1,READ", "ends before the command"),
            ("2025-11-21 10:00:00 UTC:h(1):u@d:[1]:LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,\"SELECT 1", "not closed"),
            ("2025-11-21 10:00:00 UTC:h(1):u@d:[1]:LOG:  AUDIT: WHAT,1,1,READ,SELECT,,,x,y", "neither SESSION"),
        ];
        for (line, want) in cases {
            let e = parse(&p(), line).unwrap_err();
            assert!(e.to_string().contains(want), "{line:?}: {e}");
        }
    }

    proptest! {
        /// Any statement, quoted as pgaudit writes it, parses back unchanged.
        #[test]
        fn statement_survives_quote_and_parse(sql in any::<String>(), param in any::<String>()) {
            let mut line = String::from("2025-11-21 10:00:00 UTC:10.0.0.1(5):u@d:[1]:LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,");
            let start = line.len();
            quote(&sql, &mut line);
            let end = line.len();
            line.push(',');
            quote(&param, &mut line);
            let l = parse(&p(), &line).unwrap();
            let a = l.audit.unwrap();
            prop_assert_eq!(a.statement.as_ref(), sql.as_str());
            prop_assert_eq!(a.statement_span, start..end);
            prop_assert_eq!(a.parameter.as_ref(), param.as_str());
            prop_assert!(a.extra.is_empty());
        }

        #[test]
        fn never_panics(line in any::<String>(), prefix in "[%tmrhudpa:@\\[\\] ]{0,12}") {
            let _ = parse(&p(), &line);
            if let Ok(pre) = LinePrefix::new(&prefix) {
                let _ = parse(&pre, &line);
            }
        }
    }
}
