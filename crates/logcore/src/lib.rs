//! Pure core of logpipe, shared by every Lambda function and the CLI: no AWS SDK and no network. Its folders
//! are the pipeline's areas, each used by the parts named (a helper two areas use lives in the lower one):
//!
//! - [`base`]: codecs, time, configuration, retries, the report line and EMF, shared settings, the custom
//!   resource protocol. Every function.
//! - [`logs`]: CloudWatch Logs payloads, the output document, levels, log group globs, log object
//!   notifications and framing. The transforms, the forwarder, the notifier, the log subscriber.
//! - [`transform`]: the Firehose answer with exact size accounting, re-ingestion, filters, S3 prefixes. The
//!   Firehose transforms.
//! - [`audit`]: Aurora/RDS MySQL audit lines and pgaudit entries to documents, redaction and masking. The
//!   audit transform.
//! - [`search`]: `_bulk` bodies and responses, ids, index names, dead letters, index setup. The search
//!   forwarder, the canary, `logpipe search`.
//! - [`alert`]: rules, fingerprints, suppression, grouping, CloudWatch rules, Slack messages, alarm changes.
//!   The notifier, the alert sync, the log subscriber's CLI.
//! - [`ledger`]: counts per log group and hour at every hop, and what they come to (missing, duplicated,
//!   the hop that fell short). The reconciliation (`logpipe reconcile`).
//! - `synth` (feature `synth`): generators of realistic payloads and events for samples, tests and benchmarks;
//!   only the CLI and tests enable it, so no function compiles it.

pub mod alert;
pub mod audit;
pub mod base;
pub mod ledger;
pub mod logs;
pub mod search;
#[cfg(any(test, feature = "synth"))]
pub mod synth;
pub mod transform;

pub use base::codec::DecodeError;
