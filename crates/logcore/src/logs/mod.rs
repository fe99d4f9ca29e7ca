//! Log events and the documents made of them: CloudWatch Logs subscription payloads, the output document,
//! levels and log group globs, the notifications of new log objects (S3, SNS, SQS, EventBridge) and the
//! framing reader of those objects. What the transforms, the forwarder and the notifier all read.

pub mod cwl;
pub mod document;
pub mod framing;
pub mod glob;
pub mod level;
pub mod message;
pub mod multiline;
pub mod s3event;
