//! Pure core of logpipe, shared by every Lambda function and the CLI.
//!
//! No AWS SDK and no network here: codecs (base64, gzip with a bomb guard), CloudWatch Logs subscription
//! payloads, the output document, Firehose transformation events and responses with exact size accounting,
//! re-ingestion planning, message filters, the retry policy and CloudWatch EMF metrics; for the search forwarder,
//! S3/SNS/SQS/EventBridge envelopes, the framing reader of log objects, and `_bulk` bodies and responses.

pub mod alert;
pub mod audit;
pub mod bulk;
pub mod cfn;
pub mod codec;
pub mod cwl;
pub mod document;
pub mod emf;
pub mod env;
pub mod filter;
pub mod firehose;
pub mod framing;
pub mod index_setup;
pub mod reingest;
pub mod report;
pub mod retry;
pub mod runtime;
pub mod s3event;
pub mod s3prefix;
pub mod synth;
pub mod time;

pub use codec::DecodeError;
