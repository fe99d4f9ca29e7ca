//! Helpers shared by the integration tests of every crate (a dev-dependency only).

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// The moto server's URL from `LOGPIPE_MOTO_URL` (set by `scripts/test.sh`, which starts moto).
///
/// Without it the test is skipped with a message, unless `LOGPIPE_REQUIRE_SERVICES=1` (as in CI), where a
/// missing server is a failure.
pub fn moto_url() -> Option<String> {
    match std::env::var("LOGPIPE_MOTO_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(u) => Some(u.trim_end_matches('/').to_string()),
        None if std::env::var("LOGPIPE_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("LOGPIPE_MOTO_URL is not set but LOGPIPE_REQUIRE_SERVICES=1: run the tests with scripts/test.sh")
        }
        None => {
            eprintln!("SKIPPED: LOGPIPE_MOTO_URL is not set; run scripts/test.sh to start moto and run this test");
            None
        }
    }
}

/// SDK configuration for the endpoint (moto, or a fault proxy in front of it) with test credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "logpipe-tests",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// A name unique to this test run (lower case, usable as an S3 bucket name).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}
