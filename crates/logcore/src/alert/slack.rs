//! Slack messages (Block Kit with a plain-text fallback) for a group of alerts: log content escaped so it
//! can never ping anyone or render a link it did not have, within Slack's limits, with deep links to the
//! CloudWatch Logs console.

use serde_json::{json, Value};

use super::Group;
use crate::base::time::DateTimeParts;

/// Slack's limits: blocks per message, characters of a section's text, of a header, of a context element.
pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_CHARS: usize = 3000;
pub const MAX_HEADER_CHARS: usize = 150;
pub const MAX_CONTEXT_CHARS: usize = 2000;
/// The fallback `text` (notifications, clients without blocks) is kept short.
pub const MAX_FALLBACK_CHARS: usize = 1000;
/// Longest console link put in a message (log group and stream names can make one several kB long).
const MAX_LINK_CHARS: usize = 1500;
/// Blocks besides the events: header, context, footer.
const FIXED_BLOCKS: usize = 3;

/// What the messages show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// Events shown per message (the rest are counted); at most `MAX_BLOCKS - 3`.
    pub max_shown: usize,
    /// Characters of each message shown (before escaping); longer ones are truncated with a marker.
    pub max_message_chars: usize,
    /// Region for console links when an event does not name one.
    pub default_region: String,
}

impl Default for Format {
    fn default() -> Self {
        Format {
            max_shown: 5,
            max_message_chars: 2500,
            default_region: "us-east-1".into(),
        }
    }
}

/// Escape text for Slack `mrkdwn`: `&`, `<`, `>` as entities (so `<!channel>`, `<@U123>` and `<url|x>` in log
/// text stay text), and a word joiner after `@` of `@channel`, `@here`, `@everyone` so they never notify.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    escape_into(text, &mut out, usize::MAX);
    out
}

/// Escape into `out`, stopping before the escaped text would exceed `budget` bytes. Returns the number
/// of input bytes consumed (always at a character boundary).
fn escape_into(text: &str, out: &mut String, budget: usize) -> usize {
    let start = out.len();
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        let piece: &str = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            _ => "",
        };
        let joiner = c == '@' && is_broadcast(&bytes[i + 1..]);
        let add = if piece.is_empty() {
            c.len_utf8()
        } else {
            piece.len()
        } + if joiner { 3 } else { 0 };
        if out.len() - start + add > budget {
            return i;
        }
        if piece.is_empty() {
            out.push(c);
        } else {
            out.push_str(piece);
        }
        if joiner {
            out.push('\u{2060}');
        }
    }
    text.len()
}

fn is_broadcast(after_at: &[u8]) -> bool {
    ["channel", "here", "everyone"].iter().any(|w| {
        after_at.len() >= w.len() && after_at[..w.len()].eq_ignore_ascii_case(w.as_bytes())
    })
}

/// Inside a code block, a run of three backticks would end it: break every run with a zero-width space.
fn code_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_tick = false;
    for c in text.chars() {
        if c == '`' && prev_tick {
            out.push('\u{200B}');
        }
        prev_tick = c == '`';
        out.push(c);
    }
    out
}

/// Percent-encode everything but unreserved characters (`encodeURIComponent`, stricter).
fn uri_component(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// The CloudWatch console's own encoding of a path part in its `#logsV2:` fragment: URI-encoded twice,
/// with the second round's `%` written `$`.
fn console_part(s: &str) -> String {
    uri_component(s).replace('%', "$25")
}

/// The console's base URL for a region (China and GovCloud regions have their own domains).
pub fn console_base(region: &str) -> String {
    let region = uri_component(region);
    if region.starts_with("cn-") {
        format!("https://{region}.console.amazonaws.cn")
    } else if region.starts_with("us-gov-") {
        format!("https://{region}.console.amazonaws-us-gov.com")
    } else {
        format!("https://{region}.console.aws.amazon.com")
    }
}

/// A link to a log group in the CloudWatch Logs console.
pub fn log_group_link(region: &str, group: &str) -> String {
    format!(
        "{}/cloudwatch/home?region={}#logsV2:log-groups/log-group/{}",
        console_base(region),
        uri_component(region),
        console_part(group)
    )
}

/// A link to the events of a log stream around `timestamp_ms` (one minute either side).
pub fn log_event_link(region: &str, group: &str, stream: &str, timestamp_ms: i64) -> String {
    format!(
        "{}/log-events/{}$3Fstart$3D{}$26end$3D{}",
        log_group_link(region, group),
        console_part(stream),
        timestamp_ms.saturating_sub(60_000),
        timestamp_ms.saturating_add(60_000)
    )
}

/// A value inside the Logs Insights `queryDetail`: form-encoded (space as `+`), with `*` in place of `%`
/// (and `*` itself encoded, so the console's decoding is unambiguous).
fn insights_value(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b' ');
    percent_encoding::utf8_percent_encode(s, SET)
        .to_string()
        .replace(' ', "+")
        .replace('%', "*")
}

