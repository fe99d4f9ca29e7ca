use super::*;
use crate::logs::document::JsonLimits;
use crate::logs::framing::Framer;
use proptest::prelude::*;
use serde_json::Value;

fn src() -> Origin {
    Origin::new(
        "logs",
        "app/2026/11/21/x.gz",
        "v1",
        "2026-11-21T10:00:00.000Z",
    )
}

/// Frame `input` and build a batch; returns the batch and each unit's outcome.
fn build(input: &str) -> (Batch, Vec<UnitOutcome>) {
    let mut f = Framer::new(input.as_bytes(), 1 << 16);
    let mut b = DocBuilder::new(IndexTemplate::per_group(), JsonLimits::default());
    let mut batch = Batch::default();
    let mut outcomes = Vec::new();
    while let Some(u) = f.next_unit().unwrap() {
        outcomes.push(b.add(&u, &src(), &mut batch));
    }
    (batch, outcomes)
}

fn entries(batch: &Batch) -> Vec<(Value, Value)> {
    batch
        .items
        .iter()
        .map(|i| {
            (
                serde_json::from_slice(batch.action(i)).unwrap(),
                serde_json::from_slice(batch.doc(i)).unwrap(),
            )
        })
        .collect()
}

#[test]
fn our_documents_are_indexed_as_they_are() {
    let doc = r#"{"@timestamp":"2026-11-20T23:59:59.999Z","message":"hi","event":{"id":"375164445945"},"log":{"group":"/aws/lambda/Checkout API","stream":"s"}}"#;
    let no_id = r#"{"@timestamp":"2026-11-21T01:00:00Z","message":"x"}"#;
    let (batch, outcomes) = build(&format!("{doc}\n{no_id}\n"));
    assert_eq!(outcomes, [UnitOutcome::AsIs, UnitOutcome::AsIs]);
    let e = entries(&batch);
    assert_eq!(
        e[0].0,
        serde_json::json!({"create":{"_index":"logs-aws-lambda-checkout-api-2026.11.20","_id":"375164445945"}})
    );
    assert_eq!(batch.doc(&batch.items[0]), doc.as_bytes());
    assert_eq!(e[1].0["create"]["_index"], "logs-unknown-2026.11.21");
    let id = e[1].0["create"]["_id"].as_str().unwrap();
    assert_eq!(id, src().derived_id(doc.len() as u64 + 1));
    assert_eq!(id.len(), 40);
    // The body is valid NDJSON for _bulk: action, document, action, document.
    assert_eq!(batch.body.iter().filter(|&&b| b == b'\n').count(), 4);
}

