//! Index names: the `INDEX` pattern, its rendering per document (sanitized, shortened on a character
//! boundary, never losing the date), the rules the engines enforce, and the groups with indices of their own.

use std::ops::Range;

use sha2::Digest;

/// An index name pattern: `{log.group}`, `{log.stream}` and `%Y`, `%m`, `%d`, `%H` (UTC, from the
/// document's `@timestamp`) between literal text. A pattern without a date is a fixed index or a data
/// stream (both accept `create`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Group,
    Stream,
    Year,
    Month,
    Day,
    Hour,
}

/// Application documents: one daily index for every log group (`log.group` is a keyword in it), so the
/// shard count grows with days kept, not with the number of groups.
impl Default for IndexTemplate {
    fn default() -> Self {
        "logs-app-%Y.%m.%d"
            .parse()
            .expect("the default index template is valid")
    }
}

impl IndexTemplate {
    /// Audit documents: one daily index.
    pub fn audit() -> Self {
        "logs-audit-%Y.%m.%d"
            .parse()
            .expect("the audit index template is valid")
    }

    /// One daily index per log group (logpipe's layout before 0.2: groups × days indices).
    pub fn per_group() -> Self {
        "logs-{log.group}-%Y.%m.%d"
            .parse()
            .expect("the per-group index template is valid")
    }
}

impl std::str::FromStr for IndexTemplate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let (part, len) = if rest.starts_with("{log.group}") {
                (Some(Part::Group), "{log.group}".len())
            } else if rest.starts_with("{log.stream}") {
                (Some(Part::Stream), "{log.stream}".len())
            } else if let Some(spec) = rest.strip_prefix('%') {
                match spec.chars().next() {
                    Some('Y') => (Some(Part::Year), 2),
                    Some('m') => (Some(Part::Month), 2),
                    Some('d') => (Some(Part::Day), 2),
                    Some('H') => (Some(Part::Hour), 2),
                    other => {
                        return Err(format!(
                            "index template {s:?}: unknown %{} (use %Y, %m, %d or %H)",
                            other.map(String::from).unwrap_or_default()
                        ))
                    }
                }
            } else if c == '{' {
                return Err(format!(
                    "index template {s:?}: unknown placeholder (use {{log.group}} or {{log.stream}})"
                ));
            } else {
                if !is_lower(c) || FORBIDDEN_IN_INDEX.contains(c) {
                    return Err(format!(
                        "index template {s:?}: {c:?} is not allowed in an index name"
                    ));
                }
                lit.push(c);
                (None, c.len_utf8())
            };
            if let Some(p) = part {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(p);
            }
            rest = &rest[len..];
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        match parts.first() {
            None => return Err("index template is empty".into()),
            Some(Part::Lit(l)) if l.starts_with(['-', '_', '+', '.']) => {
                return Err(format!(
                    "index template {s:?} must not start with '-', '_', '+' or '.'"
                ))
            }
            _ => {}
        }
        // Every placeholder must have room to keep its hash within the 255 bytes.
        let fixed: usize = parts
            .iter()
            .map(|p| match p {
                Part::Lit(l) => l.len(),
                Part::Group | Part::Stream => MIN_PLACEHOLDER_BYTES,
                Part::Year => 4,
                _ => 2,
            })
            .sum();
        if fixed > MAX_INDEX_BYTES {
            return Err(format!(
                "index template {s:?} is too long: its names would pass 255 bytes"
            ));
        }
        Ok(IndexTemplate { parts })
    }
}

/// The template as written (`logs-{log.group}-%Y.%m.%d`).
impl std::fmt::Display for IndexTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.parts {
            f.write_str(match p {
                Part::Lit(l) => l,
                Part::Group => "{log.group}",
                Part::Stream => "{log.stream}",
                Part::Year => "%Y",
                Part::Month => "%m",
                Part::Day => "%d",
                Part::Hour => "%H",
            })?;
        }
        Ok(())
    }
}

/// Restore labels (`logpipe reindex --restore-index LABEL`): what an SQS message may say of where its
/// objects are indexed. At most this many bytes of `a-z`, `0-9` and `-`, not starting with `-`.
pub const MAX_RESTORE_LABEL: usize = 32;

/// The index prefix of restore label `label` under the forwarder's `prefix`: `restore-` and `march` make
/// `restore-march-`, so `logs-app-2026.03.01` is restored as `restore-march-logs-app-2026.03.01`.
pub fn restore_prefix(prefix: &str, label: &str) -> Result<String, String> {
    let ok = !label.is_empty()
        && label.len() <= MAX_RESTORE_LABEL
        && !label.starts_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return Err(format!(
            "restore label {label:?}: 1 to {MAX_RESTORE_LABEL} of a-z, 0-9 and '-', not starting with '-'"
        ));
    }
    Ok(format!("{prefix}{label}-"))
}

impl IndexTemplate {
    /// The same names with `prefix` before them (the indices of a restore label); the error says when the
    /// prefix holds what no index name may, or leaves no room within 255 bytes.
    pub fn prefixed(&self, prefix: &str) -> Result<IndexTemplate, String> {
        format!("{prefix}{self}").parse()
    }
}

