//! CloudFormation custom resource requests and responses, as far as logpipe's functions take part in a
//! deploy: the request CloudFormation sends to the function (`RequestType` Create, Update or Delete, with the
//! pre-signed `ResponseURL` to answer at) and the response it waits for there (at most 4096 bytes, the same
//! `PhysicalResourceId` for every response of one resource).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What CloudFormation asks of the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

/// A custom resource request (the fields logpipe reads; the rest are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub request_type: RequestType,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// Absent on Create.
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    /// The resource's properties in the template (`ServiceToken` included), as strings where the template
    /// gave scalars.
    #[serde(default)]
    pub resource_properties: Map<String, Value>,
}

impl Request {
    /// The request in a Lambda event: `None` when the event is not one (a schedule, say), an error naming
    /// the problem when it looks like one (it has a `RequestType`) but does not parse.
    pub fn from_event(event: &Value) -> Option<Result<Request, String>> {
        event.get("RequestType")?;
        Some(Request::deserialize(event).map_err(|e| {
            format!("a CloudFormation custom resource request that does not parse: {e}")
        }))
    }

    /// The resource's physical id as CloudFormation knows it, or its logical id when it has none yet
    /// (a Create, or a request that failed before one was chosen).
    pub fn physical_or_logical(&self) -> String {
        self.physical_resource_id
            .clone()
            .unwrap_or_else(|| self.logical_resource_id.clone())
    }

    /// A string property of the resource.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.resource_properties.get(name).and_then(Value::as_str)
    }

    /// The response to this request: SUCCESS, or FAILED with the reason (cut so that the body stays within
    /// CloudFormation's 4096 bytes).
    pub fn response(&self, physical_resource_id: &str, failure: Option<&str>) -> Response {
        let reason = failure.map(|r| {
            let fixed = serde_json::json!({
                "Status": "FAILED", "Reason": "", "PhysicalResourceId": physical_resource_id,
                "StackId": self.stack_id, "RequestId": self.request_id,
                "LogicalResourceId": self.logical_resource_id,
            })
            .to_string()
            .len();
            cut_json(r, MAX_RESPONSE.saturating_sub(fixed))
        });
        Response {
            status: if failure.is_some() {
                "FAILED"
            } else {
                "SUCCESS"
            },
            reason,
            physical_resource_id: physical_resource_id.to_owned(),
            stack_id: self.stack_id.clone(),
            request_id: self.request_id.clone(),
            logical_resource_id: self.logical_resource_id.clone(),
        }
    }
}

/// The largest response body CloudFormation takes.
pub const MAX_RESPONSE: usize = 4096;

/// The response body, PUT to the request's `ResponseURL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
}

/// The longest prefix of `s` (on a character boundary, with "…" when cut) whose JSON string encoding fits
/// in `room` bytes.
fn cut_json(s: &str, room: usize) -> String {
    let encoded = |t: &str| Value::from(t).to_string().len() - 2;
    if encoded(s) <= room {
        return s.to_owned();
    }
    let mut used = encoded("…");
    let mut end = 0;
    for (i, c) in s.char_indices() {
        let w = encoded(c.encode_utf8(&mut [0; 4]));
        if used + w > room {
            break;
        }
        used += w;
        end = i + c.len_utf8();
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests;
