//! Helpers of these integration tests: the shared ones (moto endpoint, SDK configuration, unique names)
//! and the fault-injecting proxy.

pub mod fault_proxy;

pub use test_support::{moto_url, sdk_config, unique, ACCOUNT, REGION};
