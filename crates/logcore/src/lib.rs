//! Pure core of logpipe, shared by every Lambda function and the CLI.
//!
//! No AWS SDK and no network here: codecs (base64, gzip with a bomb guard), CloudWatch Logs subscription
//! payloads, the output document, Firehose transformation events and responses with exact size accounting,
//! re-ingestion planning, message filters, the retry policy and CloudWatch EMF metrics.

pub mod audit;
pub mod codec;
pub mod cwl;
pub mod document;
pub mod emf;
pub mod filter;
pub mod firehose;
pub mod gen;
pub mod reingest;
pub mod retry;
pub mod time;

pub use codec::DecodeError;
