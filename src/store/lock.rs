//! The stack lock: a lease item with a holder, a token, a version that every
//! acquire and renewal changes, and the holder's clock (see `lease` for when
//! another run may break it).
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use super::lease::{decide, host_name, Clock, Decision, LockItem, Watch};
use super::{n, now_ms, s, token, Condition, Store};
use crate::error::{aws, invalid, safety, Error, Result};

#[derive(Clone, Debug)]
pub struct Lock {
    pub token: String,
}

type Item = HashMap<String, AttributeValue>;

impl Store {
    /// The lock item a run writes when it takes the lock.
    fn lock_item(&self, token: &str, what: &str, lease: Duration) -> Item {
        let clock = Clock::here();
        let ms = lease.as_millis() as u64;
        HashMap::from([
            ("pk".into(), s(&self.stack)),
            ("sk".into(), s("lock")),
            ("holder".into(), s(holder(what))),
            ("token".into(), s(token)),
            ("expires".into(), n(now_ms() + ms)),
            ("version".into(), s(super::token())),
            ("clock".into(), s(clock.id)),
            ("clock_expires".into(), n(clock.now + ms)),
            ("lease_ms".into(), n(ms)),
            ("watch".into(), AttributeValue::M(HashMap::new())),
        ])
    }

    /// Takes the lease lock, or fails with `Error::Locked` naming the holder.
    pub async fn lock(&self, lease: Duration, what: &str) -> Result<Lock> {
        let token = token();
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.lock_item(&token, what, lease)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match res {
            Ok(_) => return Ok(Lock { token }),
            Err(e) if e.is_condition() => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_resource_not_found_exception()) =>
            {
                return Err(invalid(format!(
                    "state table {} does not exist; run `cutover provision` first",
                    self.table
                )))
            }
            Err(e) => return Err(aws("take lock", e)),
        }
        // A failed read here is an AWS error, not someone else's lock.
        let Some(held) = self.read_lock().await? else {
            // Released between the write and the read: try once more.
            return Box::pin(self.lock(lease, what)).await;
        };
        // The SDK retried a put that had landed: the lock is ours.
        if held.token == token {
            return Ok(Lock { token });
        }
        let me = Clock::here();
        match decide(&held, &me, now_ms()) {
            Decision::Take => self.break_lease(&held, token, what, lease).await,
            Decision::Held { expires_in_ms } => Err(Error::Locked(format!(
                "stack {} is locked by {} (lease expires in {}s, at {}); try later",
                self.stack,
                held.who,
                expires_in_ms / 1000,
                humantime::format_rfc3339_seconds(
                    UNIX_EPOCH + Duration::from_millis(now_ms() + expires_in_ms)
                )
            ))),
            Decision::Watch {
                record,
                since,
                breakable_at,
            } => {
                if record {
                    self.record_watch(&held, &me.id, since).await?;
                }
                Err(Error::Locked(format!(
                    "stack {} is locked by {} (another host's clock: this host breaks the lease \
                     only if it is not renewed within {}s, watched on its own clock); try later",
                    self.stack,
                    held.who,
                    breakable_at.saturating_sub(me.now).div_ceil(1000)
                )))
            }
        }
    }

    /// Replaces a lease that is over, if nobody renewed or took it meanwhile.
    async fn break_lease(
        &self,
        held: &LockItem,
        token: String,
        what: &str,
        lease: Duration,
    ) -> Result<Lock> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.lock_item(&token, what, lease)))
            .expression_attribute_names("#t", "token");
        let put = if held.version.is_empty() {
            put.condition_expression("#t = :t AND expires = :e")
                .expression_attribute_values(":t", s(&held.token))
                .expression_attribute_values(":e", n(held.expires))
        } else {
            put.condition_expression("#t = :t AND #v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":t", s(&held.token))
                .expression_attribute_values(":v", s(&held.version))
        };
        match put.send().await {
            Ok(_) => Ok(Lock { token }),
            Err(e) if e.is_condition() => match self.read_lock().await? {
                Some(now) if now.token == token => Ok(Lock { token }),
                now => Err(Error::Locked(format!(
                    "stack {} was taken by {} first; try later",
                    self.stack,
                    now.map(|h| h.who).unwrap_or_else(|| "another run".into())
                ))),
            },
            Err(e) => Err(aws("take lock", e)),
        }
    }

    /// Notes on the lock item that this clock saw its version at `since`.
    async fn record_watch(&self, held: &LockItem, clock: &str, since: u64) -> Result<()> {
        let entry = AttributeValue::M(HashMap::from([
            ("version".into(), s(&held.version)),
            ("since".into(), n(since)),
        ]));
        let base = || {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(&self.stack))
                .key("sk", s("lock"))
                .expression_attribute_names("#v", "version")
                .expression_attribute_names("#w", "watch")
                .expression_attribute_values(":v", s(&held.version))
        };
        let res = base()
            .update_expression("SET #w.#c = :e")
            .condition_expression("#v = :v AND attribute_exists(#w)")
            .expression_attribute_names("#c", clock)
            .expression_attribute_values(":e", entry.clone())
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // Renewed or taken meanwhile (the next run watches the new
            // version), or an item without a watch map yet.
            Err(e) if e.is_condition() => {
                let res = base()
                    .update_expression("SET #w = :m")
                    .condition_expression("#v = :v AND attribute_not_exists(#w)")
                    .expression_attribute_values(
                        ":m",
                        AttributeValue::M(HashMap::from([(clock.to_string(), entry)])),
                    )
                    .send()
                    .await;
                match res {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_condition() => Ok(()),
                    Err(e) => Err(aws("watch lock", e)),
                }
            }
            Err(e) => Err(aws("watch lock", e)),
        }
    }

    /// Takes the lock whoever holds it (emergency rollback).
    pub async fn steal_lock(&self, lease: Duration, what: &str) -> Result<Lock> {
        let token = token();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.lock_item(&token, what, lease)))
            .send()
            .await
            .map_err(|e| aws("take lock", e))?;
        Ok(Lock { token })
    }

    /// The lock item as it stands (None when there is none).
    async fn read_lock(&self) -> Result<Option<LockItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&self.stack))
            .key("sk", s("lock"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws("read lock", e))?;
        Ok(out.item().map(parse_lock))
    }

    /// Extends the lease; fails (`Error::Safety`) if someone (a rollback) took the lock.
    pub async fn renew(&self, lock: &Lock, lease: Duration) -> Result<()> {
        let clock = Clock::here();
        let ms = lease.as_millis() as u64;
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&self.stack))
            .key("sk", s("lock"))
            .update_expression(
                "SET expires = :e, #v = :v, #c = :c, clock_expires = :ce, lease_ms = :l, #w = :w",
            )
            .condition_expression("#t = :t")
            .expression_attribute_names("#t", "token")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#c", "clock")
            .expression_attribute_names("#w", "watch")
            .expression_attribute_values(":t", s(&lock.token))
            .expression_attribute_values(":e", n(now_ms() + ms))
            .expression_attribute_values(":v", s(token()))
            .expression_attribute_values(":c", s(clock.id))
            .expression_attribute_values(":ce", n(clock.now + ms))
            .expression_attribute_values(":l", n(ms))
            .expression_attribute_values(":w", AttributeValue::M(HashMap::new()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.is_condition() => {
                let who = self
                    .read_lock()
                    .await
                    .ok()
                    .flatten()
                    .map(|h| h.who)
                    .unwrap_or_else(|| "another run".into());
                Err(safety(format!(
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
            Err(e) if e.is_condition() => Ok(()),
            Err(e) => Err(aws("release lock", e)),
        }
    }
}

fn holder(what: &str) -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!(
        "`{what}` by {user}@{} pid {}",
        host_name(),
        std::process::id()
    )
}

fn parse_lock(item: &Item) -> LockItem {
    let text = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let num = |v: Option<&AttributeValue>| {
        v.and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let mut watch = BTreeMap::new();
    if let Some(Ok(m)) = item.get("watch").map(|v| v.as_m()) {
        for (clock, w) in m {
            if let Ok(w) = w.as_m() {
                watch.insert(
                    clock.clone(),
                    Watch {
                        version: w
                            .get("version")
                            .and_then(|v| v.as_s().ok())
                            .cloned()
                            .unwrap_or_default(),
                        since: num(w.get("since")),
                    },
                );
            }
        }
    }
    LockItem {
        who: text("holder"),
        token: text("token"),
        expires: num(item.get("expires")),
        version: text("version"),
        clock: text("clock"),
        clock_expires: num(item.get("clock_expires")),
        lease_ms: num(item.get("lease_ms")),
        watch,
    }
}
