//! One report per invocation, written from one definition.
//!
//! A function's summary is one struct declared with [`counts!`](crate::counts): each field is named once,
//! and the ones that are metrics say their EMF name (and unit) beside it. [`emit`] then prints one JSON
//! line that is both the summary log line (`level`, `fields.message`, `fields.request_id` and every field,
//! in the shape of the other `tracing` lines) and the CloudWatch Embedded Metric Format record (`_aws` and
//! the metrics at the root): the summary and the metrics cannot disagree, and no field list is written twice.

use serde::Serialize;
use serde_json::{Map, Value};

/// The unit of an EMF metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricUnit {
    Count,
    Bytes,
    Milliseconds,
}

impl MetricUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricUnit::Count => "Count",
            MetricUnit::Bytes => "Bytes",
            MetricUnit::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric of a report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub value: f64,
    pub unit: MetricUnit,
}

/// A report's metrics. Implemented by [`counts!`](crate::counts); never by hand.
pub trait Metrics {
    fn metrics(&self, out: &mut Vec<Metric>);
    /// Add `other`'s counts to these, field by field (nested counts too): how a part's counts (an
    /// object's, a batch's) flow into the whole without being named again.
    fn add(&mut self, other: &Self);
}

/// A field of a [`counts!`](crate::counts) struct: a number (a metric when the struct names one for it), or
/// a nested set of counts (flattened into the summary) whose own metrics are added.
pub trait Field {
    fn collect(&self, metric: Option<(&'static str, MetricUnit)>, out: &mut Vec<Metric>);
    fn add_field(&mut self, other: &Self);
}

macro_rules! number_fields {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn collect(&self, metric: Option<(&'static str, MetricUnit)>, out: &mut Vec<Metric>) {
                if let Some((name, unit)) = metric {
                    out.push(Metric { name, value: *self as f64, unit });
                }
            }
            fn add_field(&mut self, other: &Self) {
                *self += *other;
            }
        }
    )*};
}
number_fields!(u64, u32, usize, i64, f64);