#[test]
fn other_json_text_and_broken_json_are_wrapped() {
    let (batch, outcomes) = build(
        "{\"level\":\"error\",\"msg\":\"boom\"}\njust text\n{\"broken\":\n{\"a\":1}{\"b\":2}\n",
    );
    assert_eq!(
        outcomes,
        [
            UnitOutcome::Wrapped,
            UnitOutcome::Text,
            UnitOutcome::Text,
            UnitOutcome::Wrapped,
            UnitOutcome::Wrapped
        ]
    );
    let e = entries(&batch);
    let d = &e[0].1;
    assert_eq!(d["@timestamp"], "2026-11-21T10:00:00.000Z");
    assert_eq!(d["json"]["level"], "error");
    assert_eq!(d["message"], "{\"level\":\"error\",\"msg\":\"boom\"}");
    assert_eq!(d["log"]["file"]["path"], "s3://logs/app/2026/11/21/x.gz");
    assert_eq!(d["log"]["offset"], 0);
    assert_eq!(e[1].1["message"], "just text");
    assert!(e[1].1.get("json").is_none());
    assert!(e[2].1["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("not valid JSON"));
    assert_eq!(e[3].1["json"]["a"], 1);
    assert_eq!(e[4].1["json"]["b"], 2);
    assert_eq!(e[0].0["create"]["_index"], "logs-unknown-2026.11.21");
    // Every id differs (offsets differ).
    let ids: std::collections::BTreeSet<_> = e
        .iter()
        .map(|(a, _)| a["create"]["_id"].to_string())
        .collect();
    assert_eq!(ids.len(), 5);
}

#[test]
fn unindexable_units_are_dead_letters() {
    let mut b = DocBuilder::new(IndexTemplate::per_group(), JsonLimits::default());
    let mut batch = Batch::default();
    let bad = b"caf\xe9 au lait\n".to_vec();
    let mut f = Framer::new(&bad[..], 1 << 16);
    let u = f.next_unit().unwrap().unwrap();
    let UnitOutcome::DeadLetter(reason) = b.add(&u, &src(), &mut batch) else {
        panic!("dead letter")
    };
    assert!(
        reason.contains("UTF-8") && reason.contains("offset 3"),
        "{reason}"
    );
    let mut out = Vec::new();
    DeadLetter {
        src: &src(),
        offset: u.offset,
        len: u.len,
        reason: &reason,
        status: None,
        error_type: None,
        action: None,
        data: u.bytes,
    }
    .write(&mut out);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["source"]["key"], "app/2026/11/21/x.gz");
    assert_eq!(
        crate::base::codec::decode_base64(v["base64"].as_str().unwrap().as_bytes()).unwrap(),
        b"caf\xe9 au lait"
    );

    let long = "y".repeat(100);
    let mut f = Framer::new(long.as_bytes(), 10);
    let u = f.next_unit().unwrap().unwrap();
    let UnitOutcome::DeadLetter(reason) = b.add(&u, &src(), &mut batch) else {
        panic!("dead letter")
    };
    assert!(reason.contains("100 bytes"), "{reason}");
    assert!(batch.is_empty());
}

#[test]
fn index_templates() {
    let mut out = String::new();
    let t: IndexTemplate = "app-{log.group}-{log.stream}-%Y.%m.%d.%H".parse().unwrap();
    t.render(
        Some("//ECS//api__x"),
        Some("a b"),
        "2026-01-02T03:04:05Z",
        &mut out,
    );
    assert_eq!(out, "app-ecs-api__x-a-b-2026.01.02.03");
    let ds: IndexTemplate = "logs-app".parse().unwrap();
    ds.render(None, None, "garbage", &mut out);
    assert_eq!(out, "logs-app");
    // The pattern that finds every index a template renders (the canary and `logpipe trace`).
    assert_eq!(t.wildcard(), "app-*-*-*.*.*.*");
    assert_eq!(ds.wildcard(), "logs-app");
    let adjacent: IndexTemplate = "x{log.group}%Y".parse().unwrap();
    assert_eq!(adjacent.wildcard(), "x*");
    for (bad, why) in [
        ("Logs", "not allowed"),
        ("-x", "must not start"),
        ("x-%Q", "unknown %Q"),
        ("x-{group}", "unknown placeholder"),
        ("", "empty"),
        ("a b", "not allowed"),
    ] {
        let err = bad.parse::<IndexTemplate>().unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
    }
    // Long groups are cut to the 255-byte limit, the date kept whole.
    IndexTemplate::per_group().render(Some(&"g".repeat(400)), None, "2026-01-02T03", &mut out);
    assert_eq!(out.len(), 255);
    assert!(out.ends_with("-2026.01.02"), "{out}");
    assert!(out.starts_with("logs-gggg"), "{out}");
}

#[test]
fn separated_groups_get_indices_of_their_own() {
    let sep = SeparateGroups::parse("/ecs/payments=365,/aws/rds/cluster/*/audit").unwrap();
    let mut b = DocBuilder::new(IndexTemplate::default(), JsonLimits::default());
    b.separate = sep.clone();
    let mut batch = Batch::default();
    let mut text = String::new();
    for g in ["/ecs/payments", "/ecs/api", "/aws/rds/cluster/shop/audit"] {
        text.push_str(&format!(
            r#"{{"@timestamp":"2026-12-01T10:00:00Z","message":"m","log":{{"group":"{g}"}}}}"#
        ));
        text.push('\n');
    }
    let mut f = Framer::new(text.as_bytes(), 1 << 20);
    while let Some(u) = f.next_unit().unwrap() {
        b.add(&u, &src(), &mut batch);
    }
    let names: Vec<String> = batch
        .items
        .iter()
        .map(|i| {
            serde_json::from_slice::<Value>(batch.action(i)).unwrap()["create"]["_index"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        [
            "logs-group-ecs-payments-2026.12.01",
            "logs-app-2026.12.01",
            "logs-group-aws-rds-cluster-shop-audit-2026.12.01"
        ]
    );
    // The patterns the templates and retention policies use match those names.
    let patterns = sep.patterns();
    assert_eq!(
        patterns[0],
        (Some(365), vec!["logs-group-ecs-payments-*".to_string()])
    );
    assert_eq!(
        patterns[1],
        (None, vec!["logs-group-aws-rds-cluster*audit-*".to_string()])
    );
    let matches = |p: &str, name: &str| crate::logs::glob::GroupGlob::new(p).matches(name);
    assert!(matches(&patterns[0].1[0], &names[0]) && !matches(&patterns[0].1[0], &names[1]));
    assert!(matches(&patterns[1].1[0], &names[2]));
    for bad in ["/a=0", "=5", "/a=x"] {
        assert!(SeparateGroups::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn restore_labels_prefix_every_index_and_nothing_else() {
    let prefix = restore_prefix("restore-", "march-2026").unwrap();
    assert_eq!(prefix, "restore-march-2026-");
    let sep = SeparateGroups::parse("/ecs/payments=365").unwrap();
    let mut b = DocBuilder::new(
        IndexTemplate::default().prefixed(&prefix).unwrap(),
        JsonLimits::default(),
    );
    b.separate = sep.prefixed(&prefix).unwrap();
    let mut batch = Batch::default();
    let text = concat!(
        r#"{"@timestamp":"2026-03-01T10:00:00Z","message":"m","log":{"group":"/ecs/payments"},"event":{"id":"1"}}"#,
        "\n",
        r#"{"@timestamp":"2026-03-01T10:00:00Z","message":"m","log":{"group":"/ecs/api"},"event":{"id":"2"}}"#,
        "\nplain text\n"
    );
    let mut f = Framer::new(text.as_bytes(), 1 << 20);
    while let Some(u) = f.next_unit().unwrap() {
        b.add(&u, &src(), &mut batch);
    }
    let got: Vec<(String, String)> = entries(&batch)
        .into_iter()
        .map(|(a, _)| {
            (
                a["create"]["_index"].as_str().unwrap().to_string(),
                a["create"]["_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got[0].0,
        "restore-march-2026-logs-group-ecs-payments-2026.03.01"
    );
    assert_eq!(got[1].0, "restore-march-2026-logs-app-2026.03.01");
    assert_eq!(got[2].0, "restore-march-2026-logs-app-2026.11.21");
    // The ids are the live documents' own: a restore holds the same documents under other names.
    assert_eq!((got[0].1.as_str(), got[1].1.as_str()), ("1", "2"));
    assert_eq!(
        got[2].1,
        src().derived_id(text.find("plain").unwrap() as u64)
    );
    assert_eq!(
        IndexTemplate::per_group().to_string(),
        "logs-{log.group}-%Y.%m.%d"
    );
    for bad in ["", "-x", "March", "a_b", "a/b", &"x".repeat(33)] {
        let e = restore_prefix("restore-", bad).unwrap_err();
        assert!(e.contains("restore label"), "{bad}: {e}");
    }
    // A prefix no index name may start with, or that leaves no room, is refused by the template.
    assert!(IndexTemplate::default().prefixed("_r-").is_err());
    assert!(IndexTemplate::default().prefixed(&"r".repeat(250)).is_err());
}

#[test]
fn index_names_the_engines_accept() {
    let t = IndexTemplate::per_group();
    let mut out = String::new();
    // Upper case beyond ASCII is lowered too (the engines refuse `É`).
    t.render(Some("/Équipe/Grüne-Logs"), None, "2026-01-02T03", &mut out);
    assert_eq!(out, "logs-équipe-grüne-logs-2026.01.02");
    check_index_name(&out).unwrap();
    // A group of 500 characters (CloudWatch Logs allows 512): the date stays, and two groups that differ
    // only past the cut get different indices.
    let a = format!("/aws/{}/a", "x".repeat(495));
    let b = format!("/aws/{}/b", "x".repeat(495));
    let (mut ia, mut ib) = (String::new(), String::new());
    t.render(Some(&a), None, "2026-01-02T03", &mut ia);
    t.render(Some(&b), None, "2026-01-02T03", &mut ib);
    assert!(ia.len() <= 255 && ia.ends_with("-2026.01.02"), "{ia}");
    assert_ne!(ia, ib);
    check_index_name(&ia).unwrap();
    // Multi-byte text is cut on a character boundary.
    t.render(Some(&"é".repeat(300)), None, "2026-01-02T03", &mut out);
    assert!(out.len() <= 255 && out.ends_with("-2026.01.02"), "{out}");
    // A placeholder at the start never begins the name with `_`, `.` or `-`, nor makes it `.` or `..`.
    let bare: IndexTemplate = "{log.group}".parse().unwrap();
    for (group, want) in [
        ("_private", "private"),
        ("..", "unknown"),
        (".", "unknown"),
        ("+x", "x"),
    ] {
        bare.render(Some(group), None, "2026-01-02T03", &mut out);
        assert_eq!(out, want, "{group}");
    }
    // Templates: upper case in any script is refused, and one that leaves no room for its placeholders.
    assert!("logs-É-%Y"
        .parse::<IndexTemplate>()
        .unwrap_err()
        .contains("not allowed"));
    let long = format!("{}-{{log.group}}", "l".repeat(250));
    assert!(long
        .parse::<IndexTemplate>()
        .unwrap_err()
        .contains("too long"));
    for (bad, rule) in [
        ("", "1 to 255"),
        ("..", "not allowed"),
        ("_x", "must not start"),
        ("a:b", "':'"),
        ("aÉ", "lower case"),
    ] {
        assert!(check_index_name(bad).unwrap_err().contains(rule), "{bad}");
    }
}

proptest! {
    /// Any text as group and stream renders to a name the engines accept, ending in the date.
    #[test]
    fn any_group_renders_a_valid_name(group in ".{0,600}", stream in "\\PC{0,300}", hour in 0u32..24) {
        let date = format!("2026-03-04T{hour:02}");
        let mut out = String::new();
        for t in ["logs-{log.group}-%Y.%m.%d", "{log.group}-{log.stream}-%Y.%m.%d.%H", "{log.stream}"] {
            let t: IndexTemplate = t.parse().unwrap();
            t.render(Some(&group), Some(&stream), &date, &mut out);
            prop_assert!(check_index_name(&out).is_ok(), "{:?}: {:?}", out, check_index_name(&out));
        }
        IndexTemplate::per_group().render(Some(&group), None, &date, &mut out);
        prop_assert!(out.ends_with("-2026.03.04"), "{}", out);
        prop_assert!(out.starts_with("logs-"), "{}", out);
    }

    /// The builder keeps the last index name while group, stream and hour stay the same: whatever the order
    /// of documents, each gets the name the template renders for it alone.
    #[test]
    fn every_document_gets_its_own_index(
        docs in proptest::collection::vec((0..3usize, 0..3usize, 0..3usize, any::<bool>()), 1..40)
    ) {
        let template: IndexTemplate = "app-{log.group}-{log.stream}-%Y.%m.%d.%H".parse().unwrap();
        let groups = [None, Some("/ecs/api"), Some("/ecs/web")];
        let streams = [None, Some("a"), Some("b")];
        let hours = ["2026-11-21T09:00:00Z", "2026-11-21T10:59:59Z", "2026-11-22T09:00:00Z"];
        let mut input = String::new();
        let mut expected = Vec::new();
        let mut out = String::new();
        for &(g, st, h, json) in &docs {
            if json {
                let mut log = serde_json::Map::new();
                if let Some(g) = groups[g] { log.insert("group".into(), g.into()); }
                if let Some(st) = streams[st] { log.insert("stream".into(), st.into()); }
                let doc = serde_json::json!({"@timestamp": hours[h], "message": "m", "log": log});
                input.push_str(&doc.to_string());
                template.render(groups[g], streams[st], hours[h], &mut out);
            } else {
                // Text lines: the object's fallback time, no group or stream.
                input.push_str("plain text");
                template.render(None, None, &src().fallback_timestamp, &mut out);
            }
            input.push('\n');
            expected.push(out.clone());
        }
        let mut f = Framer::new(input.as_bytes(), 1 << 16);
        let mut b = DocBuilder::new(template.clone(), JsonLimits::default());
        let mut batch = Batch::default();
        while let Some(u) = f.next_unit().unwrap() {
            b.add(&u, &src(), &mut batch);
        }
        let got: Vec<String> = entries(&batch)
            .iter()
            .map(|(a, _)| a["create"]["_index"].as_str().unwrap().to_string())
            .collect();
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn bulk_responses() {
    let body = br#"{"took":3,"errors":true,"items":[
        {"create":{"_index":"i","_id":"1","status":201}},
        {"create":{"_index":"i","_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
        {"create":{"_index":"i","_id":"3","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
        {"create":{"_index":"i","_id":"4","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]"}}},
        {"create":{"_index":"i","_id":"5","status":503,"error":"unavailable"}}]}"#;
    let got = parse_bulk_response(body, 5).unwrap();
    assert_eq!(got[0], ItemOutcome::Created);
    assert_eq!(got[1], ItemOutcome::Exists);
    assert!(
        matches!(&got[2], ItemOutcome::Retry { status: 429, reason } if reason.contains("queue full"))
    );
    assert_eq!(
        got[3],
        ItemOutcome::Rejected {
            status: 400,
            error_type: "mapper_parsing_exception".into(),
            reason: "failed to parse field [n]".into()
        }
    );
    assert!(matches!(&got[4], ItemOutcome::Retry { status: 503, .. }));
    assert!(parse_bulk_response(body, 4)
        .unwrap_err()
        .contains("5 items for 4"));
    assert!(parse_bulk_response(b"<html>", 1)
        .unwrap_err()
        .contains("unreadable"));
}

#[test]
fn bulk_responses_without_errors_take_the_short_path_only_when_whole() {
    let ok = br#"{"took":1,"errors":false,"items":[{"create":{"_id":"1","status":201}},{"create":{"_id":"2","status":201}}]}"#;
    assert_eq!(
        parse_bulk_response(ok, 2).unwrap(),
        vec![ItemOutcome::Created; 2]
    );
    // The count is still checked.
    assert!(parse_bulk_response(ok, 3)
        .unwrap_err()
        .contains("2 items for 3"));
    // Without the flag, every item is read.
    let no_flag =
        br#"{"items":[{"create":{"status":201}},{"create":{"status":429,"error":"busy"}}]}"#;
    assert!(matches!(
        parse_bulk_response(no_flag, 2).unwrap()[1],
        ItemOutcome::Retry { status: 429, .. }
    ));
}

#[test]
fn subsets_keep_entries_intact() {
    let (batch, _) = build("a\nb\nc\n");
    let sub = batch.subset(&[0, 2]);
    assert_eq!(sub.len(), 2);
    assert_eq!(sub.doc(&sub.items[1]), batch.doc(&batch.items[2]));
    assert_eq!(sub.action(&sub.items[0]), batch.action(&batch.items[0]));
    assert_eq!(sub.items[1].offset, 4);
}

proptest! {
    /// Whatever the lines, every unit becomes exactly one bulk entry or one dead letter, every entry is a
    /// valid action and a valid JSON object, and ids are unique.
    #[test]
    fn every_unit_is_accounted_for(lines in proptest::collection::vec("\\PC{0,30}", 0..30)) {
        let input = lines.join("\n");
        let mut f = Framer::new(input.as_bytes(), 1 << 16);
        let mut b = DocBuilder::new(IndexTemplate::per_group(), JsonLimits::default());
        let mut batch = Batch::default();
        let (mut units, mut dead) = (0, 0);
        while let Some(u) = f.next_unit().unwrap() {
            units += 1;
            if let UnitOutcome::DeadLetter(_) = b.add(&u, &src(), &mut batch) {
                dead += 1;
            }
        }
        prop_assert_eq!(batch.len() + dead, units);
        let mut ids = std::collections::BTreeSet::new();
        for i in &batch.items {
            let a: Value = serde_json::from_slice(batch.action(i)).unwrap();
            let d: Value = serde_json::from_slice(batch.doc(i)).unwrap();
            prop_assert!(d.is_object());
            prop_assert!(ids.insert(a["create"]["_id"].as_str().unwrap().to_string()));
        }
    }
}
