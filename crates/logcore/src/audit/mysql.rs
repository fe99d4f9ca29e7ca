//! Aurora MySQL advanced auditing, and the RDS MySQL / MariaDB audit plugin (same layout):
//!
//! ```text
//! timestamp,serverhost,username,host,connectionid,queryid,operation,database,object,retcode[,more…]
//! 1700000000123456,ip-10-0-1-23,app,10.0.1.50,42,1337,QUERY,shop,'SELECT * FROM t WHERE n=\'O\\\'Brien\'',0
//! ```
//!
//! The timestamp is microseconds since the epoch on Aurora, `YYYYMMDD HH:MM:SS` on RDS/MariaDB. `object` is
//! the SQL text of QUERY events, single-quoted with `\'` and `\\` escaped (it may hold commas and newlines),
//! or a table name for table events; `database` and `object` may be empty, and so is `retcode` in the table
//! events (READ, WRITE, CREATE, ALTER, DROP, RENAME) MariaDB and Aurora write:
//! `20230222 02:35:55,host1,scott,localhost,32,66,WRITE,scott,EMP,`. MariaDB 12 writes the client as
//! `host:port`. Fields past `retcode` that newer engine versions add are kept in `extra`.
//!
//! The layout (timestamp, then nine fields, quoting) decides whether a line is a MySQL audit record at all;
//! past that, a field that does not read (a retcode that is no number, an empty operation) is named in
//! `problems` and every other field is kept.

use std::borrow::Cow;
use std::ops::Range;

use super::AuditError;
use crate::base::time::epoch_seconds;

/// One parsed audit record. Borrowed from the line except where unescaping changed the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlAudit<'a> {
    /// Microseconds since the Unix epoch.
    pub micros: i64,
    pub server_host: &'a str,
    pub user: &'a str,
    /// The client's host or address, without the port.
    pub host: &'a str,
    /// The client's port, when the host field has one (`10.0.1.50:51234`, `[2001:db8::5]:51234`).
    pub port: Option<u16>,
    pub connection_id: &'a str,
    pub query_id: &'a str,
    pub operation: &'a str,
    pub database: &'a str,
    /// The object, unescaped.
    pub object: Cow<'a, str>,
    /// Where the object field (quotes included) is in the line.
    pub object_span: Range<usize>,
    pub object_quoted: bool,
    /// The return code; `None` when the field is empty (table events) or unreadable (see `problems`).
    pub retcode: Option<i64>,
    /// Fields after `retcode`, unescaped when quoted.
    pub extra: Vec<Cow<'a, str>>,
    /// Fields that did not read, each named with what was wrong; the rest of the record stands.
    pub problems: Vec<String>,
}

impl MysqlAudit<'_> {
    /// Whether `object` holds SQL text (QUERY events) rather than an object name (table events).
    pub fn object_is_statement(&self) -> bool {
        self.operation.starts_with("QUERY") || self.object_quoted
    }

    /// `failure` for FAILED_CONNECT and a non-zero return code, `success` for 0, `unknown` without one
    /// (table events say which table a statement touched; its QUERY record has the result).
    pub fn outcome(&self) -> &'static str {
        match self.retcode {
            _ if self.operation == "FAILED_CONNECT" => "failure",
            Some(0) => "success",
            Some(_) => "failure",
            None => "unknown",
        }
    }
}

/// Parse one audit line.
pub fn parse(line: &str) -> Result<MysqlAudit<'_>, AuditError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut r = Reader { line, pos: 0 };
    let ts = r.plain("timestamp")?;
    let micros = parse_timestamp(ts).ok_or_else(|| {
        AuditError::new(format!(
            "timestamp {ts:?} is neither microseconds since the epoch nor YYYYMMDD HH:MM:SS"
        ))
    })?;
    let server_host = r.plain("serverhost")?;
    let user = r.plain("username")?;
    let (host, port) = split_host_port(r.plain("host")?);
    let connection_id = r.plain("connectionid")?;
    let query_id = r.plain("queryid")?;
    let operation = r.plain("operation")?;
    let mut problems = Vec::new();
    if operation.is_empty() {
        problems.push("the operation field is empty".to_string());
    }
    let database = r.plain("database")?;
    let (object, object_span, object_quoted) = r.field("object")?;
    let Some((retcode_field, _, retcode_quoted)) = r.next_field()? else {
        return Err(AuditError::new(
            "the line ends after the object: retcode is missing",
        ));
    };
    let retcode_text = retcode_field.trim();
    let retcode = match retcode_text.parse::<i64>() {
        _ if retcode_quoted => {
            problems.push(format!("retcode {retcode_text:?} is quoted"));
            None
        }
        Ok(n) => Some(n),
        Err(_) if retcode_text.is_empty() => None,
        Err(_) => {
            problems.push(format!("retcode {retcode_text:?} is not a number"));
            None
        }
    };
    let mut extra = Vec::new();
    while let Some((f, _, _)) = r.next_field()? {
        extra.push(f);
    }
    Ok(MysqlAudit {
        micros,
        server_host,
        user,
        host,
        port,
        connection_id,
        query_id,
        operation,
        database,
        object,
        object_span,
        object_quoted,
        retcode,
        extra,
        problems,
    })
}

