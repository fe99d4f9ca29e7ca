//! The shared base every function stands on: codecs (base64, gzip and zstd with a bomb guard), time and
//! RFC 3339, configuration from the environment, the retry policy, the report line and EMF metrics, the
//! settings every function shares, and CloudFormation's custom resource request and response.

pub mod cfn;
pub mod codec;
pub mod emf;
pub mod env;
pub mod report;
pub mod retry;
pub mod runtime;
pub mod time;
