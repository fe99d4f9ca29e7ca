//! The search side: `_bulk` bodies, document ids, index names, responses and dead letters, and the index
//! templates, mappings and retention the cluster runs itself with. Used by the search forwarder, the
//! canary's lookups and `logpipe search`.

pub mod bulk;
pub mod index_setup;
