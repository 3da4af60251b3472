//! The stack lock: a lease item with a holder, a token and an expiry.
use std::time::{Duration, UNIX_EPOCH};

use super::{n, now_ms, s, token, Store};
use crate::error::{aws, invalid, safety, Error, Result};

#[derive(Clone, Debug)]
pub struct Lock {
    pub token: String,
}

/// Who holds a lock, as the lock item says.
#[derive(Clone, Debug, Default)]
struct Holder {
    who: String,
    token: String,
    until: u64,
}

impl Store {
    /// Takes the lease lock, or fails with `Error::Locked` naming the holder.
    pub async fn lock(&self, lease: Duration, what: &str) -> Result<Lock> {
        let token = token();
        let now = now_ms();
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&self.stack))
            .item("sk", s("lock"))
            .item("holder", s(holder(what)))
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
                // A failed read here is an AWS error, not someone else's lock.
                let h = self.holder().await?.unwrap_or_default();
                // The SDK retried a put that had landed: the lock is ours.
                if h.token == token {
                    return Ok(Lock { token });
                }
                let left = h.until.saturating_sub(now) / 1000;
                Err(Error::Locked(format!(
                    "stack {} is locked by {} (lease expires in {left}s, at {}); try later",
                    self.stack,
                    h.who,
                    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(h.until))
                )))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_resource_not_found_exception()) =>
            {
                Err(invalid(format!(
                    "state table {} does not exist; run `cutover provision` first",
                    self.table
                )))
            }
            Err(e) => Err(aws("take lock", e)),
        }
    }

    /// Takes the lock whoever holds it (emergency rollback).
    pub async fn steal_lock(&self, lease: Duration, what: &str) -> Result<Lock> {
        let token = token();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&self.stack))
            .item("sk", s("lock"))
            .item("holder", s(holder(what)))
            .item("token", s(&token))
            .item("expires", n(now_ms() + lease.as_millis() as u64))
            .send()
            .await
            .map_err(|e| aws("take lock", e))?;
        Ok(Lock { token })
    }

    /// The lock item as it stands (None when there is none).
    async fn holder(&self) -> Result<Option<Holder>> {
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
        Ok(out.item().map(|item| {
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            Holder {
                who: text("holder").unwrap_or_default(),
                token: text("token").unwrap_or_default(),
                until: item
                    .get("expires")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            }
        }))
    }

    /// Extends the lease; fails (`Error::Safety`) if someone (a rollback) took the lock.
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
                let who = self
                    .holder()
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
