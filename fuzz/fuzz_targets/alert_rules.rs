//! `ALERT_RULES` as the notifier and the alert sync read it, on arbitrary text: never a panic; rules that
//! are accepted give filters and alarms within CloudWatch's limits, owned by the prefix, whose plan applied
//! once leaves nothing more to change; their routes name only valid destinations and mention only what
//! Slack renders as a mention, and `ALERT_MENTIONS` (the same text read as levels to mentions) likewise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logcore::alert::watch::{desired, parse, plan, Change, Existing, Naming, MAX_ALARM_NAME, MAX_DESCRIPTION, MAX_METRIC_NAME};
use logcore::alert::valid_mention;
use logcore::alert::{valid_destination, Rules};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // First line: log group names, space-separated; the rest: the rules.
    let (head, rules) = text.split_once('\n').unwrap_or(("/a /b", &text));
    if let Ok(mut r) = Rules::new("", "", "ERROR", None, None, Some(rules)) {
        for route in r.routes.iter().chain(std::iter::once(&*r.route("/a"))) {
            assert!(!route.destinations.is_empty());
            assert!(route.destinations.iter().all(|d| valid_destination(d)), "{route:?}");
            assert!(route.mention.iter().all(|m| valid_mention(m)), "{route:?}");
        }
        if r.set_level_mentions(rules).is_ok() {
            for (_, who) in &r.level_mentions {
                assert!(who.iter().all(|m| valid_mention(m)), "{who:?}");
            }
        }
    }
    let Ok(watches) = parse(rules) else { return };
    assert!(watches.iter().all(|w| w.destinations.iter().all(|d| valid_destination(d))));
    let groups: Vec<String> = head.split(' ').filter(|g| !g.is_empty()).take(50).map(|g| g.chars().take(512).collect()).collect();
    let naming = Naming { prefix: "logpipe-f-alert-".into(), namespace: "logpipe/alerts".into(), actions: Vec::new() };
    let want = desired(&watches, &groups, &naming);
    for a in &want.alarms {
        assert!(a.name.len() <= MAX_ALARM_NAME && a.name.starts_with(&naming.prefix), "{}", a.name);
        assert!(a.metric_name.len() <= MAX_METRIC_NAME && a.description.len() <= MAX_DESCRIPTION);
    }
    let mut have = Existing::default();
    for c in plan(&want, &have, &naming) {
        match c {
            Change::PutFilter(f) => have.filters.push(f),
            Change::PutAlarm(a) => have.alarms.push(a),
            other => panic!("nothing to delete from nothing: {other:?}"),
        }
    }
    assert!(plan(&want, &have, &naming).is_empty(), "a second plan changes nothing");
});
