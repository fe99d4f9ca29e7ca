//! The joiner on traces shaped as the runtimes print them (from their documentation and bug reports), on
//! ordinary logs that must stay line by line, and on anything (properties).

use proptest::prelude::*;

use super::*;

/// The records as (first line, line count, kind).
fn groups(rules: &Rules, text: &str) -> Vec<(usize, usize, Kind)> {
    let lines: Vec<&str> = text.lines().collect();
    rules
        .group("/ecs/app", &lines)
        .into_iter()
        .map(|r| (r.start, r.len, r.kind))
        .collect()
}

const JAVA: &str = "2026-03-01 10:00:00.123 ERROR [main] c.e.Orders - order failed
java.lang.IllegalStateException: connection pool exhausted
\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:197)
\tat com.example.orders.Repo.save(Repo.java:42)
\tat com.example.orders.Service.place(Service.java:17)
Caused by: java.net.SocketTimeoutException: connect timed out
\tat java.base/sun.nio.ch.NioSocketImpl.timedFinishConnect(NioSocketImpl.java:546)
\t... 12 more
\tSuppressed: java.io.IOException: close failed
\t\tat com.example.orders.Repo.close(Repo.java:80)
\t\t... 3 common frames omitted
2026-03-01 10:00:00.200 INFO [main] c.e.Orders - retrying";

#[test]
fn a_java_trace_is_one_record() {
    let r = Rules::builtin();
    assert_eq!(
        groups(&r, JAVA),
        [
            (0, 1, Kind::Single),
            (1, 10, Kind::Joined),
            (11, 1, Kind::Single)
        ]
    );
    // Kotlin and Scala print the JVM's shape; `Exception in thread` heads an uncaught one.
    let uncaught = "Exception in thread \"main\" kotlin.KotlinNullPointerException\n\tat MainKt.main(Main.kt:3)";
    assert_eq!(groups(&r, uncaught), [(0, 2, Kind::Joined)]);
    // The base classes themselves: `java.lang.Exception`, `java.lang.Error`, .NET's `System.Exception`.
    for header in [
        "java.lang.Exception: boom",
        "java.lang.Error: x",
        "java.lang.Throwable",
    ] {
        assert_eq!(
            groups(&r, &format!("{header}\n\tat a.B.c(B.java:1)")),
            [(0, 2, Kind::Joined)],
            "{header}"
        );
    }
    let dotnet =
        "System.Exception: boom\n   at Program.Main(String[] args) in /src/Program.cs:line 5";
    assert_eq!(groups(&r, dotnet), [(0, 2, Kind::Joined)]);
}

