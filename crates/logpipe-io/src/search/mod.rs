//! The search engine: where it is and how to authenticate ([`Endpoint`], [`Auth`]), the requests logpipe
//! makes to it ([`SearchApi`]: any method and path), and the HTTP client that makes them ([`HttpSearch`]).

mod endpoint;
mod http;

use std::future::Future;

pub use endpoint::{Auth, Endpoint};
pub use http::{auth_header, HttpSearch};

use crate::{CallError, Reply};

/// Any request to the engine: management calls (templates, policies, saved objects), `_search`, `_bulk`.
pub trait SearchApi: Send + Sync {
    /// `method` `path` (from the base URL, starting with `/`) with these headers and body (or none).
    fn call(
        &self,
        method: &'static str,
        path: &str,
        headers: Vec<(&'static str, String)>,
        body: Option<Vec<u8>>,
    ) -> impl Future<Output = Result<Reply, CallError>> + Send;
}
