//! The Slack formatter on arbitrary log text, log group and stream names: never a panic, and every message
//! is valid JSON within Slack's limits (50 blocks, 3,000 characters a section, one closed code block) with
//! no mention, broadcast or link that the log text brought (with configured mentions: those only).
#![no_main]

use libfuzzer_sys::fuzz_target;
use logcore::alert::slack::{mention, message, validate, validate_mentioning, Format};
use logcore::alert::{fingerprint, AlertEvent, Grouper};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // First line: log group and stream; the rest: one message per 0x1e-separated part.
    let (head, body) = text.split_once('\n').unwrap_or(("/g", &text));
    let (group, stream) = head.split_once(' ').unwrap_or((head, "s"));
    let max_shown = data.first().map_or(5, |b| usize::from(*b % 60) + 1);
    let mut grouper = Grouper::new(max_shown);
    for (i, m) in body.split('\u{1e}').enumerate().take(200) {
        let ev = AlertEvent {
            log_group: group.chars().take(512).collect(),
            log_stream: stream.chars().take(512).collect(),
            account: String::new(),
            region: None,
            timestamp_ms: i as i64 * 1000,
            id: String::new(),
            message: m.to_string(),
        };
        let fp = fingerprint(&ev.log_group, &ev.message);
        grouper.add(ev, fp, false);
    }
    for g in grouper.finish().0 {
        let m = message(&g, &Format { max_shown, ..Format::default() });
        let text = serde_json::to_string(&m).expect("serialises");
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        if let Err(e) = validate(&back) {
            panic!("invalid message: {e}");
        }
        // With configured mentions, those and only those stand as mentions, even at the length limits.
        let who = ["<!subteam^S0ONCALL>".to_string(), "<@U0LEAD>".to_string()];
        let mut mentioned = back;
        mention(&mut mentioned, &who);
        if let Err(e) = validate_mentioning(&mentioned, &who) {
            panic!("invalid mentioned message: {e}");
        }
    }
});
