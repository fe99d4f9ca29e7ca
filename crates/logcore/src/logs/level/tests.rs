//! Levels from JSON fields, numbers and text; the fast path against a full parse.

use super::*;
use proptest::prelude::*;
use serde_json::json;

/// `level_of` as it was written first: a full parse into a `Value` (null fields absent), then the text scan.
fn reference_level_of(message: &str) -> Option<&'static str> {
    let t = message.trim_start();
    if t.starts_with('{') && t.len() <= 256 * 1024 {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(t) {
            let field = [
                "level",
                "severity",
                "levelname",
                "log.level",
                "lvl",
                "loglevel",
            ]
            .iter()
            .find_map(|k| m.get(*k).filter(|v| !v.is_null()))
            .or_else(|| m.get("log").and_then(|l| l.get("level")));
            return match field {
                Some(serde_json::Value::String(s)) => normalise_level(s),
                Some(serde_json::Value::Number(n)) => n.as_i64().and_then(numeric_level),
                _ => None,
            };
        }
    }
    let mut end = t.len().min(200);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    t[..end]
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3 && w.bytes().all(|b| b.is_ascii_uppercase()))
        .find_map(normalise_level)
}

#[test]
fn levels_from_json_fields_numbers_and_text() {
    for (msg, want) in [
        (r#"{"level":"error","msg":"x"}"#, Some("ERROR")),
        (r#"{"severity":"WARNING"}"#, Some("WARN")),
        (r#"{"levelname":"CRITICAL"}"#, Some("CRITICAL")),
        (r#"{"log.level":"fatal"}"#, Some("FATAL")),
        (r#"{"log":{"level":"info"}}"#, Some("INFO")),
        (r#"{"level":50,"msg":"pino"}"#, Some("ERROR")),
        (r#"{"level":"verbose"}"#, None),
        (r#"{"msg":"ERROR in text of a JSON message"}"#, None),
        ("ERROR Unhandled exception", Some("ERROR")),
        ("[ERROR]\t2025-11-21T10:00:00Z\treq\tboom", Some("ERROR")),
        (
            "2025-11-21T10:01:00.015Z\t8f5a1b2c\tINFO\tprocessing",
            Some("INFO"),
        ),
        ("2025-11-21 10:00:00 WARN pool low", Some("WARN")),
        ("START RequestId: 8f5a Version: $LATEST", None),
        ("an error happened", None),
        ("", None),
    ] {
        assert_eq!(level_of(msg), want, "{msg}");
        assert_eq!(
            ecs_level(msg),
            want.map(|w| if w == "WARN" {
                "warn".to_string()
            } else {
                w.to_lowercase()
            })
            .as_deref()
            .map(|l| match l {
                "trace" => "trace",
                "debug" => "debug",
                "info" => "info",
                "notice" => "notice",
                "warn" => "warn",
                "error" => "error",
                "critical" => "critical",
                "alert" => "alert",
                "emergency" => "emergency",
                _ => "fatal",
            }),
            "{msg}"
        );
    }
}

proptest! {
    /// Whatever the line, the fast path (no level key: no parse) gives what a full parse gives.
    #[test]
    fn level_of_is_the_full_parse(s in prop_oneof![
        "\\{[ -~]{0,80}",
        "\\{\"(msg|level|log|x)\":\"(ERROR|info|WARN x|y)\"( ,\"a\":1)?\\}",
        "\\{\"msg\":\"(ERROR|INFO) [a-z ]{0,10}\"\\}[ a-z]{0,3}",
    ]) {
        prop_assert_eq!(level_of(&s), reference_level_of(&s), "{}", s);
    }

    /// The borrowed reading of JSON level fields finds what a full parse into a Value finds.
    #[test]
    fn json_levels_as_a_full_parse_reads_them(
        key in prop::sample::select(vec!["level", "severity", "levelname", "log.level", "lvl", "loglevel", "msg"]),
        value in prop_oneof![
            prop::sample::select(vec!["error", "WARN", "Info", "fatal", "verbose", "err"]).prop_map(|s| json!(s)),
            prop::sample::select(vec![10i64, 30, 50, 60, 99]).prop_map(|n| json!(n)),
            Just(json!(null)), Just(json!({"x": 1})), Just(json!([1]))
        ],
        nested in proptest::option::of(prop::sample::select(vec!["error", "debug", "x"])),
        other in "[a-z]{0,8}",
    ) {
        let mut obj = serde_json::Map::new();
        obj.insert("other".into(), json!(other));
        obj.insert(key.to_string(), value);
        if let Some(n) = nested { obj.insert("log".into(), json!({"level": n})); }
        let text = serde_json::Value::Object(obj).to_string();
        // The reference: a full parse (a null field counts as absent).
        let reference = {
            let m: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
            let field = ["level", "severity", "levelname", "log.level", "lvl", "loglevel"]
                .iter()
                .find_map(|k| m.get(*k).filter(|v| !v.is_null()))
                .or_else(|| m.get("log").and_then(|l| l.get("level")));
            match field {
                Some(serde_json::Value::String(s)) => normalise_level(s),
                Some(serde_json::Value::Number(n)) => n.as_i64().and_then(numeric_level),
                _ => None,
            }
        };
        prop_assert_eq!(level_of(&text), reference, "{}", text);
    }
}

proptest! {
    /// The level word found byte by byte is the one the split into words by character finds (the
    /// reference: words of ASCII letters between any other characters, upper case, 3 letters or more).
    #[test]
    fn level_word_is_the_split_into_words(
        parts in proptest::collection::vec(prop_oneof![
            prop::sample::select(vec!["ERROR", "WARN", "INFORMATION", "INFORMATIONS", "Err", "DBG", "PANIC", "EMERG", "xERROR", "ERR", "SEVEREX"]).prop_map(str::to_string),
            "[A-Za-z]{0,6}",
            "[ \\[\\]:0-9.\\-]{0,3}",
            "\\PC{0,2}",
            Just("é".to_string()),
            Just("ÉRROR".to_string()),
        ], 0..40),
    ) {
        let t = parts.concat();
        let mut end = t.len().min(200);
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        let reference = t[..end]
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| w.len() >= 3 && w.bytes().all(|b| b.is_ascii_uppercase()))
            .find_map(normalise_upper);
        prop_assert_eq!(level_word(&t), reference, "{:?}", t);
    }
}