impl IndexTemplate {
    /// Whether the name has a date part (a new index every day or hour), so that retention can delete old
    /// indices; without one it is a single index forever.
    pub fn has_date(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Year | Part::Month | Part::Day | Part::Hour))
    }

    /// The index pattern matching every index the template renders: each placeholder becomes `*`
    /// (`logs-{log.group}-%Y.%m.%d` → `logs-*-*.*.*`).
    pub fn wildcard(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                _ if out.ends_with('*') => {}
                _ => out.push('*'),
            }
        }
        out
    }

    /// The index for a document. `date` is `YYYY-MM-DDTHH…` (UTC); `group`/`stream` are sanitized.
    ///
    /// The name always satisfies the engines' rules ([`check_index_name`]): lower case, no forbidden
    /// character, no forbidden start, at most 255 bytes. When group and stream make it longer, the longest
    /// of them is cut (on a character boundary) and ends in a hash of its full text, so that the date and the
    /// literals stay whole and two long groups never share an index.
    pub fn render(&self, group: Option<&str>, stream: Option<&str>, date: &str, out: &mut String) {
        out.clear();
        let date = date_prefix(date).unwrap_or("1970-01-01T00");
        // The placeholders' texts, sanitized, and what they were made from.
        let mut vars: Vec<(String, &str)> = Vec::new();
        let mut fixed = 0;
        for (i, p) in self.parts.iter().enumerate() {
            let raw = match p {
                Part::Group => group.unwrap_or("unknown"),
                Part::Stream => stream.unwrap_or("unknown"),
                Part::Lit(l) => {
                    fixed += l.len();
                    continue;
                }
                _ => {
                    fixed += if matches!(p, Part::Year) { 4 } else { 2 };
                    continue;
                }
            };
            let mut text = String::new();
            push_sanitized(&mut text, raw, i == 0);
            vars.push((text, raw));
        }
        let mut total = fixed + vars.iter().map(|v| v.0.len()).sum::<usize>();
        while total > MAX_INDEX_BYTES {
            let Some(longest) = vars.iter_mut().max_by_key(|v| v.0.len()) else {
                break;
            };
            let keep = longest.0.len().saturating_sub(total - MAX_INDEX_BYTES);
            shorten(&mut longest.0, longest.1, keep.max(MIN_PLACEHOLDER_BYTES));
            total = fixed + vars.iter().map(|v| v.0.len()).sum::<usize>();
        }
        let mut vars = vars.into_iter();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Group | Part::Stream => out.push_str(&vars.next().unwrap_or_default().0),
                Part::Year => out.push_str(&date[..4]),
                Part::Month => out.push_str(&date[5..7]),
                Part::Day => out.push_str(&date[8..10]),
                Part::Hour => out.push_str(&date[11..13]),
            }
        }
    }
}

/// Index names are at most 255 bytes (Elasticsearch and OpenSearch alike).
pub const MAX_INDEX_BYTES: usize = 255;
/// A shortened placeholder keeps at least this much: some of its text, `-` and an 8-digit hash.
const MIN_PLACEHOLDER_BYTES: usize = 16;
/// Characters no index name may hold (the create-index API's list, with `:`, refused since 7.0).
const FORBIDDEN_IN_INDEX: &str = "\\/*?\"<>| ,#:";

/// Whether `name` is an index name Elasticsearch and OpenSearch accept: lower case only; none of
/// `\ / * ? " < > |`, space, `,`, `#`, `:`; not starting with `-`, `_` or `+`; not `.` or `..`; 1 to 255
/// bytes. The error says which rule it breaks.
pub fn check_index_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_INDEX_BYTES {
        return Err(format!(
            "index name {name:?} must be 1 to 255 bytes long ({} bytes)",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("index name {name:?} is not allowed"));
    }
    if name.starts_with(['-', '_', '+']) {
        return Err(format!(
            "index name {name:?} must not start with '-', '_' or '+'"
        ));
    }
    if let Some(c) = name.chars().find(|c| FORBIDDEN_IN_INDEX.contains(*c)) {
        return Err(format!("index name {name:?} must not contain {c:?}"));
    }
    if name.chars().any(|c| !is_lower(c)) {
        return Err(format!("index name {name:?} must be lower case"));
    }
    Ok(())
}

/// `c` is its own lower case (what the engines check, with Java's `toLowerCase(Locale.ROOT)`).
fn is_lower(c: char) -> bool {
    let mut l = c.to_lowercase();
    l.next() == Some(c) && l.next().is_none()
}

/// Cut a sanitized placeholder to at most `max` bytes: the start of its text, `-` and 8 hex digits of a
/// hash of `raw`, the text it was made from.
fn shorten(text: &mut String, raw: &str, max: usize) {
    let digest = sha2::Sha256::digest(raw.as_bytes());
    let hash = crate::base::codec::hex(&digest[..4]);
    let mut cut = max.saturating_sub(hash.len() + 1).min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    while text.ends_with('-') {
        text.pop();
    }
    if !text.is_empty() {
        text.push('-');
    }
    text.push_str(&hash);
}

