//! Durable state in DynamoDB: one state item per stack (compare-and-set on a
//! revision), a lease lock, and the journal of transitions.
//!
//! Layout (hash key `pk` = stack name, range key `sk`):
//!   sk = "state"                 doc (JSON of StackDoc), rev
//!   sk = "lock"                  holder, token, expires (ms)
//!   sk = "journal#<ms>#<rand>"   doc (JSON of JournalEntry)
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    ScalarAttributeType, TableStatus, Tag, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

use crate::error::{aws, failed, Error, Result};
use crate::rollout::{Color, Status, Weights};

/// Journal entries are kept this many days (DynamoDB TTL on `expires_at`).
pub const JOURNAL_DAYS: u64 = 90;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Everything cutover remembers about a stack.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StackDoc {
    pub status: Status,
    /// Version deployed on each colour.
    #[serde(default)]
    pub versions: BTreeMap<Color, String>,
    /// Provider artefact per colour (ECS task definition ARN, SageMaker model name).
    #[serde(default)]
    pub artifacts: BTreeMap<Color, String>,
    /// The weights cutover last wrote and read back.
    #[serde(default)]
    pub weights: Option<Weights>,
    /// Last validation failure or rollback reason, for `status`.
    #[serde(default)]
    pub last_error: Option<String>,
    /// A transition recorded before its actions ran (write-ahead). A run that
    /// finds one repairs it: it finishes it if AWS shows its weights, drops it
    /// if AWS still shows the old ones.
    #[serde(default)]
    pub pending: Option<Pending>,
    /// The last candidate version that was rolled back or failed validation;
    /// `promote --auto-deploy` does not redeploy it.
    #[serde(default)]
    pub rejected: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Pending {
    pub status: Status,
    pub weights: Option<Weights>,
    pub note: String,
    pub event: String,
    #[serde(default)]
    pub retire: Option<Color>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JournalEntry {
    pub at: u64,
    pub event: String,
    pub detail: String,
    #[serde(default)]
    pub phase: String,
    #[serde(default)]
    pub weights: Option<Weights>,
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
    stack: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[derive(Clone)]
pub struct Lock {
    pub token: String,
}

impl Store {
    pub fn new(client: Client, table: &str, stack: &str) -> Store {
        Store {
            client,
            table: table.into(),
            stack: stack.into(),
        }
    }

    /// Whether the table exists (and is usable).
    pub async fn table_exists(&self) -> Result<bool> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_resource_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(aws(&format!("describe table {}", self.table), e)),
        }
    }

    pub async fn create_table(&self) -> Result<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("complete attribute")
        };
        let key = |name: &str, kt: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
                .expect("complete key")
        };
        let mut req = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .billing_mode(BillingMode::PayPerRequest);
        for (k, v) in crate::aws::tags(&self.stack, None) {
            req = req.tags(
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("complete tag"),
            );
        }
        req.send()
            .await
            .map_err(|e| aws(&format!("create table {}", self.table), e))?;
        for _ in 0..120 {
            let d = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| aws("describe table", e))?;
            if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                // Journal entries expire on their own (JOURNAL_DAYS).
                let ttl = TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expires_at")
                    .build()
                    .map_err(|e| failed(e.to_string()))?;
                self.client
                    .update_time_to_live()
                    .table_name(&self.table)
                    .time_to_live_specification(ttl)
                    .send()
                    .await
                    .map_err(|e| aws("enable TTL on the state table", e))?;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(failed(format!(
            "table {} did not become ACTIVE",
            self.table
        )))
    }

    pub async fn delete_table(&self) -> Result<()> {
        match self
            .client
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws("delete table", e)),
        }
    }

    /// Whether items of other stacks live in the table.
    pub async fn other_stacks_present(&self) -> Result<bool> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("pk <> :me AND sk = :state")
            .expression_attribute_values(":me", s(&self.stack))
            .expression_attribute_values(":state", s("state"))
            .send()
            .await
            .map_err(|e| aws("scan state table", e))?;
        Ok(out.count() > 0 || out.last_evaluated_key().is_some())
    }

    /// Deletes every item of this stack.
    pub async fn delete_stack_items(&self) -> Result<()> {
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&self.stack))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| aws("query stack items", e))?;
            for item in out.items() {
                if let Some(sk) = item.get("sk") {
                    self.client
                        .delete_item()
                        .table_name(&self.table)
                        .key("pk", s(&self.stack))
                        .key("sk", sk.clone())
                        .send()
                        .await
                        .map_err(|e| aws("delete item", e))?;
                }
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// Like `load`, but None when the table does not exist (one call either way).
    pub async fn load_if_table(&self) -> Result<Option<(StackDoc, u64)>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&self.stack))
            .key("sk", s("state"))
            .consistent_read(true)
            .send()
            .await;
        match out {
            Ok(o) => Ok(Some(match o.item() {
                Some(item) => parse_item(item)?,
                None => (StackDoc::default(), 0),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws("read state", e)),
        }
    }

    /// The state of many stacks in one table (BatchGetItem, 100 keys a call).
    /// None when the table does not exist.
    pub async fn load_many(
        client: &Client,
        table: &str,
        stacks: &[String],
    ) -> Result<Option<HashMap<String, StackDoc>>> {
        let mut found = HashMap::new();
        for chunk in stacks.chunks(100) {
            let mut keys = Vec::new();
            for st in chunk {
                keys.push(HashMap::from([
                    ("pk".to_string(), s(st)),
                    ("sk".to_string(), s("state")),
                ]));
            }
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| failed(e.to_string()))?,
            );
            while let Some(k) = pending.take() {
                let out = match client.batch_get_item().request_items(table, k).send().await {
                    Ok(o) => o,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|x| x.is_resource_not_found_exception()) =>
                    {
                        return Ok(None)
                    }
                    Err(e) => return Err(aws("read states", e)),
                };
                for item in out
                    .responses()
                    .and_then(|r| r.get(table))
                    .into_iter()
                    .flatten()
                {
                    if let Some(pk) = item.get("pk").and_then(|v| v.as_s().ok()) {
                        found.insert(pk.clone(), parse_item(item)?.0);
                    }
                }
                pending = out.unprocessed_keys().and_then(|u| u.get(table)).cloned();
            }
        }
        for st in stacks {
            found.entry(st.clone()).or_default();
        }
        Ok(Some(found))
    }

    /// The stack's document and its revision (0 when none is stored).
    pub async fn load(&self) -> Result<(StackDoc, u64)> {
        Ok(self.load_if_table().await?.unwrap_or_default())
    }

    /// Compare-and-set: writes `doc` only if the stored revision is still `rev`.
    /// Returns the new revision.
    pub async fn save(&self, doc: &StackDoc, rev: u64) -> Result<u64> {
        let body = serde_json::to_string(doc).expect("doc serialises");
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&self.stack))
            .item("sk", s("state"))
            .item("doc", s(body))
            .item("rev", n(rev + 1));
        req = if rev == 0 {
            req.condition_expression("attribute_not_exists(pk)")
        } else {
            req.condition_expression("rev = :rev")
                .expression_attribute_values(":rev", n(rev))
        };
        match req.send().await {
            Ok(_) => Ok(rev + 1),
            Err(e) if e.as_service_error().is_some_and(|x| x.is_conditional_check_failed_exception()) => {
                Err(Error::Failed(format!(
                    "the state of stack {} changed under this run (another run or a rollback); nothing more was done",
                    self.stack
                )))
            }
            Err(e) => Err(aws("write state", e)),
        }
    }

    pub async fn journal(&self, event: &str, detail: &str, doc: &StackDoc) -> Result<()> {
        let at = now_ms();
        let entry = JournalEntry {
            at,
            event: event.into(),
            detail: detail.into(),
            phase: doc.status.phase.as_str().into(),
            weights: doc.weights,
        };
        let sk = format!("journal#{at:013}#{:08x}", rand::random::<u32>());
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&self.stack))
            .item("sk", s(sk))
            .item(
                "doc",
                s(serde_json::to_string(&entry).expect("entry serialises")),
            )
            .send()
            .await
            .map_err(|e| aws("write journal", e))?;
        Ok(())
    }

    /// Journal entries, oldest first; `last` keeps only the newest N.
    pub async fn history(&self, last: Option<usize>) -> Result<Vec<JournalEntry>> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :j)")
                .expression_attribute_values(":pk", s(&self.stack))
                .expression_attribute_values(":j", s("journal#"))
                .set_exclusive_start_key(start);
            if let Some(n) = last {
                q = q.scan_index_forward(false).limit(n as i32);
            }
            let out = match q.send().await {
                Ok(o) => o,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|x| x.is_resource_not_found_exception()) =>
                {
                    return Ok(vec![])
                }
                Err(e) => return Err(aws("read journal", e)),
            };
            for item in out.items() {
                if let Some(Ok(d)) = item
                    .get("doc")
                    .and_then(|v| v.as_s().ok())
                    .map(|d| serde_json::from_str(d))
                {
                    entries.push(d);
                }
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() || last.is_some() {
                break;
            }
        }
        entries.sort_by_key(|e: &JournalEntry| e.at);
        Ok(entries)
    }

    /// Takes the lease lock, or fails with `Error::Locked` naming the holder.
    pub async fn lock(&self, lease: Duration, what: &str) -> Result<Lock> {
        let token = format!("{:016x}", rand::random::<u64>());
        let holder = holder(what);
        let now = now_ms();
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&self.stack))
            .item("sk", s("lock"))
            .item("holder", s(&holder))
            .item("token", s(&token))
            .item("expires", n(now + lease.as_millis() as u64))
            .condition_expression("attribute_not_exists(pk) OR expires < :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match res {
            Ok(_) => Ok(Lock { token }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
            {
                let (who, until) = self.lock_holder().await.unwrap_or_default();
                let left = until.saturating_sub(now) / 1000;
                Err(Error::Locked(format!(
                    "stack {} is locked by {who} (lease expires in {left}s, at {}); try later",
                    self.stack,
                    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(until))
                )))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_resource_not_found_exception()) =>
            {
                Err(crate::error::invalid(format!(
                    "state table {} does not exist; run `cutover provision` first",
                    self.table
                )))
            }
            Err(e) => Err(aws("take lock", e)),
        }
    }

    /// Takes the lock whoever holds it (emergency rollback).
    pub async fn steal_lock(&self, lease: Duration, what: &str) -> Result<Lock> {
        let token = format!("{:016x}", rand::random::<u64>());
        let holder = holder(what);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&self.stack))
            .item("sk", s("lock"))
            .item("holder", s(&holder))
            .item("token", s(&token))
            .item("expires", n(now_ms() + lease.as_millis() as u64))
            .send()
            .await
            .map_err(|e| aws("take lock", e))?;
        Ok(Lock { token })
    }

    async fn lock_holder(&self) -> Option<(String, u64)> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&self.stack))
            .key("sk", s("lock"))
            .consistent_read(true)
            .send()
            .await
            .ok()?;
        let item = out.item()?;
        let who = item.get("holder")?.as_s().ok()?.clone();
        let until = item.get("expires")?.as_n().ok()?.parse().ok()?;
        Some((who, until))
    }

    /// Extends the lease; fails if someone (a rollback) took the lock.
    pub async fn renew(&self, lock: &Lock, lease: Duration) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&self.stack))
            .key("sk", s("lock"))
            .update_expression("SET expires = :e")
            .condition_expression("#t = :t")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":t", s(&lock.token))
            .expression_attribute_values(":e", n(now_ms() + lease.as_millis() as u64))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
            {
                let (who, _) = self.lock_holder().await.unwrap_or_default();
                Err(Error::Safety(format!(
                    "lost the lock of stack {} to {who}; stopping",
                    self.stack
                )))
            }
            Err(e) => Err(aws("renew lock", e)),
        }
    }

    pub async fn unlock(&self, lock: &Lock) -> Result<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&self.stack))
            .key("sk", s("lock"))
            .condition_expression("#t = :t")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":t", s(&lock.token))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws("release lock", e)),
        }
    }
}

fn parse_item(item: &HashMap<String, AttributeValue>) -> Result<(StackDoc, u64)> {
    let rev = item
        .get("rev")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let doc = item
        .get("doc")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| failed("state item has no doc"))?;
    let doc: StackDoc =
        serde_json::from_str(doc).map_err(|e| failed(format!("state item is corrupt: {e}")))?;
    Ok((doc, rev))
}

fn holder(what: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown-host".into());
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("`{what}` by {user}@{host} pid {}", std::process::id())
}
