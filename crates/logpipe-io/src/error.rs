//! One vocabulary for a call to AWS or to an HTTP service that failed: what kind of failure it is (which
//! decides whether trying again can help) and the service's own message, naming what was called.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// What kind of failure a call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The service asked to slow down (throttling, 429, `SlowDown`): try again after backing off.
    Throttled,
    /// Transient: 5xx, timeouts, connections refused or reset, unreadable answers. Try again.
    Retryable,
    /// What was named does not exist (any more): a missing object, log group, filter or parameter.
    NotFound,
    /// Trying again cannot help: access denied, invalid request, a limit reached.
    Permanent,
    /// logpipe's own configuration is wrong (no region, no credentials, a malformed secret or URL).
    Config,
}

/// A call that failed, with its kind and a message naming the call, the resource and the service's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CallError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CallError {
            kind,
            message: message.into(),
        }
    }

    pub fn throttled(message: impl Into<String>) -> Self {
        CallError::new(ErrorKind::Throttled, message)
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        CallError::new(ErrorKind::Retryable, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        CallError::new(ErrorKind::NotFound, message)
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        CallError::new(ErrorKind::Permanent, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        CallError::new(ErrorKind::Config, message)
    }

    /// Throttled or transient: the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Retryable)
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    /// The same error with `context` in front of its message ("reading s3://b/k: …").
    pub fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// A failed AWS SDK call. `what` names the operation and its resource (`"GetObject s3://b/k"`). The
    /// kind comes from the service's error code, else its HTTP status; timeouts, dispatch failures and
    /// unreadable answers are retryable; a request the SDK could not even build is configuration.
    pub fn from_sdk<E>(what: impl std::fmt::Display, e: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match e {
            SdkError::ServiceError(se) => {
                let status = se.raw().status().as_u16();
                let kind = kind_of(se.err().code(), status);
                let message = match se.err().code() {
                    Some(code) => format!(
                        "{what}: {code}: {}",
                        se.err().message().unwrap_or("(no message)")
                    ),
                    None => format!("{what}: HTTP {status}: {}", DisplayErrorContext(e)),
                };
                CallError::new(kind, message)
            }
            SdkError::ConstructionFailure(_) => {
                CallError::config(format!("{what}: {}", DisplayErrorContext(e)))
            }
            _ => CallError::retryable(format!("{what}: {}", DisplayErrorContext(e))),
        }
    }
}

/// The message alone, for the tools whose errors are text (`?` in the CLI).
impl From<CallError> for String {
    fn from(e: CallError) -> String {
        e.message
    }
}

/// Error codes across the services logpipe calls (S3, Firehose, Kinesis, CloudWatch Logs, Secrets Manager,
/// SSM) that say "slow down".
const THROTTLED: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "KMSThrottlingException",
];

/// Codes of transient failures on the service's side.
const TRANSIENT: &[&str] = &[
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalFailure",
    "InternalFailureException",
    "InternalServerError",
    "InternalServiceError",
    "InternalServiceErrorException",
    "RequestTimeout",
    "RequestTimeoutException",
    // CloudWatch Logs: another call is changing the same resource.
    "OperationAbortedException",
];

/// Codes meaning "what you named does not exist".
const NOT_FOUND: &[&str] = &[
    "NoSuchKey",
    "NoSuchVersion",
    "ResourceNotFoundException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
];

/// The kind of a service's error answer: by code when it is one we know, else by HTTP status.
pub fn kind_of(code: Option<&str>, status: u16) -> ErrorKind {
    match code {
        Some(c) if THROTTLED.contains(&c) => ErrorKind::Throttled,
        Some(c) if TRANSIENT.contains(&c) => ErrorKind::Retryable,
        Some(c) if NOT_FOUND.contains(&c) => ErrorKind::NotFound,
        _ => match status {
            429 => ErrorKind::Throttled,
            408 | 500..=599 => ErrorKind::Retryable,
            _ => ErrorKind::Permanent,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_before_statuses() {
        assert_eq!(kind_of(Some("SlowDown"), 503), ErrorKind::Throttled);
        assert_eq!(
            kind_of(Some("ThrottlingException"), 400),
            ErrorKind::Throttled
        );
        assert_eq!(
            kind_of(Some("ServiceUnavailableException"), 500),
            ErrorKind::Retryable
        );
        assert_eq!(
            kind_of(Some("OperationAbortedException"), 400),
            ErrorKind::Retryable
        );
        assert_eq!(kind_of(Some("NoSuchKey"), 404), ErrorKind::NotFound);
        assert_eq!(
            kind_of(Some("ResourceNotFoundException"), 400),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of(Some("AccessDeniedException"), 400),
            ErrorKind::Permanent
        );
        assert_eq!(
            kind_of(Some("LimitExceededException"), 400),
            ErrorKind::Permanent
        );
        // Codes we do not know: the status decides.
        assert_eq!(kind_of(Some("Whatever"), 502), ErrorKind::Retryable);
        assert_eq!(kind_of(None, 429), ErrorKind::Throttled);
        assert_eq!(kind_of(None, 403), ErrorKind::Permanent);
    }

    #[test]
    fn retryable_kinds_and_context() {
        assert!(CallError::throttled("x").is_retryable());
        assert!(CallError::retryable("x").is_retryable());
        for e in [
            CallError::not_found("x"),
            CallError::permanent("x"),
            CallError::config("x"),
        ] {
            assert!(!e.is_retryable(), "{e:?}");
        }
        let e = CallError::permanent("AccessDenied").context("PutObject s3://b/k");
        assert_eq!(e.to_string(), "PutObject s3://b/k: AccessDenied");
        assert_eq!(e.kind, ErrorKind::Permanent);
    }
}
