//! The shared memory in a DynamoDB table (on-demand, partition key `pk` of type S, TTL on `expires_at`),
//! one item per fingerprint:
//!
//! | attribute | meaning |
//! |---|---|
//! | `pk` | the fingerprint, 16 hex digits |
//! | `owner` | the request id of the invocation that claimed it |
//! | `state` | `claimed` (being posted) or `sent` (Slack took it) |
//! | `until_ms` | when the lease or the suppression ends, ms since the epoch |
//! | `expires_at` | the same in seconds, for DynamoDB's TTL (which deletes lazily, so conditions read `until_ms`) |
//!
//! and one item per alarm whose ALARM message opened a Slack thread: `pk` `thread:<alarm name>`, `channel`,
//! `ts`, `until_ms`, `expires_at`.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use logpipe_io::CallError;

use super::{Claim, SharedMemory, Thread};

/// The table's partition key (type S), as the template declares it.
pub const KEY_ATTRIBUTE: &str = "pk";
/// The table's TTL attribute, as the template declares it.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// A claim wins when nobody holds the fingerprint, when what held it has ended, or when its own owner holds
/// it unconfirmed (a retry of the same invocation). `owner`, `state` are DynamoDB reserved words.
const CLAIM_CONDITION: &str =
    "attribute_not_exists(pk) OR #until < :now OR (#owner = :me AND #state = :claimed)";

/// The table, through the AWS SDK.
#[derive(Debug, Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    pub fn new(sdk: &aws_config::SdkConfig, table: &str) -> DynamoTable {
        DynamoTable {
            client: Client::new(sdk),
            table: table.to_string(),
        }
    }

    fn what(&self, verb: &str, key: &str) -> String {
        format!("{verb} fingerprint {key} in table {}", self.table)
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// DynamoDB's TTL is in whole seconds; the item outlives its `until_ms` by at most one.
fn ttl_seconds(until_ms: i64) -> i64 {
    until_ms.div_euclid(1000) + 1
}

impl SharedMemory for DynamoTable {
    async fn claim(
        &self,
        key: &str,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Claim, CallError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY_ATTRIBUTE, s(key))
            .item("owner", s(owner))
            .item("state", s("claimed"))
            .item("until_ms", n(lease_until_ms))
            .item(TTL_ATTRIBUTE, n(ttl_seconds(lease_until_ms)))
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_names("#until", "until_ms")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":claimed", s("claimed"))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Ours),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Claim::Held)
            }
            Err(e) => Err(CallError::from_sdk(self.what("claiming", key), &e)),
        }
    }

    async fn confirm(&self, key: &str, owner: &str, until_ms: i64) -> Result<(), CallError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(key))
            .update_expression("SET #state = :sent, #until = :until, #ttl = :ttl")
            .condition_expression("#owner = :me")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#until", "until_ms")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":ttl", n(ttl_seconds(until_ms)))
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match update {
            Ok(_) => Ok(()),
            // The lease ran out and another container claimed it since: it is theirs to confirm.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                tracing::warn!(
                    fingerprint = key,
                    "confirming a claim that another container took since"
                );
                Ok(())
            }
            Err(e) => Err(CallError::from_sdk(self.what("confirming", key), &e)),
        }
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), CallError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(key))
            .condition_expression("#owner = :me AND #state = :claimed")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":claimed", s("claimed"))
            .send()
            .await;
        match delete {
            Ok(_) => Ok(()),
            // Not ours any more (or gone): nothing of ours to release.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(CallError::from_sdk(self.what("releasing", key), &e)),
        }
    }

    async fn thread(&self, key: &str, now_ms: i64) -> Result<Option<Thread>, CallError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| CallError::from_sdk(self.what("reading the thread of", key), &e))?;
        let Some(item) = got.item else {
            return Ok(None);
        };
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let until = item
            .get("until_ms")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok());
        Ok(match (text("channel"), text("ts"), until) {
            (Some(channel), Some(ts), Some(until)) if until >= now_ms => {
                Some(Thread { channel, ts })
            }
            _ => None,
        })
    }

    async fn remember_thread(
        &self,
        key: &str,
        thread: &Thread,
        until_ms: i64,
    ) -> Result<(), CallError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(KEY_ATTRIBUTE, s(key))
            .item("channel", s(&thread.channel))
            .item("ts", s(&thread.ts))
            .item("until_ms", n(until_ms))
            .item(TTL_ATTRIBUTE, n(ttl_seconds(until_ms)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CallError::from_sdk(self.what("remembering the thread of", key), &e))
    }
}
