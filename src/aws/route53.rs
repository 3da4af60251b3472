//! Route 53 for `[route53]`: cutover's two weighted alias records (found by
//! their SetIdentifier; the rest of the user's zone is never touched), each
//! change waited to INSYNC.
use std::time::{Duration, Instant};

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecordSet, RrType,
};
use aws_sdk_route53::Client;

use crate::error::{aws, failed, Result};

/// One of cutover's weighted records as Route 53 reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Weighted {
    pub set_identifier: String,
    pub weight: i64,
    /// The alias target's DNS name, lowercase, without the trailing dot.
    pub target: Option<String>,
}

/// Where a record points: a load balancer's DNS name and canonical zone.
#[derive(Clone, Debug)]
pub struct Alias {
    pub set_identifier: String,
    pub dns_name: String,
    pub zone: String,
    pub weight: i64,
}

/// A name as Route 53 compares them: lowercase, no trailing dot.
pub fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Every A record set named `record` (all pages).
pub async fn records(c: &Client, zone: &str, record: &str) -> Result<Vec<ResourceRecordSet>> {
    let mut out = Vec::new();
    let (mut name, mut kind, mut ident) =
        (Some(record.to_string()), Some(RrType::A), None::<String>);
    loop {
        let o = c
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .set_start_record_name(name.clone())
            .set_start_record_type(kind.clone())
            .set_start_record_identifier(ident.clone())
            .send()
            .await
            .map_err(|e| aws("list resource record sets", e))?;
        let mut past = false;
        for r in o.resource_record_sets() {
            if norm(r.name()) != norm(record) {
                // Records are listed in name order: past ours, done.
                past = true;
                break;
            }
            if r.r#type() == &RrType::A {
                out.push(r.clone());
            }
        }
        if past || !o.is_truncated() {
            return Ok(out);
        }
        name = o.next_record_name().map(String::from);
        kind = o.next_record_type().cloned();
        ident = o.next_record_identifier().map(String::from);
    }
}

/// Ours among `all` (by SetIdentifier), and the names of the others.
pub fn split(all: &[ResourceRecordSet], ours: &[String]) -> (Vec<Weighted>, Vec<String>) {
    let mut mine = Vec::new();
    let mut foreign = Vec::new();
    for r in all {
        match r.set_identifier() {
            Some(id) if ours.iter().any(|o| o == id) => mine.push(Weighted {
                set_identifier: id.to_string(),
                weight: r.weight().unwrap_or(0),
                target: r.alias_target().map(|a| norm(a.dns_name())),
            }),
            id => foreign.push(id.unwrap_or("(a simple record)").to_string()),
        }
    }
    (mine, foreign)
}

fn record_set(record: &str, a: &Alias) -> Result<ResourceRecordSet> {
    let target = AliasTarget::builder()
        .hosted_zone_id(&a.zone)
        .dns_name(&a.dns_name)
        .evaluate_target_health(true)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    ResourceRecordSet::builder()
        .name(record)
        .r#type(RrType::A)
        .set_identifier(&a.set_identifier)
        .weight(a.weight)
        .alias_target(target)
        .build()
        .map_err(|e| failed(e.to_string()))
}

/// UPSERTs the records in one change batch (atomic) and waits for INSYNC.
pub async fn upsert(
    c: &Client,
    zone: &str,
    record: &str,
    aliases: &[Alias],
    wait: Duration,
) -> Result<()> {
    let mut changes = Vec::new();
    for a in aliases {
        changes.push(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(record_set(record, a)?)
                .build()
                .map_err(|e| failed(e.to_string()))?,
        );
    }
    change(c, zone, changes, "cutover: weights", wait).await
}

/// DELETEs exactly these record sets (as read) and waits for INSYNC.
pub async fn delete(
    c: &Client,
    zone: &str,
    sets: Vec<ResourceRecordSet>,
    wait: Duration,
) -> Result<()> {
    if sets.is_empty() {
        return Ok(());
    }
    let mut changes = Vec::new();
    for s in sets {
        changes.push(
            Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(s)
                .build()
                .map_err(|e| failed(e.to_string()))?,
        );
    }
    change(c, zone, changes, "cutover: destroy", wait).await
}

async fn change(
    c: &Client,
    zone: &str,
    changes: Vec<Change>,
    comment: &str,
    wait: Duration,
) -> Result<()> {
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .comment(comment)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let o = c
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| aws("change resource record sets", e))?;
    let id = o
        .change_info()
        .map(|i| i.id().to_string())
        .unwrap_or_default();
    insync(c, &id, wait).await
}

/// Polls GetChange until the change is INSYNC on every Route 53 name server.
pub async fn insync(c: &Client, id: &str, wait: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let o = c
            .get_change()
            .id(id)
            .send()
            .await
            .map_err(|e| aws("get change", e))?;
        if o.change_info().map(|i| i.status()) == Some(&ChangeStatus::Insync) {
            return Ok(());
        }
        if start.elapsed() >= wait {
            return Err(failed(format!(
                "Route 53 change {id} is not INSYNC after {}s; the records are written, name servers still answer the old weights",
                wait.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