/// Log groups that get daily indices of their own (`logs-group-{log.group}-%Y.%m.%d`), each with its own
/// retention: `SEPARATE_GROUPS`, comma-separated globs, each with `=DAYS` or the family's retention.
#[derive(Debug, Clone, PartialEq)]
pub struct SeparateGroups {
    rules: Vec<(crate::logs::glob::GroupGlob, String, Option<u32>)>,
    /// [`SEPARATE_INDEX`], or the same under a restore prefix ([`SeparateGroups::prefixed`]).
    template: IndexTemplate,
}

impl Default for SeparateGroups {
    fn default() -> Self {
        SeparateGroups {
            rules: Vec::new(),
            template: SEPARATE_INDEX
                .parse()
                .expect("the separate index template is valid"),
        }
    }
}

/// The index template of separated groups.
pub const SEPARATE_INDEX: &str = "logs-group-{log.group}-%Y.%m.%d";

impl SeparateGroups {
    /// `"/ecs/payments=365,/aws/rds/cluster/*/audit=2555,/ecs/noisy"`.
    pub fn parse(spec: &str) -> Result<SeparateGroups, String> {
        let mut rules = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (glob, days) = match entry.rsplit_once('=') {
                Some((g, d)) => {
                    let days = d
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|d| (1..=36_500).contains(d))
                        .ok_or_else(|| {
                            format!("{entry:?}: the days after '=' must be 1 to 36500")
                        })?;
                    (g.trim(), Some(days))
                }
                None => (entry, None),
            };
            if glob.is_empty() {
                return Err(format!("{entry:?}: no log group before '='"));
            }
            rules.push((
                crate::logs::glob::GroupGlob::new(glob),
                glob.to_string(),
                days,
            ));
        }
        Ok(SeparateGroups {
            rules,
            ..SeparateGroups::default()
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The template of `group`'s documents when it is separated.
    pub fn template_for(&self, group: &str) -> Option<&IndexTemplate> {
        self.rules
            .iter()
            .any(|(g, _, _)| g.matches(group))
            .then_some(&self.template)
    }

    /// The same groups, their indices named under `prefix` (see [`IndexTemplate::prefixed`]).
    pub fn prefixed(&self, prefix: &str) -> Result<SeparateGroups, String> {
        Ok(SeparateGroups {
            rules: self.rules.clone(),
            template: self.template.prefixed(prefix)?,
        })
    }

    /// Index patterns by retention (`None`: the family's): each glob's literal pieces sanitized as index
    /// names render them, `*` between (`/aws/rds/cluster/*/audit` → `logs-group-aws-rds-cluster*audit-*`).
    pub fn patterns(&self) -> Vec<(Option<u32>, Vec<String>)> {
        let mut out: Vec<(Option<u32>, Vec<String>)> = Vec::new();
        for (_, glob, days) in &self.rules {
            let pieces: Vec<String> = glob
                .split('*')
                .map(|p| {
                    let mut s = String::new();
                    push_sanitized(&mut s, p, false);
                    if s == "unknown" && !p.contains("unknown") {
                        s.clear();
                    }
                    s
                })
                .collect();
            let pattern = format!("logs-group-{}-*", pieces.join("*"))
                .replace("-*-*", "-*")
                .replace("**", "*");
            match out.iter_mut().find(|(d, _)| d == days) {
                Some((_, ps)) => ps.push(pattern),
                None => out.push((*days, vec![pattern])),
            }
        }
        out
    }
}

/// A log group or stream as part of an index name: lower case (in full Unicode), forbidden characters,
/// white space and ASCII punctuation but `_` and `.` as `-`, no repeated `-`, none at either end; at the
/// start of the name (`first`) no leading `_` or `.` either. An empty result is `unknown`.
fn push_sanitized(out: &mut String, s: &str, first: bool) {
    let start = out.len();
    let mut last_dash = out.ends_with('-');
    for c in s.chars() {
        let keep = c.is_ascii_alphanumeric()
            || c == '_'
            || c == '.'
            || (!c.is_ascii() && !c.is_whitespace() && !c.is_control());
        if !keep {
            if !last_dash && out.len() > start {
                out.push('-');
                last_dash = true;
            }
            continue;
        }
        if first && out.len() == start && (c == '_' || c == '.') {
            continue;
        }
        last_dash = false;
        out.extend(c.to_lowercase());
    }
    while out.len() > start && out.ends_with('-') {
        out.pop();
    }
    if out.len() == start {
        out.push_str("unknown");
    }
}

/// `YYYY-MM-DDTHH` when `ts` starts with a plausible RFC 3339 date and hour.
pub(super) fn date_prefix(ts: &str) -> Option<&str> {
    let b = ts.as_bytes();
    let digits = |r: Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    (b.len() >= 13
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b' ')
        && digits(11..13))
    .then(|| &ts[..13])
}
