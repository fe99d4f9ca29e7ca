use super::*;
use crate::alert::tests::read_insights_link;
use crate::alert::watch::{desired, parse as parse_rules, Naming};

/// A CloudWatch alarm notification as CloudWatch writes it (display-name region, `+0000` offset).
fn notification(name: &str, description: &str, state: &str, reason: &str, dims: Value) -> String {
    json!({
        "AlarmName": name,
        "AlarmDescription": description,
        "AWSAccountId": "123456789012",
        "NewStateValue": state,
        "NewStateReason": reason,
        "StateChangeTime": "2026-12-02T10:05:00.123+0000",
        "Region": "EU - Ireland",
        "AlarmArn": format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"),
        "OldStateValue": if state == "OK" { "ALARM" } else { "OK" },
        "Trigger": {"MetricName": "m", "Namespace": "logpipe/alerts", "StatisticType": "Statistic",
            "Statistic": "SUM", "Unit": null, "Dimensions": dims, "Period": 300, "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 10.0,
            "TreatMissingData": "notBreaching", "EvaluateLowSampleCountPercentile": ""}
    })
    .to_string()
}

#[test]
fn cloudwatchs_own_formats_are_read() {
    let a = parse(&notification(
        "x",
        "d",
        "ALARM",
        "Threshold Crossed: 1 out of the last 1 datapoints [12.0 (02/12/26 10:00:00)] was greater than or equal to the threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition).",
        json!([]),
    ))
    .unwrap();
    assert_eq!(
        a.region.as_deref(),
        Some("eu-west-1"),
        "the code from the ARN, not 'EU - Ireland'"
    );
    assert_eq!(a.change_ms, Some(1_796_205_900_123));
    assert_eq!(datapoint(&a.reason), Some(12.0));
    assert_eq!(datapoint("Threshold Crossed: 1 datapoint (10.0) was greater than or equal to the threshold (1.0)."), Some(10.0));
    assert_eq!(datapoint("Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [Breaching]."), None);
    // A null description, no trigger: still an alarm.
    let b = parse(r#"{"AlarmName":"a","AlarmDescription":null,"NewStateValue":"OK"}"#).unwrap();
    assert_eq!(
        (b.description.as_str(), b.region, b.change_ms),
        ("", None, None)
    );
    // Not alarms: an S3 notification, text.
    assert!(parse(r#"{"Records":[{"s3":{}}]}"#).is_none());
    assert!(parse("hello").is_none());
}

#[test]
fn a_rules_alarm_names_rule_groups_count_and_links_the_window() {
    let rules = parse_rules(
        r#"[{"name":"checkout-errors","kind":"threshold","log_groups":["/ecs/checkout*"],"levels":"ERROR","count":10,"minutes":5}]"#,
    )
    .unwrap();
    let naming = Naming {
        prefix: "logpipe-prod-alert-".into(),
        namespace: "logpipe/alerts".into(),
        actions: vec![],
    };
    let alarm = &desired(&rules, &["/ecs/checkout-api".to_string()], &naming).alarms[0];
    let n = parse(&notification(
        &alarm.name,
        &alarm.description,
        "ALARM",
        "Threshold Crossed: 1 out of the last 1 datapoints [12.0 (02/12/26 10:00:00)] was greater than or equal to the threshold (10.0).",
        json!([]),
    ))
    .unwrap();
    let oncall = vec!["<!subteam^S0ONCALL>".to_string()];
    let m = message(&n, &rules, "us-east-1", &oncall);
    let all = m.to_string();
    assert!(all.contains("ALARM — checkout-errors"), "{all}");
    assert!(all.contains("*12* matching events in 5 min"), "{all}");
    assert!(all.contains("/ecs/checkout-api"), "{all}");
    let section = m["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        section.starts_with("<!subteam^S0ONCALL>\n"),
        "the configured mention, first: {section}"
    );
    let links = m["blocks"][3]["elements"][0]["text"].as_str().unwrap();
    let link = links.strip_prefix('<').unwrap().split('|').next().unwrap();
    let (region, fields, groups) = read_insights_link(link);
    assert_eq!(region, "eu-west-1");
    assert_eq!(groups, vec!["/ecs/checkout-api"]);
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).unwrap().1.clone();
    let ms = |k: &str| crate::base::time::parse_rfc3339_ms(&get(k)).unwrap();
    assert_eq!(
        (ms("start"), ms("end")),
        (1_796_205_900_123 - 300_000, 1_796_205_900_123)
    );
    assert!(get("editorString")
        .starts_with("# logpipe rule checkout-errors: filter pattern ?\"ERROR\""));
    assert!(get("editorString").contains("| sort @timestamp desc"));

    // Recovered: OK, no mention.
    let ok = parse(&notification(&alarm.name, &alarm.description, "OK", "Threshold Crossed: 1 datapoint [0.0 (02/12/26 10:10:00)] was not greater than or equal to the threshold (10.0).", json!([]))).unwrap();
    let m = message(&ok, &rules, "us-east-1", &oncall);
    assert!(m.to_string().contains("OK — checkout-errors"));
    assert!(!m.to_string().contains("subteam"), "mentions on ALARM only");
}

#[test]
fn a_foreign_alarm_renders_without_a_rule_and_log_text_cannot_mention() {
    let n = parse(&notification(
        "logpipe-prod-dead-letters",
        "Documents dead-lettered <!channel> @here",
        "ALARM",
        "Threshold Crossed: 1 datapoint [3.0 (02/12/26 10:00:00)] was greater than or equal to the threshold (1.0).",
        json!([{"name": "LogGroupName", "value": "/aws/lambda/fwd"}]),
    ))
    .unwrap();
    let m = message(&n, &[], "us-east-1", &[]);
    assert!(m["blocks"].as_array().unwrap().len() <= 50);
    // Every `<…>` is one of our console links.
    for t in m["blocks"].as_array().unwrap().iter().flat_map(|b| {
        [b.pointer("/text/text"), b.pointer("/elements/0/text")]
            .into_iter()
            .flatten()
    }) {
        let t = t.as_str().unwrap();
        for part in t.split('<').skip(1) {
            assert!(
                part.starts_with("https://eu-west-1.console.aws.amazon.com/"),
                "{t}"
            );
        }
    }
    let all = m.to_string();
    assert!(all.contains("ALARM — logpipe-prod-dead-letters"), "{all}");
    assert!(all.contains("&lt;!channel&gt;"), "{all}");
    assert!(!all.contains("<!channel>"), "{all}");
}
