//! The real I/O: CloudWatch Logs and S3 through the AWS SDK for Rust, the search engine through the shared
//! HTTP client of `logpipe-io` (same authentication as the forwarder: SigV4, a secret, or none).

use std::collections::BTreeMap;

use aws_sdk_cloudwatchlogs::config::http::HttpResponse;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::{InputLogEvent, RejectedLogEventsInfo};
use logpipe_io::store::S3Store;
use logpipe_io::HttpSearch;
use serde_json::{json, Value};

use crate::{CallError, Finder, Hit, Listed, LogEvent, Logs, Objects};

/// "Operation resource: Code: message" for a service's error answer, the whole error chain otherwise.
fn sdk_error<E>(what: &str, e: &SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    CallError::from_sdk(what, e)
}

/// Why CloudWatch Logs refused event `i` of a `PutLogEvents` call. It answers 200 and stores nothing for
/// events outside its window, naming them in `rejectedLogEventsInfo`: those from `tooNewLogEventStartIndex`
/// on (more than 2 hours ahead), and those up to `tooOldLogEventEndIndex` (older than 14 days) or
/// `expiredLogEventEndIndex` (older than the group's retention).
pub fn refused(info: Option<&RejectedLogEventsInfo>, i: i32) -> Option<&'static str> {
    let info = info?;
    if info.too_new_log_event_start_index().is_some_and(|s| i >= s) {
        Some("too new (more than 2 hours ahead of CloudWatch Logs' clock)")
    } else if info.too_old_log_event_end_index().is_some_and(|e| i <= e) {
        Some("too old (older than 14 days)")
    } else if info.expired_log_event_end_index().is_some_and(|e| i <= e) {
        Some("expired (older than the log group's retention)")
    } else {
        None
    }
}

/// CloudWatch Logs through the SDK.
pub struct AwsLogs {
    pub client: aws_sdk_cloudwatchlogs::Client,
}

impl AwsLogs {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        AwsLogs {
            client: aws_sdk_cloudwatchlogs::Client::new(sdk),
        }
    }
}

impl crate::reconcile::Insights for AwsLogs {
    async fn start_query(
        &self,
        q: &crate::reconcile::insights::InsightsQuery,
    ) -> Result<String, CallError> {
        let what = || format!("StartQuery {}", q.groups.join(", "));
        let out = self
            .client
            .start_query()
            .set_log_group_names(Some(q.groups.clone()))
            .start_time(q.start_s)
            .end_time(q.end_s)
            .query_string(&q.query)
            .limit(i32::try_from(q.limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| match e.code() {
                // The account's concurrent queries are at their limit: a wait helps.
                Some("LimitExceededException") => {
                    CallError::throttled(sdk_error(&what(), &e).message)
                }
                _ => sdk_error(&what(), &e),
            })?;
        out.query_id()
            .map(str::to_string)
            .ok_or_else(|| CallError::permanent(format!("{}: no queryId in the answer", what())))
    }

    async fn query_results(
        &self,
        id: &str,
    ) -> Result<crate::reconcile::insights::QueryAnswer, CallError> {
        let out = self
            .client
            .get_query_results()
            .query_id(id)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("GetQueryResults {id}"), &e))?;
        Ok(crate::reconcile::insights::QueryAnswer {
            status: out
                .status()
                .map_or_else(|| "Unknown".to_string(), |s| s.as_str().to_string()),
            rows: out
                .results()
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|f| {
                            let field = f.field().unwrap_or_default().to_string();
                            (field, f.value().unwrap_or_default().to_string())
                        })
                        .collect()
                })
                .collect(),
        })
    }

    async fn stop_query(&self, id: &str) -> Result<(), CallError> {
        self.client
            .stop_query()
            .query_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(&format!("StopQuery {id}"), &e))
    }
}