/// `host:port` (MariaDB 12), `[v6]:port`, or a host alone (an IPv6 address without brackets has no port).
fn split_host_port(field: &str) -> (&str, Option<u16>) {
    if let Some((addr, port)) = field
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("]:"))
    {
        if let Ok(p) = port.parse() {
            return (addr, Some(p));
        }
    }
    match field.rsplit_once(':') {
        Some((addr, port))
            if !addr.is_empty()
                && !addr.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            match port.parse() {
                Ok(p) => (addr, Some(p)),
                Err(_) => (field, None),
            }
        }
        _ => (field, None),
    }
}

/// Escape `text` the way the audit log writes a quoted object (`\` and `'` escaped), quotes included.
pub fn quote(text: &str, out: &mut String) {
    out.push('\'');
    for c in text.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
}

fn parse_timestamp(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
        let n: i64 = ts.parse().ok()?;
        // Aurora: microseconds (16 digits today); accept milliseconds and seconds too, by magnitude.
        return Some(match b.len() {
            0..=11 => n.checked_mul(1_000_000)?,
            12..=14 => n.checked_mul(1000)?,
            _ => n,
        });
    }
    // RDS / MariaDB: `YYYYMMDD HH:MM:SS`.
    if b.len() == 17 && b[8] == b' ' && b[11] == b':' && b[14] == b':' {
        let num = |r: Range<usize>| -> Option<u32> {
            let s = &ts[r];
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        let secs = epoch_seconds(
            i64::from(num(0..4)?),
            num(4..6)?,
            num(6..8)?,
            num(9..11)?,
            num(12..14)?,
            num(15..17)?,
        )?;
        return Some(secs * 1_000_000);
    }
    None
}

struct Reader<'a> {
    line: &'a str,
    /// Start of the next field; `line.len() + 1` once the last field was read.
    pos: usize,
}

type Field<'a> = (Cow<'a, str>, Range<usize>, bool);

impl<'a> Reader<'a> {
    fn plain(&mut self, name: &str) -> Result<&'a str, AuditError> {
        match self.next_field()? {
            Some((Cow::Borrowed(s), _, false)) => Ok(s),
            Some(_) => Err(AuditError::new(format!("the {name} field is quoted"))),
            None => Err(AuditError::new(format!(
                "the line ends before the {name} field (expected at least 10 comma-separated fields)"
            ))),
        }
    }

    fn field(&mut self, name: &str) -> Result<Field<'a>, AuditError> {
        self.next_field()?.ok_or_else(|| {
            AuditError::new(format!(
                "the line ends before the {name} field (expected at least 10 comma-separated fields)"
            ))
        })
    }

    fn next_field(&mut self) -> Result<Option<Field<'a>>, AuditError> {
        let line = self.line;
        if self.pos > line.len() {
            return Ok(None);
        }
        let start = self.pos;
        let bytes = line.as_bytes();
        if bytes.get(start) == Some(&b'\'') {
            let (text, end) = unquote(line, start)?;
            match bytes.get(end) {
                None => self.pos = line.len() + 1,
                Some(b',') => self.pos = end + 1,
                Some(_) => {
                    return Err(AuditError::new(format!(
                        "unexpected text after the quoted field that starts at byte {start}"
                    )))
                }
            }
            return Ok(Some((text, start..end, true)));
        }
        let end = memchr_comma(&bytes[start..]).map_or(line.len(), |i| start + i);
        self.pos = end + 1;
        Ok(Some((Cow::Borrowed(&line[start..end]), start..end, false)))
    }
}

fn memchr_comma(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b',')
}

