//! The journal: one item per transition, newest last, expiring after JOURNAL_DAYS.
use super::{n, now_ms, s, JournalEntry, StackDoc, Store, JOURNAL_DAYS};
use crate::error::{aws, failed, Result};

impl Store {
    pub async fn journal(&self, event: &str, detail: &str, doc: &StackDoc) -> Result<JournalEntry> {
        let at = now_ms();
        let entry = JournalEntry {
            at,
            event: event.into(),
            detail: detail.into(),
            phase: doc.status.phase.as_str().into(),
            weights: doc.weights,
        };
        // A unique key: the SDK's retry of a lost answer rewrites the same item.
        let sk = format!("journal#{at:013}#{:08x}", rand::random::<u32>());
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&self.stack))
            .item("sk", s(sk))
            .item(
                "doc",
                s(serde_json::to_string(&entry).map_err(|e| failed(e.to_string()))?),
            )
            .item("expires_at", n(at / 1000 + JOURNAL_DAYS * 86_400))
            .send()
            .await
            .map_err(|e| aws("write journal", e))?;
        Ok(entry)
    }

    /// Journal entries, oldest first; `last` keeps only the newest N.
    pub async fn history(&self, last: Option<usize>) -> Result<Vec<JournalEntry>> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :j)")
            .expression_attribute_values(":pk", s(&self.stack))
            .expression_attribute_values(":j", s("journal#"));
        if let Some(n) = last {
            q = q.scan_index_forward(false).limit(n.max(1) as i32);
        }
        let mut items = q.into_paginator().items().send();
        let mut entries = Vec::new();
        while let Some(item) = items.next().await {
            let item = match item {
                Ok(i) => i,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|x| x.is_resource_not_found_exception()) =>
                {
                    return Ok(vec![])
                }
                Err(e) => return Err(aws("read journal", e)),
            };
            if let Some(Ok(d)) = item
                .get("doc")
                .and_then(|v| v.as_s().ok())
                .map(|d| serde_json::from_str::<JournalEntry>(d))
            {
                entries.push(d);
            }
            if last.is_some_and(|n| entries.len() >= n) {
                break;
            }
        }
        entries.sort_by_key(|e| e.at);
        Ok(entries)
    }
}
