//! One pass over a message for what every document needs of it: its level ([`crate::logs::level`]) and,
//! for a JSON object, whether its text can go under `json` as it is ([`crate::logs::document`]).
//!
//! Reading a JSON message's level and checking it for the `json` namespace are two full parses with
//! `serde_json`. [`read`] does both in one scan that validates the object as `serde_json` would, counts its
//! keys, depth and duplicate keys, and keeps the text of its top-level level fields. The scan covers the
//! messages loggers write; on anything it does not (a `\u` escape, an escaped key, a number with an exponent
//! or of more than [`MAX_NUMBER`] characters, nesting deeper than [`MAX_DEPTH`], whitespace around the object,
//! invalid JSON) the two parses decide, so the result is always theirs (the differential tests below hold it
//! to that on generated messages).

use crate::logs::document::{
    check, json_text, write_checked, write_json_namespace, Check, JsonLimits, JsonOutcome,
};
use crate::logs::level::{
    ecs_name, level_of, level_value, level_word, nested_level, MAX_JSON_LEVEL_LINE,
};

/// What [`read`] found in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// [`level_of`] the message.
    pub level: Option<&'static str>,
    /// Whether the message is a JSON object and how its text goes under `json` (`None` when no limits were
    /// given).
    pub(crate) json: Option<Check>,
}

impl Read {
    /// The level as ECS's `log.level` spells it ([`crate::logs::level::ecs_level`]).
    pub fn ecs_level(&self) -> Option<&'static str> {
        self.level.map(ecs_name)
    }

    /// [`write_json_namespace`] of `message` (the message read), from what the read found when it was
    /// given `limits`.
    pub fn write_json(&self, message: &str, limits: JsonLimits, out: &mut Vec<u8>) -> JsonOutcome {
        match (self.json, json_text(message)) {
            (Some(checked), Some(text)) => write_checked(text, checked, limits, out),
            (Some(_), None) => JsonOutcome::NotJson,
            (None, _) => write_json_namespace(message, limits, out),
        }
    }
}

/// Longest number the scan reads itself (`serde_json` refuses numbers out of the `f64` range; no number of
/// this many digits can be).
const MAX_NUMBER: usize = 300;
/// Deepest nesting the scan reads itself (`serde_json` refuses more than 127 levels).
const MAX_DEPTH: usize = 100;

/// The level of `message` and, with `limits`, its [`Check`] for the `json` namespace: what
/// [`level_of`] and [`check`] (of [`json_text`]) give, in one pass where the scan covers the message.
pub fn read(message: &str, limits: Option<JsonLimits>) -> Read {
    let b = message.as_bytes();
    match b.first() {
        // A text line that starts with something other than whitespace (as `str::trim_start` sees it, which
        // `level_of` uses: a vertical tab is whitespace there): its level word, and no JSON.
        Some(&c) if c != b'{' && c.is_ascii() && !char::from(c).is_whitespace() => {
            return Read {
                level: level_word(message),
                json: limits.map(|_| Check::Invalid),
            };
        }
        Some(b'{') if b.last() == Some(&b'}') => {
            let mut scan = Scan {
                b,
                i: 0,
                keys: 0,
                rewrite: false,
                newline: false,
                limits: limits.unwrap_or_default(),
                fields: [None; FIELDS.len()],
                duplicate_field: false,
            };
            if scan.object(1).is_some() && scan.i == b.len() {
                return Read {
                    level: scan.level(message),
                    json: limits.map(|_| {
                        if scan.rewrite || scan.newline {
                            Check::NeedsRewrite
                        } else {
                            Check::Embeddable
                        }
                    }),
                };
            }
        }
        _ => {}
    }
    reference(message, limits)
}

/// What the two parses [`read`] stands in for give: [`level_of`] and [`check`] of [`json_text`]. The
/// reference of the differential tests and the fuzz target, not for use on the hot path.
pub fn reference(message: &str, limits: Option<JsonLimits>) -> Read {
    Read {
        level: level_of(message),
        json: limits.map(|l| json_text(message).map_or(Check::Invalid, |t| check(t, l))),
    }
}

/// The top-level fields [`level_of`] reads, in its order of preference; `log` (a nested `level`) last.
const FIELDS: [&[u8]; 7] = [
    b"level",
    b"severity",
    b"levelname",
    b"log.level",
    b"lvl",
    b"loglevel",
    b"log",
];