#[test]
fn a_python_traceback_is_one_record_and_ends_at_its_exception() {
    let text = "ERROR:root:payment failed
Traceback (most recent call last):
  File \"/app/pay.py\", line 10, in charge
    resp = client.post(url, json=body)
  File \"/usr/lib/python3.12/site-packages/httpx/_client.py\", line 1145, in post
    return self.request(\"POST\", url)
httpx.ConnectTimeout: timed out
INFO:root:next request";
    assert_eq!(
        groups(&Rules::builtin(), text),
        [
            (0, 1, Kind::Single),
            (1, 6, Kind::Joined),
            (7, 1, Kind::Single)
        ]
    );
    // A bare exception name ends it too.
    let bare = "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nKeyboardInterrupt\nnext";
    assert_eq!(
        groups(&Rules::builtin(), bare),
        [(0, 3, Kind::Joined), (3, 1, Kind::Single)]
    );
}

#[test]
fn a_go_panic_with_its_goroutines_is_one_record() {
    let text = "panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.lookup(...)
\t/app/main.go:12
main.main()
\t/app/main.go:20 +0x1d
exit status 2
listening on :8080";
    assert_eq!(
        groups(&Rules::builtin(), text),
        [(0, 8, Kind::Joined), (8, 1, Kind::Single)]
    );
}

#[test]
fn node_and_dotnet_traces_are_one_record_each() {
    let node = "TypeError: Cannot read properties of undefined (reading 'id')
    at handler (/var/task/index.js:12:20)
    at Runtime.handleOnceNonStreaming (file:///var/runtime/index.mjs:1173:29)
request done";
    assert_eq!(
        groups(&Rules::builtin(), node),
        [(0, 3, Kind::Joined), (3, 1, Kind::Single)]
    );
    let dotnet =
        "Unhandled exception. System.InvalidOperationException: Sequence contains no elements
 ---> System.ArgumentNullException: Value cannot be null. (Parameter 'source')
   at System.Linq.ThrowHelper.ThrowArgumentNullException(ExceptionArgument argument)
   --- End of inner exception stack trace ---
   at Orders.Program.Main(String[] args) in /src/Program.cs:line 14
--- End of stack trace from previous location ---
   at Orders.Program.<Main>(String[] args)
info: Microsoft.Hosting.Lifetime[0]";
    assert_eq!(
        groups(&Rules::builtin(), dotnet),
        [(0, 7, Kind::Joined), (7, 1, Kind::Single)]
    );
}

#[test]
fn ordinary_lines_stay_apart() {
    // Indented lines without a start the rules know: an application that indents its own logs, a YAML
    // dump, a table. `at` in prose too.
    let text = "config loaded:
  database: orders
  pool: 10
    at most 3 retries
Error: file not found
  while reading /etc/app.yaml
WARN slow query
{\"level\":\"error\",\"msg\":\"x\"}
\tat com.example.Foo.bar(Foo.java:1)";
    let g = groups(&Rules::builtin(), text);
    assert!(g.iter().all(|(_, n, _)| *n == 1), "{g:?}");
}

#[test]
fn json_lines_are_never_joined() {
    let text = "java.lang.RuntimeException: boom
{\"@timestamp\":\"2026-03-01T10:00:00Z\",\"message\":\"\\tat x\"}
\tat com.example.A.b(A.java:1)";
    let g = groups(&Rules::builtin(), text);
    assert_eq!(g[1], (1, 1, Kind::Single));
    assert!(g.iter().all(|(_, n, _)| *n == 1), "{g:?}");
}

#[test]
fn continuation_lines_at_the_start_of_a_run_are_one_orphan_record() {
    let text = "\tat com.example.orders.Repo.save(Repo.java:42)
\tat com.example.orders.Service.place(Service.java:17)
Caused by: java.net.SocketTimeoutException: connect timed out
\t... 12 more
2026-03-01 INFO next";
    assert_eq!(
        groups(&Rules::builtin(), text),
        [(0, 4, Kind::Orphan), (4, 1, Kind::Single)]
    );
}

#[test]
fn caps_cut_a_record_and_flag_the_rest() {
    let mut r = Rules::builtin();
    for rule in &mut r.builtin_mut().rules {
        rule.caps = Caps {
            max_lines: 4,
            max_bytes: 1_000,
        };
    }
    assert_eq!(
        groups(&r, JAVA),
        [
            (0, 1, Kind::Single),
            (1, 4, Kind::Joined),
            (5, 4, Kind::Capped),
            (9, 2, Kind::Capped),
            (11, 1, Kind::Single)
        ]
    );
    for rule in &mut r.builtin_mut().rules {
        rule.caps = Caps {
            max_lines: 100,
            max_bytes: 120,
        };
    }
    let lines: Vec<&str> = JAVA.lines().collect();
    for rec in r.group("/g", &lines) {
        let bytes: usize = lines[rec.start..rec.start + rec.len]
            .iter()
            .map(|l| l.len() + 1)
            .sum::<usize>()
            - 1;
        assert!(bytes <= 120 || rec.len == 1, "{rec:?}: {bytes}");
    }
}

#[test]
fn configured_rules_in_elastics_shape() {
    // Lines that do not start with a date belong to the record before them.
    let rule =
        Rule::parse(r"/ecs/legacy pattern=^\d{4}-\d{2}-\d{2} negate match=after max_lines=50")
            .unwrap();
    let r = Rules::with(vec![rule]);
    let text = "2026-03-01 start
  detail one
detail two
2026-03-01 next";
    let lines: Vec<&str> = text.lines().collect();
    let got: Vec<(usize, usize)> = r
        .group("/ecs/legacy", &lines)
        .iter()
        .map(|g| (g.start, g.len))
        .collect();
    assert_eq!(got, [(0, 3), (3, 1)]);
    // Other groups keep the built-in rules.
    assert_eq!(r.group("/ecs/other", &lines).len(), 4);
    // `match=before`: lines ending in a backslash continue on the next.
    let r = Rules::with(vec![Rule::parse(r"* pattern=\\$ match=before").unwrap()]);
    let lines = ["a \\", "b \\", "c", "d"];
    let got: Vec<(usize, usize)> = r
        .group("/x", &lines)
        .iter()
        .map(|g| (g.start, g.len))
        .collect();
    assert_eq!(got, [(0, 3), (3, 1)]);
    for (bad, want) in [
        ("", "empty"),
        ("/g negate", "no pattern="),
        ("/g pattern=(", "pattern"),
        ("/g pattern=x match=around", "match=around"),
        ("/g pattern=x max_lines=0", "max_lines"),
        ("/g pattern=x max_bytes=9999999", "max_bytes"),
    ] {
        let e = Rule::parse(bad).unwrap_err();
        assert!(
            e.contains(want) && e.contains("multiline rule"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn configured_rules_from_the_variable_as_words_or_objects() {
    let rules = parse_rules(
        r#"["/ecs/legacy-* pattern=^\\d{4}- negate match=after",
            {"log_group": "/ecs/app", "pattern": "^\\s+at |^Caused by ", "match": "after", "max_lines": 20}]"#,
    )
    .unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[1].name, "/ecs/app");
    assert_eq!(rules[1].caps.max_lines, 20);
    let r = Rules::with(rules);
    let lines = ["boom", "  at x", "Caused by y", "next"];
    let got: Vec<(usize, usize)> = r
        .group("/ecs/app", &lines)
        .iter()
        .map(|g| (g.start, g.len))
        .collect();
    // The object's pattern holds a space, which the word form cannot.
    assert_eq!(got, [(0, 3), (3, 1)]);
    assert!(parse_rules("").unwrap().is_empty());
    for (bad, want) in [
        ("{", "JSON array"),
        ("[1]", "rule 1: expected a string or an object"),
        (r#"[{"pattern": "x"}]"#, "no \"log_group\""),
        (
            r#"[{"log_group": "/g", "pattern": "x", "negat": true}]"#,
            "unknown key \"negat\"",
        ),
        (r#"[{"log_group": "/g", "pattern": "("}]"#, "pattern"),
        (
            r#"[{"log_group": "/g", "pattern": "x", "max_lines": "5"}]"#,
            "max_lines: unexpected value",
        ),
        (r#"[{"log_group": "/g"}]"#, "no pattern="),
        (r#"["/g pattern=x match=around"]"#, "match=around"),
    ] {
        let e = parse_rules(bad).map(|_| ()).unwrap_err();
        assert!(e.contains(want), "{bad}: {e}");
    }
}

/// A logger that writes the header and its first frames in one event, and the rest one line an event: the
/// event starts the record by its first line and the frames after it join.
#[test]
fn an_event_of_several_lines_starts_a_record_by_its_first() {
    let lines = [
        "ERROR order failed: java.lang.IllegalStateException: closed\n\tat a.B.c(B.java:1)",
        "\tat a.B.d(B.java:2)",
        "\t... 4 more",
        "INFO next",
    ];
    let got: Vec<(usize, usize)> = Rules::builtin()
        .group("/g", &lines)
        .iter()
        .map(|r| (r.start, r.len))
        .collect();
    assert_eq!(got, [(0, 3), (3, 1)]);
}

/// A Java trace longer than the line cap, read a line at a time: the same pieces as the whole run's, the
/// rest flagged capped.
#[test]
fn a_stream_cuts_a_long_trace_as_the_whole_run_does() {
    let mut r = Rules::builtin();
    for rule in &mut r.builtin_mut().rules {
        rule.caps.max_lines = 5;
    }
    r.caps.max_lines = 5;
    let lines: Vec<String> = std::iter::once("java.lang.IllegalStateException: x".to_string())
        .chain((0..10).map(|i| format!("\tat a.B.c{i}(B.java:{i})")))
        .chain([
            "\tSuppressed: java.io.IOException: y".to_string(),
            "INFO next".to_string(),
        ])
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let whole = r.group("/g", &refs);
    assert_eq!(
        whole.iter().map(|g| (g.len, g.kind)).collect::<Vec<_>>(),
        [
            (5, Kind::Joined),
            (5, Kind::Capped),
            (2, Kind::Capped),
            (1, Kind::Single)
        ]
    );
    let (mut got, mut start, mut from) = (Vec::new(), 0, Held::RunStart);
    for end in 1..=refs.len() + 1 {
        let (settled, next) = r.settled(
            "/g",
            &refs[start..end.min(refs.len())],
            from,
            end > refs.len(),
        );
        from = next;
        let taken: usize = settled.iter().map(|g| g.len).sum();
        got.extend(settled.into_iter().map(|g| Record {
            start: g.start + start,
            ..g
        }));
        start += taken;
    }
    assert_eq!(got, whole);
}

/// The built-in patterns' classes in ASCII: small automata, the same matches on ASCII text.
#[test]
fn ascii_classes_keep_every_other_escape_and_class() {
    assert_eq!(ascii_classes(r"[\w$]"), "[0-9A-Za-z_$]");
    assert_eq!(ascii_classes(r"\d+"), "[0-9]+");
    assert_eq!(
        ascii_classes(r"^\s+at \S"),
        r"^[\t\n\x0B\x0C\r ]+at [^\t\n\x0B\x0C\r ]"
    );
    assert_eq!(ascii_classes(r"\[[^\]]*\] \. \("), r"\[[^\]]*\] \. \(");
    assert_eq!(ascii_classes(r"[]\s]"), "[]\\t\\n\\x0B\\x0C\\r ]");
    for p in [r"\w", r"\s", r"\d", r"\S", r"[\w.]", r"[^\s]"] {
        let ascii = Regex::new(&ascii_classes(p)).unwrap();
        let unicode = Regex::new(p).unwrap();
        for text in ["a", "Z", "_", "0", " ", "\t", "\n", ".", "-", "$"] {
            assert_eq!(
                ascii.is_match(text),
                unicode.is_match(text),
                "{p} on {text:?}"
            );
        }
    }
}

/// The built-in rules are compiled the first time a line could need them: never for JSON lines or lines
/// that no next line continues, once for the first that might.
#[test]
fn the_builtin_rules_compile_on_first_need() {
    let r = Rules::builtin();
    let compiled = |r: &Rules| r.builtin.as_ref().is_some_and(|b| b.get().is_some());
    r.group(
        "/g",
        &["{\"a\":1}", "{\"b\":2}", "INFO a", "INFO b", "GET /x 200"],
    );
    assert!(!compiled(&r));
    r.group("/g", &["java.lang.Error: x", "\tat a.B.c(B.java:1)"]);
    assert!(compiled(&r));
}

#[test]
fn joins_are_the_records_not_alone() {
    let lines: Vec<&str> = JAVA.lines().collect();
    let r = Rules::builtin();
    let all = r.group("/ecs/app", &lines);
    let joins = r.joins("/ecs/app", &lines);
    let not_single: Vec<Record> = all.into_iter().filter(|g| g.kind != Kind::Single).collect();
    assert_eq!(joins, not_single);
    assert_eq!(
        joins,
        [Record {
            start: 1,
            len: 10,
            kind: Kind::Joined
        }]
    );
    assert!(r.joins("/ecs/app", &["a", "b", "{\"x\":1}"]).is_empty());
}

/// The example of every runtime's trace (`examples/stack-traces.log`, shapes from the runtimes' documentation
/// and public bug reports), read as `logpipe replay` reads it: a line's leading time is its event's, and
/// blank lines are skipped, as the replay and the awslogs driver skip them.
#[test]
fn the_examples_traces_are_one_record_each() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/stack-traces.log"
    ))
    .unwrap();
    let strip = |l: &'static str| -> &'static str {
        match l.split_once(' ') {
            Some((t, m)) if crate::base::time::parse_rfc3339_ms(t).is_some() => m,
            _ => l,
        }
    };
    let example: &'static str = Box::leak(example.into_boxed_str());
    for skip_blank in [true, false] {
        let messages: Vec<&str> = example
            .lines()
            .filter(|l| !skip_blank || !l.trim().is_empty())
            .map(strip)
            .collect();
        let joined: Vec<(&str, usize)> = Rules::builtin()
            .group("/ecs/app", &messages)
            .into_iter()
            .filter(|r| r.len > 1)
            .map(|r| (messages[r.start], r.len))
            .collect();
        let blank = |n: usize| if skip_blank { 0 } else { n };
        assert_eq!(
            joined,
            [
                ("org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection", 8),
                ("Traceback (most recent call last):", 13 + blank(2)),
                ("panic: runtime error: invalid memory address or nil pointer dereference", 8 + blank(1)),
                ("TypeError: Cannot read properties of undefined (reading 'id')", 5),
                ("Unhandled exception. System.InvalidOperationException: The order could not be saved.", 8),
            ],
            "blank lines skipped: {skip_blank}"
        );
    }
}

/// Lines of every kind the rules look at: trace lines of each runtime, JSON, ordinary and indented lines.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("java.lang.IllegalStateException: boom".to_string()),
        Just("\tat com.example.A.b(A.java:1)".to_string()),
        Just("Caused by: java.io.IOException: x".to_string()),
        Just("\t... 3 more".to_string()),
        Just("Traceback (most recent call last):".to_string()),
        Just("  File \"x.py\", line 1, in f".to_string()),
        Just("ValueError: bad".to_string()),
        Just("panic: boom".to_string()),
        Just("goroutine 1 [running]:".to_string()),
        Just("main.main()".to_string()),
        Just("\t/app/main.go:20 +0x1d".to_string()),
        Just("TypeError: x".to_string()),
        Just("    at f (/a.js:1:2)".to_string()),
        Just("{\"a\":1}".to_string()),
        Just(String::new()),
        "[ a-zA-Z0-9:{}.\t]{0,30}",
    ]
}

proptest! {
    /// Any `MULTILINE_RULES` text is read or refused with a reason, never a panic; rules read join within
    /// their caps.
    #[test]
    fn any_rules_text_reads_or_is_refused(
        text in prop_oneof![
            ".{0,120}",
            r#"\[\{"log_group": ?"[/a-z*]{0,8}", ?"pattern": ?"[\^a-z\\\[\]\(\)+*.]{0,10}"(, ?"negate": ?(true|false))?(, ?"match": ?"(after|before|x)")?(, ?"max_lines": ?[0-9]{1,3})?\}\]"#,
        ],
        lines in proptest::collection::vec(line(), 0..20),
    ) {
        match parse_rules(&text) {
            Ok(rules) => {
                let r = Rules::with(rules);
                let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
                let total: usize = r.group("/a", &refs).iter().map(|g| g.len).sum();
                prop_assert_eq!(total, refs.len());
            }
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    /// Lines fed one at a time, the complete records taken off the front each time: every line once, in
    /// order, within the caps, JSON never joined; and, while no record reaches a cap, the records of the
    /// whole run (no blank lines: the framing reader skips them).
    #[test]
    fn settled_records_of_a_stream_are_the_records_of_the_whole(
        lines in proptest::collection::vec(line().prop_filter("not blank", |l| !l.trim().is_empty()), 0..60),
        max_lines in 2usize..12,
    ) {
        let capped = |max_lines: usize| {
            let mut r = Rules::with(vec![Rule::parse(r"/cfg pattern=^\s negate match=after").unwrap()]);
            r.set_caps(Caps { max_lines, ..Caps::default() });
            r
        };
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        for (r, exact) in [(capped(max_lines), false), (capped(1000), true)] {
            for group in ["/cfg", "/other"] {
                let whole = r.group(group, &refs);
                let (mut got, mut start, mut from) = (Vec::new(), 0, Held::RunStart);
                for end in 1..=refs.len() + 1 {
                    let done = end > refs.len();
                    let held = &refs[start..end.min(refs.len())];
                    let (settled, next) = r.settled(group, held, from, done);
                    from = next;
                    let taken: usize = settled.iter().map(|g| g.len).sum();
                    got.extend(settled.into_iter().map(|g| Record { start: g.start + start, ..g }));
                    start += taken;
                }
                let mut next = 0;
                for g in &got {
                    prop_assert_eq!(g.start, next);
                    prop_assert!(g.len >= 1 && g.len <= r.caps.max_lines);
                    next += g.len;
                }
                prop_assert_eq!(next, refs.len());
                if exact {
                    prop_assert_eq!(got, whole);
                }
            }
        }
    }

    /// The gates (byte comparisons before any pattern runs) only save work: with every built-in rule's
    /// gate open, the records are the same.
    #[test]
    fn the_gates_change_no_record(
        lines in proptest::collection::vec(prop_oneof![
            4 => line(),
            1 => line().prop_map(|l| format!("2026-03-01 10:00:00 ERROR x {l}")),
            1 => (line(), line()).prop_map(|(a, b)| format!("{a}\n{b}")),
            1 => line().prop_map(|l| format!("{l}  ")),
        ], 0..40),
    ) {
        let gated = Rules::builtin();
        let mut open = Rules::builtin();
        let b = open.builtin_mut();
        b.any_open = true;
        for r in &mut b.rules {
            r.gate = Gate::Open;
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        prop_assert_eq!(gated.group("/g", &refs), open.group("/g", &refs));
        // The orphan gate: every line an orphan pattern takes begins as a continuation does.
        let orphan = &gated.compiled().unwrap().orphan;
        for l in &refs {
            prop_assert!(!orphan.is_match(l) || continues_exception(l), "{:?}", l);
        }
    }

    /// Every line is in exactly one record, in order; records respect the caps (a line longer than the
    /// byte cap alone excepted); a JSON line is always alone.
    #[test]
    fn every_line_once_in_order_within_the_caps(
        lines in proptest::collection::vec(line(), 0..60),
        max_lines in 1usize..8,
        max_bytes in 1usize..200,
    ) {
        let mut r = Rules::with(vec![Rule::parse(r"/cfg pattern=^\s negate match=after").unwrap()]);
        r.set_caps(Caps { max_lines, max_bytes });
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        for group in ["/cfg", "/other"] {
            let recs = r.group(group, &refs);
            let joins: Vec<Record> = recs.iter().copied().filter(|g| g.kind != Kind::Single).collect();
            prop_assert_eq!(r.joins(group, &refs), joins);
            let mut next = 0;
            for rec in &recs {
                prop_assert_eq!(rec.start, next);
                prop_assert!(rec.len >= 1 && rec.len <= max_lines);
                let bytes = refs[rec.start..rec.start + rec.len].iter().map(|l| l.len()).sum::<usize>() + rec.len - 1;
                prop_assert!(bytes <= max_bytes || rec.len == 1);
                if rec.len > 1 {
                    prop_assert!(refs[rec.start..rec.start + rec.len].iter().all(|l| !is_json(l)));
                }
                next += rec.len;
            }
            prop_assert_eq!(next, refs.len());
        }
    }
}

/// The false-join rate: on the repository's example log (a real mix: JSON, access and plain lines, one Java
/// trace) only the trace is joined; on 100,000 generated ordinary lines — JSON, access logs, level-prefixed
/// text, indented continuation-like prose (`  at most…`, `  key: value`, tab-indented tables), `Error:`
/// messages without a stack — none is.
#[test]
fn false_joins_on_ordinary_logs_are_none() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/app.log"
    ))
    .unwrap();
    // The example's lines are `TIME MESSAGE` when they start with a time: the message is what a stream holds.
    let messages: Vec<&str> = example
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((t, m)) if crate::base::time::parse_rfc3339_ms(t).is_some() => m,
            _ => l,
        })
        .collect();
    let joined: Vec<Record> = Rules::builtin()
        .group("/ecs/app", &messages)
        .into_iter()
        .filter(|r| r.len > 1)
        .collect();
    assert_eq!(joined.len(), 1, "{joined:?}");
    assert!(messages[joined[0].start].starts_with("java.lang.IllegalStateException"));
    assert_eq!(joined[0].len, 3);

    let mut rng = fastrand::Rng::with_seed(7);
    let ordinary: Vec<String> = (0..100_000)
        .map(|i| match rng.u8(..8) {
            0 => format!(r#"{{"level":"info","msg":"request {i}","path":"/api/v1/orders/{i}"}}"#),
            1 => format!(
                "10.0.0.{} - - [21/Nov/2025:10:00:06 +0000] \"GET /a/{i} HTTP/1.1\" 200 {}",
                i % 255,
                i * 7
            ),
            2 => format!(
                "2026-03-01T10:00:00Z INFO worker-{} finished job {i}",
                i % 8
            ),
            3 => format!("  at most {} retries, then give up", i % 5),
            4 => format!("  key{}: value {i}", i % 3),
            5 => format!("\tcolumn {}\t{}", i % 9, i),
            6 => format!("Error: file /tmp/{i} not found"),
            _ => format!("WARN: queue depth {i}"),
        })
        .collect();
    let refs: Vec<&str> = ordinary.iter().map(String::as_str).collect();
    let false_joins: usize = Rules::builtin()
        .group("/ecs/app", &refs)
        .iter()
        .filter(|r| r.len > 1)
        .map(|r| r.len)
        .sum();
    assert_eq!(false_joins, 0, "lines joined in ordinary logs");
}
