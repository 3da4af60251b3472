//! The state table itself: create (with TTL), delete, and a stack's items.
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    Tag, TimeToLiveSpecification,
};

use super::{s, Store};
use crate::error::{aws, failed, Result};

impl Store {
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
        };
        let key = |name: &str, kt: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
        };
        let built = |e: aws_sdk_dynamodb::error::BuildError| failed(e.to_string());
        let mut req = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attr("pk").map_err(built)?)
            .attribute_definitions(attr("sk").map_err(built)?)
            .key_schema(key("pk", KeyType::Hash).map_err(built)?)
            .key_schema(key("sk", KeyType::Range).map_err(built)?)
            .billing_mode(BillingMode::PayPerRequest);
        for (k, v) in crate::aws::tags(&self.stack, None) {
            req = req.tags(Tag::builder().key(k).value(v).build().map_err(built)?);
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
                    .map_err(built)?;
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
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("pk <> :me AND sk = :state")
            .expression_attribute_values(":me", s(&self.stack))
            .expression_attribute_values(":state", s("state"))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            if page.map_err(|e| aws("scan state table", e))?.count() > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Deletes every item of this stack.
    pub async fn delete_stack_items(&self) -> Result<()> {
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&self.stack))
            .into_paginator()
            .items()
            .send();
        let mut keys = Vec::new();
        while let Some(item) = items.next().await {
            if let Some(sk) = item.map_err(|e| aws("query stack items", e))?.get("sk") {
                keys.push(sk.clone());
            }
        }
        for sk in keys {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(&self.stack))
                .key("sk", sk)
                .send()
                .await
                .map_err(|e| aws("delete item", e))?;
        }
        Ok(())
    }
}
