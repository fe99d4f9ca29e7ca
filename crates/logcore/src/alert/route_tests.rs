//! Routing: which destinations a log group's messages go to, whom they mention (configuration only), and
//! what is refused.

use super::slack::{self, Format};
use super::*;
use proptest::prelude::*;

const RULES: &str = r#"[
  {"log_groups": ["/ecs/pay*"], "levels": "ERROR,FATAL", "destinations": ["payments", "default"],
   "mention": ["<@U0PAYLEAD>"]},
  {"log_groups": ["/ecs/batch"], "levels": "WARN,ERROR"},
  {"name": "pay-silent", "kind": "absence", "log_groups": ["/ecs/pay-api"], "minutes": 30,
   "destinations": ["oncall"]}
]"#;

fn rules() -> Rules {
    let mut r = Rules::new(
        "",
        "",
        DEFAULT_LEVELS,
        Some(DEFAULT_PATTERN),
        None,
        Some(RULES),
    )
    .unwrap();
    r.set_level_mentions(r#"{"fatal": ["<!subteam^S0ONCALL>"], "CRITICAL": ["<!here>"]}"#)
        .unwrap();
    r
}

fn alert(group: &str, message: &str) -> AlertEvent {
    AlertEvent {
        log_group: group.into(),
        log_stream: "s".into(),
        account: "123456789012".into(),
        region: Some("eu-west-1".into()),
        timestamp_ms: 1_763_719_200_000,
        id: "1".into(),
        message: message.into(),
    }
}

#[test]
fn a_rule_routes_its_groups_and_the_rest_go_to_the_default() {
    let r = rules();
    let pay = r.route("/ecs/pay-api");
    assert_eq!(pay.destinations, ["payments", "default"]);
    assert_eq!(pay.mention, ["<@U0PAYLEAD>"]);
    assert_eq!(r.route("/ecs/batch").destinations, [DEFAULT_DESTINATION]);
    assert_eq!(*r.route("/ecs/other"), Route::default());
    assert_eq!(
        r.destinations().into_iter().collect::<Vec<_>>(),
        ["default", "oncall", "payments"]
    );
    assert_eq!(r.watches[0].destinations, ["oncall"]);
}

#[test]
fn mentions_come_from_the_rule_and_the_levels_present_once_each() {
    let r = rules();
    let pay = r.route("/ecs/pay-api");
    assert_eq!(r.mentions(pay, &["ERROR"]), ["<@U0PAYLEAD>"]);
    assert_eq!(
        r.mentions(pay, &["FATAL", "ERROR"]),
        ["<@U0PAYLEAD>", "<!subteam^S0ONCALL>"]
    );
    let other = r.route("/ecs/other");
    // Levels' mentions in the configuration's order of level names.
    assert_eq!(
        r.mentions(other, &["FATAL", "CRITICAL"]),
        ["<!here>", "<!subteam^S0ONCALL>"]
    );
    assert!(r.mentions(other, &["ERROR"]).is_empty());
}

#[test]
fn bad_routes_and_mentions_are_refused_with_the_rule() {
    let each = |extra: &str| {
        Rules::new(
            "",
            "",
            DEFAULT_LEVELS,
            None,
            None,
            Some(&format!(r#"[{{"log_groups": ["/a"]{extra}}}]"#)),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    assert_eq!(each(r#", "destinations": ["team-a"]"#), Ok(()));
    let e = each(r#", "destinations": []"#).unwrap_err();
    assert!(
        e.contains("rule #1") && e.contains("destinations is empty"),
        "{e}"
    );
    let e = each(r#", "destinations": ["Team A"]"#).unwrap_err();
    assert!(e.contains("\"Team A\""), "{e}");
    let e = each(r#", "mention": ["@here"]"#).unwrap_err();
    assert!(e.contains("mention \"@here\""), "{e}");
    let e = watch::parse(
        r#"[{"name": "x", "kind": "absence", "log_groups": ["/a"], "minutes": 5, "destinations": ["../etc"]}]"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("rule \"x\"") && e.contains("../etc"), "{e}");
    let mut r = rules();
    assert!(r.set_level_mentions(r#"{"LOUD": ["<!here>"]}"#).is_err());
    let e = r
        .set_level_mentions(r#"{"ERROR": ["<!everyone>"]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("<!everyone>"), "{e}");
    r.set_level_mentions("").unwrap();
    assert!(r.level_mentions.is_empty());
}

#[test]
fn a_group_keeps_the_levels_of_its_alerts() {
    let mut g = Grouper::new(5);
    for m in ["FATAL boom", "ERROR a", "ERROR b", "java.lang.Exception"] {
        let e = alert("/ecs/pay-api", m);
        let fp = fingerprint(&e.log_group, &e.message);
        g.add(e, fp, false);
    }
    let repeat = alert("/ecs/pay-api", "CRITICAL repeated");
    let fp = fingerprint(&repeat.log_group, &repeat.message);
    g.add(repeat, fp, true);
    let group = g.finish().0.remove(0);
    assert_eq!(group.levels, ["FATAL", "ERROR"], "repeats bring no mention");
}

#[test]
fn configured_mentions_ping_and_log_text_still_cannot() {
    let mut g = Grouper::new(5);
    let e = alert("/ecs/pay-api", "FATAL <!channel> <@U0ATTACKER> down");
    let fp = fingerprint(&e.log_group, &e.message);
    g.add(e, fp, false);
    let group = g.finish().0.remove(0);
    let who = vec![
        "<@U0PAYLEAD>".to_string(),
        "<!subteam^S0ONCALL>".to_string(),
    ];
    let mut m = slack::message(&group, &Format::default());
    slack::mention(&mut m, &who);
    assert!(m["text"]
        .as_str()
        .unwrap()
        .starts_with("<@U0PAYLEAD> <!subteam^S0ONCALL> "));
    assert_eq!(
        m["blocks"][1]["elements"][0]["text"],
        "<@U0PAYLEAD> <!subteam^S0ONCALL>"
    );
    assert_eq!(slack::validate_mentioning(&m, &who), Ok(()));
    // Without the configuration, the same message is refused: a mention must come from it.
    assert!(slack::validate(&m).is_err());
    let text = m.to_string();
    assert!(
        text.contains("&lt;!channel&gt;") && text.contains("&lt;@U0ATTACKER&gt;"),
        "{text}"
    );
}

proptest! {
    /// Whatever the log says, a message with configured mentions mentions exactly those.
    #[test]
    fn only_configured_mentions_survive(message in ".{0,300}", n in 0usize..3) {
        let mut g = Grouper::new(5);
        let e = alert("/ecs/pay-api", &format!("ERROR {message}"));
        let fp = fingerprint(&e.log_group, &e.message);
        g.add(e, fp, false);
        let group = g.finish().0.remove(0);
        let who: Vec<String> = ["<@U0PAYLEAD>", "<!here>", "<!subteam^S0ONCALL>"][..n]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut m = slack::message(&group, &Format::default());
        slack::mention(&mut m, &who);
        prop_assert_eq!(slack::validate_mentioning(&m, &who), Ok(()));
    }
}
