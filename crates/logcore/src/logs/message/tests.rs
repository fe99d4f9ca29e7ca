use super::*;
use proptest::prelude::*;

const LIMITS: [Option<JsonLimits>; 3] = [
    None,
    Some(JsonLimits {
        max_depth: 4,
        max_keys: 100,
    }),
    Some(JsonLimits {
        max_depth: 2,
        max_keys: 3,
    }),
];

fn agrees(message: &str) -> Result<(), TestCaseError> {
    for limits in LIMITS {
        prop_assert_eq!(
            read(message, limits),
            reference(message, limits),
            "{:?} with {:?}",
            message,
            limits
        );
    }
    Ok(())
}

/// JSON-ish text written token by token, so that it can hold what a serializer never writes: duplicate
/// keys, escapes of every kind, numbers serde_json refuses, line breaks between tokens.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "level", "severity", "levelname", "log.level", "lvl", "loglevel", "log", "msg", "a", "b", "",
            "Level", "lev\\u0065l", "le\\\"vel", "lev\\/el",
        ])
        .prop_map(String::from),
        1 => "[a-z]{1,3}",
    ]
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "\"error\"",
            "\"WARN\"",
            "\"Information\"",
            "\"\\u0045RROR\"",
            "\"err\\nor\"",
            "\"\"",
            "50",
            "30",
            "70",
            "-0",
            "0.5",
            "1e3",
            "1E-2",
            "01",
            "1.",
            "-",
            "1e999",
            "true",
            "false",
            "null",
            "nul",
            "\"\\ud800\"",
            "\"\\x\"",
            "\"a\tb\"",
            "\"é😀\"",
        ])
        .prop_map(String::from),
        "-?[0-9]{1,20}(\\.[0-9]{1,5})?",
        "\"[a-zA-Z0-9 \\[\\]:{},é]{0,12}\"",
        "[0-9]{300,320}",
    ]
}

fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", "", "", " ", "\n", "\t", "\r\n"])
}

fn value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(6, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec((ws(), key(), ws(), inner.clone()), 0..6).prop_map(|fields| {
                let body: Vec<String> = fields
                    .into_iter()
                    .map(|(w, k, w2, v)| format!("{w}\"{k}\"{w2}:{v}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
            prop::collection::vec((ws(), inner), 0..5).prop_map(|items| {
                let body: Vec<String> = items.into_iter().map(|(w, v)| format!("{w}{v}")).collect();
                format!("[{}]", body.join(","))
            }),
        ]
    })
}

/// A top-level object, sometimes damaged: cut short, a byte put in, whitespace around it.
fn message() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((key(), ws(), value()), 0..8),
        0usize..6,
        any::<prop::sample::Index>(),
        prop::sample::select(vec![
            "", "", "x", "}", ",", "\"", "\\", "\u{0}", " ", "\u{a0}", "\u{b}", "\u{c}", "\u{1c}",
        ]),
    )
        .prop_map(|(fields, damage, at, piece)| {
            let body: Vec<String> = fields
                .into_iter()
                .map(|(k, w, v)| format!("\"{k}\"{w}:{w}{v}"))
                .collect();
            let mut m = format!("{{{}}}", body.join(","));
            let mut at = at.index(m.len() + 1);
            while !m.is_char_boundary(at) {
                at -= 1;
            }
            match damage {
                0 => m.truncate(at),
                1 => m.insert_str(at, piece),
                2 => m = format!("{piece}{m}{piece}"),
                _ => {}
            }
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// The scan gives what the two parses give, on JSON-ish messages built to find where they differ.
    #[test]
    fn the_scan_agrees_with_the_two_parses(m in message()) {
        agrees(&m)?;
    }

    #[test]
    fn the_scan_agrees_on_any_text(m in any::<String>(), line in "[A-Z\\[\\] a-z0-9:{}\"]{0,80}") {
        agrees(&m)?;
        agrees(&line)?;
    }
}

/// Real messages: every line of the replay examples, and the generator's.
#[test]
fn the_scan_agrees_on_the_examples_and_the_generated_messages() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            agrees(line).unwrap();
            n += 1;
        }
    }
    let mut g = crate::synth::MessageGen::new(3);
    for _ in 0..5000 {
        agrees(&g.message()).unwrap();
    }
    assert!(n > 50, "{n} example lines");
}

#[test]
fn the_scan_reads_the_common_shapes_itself() {
    // The shapes it must not hand to the slow path (the point of it), each with its answer.
    let limits = Some(JsonLimits::default());
    for (m, level, json) in [
        (
            r#"{"level":"error","msg":"x","n":1.5,"a":[1,{"b":null}]}"#,
            Some("ERROR"),
            Check::Embeddable,
        ),
        (
            r#"{"msg":"quote \" and \\ and \n"}"#,
            None,
            Check::Embeddable,
        ),
        (
            r#"{"level":50,"level2":"x"}"#,
            Some("ERROR"),
            Check::Embeddable,
        ),
        (
            r#"{"log":{"level":"warn"}}"#,
            Some("WARN"),
            Check::Embeddable,
        ),
        (r#"{"a":1,"a":2}"#, None, Check::NeedsRewrite),
        ("{\"a\":\n1}", None, Check::NeedsRewrite),
        (
            r#"{"level":"info","level":"error"} ERROR"#,
            Some("ERROR"),
            Check::Invalid,
        ),
        ("ERROR something", Some("ERROR"), Check::Invalid),
    ] {
        let b = m.as_bytes();
        if b.last() == Some(&b'}') {
            let mut scan = Scan {
                b,
                i: 0,
                keys: 0,
                rewrite: false,
                newline: false,
                limits: JsonLimits::default(),
                fields: [None; FIELDS.len()],
                duplicate_field: false,
            };
            assert!(scan.object(1).is_some() && scan.i == b.len(), "{m}");
        }
        assert_eq!(
            read(m, limits),
            Read {
                level,
                json: Some(json)
            },
            "{m}"
        );
        assert_eq!(read(m, limits), reference(m, limits), "{m}");
    }
    // A vertical tab first is whitespace to `str::trim_start`, and the 200 bytes a level word is looked for
    // in start after it (found by the fuzz target).
    let m = format!("\u{b}{{INBO{} ERR", "x".repeat(191));
    assert_eq!(read(&m, limits), reference(&m, limits));
    assert_eq!(read(&m, limits).level, Some("ERROR"));
    // Duplicate level fields: serde's derive refuses the object, and the level is the line's word.
    let m = r#"{"level":"info","level":"error","m":"WARN x"}"#;
    assert_eq!(read(m, limits).level, reference(m, limits).level);
}