impl<T: Metrics> Field for T {
    fn collect(&self, _: Option<(&'static str, MetricUnit)>, out: &mut Vec<Metric>) {
        self.metrics(out);
    }
    fn add_field(&mut self, other: &Self) {
        Metrics::add(self, other);
    }
}

/// Declare a summary struct once: the struct as written (attributes and docs kept), and its [`Metrics`].
/// A field followed by `=> "MetricName"` is that metric (`in Bytes` / `in Milliseconds` for another unit
/// than `Count`); a field of another [`Metrics`] type adds that type's metrics.
///
/// ```
/// logcore::counts! {
///     #[derive(Debug, Default, serde::Serialize)]
///     pub struct Summary {
///         /// Objects read.
///         pub objects: u64 => "ObjectsRead",
///         pub bytes: u64 => "BytesRead" in Bytes,
///         /// In the summary line only.
///         pub retries: u64,
///     }
/// }
/// let mut m = Vec::new();
/// logcore::base::report::Metrics::metrics(&Summary { objects: 2, bytes: 9, retries: 1 }, &mut m);
/// assert_eq!(m.len(), 2);
/// ```
#[macro_export]
macro_rules! counts {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident $(<$g:ident $(= $gdef:ty)?>)? {
            $(
                $(#[$fmeta:meta])*
                $fvis:vis $field:ident : $fty:ty $(=> $metric:literal $(in $unit:ident)?)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name $(<$g $(= $gdef)?>)? {
            $(
                $(#[$fmeta])*
                $fvis $field: $fty,
            )*
        }

        impl $(<$g: $crate::base::report::Metrics>)? $crate::base::report::Metrics for $name $(<$g>)? {
            fn metrics(&self, out: &mut Vec<$crate::base::report::Metric>) {
                $(
                    $crate::base::report::Field::collect(
                        &self.$field,
                        $crate::counts!(@metric $($metric $($unit)?)?),
                        out,
                    );
                )*
            }
            fn add(&mut self, other: &Self) {
                $( $crate::base::report::Field::add_field(&mut self.$field, &other.$field); )*
            }
        }
    };
    (@metric) => { None };
    (@metric $metric:literal) => { Some(($metric, $crate::base::report::MetricUnit::Count)) };
    (@metric $metric:literal $unit:ident) => { Some(($metric, $crate::base::report::MetricUnit::$unit)) };
}

/// Where a function's reports go: the EMF namespace and the function's name (the metrics' dimension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination<'a> {
    pub namespace: &'a str,
    pub function_name: &'a str,
}

/// The report line of one invocation (see the module documentation), stamped `timestamp_ms`.
pub fn line<R: Serialize + Metrics>(
    to: &Destination<'_>,
    request_id: &str,
    message: &str,
    summary: &R,
    timestamp_ms: u64,
) -> String {
    let mut fields = Map::new();
    fields.insert("message".into(), Value::from(message));
    fields.insert("request_id".into(), Value::from(request_id));
    match serde_json::to_value(summary) {
        Ok(Value::Object(m)) => fields.extend(m),
        Ok(other) => {
            fields.insert("summary".into(), other);
        }
        Err(e) => {
            fields.insert("summary_error".into(), Value::from(e.to_string()));
        }
    }
    let mut metrics = Vec::new();
    summary.metrics(&mut metrics);
    let defs: Vec<(&str, f64, &str)> = metrics
        .iter()
        .map(|m| (m.name, m.value, m.unit.as_str()))
        .collect();
    let mut root = crate::base::emf::record(
        to.namespace,
        &[("FunctionName", to.function_name)],
        &defs,
        timestamp_ms,
    );
    root.insert("level".into(), Value::from("INFO"));
    root.insert("fields".into(), Value::Object(fields));
    Value::Object(root).to_string()
}

/// Print the report line of one invocation on stdout (where Lambda sends it to CloudWatch Logs, which
/// extracts the metrics), stamped now.
pub fn emit<R: Serialize + Metrics>(
    to: &Destination<'_>,
    request_id: &str,
    message: &str,
    summary: &R,
) {
    let now = u64::try_from(crate::base::time::now_ms()).unwrap_or(0);
    println!("{}", line(to, request_id, message, summary, now));
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::counts! {
        #[derive(Debug, Default, Serialize)]
        struct Inner {
            parsed: u64 => "Parsed",
            skipped: u64,
        }
    }

    crate::counts! {
        /// Generic over what a renderer counts, as the transforms' summary is.
        #[derive(Debug, Default, Serialize)]
        struct Outer<S> {
            records: u64 => "RecordsIn",
            bytes: u64 => "BytesIn" in Bytes,
            retries: u64,
            #[serde(flatten)]
            inner: S,
        }
    }

    #[test]
    fn one_line_is_the_summary_and_the_metrics() {
        let s = Outer {
            records: 3,
            bytes: 120,
            retries: 1,
            inner: Inner {
                parsed: 2,
                skipped: 1,
            },
        };
        let to = Destination {
            namespace: "logpipe",
            function_name: "f",
        };
        let v: Value = serde_json::from_str(&line(&to, "req-1", "test summary", &s, 5)).unwrap();
        // The summary log line: every field, flattened ones too, under `fields`.
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["fields"]["message"], "test summary");
        assert_eq!(v["fields"]["request_id"], "req-1");
        for (k, n) in [
            ("records", 3),
            ("bytes", 120),
            ("retries", 1),
            ("parsed", 2),
            ("skipped", 1),
        ] {
            assert_eq!(v["fields"][k], n, "{k}");
        }
        // The EMF record: the named fields as metrics, with their units, at the root.
        let defs = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(defs["Namespace"], "logpipe");
        assert_eq!(v["FunctionName"], "f");
        assert_eq!(v["_aws"]["Timestamp"], 5);
        let names: Vec<(&str, &str)> = defs["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("RecordsIn", "Count"),
                ("BytesIn", "Bytes"),
                ("Parsed", "Count")
            ]
        );
        assert_eq!(v["RecordsIn"], 3.0);
        assert_eq!(v["BytesIn"], 120.0);
        assert_eq!(v["Parsed"], 2.0);
        assert!(v.get("Retries").is_none() && v.get("retries").is_none());
    }

    #[test]
    fn counts_add_field_by_field_nested_ones_too() {
        let part = Outer {
            records: 2,
            bytes: 10,
            retries: 1,
            inner: Inner {
                parsed: 2,
                skipped: 0,
            },
        };
        let mut whole = Outer::<Inner>::default();
        whole.add(&part);
        whole.add(&part);
        assert_eq!((whole.records, whole.bytes, whole.retries), (4, 20, 2));
        assert_eq!((whole.inner.parsed, whole.inner.skipped), (4, 0));
    }
}