impl Logs for AwsLogs {
    async fn count_by_hour(
        &self,
        group: &str,
        start_ms: i64,
        end_ms: i64,
        limit: u64,
        selection: &crate::reconcile::Selection,
    ) -> Result<BTreeMap<i64, crate::reconcile::SourceHour>, CallError> {
        // Page by page, keeping only the counts. The subscription's pattern is FilterLogEvents' own syntax.
        let mut pages = self
            .client
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            // FilterLogEvents' end time is inclusive.
            .end_time(end_ms - 1)
            .set_filter_pattern(Some(selection.pattern.clone()).filter(|p| !p.trim().is_empty()))
            .limit(10_000)
            .into_paginator()
            .send();
        let mut tally = crate::reconcile::Tally::new(group, limit, selection);
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(&format!("FilterLogEvents {group}"), &e))?;
            tally.add(
                page.events()
                    .iter()
                    .filter_map(|e| Some((e.timestamp()?, e.message().unwrap_or_default()))),
            )?;
        }
        Ok(tally.hours)
    }

    async fn put(
        &self,
        group: &str,
        stream: &str,
        timestamp_ms: i64,
        message: &str,
    ) -> Result<(), CallError> {
        let event = InputLogEvent::builder()
            .timestamp(timestamp_ms)
            .message(message)
            .build()
            .map_err(|e| CallError::permanent(format!("log event: {e}")))?;
        let put = || {
            self.client
                .put_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .log_events(event.clone())
                .send()
        };
        let what = || format!("PutLogEvents {group} {stream}");
        match put().await {
            Ok(out) => {
                return refused(out.rejected_log_events_info(), 0).map_or(Ok(()), |why| {
                    Err(CallError::permanent(format!(
                        "{}: the event was refused: {why}",
                        what()
                    )))
                })
            }
            Err(e) if e.code() == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(sdk_error(&what(), &e)),
        }
        // The stream does not exist yet (first run, or its events expired): create it and write again.
        match self
            .client
            .create_log_stream()
            .log_group_name(group)
            .log_stream_name(stream)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceAlreadyExistsException") => {}
            Err(e) => return Err(sdk_error(&format!("CreateLogStream {group} {stream}"), &e)),
        }
        let out = put().await.map_err(|e| sdk_error(&what(), &e))?;
        match refused(out.rejected_log_events_info(), 0) {
            None => Ok(()),
            Some(why) => Err(CallError::permanent(format!(
                "{}: the event was refused: {why}",
                what()
            ))),
        }
    }

    async fn find(
        &self,
        group: &str,
        pattern: &str,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> Result<Vec<LogEvent>, CallError> {
        let mut pages = self
            .client
            .filter_log_events()
            .log_group_name(group)
            .set_filter_pattern(Some(pattern.to_string()).filter(|p| !p.is_empty()))
            .start_time(start_ms)
            .end_time(end_ms)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("FilterLogEvents", &e))?;
            out.extend(page.events().iter().map(|e| LogEvent {
                event_id: e.event_id().unwrap_or_default().to_string(),
                group: group.to_string(),
                stream: e.log_stream_name().unwrap_or_default().to_string(),
                timestamp_ms: e.timestamp().unwrap_or_default(),
                ingestion_ms: e.ingestion_time().unwrap_or_default(),
                message: e.message().unwrap_or_default().to_string(),
            }));
            if out.len() >= limit {
                out.truncate(limit);
                break;
            }
        }
        Ok(out)
    }
}

impl crate::reconcile::hourly::Subscriptions for AwsLogs {
    async fn groups(&self, prefix: Option<&str>) -> Result<Vec<String>, CallError> {
        logpipe_io::logs::log_groups(&self.client, prefix).await
    }

    async fn filter_pattern(&self, group: &str, name: &str) -> Result<Option<String>, CallError> {
        let out = self
            .client
            .describe_subscription_filters()
            .log_group_name(group)
            .filter_name_prefix(name)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("DescribeSubscriptionFilters {group}"), &e))?;
        Ok(out
            .subscription_filters()
            .iter()
            .find(|f| f.filter_name() == Some(name))
            .map(|f| f.filter_pattern().unwrap_or_default().to_string()))
    }
}

impl Objects for S3Store {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, CallError> {
        let mut pages = self
            .client()
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| sdk_error(&format!("ListObjectsV2 s3://{bucket}/{prefix}"), &e))?;
            out.extend(page.contents().iter().filter_map(|o| {
                Some(Listed {
                    key: o.key()?.to_string(),
                    size: o.size().unwrap_or_default().max(0) as u64,
                    last_modified_ms: o.last_modified()?.to_millis().ok()?,
                })
            }));
        }
        Ok(out)
    }

    async fn read(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, CallError> {
        let out = match self
            .client()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.code() == Some("NoSuchKey") => return Ok(None),
            Err(e) => return Err(sdk_error(&format!("GetObject s3://{bucket}/{key}"), &e)),
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| CallError::retryable(format!("reading s3://{bucket}/{key}: {e}")))?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    async fn write(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CallError> {
        self.client()
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(&format!("PutObject s3://{bucket}/{key}"), &e))
    }
}

impl Finder for HttpSearch {
    async fn search(&self, index: &str, query: Value, size: usize) -> Result<Vec<Hit>, CallError> {
        let body = json!({"size": size, "query": query})
            .to_string()
            .into_bytes();
        let path = format!("/{index}/_search?ignore_unavailable=true&allow_no_indices=true");
        let reply = self
            .request(
                reqwest::Method::POST,
                &path,
                vec![("content-type", "application/json".to_string())],
                body,
            )
            .await?;
        parse_hits(reply.status, &reply.body)
    }
}

impl crate::reconcile::Aggregations for HttpSearch {
    async fn aggregate(&self, index: &str, body: Value) -> Result<Value, CallError> {
        let path = format!("/{index}/_search?ignore_unavailable=true&allow_no_indices=true");
        let answer = json_call(self, reqwest::Method::POST, &path, Some(body)).await?;
        Ok(answer.unwrap_or_else(|| json!({"hits": {"hits": []}})))
    }

