//! Search indexing without the network: which document each unit of an S3 object becomes, its index and
//! `_id`, `_bulk` request bodies, the per-item outcomes of a `_bulk` response, and dead-letter records.
//!
//! - A JSON object with a string `@timestamp` (what logpipe's transforms write, or any ECS-style document) is
//!   indexed as it is. Its `_id` is its `event.id` when it has one.
//! - Any other JSON object is wrapped: `message` keeps the text, its fields go under `json` with the same
//!   depth and key caps as the transforms (`document::write_json_namespace`).
//! - A text line becomes `{"@timestamp":…,"message":…}`; a line that starts with `{` but is not valid JSON
//!   is indexed the same way, with `error.message` saying why.
//! - Without an `event.id`, the `_id` is derived from the bucket, key, object version (or ETag) and the
//!   unit's offset, so reading the same object again yields the same ids and `create` answers 409.
//! - Units that cannot be indexed (invalid UTF-8, over the size cap) become dead-letter records instead.
//!
//! Every wrapped document carries `log.file.path` (`s3://bucket/key`) and `log.offset`, so each line can be
//! traced back to its object.

mod body;
mod dead_letter;
mod id;
mod index;
mod response;

pub use body::{Batch, BuildStats, DocBuilder, Item, UnitOutcome};
pub use dead_letter::DeadLetter;
pub use id::Origin;
pub use index::{
    check_index_name, restore_prefix, IndexTemplate, SeparateGroups, MAX_INDEX_BYTES,
    MAX_RESTORE_LABEL, SEPARATE_INDEX,
};
pub use response::{parse_bulk_response, ItemOutcome};

#[cfg(test)]
mod tests;
