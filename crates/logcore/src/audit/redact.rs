//! Redaction of secrets in SQL and log text, and optional masking of string literals.
//!
//! Built-in rules (case-insensitive) replace the secret of
//! `IDENTIFIED [WITH plugin] BY|AS [PASSWORD] '…'`, `PASSWORD('…')`, `SET PASSWORD [FOR …] = '…'`,
//! `[ENCRYPTED] PASSWORD '…'` (CREATE/ALTER USER|ROLE, user mappings), `REPLACE '…'` (ALTER USER),
//! `…PASSWORD = …` (replication sources, connection strings such as `password=…` in dblink/conninfo) and the
//! password of `scheme://user:password@host` URLs by [`MARKER`]. A literal that is never closed is redacted to
//! the end of the text: over-redacting is safe, leaking is not.

use std::borrow::Cow;

use regex::Regex;

/// What a secret is replaced by (inside the quotes when it was quoted).
pub const MARKER: &str = "[REDACTED]";

/// A SQL string literal, single- or double-quoted, with backslash escapes or doubled quotes, possibly
/// escaped itself (`\'…\'` in unparsed MySQL audit text), or unterminated.
const LIT: &str = r#"(?:\\?'(?:[^'\\]|\\.|'')*(?:'|$)|\\?"(?:[^"\\]|\\.|"")*(?:"|$))"#;

/// Redaction rules and options.
#[derive(Debug, Clone)]
pub struct Redactor {
    prefilter: Regex,
    rules: Vec<Regex>,
    extra: Vec<Regex>,
    /// Whether built-in rules run (on by default).
    pub builtin: bool,
    /// Replace every string literal of statements by `'?'`.
    pub mask_literals: bool,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(true, Vec::new(), false)
    }
}

impl Redactor {
    /// `extra` rules replace their first capture group, or the whole match when they have none.
    pub fn new(builtin: bool, extra: Vec<Regex>, mask_literals: bool) -> Redactor {
        let rules = [
            format!(r"(?is)\bIDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+(?:PASSWORD\s+)?(?P<s>{LIT})"),
            format!(r"(?is)\bPASSWORD\s*\(\s*(?P<s>{LIT})"),
            format!(r"(?is)\bSET\s+PASSWORD\b(?:\s+FOR\s+(?:{LIT}|[^=\s])+(?:@(?:{LIT}|[^=\s]+))?)?\s*=\s*(?P<s>{LIT})"),
            format!(r"(?is)\b(?:ENCRYPTED\s+|UNENCRYPTED\s+)?PASSWORD\s+(?P<s>{LIT})"),
            format!(r"(?is)\bREPLACE\s+(?P<s>{LIT})"),
            format!(r#"(?is)\b\w*PASSW(?:OR)?D\s*=\s*(?P<s>{LIT}|[^\s'",;)]+)"#),
            r#"(?i)\b[a-z][a-z0-9+.\-]*://[^:/@\s'"]*:(?P<s>[^@\s'"/]+)@"#.to_string(),
        ]
        .iter()
        .map(|r| Regex::new(r).expect("built-in redaction rule compiles"))
        .collect();
        Redactor {
            prefilter: Regex::new(r"(?i)passw|identified|replace|://").expect("prefilter compiles"),
            rules,
            extra,
            builtin,
            mask_literals,
        }
    }

    /// Redact secrets in `text`. Returns the text and whether anything was replaced.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        if self.builtin && self.prefilter.is_match(text) {
            for rule in &self.rules {
                if let Cow::Owned(s) = replace_group(rule, &out, true) {
                    out = Cow::Owned(s);
                }
            }
        }
        for rule in &self.extra {
            if let Cow::Owned(s) = replace_group(rule, &out, false) {
                out = Cow::Owned(s);
            }
        }
        out
    }

    /// Whether any rule would change `text`.
    pub fn has_rules(&self) -> bool {
        self.builtin || !self.extra.is_empty()
    }
}

/// Replace the secret group (named `s`, else group 1, else the whole match) of every match of `re`.
fn replace_group<'a>(re: &Regex, text: &'a str, keep_quotes: bool) -> Cow<'a, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    for caps in re.captures_iter(text) {
        let Some(m) = caps
            .name("s")
            .or_else(|| caps.get(1))
            .or_else(|| caps.get(0))
        else {
            continue;
        };
        if m.as_str().is_empty() {
            continue;
        }
        let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
        o.push_str(&text[copied..m.start()]);
        let secret = m.as_str();
        let quote = secret
            .trim_start_matches('\\')
            .chars()
            .next()
            .filter(|c| keep_quotes && (*c == '\'' || *c == '"'));
        match quote {
            Some(q) => {
                let esc = if secret.starts_with('\\') { "\\" } else { "" };
                o.push_str(esc);
                o.push(q);
                o.push_str(MARKER);
                o.push_str(esc);
                o.push(q);
            }
            None => o.push_str(MARKER),
        }
        copied = m.end();
    }
    match out {
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(text),
    }
}

