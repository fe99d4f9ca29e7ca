//! What one `_bulk` answer means for the batch that was sent: a pure function of the answer, unit-tested on
//! canned replies (the forwarder's counterpart of the notifier's `classify`).

use std::time::Duration;

use logcore::search::bulk::{parse_bulk_response, ItemOutcome};

use crate::{CallError, Reply};

/// The verdict on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The engine answered item by item (2xx with a readable body): one outcome per document sent.
    Items(Vec<ItemOutcome>),
    /// Send every document again, after `after` when the engine said how long to wait.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// 413: the body is too large for the cluster; split it (a single document is dead-lettered).
    TooLarge,
    /// No retry will help and the documents are not at fault (authentication, authorization, a wrong URL):
    /// the object fails and is delivered again.
    Fail(String),
}

/// Read the answer to a `_bulk` request of `sent` documents (`None`: no answer within the request timeout).
pub fn classify(answer: Option<Result<Reply, CallError>>, sent: usize) -> Verdict {
    let reply = match answer {
        None => {
            return Verdict::Retry {
                reason: "no answer within the request timeout".into(),
                after: None,
            }
        }
        Some(Err(e)) if e.is_retryable() => {
            return Verdict::Retry {
                reason: e.message,
                after: None,
            }
        }
        Some(Err(e)) => return Verdict::Fail(e.message),
        Some(Ok(r)) => r,
    };
    match reply.status {
        200..=299 => match parse_bulk_response(&reply.body, sent) {
            Ok(outcomes) => Verdict::Items(outcomes),
            // A proxy's page or a body cut short: nothing says what was indexed; the ids make a resend safe.
            Err(reason) => Verdict::Retry {
                reason,
                after: None,
            },
        },
        413 => Verdict::TooLarge,
        408 | 429 | 500..=599 => Verdict::Retry {
            reason: format!("_bulk answered {}", reply.status),
            after: reply.retry_after,
        },
        status => Verdict::Fail(format!(
            "_bulk answered {status} ({})",
            String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str, after: Option<u64>) -> Option<Result<Reply, CallError>> {
        Some(Ok(Reply {
            status,
            body: body.as_bytes().to_vec(),
            retry_after: after.map(Duration::from_secs),
        }))
    }

    #[test]
    fn item_answers_are_read_per_document() {
        let body = r#"{"took":3,"errors":true,"items":[
            {"create":{"_index":"i","_id":"a","status":201,"result":"created"}},
            {"create":{"_index":"i","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[b]: version conflict"}}},
            {"create":{"_index":"i","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}},
            {"create":{"_index":"i","_id":"d","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]"}}}]}"#;
        let Verdict::Items(items) = classify(reply(200, body, None), 4) else {
            panic!("not items")
        };
        assert_eq!(items[0], ItemOutcome::Created);
        assert_eq!(items[1], ItemOutcome::Exists);
        assert!(matches!(items[2], ItemOutcome::Retry { status: 429, .. }));
        assert!(matches!(
            &items[3],
            ItemOutcome::Rejected { status: 400, error_type, .. } if error_type == "mapper_parsing_exception"
        ));
    }

    #[test]
    fn whole_request_answers() {
        // A 429 storm: the Retry-After is kept for the backoff.
        assert_eq!(
            classify(reply(429, r#"{"error":"too many"}"#, Some(30)), 2),
            Verdict::Retry {
                reason: "_bulk answered 429".into(),
                after: Some(Duration::from_secs(30))
            }
        );
        for s in [408, 500, 502, 503, 504] {
            assert!(
                matches!(classify(reply(s, "", None), 1), Verdict::Retry { .. }),
                "{s}"
            );
        }
        assert_eq!(
            classify(reply(413, "Request Entity Too Large", None), 9),
            Verdict::TooLarge
        );
        let Verdict::Fail(why) = classify(
            reply(
                403,
                r#"{"message":"User: arn:aws:sts::1:assumed-role/x is not authorized"}"#,
                None,
            ),
            1,
        ) else {
            panic!("403 is no retry")
        };
        assert!(
            why.contains("403") && why.contains("not authorized"),
            "{why}"
        );
        // 200 with an HTML page from a proxy, or a body cut short.
        assert!(matches!(
            classify(reply(200, "<html>gateway</html>", None), 1),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify(
                reply(200, r#"{"took":1,"errors":false,"items":[]}"#, None),
                2
            ),
            Verdict::Retry { .. }
        ));
    }

    #[test]
    fn no_answer_and_call_errors() {
        assert!(matches!(classify(None, 1), Verdict::Retry { .. }));
        assert!(matches!(
            classify(Some(Err(CallError::retryable("connection reset"))), 1),
            Verdict::Retry { reason, .. } if reason == "connection reset"
        ));
        assert_eq!(
            classify(Some(Err(CallError::permanent("disk full"))), 1),
            Verdict::Fail("disk full".into())
        );
    }
}
