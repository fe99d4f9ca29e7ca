//! CloudWatch Embedded Metric Format: one JSON line on stdout that CloudWatch turns into metrics.

use serde_json::{json, Map, Value};

/// Build an EMF line for `metrics` (name, value, unit) in `namespace`, with one dimension set.
pub fn line(
    namespace: &str,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, &str)],
    timestamp_ms: u64,
) -> String {
    Value::Object(record(namespace, dimensions, metrics, timestamp_ms)).to_string()
}

/// The members of an EMF record (`_aws`, the dimensions, the metrics), for a line that carries more.
pub fn record(
    namespace: &str,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, &str)],
    timestamp_ms: u64,
) -> Map<String, Value> {
    let mut root = Map::new();
    let defs: Vec<Value> = metrics
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    let dims: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [dims], "Metrics": defs}],
        }),
    );
    for (k, v) in dimensions {
        root.insert((*k).into(), Value::from(*v));
    }
    for (name, value, _) in metrics {
        root.insert((*name).into(), json!(value));
    }
    root
}

/// Print one EMF line of `metrics` (name, value, unit) with the function's name as the dimension, stamped now.
pub fn print(namespace: &str, function_name: &str, metrics: &[(&str, f64, &str)]) {
    let now = u64::try_from(crate::base::time::now_ms()).unwrap_or(0);
    println!(
        "{}",
        line(namespace, &[("FunctionName", function_name)], metrics, now)
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn emf_shape() {
        let l = super::line(
            "logpipe",
            &[("FunctionName", "f")],
            &[("RecordsIn", 3.0, "Count"), ("BytesOut", 10.0, "Bytes")],
            5,
        );
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 5);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "logpipe");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["FunctionName"]])
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Unit"],
            "Bytes"
        );
        assert_eq!(v["FunctionName"], "f");
        assert_eq!(v["RecordsIn"], 3.0);
    }
}