    async fn field_mapping(&self, index: &str, fields: &str) -> Result<Value, CallError> {
        let path = format!(
            "/{index}/_mapping/field/{fields}?ignore_unavailable=true&allow_no_indices=true"
        );
        let answer = json_call(self, reqwest::Method::GET, &path, None).await?;
        Ok(answer.unwrap_or_else(|| json!({})))
    }
}

/// Make what was just indexed into `index` searchable (`POST /{index}/_refresh`), for a count right after.
pub async fn refresh(search: &HttpSearch, index: &str) -> Result<(), CallError> {
    let path = format!("/{index}/_refresh?ignore_unavailable=true&allow_no_indices=true");
    json_call(search, reqwest::Method::POST, &path, None)
        .await
        .map(|_| ())
}

/// A JSON request to the engine and its JSON answer; `None` when the index does not exist.
async fn json_call(
    search: &HttpSearch,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Option<Value>, CallError> {
    let (headers, body) = match body {
        Some(b) => (
            vec![("content-type", "application/json".to_string())],
            b.to_string().into_bytes(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let reply = search.request(method, path, headers, body).await?;
    if reply.status == 404
        && memchr::memmem::find(&reply.body, b"index_not_found_exception").is_some()
    {
        return Ok(None);
    }
    let head = || String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)]).into_owned();
    if !(200..300).contains(&reply.status) {
        return Err(CallError::new(
            logpipe_io::error::kind_of(None, reply.status),
            format!("HTTP {}: {}", reply.status, head()),
        ));
    }
    serde_json::from_slice(&reply.body)
        .map(Some)
        .map_err(|e| CallError::permanent(format!("an answer that is not JSON ({e}): {}", head())))
}

/// The hits of a `_search` answer; a missing index is no hit (any other 404 is an error: a wrong URL must
/// not read as "not indexed").
pub fn parse_hits(status: u16, body: &[u8]) -> Result<Vec<Hit>, CallError> {
    if status == 404 && memchr::memmem::find(body, b"index_not_found_exception").is_some() {
        return Ok(Vec::new());
    }
    let head = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    if !(200..300).contains(&status) {
        return Err(CallError::new(
            logpipe_io::error::kind_of(None, status),
            format!("HTTP {status}: {}", head()),
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        CallError::permanent(format!("the _search answer is not JSON ({e}): {}", head()))
    })?;
    let hits = v
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            CallError::permanent(format!("the _search answer has no hits.hits: {}", head()))
        })?;
    Ok(hits
        .iter()
        .map(|h| Hit {
            index: h["_index"].as_str().unwrap_or_default().to_string(),
            id: h["_id"].as_str().unwrap_or_default().to_string(),
            source: h.get("_source").cloned().unwrap_or(Value::Null),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_answers() {
        let hits = parse_hits(
            200,
            br#"{"hits":{"hits":[{"_index":"logs-a","_id":"1","_source":{"message":"m"}}]}}"#,
        )
        .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(
            (hits[0].index.as_str(), hits[0].id.as_str()),
            ("logs-a", "1")
        );
        assert_eq!(hits[0].source["message"], "m");
        let missing = br#"{"error":{"type":"index_not_found_exception"},"status":404}"#;
        assert!(parse_hits(404, missing).unwrap().is_empty());
        assert!(parse_hits(404, b"Not Found")
            .unwrap_err()
            .message
            .contains("HTTP 404"));
        let e = parse_hits(403, b"{\"message\":\"denied\"}").unwrap_err();
        assert!(
            e.message.contains("HTTP 403") && e.message.contains("denied"),
            "{e}"
        );
        assert!(parse_hits(200, b"<html>")
            .unwrap_err()
            .message
            .contains("not JSON"));
        assert!(parse_hits(200, b"{}")
            .unwrap_err()
            .message
            .contains("hits.hits"));
    }

    #[test]
    fn refused_events_are_named() {
        let info = |new: Option<i32>, old: Option<i32>, expired: Option<i32>| {
            RejectedLogEventsInfo::builder()
                .set_too_new_log_event_start_index(new)
                .set_too_old_log_event_end_index(old)
                .set_expired_log_event_end_index(expired)
                .build()
        };
        assert_eq!(refused(None, 0), None);
        assert_eq!(refused(Some(&info(None, None, None)), 0), None);
        assert!(refused(Some(&info(Some(0), None, None)), 0)
            .unwrap()
            .contains("too new"));
        assert_eq!(refused(Some(&info(Some(1), None, None)), 0), None);
        assert!(refused(Some(&info(None, Some(0), None)), 0)
            .unwrap()
            .contains("too old"));
        assert!(refused(Some(&info(None, None, Some(0))), 0)
            .unwrap()
            .contains("expired"));
        assert_eq!(refused(Some(&info(None, Some(0), None)), 1), None);
    }
}
