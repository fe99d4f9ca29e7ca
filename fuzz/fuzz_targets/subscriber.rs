//! The log subscriber's parsers on arbitrary bytes: the EventBridge event reader, the rules reader, the
//! account policies' selection criteria and the planner. Never a panic; a plan never touches a filter the
//! rules do not name, nor adds past two filters, nor adds one an account policy makes redundant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use log_subscriber::config::parse_rules;
use log_subscriber::{parse_selection, plan, target_of, AccountPolicy, Config, Filter, Mode, Step};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = target_of(&v);
    }
    // Any text as selection criteria; the names it reads, written again, read back the same.
    if let Ok(names) = parse_selection(&text) {
        let again = format!("LogGroupName NOT IN {}", serde_json::to_string(&names).expect("names serialize"));
        assert_eq!(parse_selection(&again).expect("written criteria read"), names);
    }
    // First line: a log group and the names of its filters; the rest: the rules.
    let (head, rules) = text.split_once('\n').unwrap_or(("/g", &text));
    let Ok(rules) = parse_rules(rules) else { return };
    let cfg = Config::new(rules);
    let mut names = head.split(' ');
    let group = names.next().unwrap_or("/g");
    let existing: Vec<Filter> = names
        .take(2)
        .map(|n| Filter {
            name: n.to_string(),
            destination_arn: "arn:aws:lambda:r:1:function:f".into(),
            filter_pattern: String::new(),
            role_arn: None,
        })
        .collect();
    // With and without a policy delivering to the first rule's destination (leaving out the group when the
    // input's length is odd).
    let policy = cfg.rules.first().map(|r| AccountPolicy {
        name: "p".into(),
        destination_arn: r.destination_arn.clone(),
        filter_pattern: String::new(),
        excluded: if data.len() % 2 == 1 { vec![group.to_string()] } else { Vec::new() },
    });
    let policies: Vec<AccountPolicy> = policy.into_iter().collect();
    for (mode, policies) in [(Mode::Apply, &[][..]), (Mode::Remove, &[][..]), (Mode::Apply, &policies[..])] {
        let mut count = existing.len();
        for step in plan(group, &existing, &cfg, mode, policies) {
            let ours = |n: &str| cfg.rules.iter().any(|r| r.filter_name == n);
            match step {
                Step::Create(f) => {
                    assert!(ours(&f.name));
                    assert!(!policies.iter().any(|p| p.covers(group, &f)), "a filter the policy makes redundant");
                    count += 1;
                }
                Step::Update(f) => assert!(ours(&f.name)),
                Step::Remove(n) => assert!(ours(&n)),
                Step::UpToDate(n) => assert!(ours(&n)),
                Step::Conflict { .. } => {}
                Step::Covered { filter, .. } => assert!(ours(&filter) && !policies.is_empty()),
            }
        }
        assert!(count <= existing.len().max(2));
    }
});