/// A link that opens CloudWatch Logs Insights on `groups` with `query` in the editor and the absolute time
/// range `start_ms..end_ms` (UTC), as the console writes it: `queryDetail` is a `~(key~'value~…)` structure
/// whose delimiters are URI-encoded twice (the second `%` as `$`) and whose values are encoded by
/// [`insights_value`].
pub fn insights_link(
    region: &str,
    groups: &[&str],
    query: &str,
    start_ms: i64,
    end_ms: i64,
) -> String {
    let iso = |ms: i64| DateTimeParts::from_millis(ms).rfc3339();
    // `~` `(` `)` `'` once URI-encoded (%7E %28 %29 %27), then again with `%` written `$`.
    let (t, open, close, q) = ("$257E", "$2528", "$2529", "$2527");
    let mut detail = format!(
        "{t}{open}end{t}{q}{}{t}start{t}{q}{}{t}timeType{t}{q}ABSOLUTE{t}tz{t}{q}UTC{t}editorString{t}{q}{}",
        insights_value(&iso(end_ms)),
        insights_value(&iso(start_ms)),
        insights_value(query)
    );
    detail.push_str(&format!("{t}source{t}{open}"));
    for g in groups {
        detail.push_str(&format!("{t}{q}{}", insights_value(g)));
    }
    detail.push_str(close);
    detail.push_str(close);
    format!(
        "{}/cloudwatch/home?region={}#logsV2:logs-insights$3FqueryDetail$3D{detail}",
        console_base(region),
        uri_component(region)
    )
}

/// Cut `s` to at most `max` characters, marking the cut.
pub(super) fn cut_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => {
            let keep = s[..i]
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(i, |(j, _)| j);
            format!("{}…", &s[..keep])
        }
    }
}

fn utc(ms: i64) -> String {
    let d = DateTimeParts::from_millis(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        d.year, d.month, d.day, d.hour, d.minute, d.second, d.millis
    )
}

fn span(ms: i64) -> String {
    let s = ms.saturating_add(999) / 1000;
    match s {
        i64::MIN..=0 => "at once".into(),
        1..=59 => format!("within {s} s"),
        60..=5999 => format!("within {} min", (s + 59) / 60),
        _ => format!("within {} h", (s + 3599) / 3600),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The message body (`text` fallback and `blocks`) for one group.
pub fn message(g: &Group, f: &Format) -> Value {
    let region = g.region.as_deref().unwrap_or(&f.default_region);
    let max_shown = f.max_shown.clamp(1, MAX_BLOCKS - FIXED_BLOCKS);
    let what = plural(g.total, "error", "errors");
    let header = cut_chars(
        &format!(
            "{what} in {} {}",
            neutral(&g.log_group),
            span(g.last_ms - g.first_ms)
        ),
        MAX_HEADER_CHARS,
    );
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": false}}),
    ];

    let mut ctx = Vec::new();
    if !g.account.is_empty() {
        ctx.push(format!("*Account* {}", escape(&g.account)));
    }
    ctx.push(format!("*Region* {}", escape(region)));
    ctx.push(if g.first_ms == g.last_ms {
        format!("{} UTC", utc(g.first_ms))
    } else {
        format!("{} – {} UTC", utc(g.first_ms), utc(g.last_ms))
    });
    blocks.push(context(ctx));

    for ev in g.shown.iter().take(max_shown) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": event_text(ev, region, f)}}));
    }

    let shown = g.shown.len().min(max_shown) as u64;
    let mut foot = Vec::new();
    if g.total > shown {
        foot.push(format!("{shown} of {} shown", g.total));
    }
    if g.suppressed > 0 {
        foot.push(format!(
            "{} suppressed",
            plural(g.suppressed, "repeat", "repeats")
        ));
    }
    let group_link = log_group_link(region, &g.log_group);
    if group_link.len() <= MAX_LINK_CHARS {
        foot.push(format!(
            "<{group_link}|Open {} in CloudWatch Logs>",
            escape(&g.log_group)
        ));
    }
    blocks.push(context(foot));

    let first = g.shown.first().map_or("", |e| e.message.as_str());
    let first_line = first.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut fallback = format!("{what} in {}: ", escape(&g.log_group));
    // A budget in bytes of escaped text: never more characters than that.
    let budget = MAX_FALLBACK_CHARS.saturating_sub(fallback.len() + 3);
    let line = first_line.trim();
    if escape_into(line, &mut fallback, budget) < line.len() {
        fallback.push('…');
    }
    json!({"text": fallback, "blocks": blocks})
}

