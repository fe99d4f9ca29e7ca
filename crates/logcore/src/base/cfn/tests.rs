use super::*;
use proptest::prelude::*;
use serde_json::json;

/// A request as CloudFormation sends it (the documented example's fields).
fn create() -> Value {
    json!({
        "RequestType": "Create",
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:logpipe-alert-sync",
        "ResponseURL": "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/arn%3Aaws%3Acloudformation?X-Amz-Signature=abc",
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/logpipe-prod/5b918d10-cd98-11ea-90d5-0a9cd3354c10",
        "RequestId": "a9d07e8a-4b62-4a1c-8bd5-0cc1e2f0a1d3",
        "LogicalResourceId": "AlertSync",
        "ResourceType": "Custom::AlertSync",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:logpipe-alert-sync",
            "NamePrefix": "logpipe-prod-alert-",
            "Rules": "[]"
        }
    })
}

#[test]
fn a_create_request_parses_and_its_properties_read() {
    let r = Request::from_event(&create()).unwrap().unwrap();
    assert_eq!(r.request_type, RequestType::Create);
    assert_eq!(r.physical_resource_id, None);
    assert_eq!(r.property("NamePrefix"), Some("logpipe-prod-alert-"));
    assert_eq!(r.property("Missing"), None);
    assert!(r.response_url.starts_with("https://"));
}

#[test]
fn update_and_delete_carry_the_physical_id() {
    for kind in ["Update", "Delete"] {
        let mut e = create();
        e["RequestType"] = json!(kind);
        e["PhysicalResourceId"] = json!("logpipe-prod-alert-");
        let r = Request::from_event(&e).unwrap().unwrap();
        assert_eq!(
            r.physical_resource_id.as_deref(),
            Some("logpipe-prod-alert-")
        );
    }
}

#[test]
fn other_events_are_not_requests_and_broken_requests_say_so() {
    let schedule = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    assert!(Request::from_event(&schedule).is_none());
    let mut e = create();
    e["RequestType"] = json!("Replace");
    let err = Request::from_event(&e).unwrap().unwrap_err();
    assert!(
        err.contains("custom resource request") && err.contains("Replace"),
        "{err}"
    );
    let mut e = create();
    e.as_object_mut().unwrap().remove("ResponseURL");
    assert!(Request::from_event(&e).unwrap().is_err());
}

#[test]
fn responses_are_the_documented_object() {
    let r = Request::from_event(&create()).unwrap().unwrap();
    let ok = serde_json::to_value(r.response("logpipe-prod-alert-", None)).unwrap();
    assert_eq!(
        ok,
        json!({
            "Status": "SUCCESS",
            "PhysicalResourceId": "logpipe-prod-alert-",
            "StackId": r.stack_id,
            "RequestId": r.request_id,
            "LogicalResourceId": "AlertSync",
        })
    );
    let failed =
        serde_json::to_value(r.response("p", Some("ALERT_RULES: rule 2: no name"))).unwrap();
    assert_eq!(failed["Status"], "FAILED");
    assert_eq!(failed["Reason"], "ALERT_RULES: rule 2: no name");
}

proptest! {
    #[test]
    fn any_reason_fits_in_4096_bytes(reason in any::<String>(), long in 0usize..6000, c in any::<char>()) {
        let r = Request::from_event(&create()).unwrap().unwrap();
        let reason = format!("{reason}{}", c.to_string().repeat(long));
        let body = serde_json::to_string(&r.response("logpipe-prod-alert-", Some(&reason))).unwrap();
        prop_assert!(body.len() <= MAX_RESPONSE, "{} bytes", body.len());
        let back: Value = serde_json::from_str(&body).unwrap();
        let got = back["Reason"].as_str().unwrap();
        if got != reason {
            let kept = got.strip_suffix('…').unwrap();
            prop_assert!(reason.starts_with(kept));
        }
    }

    #[test]
    fn any_json_is_a_request_an_error_or_not_one(v in proptest::arbitrary::any::<(Option<String>, Option<String>, bool)>()) {
        let (kind, url, physical) = v;
        let mut e = create();
        match kind { Some(k) => e["RequestType"] = json!(k), None => { e.as_object_mut().unwrap().remove("RequestType"); } }
        if let Some(u) = url { e["ResponseURL"] = json!(u) }
        if physical { e["PhysicalResourceId"] = json!(7) }
        match Request::from_event(&e) {
            None => prop_assert!(e.get("RequestType").is_none()),
            Some(Ok(r)) => prop_assert!(["Create", "Update", "Delete"].contains(&e["RequestType"].as_str().unwrap()) && r.physical_resource_id.is_none() != physical),
            Some(Err(_)) => {}
        }
    }
}
