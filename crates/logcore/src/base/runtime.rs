//! Process set-up every logpipe binary shares: the allocator setting and JSON logs.

/// Keep glibc's malloc from growing the process: an invocation allocates and frees buffers of several
/// megabytes (decompressed payloads, documents, responses, bulk bodies), and glibc's adaptive mmap threshold
/// then serves them from the heap, where fragmentation took a 3 MB Firehose batch from 25 MB to 139 MB of
/// peak RSS in `logpipe bench`. A fixed threshold (which also disables the adaptation) keeps large buffers
/// in mmap.
#[allow(unsafe_code)]
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// A function's cold start: the allocator setting, JSON logs, then its configuration from the environment
/// (`Config::from_env`); an invalid configuration is logged before it is returned.
pub fn start<C, E: std::fmt::Display>(
    from_env: impl FnOnce(fn(&str) -> Option<String>) -> Result<C, E>,
) -> Result<C, E> {
    tune_allocator();
    init_json_logs();
    from_env(|k| std::env::var(k).ok())
        .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))
}

/// Structured JSON logs on stdout, as CloudWatch Logs ingests them from a Lambda function (the runtime
/// adds the time).
pub fn init_json_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
}

/// Why an invocation failed as a whole, for every function that fails one on purpose (the Firehose
/// transform answers per record instead). Lambda then retries it (an asynchronous invocation, an SQS or
/// SNS delivery) and, once the retries are spent, sends it to the function's on-failure destination. The
/// message names what failed and the first reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvocationError(pub String);

impl InvocationError {
    /// `failed` of `of` units did not succeed (`what` says which, e.g. "log groups not subscribed");
    /// `first` is the first one's reason.
    pub fn partly(failed: u64, of: u64, what: &str, first: &str) -> Self {
        InvocationError(format!("{failed} of {of} {what}; first: {first}"))
    }
}

/// The settings every function reads the same way: where its metrics go, and how long before Lambda's
/// deadline it stops starting work (`DEADLINE_MARGIN_MS`, so that what is in flight can finish and the
/// answer and report can be written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// `METRICS_NAMESPACE`, default `logpipe`.
    pub metrics_namespace: String,
    /// `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda): the metrics' `FunctionName` dimension.
    pub function_name: String,
    pub deadline_margin: std::time::Duration,
}

impl Common {
    /// The defaults of a function named `function_name` that keeps `deadline_margin` free.
    pub fn new(function_name: &str, deadline_margin: std::time::Duration) -> Self {
        Common {
            metrics_namespace: "logpipe".into(),
            function_name: function_name.into(),
            deadline_margin,
        }
    }

    /// From the variables, over the defaults of [`Common::new`]. A function that works against no
    /// deadline (`deadline_margin: None`, the canary) does not read `DEADLINE_MARGIN_MS`.
    pub fn from_env(
        env: &crate::base::env::Env<'_>,
        function_name: &str,
        deadline_margin: Option<std::time::Duration>,
    ) -> Result<Self, crate::base::env::ConfigError> {
        let mut c = Common::new(function_name, deadline_margin.unwrap_or_default());
        if let Some(v) = env.get("METRICS_NAMESPACE") {
            c.metrics_namespace = v;
        }
        if let Some(v) = env.get("AWS_LAMBDA_FUNCTION_NAME") {
            c.function_name = v;
        }
        if deadline_margin.is_some() {
            if let Some(n) = env.num("DEADLINE_MARGIN_MS", 0, 600_000)? {
                c.deadline_margin = std::time::Duration::from_millis(n as u64);
            }
        }
        Ok(c)
    }

    /// Where this function's reports go.
    pub fn destination(&self) -> crate::base::report::Destination<'_> {
        crate::base::report::Destination {
            namespace: &self.metrics_namespace,
            function_name: &self.function_name,
        }
    }

    /// Print one invocation's report line (see [`crate::base::report`]).
    pub fn report<R: serde::Serialize + crate::base::report::Metrics>(
        &self,
        request_id: &str,
        message: &str,
        summary: &R,
    ) {
        crate::base::report::emit(&self.destination(), request_id, message, summary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_partly_failed_invocation_names_the_counts_and_the_first_reason() {
        let e = InvocationError::partly(2, 5, "objects not fully indexed", "s3://b/k: HTTP 403");
        assert_eq!(
            e.to_string(),
            "2 of 5 objects not fully indexed; first: s3://b/k: HTTP 403"
        );
    }

    #[test]
    fn common_settings_from_the_environment() {
        let none = |_: &str| None;
        let c = Common::from_env(
            &crate::base::env::Env::new(&none),
            "f",
            Some(Duration::from_secs(2)),
        )
        .unwrap();
        assert_eq!(c, Common::new("f", Duration::from_secs(2)));
        assert_eq!(c.metrics_namespace, "logpipe");
        let vars = crate::base::env::pairs(&[
            ("METRICS_NAMESPACE", "acme/logs"),
            ("AWS_LAMBDA_FUNCTION_NAME", "prod-forwarder"),
            ("DEADLINE_MARGIN_MS", "750"),
        ]);
        let c = Common::from_env(
            &crate::base::env::Env::new(&vars),
            "f",
            Some(Duration::ZERO),
        )
        .unwrap();
        assert_eq!(c.metrics_namespace, "acme/logs");
        assert_eq!(c.function_name, "prod-forwarder");
        assert_eq!(c.deadline_margin, Duration::from_millis(750));
        let bad = crate::base::env::pairs(&[("DEADLINE_MARGIN_MS", "soon")]);
        let e = Common::from_env(&crate::base::env::Env::new(&bad), "f", Some(Duration::ZERO))
            .unwrap_err();
        assert_eq!(e.name, "DEADLINE_MARGIN_MS");
        // Without a deadline, the variable is not read.
        let c = Common::from_env(&crate::base::env::Env::new(&bad), "f", None).unwrap();
        assert_eq!(c.deadline_margin, Duration::ZERO);
    }
}
