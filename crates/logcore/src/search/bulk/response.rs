//! The per-item outcomes of a `_bulk` response.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The outcome of one item of a `_bulk` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// 200/201.
    Created,
    /// 409: a document with this `_id` is already there (an earlier delivery indexed it).
    Exists,
    /// 429 or 5xx: try again.
    Retry { status: u16, reason: String },
    /// Any other status: it will never be accepted as it is.
    Rejected {
        status: u16,
        error_type: String,
        reason: String,
    },
}

/// A `_bulk` response: items are read one by one only when `errors` does not say they all succeeded.
#[derive(Deserialize)]
struct BulkResponse<'a> {
    #[serde(default)]
    errors: Option<bool>,
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Read a `_bulk` response that should hold `expected` items.
pub fn parse_bulk_response(body: &[u8], expected: usize) -> Result<Vec<ItemOutcome>, String> {
    let r: BulkResponse<'_> =
        serde_json::from_slice(body).map_err(|e| format!("unreadable _bulk response: {e}"))?;
    if r.items.len() != expected {
        return Err(format!(
            "_bulk response has {} items for {expected} actions",
            r.items.len()
        ));
    }
    // The common case: `"errors": false` says every item succeeded.
    if r.errors == Some(false) {
        return Ok(vec![ItemOutcome::Created; expected]);
    }
    let mut out = Vec::with_capacity(expected);
    for (i, raw) in r.items.into_iter().enumerate() {
        let item: std::collections::BTreeMap<String, BulkItem> = serde_json::from_str(raw.get())
            .map_err(|e| format!("unreadable _bulk response item {i}: {e}"))?;
        let Some((_, it)) = item.into_iter().next() else {
            return Err(format!("_bulk response item {i} is empty"));
        };
        let (error_type, reason) = match &it.error {
            Some(serde_json::Value::Object(m)) => (
                m.get("type")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
                m.get("reason")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
            ),
            Some(serde_json::Value::String(s)) => (String::new(), s.clone()),
            _ => (String::new(), String::new()),
        };
        out.push(match it.status {
            200..=299 => ItemOutcome::Created,
            409 => ItemOutcome::Exists,
            429 | 500..=599 => ItemOutcome::Retry {
                status: it.status,
                reason: if error_type.is_empty() {
                    reason
                } else {
                    format!("{error_type}: {reason}")
                },
            },
            status => ItemOutcome::Rejected {
                status,
                error_type,
                reason,
            },
        });
    }
    Ok(out)
}
