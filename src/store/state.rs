//! The state item: read (one stack or many) and compare-and-set on its revision.
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;

use super::{n, s, token, Condition, StackDoc, Store};
use crate::error::{aws, failed, Error, Result};

impl Store {
    /// Like `load`, but None when the table does not exist (one call either way).
    pub async fn load_if_table(&self) -> Result<Option<(StackDoc, u64)>> {
        match self.state_item().await {
            Ok(Some(item)) => Ok(Some(parse_item(&item)?)),
            Ok(None) => Ok(Some((StackDoc::default(), 0))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws("read state", e)),
        }
    }

    async fn state_item(
        &self,
    ) -> std::result::Result<
        Option<HashMap<String, AttributeValue>>,
        aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>,
    > {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&self.stack))
            .key("sk", s("state"))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item().cloned())
    }

    /// The state of many stacks in one table (BatchGetItem, 100 keys a call,
    /// the calls at once). None when the table does not exist.
    pub async fn load_many(
        client: &Client,
        table: &str,
        stacks: &[String],
    ) -> Result<Option<HashMap<String, StackDoc>>> {
        let reads = futures::future::join_all(
            stacks
                .chunks(100)
                .map(|chunk| Self::load_chunk(client, table, chunk)),
        )
        .await;
        let mut found = HashMap::new();
        for r in reads {
            match r? {
                Some(docs) => found.extend(docs),
                None => return Ok(None),
            }
        }
        for st in stacks {
            found.entry(st.clone()).or_default();
        }
        Ok(Some(found))
    }

    /// One BatchGetItem of at most 100 keys, and its unprocessed keys again.
    async fn load_chunk(
        client: &Client,
        table: &str,
        chunk: &[String],
    ) -> Result<Option<Vec<(String, StackDoc)>>> {
        let keys = chunk
            .iter()
            .map(|st| HashMap::from([("pk".to_string(), s(st)), ("sk".to_string(), s("state"))]))
            .collect();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| failed(e.to_string()))?,
        );
        let mut found = Vec::new();
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
                    found.push((pk.clone(), parse_item(item)?.0));
                }
            }
            pending = out
                .unprocessed_keys()
                .and_then(|u| u.get(table))
                .filter(|k| !k.keys().is_empty())
                .cloned();
        }
        Ok(Some(found))
    }

    /// The stack's document and its revision (0 when none is stored).
    pub async fn load(&self) -> Result<(StackDoc, u64)> {
        Ok(self.load_if_table().await?.unwrap_or_default())
    }

    /// Compare-and-set: writes `doc` only if the stored revision is still `rev`.
    /// Returns the new revision. A lost race is `Error::Conflict`.
    pub async fn save(&self, doc: &StackDoc, rev: u64) -> Result<u64> {
        let body = serde_json::to_string(doc).map_err(|e| failed(e.to_string()))?;
        let writer = token();
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&self.stack))
            .item("sk", s("state"))
            .item("doc", s(body))
            .item("rev", n(rev + 1))
            .item("writer", s(&writer));
        req = if rev == 0 {
            req.condition_expression("attribute_not_exists(pk)")
        } else {
            req.condition_expression("rev = :rev")
                .expression_attribute_values(":rev", n(rev))
        };
        match req.send().await {
            Ok(_) => Ok(rev + 1),
            Err(e) if e.is_condition() => {
                // A retry of a write that landed fails its own condition: check.
                if let Ok(Some(item)) = self.state_item().await {
                    let mine = item.get("writer").and_then(|v| v.as_s().ok()) == Some(&writer);
                    if mine && parse_item(&item).map(|(_, r)| r).ok() == Some(rev + 1) {
                        return Ok(rev + 1);
                    }
                }
                Err(Error::Conflict(format!(
                    "the state of stack {} changed under this run (another run or a rollback); nothing more was done",
                    self.stack
                )))
            }
            Err(e) => Err(aws("write state", e)),
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
