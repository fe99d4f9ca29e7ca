//! The ports several logpipe functions share, with their real and local adapters:
//!
//! - [`error`]: one vocabulary for a failed call to AWS or an HTTP service ([`CallError`], [`ErrorKind`]);
//! - [`store`]: the object store ([`Store`]) — S3 through the SDK, a local directory, and memory;
//! - [`search`]: the search engine's endpoint and authentication ([`Endpoint`], [`Auth`]) and its HTTP
//!   client ([`HttpSearch`]: SigV4 for `es`/`aoss`, a secret's basic auth or API key, or none; any method and
//!   path) behind [`SearchApi`];
//! - [`http`]: one HTTP answer ([`Reply`]) and how a reqwest response becomes one;
//! - [`logs`]: CloudWatch Logs listings several functions make;
//! - [`secrets`]: a value from Secrets Manager or SSM Parameter Store, read once at cold start.
//! - [`cfn`]: the answer to a CloudFormation custom resource request.
//!
//! Functions depend on this crate and on `logcore`, never on one another.

pub mod cfn;
pub mod error;
pub mod http;
pub mod lambda;
pub mod logs;
pub mod search;
pub mod secrets;
pub mod store;

pub use error::{CallError, ErrorKind};
pub use http::Reply;
pub use search::{Auth, Endpoint, HttpSearch, SearchApi};
pub use store::{Opened, Store};
