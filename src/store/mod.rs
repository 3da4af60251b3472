//! Durable state in DynamoDB: one state item per stack (compare-and-set on a
//! revision), a lease lock, and the journal of transitions.
//!
//! Layout (hash key `pk` = stack name, range key `sk`):
//!   sk = "state"                 doc (JSON of StackDoc), rev, writer
//!   sk = "lock"                  holder, token, expires (ms), version, clock,
//!                                clock_expires, lease_ms, watch (see `lease`)
//!   sk = "journal#<ms>#<rand>"   doc (JSON of JournalEntry), expires_at
//!
//! Conditional writes are idempotent under the SDK's retries: each carries a
//! token, and a failed condition is read back; finding our own token is success.
mod doc;
mod journal;
mod lease;
mod lock;
mod state;
mod table;

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::{
    delete_item::DeleteItemError, put_item::PutItemError, update_item::UpdateItemError,
};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

pub use doc::{AliasMove, JournalEntry, Pending, ShadowReport, StackDoc};
pub use lease::Clock;
pub use lock::Lock;

/// Journal entries are kept this many days (DynamoDB TTL on `expires_at`).
pub const JOURNAL_DAYS: u64 = 90;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One stack's items in one state table.
#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
    stack: String,
}

impl Store {
    pub fn new(client: Client, table: &str, stack: &str) -> Store {
        Store {
            client,
            table: table.into(),
            stack: stack.into(),
        }
    }
}

/// A failed condition (someone else's write, or our own retried one), not
/// an AWS failure, on a conditional write.
trait Condition {
    fn is_condition(&self) -> bool;
}

macro_rules! condition {
    ($($op:path),*) => {$(
        impl Condition for aws_sdk_dynamodb::error::SdkError<$op> {
            fn is_condition(&self) -> bool {
                self.as_service_error()
                    .is_some_and(|x| x.is_conditional_check_failed_exception())
            }
        }
    )*};
}

condition!(PutItemError, UpdateItemError, DeleteItemError);

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}