/// Put configured mentions on a message of [`message`]: first in the notification text (what pings people)
/// and first in the context line under the header. Only mentions from configuration (checked by
/// `common::valid_mention` when read) ever get here; log text stays escaped.
pub fn mention(m: &mut Value, who: &[String]) {
    if who.is_empty() {
        return;
    }
    let line = who.join(" ");
    if let Some(text) = m["text"].as_str() {
        let mut t = format!("{line} {text}");
        if t.chars().count() > MAX_FALLBACK_CHARS {
            t = cut_chars(&t, MAX_FALLBACK_CHARS - 1) + "…";
        }
        m["text"] = Value::String(t);
    }
    if let Some(els) = m["blocks"][1]["elements"].as_array_mut() {
        els.insert(0, json!({"type": "mrkdwn", "text": line}));
    }
}

/// Text in a `plain_text` field (Slack shows it as it is; only broadcast words need defusing).
fn neutral(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let bytes = s.as_bytes();
    for (i, c) in s.char_indices() {
        out.push(c);
        if c == '@' && is_broadcast(&bytes[i + 1..]) {
            out.push('\u{2060}');
        }
    }
    out
}

pub(super) fn context(items: Vec<String>) -> Value {
    let elements: Vec<Value> = items
        .into_iter()
        .take(10)
        .map(|t| json!({"type": "mrkdwn", "text": cut_escaped(&t, MAX_CONTEXT_CHARS)}))
        .collect();
    json!({"type": "context", "elements": elements})
}

/// Cut already-escaped text to `max` characters without splitting an entity.
fn cut_escaped(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut cut = cut_chars(s, max);
    if let Some(amp) = cut.rfind('&') {
        if !cut[amp..].contains(';') {
            cut.truncate(amp);
            cut.push('…');
        }
    }
    cut
}

/// One event's section: a linked time, stream and level, then the message in a code block.
fn event_text(ev: &super::AlertEvent, region: &str, f: &Format) -> String {
    let link = log_event_link(region, &ev.log_group, &ev.log_stream, ev.timestamp_ms);
    // Log group and stream names of the longest kind make a link too long for a section: time only then.
    let mut head = if link.len() <= MAX_LINK_CHARS {
        format!("*<{link}|{} UTC>*", utc(ev.timestamp_ms))
    } else {
        format!("*{} UTC*", utc(ev.timestamp_ms))
    };
    if !ev.log_stream.is_empty() {
        head.push_str("  ·  ");
        // Backtick runs broken as in the message: a stream named "```" would open a code block.
        head.push_str(&escape(&code_safe(&cut_chars(&ev.log_stream, 200))));
    }
    if let Some(l) = crate::logs::level::level_of(&ev.message) {
        head.push_str("  ·  *");
        head.push_str(l);
        head.push('*');
    }
    let msg = ev.message.trim_end();
    let total = msg.chars().count();
    let marker = |n: usize| format!("\n… truncated: {n} characters in all");
    // Room in the section: head, "\n```", "```", the longest marker, and a margin for the joiners.
    let room = MAX_SECTION_CHARS
        .saturating_sub(head.chars().count() + 7 + marker(total).len())
        .min(f.max_message_chars.max(16));
    let mut body = String::new();
    let safe = code_safe(msg);
    // Budget in bytes of escaped text; multi-byte characters only make the count of characters smaller.
    let used = escape_into(&safe, &mut body, room);
    let truncated = used < safe.len();
    // A backtick next to the fences would merge with them.
    if body.is_empty() || body.ends_with('`') {
        body.push('\u{200B}');
    }
    if body.starts_with('`') {
        body.insert(0, '\u{200B}');
    }
    let mut text = format!("{head}\n```{body}```");
    if truncated {
        text.push_str(&marker(total));
    }
    text
}

