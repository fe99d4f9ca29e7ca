//! Helpers of the forwarder's integration tests: the shared ones and the fault-injecting `_bulk` server.

pub mod bulk_server;

pub use test_support::{moto_url, sdk_config, unique};