/// Keys of one object kept on the stack before any spill to the heap.
const INLINE_KEYS: usize = 16;

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    keys: usize,
    /// Over a cap, or a duplicate key: the text must be rewritten.
    rewrite: bool,
    /// A line break between tokens.
    newline: bool,
    limits: JsonLimits,
    /// Where each of [`FIELDS`] has its value in the top-level object (its JSON text).
    fields: [Option<(usize, usize)>; FIELDS.len()],
    /// One of [`FIELDS`] twice in the top-level object (`level_of` then reads the level word).
    duplicate_field: bool,
}

impl Scan<'_> {
    fn level(&self, message: &str) -> Option<&'static str> {
        if message.len() > MAX_JSON_LEVEL_LINE || self.duplicate_field {
            return level_word(message);
        }
        let text = |(s, e): (usize, usize)| &message[s..e];
        let nonnull = |f: &Option<(usize, usize)>| f.map(text).filter(|v| *v != "null");
        if let Some(v) = self.fields[..6].iter().find_map(nonnull) {
            return level_value(v);
        }
        nonnull(&self.fields[6])
            .and_then(nested_level)
            .and_then(|v| level_value(v.get()))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' => {}
                b'\n' | b'\r' => self.newline = true,
                _ => return,
            }
            self.i += 1;
        }
    }

    /// Consume `c` (after whitespace).
    fn expect(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)?`; an exponent, a leading zero or an overlong number: not ours.
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |s: &mut Self| {
            let n = s.b[s.i..].iter().take_while(|c| c.is_ascii_digit()).count();
            s.i += n;
            n
        };
        let first = self.peek()?;
        let int = digits(self);
        if int == 0 || (first == b'0' && int > 1) {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) || self.i - start > MAX_NUMBER {
            return None;
        }
        Some(())
    }

    /// A string at `self.i` (its opening quote); its contents' range, and whether it has an escape.
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            // The first quote, backslash or control character.
            self.i = crate::logs::document::next_special(self.b, self.i)?;
            let c = self.b[self.i];
            self.i += 1;
            match c {
                b'"' => return Some((start, self.i - 1, escaped)),
                b'\\' => {
                    // A `\u` escape can be a lone surrogate, which serde_json refuses: not ours.
                    if !matches!(
                        self.peek()?,
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't'
                    ) {
                        return None;
                    }
                    self.i += 1;
                    escaped = true;
                }
                // A control character.
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        self.open(depth)?;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.value(depth + 1)?;
            if !self.more(b']')? {
                return Some(());
            }
        }
    }

    /// After whitespace, `,` (true: another member or element follows) or `close` (false).
    fn more(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = self.peek()?;
        if c != b',' && c != close {
            return None;
        }
        self.i += 1;
        Some(c == b',')
    }

    /// The opening bracket of an object or array at `depth` (the message object is 1).
    fn open(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        if depth > self.limits.max_depth {
            self.rewrite = true;
        }
        self.i += 1;
        Some(())
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        self.open(depth)?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        let mut inline = [(0usize, 0usize); INLINE_KEYS];
        let mut spilled: Vec<(usize, usize)> = Vec::new();
        let mut n = 0;
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let (ks, ke, escaped) = self.string()?;
            // An escaped key is compared decoded by serde_json: not ours.
            if escaped {
                return None;
            }
            let key = &self.b[ks..ke];
            self.keys += 1;
            if self.keys > self.limits.max_keys {
                self.rewrite = true;
            }
            let seen = inline[..n]
                .iter()
                .chain(&spilled)
                .any(|&(s, e)| &self.b[s..e] == key);
            if seen {
                self.rewrite = true;
            } else if n < INLINE_KEYS {
                inline[n] = (ks, ke);
                n += 1;
            } else {
                spilled.push((ks, ke));
            }
            self.expect(b':')?;
            let field = if depth == 1 {
                FIELDS.iter().position(|f| *f == key)
            } else {
                None
            };
            self.ws();
            let vs = self.i;
            self.value(depth + 1)?;
            if let Some(f) = field {
                if self.fields[f].is_some() {
                    self.duplicate_field = true;
                }
                self.fields[f] = Some((vs, self.i));
            }
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests;