/// Check a message against Slack's limits and the no-injection rule: at most 50 blocks, sections within
/// 3,000 characters with one closed code block, headers within 150, context elements within 2,000 (10 at
/// most), and no `<…>` but our own console links, no broadcast word that would notify. The property tests
/// and the fuzz target hold every message to it.
pub fn validate(m: &Value) -> Result<(), String> {
    validate_mentioning(m, &[])
}

/// [`validate`], where the configured mentions `who` (and only they) may stand as `<…>`.
pub fn validate_mentioning(m: &Value, who: &[String]) -> Result<(), String> {
    let blocks = m["blocks"].as_array().ok_or("no blocks")?;
    if blocks.is_empty() || blocks.len() > MAX_BLOCKS {
        return Err(format!("{} blocks", blocks.len()));
    }
    let fallback = m["text"].as_str().ok_or("no text")?;
    if fallback.chars().count() > MAX_FALLBACK_CHARS {
        return Err("fallback text too long".into());
    }
    check_mrkdwn(fallback, who)?;
    for b in blocks {
        match b["type"].as_str() {
            Some("header") => {
                let t = b["text"]["text"].as_str().ok_or("header without text")?;
                if t.chars().count() > MAX_HEADER_CHARS {
                    return Err("header too long".into());
                }
                check_broadcast(t)?;
            }
            Some("section") => {
                let t = b["text"]["text"].as_str().ok_or("section without text")?;
                if t.chars().count() > MAX_SECTION_CHARS {
                    return Err(format!("section of {} characters", t.chars().count()));
                }
                if t.matches("```").count() != 2 {
                    return Err(format!("code block not closed exactly once: {t:?}"));
                }
                check_mrkdwn(t, who)?;
            }
            Some("context") => {
                let els = b["elements"].as_array().ok_or("context without elements")?;
                if els.len() > 10 {
                    return Err("more than 10 context elements".into());
                }
                for e in els {
                    let t = e["text"].as_str().ok_or("context element without text")?;
                    if t.chars().count() > MAX_CONTEXT_CHARS {
                        return Err("context element too long".into());
                    }
                    check_mrkdwn(t, who)?;
                }
            }
            other => return Err(format!("unexpected block type {other:?}")),
        }
    }
    Ok(())
}

/// Only our own console links, and the configured mentions `who`, may use `<…>`.
fn check_mrkdwn(t: &str, who: &[String]) -> Result<(), String> {
    let mut rest = t;
    while let Some(i) = rest.find('<') {
        let after = &rest[i + 1..];
        let end = after
            .find('>')
            .ok_or_else(|| format!("unclosed < in {t:?}"))?;
        let link = &after[..end];
        let mentioned = who
            .iter()
            .any(|m| m.strip_prefix('<').and_then(|m| m.strip_suffix('>')) == Some(link));
        if !mentioned && (!link.starts_with("https://") || !link.contains(".console.")) {
            return Err(format!("raw <{link}> in {t:?}"));
        }
        rest = &after[end + 1..];
    }
    check_broadcast(t)
}

fn check_broadcast(t: &str) -> Result<(), String> {
    let lower = t.to_ascii_lowercase();
    for w in ["@here", "@channel", "@everyone"] {
        if lower.contains(w) {
            return Err(format!("{w} in {t:?}"));
        }
    }
    Ok(())
}
