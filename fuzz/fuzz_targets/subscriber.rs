//! The log subscriber's parsers on arbitrary bytes: the EventBridge event reader, the rules reader and the
//! planner. Never a panic; a plan never touches a filter the rules do not name, nor adds past two filters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use log_subscriber::config::parse_rules;
use log_subscriber::{plan, target_of, Config, Filter, Mode, Step};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = target_of(&v);
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
    for mode in [Mode::Apply, Mode::Remove] {
        let mut count = existing.len();
        for step in plan(group, &existing, &cfg, mode) {
            let ours = |n: &str| cfg.rules.iter().any(|r| r.filter_name == n);
            match step {
                Step::Create(f) => {
                    assert!(ours(&f.name));
                    count += 1;
                }
                Step::Update(f) => assert!(ours(&f.name)),
                Step::Remove(n) => assert!(ours(&n)),
                Step::UpToDate(n) => assert!(ours(&n)),
                Step::Conflict { .. } => {}
            }
        }
        assert!(count <= existing.len().max(2));
    }
});
