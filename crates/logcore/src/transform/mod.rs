//! The Firehose transforms' side: transformation events and the size-accounted answer, re-ingestion of what
//! does not fit, message filters, and Firehose's S3 prefix expressions (for documents written directly).
//! Used by `crates/firehose-transform` (and the CLI's replay).

pub mod filter;
pub mod firehose;
pub mod reingest;
pub mod s3prefix;