/// SQL dialect, for literal masking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `'…'` and `"…"` are strings; backslash escapes.
    Mysql,
    /// `'…'` (doubled quotes; `E'…'` with backslash escapes) and `$tag$…$tag$` are strings; `"…"` is an
    /// identifier.
    Postgres,
}

/// Replace every string literal of `sql` by `'?'`. Comments and identifiers are kept.
pub fn mask_literals(sql: &str, dialect: Dialect) -> Cow<'_, str> {
    let b = sql.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    let replace = |out: &mut Option<String>, copied: &mut usize, start: usize, end: usize| {
        let o = out.get_or_insert_with(|| String::with_capacity(sql.len()));
        o.push_str(&sql[*copied..start]);
        o.push_str("'?'");
        *copied = end;
    };
    while i < b.len() {
        match b[i] {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |j| i + j);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |j| i + 2 + j + 2);
            }
            b'\'' | b'"' if b[i] == b'\'' || dialect == Dialect::Mysql => {
                let e_string = dialect == Dialect::Postgres
                    && i > 0
                    && matches!(b[i - 1], b'E' | b'e')
                    && (i < 2 || !is_ident(b[i - 2]));
                let end = literal_end(b, i, dialect == Dialect::Mysql || e_string);
                replace(&mut out, &mut copied, if e_string { i - 1 } else { i }, end);
                i = end;
            }
            b'"' => {
                // A PostgreSQL identifier.
                i = literal_end(b, i, false);
            }
            b'$' if dialect == Dialect::Postgres && (i == 0 || !is_ident(b[i - 1])) => {
                // `$$` or `$tag$`, the tag an identifier that does not start with a digit (`$1` is a
                // parameter).
                let mut t = i + 1;
                if b.get(t)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
                {
                    t = span_ident(b, t);
                }
                match b.get(t) {
                    Some(b'$') => {
                        let tag = &sql[i..=t];
                        let end = sql[t + 1..]
                            .find(tag)
                            .map_or(b.len(), |j| t + 1 + j + tag.len());
                        replace(&mut out, &mut copied, i, end);
                        i = end;
                    }
                    _ => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    match out {
        Some(mut o) => {
            o.push_str(&sql[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(sql),
    }
}

fn span_ident(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ident(b[i]) {
        i += 1;
    }
    i
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Index just past the literal that opens at `start`, or the end of the text when it is not closed.
fn literal_end(b: &[u8], start: usize, backslash: bool) -> usize {
    let q = b[start];
    let mut i = start + 1;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(s: &str) -> String {
        Redactor::default().redact(s).into_owned()
    }

    #[test]
    fn mysql_and_postgres_secrets() {
        let cases = [
            ("CREATE USER 'bob'@'%' IDENTIFIED BY 'hunter2'", "CREATE USER 'bob'@'%' IDENTIFIED BY '[REDACTED]'"),
            ("ALTER USER bob IDENTIFIED WITH caching_sha2_password BY 's3,cr''et' REQUIRE SSL", "ALTER USER bob IDENTIFIED WITH caching_sha2_password BY '[REDACTED]' REQUIRE SSL"),
            ("ALTER USER bob IDENTIFIED BY 'it\\'s, a secret' REPLACE 'old\\\\pw' RETAIN CURRENT PASSWORD", "ALTER USER bob IDENTIFIED BY '[REDACTED]' REPLACE '[REDACTED]' RETAIN CURRENT PASSWORD"),
            ("GRANT ALL ON *.* TO 'x'@'%' IDENTIFIED BY PASSWORD '*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9'", "GRANT ALL ON *.* TO 'x'@'%' IDENTIFIED BY PASSWORD '[REDACTED]'"),
            ("SET PASSWORD FOR 'bob'@'localhost' = PASSWORD('p,w')", "SET PASSWORD FOR 'bob'@'localhost' = PASSWORD('[REDACTED]')"),
            ("SET PASSWORD = 'plain'", "SET PASSWORD = '[REDACTED]'"),
            ("set password for bob@'%' = \"dq\"", "set password for bob@'%' = \"[REDACTED]\""),
            ("CREATE ROLE app WITH LOGIN PASSWORD 'pa''ss' VALID UNTIL '2030-01-01'", "CREATE ROLE app WITH LOGIN PASSWORD '[REDACTED]' VALID UNTIL '2030-01-01'"),
            ("ALTER USER app ENCRYPTED PASSWORD 'md5abc'", "ALTER USER app ENCRYPTED PASSWORD '[REDACTED]'"),
            ("CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'r', password 'pw')", "CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'r', password '[REDACTED]')"),
            ("SELECT dblink_connect('host=db dbname=x user=u password=s3cret sslmode=require')", "SELECT dblink_connect('host=db dbname=x user=u password=[REDACTED] sslmode=require')"),
            ("CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD='pw', SOURCE_USER='r'", "CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD='[REDACTED]', SOURCE_USER='r'"),
            ("conn postgres://app:p%40ss@db.internal:5432/shop ok", "conn postgres://app:[REDACTED]@db.internal:5432/shop ok"),
            ("ALTER USER bob PASSWORD 'never closed, with, commas", "ALTER USER bob PASSWORD '[REDACTED]'"),
        ];
        for (input, want) in cases {
            assert_eq!(r(input), want, "{input}");
        }
        for keep in [
            "SELECT * FROM users WHERE password_hash IS NULL",
            "ALTER USER bob PASSWORD NULL",
            "SELECT 1",
            "ALTER USER bob IDENTIFIED BY RANDOM PASSWORD",
        ] {
            assert_eq!(r(keep), keep);
        }
    }

    #[test]
    fn escaped_literal_in_raw_audit_text() {
        assert_eq!(
            r("1,h,u,h,1,2,QUERY,db,'CREATE USER x IDENTIFIED BY \\'p\\\\\\'w\\'',0"),
            "1,h,u,h,1,2,QUERY,db,'CREATE USER x IDENTIFIED BY \\'[REDACTED]\\',0"
        );
    }

    #[test]
    fn extra_rules() {
        let red = Redactor::new(
            false,
            vec![
                Regex::new(r"ssn=(\d+)").unwrap(),
                Regex::new(r"\b\d{16}\b").unwrap(),
            ],
            false,
        );
        assert_eq!(
            red.redact("ssn=123 card 4111111111111111 IDENTIFIED BY 'x'"),
            "ssn=[REDACTED] card [REDACTED] IDENTIFIED BY 'x'"
        );
    }

    #[test]
    fn masking() {
        assert_eq!(
            mask_literals(
                "SELECT * FROM t WHERE name = 'O''Brien' AND note = \"x\\\"y\" -- 'c'\n",
                Dialect::Mysql
            ),
            "SELECT * FROM t WHERE name = '?' AND note = '?' -- 'c'\n"
        );
        assert_eq!(
            mask_literals(
                "SELECT \"Col\" FROM t WHERE a = E'it\\'s' AND b = $q1$x$y$q1$ AND d = $$z$$ AND c = $1 /* 'k' */",
                Dialect::Postgres
            ),
            "SELECT \"Col\" FROM t WHERE a = '?' AND b = '?' AND d = '?' AND c = $1 /* 'k' */"
        );
        assert_eq!(mask_literals("SELECT 1", Dialect::Postgres), "SELECT 1");
    }

    proptest! {
        /// Whatever a password holds, it does not survive redaction.
        #[test]
        fn secret_never_survives(pw in "[ -~]{1,24}") {
            prop_assume!(pw.chars().filter(|c| c.is_ascii_alphanumeric()).count() >= 4);
            prop_assume!(!"CREATE USER 'u'@'%' IDENTIFIED BY '' ALTER ROLE u PASSWORD '' [REDACTED]".contains(&pw));
            let mysql = format!("CREATE USER 'u'@'%' IDENTIFIED BY '{}'", pw.replace('\\', "\\\\").replace('\'', "\\'"));
            let pg = format!("ALTER ROLE u PASSWORD '{}'", pw.replace('\'', "''"));
            for sql in [mysql, pg] {
                let out = r(&sql);
                prop_assert!(!out.contains(&pw), "{} -> {}", sql, out);
                prop_assert!(out.contains(MARKER));
            }
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = r(&s);
            let _ = mask_literals(&s, Dialect::Mysql);
            let _ = mask_literals(&s, Dialect::Postgres);
        }
    }
}