/// Read the single-quoted field starting at `start` (the opening quote); return its unescaped text and the
/// index just past the closing quote. A quote closes the field only when a comma or the end of the line
/// follows; an unescaped quote elsewhere is kept as text (older plugins did not escape every quote).
fn unquote(line: &str, start: usize) -> Result<(Cow<'_, str>, usize), AuditError> {
    let bytes = line.as_bytes();
    let body = start + 1;
    let mut i = body;
    let mut owned: Option<String> = None;
    let mut copied = body;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => {
                let rep = match bytes[i + 1] {
                    b'\\' => "\\",
                    b'\'' => "'",
                    b'n' => "\n",
                    b'r' => "\r",
                    b't' => "\t",
                    _ => {
                        i += 1;
                        continue;
                    }
                };
                let s = owned.get_or_insert_with(String::new);
                s.push_str(&line[copied..i]);
                s.push_str(rep);
                i += 2;
                copied = i;
            }
            b'\'' if matches!(bytes.get(i + 1), None | Some(b',')) => {
                let text = match owned {
                    Some(mut s) => {
                        s.push_str(&line[copied..i]);
                        Cow::Owned(s)
                    }
                    None => Cow::Borrowed(&line[body..i]),
                };
                return Ok((text, i + 1));
            }
            _ => i += 1,
        }
    }
    Err(AuditError::new(format!(
        "the quoted field that starts at byte {start} is not closed"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn aurora_query_with_escapes_commas_and_newlines() {
        let line = "1700000000123456,ip-10-0-1-23,app,10.0.1.50,42,1337,QUERY,shop,'SELECT a, b FROM t WHERE n=\\'O\\\\\\'Brien\\'\nAND x=1',0";
        let r = parse(line).unwrap();
        assert_eq!(r.micros, 1_700_000_000_123_456);
        assert_eq!(
            (r.server_host, r.user, r.host, r.connection_id, r.query_id),
            ("ip-10-0-1-23", "app", "10.0.1.50", "42", "1337")
        );
        assert_eq!(
            (r.operation, r.database, r.retcode),
            ("QUERY", "shop", Some(0))
        );
        assert_eq!(r.object, "SELECT a, b FROM t WHERE n='O\\'Brien'\nAND x=1");
        assert!(r.object_quoted && r.object_is_statement());
        assert_eq!(&line[r.object_span.clone()][..8], "'SELECT ");
        assert!(r.extra.is_empty());
        assert_eq!(r.outcome(), "success");
    }

    #[test]
    fn every_operation_and_empty_fields() {
        for op in [
            "CONNECT",
            "DISCONNECT",
            "FAILED_CONNECT",
            "CHANGEUSER",
            "QUERY",
            "READ",
            "WRITE",
            "CREATE",
            "ALTER",
            "RENAME",
            "DROP",
            "TABLE",
            "QUERY_DDL",
            "SOMETHING_NEW",
        ] {
            let line = format!("1700000000000000,h,u,10.0.0.1,7,0,{op},,,0");
            let r = parse(&line).unwrap();
            assert_eq!(r.operation, op);
            assert_eq!((r.database, r.object.as_ref()), ("", ""));
            assert_eq!(
                r.outcome(),
                if op == "FAILED_CONNECT" {
                    "failure"
                } else {
                    "success"
                }
            );
        }
        let r = parse("1700000000000000,h,u,10.0.0.1,7,9,READ,shop,orders,0").unwrap();
        assert_eq!(r.object, "orders");
        assert!(!r.object_is_statement());
    }

    #[test]
    fn failed_login_and_rds_timestamp_and_trailing_fields() {
        let r =
            parse("20231121 10:00:01,ip-10-0-1-23,mallory,203.0.113.9,51,0,FAILED_CONNECT,,,1045")
                .unwrap();
        assert_eq!(r.micros, 1_700_560_801_000_000);
        assert_eq!((r.retcode, r.outcome()), (Some(1045), "failure"));
        let r =
            parse("1700000000000000,h,u,h2,1,2,QUERY,db,'SELECT 1',0,'ssl',extra,\r\n").unwrap();
        assert_eq!(r.extra, vec!["ssl", "extra", ""]);
        let r = parse("1700000000000000,h,u,h2,1,2,QUERY,db,'SELECT 1',1064").unwrap();
        assert_eq!(r.outcome(), "failure");
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            ("", "timestamp"),
            ("hello world", "timestamp"),
            ("1700000000000000,h,u", "host"),
            (
                "1700000000000000,h,u,h,1,2,QUERY,db,'SELECT 1",
                "not closed",
            ),
            (
                "1700000000000000,h,u,h,1,2,QUERY,db,'x'",
                "retcode is missing",
            ),
            ("20231301 10:00:00,h,u,h,1,2,QUERY,db,'x',0", "timestamp"),
        ];
        for (line, want) in cases {
            let e = parse(line).unwrap_err();
            assert!(e.to_string().contains(want), "{line:?}: {e}");
        }
    }

    #[test]
    fn table_events_with_an_empty_retcode_and_host_ports() {
        // MariaDB server_audit / Aurora MySQL TABLE events end with an empty retcode.
        for op in ["READ", "WRITE", "CREATE", "ALTER", "DROP", "RENAME"] {
            let line = format!("20230222 02:35:55,host1,scott,localhost,32,66,{op},scott,EMP,");
            let r = parse(&line).unwrap();
            assert_eq!(
                (r.user, r.database, r.object.as_ref()),
                ("scott", "scott", "EMP")
            );
            assert_eq!((r.retcode, r.outcome(), r.port), (None, "unknown", None));
            assert!(r.problems.is_empty(), "{:?}", r.problems);
        }
        // MariaDB 12: `host:port`; IPv6 with brackets; a bare IPv6 address has no port.
        for (host, want) in [
            ("10.0.1.50:51234", ("10.0.1.50", Some(51234))),
            ("app-1.internal:3306", ("app-1.internal", Some(3306))),
            ("[2001:db8::5]:40000", ("2001:db8::5", Some(40000))),
            ("2001:db8::5", ("2001:db8::5", None)),
            ("::1", ("::1", None)),
            ("localhost", ("localhost", None)),
            ("h:99999", ("h:99999", None)),
        ] {
            let line = format!("20250101 00:00:00,srv,u,{host},1,2,CONNECT,,,0");
            let r = parse(&line).unwrap();
            assert_eq!((r.host, r.port), want, "{host}");
        }
    }

    #[test]
    fn one_bad_field_keeps_the_others() {
        let r = parse("1700000000000000,h,alice,10.0.0.1,1,2,QUERY,shop,'SELECT 1',abc").unwrap();
        assert_eq!(
            (r.user, r.database, r.object.as_ref()),
            ("alice", "shop", "SELECT 1")
        );
        assert_eq!((r.retcode, r.outcome()), (None, "unknown"));
        assert_eq!(r.problems, ["retcode \"abc\" is not a number"]);
        let r = parse("1700000000000000,h,u,h,1,2,,db,'x',0").unwrap();
        assert_eq!(r.problems, ["the operation field is empty"]);
        assert_eq!((r.database, r.retcode), ("db", Some(0)));
        let r = parse("1700000000000000,h,u,h,1,2,QUERY,db,'x','0'").unwrap();
        assert_eq!(r.problems, ["retcode \"0\" is quoted"]);
    }

    proptest! {
        /// Any SQL text, escaped as the audit log writes it, parses back unchanged.
        #[test]
        fn object_survives_escape_and_parse(sql in any::<String>(), extra in proptest::option::of("[a-z0-9]{0,8}")) {
            let mut line = String::from("1700000000123456,host,user,10.0.0.1,1,2,QUERY,db,");
            let start = line.len();
            quote(&sql, &mut line);
            let end = line.len();
            line.push_str(",0");
            if let Some(x) = &extra { line.push(','); line.push_str(x); }
            let r = parse(&line).unwrap();
            prop_assert_eq!(r.object.as_ref(), sql.as_str());
            prop_assert_eq!(r.object_span, start..end);
            prop_assert_eq!(r.retcode, Some(0));
            prop_assert!(r.problems.is_empty());
            prop_assert_eq!(r.extra.len(), usize::from(extra.is_some()));
        }

        #[test]
        fn never_panics(line in any::<String>()) {
            let _ = parse(&line);
        }

        /// Any host field and retcode: the other fields are kept, a port only comes from a host that ends
        /// in `:digits`, and a retcode reads back or is named as a problem.
        #[test]
        fn fields_survive_a_bad_neighbour(host in "[a-z0-9.:\\[\\]]{0,20}", retcode in "[-0-9a-z ]{0,6}") {
            let line = format!("1700000000000000,srv,alice,{host},7,8,WRITE,shop,orders,{retcode}");
            let r = parse(&line).unwrap();
            prop_assert_eq!((r.user, r.database, r.object.as_ref()), ("alice", "shop", "orders"));
            match r.port {
                Some(p) => prop_assert_eq!(host.rsplit_once(':').and_then(|(_, q)| q.parse::<u16>().ok()), Some(p)),
                None => prop_assert_eq!(r.host, host.as_str()),
            }
            let t = retcode.trim();
            match t.parse::<i64>() {
                Ok(n) => prop_assert_eq!(r.retcode, Some(n)),
                Err(_) => {
                    prop_assert_eq!(r.retcode, None);
                    prop_assert_eq!(r.problems.len(), usize::from(!t.is_empty()));
                }
            }
        }
    }
}
